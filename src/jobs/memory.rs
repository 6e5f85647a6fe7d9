//! The in-memory [`JobStore`]: the reference implementation of the contract.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    IdKey, IdMapping, Job, JobStatus, JobStore, Lease, LogPage, NewJob, ObjectProgress,
    ObjectState, PageRecord,
};
use crate::error::{Error, Result};
use crate::id::{JobId, TenantId};
use crate::jobs::LogEntry;
use crate::object::SObject;

/// A thread-safe in-memory job store.
///
/// `Clone` shares the state; [`fork`](InMemoryJobStore::fork) copies it.
#[derive(Debug, Clone, Default)]
pub struct InMemoryJobStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Clone, Default)]
struct State {
    next_id: u64,
    /// Keyed by tenant, then creation sequence: history is a reverse range scan.
    jobs: BTreeMap<(TenantId, u64), Row>,
    /// Per tenant and object: the id mappings, ids inline
    /// ([`crate::SfId::to_bytes`]).
    ids: HashMap<TenantId, HashMap<SObject, Mappings>>,
}

/// One object's id mappings, by inline Salesforce id.
type Mappings = HashMap<[u8; 18], IdMapping, foldhash::fast::RandomState>;

#[derive(Debug, Clone)]
struct Row {
    job: Job,
    log: Vec<LogEntry>,
    /// The last fencing token given: kept when the lease is released, so a
    /// later acquisition's token is still greater.
    lease_token: u64,
}

