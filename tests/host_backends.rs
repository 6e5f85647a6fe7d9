//! A host's own backends, written against the public API only (as a CRM
//! embedding this crate would), passing the conformance suite and importing
//! the sample org. This keeps the traits implementable from outside the
//! crate: every type a backend must build has a constructor.

mod support;

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use salesforce_import::crm::CrmRecord;
use salesforce_import::jobs::{IdKey, IdMapping, Lease, NewJob, PageRecord};
use salesforce_import::sink::{Relink, WriteAction, WriteBatch, WriteMode, WriteOutcome};
use salesforce_import::{
    CrmId, CrmSink, Error, Job, JobId, JobStatus, JobStore, LogEntry, ObjectState, Problem,
    RecordError, Result, SObject, SfId, TenantId,
};

/// A job store over one mutex: a stand-in for a host's tables.
#[derive(Debug, Default)]
pub struct HostJobs {
    jobs: Mutex<Vec<(Job, Vec<LogEntry>)>>,
    ids: Mutex<HashMap<(TenantId, IdKey), IdMapping>>,
    /// The last fencing token given per job (kept after a release).
    tokens: Mutex<HashMap<JobId, u64>>,
}

/// A write fenced by `lease` goes through only while it is the job's lease.
fn fence(j: &Job, lease: Option<&Lease>) -> Result<()> {
    match lease {
        Some(l)
            if j.lease
                .as_ref()
                .is_none_or(|held| held.token != l.token || held.owner != l.owner) =>
        {
            Err(Error::LeaseLost { job: j.id.clone() })
        }
        _ => Ok(()),
    }
}

fn not_found(tenant: &TenantId, job: &JobId) -> Error {
    Error::JobNotFound {
        tenant: tenant.clone(),
        job: job.clone(),
    }
}

impl HostJobs {
    fn with_job<T>(
        &self,
        tenant: &TenantId,
        job: &JobId,
        f: impl FnOnce(&mut Job, &mut Vec<LogEntry>) -> Result<T>,
    ) -> Result<T> {
        let mut jobs = self.jobs.lock().unwrap();
        let (j, log) = jobs
            .iter_mut()
            .find(|(j, _)| &j.tenant == tenant && &j.id == job)
            .ok_or_else(|| not_found(tenant, job))?;
        f(j, log)
    }
}

#[async_trait]
impl JobStore for HostJobs {
    async fn create_job(&self, new: &NewJob) -> Result<Job> {
        let mut jobs = self.jobs.lock().unwrap();
        if let Some((running, _)) = jobs
            .iter()
            .find(|(j, _)| j.tenant == new.tenant && j.status.is_running())
        {
            return Err(Error::ImportAlreadyRunning {
                tenant: new.tenant.clone(),
                job: running.id.clone(),
            });
        }
        let mut job = Job::new(JobId::new(format!("host-{}", jobs.len() + 1)), new);
        if let Some(lease) = &new.lease {
            job.lease = Some(Lease::new(lease.owner.clone(), 1, lease.expires_at));
            self.tokens.lock().unwrap().insert(job.id.clone(), 1);
        }
        jobs.push((job.clone(), Vec::new()));
        Ok(job)
    }

    async fn job(&self, tenant: &TenantId, job: &JobId) -> Result<Job> {
        self.with_job(tenant, job, |j, _| Ok(j.clone()))
    }

    async fn history(&self, tenant: &TenantId, limit: usize) -> Result<Vec<Job>> {
        let jobs = self.jobs.lock().unwrap();
        let mut mine: Vec<Job> = jobs
            .iter()
            .rev()
            .filter(|(j, _)| &j.tenant == tenant)
            .map(|(j, _)| j.clone())
            .collect();
        mine.sort_by_key(|j| std::cmp::Reverse(j.created_at));
        mine.truncate(limit);
        Ok(mine)
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
        self.with_job(tenant, job, |j, _| {
            fence(j, lease)?;
            if lease.is_some() && j.status.is_final() && j.status != status {
                return Err(Error::LeaseLost { job: j.id.clone() });
            }
            j.status = status;
            if lease.is_some() && !status.is_running() {
                j.lease = None;
            }
            if status == JobStatus::InProgress && j.started_at.is_none() {
                j.started_at = Some(at);
            }
            j.completed_at = (!status.is_running()).then_some(at);
            j.message = message;
            Ok(())
        })
    }

    async fn set_object_state(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        state: ObjectState,
        lease: Option<&Lease>,
    ) -> Result<()> {
        self.with_job(tenant, job, |j, _| {
            fence(j, lease)?;
            let p = j.objects.iter_mut().find(|p| &p.object == object);
            p.map(|p| p.state = state)
                .ok_or_else(|| Error::config("no such object in the job"))
        })
    }

