//! [`JobStore`]: import jobs, their progress and error log, history, the
//! one-running-import-per-tenant rule, checkpoints, and the Salesforce id ->
//! CRM id map.
//!
//! The always-compiled [`InMemoryJobStore`] is the reference implementation;
//! a host's own store runs the same conformance suite
//! (`salesforce_import::testkit`, feature `testkit`).
//!
//! # Implementing a job store
//!
//! Read `src/jobs/memory.rs` (one mutex over a few maps) as the model, and
//! keep these in mind for a database:
//! - enforce one running job per tenant in the database itself (a partial
//!   unique index over the running statuses), not with a read-then-write;
//! - apply a [`PageRecord`] in one transaction: counts, log entries, id
//!   mappings and checkpoint together;
//! - answer [`resolve_ids`](JobStore::resolve_ids) with one query
//!   (`WHERE (object, sf_id) IN (...)` / `= ANY($1)`), never one per key;
//! - build returned jobs with [`Job::new`] and log entries with
//!   [`LogEntry::new`] (both types are `#[non_exhaustive]`).

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crm::WriteMode;
use crate::error::Result;
use crate::id::{CrmId, JobId, SfId, TenantId};
use crate::object::SObject;

mod log;
mod memory;
pub(crate) mod missing;
pub use crate::status::{JobStatus, ObjectState};
pub use log::{LogEntry, Severity};
pub use memory::InMemoryJobStore;
pub use missing::{MissingParent, MissingParents, MissingReason};

/// Progress of one object within a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectProgress {
    /// The object.
    pub object: SObject,
    /// Its state.
    pub state: ObjectState,
    /// How many records the source reported, once known.
    pub total: Option<u64>,
    /// Records created (or found already present, written by a run that
    /// stopped before recording them).
    pub imported: u64,
    /// Records imported before and rewritten: changed in Salesforce since
    /// ([`WriteMode::UpdateChanged`]), or every one in [`WriteMode::Update`].
    pub updated: u64,
    /// Records already imported and left alone: unchanged since, or any in
    /// [`WriteMode::SkipExisting`]; and deleted records that were never
    /// imported.
    pub skipped: u64,
    /// Records deleted in Salesforce and deleted (or archived) in the CRM.
    pub deleted: u64,
    /// Records that failed (see the error log).
    pub errors: u64,
    /// Records imported with a repaired value.
    pub warnings: u64,
    /// The last Salesforce id whose page was fully recorded: a resumed job
    /// continues after it.
    pub checkpoint: Option<SfId>,
    /// In a sync read (records in `(SystemModstamp, Id)` order), the
    /// `SystemModstamp` of the checkpoint's record: a resumed sync
    /// continues after `(checkpoint_modstamp, checkpoint)`.
    pub checkpoint_modstamp: Option<DateTime<Utc>>,
    /// A [durable](crate::source::Cursor::durable) cursor to the page after
    /// the checkpoint (a Bulk API job's locator): a resumed job continues
    /// from it rather than querying again.
    pub resume_cursor: Option<String>,
    /// Every change Salesforce made to this object before this instant has
    /// been read by this job (kept with each page; final once the object is
    /// done): where the next sync of the object starts, less the look-back
    /// window. `None` until known, and in [`WriteMode::SkipExisting`],
    /// which leaves stale records behind.
    pub watermark: Option<DateTime<Utc>>,
}

impl ObjectProgress {
    /// A pending object with no progress.
    pub fn pending(object: SObject) -> ObjectProgress {
        ObjectProgress {
            object,
            state: ObjectState::Pending,
            total: None,
            imported: 0,
            updated: 0,
            skipped: 0,
            deleted: 0,
            errors: 0,
            warnings: 0,
            checkpoint: None,
            checkpoint_modstamp: None,
            resume_cursor: None,
            watermark: None,
        }
    }

    /// Records processed so far: imported + updated + skipped + deleted +
    /// errors.
    pub fn processed(&self) -> u64 {
        self.imported + self.updated + self.skipped + self.deleted + self.errors
    }
}

