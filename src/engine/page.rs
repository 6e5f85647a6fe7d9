//! One page: map, resolve lookups in one query, write in one call, record
//! in one call.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use super::Inner;
use super::ids::{FastState, IdCache, Known};
use super::lease::HeldLease;
use crate::error::{Error, RecordError, Result};
use crate::error::{FieldError, Problem};
use crate::id::{SfId, TenantId};
use crate::jobs::{IdKey, IdMapping, PageRecord};
use crate::jobs::{Job, LogEntry, ObjectProgress};
use crate::mapping::{LookupSpec, Mapped, Mapper, Requirement};
use crate::object::SObject;
use crate::sink::{Deletion, WriteAction, WriteBatch, WriteMode, WriteRecord};
use crate::source::{ApiUsage, Page, PageRequest};

/// What one object's run keeps from page to page.
#[derive(Debug, Default)]
pub(crate) struct ObjectRun {
    /// The watermark earlier runs of this job kept for the object (a
    /// resumed job): this run's cannot be later.
    pub(crate) floor: Option<DateTime<Utc>>,
    /// The greatest `SystemModstamp` this run read: every change before it
    /// was in the query's answer.
    pub(crate) read_max: Option<DateTime<Utc>>,
    /// The smallest `SystemModstamp` of a record that failed: the next sync
    /// reads it again.
    pub(crate) failed_min: Option<DateTime<Utc>>,
    /// Whether pages keep a watermark (not in skip mode, which leaves stale
    /// records behind).
    pub(crate) track_watermark: bool,
    /// A sync read, in `(SystemModstamp, Id)` order.
    pub(crate) sync_read: bool,
    /// The sink answered that it cannot delete (logged once), shared by
    /// the pages in flight.
    pub(crate) deletes_unsupported: Arc<AtomicBool>,
    /// Self-references left for the second pass.
    pub(crate) deferred: u64,
    /// Those references, while there are at most [`MAX_PENDING`].
    pub(crate) pending: Vec<Pending>,
    /// The lookups `pending` names by their place here (an object has one
    /// or two self-references).
    pub(crate) pending_specs: Vec<LookupSpec>,
    /// There were more: the second pass reads the object again.
    pub(crate) overflow: bool,
}

/// How many self-references a job keeps for its second pass (37 bytes
/// each) before it gives them up and reads the object again instead.
pub(crate) const MAX_PENDING: usize = 100_000;

/// A [`Deferred`] as the run keeps it until the second pass: both ids
/// inline and the lookup by its place in [`ObjectRun::pending_specs`]. The
/// list grows with the object (up to [`MAX_PENDING`]), so each entry is 37
/// bytes and no allocation, against about 170 bytes in three allocations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    child: [u8; 18],
    parent: [u8; 18],
    spec: u8,
}

impl Pending {
    /// The reference: child, lookup, parent.
    pub(crate) fn parts<'s>(&self, specs: &'s [LookupSpec]) -> (SfId, &'s LookupSpec, SfId) {
        (
            SfId::from_bytes(self.child),
            &specs[usize::from(self.spec)],
            SfId::from_bytes(self.parent),
        )
    }
}

/// A self-reference whose target was not imported yet when the record that
/// names it was written: set by the second pass.
#[derive(Debug, Clone)]
pub(crate) struct Deferred {
    pub(crate) child: SfId,
    pub(crate) spec: LookupSpec,
    pub(crate) parent: SfId,
}

impl ObjectRun {
    /// Where the next sync of the object may start: no change before it
    /// was missed or failed.
    pub(crate) fn watermark(&self) -> Option<DateTime<Utc>> {
        if !self.track_watermark {
            return None;
        }
        [self.floor, self.read_max, self.failed_min]
            .into_iter()
            .flatten()
            .min()
    }