    async fn record_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        page: &PageRecord,
        lease: Option<&Lease>,
    ) -> Result<()> {
        self.with_job(tenant, job, |j, log| {
            fence(j, lease)?;
            let p = j
                .objects
                .iter_mut()
                .find(|p| &p.object == object)
                .ok_or_else(|| Error::config("no such object in the job"))?;
            if page.total.is_some() {
                p.total = page.total;
            }
            p.imported += page.imported;
            p.updated += page.updated;
            p.skipped += page.skipped;
            p.deleted += page.deleted;
            p.errors += page.errors;
            p.warnings += page.warnings;
            if page.checkpoint.is_some() {
                p.checkpoint = page.checkpoint.clone();
                p.checkpoint_modstamp = page.checkpoint_modstamp;
                p.resume_cursor = page.resume_cursor.clone();
            }
            if page.watermark.is_some() {
                p.watermark = page.watermark;
            }
            // Round-trip the log through the constructor a database store would use.
            log.extend(page.log.iter().map(|e| {
                LogEntry::new(
                    e.severity,
                    e.object.clone(),
                    e.sf_id.clone(),
                    e.field.clone(),
                    e.problem.clone(),
                )
            }));
            Ok(())
        })?;
        let mut ids = self.ids.lock().unwrap();
        for (sf_id, mapping) in &page.mappings {
            ids.insert(
                (tenant.clone(), (object.clone(), sf_id.clone())),
                mapping.clone(),
            );
        }
        Ok(())
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        self.with_job(tenant, job, |j, _| {
            if j.status.is_final() {
                return Err(Error::JobNotResumable {
                    job: j.id.clone(),
                    status: j.status,
                    action: "taken over",
                });
            }
            if j.lease.as_ref().is_some_and(|l| !l.is_expired(now)) {
                return Ok(None);
            }
            let mut tokens = self.tokens.lock().unwrap();
            let token = tokens.entry(j.id.clone()).or_insert(0);
            *token += 1;
            let lease = Lease::new(owner, *token, until);
            j.lease = Some(lease.clone());
            Ok(Some(lease))
        })
    }

    async fn renew_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        lease: &Lease,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        self.with_job(tenant, job, |j, _| {
            fence(j, Some(lease))?;
            let renewed = Lease::new(lease.owner.clone(), lease.token, until);
            j.lease = Some(renewed.clone());
            Ok(renewed)
        })
    }

    async fn stranded_jobs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        let jobs = self.jobs.lock().unwrap();
        Ok(jobs
            .iter()
            .filter(|(j, _)| j.is_stranded(now))
            .map(|(j, _)| j.clone())
            .take(limit)
            .collect())
    }

    async fn error_log(
        &self,
        tenant: &TenantId,
        job: &JobId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        self.with_job(tenant, job, |_, log| {
            Ok(log.iter().skip(offset).take(limit).cloned().collect())
        })
    }

    async fn resolve_ids(
        &self,
        tenant: &TenantId,
        keys: &[IdKey],
    ) -> Result<HashMap<IdKey, IdMapping>> {
        let ids = self.ids.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| {
                ids.get(&(tenant.clone(), k.clone()))
                    .map(|id| (k.clone(), id.clone()))
            })
            .collect())
    }

    async fn watermark(
        &self,
        tenant: &TenantId,
        object: &SObject,
    ) -> Result<Option<DateTime<Utc>>> {
        let jobs = self.jobs.lock().unwrap();
        Ok(jobs
            .iter()
            .filter(|(j, _)| &j.tenant == tenant)
            .filter_map(|(j, _)| j.object(object))
            .filter(|p| p.state == ObjectState::Done)
            .filter_map(|p| p.watermark)
            .max())
    }
}

/// (tenant, object, Salesforce id) -> (CRM id, record): the host's tables.
type Rows = HashMap<(TenantId, SObject, SfId), (CrmId, CrmRecord)>;

/// A CRM over one mutex: records keyed by (tenant, object, Salesforce id).
#[derive(Debug, Default)]
pub struct HostCrm {
    rows: Mutex<Rows>,
    next: Mutex<u64>,
}

impl HostCrm {
    fn exists(rows: &Rows, tenant: &TenantId, id: &CrmId) -> bool {
        rows.iter()
            .any(|((t, _, _), (c, _))| t == tenant && c == id)
    }
}

fn rejected(object: &SObject, sf_id: &SfId, field: &'static str, reason: &str) -> RecordError {
    RecordError::new(
        object.clone(),
        Some(sf_id.clone()),
        field,
        Problem::Rejected {
            reason: reason.into(),
        },
    )
}