impl Row {
    /// Refuses a write that carries a lease other than the job's current one.
    fn fence(&self, lease: Option<&Lease>) -> Result<()> {
        match lease {
            Some(l) if !self.holds(l) => Err(Error::LeaseLost {
                job: self.job.id.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether `lease` is the current one (renewals change only its end).
    fn holds(&self, lease: &Lease) -> bool {
        self.job
            .lease
            .as_ref()
            .is_some_and(|l| l.token == lease.token && l.owner == lease.owner)
    }
}

impl InMemoryJobStore {
    /// An empty store.
    pub fn new() -> InMemoryJobStore {
        InMemoryJobStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A deep copy, independent from now on: for crash-and-resume tests.
    pub fn fork(&self) -> InMemoryJobStore {
        InMemoryJobStore {
            state: Arc::new(Mutex::new(self.lock().clone())),
        }
    }

    /// How many id mappings the tenant has.
    pub fn mapping_count(&self, tenant: &TenantId) -> usize {
        self.lock()
            .ids
            .get(tenant)
            .map_or(0, |objects| objects.values().map(HashMap::len).sum())
    }
}

impl State {
    fn row(&mut self, tenant: &TenantId, job: &JobId) -> Result<&mut Row> {
        let seq = job
            .as_str()
            .strip_prefix("job-")
            .and_then(|n| n.parse::<u64>().ok());
        seq.and_then(|seq| self.jobs.get_mut(&(tenant.clone(), seq)))
            .ok_or_else(|| Error::JobNotFound {
                tenant: tenant.clone(),
                job: job.clone(),
            })
    }
}

fn object_mut<'a>(job: &'a mut Job, object: &SObject) -> Result<&'a mut ObjectProgress> {
    let id = job.id.clone();
    job.objects
        .iter_mut()
        .find(|o| &o.object == object)
        .ok_or_else(|| Error::config(format!("job {id} does not import {object}")))
}

#[async_trait]
impl JobStore for InMemoryJobStore {
    async fn create_job(&self, new: &NewJob) -> Result<Job> {
        let mut s = self.lock();
        let running = s
            .jobs
            .range((new.tenant.clone(), 0)..=(new.tenant.clone(), u64::MAX))
            .find(|(_, row)| row.job.status.is_running());
        if let Some((_, row)) = running {
            return Err(Error::ImportAlreadyRunning {
                tenant: new.tenant.clone(),
                job: row.job.id.clone(),
            });
        }
        s.next_id += 1;
        let seq = s.next_id;
        let mut job = Job::new(JobId::new(format!("job-{seq}")), new);
        if let Some(lease) = &mut job.lease {
            lease.token = 1;
        }
        s.jobs.insert(
            (new.tenant.clone(), seq),
            Row {
                lease_token: u64::from(job.lease.is_some()),
                job: job.clone(),
                log: Vec::new(),
            },
        );
        Ok(job)
    }

    async fn job(&self, tenant: &TenantId, job: &JobId) -> Result<Job> {
        Ok(self.lock().row(tenant, job)?.job.clone())
    }

    async fn history(&self, tenant: &TenantId, limit: usize) -> Result<Vec<Job>> {
        let s = self.lock();
        let mut jobs: Vec<Job> = s
            .jobs
            .range((tenant.clone(), 0)..=(tenant.clone(), u64::MAX))
            .rev()
            .map(|(_, row)| row.job.clone())
            .collect();
        // Newest first by creation time; the sequence breaks ties (it already
        // orders the list, and the sort is stable).
        jobs.sort_by_key(|j| std::cmp::Reverse(j.created_at));
        jobs.truncate(limit);
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
        let mut s = self.lock();
        let row = s.row(tenant, job)?;
        row.fence(lease)?;
        if lease.is_some() && row.job.status.is_final() && row.job.status != status {
            // Cancelled by an administrator (or finished) meanwhile: the
            // holder's write does not undo it.
            return Err(Error::LeaseLost { job: job.clone() });
        }
        row.job.status = status;
        if lease.is_some() && !status.is_running() {
            row.job.lease = None;
        }
        if status == JobStatus::InProgress && row.job.started_at.is_none() {
            row.job.started_at = Some(at);
        }
        if status.is_running() {
            row.job.completed_at = None;
        } else {
            row.job.completed_at = Some(at);
        }
        row.job.message = message;
        Ok(())
    }

    async fn set_object_state(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        state: ObjectState,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut s = self.lock();
        let row = s.row(tenant, job)?;
        row.fence(lease)?;
        object_mut(&mut row.job, object)?.state = state;
        Ok(())
    }

    async fn record_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        page: &PageRecord,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut s = self.lock();
        // Validate before changing anything: all or nothing.
        let row = s.row(tenant, job)?;
        row.fence(lease)?;
        let progress = object_mut(&mut row.job, object)?;
        if page.total.is_some() {
            progress.total = page.total;
        }
        progress.imported += page.imported;
        progress.updated += page.updated;
        progress.skipped += page.skipped;
        progress.deleted += page.deleted;
        progress.errors += page.errors;
        progress.warnings += page.warnings;
        if page.checkpoint.is_some() {
            progress.checkpoint = page.checkpoint.clone();
            progress.checkpoint_modstamp = page.checkpoint_modstamp;
            progress.resume_cursor = page.resume_cursor.clone();
        }
        if page.watermark.is_some() {
            progress.watermark = page.watermark;
        }
        row.log.extend(page.log.iter().cloned());
        if !page.mappings.is_empty() {
            let ids = s
                .ids
                .entry(tenant.clone())
                .or_default()
                .entry(object.clone())
                .or_default();
            for (sf_id, mapping) in &page.mappings {
                ids.insert(sf_id.to_bytes(), mapping.clone());
            }
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
        let mut s = self.lock();
        let row = s.row(tenant, job)?;
        if row.job.status.is_final() {
            return Err(Error::JobNotResumable {
                job: job.clone(),
                status: row.job.status,
                action: "taken over",
            });
        }
        if row.job.lease.as_ref().is_some_and(|l| !l.is_expired(now)) {
            return Ok(None);
        }
        row.lease_token += 1;
        let lease = Lease::new(owner, row.lease_token, until);
        row.job.lease = Some(lease.clone());
        Ok(Some(lease))
    }

    async fn renew_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        lease: &Lease,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        let mut s = self.lock();
        let row = s.row(tenant, job)?;
        if !row.holds(lease) {
            return Err(Error::LeaseLost { job: job.clone() });
        }
        let renewed = Lease::new(lease.owner.clone(), lease.token, until);
        row.job.lease = Some(renewed.clone());
        Ok(renewed)
    }

    async fn stranded_jobs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        let s = self.lock();
        let mut jobs: Vec<Job> = s
            .jobs
            .values()
            .filter(|row| row.job.is_stranded(now))
            .map(|row| row.job.clone())
            .collect();
        jobs.sort_by_key(|j| j.created_at);
        jobs.truncate(limit);
        Ok(jobs)
    }

    async fn error_log(
        &self,
        tenant: &TenantId,
        job: &JobId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        let mut s = self.lock();
        let row = s.row(tenant, job)?;
        Ok(row.log.iter().skip(offset).take(limit).cloned().collect())
    }

    /// The marker is the position in the log: a slice, no scan.
    async fn log_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        after: u64,
        limit: usize,
    ) -> Result<LogPage> {
        let mut s = self.lock();
        let row = s.row(tenant, job)?;
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(row.log.len());
        let end = start.saturating_add(limit).min(row.log.len());
        let next = (end < row.log.len()).then_some(end as u64);
        Ok(LogPage::new(row.log[start..end].to_vec(), next))
    }

    async fn resolve_ids(
        &self,
        tenant: &TenantId,
        keys: &[IdKey],
    ) -> Result<HashMap<IdKey, IdMapping>> {
        let s = self.lock();
        let Some(ids) = s.ids.get(tenant) else {
            return Ok(HashMap::new());
        };
        Ok(keys
            .iter()
            .filter_map(|k| {
                ids.get(&k.0)?
                    .get(&k.1.to_bytes())
                    .map(|m| (k.clone(), m.clone()))
            })
            .collect())
    }

    async fn has_mappings(&self, tenant: &TenantId, object: &SObject) -> Result<bool> {
        let s = self.lock();
        Ok(s.ids
            .get(tenant)
            .and_then(|objects| objects.get(object))
            .is_some_and(|ids| !ids.is_empty()))
    }

    async fn watermark(
        &self,
        tenant: &TenantId,
        object: &SObject,
    ) -> Result<Option<DateTime<Utc>>> {
        let s = self.lock();
        Ok(s.jobs
            .range((tenant.clone(), 0)..=(tenant.clone(), u64::MAX))
            .filter_map(|(_, row)| row.job.object(object))
            .filter(|p| p.state == ObjectState::Done)
            .filter_map(|p| p.watermark)
            .max())
    }
}