/// One import job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Job {
    /// The id.
    pub id: JobId,
    /// The tenant.
    pub tenant: TenantId,
    /// The status.
    pub status: JobStatus,
    /// Who started it (the host's user id or email).
    pub started_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// Skip or update records imported before.
    pub mode: WriteMode,
    /// An incremental sync: each object imported before reads only the
    /// records changed since its watermark, deleted ones included.
    pub sync: bool,
    /// Per-object progress, in import order.
    pub objects: Vec<ObjectProgress>,
    /// Why it failed or was stopped.
    pub message: Option<String>,
    /// Who runs it and until when, while someone does. A running job whose
    /// lease expired (or that never had one) is
    /// [stranded](Job::is_stranded).
    pub lease: Option<Lease>,
}

impl Job {
    /// A pending job with every object pending: what
    /// [`JobStore::create_job`] returns, for stores outside this crate.
    ///
    /// ```
    /// use salesforce_import::jobs::{Job, NewJob};
    /// use salesforce_import::{JobId, JobStatus, SObject, TenantId, WriteMode};
    /// let new = NewJob::new(TenantId::new("acme"), "ada", vec![SObject::ACCOUNT], WriteMode::SkipExisting, chrono::Utc::now());
    /// let job = Job::new(JobId::new("42"), &new);
    /// assert_eq!(job.status, JobStatus::Pending);
    /// assert_eq!(job.objects.len(), 1);
    /// ```
    pub fn new(id: JobId, new: &NewJob) -> Job {
        Job {
            id,
            tenant: new.tenant.clone(),
            status: JobStatus::Pending,
            started_by: new.started_by.clone(),
            created_at: new.created_at,
            started_at: None,
            completed_at: None,
            mode: new.mode,
            sync: new.sync,
            objects: new
                .objects
                .iter()
                .cloned()
                .map(ObjectProgress::pending)
                .collect(),
            message: None,
            lease: new.lease.clone(),
        }
    }

    /// Whether the job is running (pending or in progress) but nobody holds
    /// its lease at `now`: the process that ran it died or was stopped, and
    /// another may take it over ([`JobStore::acquire_lease`]) and resume it.
    pub fn is_stranded(&self, now: DateTime<Utc>) -> bool {
        self.status.is_running() && self.lease.as_ref().is_none_or(|l| l.is_expired(now))
    }

    /// The progress of one object.
    pub fn object(&self, object: &SObject) -> Option<&ObjectProgress> {
        self.objects.iter().find(|o| &o.object == object)
    }

    /// Records the sources reported, over every object whose total is known.
    pub fn total(&self) -> u64 {
        self.objects.iter().filter_map(|o| o.total).sum()
    }

    /// Records created, over every object.
    pub fn imported(&self) -> u64 {
        self.objects.iter().map(|o| o.imported).sum()
    }

    /// Records rewritten, over every object.
    pub fn updated(&self) -> u64 {
        self.objects.iter().map(|o| o.updated).sum()
    }

    /// Records deleted, over every object.
    pub fn deleted(&self) -> u64 {
        self.objects.iter().map(|o| o.deleted).sum()
    }

    /// Records skipped, over every object.
    pub fn skipped(&self) -> u64 {
        self.objects.iter().map(|o| o.skipped).sum()
    }

    /// Records that failed, over every object.
    pub fn errors(&self) -> u64 {
        self.objects.iter().map(|o| o.errors).sum()
    }
}