    /// Takes in what a page read, failed and deferred, in page order.
    fn absorb(&mut self, page: &mut Prepared) {
        self.read_max = self.read_max.max(page.stamps.read_max);
        if let Some(stamp) = page.stamps.failed_min {
            self.failed_min = Some(self.failed_min.map_or(stamp, |m| m.min(stamp)));
        }
        let deferred = std::mem::take(&mut page.deferred);
        self.deferred += deferred.len() as u64;
        if self.overflow {
            return;
        }
        if self.pending.len() + deferred.len() > MAX_PENDING {
            self.overflow = true;
            self.pending = Vec::new();
            return;
        }
        for d in deferred {
            let at = match self.pending_specs.iter().position(|s| *s == d.spec) {
                Some(at) => at,
                None => {
                    self.pending_specs.push(d.spec);
                    self.pending_specs.len() - 1
                }
            };
            let Ok(spec) = u8::try_from(at) else {
                // More self-references than any object has: read again.
                self.overflow = true;
                self.pending = Vec::new();
                return;
            };
            self.pending.push(Pending {
                child: d.child.to_bytes(),
                parent: d.parent.to_bytes(),
                spec,
            });
        }
    }
}

/// The stamps one page read and failed, for the object's watermark.
#[derive(Debug, Default, Clone, Copy)]
struct Stamps {
    read_max: Option<DateTime<Utc>>,
    failed_min: Option<DateTime<Utc>>,
}

impl Stamps {
    fn read(&mut self, stamp: Option<DateTime<Utc>>) {
        self.read_max = self.read_max.max(stamp);
    }

    fn failed(&mut self, stamp: Option<DateTime<Utc>>) {
        if let Some(stamp) = stamp {
            self.failed_min = Some(self.failed_min.map_or(stamp, |m| m.min(stamp)));
        }
    }
}

/// What the pages of one object share while several are in flight.
#[derive(Clone)]
pub(crate) struct PageContext {
    pub(crate) inner: Arc<Inner>,
    pub(crate) held: Arc<HeldLease>,
    pub(crate) ids: Arc<IdCache>,
    pub(crate) job: Arc<Job>,
    pub(crate) mapper: Arc<dyn Mapper>,
    /// A sync read, in `(SystemModstamp, Id)` order.
    pub(crate) sync_read: bool,
    /// The sink answered that it cannot delete.
    pub(crate) deletes_unsupported: Arc<AtomicBool>,
}

/// One page mapped, decided, written and deleted, waiting to be recorded
/// in page order by [`commit`].
pub(crate) struct Prepared {
    rec: PageRecord,
    stamps: Stamps,
    deferred: Vec<Deferred>,
    /// The org's API usage the page's answer carried.
    pub(crate) usage: Option<ApiUsage>,
}

/// The read of one object: the fields its mapper needs (and
/// `SystemModstamp`; `IsDeleted` in a sync), and in a sync the time from
/// which changes are read (the object's watermark less the look-back
/// window; `None` for an object never imported, which is read whole).
pub(crate) async fn read_request(
    inner: &Inner,
    tenant: &TenantId,
    object: &SObject,
    sync: bool,
) -> Result<(PageRequest, Option<DateTime<Utc>>)> {
    let mut fields = inner.mappers.select_fields(object, &inner.tables);
    let since = if sync {
        let watermark = inner
            .backoff
            .run("read watermark", || inner.jobs.watermark(tenant, object))
            .await?;
        watermark.map(|w| w - inner.lookback)
    } else {
        None
    };
    for extra in ["SystemModstamp", "IsDeleted"] {
        let wanted = extra == "SystemModstamp" || since.is_some();
        if wanted && !fields.iter().any(|f| f.eq_ignore_ascii_case(extra)) {
            fields.push(extra.to_owned());
        }
    }
    match since {
        Some(since) => tracing::info!(%since, "reading changes"),
        None => tracing::info!("reading every record"),
    }
    let request = PageRequest::new(object.clone(), fields, inner.page_size).changed_since(since);
    Ok((request, since))
}

/// The keys a page asks the id map about, sorted, each once: its records'
/// own (those it writes and those it deletes) and their lookups' targets;
/// with its own ids apart.
pub(crate) fn page_keys<'a>(
    object: &SObject,
    mapped: impl Iterator<Item = &'a Mapped>,
    gone: impl Iterator<Item = &'a SfId>,
) -> (Vec<IdKey>, HashSet<&'a SfId, FastState>) {
    let mut own: HashSet<&SfId, FastState> = HashSet::default();
    let mut keys: Vec<IdKey> = Vec::new();
    for m in mapped {
        own.insert(&m.sf_id);
        keys.push((object.clone(), m.sf_id.clone()));
        keys.extend(
            m.lookups
                .iter()
                .map(|l| (l.spec.target.clone(), l.sf_id.clone())),
        );
    }
    for id in gone {
        own.insert(id);
        keys.push((object.clone(), id.clone()));
    }
    keys.sort();
    keys.dedup();
    (keys, own)
}

