//! [`PgJobStore`]: jobs, progress, error log, history, checkpoints and the
//! id map in PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgConnection, PgPool};

use super::error::{RowExt, db, store_error};
use super::{Rls, begin};
use crate::crm::WriteMode;
use crate::error::{Error, Problem, Result};
use crate::id::{CrmId, JobId, SfId, TenantId};
use crate::jobs::{
    IdKey, IdMapping, Job, JobStatus, JobStore, Lease, LogPage, NewJob, ObjectProgress,
    ObjectState, PageRecord,
};
use crate::jobs::{LogEntry, Severity};
use crate::object::SObject;

const STORE: &str = "job store";

/// A [`JobStore`] in PostgreSQL (tables `sf_import_jobs`,
/// `sf_import_job_objects`, `sf_import_job_log`, `sf_import_id_map`; create
/// them with [`migrate`](super::migrate)).
///
/// - One running import per tenant is a partial unique index over the
///   running statuses: of two servers starting an import for one tenant at
///   the same moment, one gets the job and the other
///   [`Error::ImportAlreadyRunning`].
/// - [`record_page`](JobStore::record_page) is one transaction: counts, log
///   entries (one `INSERT ... UNNEST`), id mappings (one
///   `INSERT ... UNNEST ... ON CONFLICT`) and the checkpoint.
/// - [`resolve_ids`](JobStore::resolve_ids) is one query for the whole page.
///
/// Job ids are the decimal text of a `bigint` identity.
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> salesforce_import::Result<()> {
/// use salesforce_import::postgres::{self, PgJobStore};
/// postgres::migrate(&pool).await?;
/// let jobs = PgJobStore::new(pool);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgJobStore {
    pool: PgPool,
    rls: Rls,
}

impl PgJobStore {
    /// A store over the host's pool.
    pub fn new(pool: PgPool) -> PgJobStore {
        PgJobStore {
            pool,
            rls: Rls::Off,
        }
    }

    /// Sets `app.current_org` in every transaction, for hosts that turned on
    /// [row-level security](super::enable_row_level_security).
    pub fn with_row_level_security(mut self) -> PgJobStore {
        self.rls = Rls::On;
        self
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn not_found(tenant: &TenantId, job: &JobId) -> Error {
    Error::JobNotFound {
        tenant: tenant.clone(),
        job: job.clone(),
    }
}

/// The numeric id, or `JobNotFound` for text that no job of this store has.
fn job_key(tenant: &TenantId, job: &JobId) -> Result<i64> {
    job.as_str()
        .parse::<i64>()
        .map_err(|_| not_found(tenant, job))
}

fn mode_code(mode: WriteMode) -> &'static str {
    mode.as_str()
}

fn state_code(state: ObjectState) -> &'static str {
    match state {
        ObjectState::Pending => "PENDING",
        ObjectState::Importing => "IMPORTING",
        ObjectState::Done => "DONE",
        ObjectState::Failed => "FAILED",
        ObjectState::Unavailable => "UNAVAILABLE",
        ObjectState::Cancelled => "CANCELLED",
    }
}

fn parse_state(code: &str) -> Result<ObjectState> {
    Ok(match code {
        "PENDING" => ObjectState::Pending,
        "IMPORTING" => ObjectState::Importing,
        "DONE" => ObjectState::Done,
        "FAILED" => ObjectState::Failed,
        "UNAVAILABLE" => ObjectState::Unavailable,
        "CANCELLED" => ObjectState::Cancelled,
        other => return Err(corrupt(format!("unknown object state {other:?}"))),
    })
}

fn severity_code(s: Severity) -> &'static str {
    match s {
        Severity::Warning => "WARNING",
        _ => "ERROR",
    }
}

