//! The in-memory [`JobStore`]: the reference implementation of the contract.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{IdKey, Job, JobStatus, JobStore, NewJob, ObjectProgress, ObjectState, PageRecord};
use crate::error::{Error, Result};
use crate::id::{CrmId, JobId, TenantId};
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
    ids: HashMap<(TenantId, IdKey), CrmId>,
}

#[derive(Debug, Clone)]
struct Row {
    job: Job,
    log: Vec<LogEntry>,
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
        self.lock().ids.keys().filter(|(t, _)| t == tenant).count()
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
        let job = Job::new(JobId::new(format!("job-{seq}")), new);
        s.jobs.insert(
            (new.tenant.clone(), seq),
            Row {
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
    ) -> Result<()> {
        let mut s = self.lock();
        let row = s.row(tenant, job)?;
        row.job.status = status;
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
    ) -> Result<()> {
        let mut s = self.lock();
        object_mut(&mut s.row(tenant, job)?.job, object)?.state = state;
        Ok(())
    }

    async fn record_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        page: &PageRecord,
    ) -> Result<()> {
        let mut s = self.lock();
        // Validate before changing anything: all or nothing.
        let row = s.row(tenant, job)?;
        let progress = object_mut(&mut row.job, object)?;
        if page.total.is_some() {
            progress.total = page.total;
        }
        progress.imported += page.imported;
        progress.skipped += page.skipped;
        progress.errors += page.errors;
        progress.warnings += page.warnings;
        if page.checkpoint.is_some() {
            progress.checkpoint = page.checkpoint.clone();
        }
        row.log.extend(page.log.iter().cloned());
        for (sf_id, crm_id) in &page.mappings {
            s.ids.insert(
                (tenant.clone(), (object.clone(), sf_id.clone())),
                crm_id.clone(),
            );
        }
        Ok(())
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

    async fn resolve_ids(
        &self,
        tenant: &TenantId,
        keys: &[IdKey],
    ) -> Result<HashMap<IdKey, CrmId>> {
        let s = self.lock();
        Ok(keys
            .iter()
            .filter_map(|k| {
                s.ids
                    .get(&(tenant.clone(), k.clone()))
                    .map(|id| (k.clone(), id.clone()))
            })
            .collect())
    }
}