/// What the id map holds of a page's [`page_keys`]: from the cache where it
/// knows, from the store for the rest (whose answers the cache learns).
pub(crate) async fn resolve_page(
    inner: &Inner,
    cache: &IdCache,
    tenant: &TenantId,
    object: &SObject,
    keys: Vec<IdKey>,
    own: &HashSet<&SfId, FastState>,
) -> Result<Known> {
    let split = cache.split(keys, |(o, id)| o == object && own.contains(id));
    let mut known = split.known;
    if !split.missing.is_empty() {
        let found = inner
            .backoff
            .run("resolve ids", || {
                inner.jobs.resolve_ids(tenant, &split.missing)
            })
            .await?;
        cache.learn(split.at, &found);
        known.extend(found);
    }
    Ok(known)
}

/// What the engine decided for one mapped record.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // short-lived, one per record
pub(crate) enum Decision {
    /// Imported before and left alone: unchanged since, or any in skip
    /// mode (`stale` when Salesforce changed it since).
    Skip {
        /// Changed in Salesforce since it was imported (skip mode).
        stale: bool,
    },
    /// A required lookup did not resolve.
    Fail(RecordError),
    /// To be written, with the warnings to log if the write succeeds.
    Write(WriteRecord, Vec<FieldError>),
}

/// Decides one record of `object` against the page's id map: skip it if it
/// was imported before and the mode says so (in [`WriteMode::UpdateChanged`],
/// when its `modstamp` is the one the id map kept), fail it if a required
/// lookup does not resolve, otherwise fill its links and write it.
/// Self-references that do not resolve yet go to `deferred`, for the
/// second pass.
pub(crate) fn decide(
    object: &SObject,
    m: Mapped,
    modstamp: Option<DateTime<Utc>>,
    known: &Known,
    mode: WriteMode,
    deferred: &mut Vec<Deferred>,
) -> Decision {
    let Mapped {
        sf_id,
        mut record,
        lookups,
        mut warnings,
        ..
    } = m;
    let existing = known.get(object, &sf_id);
    if let Some(e) = existing {
        let unchanged = !e.deleted && modstamp.is_some() && e.modstamp == modstamp;
        match mode {
            WriteMode::SkipExisting => {
                let stale = e.deleted || (e.modstamp.is_some() && modstamp.is_some() && !unchanged);
                return Decision::Skip { stale };
            }
            WriteMode::UpdateChanged if unchanged => return Decision::Skip { stale: false },
            _ => {}
        }
    }
    let existing = existing.map(|e| e.crm_id.clone());
    // First pass: fill every slot whose target is known. Several lookups may
    // share a slot (OrderItem's Product2Id and PricebookEntryId); the first
    // that resolves wins.
    for l in &lookups {
        if record.link(&l.spec.link).is_some() {
            continue;
        }
        if let Some(m) = known.get(&l.spec.target, &l.sf_id) {
            record.set_link(&l.spec.link, m.crm_id.clone());
        }
    }
    // Second: what is still empty is deferred, an error, or a warning.
    for l in &lookups {
        if record.link(&l.spec.link).is_some() {
            continue;
        }
        let unresolved = Problem::UnresolvedLookup {
            target: l.spec.target.clone(),
            sf_id: l.sf_id.clone(),
        };
        if &l.spec.target == object {
            if l.sf_id != sf_id {
                deferred.push(Deferred {
                    child: sf_id.clone(),
                    spec: l.spec.clone(),
                    parent: l.sf_id.clone(),
                });
            }
        } else if l.spec.requirement == Requirement::Required {
            return Decision::Fail(RecordError::new(
                object.clone(),
                Some(sf_id),
                l.spec.field.clone(),
                unresolved,
            ));
        } else {
            warnings.push(FieldError::new(l.spec.field.clone(), unresolved));
        }
    }
    Decision::Write(WriteRecord::new(sf_id, record, existing), warnings)
}