/// A stored value this crate cannot read: it will not read better later.
fn corrupt(message: String) -> Error {
    Error::Store {
        store: STORE,
        message: message.into(),
        temporary: false,
        source: None,
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn sf_id(raw: Option<String>) -> Result<Option<SfId>> {
    raw.map(|s| {
        SfId::parse(&s)
            .map_err(|e| Error::store(STORE, "reading a stored Salesforce id", e).permanent())
    })
    .transpose()
}

const JOB_COLUMNS: &str = "id, tenant_id, status, started_by, mode, sync, created_at, started_at, \
     completed_at, message, lease_owner, lease_token, lease_expires_at";

/// The statuses a job is over in for good (`JobStatus::is_final`).
const FINAL: &str = "('COMPLETED', 'COMPLETED_WITH_ERRORS', 'CANCELLED')";

/// Reads jobs (rows of `JOB_COLUMNS`) with their objects: two queries in all.
async fn load_jobs(conn: &mut PgConnection, rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<Job>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.col::<i64, _>(STORE, "id"))
        .collect::<Result<_>>()?;
    let objects = sqlx::query(
        "SELECT job_id, object, state, total, imported, updated, skipped, deleted, errors,
                warnings, checkpoint, checkpoint_modstamp, resume_cursor, watermark
         FROM sf_import_job_objects WHERE job_id = ANY($1) ORDER BY job_id, position",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db(STORE, "reading job objects"))?;
    let mut by_job: HashMap<i64, Vec<ObjectProgress>> = HashMap::new();
    for o in objects {
        let mut p = ObjectProgress::pending(SObject::new(o.col::<String, _>(STORE, "object")?));
        p.state = parse_state(o.col(STORE, "state")?)?;
        p.total = o.col::<Option<i64>, _>(STORE, "total")?.map(count);
        p.imported = count(o.col(STORE, "imported")?);
        p.updated = count(o.col(STORE, "updated")?);
        p.skipped = count(o.col(STORE, "skipped")?);
        p.deleted = count(o.col(STORE, "deleted")?);
        p.checkpoint_modstamp = o.col(STORE, "checkpoint_modstamp")?;
        p.resume_cursor = o.col(STORE, "resume_cursor")?;
        p.watermark = o.col(STORE, "watermark")?;
        p.errors = count(o.col(STORE, "errors")?);
        p.warnings = count(o.col(STORE, "warnings")?);
        p.checkpoint = sf_id(o.col(STORE, "checkpoint")?)?;
        by_job.entry(o.col(STORE, "job_id")?).or_default().push(p);
    }
    rows.into_iter()
        .map(|r| {
            let id: i64 = r.col(STORE, "id")?;
            let mode: &str = r.col(STORE, "mode")?;
            let mode: WriteMode = mode
                .parse()
                .map_err(|_| corrupt(format!("unknown write mode {mode:?}")))?;
            let status: &str = r.col(STORE, "status")?;
            let status = JobStatus::from_code(status)
                .ok_or_else(|| corrupt(format!("unknown job status {status:?}")))?;
            let new = NewJob::new(
                TenantId::new(r.col::<String, _>(STORE, "tenant_id")?),
                r.col::<String, _>(STORE, "started_by")?,
                Vec::new(),
                mode,
                r.col(STORE, "created_at")?,
            )
            .sync(r.col(STORE, "sync")?);
            let mut job = Job::new(JobId::new(id.to_string()), &new);
            job.status = status;
            job.started_at = r.col(STORE, "started_at")?;
            job.completed_at = r.col(STORE, "completed_at")?;
            job.message = r.col(STORE, "message")?;
            let owner: Option<String> = r.col(STORE, "lease_owner")?;
            let expires: Option<DateTime<Utc>> = r.col(STORE, "lease_expires_at")?;
            job.lease = match (owner, expires) {
                (Some(owner), Some(expires)) => Some(Lease::new(
                    owner,
                    count(r.col(STORE, "lease_token")?),
                    expires,
                )),
                _ => None,
            };
            job.objects = by_job.remove(&id).unwrap_or_default();
            Ok(job)
        })
        .collect()
}

fn token(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// Refuses a write that carries a lease other than the job's current one.
/// `FOR SHARE` holds off a takeover (an `UPDATE` of the row) until the
/// write commits, so a page is recorded under the lease it was checked
/// against.
async fn fence(
    conn: &mut PgConnection,
    tenant: &TenantId,
    job: &JobId,
    id: i64,
    lease: Option<&Lease>,
) -> Result<()> {
    let Some(lease) = lease else {
        return Ok(());
    };
    let held = sqlx::query(
        "SELECT 1 FROM sf_import_jobs
         WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND lease_token = $4
         FOR SHARE",
    )
    .bind(tenant.as_str())
    .bind(id)
    .bind(&lease.owner)
    .bind(token(lease.token))
    .fetch_optional(&mut *conn)
    .await
    .map_err(db(STORE, "checking a job's lease"))?;
    match held {
        Some(_) => Ok(()),
        None => Err(refused(conn, tenant, job, id).await),
    }
}

/// Why a fenced statement touched no row: the job is not there, or its
/// lease is another's.
async fn refused(conn: &mut PgConnection, tenant: &TenantId, job: &JobId, id: i64) -> Error {
    match job_exists(conn, tenant, id).await {
        Ok(true) => Error::LeaseLost { job: job.clone() },
        Ok(false) => not_found(tenant, job),
        Err(e) => e,
    }
}

/// Whether the job exists for the tenant (to tell a missing job from a
/// missing object).
async fn job_exists(conn: &mut PgConnection, tenant: &TenantId, id: i64) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM sf_import_jobs WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(db(STORE, "reading a job"))?;
    Ok(row.is_some())
}

/// A log line as `error_log` and `log_page` select it.
fn log_entry(r: &sqlx::postgres::PgRow) -> Result<LogEntry> {
    let severity = match r.col::<&str, _>(STORE, "severity")? {
        "WARNING" => Severity::Warning,
        _ => Severity::Error,
    };
    let problem: sqlx::types::Json<Problem> = r.col(STORE, "problem")?;
    let mut entry = LogEntry::new(
        severity,
        SObject::new(r.col::<String, _>(STORE, "object")?),
        sf_id(r.col(STORE, "sf_id")?)?,
        r.col::<String, _>(STORE, "field")?,
        problem.0,
    );
    entry.message = r.col(STORE, "message")?;
    Ok(entry)
}

fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505")
        && d.constraint() == Some(constraint))
}

