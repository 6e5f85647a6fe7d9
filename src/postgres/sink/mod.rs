//! [`PgCrmSink`]: the reference CRM schema, written a page at a time.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use async_trait::async_trait;
use sqlx::postgres::PgDatabaseError;
use sqlx::types::Uuid;
use sqlx::{PgConnection, PgPool, Row as _};

use super::error::{db, store_error};
use super::{Rls, begin};
use crate::crm::{CrmRecord, Link};
use crate::error::{FieldError, Problem, RecordError, Result};
use crate::id::{CrmId, SfId, TenantId};
use crate::object::SObject;
use crate::sink::{CrmSink, Deletion, Relink, WriteAction, WriteBatch, WriteMode, WriteOutcome};

mod tables;
use tables::Kind;

const STORE: &str = "crm sink";

/// A [`CrmSink`] writing the reference CRM schema (`crm_*` tables, created
/// by [`migrate_crm`](super::migrate_crm)), modelled on BottleCRM: accounts,
/// contacts, opportunities, products (with their price book entries),
/// orders and order lines, quotes and quote lines. Each row carries the
/// tenant and the Salesforce id, unique per tenant: the idempotency key.
/// CRM ids are UUIDs.
///
/// # Batched, all or nothing
///
/// A page is one transaction with one `INSERT ... SELECT FROM UNNEST(...)
/// ON CONFLICT (tenant_id, sf_id)` per table (price book entries add one
/// `UPDATE` of their products in the same statement). Any failure that is
/// not about one record (connection lost, statement cancelled, a trigger
/// raising) rolls the whole page back and returns `Err`: the page is either
/// entirely in the CRM or not at all.
///
/// # A crash between the sink and the job store
///
/// The engine writes a page here, then records it with
/// [`PgJobStore::record_page`](super::PgJobStore) (counts, error log, id
/// mappings and checkpoint in one transaction). Those are two transactions,
/// and that is what keeps the ports independent (a host may pair this sink
/// with another job store, or its own sink with [`PgJobStore`](super::PgJobStore)).
/// A crash between them leaves the CRM rows without their id mappings and
/// the checkpoint before the page; the resumed job reads that page again,
/// and the write finds every row by (tenant, Salesforce id) and answers
/// with the same ids ([`WriteAction::AlreadyPresent`]), creating nothing.
/// So each page takes effect exactly once.
///
/// # Rejected records
///
/// A record the schema rejects (a check constraint, a missing required
/// reference, a reference to another tenant's record) does not fail the
/// page: the page is written again, its statement retried on halves of it
/// inside savepoints until the bad records are isolated (a page with no
/// rejected record takes no savepoint). They come back as [`RecordError`]s
/// naming the Salesforce id and field, with [`Problem::Rejected`] and the
/// database error as source; the rest of the page is written.
///
/// # BottleCRM's rules, and Salesforce data that breaks them
///
/// - Account names are unique per tenant, ignoring case; Salesforce allows
///   duplicates. An account whose name is taken (by another Salesforce
///   record, or earlier in the same page) is stored as `Name (<15-character
///   Salesforce id>)`, so every account is imported and the name stays
///   traceable. Re-imports give the same name again. Each rename is a
///   warning on the record's `Name` ([`Problem::Renamed`], carried in
///   [`WriteOutcome::warnings`]), so the job log says what was stored.
/// - Countries are ISO 3166-1 alpha-2 codes, currencies ISO 4217 codes,
///   phone numbers at most 20 characters: the mappers normalise or cut
///   values to fit (with warnings); a value that still breaks a rule is a
///   record error for that record only.
/// - Orders need their account, order and quote lines their order or
///   quote, price book entries their product.
///
/// Records of a host's own objects ([`CrmRecord::Custom`]) have no table
/// here and are record errors.
///
/// # Deletions
///
/// Records deleted in Salesforce are soft-deleted: their row stays, with
/// `deleted_at` set to when Salesforce deleted them; a later write of the
/// record (restored from Salesforce's recycle bin) clears it. Deleting a
/// price book entry takes the price off its product.
#[derive(Debug, Clone)]
pub struct PgCrmSink {
    pool: PgPool,
    rls: Rls,
}

/// One record to write: its place in the batch, key and body.
#[derive(Clone, Copy)]
struct Rec<'a> {
    index: usize,
    sf_id: &'a SfId,
    record: &'a CrmRecord,
}