/// A sink's answer with one result per record, or its broken contract.
fn check_len<T>(what: &str, object: &SObject, sent: usize, results: &[T]) -> Result<()> {
    if results.len() == sent {
        return Ok(());
    }
    Err(Error::Store {
        store: "crm sink",
        // The sink broke its contract: trying again will not help.
        temporary: false,
        message: format!(
            "returned {} results for {sent} records of {object} ({what})",
            results.len()
        )
        .into(),
        source: None,
    })
}

/// Maps, decides, writes and deletes one page: the part of a page that
/// may run beside the pages around it (their records are distinct; a
/// self-reference to a record of a page not yet recorded is left for the
/// second pass, as one to a later page is). `processed_before`: for the
/// object's first page, the records earlier runs of the job processed (its
/// total counts them).
pub(crate) async fn prepare(
    ctx: PageContext,
    mut page: Page,
    processed_before: Option<u64>,
) -> Result<Prepared> {
    let PageContext {
        inner,
        held,
        ids,
        job,
        mapper,
        sync_read,
        deletes_unsupported,
    } = ctx;
    let (inner, held, job) = (&*inner, &*held, &*job);
    let object = mapper.object();
    let tenant = &job.tenant;
    let last = page.records.last();
    let usage = page.api_usage;
    let mut stamps = Stamps::default();
    let mut rec = PageRecord {
        total: processed_before.and_then(|before| page.total_size.map(|t| before + t)),
        checkpoint: page.records.iter().rev().find_map(|r| r.id().ok()),
        checkpoint_modstamp: if sync_read {
            last.and_then(|r| r.modstamp())
        } else {
            None
        },
        resume_cursor: page
            .next
            .as_ref()
            .filter(|c| c.is_durable())
            .map(|c| c.as_str().to_owned()),
        ..PageRecord::default()
    };
    // Problems of the query itself (a field the org lacks): logged against
    // the object, not a record, and not counted as a record's warning.
    rec.log.extend(
        page.warnings
            .drain(..)
            .map(|w| LogEntry::warning(object.clone(), None, w)),
    );

    // Deleted rows (a sync's queryAll) apart; the others mapped.
    let mut mapped = Vec::with_capacity(page.records.len());
    let mut gone: Vec<(SfId, Option<DateTime<Utc>>)> = Vec::new();
    for record in &page.records {
        let stamp = record.modstamp();
        stamps.read(stamp);
        if record.is_deleted() {
            match record.id() {
                Ok(id) => gone.push((id, stamp)),
                Err(e) => {
                    rec.errors += 1;
                    rec.log.push(LogEntry::error(&RecordError::from_field(
                        object.clone(),
                        None,
                        e,
                    )));
                }
            }
            continue;
        }
        match mapper.map(record, &inner.tables) {
            Ok(m) => mapped.push((m, stamp)),
            Err(e) => {
                stamps.failed(stamp);
                rec.errors += 1;
                rec.log.push(LogEntry::error(&e));
            }
        }
    }
    drop(page);

    let (keys, own) = page_keys(
        &object,
        mapped.iter().map(|(m, _)| m),
        gone.iter().map(|(id, _)| id),
    );
    let known = resolve_page(inner, &ids, tenant, &object, keys, &own).await?;
    drop(own);

    let mut stale = 0;
    let mut deferred = Vec::new();
    let mut records = Vec::with_capacity(mapped.len());
    let mut meta = Vec::with_capacity(mapped.len());
    for (m, stamp) in mapped {
        match decide(&object, m, stamp, &known, job.mode, &mut deferred) {
            Decision::Skip { stale: s } => {
                rec.skipped += 1;
                stale += u64::from(s);
            }
            Decision::Fail(e) => {
                stamps.failed(stamp);
                rec.errors += 1;
                rec.log.push(LogEntry::error(&e));
            }
            Decision::Write(w, warns) => {
                records.push(w);
                meta.push((warns, stamp));
            }
        }
    }
    if stale > 0 {
        rec.log.push(LogEntry::warning(
            object.clone(),
            None,
            FieldError::new("SystemModstamp", Problem::StaleKept { records: stale }),
        ));
    }

    if !records.is_empty() {
        // Unchanged records are already out of the batch: what is left is
        // written over what the CRM has.
        let mode = match job.mode {
            WriteMode::SkipExisting => WriteMode::SkipExisting,
            _ => WriteMode::Update,
        };
        let batch = WriteBatch::new(object.clone(), mode, records);
        let outcomes = inner
            .backoff
            .run("write batch", || async {
                held.check(&job.id, (inner.clock)())?;
                inner.sink.write_batch(tenant, &batch).await
            })
            .await?;
        check_len("write", &object, batch.records.len(), &outcomes)?;
        for ((w, (warns, stamp)), outcome) in batch.records.into_iter().zip(meta).zip(outcomes) {
            match outcome {
                Ok(o) => {
                    // Updated: imported before (in the id map) and written
                    // over. A record the id map does not know is new to the
                    // job store, even if a run that crashed before
                    // recording it had written it.
                    // (A sink that keeps a known record as it was has
                    // skipped it.)
                    match (&w.existing, o.action) {
                        (None, _) => rec.imported += 1,
                        (Some(_), WriteAction::AlreadyPresent) => rec.skipped += 1,
                        (Some(_), _) => rec.updated += 1,
                    }
                    // A record new to the id map is always recorded; one
                    // it knew only when something changed (no lookup, and
                    // no key to build, for the common new record).
                    let mapping = IdMapping::new(o.crm_id, stamp);
                    let unchanged =
                        w.existing.is_some() && known.get(&object, &w.sf_id) == Some(&mapping);
                    if !unchanged {
                        rec.mappings.push((w.sf_id.clone(), mapping));
                    }
                    // The mapper's warnings, then the sink's (values the
                    // CRM changed): one warning count per record.
                    if !warns.is_empty() || !o.warnings.is_empty() {
                        rec.warnings += 1;
                        rec.log.extend(
                            warns.into_iter().chain(o.warnings).map(|f| {
                                LogEntry::warning(object.clone(), Some(w.sf_id.clone()), f)
                            }),
                        );
                    }
                }
                Err(e) => {
                    stamps.failed(stamp);
                    rec.errors += 1;
                    rec.log.push(LogEntry::error(&e));
                }
            }
        }
    }

    delete(
        inner,
        held,
        job,
        &object,
        gone,
        &known,
        &mut rec,
        &mut stamps,
        &deletes_unsupported,
    )
    .await?;
    Ok(Prepared {
        rec,
        stamps,
        deferred,
        usage,
    })
}