#[async_trait]
impl JobStore for PgJobStore {
    async fn create_job(&self, new: &NewJob) -> Result<Job> {
        let objects: Vec<&str> = new.objects.iter().map(SObject::as_str).collect();
        // A running job may finish between the refused insert and the
        // lookup of the winner; then try again (a few times at most).
        for _ in 0..5 {
            let mut tx = begin(&self.pool, &new.tenant, self.rls, STORE).await?;
            let created: Option<i64> = sqlx::query_scalar(
                "WITH job AS (
                     INSERT INTO sf_import_jobs (tenant_id, status, started_by, mode, created_at,
                                                 lease_owner, lease_token, lease_expires_at, sync)
                     VALUES ($1, 'PENDING', $2, $3, $4, $6, CASE WHEN $6 IS NULL THEN 0 ELSE 1 END, $7, $8)
                     ON CONFLICT (tenant_id) WHERE status IN ('PENDING', 'IN_PROGRESS') DO NOTHING
                     RETURNING id
                 ), objects AS (
                     INSERT INTO sf_import_job_objects (tenant_id, job_id, position, object, state)
                     SELECT $1, job.id, o.position, o.object, 'PENDING'
                     FROM job, UNNEST($5::text[]) WITH ORDINALITY AS o(object, position)
                 )
                 SELECT id FROM job",
            )
            .bind(new.tenant.as_str())
            .bind(&new.started_by)
            .bind(mode_code(new.mode))
            .bind(new.created_at)
            .bind(&objects)
            .bind(new.lease.as_ref().map(|l| l.owner.as_str()))
            .bind(new.lease.as_ref().map(|l| l.expires_at))
            .bind(new.sync)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(STORE, "creating a job"))?;
            if let Some(id) = created {
                tx.commit().await.map_err(db(STORE, "creating a job"))?;
                // As read back: PostgreSQL keeps microseconds.
                let mut job = Job::new(JobId::new(id.to_string()), new);
                job.created_at = job.created_at.trunc_subsecs(6);
                if let Some(lease) = &mut job.lease {
                    lease.token = 1;
                    lease.expires_at = lease.expires_at.trunc_subsecs(6);
                }
                return Ok(job);
            }
            let running: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM sf_import_jobs
                 WHERE tenant_id = $1 AND status IN ('PENDING', 'IN_PROGRESS')",
            )
            .bind(new.tenant.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(STORE, "reading the running job"))?;
            if let Some(id) = running {
                return Err(Error::ImportAlreadyRunning {
                    tenant: new.tenant.clone(),
                    job: JobId::new(id.to_string()),
                });
            }
        }
        Err(corrupt(format!(
            "could not create a job for tenant {}: the running job kept changing",
            new.tenant
        )))
    }

    async fn job(&self, tenant: &TenantId, job: &JobId) -> Result<Job> {
        let id = job_key(tenant, job)?;
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM sf_import_jobs WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(STORE, "reading a job"))?;
        let job = load_jobs(&mut tx, rows)
            .await?
            .pop()
            .ok_or_else(|| not_found(tenant, job))?;
        tx.commit().await.map_err(db(STORE, "reading a job"))?;
        Ok(job)
    }

    async fn history(&self, tenant: &TenantId, limit: usize) -> Result<Vec<Job>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM sf_import_jobs WHERE tenant_id = $1
             ORDER BY created_at DESC, id DESC LIMIT $2"
        )))
        .bind(tenant.as_str())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(STORE, "reading history"))?;
        let jobs = load_jobs(&mut tx, rows).await?;
        tx.commit().await.map_err(db(STORE, "reading history"))?;
        Ok(jobs)
    }

    async fn set_status(
        &self,
        tenant: &TenantId,
        job: &JobId,
        status: JobStatus,
        at: DateTime<Utc>,
        message: Option<String>,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let id = job_key(tenant, job)?;
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        // The holder's own end of the run releases the lease (the token
        // stays); an administrator's unfenced write leaves it.
        let res = sqlx::query(
            "UPDATE sf_import_jobs SET
                 status = $3,
                 started_at = CASE WHEN $3 = 'IN_PROGRESS' THEN COALESCE(started_at, $4) ELSE started_at END,
                 completed_at = CASE WHEN $3 IN ('PENDING', 'IN_PROGRESS') THEN NULL ELSE $4 END,
                 message = $5,
                 lease_owner = CASE WHEN $6::text IS NOT NULL AND $3 NOT IN ('PENDING', 'IN_PROGRESS')
                                    THEN NULL ELSE lease_owner END,
                 lease_expires_at = CASE WHEN $6::text IS NOT NULL AND $3 NOT IN ('PENDING', 'IN_PROGRESS')
                                    THEN NULL ELSE lease_expires_at END
             WHERE tenant_id = $1 AND id = $2
               AND ($6::text IS NULL OR (lease_owner = $6 AND lease_token = $7
                    AND (status NOT IN ('COMPLETED', 'COMPLETED_WITH_ERRORS', 'CANCELLED')
                         OR status = $3)))",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(status.code())
        .bind(at)
        .bind(message)
        .bind(lease.map(|l| l.owner.as_str()))
        .bind(lease.map(|l| token(l.token)))
        .execute(&mut *tx)
        .await;
        match res {
            Ok(r) if r.rows_affected() == 0 => Err(refused(&mut tx, tenant, job, id).await),
            Ok(_) => tx
                .commit()
                .await
                .map_err(db(STORE, "setting a job's status")),
            // Resuming a job while another one runs.
            Err(e) if is_unique_violation(&e, "sf_import_jobs_one_running") => {
                drop(tx);
                let running = self
                    .history(tenant, 10)
                    .await?
                    .into_iter()
                    .find(|j| j.status.is_running() && &j.id != job);
                Err(match running {
                    Some(j) => Error::ImportAlreadyRunning {
                        tenant: tenant.clone(),
                        job: j.id,
                    },
                    None => store_error(STORE, "setting a job's status", e),
                })
            }
            Err(e) => Err(store_error(STORE, "setting a job's status", e)),
        }
    }

    async fn set_object_state(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        state: ObjectState,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let id = job_key(tenant, job)?;
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        fence(&mut tx, tenant, job, id, lease).await?;
        let res = sqlx::query(
            "UPDATE sf_import_job_objects SET state = $4
             WHERE tenant_id = $1 AND job_id = $2 AND object = $3",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(object.as_str())
        .bind(state_code(state))
        .execute(&mut *tx)
        .await
        .map_err(db(STORE, "setting an object's state"))?;
        if res.rows_affected() == 0 {
            return Err(missing_object(&mut tx, tenant, job, id, object).await);
        }
        tx.commit()
            .await
            .map_err(db(STORE, "setting an object's state"))
    }

    async fn record_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        page: &PageRecord,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let id = job_key(tenant, job)?;
        // One statement: the lease check, the progress, the log and the id
        // map together (atomic on its own; one round trip unless row-level
        // security needs the tenant set in a transaction first).
        if self.rls == Rls::On {
            let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
            record(&mut tx, tenant, job, id, object, page, lease).await?;
            tx.commit().await.map_err(db(STORE, "recording a page"))
        } else {
            let mut conn = self
                .pool
                .acquire()
                .await
                .map_err(db(STORE, "recording a page"))?;
            record(&mut conn, tenant, job, id, object, page, lease).await
        }
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        let id = job_key(tenant, job)?;
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        // Of two racing takeovers, the second waits for the first's row
        // lock and then finds the lease held: exactly one wins.
        let taken: Option<(i64, DateTime<Utc>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE sf_import_jobs
             SET lease_owner = $3, lease_token = lease_token + 1, lease_expires_at = $5
             WHERE tenant_id = $1 AND id = $2 AND status NOT IN {FINAL}
               AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= $4)
             RETURNING lease_token, lease_expires_at"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .bind(owner)
        .bind(now)
        .bind(until)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(STORE, "taking a job's lease"))?;
        if let Some((token, expires_at)) = taken {
            tx.commit()
                .await
                .map_err(db(STORE, "taking a job's lease"))?;
            return Ok(Some(Lease::new(owner, count(token), expires_at)));
        }
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM sf_import_jobs WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(STORE, "taking a job's lease"))?;
        match status.as_deref().map(JobStatus::from_code) {
            None => Err(not_found(tenant, job)),
            Some(Some(status)) if status.is_final() => Err(Error::JobNotResumable {
                job: job.clone(),
                status,
                action: "taken over",
            }),
            Some(Some(_)) => Ok(None),
            Some(None) => Err(corrupt(format!("unknown job status {status:?}"))),
        }
    }

    async fn renew_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        lease: &Lease,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        let id = job_key(tenant, job)?;
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        let renewed: Option<DateTime<Utc>> = sqlx::query_scalar(
            "UPDATE sf_import_jobs SET lease_expires_at = $5
             WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND lease_token = $4
             RETURNING lease_expires_at",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(&lease.owner)
        .bind(token(lease.token))
        .bind(until)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(STORE, "renewing a job's lease"))?;
        match renewed {
            Some(expires_at) => {
                tx.commit()
                    .await
                    .map_err(db(STORE, "renewing a job's lease"))?;
                Ok(Lease::new(lease.owner.clone(), lease.token, expires_at))
            }
            None => Err(refused(&mut tx, tenant, job, id).await),
        }
    }

    async fn stranded_jobs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        // The one read over every tenant (recovery after a restart). Under
        // row-level security it sees no rows: recover per tenant there.
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db(STORE, "listing stranded jobs"))?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM sf_import_jobs
             WHERE status IN ('PENDING', 'IN_PROGRESS')
               AND (lease_expires_at IS NULL OR lease_expires_at <= $1)
             ORDER BY created_at, id LIMIT $2"
        )))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db(STORE, "listing stranded jobs"))?;
        let jobs = load_jobs(&mut tx, rows).await?;
        tx.commit()
            .await
            .map_err(db(STORE, "listing stranded jobs"))?;
        Ok(jobs)
    }

    async fn error_log(
        &self,
        tenant: &TenantId,
        job: &JobId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        let id = job_key(tenant, job)?;
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        if !job_exists(&mut tx, tenant, id).await? {
            return Err(not_found(tenant, job));
        }
        let rows = sqlx::query(
            "SELECT severity, object, sf_id, field, message, problem FROM sf_import_job_log
             WHERE tenant_id = $1 AND job_id = $2 ORDER BY seq OFFSET $3 LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db(STORE, "reading the error log"))?;
        tx.commit()
            .await
            .map_err(db(STORE, "reading the error log"))?;
        rows.iter().map(log_entry).collect()
    }

    /// A keyset read: the marker is the last line's `seq`, and the primary
    /// key `(job_id, seq)` takes the read straight to it, however far
    /// into the log it is.
    async fn log_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        after: u64,
        limit: usize,
    ) -> Result<LogPage> {
        let id = job_key(tenant, job)?;
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        if !job_exists(&mut tx, tenant, id).await? {
            return Err(not_found(tenant, job));
        }
        let rows = sqlx::query(
            "SELECT seq, severity, object, sf_id, field, message, problem FROM sf_import_job_log
             WHERE tenant_id = $1 AND job_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db(STORE, "reading a page of the error log"))?;
        tx.commit()
            .await
            .map_err(db(STORE, "reading a page of the error log"))?;
        let seqs = rows
            .iter()
            .map(|r| r.col::<i64, _>(STORE, "seq"))
            .collect::<Result<Vec<i64>>>()?;
        let mut lines = rows.iter().map(log_entry).collect::<Result<Vec<_>>>()?;
        Ok(LogPage::from_overfetch(&mut lines, limit, |n| match n {
            0 => after,
            n => u64::try_from(seqs[n - 1]).unwrap_or(after),
        }))
    }

    async fn resolve_ids(
        &self,
        tenant: &TenantId,
        keys: &[IdKey],
    ) -> Result<HashMap<IdKey, IdMapping>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let objects: Vec<&str> = keys.iter().map(|(o, _)| o.as_str()).collect();
        let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
        // One query for the whole page: the keys join the primary key.
        let query = sqlx::query(
            "SELECT m.object, m.sf_id, m.crm_id, m.modstamp, m.deleted
             FROM UNNEST($2::text[], $3::text[]) AS k(object, sf_id)
             JOIN sf_import_id_map m
               ON m.tenant_id = $1 AND m.object = k.object AND m.sf_id = k.sf_id",
        )
        .bind(tenant.as_str())
        .bind(&objects)
        .bind(&ids);
        // A read: one round trip, unless row-level security needs the
        // tenant set in a transaction first.
        let rows = if self.rls == Rls::On {
            let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
            let rows = query
                .fetch_all(&mut *tx)
                .await
                .map_err(db(STORE, "resolving ids"))?;
            tx.commit().await.map_err(db(STORE, "resolving ids"))?;
            rows
        } else {
            query
                .fetch_all(&self.pool)
                .await
                .map_err(db(STORE, "resolving ids"))?
        };
        rows.into_iter()
            .map(|r| {
                let id = sf_id(Some(r.col(STORE, "sf_id")?))?.expect("Some in, Some out");
                let mut mapping = IdMapping::new(
                    CrmId::new(r.col::<String, _>(STORE, "crm_id")?),
                    r.col(STORE, "modstamp")?,
                );
                mapping.deleted = r.col(STORE, "deleted")?;
                Ok((
                    (SObject::new(r.col::<String, _>(STORE, "object")?), id),
                    mapping,
                ))
            })
            .collect()
    }

    async fn watermark(
        &self,
        tenant: &TenantId,
        object: &SObject,
    ) -> Result<Option<DateTime<Utc>>> {
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        let at: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT max(watermark) FROM sf_import_job_objects
             WHERE tenant_id = $1 AND object = $2 AND state = 'DONE' AND watermark IS NOT NULL",
        )
        .bind(tenant.as_str())
        .bind(object.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db(STORE, "reading a watermark"))?;
        tx.commit()
            .await
            .map_err(db(STORE, "reading a watermark"))?;
        Ok(at)
    }

    async fn has_mappings(&self, tenant: &TenantId, object: &SObject) -> Result<bool> {
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sf_import_id_map WHERE tenant_id = $1 AND object = $2)",
        )
        .bind(tenant.as_str())
        .bind(object.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db(STORE, "reading the id map"))?;
        tx.commit().await.map_err(db(STORE, "reading the id map"))?;
        Ok(any)
    }
}