type Outcome = Result<WriteOutcome, RecordError>;

impl PgCrmSink {
    /// A sink over the host's pool.
    pub fn new(pool: PgPool) -> PgCrmSink {
        PgCrmSink {
            pool,
            rls: Rls::Off,
        }
    }

    /// Sets `app.current_org` in every transaction, for hosts that turned on
    /// [row-level security](super::enable_row_level_security).
    pub fn with_row_level_security(mut self) -> PgCrmSink {
        self.rls = Rls::On;
        self
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How many records of `object` the tenant has (price book entries:
    /// how many were written). `None` for an object with no table here.
    pub async fn count(&self, tenant: &TenantId, object: &SObject) -> Result<Option<u64>> {
        let Some(kind) = Kind::of_object(object) else {
            return Ok(None);
        };
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {} WHERE tenant_id = $1",
            kind.table()
        )))
        .bind(tenant.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db(STORE, "counting records"))?;
        tx.commit().await.map_err(db(STORE, "counting records"))?;
        Ok(Some(u64::try_from(n).unwrap_or(0)))
    }
}

impl Kind {
    fn of_object(object: &SObject) -> Option<Kind> {
        Some(match object.as_str() {
            "Account" => Kind::Account,
            "Contact" => Kind::Contact,
            "Opportunity" => Kind::Opportunity,
            "Product2" => Kind::Product,
            "PricebookEntry" => Kind::ProductPrice,
            "Order" => Kind::Order,
            "OrderItem" => Kind::OrderLine,
            "Quote" => Kind::Quote,
            "QuoteLineItem" => Kind::QuoteLine,
            _ => return None,
        })
    }
}

fn rejected(
    object: &SObject,
    sf_id: &SfId,
    field: &str,
    reason: impl Into<Box<str>>,
) -> RecordError {
    RecordError::new(
        object.clone(),
        Some(sf_id.clone()),
        field.to_owned(),
        Problem::Rejected {
            reason: reason.into(),
        },
    )
}

/// Data errors (class 22) and integrity violations (class 23) are about
/// the rows; everything else is about the call.
fn row_error(e: &sqlx::Error) -> Option<&PgDatabaseError> {
    let sqlx::Error::Database(d) = e else {
        return None;
    };
    let pg = d.try_downcast_ref::<PgDatabaseError>()?;
    matches!(&pg.code()[..2], "22" | "23").then_some(pg)
}

/// The column a database error names: `<table>__<column>__<rule>`
/// constraints, or the column of a NOT NULL violation.
fn column_of(pg: &PgDatabaseError) -> Option<&str> {
    pg.column()
        .or_else(|| pg.constraint().and_then(|c| c.split("__").nth(1)))
}

/// Rejects records whose references are not UUIDs (no row of this schema
/// has such an id) before any statement runs.
fn check_links(kind: Kind, object: &SObject, row: &Rec<'_>) -> Result<(), RecordError> {
    for (link, field) in kind.links() {
        if let Some(id) = row.record.link(link)
            && Uuid::parse_str(id.as_str()).is_err()
        {
            return Err(rejected(
                object,
                row.sf_id,
                field,
                "refers to a record that does not exist",
            ));
        }
    }
    Ok(())
}