#[async_trait]
impl CrmSink for HostCrm {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> Result<Vec<std::result::Result<WriteOutcome, RecordError>>> {
        let mut rows = self.rows.lock().unwrap();
        let mut next = self.next.lock().unwrap();
        let mut out = Vec::with_capacity(batch.records.len());
        for r in &batch.records {
            let key = (tenant.clone(), batch.object.clone(), r.sf_id.clone());
            // Required references must name existing records of this tenant.
            let required = match &r.record {
                CrmRecord::Order(o) => Some((o.account.clone(), "AccountId")),
                CrmRecord::OrderLine(l) => Some((l.order.clone(), "OrderId")),
                CrmRecord::QuoteLine(l) => Some((l.quote.clone(), "QuoteId")),
                CrmRecord::ProductPrice(p) => Some((p.product.clone(), "Product2Id")),
                _ => None,
            };
            if let Some((target, field)) = required
                && !target.is_some_and(|t| Self::exists(&rows, tenant, &t))
            {
                out.push(Err(rejected(
                    &batch.object,
                    &r.sf_id,
                    field,
                    "required reference is missing",
                )));
                continue;
            }
            if let CrmRecord::ProductPrice(price) = &r.record {
                let product = price.product.clone().expect("checked above");
                if let Some((id, _)) = rows.get(&key) {
                    out.push(Ok(WriteOutcome::new(
                        id.clone(),
                        WriteAction::AlreadyPresent,
                    )));
                    continue;
                }
                let target = rows
                    .values_mut()
                    .find(|(c, rec)| c == &product && matches!(rec, CrmRecord::Product(_)));
                match target {
                    Some((_, CrmRecord::Product(p))) => p.price = price.price.or(p.price),
                    _ => {
                        out.push(Err(rejected(
                            &batch.object,
                            &r.sf_id,
                            "Product2Id",
                            "not a product",
                        )));
                        continue;
                    }
                }
                rows.insert(key, (product.clone(), r.record.clone()));
                out.push(Ok(WriteOutcome::new(product, WriteAction::Created)));
                continue;
            }
            let outcome = match rows.get_mut(&key) {
                Some((id, record)) if batch.mode == WriteMode::Update => {
                    *record = r.record.clone();
                    WriteOutcome::new(id.clone(), WriteAction::Updated)
                }
                Some((id, _)) => WriteOutcome::new(id.clone(), WriteAction::AlreadyPresent),
                None => {
                    *next += 1;
                    let id = CrmId::new(format!("h{next}"));
                    rows.insert(key, (id.clone(), r.record.clone()));
                    WriteOutcome::new(id, WriteAction::Created)
                }
            };
            out.push(Ok(outcome));
        }
        Ok(out)
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> Result<Vec<std::result::Result<(), RecordError>>> {
        let mut rows = self.rows.lock().unwrap();
        Ok(links
            .iter()
            .map(|l| {
                if !Self::exists(&rows, tenant, &l.target) {
                    return Err(rejected(object, &l.sf_id, "ParentId", "no such record"));
                }
                let row = rows
                    .iter_mut()
                    .find(|((t, _, _), (c, _))| t == tenant && c == &l.crm_id)
                    .map(|(_, (_, record))| record);
                let linked = row.is_some_and(|record| record.set_link(&l.link, l.target.clone()));
                if linked {
                    Ok(())
                } else {
                    Err(rejected(
                        object,
                        &l.sf_id,
                        "Id",
                        "no such record or reference",
                    ))
                }
            })
            .collect())
    }
}

mod sink {
    salesforce_import::sink_conformance!(async { super::HostCrm::default() });
}

mod jobs {
    salesforce_import::job_store_conformance!(async { super::HostJobs::default() });
}

mod import {
    salesforce_import::import_conformance!(async { super::HostCrm::default() }, async {
        super::HostJobs::default()
    });
}

#[tokio::test]
async fn the_sample_org_imports_into_the_host_backends() {
    use crate::support::sample_manifest::COUNTS;
    use salesforce_import::{FileSource, ImportRequest, Importer};
    use std::sync::Arc;

    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        Arc::new(HostCrm::default()),
        Arc::new(HostJobs::default()),
    )
    .page_size(40)
    .build()
    .unwrap();
    let tenant = TenantId::new("host");
    let job = importer
        .run(&tenant, ImportRequest::new("ada", SObject::SELECTABLE))
        .await
        .unwrap();
    for (object, _, imported, failed) in COUNTS {
        let p = job.object(&SObject::new(*object)).unwrap();
        assert_eq!(
            (p.imported, p.errors),
            (*imported as u64, *failed as u64),
            "{object}"
        );
    }
    let again = importer
        .run(&tenant, ImportRequest::new("ada", SObject::SELECTABLE))
        .await
        .unwrap();
    // No SystemModstamp in the files: every record is written over itself.
    // (This sink keeps price book entries as they were: skipped.)
    assert_eq!(again.imported(), 0);
    assert_eq!(again.updated() + again.skipped(), job.imported());
}