/// The error for an update that matched no object row: the job is missing
/// (`JobNotFound`) or does not import the object (`Config`).
async fn missing_object(
    conn: &mut PgConnection,
    tenant: &TenantId,
    job: &JobId,
    id: i64,
    object: &SObject,
) -> Error {
    match job_exists(conn, tenant, id).await {
        Ok(true) => Error::config(format!("job {job} does not import {object}")),
        Ok(false) => not_found(tenant, job),
        Err(e) => e,
    }
}

/// Records a page in one statement: under the job's lease (checked and
/// held for the statement, `FOR SHARE`), the object's progress, then its
/// log lines and id mappings, which are written only when the progress
/// row was. Nothing is written when the lease or the object is not there;
/// the error says which.
async fn record(
    conn: &mut PgConnection,
    tenant: &TenantId,
    job: &JobId,
    id: i64,
    object: &SObject,
    page: &PageRecord,
    lease: Option<&Lease>,
) -> Result<()> {
    let log = &page.log;
    let severity: Vec<&str> = log.iter().map(|e| severity_code(e.severity)).collect();
    let log_object: Vec<&str> = log.iter().map(|e| e.object.as_str()).collect();
    let log_sf_id: Vec<Option<&str>> = log
        .iter()
        .map(|e| e.sf_id.as_ref().map(SfId::as_str))
        .collect();
    let field: Vec<&str> = log.iter().map(|e| e.field.as_str()).collect();
    let message: Vec<&str> = log.iter().map(|e| e.message.as_str()).collect();
    let problem: Vec<serde_json::Value> = log
        .iter()
        .map(|e| serde_json::to_value(&e.problem))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::store(STORE, "encoding a log entry", e).permanent())?;
    // ON CONFLICT DO UPDATE refuses a key twice in one statement: last wins.
    let mut last: HashMap<&SfId, &IdMapping> = HashMap::with_capacity(page.mappings.len());
    for (sf, m) in &page.mappings {
        last.insert(sf, m);
    }
    let mut sf_ids = Vec::with_capacity(last.len());
    let mut crm_ids = Vec::with_capacity(last.len());
    let mut stamps = Vec::with_capacity(last.len());
    let mut deleted = Vec::with_capacity(last.len());
    for (sf, m) in last {
        sf_ids.push(sf.as_str());
        crm_ids.push(m.crm_id.as_str());
        stamps.push(m.modstamp);
        deleted.push(m.deleted);
    }
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let (held, updated): (i64, i64) = sqlx::query_as(
        "WITH held AS (
             SELECT 1 FROM sf_import_jobs
             WHERE tenant_id = $1 AND id = $2
               AND ($15::text IS NULL OR (lease_owner = $15 AND lease_token = $16))
             FOR SHARE
         ), progress AS (
             UPDATE sf_import_job_objects SET
                 total = COALESCE($4, total),
                 imported = imported + $5, skipped = skipped + $6,
                 errors = errors + $7, warnings = warnings + $8,
                 checkpoint = COALESCE($9, checkpoint),
                 checkpoint_modstamp = CASE WHEN $9 IS NULL THEN checkpoint_modstamp ELSE $10 END,
                 resume_cursor = CASE WHEN $9 IS NULL THEN resume_cursor ELSE $14 END,
                 updated = updated + $11, deleted = deleted + $12,
                 watermark = COALESCE($13, watermark)
             WHERE tenant_id = $1 AND job_id = $2 AND object = $3
               AND EXISTS (SELECT 1 FROM held)
             RETURNING 1
         ), log AS (
             INSERT INTO sf_import_job_log (tenant_id, job_id, severity, object, sf_id, field, message, problem)
             SELECT $1, $2, e.severity, e.object, e.sf_id, e.field, e.message, e.problem
             FROM UNNEST($17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::jsonb[])
                  WITH ORDINALITY AS e(severity, object, sf_id, field, message, problem, n)
             WHERE EXISTS (SELECT 1 FROM progress)
             ORDER BY e.n
         ), ids AS (
             INSERT INTO sf_import_id_map (tenant_id, object, sf_id, crm_id, job_id, modstamp, deleted)
             SELECT $1, $3, m.sf_id, m.crm_id, $2, m.modstamp, m.deleted
             FROM UNNEST($23::text[], $24::text[], $25::timestamptz[], $26::bool[])
                  AS m(sf_id, crm_id, modstamp, deleted)
             WHERE EXISTS (SELECT 1 FROM progress)
             ON CONFLICT (tenant_id, object, sf_id)
             DO UPDATE SET crm_id = EXCLUDED.crm_id, job_id = EXCLUDED.job_id, recorded_at = now(),
                           modstamp = EXCLUDED.modstamp, deleted = EXCLUDED.deleted
         )
         SELECT (SELECT count(*) FROM held), (SELECT count(*) FROM progress)",
    )
    .bind(tenant.as_str())
    .bind(id)
    .bind(object.as_str())
    .bind(page.total.map(count))
    .bind(count(page.imported))
    .bind(count(page.skipped))
    .bind(count(page.errors))
    .bind(count(page.warnings))
    .bind(page.checkpoint.as_ref().map(SfId::as_str))
    .bind(page.checkpoint_modstamp)
    .bind(count(page.updated))
    .bind(count(page.deleted))
    .bind(page.watermark)
    .bind(page.resume_cursor.as_deref())
    .bind(lease.map(|l| l.owner.as_str()))
    .bind(lease.map(|l| token(l.token)))
    .bind(&severity)
    .bind(&log_object)
    .bind(&log_sf_id)
    .bind(&field)
    .bind(&message)
    .bind(&problem)
    .bind(&sf_ids)
    .bind(&crm_ids)
    .bind(&stamps)
    .bind(&deleted)
    .fetch_one(&mut *conn)
    .await
    .map_err(db(STORE, "recording a page"))?;
    if held == 0 {
        return Err(refused(conn, tenant, job, id).await);
    }
    if updated == 0 {
        return Err(missing_object(conn, tenant, job, id, object).await);
    }
    Ok(())
}