/// Runs the statement for `rows` (distinct Salesforce ids, one kind) and
/// returns the outcome per row, in order (with a warning on `Name` for an
/// account stored under another name).
async fn exec(
    conn: &mut PgConnection,
    tenant: &TenantId,
    kind: Kind,
    mode: WriteMode,
    rows: &[Rec<'_>],
) -> sqlx::Result<Vec<WriteOutcome>> {
    let sf_ids: Vec<&str> = rows.iter().map(|r| r.sf_id.as_str()).collect();
    let records: Vec<&CrmRecord> = rows.iter().map(|r| r.record).collect();
    let sql = kind.insert_sql(mode);
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(&sf_ids);
    let written = tables::bind(kind, q, &records)
        .fetch_all(&mut *conn)
        .await?;
    let given: HashMap<&str, &str> = rows
        .iter()
        .filter_map(|r| match r.record {
            CrmRecord::Account(a) => Some((r.sf_id.as_str(), a.name.as_str())),
            _ => None,
        })
        .collect();
    let mut found: HashMap<String, WriteOutcome> = HashMap::with_capacity(rows.len());
    for r in written {
        let action = match (r.try_get::<bool, _>(2)?, mode) {
            (true, _) => WriteAction::Created,
            (false, WriteMode::Update) => WriteAction::Updated,
            (false, _) => WriteAction::AlreadyPresent,
        };
        let sf_id: String = r.try_get(0)?;
        let mut outcome = WriteOutcome::new(CrmId::new(r.try_get::<String, _>(1)?), action);
        if kind == Kind::Account {
            let stored: Option<String> = r.try_get(3)?;
            if let (Some(stored), Some(name)) = (stored, given.get(sf_id.as_str()))
                && stored != *name
            {
                outcome =
                    outcome.with_warning(FieldError::new("Name", Problem::renamed(name, &stored)));
            }
        }
        found.insert(sf_id, outcome);
    }
    if found.len() < rows.len() {
        // Rows already present (SkipExisting): their ids, in one query.
        let missing: Vec<&str> = sf_ids
            .iter()
            .copied()
            .filter(|id| !found.contains_key(*id))
            .collect();
        let present = sqlx::query(sqlx::AssertSqlSafe(kind.existing_sql()))
            .bind(tenant.as_str())
            .bind(&missing)
            .fetch_all(&mut *conn)
            .await?;
        for r in present {
            found.insert(
                r.try_get(0)?,
                WriteOutcome::new(
                    CrmId::new(r.try_get::<String, _>(1)?),
                    WriteAction::AlreadyPresent,
                ),
            );
        }
    }
    rows.iter()
        .map(|r| {
            found
                .remove(r.sf_id.as_str())
                .ok_or_else(|| sqlx::Error::Protocol(format!("no row came back for {}", r.sf_id)))
        })
        .collect()
}

/// Writes each group with one statement and no savepoint (each would
/// cost two more round trips and a subtransaction): the outcomes per
/// group, or `None` when the database rejected a row, which aborted the
/// transaction.
async fn write_plain(
    conn: &mut PgConnection,
    tenant: &TenantId,
    object: &SObject,
    mode: WriteMode,
    groups: &BTreeMap<Kind, Vec<Rec<'_>>>,
) -> Result<Option<Vec<Vec<Outcome>>>> {
    let mut written = Vec::with_capacity(groups.len());
    for (kind, rows) in groups {
        match exec(conn, tenant, *kind, mode, rows).await {
            Ok(outcomes) => written.push(outcomes.into_iter().map(Ok).collect()),
            Err(e) if row_error(&e).is_some() => return Ok(None),
            Err(e) => return Err(store_error(STORE, format!("writing {object} records"), e)),
        }
    }
    Ok(Some(written))
}

/// Writes `rows` in as few statements as possible: the whole group, or,
/// when a record is rejected, halves of it in savepoints until every
/// rejected record stands alone.
async fn write_group(
    conn: &mut PgConnection,
    tenant: &TenantId,
    object: &SObject,
    kind: Kind,
    mode: WriteMode,
    rows: &[Rec<'_>],
) -> Result<Vec<Outcome>> {
    let mut out: Vec<Option<Outcome>> = (0..rows.len()).map(|_| None).collect();
    // A stack of ranges still to write (not one Vec of indices).
    let mut todo: Vec<Range<usize>> = Vec::with_capacity(8);
    todo.push(0..rows.len());
    let sp = |sql: &'static str| sqlx::raw_sql(sql);
    while let Some(range) = todo.pop() {
        sp("SAVEPOINT sf_import_rows")
            .execute(&mut *conn)
            .await
            .map_err(db(STORE, "writing a page"))?;
        match exec(conn, tenant, kind, mode, &rows[range.clone()]).await {
            Ok(done) => {
                sp("RELEASE SAVEPOINT sf_import_rows")
                    .execute(&mut *conn)
                    .await
                    .map_err(db(STORE, "writing a page"))?;
                for (slot, outcome) in out[range].iter_mut().zip(done) {
                    *slot = Some(Ok(outcome));
                }
            }
            Err(e) if row_error(&e).is_some() => {
                sp("ROLLBACK TO SAVEPOINT sf_import_rows")
                    .execute(&mut *conn)
                    .await
                    .map_err(db(STORE, "writing a page"))?;
                if range.len() == 1 {
                    let pg = row_error(&e).expect("checked above");
                    let field = column_of(pg).map_or("Id", |c| kind.field(c));
                    let row = rows[range.start];
                    let err = rejected(object, row.sf_id, field, pg.message()).with_source(e);
                    out[range.start] = Some(Err(err));
                } else {
                    let mid = range.start + range.len() / 2;
                    todo.push(mid..range.end);
                    todo.push(range.start..mid);
                }
            }
            Err(e) => return Err(store_error(STORE, format!("writing {object} records"), e)),
        }
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every range ends written or rejected"))
        .collect())
}

#[async_trait]
impl CrmSink for PgCrmSink {
    async fn write_batch(&self, tenant: &TenantId, batch: &WriteBatch) -> Result<Vec<Outcome>> {
        let object = &batch.object;
        let mut out: Vec<Option<Outcome>> = (0..batch.records.len()).map(|_| None).collect();
        // Group by table; the first of several records with one Salesforce
        // id is written, the others answer with its id.
        let mut groups: BTreeMap<Kind, Vec<Rec<'_>>> = BTreeMap::new();
        let mut first: HashMap<(Kind, &SfId), usize> = HashMap::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        for (index, w) in batch.records.iter().enumerate() {
            let row = Rec {
                index,
                sf_id: &w.sf_id,
                record: &w.record,
            };
            let Some(kind) = Kind::of(&w.record) else {
                out[index] = Some(Err(rejected(
                    object,
                    &w.sf_id,
                    "Id",
                    "the reference CRM schema has no table for this object",
                )));
                continue;
            };
            if let Err(e) = check_links(kind, object, &row) {
                out[index] = Some(Err(e));
                continue;
            }
            if let Some(&earlier) = first.get(&(kind, &w.sf_id)) {
                repeats.push((index, earlier));
                continue;
            }
            first.insert((kind, &w.sf_id), index);
            groups.entry(kind).or_default().push(row);
        }

        if !groups.is_empty() {
            // Most pages have no rejected record: one statement a table,
            // without savepoints. A rejected record aborts that transaction;
            // the page is then written again, isolating it in savepoints.
            let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
            let written = match write_plain(&mut tx, tenant, object, batch.mode, &groups).await? {
                Some(written) => written,
                None => {
                    tx.rollback()
                        .await
                        .map_err(db(STORE, "rolling back a page"))?;
                    tx = begin(&self.pool, tenant, self.rls, STORE).await?;
                    let mut written = Vec::with_capacity(groups.len());
                    for (kind, rows) in &groups {
                        written.push(
                            write_group(&mut tx, tenant, object, *kind, batch.mode, rows).await?,
                        );
                    }
                    written
                }
            };
            tx.commit().await.map_err(db(STORE, "committing a page"))?;
            for ((_, rows), outcomes) in groups.iter().zip(written) {
                for (row, outcome) in rows.iter().zip(outcomes) {
                    out[row.index] = Some(outcome);
                }
            }
        }

        for (index, earlier) in repeats {
            out[index] = Some(match &out[earlier] {
                Some(Ok(o)) => Ok(WriteOutcome::new(
                    o.crm_id.clone(),
                    WriteAction::AlreadyPresent,
                )),
                Some(Err(e)) => Err(RecordError::new(
                    e.object.clone(),
                    e.sf_id.clone(),
                    e.field.to_string(),
                    e.problem.clone(),
                )),
                None => unreachable!("earlier records are decided first"),
            });
        }
        Ok(out
            .into_iter()
            .map(|o| o.expect("every record has an outcome"))
            .collect())
    }

    async fn delete_batch(
        &self,
        tenant: &TenantId,
        object: &SObject,
        records: &[Deletion],
    ) -> Result<Vec<Result<(), RecordError>>> {
        let Some(kind) = Kind::of_object(object) else {
            return Ok(records
                .iter()
                .map(|d| {
                    Err(rejected(
                        object,
                        &d.sf_id,
                        "Id",
                        "the reference CRM schema has no table for this object",
                    ))
                })
                .collect());
        };
        let sf_ids: Vec<&str> = records.iter().map(|d| d.sf_id.as_str()).collect();
        let at: Vec<chrono::DateTime<chrono::Utc>> = records.iter().map(|d| d.deleted_at).collect();
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        let found: std::collections::HashSet<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(kind.delete_sql()))
                .bind(tenant.as_str())
                .bind(&sf_ids)
                .bind(&at)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| store_error(STORE, format!("deleting {object} records"), e))?
                .into_iter()
                .collect();
        tx.commit()
            .await
            .map_err(db(STORE, "committing deletions"))?;
        Ok(records
            .iter()
            .map(|d| {
                if found.contains(d.sf_id.as_str()) {
                    Ok(())
                } else {
                    Err(rejected(object, &d.sf_id, "Id", "no such record"))
                }
            })
            .collect())
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> Result<Vec<Result<(), RecordError>>> {
        let mut out: Vec<Option<Result<(), RecordError>>> =
            (0..links.len()).map(|_| None).collect();
        let mut todo: Vec<(usize, Uuid, Uuid)> = Vec::new();
        for (i, l) in links.iter().enumerate() {
            if l.link != Link::ParentAccount || Kind::of_object(object) != Some(Kind::Account) {
                out[i] = Some(Err(rejected(
                    object,
                    &l.sf_id,
                    "Id",
                    "the record has no such reference",
                )));
                continue;
            }
            match (
                Uuid::parse_str(l.crm_id.as_str()),
                Uuid::parse_str(l.target.as_str()),
            ) {
                (Ok(id), Ok(target)) => todo.push((i, id, target)),
                (Err(_), _) => {
                    out[i] = Some(Err(rejected(object, &l.sf_id, "Id", "no such record")))
                }
                (_, Err(_)) => {
                    out[i] = Some(Err(rejected(
                        object,
                        &l.sf_id,
                        "ParentId",
                        "refers to a record that does not exist",
                    )))
                }
            }
        }
        if !todo.is_empty() {
            let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
            let mut ranges: Vec<Range<usize>> = Vec::with_capacity(8);
            ranges.push(0..todo.len());
            while let Some(range) = ranges.pop() {
                let part = &todo[range.clone()];
                sqlx::raw_sql("SAVEPOINT sf_import_links")
                    .execute(&mut *tx)
                    .await
                    .map_err(db(STORE, "relinking"))?;
                let ids: Vec<Uuid> = part.iter().map(|p| p.1).collect();
                let targets: Vec<Uuid> = part.iter().map(|p| p.2).collect();
                let res: sqlx::Result<std::collections::HashSet<Uuid>> = sqlx::query_scalar(
                    "UPDATE crm_accounts a SET parent_id = v.target, updated_at = now()
                     FROM UNNEST($2::uuid[], $3::uuid[]) AS v(id, target)
                     WHERE a.tenant_id = $1 AND a.id = v.id RETURNING a.id",
                )
                .bind(tenant.as_str())
                .bind(&ids)
                .bind(&targets)
                .fetch_all(&mut *tx)
                .await
                .map(|ids| ids.into_iter().collect());
                match res {
                    Ok(updated) => {
                        sqlx::raw_sql("RELEASE SAVEPOINT sf_import_links")
                            .execute(&mut *tx)
                            .await
                            .map_err(db(STORE, "relinking"))?;
                        for &(i, id, _) in part {
                            let l = &links[i];
                            out[i] = Some(if updated.contains(&id) {
                                Ok(())
                            } else {
                                Err(rejected(object, &l.sf_id, "Id", "no such record"))
                            });
                        }
                    }
                    Err(e) if row_error(&e).is_some() => {
                        sqlx::raw_sql("ROLLBACK TO SAVEPOINT sf_import_links")
                            .execute(&mut *tx)
                            .await
                            .map_err(db(STORE, "relinking"))?;
                        if range.len() == 1 {
                            let (i, _, _) = part[0];
                            let reason = row_error(&e).expect("checked above").message().to_owned();
                            out[i] =
                                Some(Err(rejected(object, &links[i].sf_id, "ParentId", reason)
                                    .with_source(e)));
                        } else {
                            let mid = range.start + range.len() / 2;
                            ranges.push(mid..range.end);
                            ranges.push(range.start..mid);
                        }
                    }
                    Err(e) => return Err(store_error(STORE, "relinking", e)),
                }
            }
            tx.commit().await.map_err(db(STORE, "relinking"))?;
        }
        Ok(out
            .into_iter()
            .map(|o| o.expect("every link has an outcome"))
            .collect())
    }
}
