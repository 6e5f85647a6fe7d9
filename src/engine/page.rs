//! One page: map, resolve lookups in one query, write in one call, record
//! in one call.

use std::collections::HashMap;

use super::Inner;
use super::lease::HeldLease;
use crate::error::{Error, RecordError, Result};
use crate::error::{FieldError, Problem};
use crate::id::CrmId;
use crate::jobs::{IdKey, PageRecord};
use crate::jobs::{Job, LogEntry, ObjectProgress};
use crate::mapping::{Mapped, Mapper, Requirement};
use crate::object::SObject;
use crate::sink::{WriteBatch, WriteMode, WriteRecord};
use crate::source::Page;

/// What the engine decided for one mapped record.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // short-lived, one per record
pub(crate) enum Decision {
    /// Imported before; left alone (skip mode).
    Skip,
    /// A required lookup did not resolve.
    Fail(RecordError),
    /// To be written, with the warnings to log if the write succeeds.
    Write(WriteRecord, Vec<FieldError>),
}

/// Decides one record of `object` against the page's id map: skip it if it
/// was imported before (in skip mode), fail it if a required lookup does not
/// resolve, otherwise fill its links and write it. Self-references that do
/// not resolve yet are counted in `deferred` for the second pass.
pub(crate) fn decide(
    object: &SObject,
    m: Mapped,
    known: &HashMap<IdKey, CrmId>,
    mode: WriteMode,
    deferred: &mut u64,
) -> Decision {
    let Mapped {
        sf_id,
        mut record,
        lookups,
        mut warnings,
        ..
    } = m;
    let existing = known.get(&(object.clone(), sf_id.clone())).cloned();
    if existing.is_some() && mode == WriteMode::SkipExisting {
        return Decision::Skip;
    }
    // First pass: fill every slot whose target is known. Several lookups may
    // share a slot (OrderItem's Product2Id and PricebookEntryId); the first
    // that resolves wins.
    for l in &lookups {
        if record.link(&l.spec.link).is_some() {
            continue;
        }
        if let Some(id) = known.get(&(l.spec.target.clone(), l.sf_id.clone())) {
            record.set_link(&l.spec.link, id.clone());
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
                *deferred += 1;
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

/// Maps, decides, writes and records one page; updates `local` with the
/// page's counts. Returns how many self-references were deferred.
pub(crate) async fn process(
    inner: &Inner,
    held: &HeldLease,
    job: &Job,
    mapper: &dyn Mapper,
    mut page: Page,
    first: bool,
    local: &mut ObjectProgress,
) -> Result<u64> {
    let object = mapper.object();
    let tenant = &job.tenant;
    let mut rec = PageRecord {
        total: if first {
            page.total_size.map(|t| local.processed() + t)
        } else {
            None
        },
        checkpoint: page.records.iter().rev().find_map(|r| r.id().ok()),
        ..PageRecord::default()
    };
    // Problems of the query itself (a field the org lacks): logged against
    // the object, not a record, and not counted as a record's warning.
    rec.log.extend(
        page.warnings
            .drain(..)
            .map(|w| LogEntry::warning(object.clone(), None, w)),
    );

    let mut mapped = Vec::with_capacity(page.records.len());
    for record in &page.records {
        match mapper.map(record, &inner.tables) {
            Ok(m) => mapped.push(m),
            Err(e) => {
                rec.errors += 1;
                rec.log.push(LogEntry::error(&e));
            }
        }
    }
    drop(page);

    // One id-map query for the whole page: the records themselves (were
    // they imported before?) and everything they refer to.
    let mut keys: Vec<IdKey> = mapped
        .iter()
        .flat_map(|m| {
            std::iter::once((object.clone(), m.sf_id.clone())).chain(
                m.lookups
                    .iter()
                    .map(|l| (l.spec.target.clone(), l.sf_id.clone())),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    let known = if keys.is_empty() {
        HashMap::new()
    } else {
        inner
            .backoff
            .run("resolve ids", || inner.jobs.resolve_ids(tenant, &keys))
            .await?
    };

    let mut deferred = 0;
    let mut records = Vec::with_capacity(mapped.len());
    let mut warnings = Vec::with_capacity(mapped.len());
    for m in mapped {
        match decide(&object, m, &known, job.mode, &mut deferred) {
            Decision::Skip => rec.skipped += 1,
            Decision::Fail(e) => {
                rec.errors += 1;
                rec.log.push(LogEntry::error(&e));
            }
            Decision::Write(w, warns) => {
                records.push(w);
                warnings.push(warns);
            }
        }
    }

    if !records.is_empty() {
        let batch = WriteBatch::new(object.clone(), job.mode, records);
        let outcomes = inner
            .backoff
            .run("write batch", || async {
                held.check(&job.id, (inner.clock)())?;
                inner.sink.write_batch(tenant, &batch).await
            })
            .await?;
        if outcomes.len() != batch.records.len() {
            return Err(Error::Store {
                store: "crm sink",
                // The sink broke its contract: trying again will not help.
                temporary: false,
                message: format!(
                    "returned {} results for {} records of {object}",
                    outcomes.len(),
                    batch.records.len()
                )
                .into(),
                source: None,
            });
        }
        for ((w, warns), outcome) in batch.records.into_iter().zip(warnings).zip(outcomes) {
            match outcome {
                Ok(o) => {
                    rec.imported += 1;
                    if w.existing.as_ref() != Some(&o.crm_id) {
                        rec.mappings.push((w.sf_id.clone(), o.crm_id));
                    }
                    if !warns.is_empty() {
                        rec.warnings += 1;
                        rec.log.extend(
                            warns.into_iter().map(|f| {
                                LogEntry::warning(object.clone(), Some(w.sf_id.clone()), f)
                            }),
                        );
                    }
                }
                Err(e) => {
                    rec.errors += 1;
                    rec.log.push(LogEntry::error(&e));
                }
            }
        }
    }

    inner
        .backoff
        .run("record page", || {
            let lease = held.current();
            let (object, rec) = (&object, &rec);
            async move {
                inner
                    .jobs
                    .record_page(tenant, &job.id, object, rec, Some(&lease))
                    .await
            }
        })
        .await?;
    tracing::debug!(
        imported = rec.imported,
        skipped = rec.skipped,
        errors = rec.errors,
        "page recorded"
    );

    if rec.total.is_some() {
        local.total = rec.total;
    }
    local.imported += rec.imported;
    local.skipped += rec.skipped;
    local.errors += rec.errors;
    local.warnings += rec.warnings;
    if rec.checkpoint.is_some() {
        local.checkpoint = rec.checkpoint;
    }
    Ok(deferred)
}