/// Records a prepared page (counts, log, id mappings, checkpoint and the
/// object's watermark so far) in one call, in page order, and updates
/// `local` with it and `run` with what the next pages need.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn commit(
    inner: &Inner,
    held: &HeldLease,
    ids: &IdCache,
    job: &Job,
    object: &SObject,
    mut page: Prepared,
    local: &mut ObjectProgress,
    run: &mut ObjectRun,
) -> Result<()> {
    let tenant = &job.tenant;
    run.absorb(&mut page);
    let mut rec = page.rec;
    rec.watermark = run.watermark();
    inner
        .backoff
        .run("record page", || {
            let lease = held.current();
            let rec = &rec;
            async move {
                inner
                    .jobs
                    .record_page(tenant, &job.id, object, rec, Some(&lease))
                    .await
            }
        })
        .await?;
    ids.remember(object, &rec.mappings);
    tracing::debug!(
        imported = rec.imported,
        updated = rec.updated,
        skipped = rec.skipped,
        deleted = rec.deleted,
        errors = rec.errors,
        "page recorded"
    );

    if rec.total.is_some() {
        local.total = rec.total;
    }
    local.imported += rec.imported;
    local.updated += rec.updated;
    local.skipped += rec.skipped;
    local.deleted += rec.deleted;
    local.errors += rec.errors;
    local.warnings += rec.warnings;
    if rec.checkpoint.is_some() {
        local.checkpoint = rec.checkpoint;
        local.checkpoint_modstamp = rec.checkpoint_modstamp;
        local.resume_cursor = rec.resume_cursor.clone();
    }
    if rec.watermark.is_some() {
        local.watermark = rec.watermark;
    }
    Ok(())
}