/// The right to run one job, held by one owner until it expires, renewed by
/// a heartbeat while the job runs.
///
/// The `token` fences stale owners: the store gives every acquisition of a
/// job's lease a token greater than any before it, and refuses a write
/// that carries another token ([`Error::LeaseLost`](crate::Error::LeaseLost)).
/// A process that stalled past its lease and wakes up after another took
/// the job over can no longer change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Lease {
    /// Who holds it: an id unique to one process (see
    /// [`ImporterBuilder::owner`](crate::ImporterBuilder::owner)).
    pub owner: String,
    /// The fencing token of this acquisition.
    pub token: u64,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    /// A lease, as a store outside this crate reads it back.
    pub fn new(owner: impl Into<String>, token: u64, expires_at: DateTime<Utc>) -> Lease {
        Lease {
            owner: owner.into(),
            token,
            expires_at,
        }
    }

    /// Whether it has lapsed at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// What a new job is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewJob {
    /// The tenant.
    pub tenant: TenantId,
    /// Who starts it.
    pub started_by: String,
    /// The objects, in import order.
    pub objects: Vec<SObject>,
    /// Skip or update.
    pub mode: WriteMode,
    /// An incremental sync (see [`Job::sync`]).
    pub sync: bool,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// The lease the job is created with (token 1), so that it is never
    /// running without an owner; `None` creates it unowned.
    pub lease: Option<Lease>,
}

impl NewJob {
    /// A new job.
    pub fn new(
        tenant: TenantId,
        started_by: impl Into<String>,
        objects: Vec<SObject>,
        mode: WriteMode,
        created_at: DateTime<Utc>,
    ) -> NewJob {
        NewJob {
            tenant,
            started_by: started_by.into(),
            objects,
            mode,
            sync: false,
            created_at,
            lease: None,
        }
    }

    /// The same job as an incremental sync (see [`Job::sync`]).
    pub fn sync(mut self, sync: bool) -> NewJob {
        self.sync = sync;
        self
    }

    /// The same job, created leased to `owner` until `expires_at` (the
    /// store gives the lease token 1).
    pub fn leased_to(mut self, owner: impl Into<String>, expires_at: DateTime<Utc>) -> NewJob {
        self.lease = Some(Lease::new(owner, 1, expires_at));
        self
    }
}

/// Everything one page changes, recorded atomically: counts, error log,
/// id mappings and the checkpoint. A store must apply all of it or none, so
/// a crash leaves the job at the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageRecord {
    /// The source's total for the object, when first known.
    pub total: Option<u64>,
    /// Records created.
    pub imported: u64,
    /// Records rewritten.
    pub updated: u64,
    /// Records skipped.
    pub skipped: u64,
    /// Records deleted.
    pub deleted: u64,
    /// Records failed.
    pub errors: u64,
    /// Records repaired.
    pub warnings: u64,
    /// Error-log entries (errors and warnings).
    pub log: Vec<LogEntry>,
    /// Salesforce id -> CRM id mappings of this object to insert or
    /// replace: every record written or deleted.
    pub mappings: Vec<(SfId, IdMapping)>,
    /// The last Salesforce id of the page.
    pub checkpoint: Option<SfId>,
    /// Its `SystemModstamp`, in a sync read.
    pub checkpoint_modstamp: Option<DateTime<Utc>>,
    /// The durable cursor to the next page, if the source gave one; set
    /// (or cleared) with the checkpoint.
    pub resume_cursor: Option<String>,
    /// The object's new watermark (see [`ObjectProgress::watermark`]),
    /// replacing the one before.
    pub watermark: Option<DateTime<Utc>>,
}

/// One page of a job's log, from [`JobStore::log_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogPage {
    /// The lines, oldest first.
    pub lines: Vec<LogEntry>,
    /// Where the next page starts (pass it as `after`), when more lines
    /// follow this page; `None` at the end of the log.
    pub next: Option<u64>,
}

impl LogPage {
    /// A page, as a store outside this crate builds it.
    pub fn new(lines: Vec<LogEntry>, next: Option<u64>) -> LogPage {
        LogPage { lines, next }
    }

    /// A page from `lines` read with one line more than `limit`: the extra
    /// line, if there, is dropped and says that more follow;
    /// `marker(n)` is the marker after the first `n` lines.
    pub(crate) fn from_overfetch(
        lines: &mut Vec<LogEntry>,
        limit: usize,
        marker: impl FnOnce(usize) -> u64,
    ) -> LogPage {
        let more = lines.len() > limit;
        lines.truncate(limit);
        LogPage {
            next: more.then(|| marker(lines.len())),
            lines: std::mem::take(lines),
        }
    }
}