/// Deletes in the CRM the page's records deleted in Salesforce that were
/// imported (the others are skipped), and marks them deleted in the id map.
#[allow(clippy::too_many_arguments)]
async fn delete(
    inner: &Inner,
    held: &HeldLease,
    job: &Job,
    object: &SObject,
    gone: Vec<(SfId, Option<DateTime<Utc>>)>,
    known: &Known,
    rec: &mut PageRecord,
    page_stamps: &mut Stamps,
    unsupported: &AtomicBool,
) -> Result<()> {
    let now = (inner.clock)();
    let mut deletions = Vec::new();
    let mut stamps = Vec::new();
    for (sf_id, stamp) in gone {
        match known.get(object, &sf_id) {
            Some(m) if !m.deleted && !unsupported.load(Ordering::Relaxed) => {
                deletions.push(Deletion::new(sf_id, m.crm_id.clone(), stamp.unwrap_or(now)));
                stamps.push(stamp);
            }
            // Never imported, already deleted, or kept (no deletions).
            _ => rec.skipped += 1,
        }
    }
    if deletions.is_empty() {
        return Ok(());
    }
    let answer = inner
        .backoff
        .run("delete batch", || async {
            held.check(&job.id, (inner.clock)())?;
            inner
                .sink
                .delete_batch(&job.tenant, object, &deletions)
                .await
        })
        .await;
    let results = match answer {
        Ok(results) => results,
        Err(Error::Unsupported { .. }) => {
            rec.skipped += deletions.len() as u64;
            // Said once per object, by whichever page in flight learnt it
            // first.
            if !unsupported.swap(true, Ordering::Relaxed) {
                tracing::warn!(object = %object, "the crm sink does not support deletions; deleted records are kept");
                rec.log.push(LogEntry::warning(
                    object.clone(),
                    None,
                    FieldError::new("IsDeleted", Problem::DeletionNotSupported),
                ));
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    check_len("delete", object, deletions.len(), &results)?;
    for ((d, stamp), result) in deletions.into_iter().zip(stamps).zip(results) {
        match result {
            Ok(()) => {
                rec.deleted += 1;
                rec.mappings
                    .push((d.sf_id, IdMapping::new(d.crm_id, stamp).deleted()));
            }
            Err(e) => {
                page_stamps.failed(stamp);
                rec.errors += 1;
                rec.log.push(LogEntry::error(&e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::Link;

    fn page_deferring(refs: &[(usize, &LookupSpec, usize)], ids: &[SfId]) -> Prepared {
        Prepared {
            rec: PageRecord::default(),
            stamps: Stamps::default(),
            deferred: refs
                .iter()
                .map(|&(child, spec, parent)| Deferred {
                    child: ids[child].clone(),
                    spec: spec.clone(),
                    parent: ids[parent].clone(),
                })
                .collect(),
            usage: None,
        }
    }

    /// Kept references come back as they went in, each lookup stored once.
    #[test]
    fn pending_references_keep_ids_and_lookups() {
        let ids = crate::testkit::fixture::sf_ids(&SObject::ACCOUNT, 4);
        let parent = LookupSpec::optional("ParentId", SObject::ACCOUNT, Link::ParentAccount);
        let master = LookupSpec::optional("MasterRecordId", SObject::ACCOUNT, Link::ParentAccount);
        let mut run = ObjectRun::default();
        run.absorb(&mut page_deferring(
            &[(0, &parent, 1), (2, &master, 3)],
            &ids,
        ));
        run.absorb(&mut page_deferring(&[(3, &parent, 0)], &ids));
        assert_eq!(run.deferred, 3);
        assert_eq!(run.pending_specs, [parent.clone(), master.clone()]);
        let back: Vec<_> = run
            .pending
            .iter()
            .map(|p| p.parts(&run.pending_specs))
            .collect();
        assert_eq!(
            back,
            [
                (ids[0].clone(), &parent, ids[1].clone()),
                (ids[2].clone(), &master, ids[3].clone()),
                (ids[3].clone(), &parent, ids[0].clone()),
            ]
        );
        assert_eq!(std::mem::size_of::<Pending>(), 37);
    }
}