/// The key of the id map: one Salesforce record of one object.
pub type IdKey = (SObject, SfId);

/// What the id map holds for one Salesforce record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdMapping {
    /// The CRM record it was written to.
    pub crm_id: CrmId,
    /// Its `SystemModstamp` when it was last written (or deleted): a
    /// change-aware run rewrites it only when Salesforce's differs.
    pub modstamp: Option<DateTime<Utc>>,
    /// Whether it was deleted in Salesforce and in the CRM.
    pub deleted: bool,
}

impl IdMapping {
    /// A live record written at `modstamp`.
    ///
    /// ```
    /// use salesforce_import::jobs::IdMapping;
    /// use salesforce_import::CrmId;
    /// let m = IdMapping::new(CrmId::new("7"), None);
    /// assert!(!m.deleted);
    /// assert!(m.deleted().deleted);
    /// ```
    pub fn new(crm_id: CrmId, modstamp: Option<DateTime<Utc>>) -> IdMapping {
        IdMapping {
            crm_id,
            modstamp,
            deleted: false,
        }
    }

    /// The same mapping, marked deleted.
    pub fn deleted(mut self) -> IdMapping {
        self.deleted = true;
        self
    }
}

/// Jobs, progress, history, checkpoints and the id map.
///
/// Contract:
/// - [`create_job`](JobStore::create_job) fails with
///   [`Error::ImportAlreadyRunning`](crate::Error::ImportAlreadyRunning)
///   while the tenant has a job that [`is_running`](JobStatus::is_running),
///   even under concurrent calls;
/// - [`record_page`](JobStore::record_page) applies a [`PageRecord`] whole
///   or not at all;
/// - the id map is unique per (tenant, object, Salesforce id), and
///   [`resolve_ids`](JobStore::resolve_ids) answers a whole page in one call;
/// - everything is scoped to the tenant: another tenant's job is
///   [`Error::JobNotFound`](crate::Error::JobNotFound);
/// - a job's lease has one holder at a time: [`acquire_lease`](JobStore::acquire_lease)
///   succeeds for one caller only while the lease is held and unexpired,
///   and for exactly one of several racing callers once it expired; each
///   acquisition gets a fencing token greater than every earlier one of the
///   job; a write that carries a lease ([`set_status`](JobStore::set_status),
///   [`set_object_state`](JobStore::set_object_state),
///   [`record_page`](JobStore::record_page) with `Some(lease)`) fails with
///   [`Error::LeaseLost`](crate::Error::LeaseLost), changing nothing, unless
///   that lease is the job's current one. `None` is an unfenced write (an
///   administrator's).
#[async_trait]
pub trait JobStore: fmt::Debug + Send + Sync + 'static {
    /// Creates a pending job, unless the tenant already has a running one.
    async fn create_job(&self, new: &NewJob) -> Result<Job>;

    /// One job.
    async fn job(&self, tenant: &TenantId, job: &JobId) -> Result<Job>;

    /// The tenant's jobs, newest first, at most `limit`.
    async fn history(&self, tenant: &TenantId, limit: usize) -> Result<Vec<Job>>;

    /// Sets a job's status (and `started_at` on the first `InProgress`,
    /// `completed_at` on a final status) and its message; fenced by `lease`
    /// when given: the holder cannot change a final status (an
    /// administrator cancelled the job meanwhile) into another, which is
    /// [`Error::LeaseLost`](crate::Error::LeaseLost) too. The lease holder setting a status that is not running
    /// (finished, failed, cancelled) releases the lease; an unfenced write
    /// (an administrator cancelling a job) leaves it, so a process still
    /// running the job records its last page and state before it stops.
    async fn set_status(
        &self,
        tenant: &TenantId,
        job: &JobId,
        status: JobStatus,
        at: DateTime<Utc>,
        message: Option<String>,
        lease: Option<&Lease>,
    ) -> Result<()>;

    /// Sets one object's state; fenced by `lease` when given.
    async fn set_object_state(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        state: ObjectState,
        lease: Option<&Lease>,
    ) -> Result<()>;

    /// Records one page of one object, atomically; fenced by `lease` when
    /// given.
    async fn record_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        page: &PageRecord,
        lease: Option<&Lease>,
    ) -> Result<()>;

    /// Takes the job's lease for `owner` until `until`, when nobody holds
    /// it at `now` (never leased, released, or expired). Returns the new
    /// lease, with a fencing token greater than any before it, or `None`
    /// when another owner holds an unexpired lease. A job with a final
    /// status ([`JobStatus::is_final`]) is [`Error::JobNotResumable`](crate::Error::JobNotResumable).
    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Lease>>;

    /// Extends `lease` to `until` while it is still the job's lease (even if
    /// it expired, as long as nobody took it over); otherwise
    /// [`Error::LeaseLost`](crate::Error::LeaseLost).
    async fn renew_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        lease: &Lease,
        until: DateTime<Utc>,
    ) -> Result<Lease>;

    /// Running jobs whose lease lapsed at `now` (or that have none), over
    /// every tenant the store can see, oldest first, at most `limit`: what
    /// [`Importer::recover`](crate::Importer::recover) takes over. A store
    /// that enforces tenant isolation per session (PostgreSQL with
    /// row-level security) sees none; recover per tenant there.
    async fn stranded_jobs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>>;

    /// The job's error log, oldest first.
    async fn error_log(
        &self,
        tenant: &TenantId,
        job: &JobId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogEntry>>;

    /// Up to `limit` lines of the job's log after the marker `after`
    /// (`0`: from the first line), oldest first, with the marker of the
    /// next page when more lines follow ([`LogPage::next`]).
    ///
    /// Markers are the store's own (a position, a sequence number): a
    /// caller passes back only `0` or a `next` the store gave. Lines
    /// appended later come after every marker given before, so paging a
    /// running job's log with `next` reads each line exactly once.
    ///
    /// The default reads [`error_log`](JobStore::error_log) from the
    /// offset `after`, one line more than asked to learn whether more
    /// follow. A database store overrides it with a keyset read (`WHERE
    /// seq > $after ORDER BY seq LIMIT $limit + 1`), which costs the same
    /// for the last page of a long log as for the first.
    async fn log_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        after: u64,
        limit: usize,
    ) -> Result<LogPage> {
        let offset = usize::try_from(after).unwrap_or(usize::MAX);
        let mut lines = self
            .error_log(tenant, job, offset, limit.saturating_add(1))
            .await?;
        Ok(LogPage::from_overfetch(&mut lines, limit, |n| {
            after.saturating_add(n as u64)
        }))
    }

    /// Looks up the id map for Salesforce ids, in one call; unknown keys
    /// are absent from the answer, deleted ones present and marked.
    async fn resolve_ids(
        &self,
        tenant: &TenantId,
        keys: &[IdKey],
    ) -> Result<HashMap<IdKey, IdMapping>>;

    /// Where the tenant's next sync of `object` starts: the greatest
    /// [`watermark`](ObjectProgress::watermark) of the object over the
    /// tenant's jobs in which it is [done](ObjectState::Done); `None` when
    /// it never was (the sync reads it whole).
    async fn watermark(&self, tenant: &TenantId, object: &SObject)
    -> Result<Option<DateTime<Utc>>>;

    /// Whether the tenant's id map holds any mapping of `object`.
    ///
    /// `false` lets the engine skip asking about the records of an object
    /// imported for the first time and read in one pass (not a sync), where
    /// each record comes once and none can have been imported before
    /// except by the running job, which knows what it recorded. The
    /// default answers `true`, which is always safe: the engine then asks
    /// [`resolve_ids`](JobStore::resolve_ids) as usual.
    async fn has_mappings(&self, tenant: &TenantId, object: &SObject) -> Result<bool> {
        let _ = (tenant, object);
        Ok(true)
    }
}
