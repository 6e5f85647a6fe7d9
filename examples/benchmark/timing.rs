//! Wrappers around the source, the sink, the job store and the mappers that
//! time every call: where an import's time goes (the engine has no timings
//! of its own).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use salesforce_import::jobs::{IdKey, IdMapping, Lease, NewJob, PageRecord};
use salesforce_import::mapping::{LookupSpec, Mapped, Mapper, Mappers, Tables};
use salesforce_import::sink::{Deletion, Relink, WriteBatch, WriteOutcome};
use salesforce_import::source::{Page, PageRequest};
use salesforce_import::{
    CrmSink, Job, JobId, JobStatus, JobStore, LogEntry, ObjectState, RecordError, Result, SObject,
    SalesforceSource, SfRecord, TenantId,
};

use crate::report::ObjectTimes;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    Fetch,
    Resolve,
    Write,
    Progress,
    Relink,
    Admin,
}

#[derive(Debug, Default)]
pub(crate) struct TimelineState {
    pub(crate) objects: Vec<ObjectTimes>,
    pub(crate) current: Option<String>,
    pub(crate) started: HashMap<String, Instant>,
    pub(crate) job_admin: f64,
}

/// Every timed call of one import, by object.
#[derive(Debug, Default)]
pub(crate) struct Timeline(Mutex<TimelineState>);

impl TimelineState {
    pub(crate) fn object(&mut self, object: &str) -> &mut ObjectTimes {
        let i = match self.objects.iter().position(|o| o.object == object) {
            Some(i) => i,
            None => {
                self.objects.push(ObjectTimes {
                    object: object.to_owned(),
                    ..ObjectTimes::default()
                });
                self.objects.len() - 1
            }
        };
        &mut self.objects[i]
    }
}

impl Timeline {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, TimelineState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, object: Option<&str>, part: Part, took: Duration) {
        let mut s = self.lock();
        let secs = took.as_secs_f64();
        let object = object.map(str::to_owned).or_else(|| s.current.clone());
        let Some(object) = object else {
            s.job_admin += secs;
            return;
        };
        let o = s.object(&object);
        match part {
            Part::Fetch => {
                o.fetch += secs;
                o.pages += 1;
            }
            Part::Resolve => o.resolve += secs,
            Part::Write => o.write += secs,
            Part::Progress => o.progress += secs,
            Part::Relink => o.relink += secs,
            Part::Admin => o.admin += secs,
        }
    }

    pub(crate) fn state(&self, object: &SObject, state: ObjectState) {
        let mut s = self.lock();
        let name = object.as_str().to_owned();
        if state == ObjectState::Importing {
            s.current = Some(name.clone());
            s.started.insert(name.clone(), Instant::now());
            s.object(&name);
        } else if let Some(started) = s.started.remove(&name) {
            s.object(&name).wall = started.elapsed().as_secs_f64();
            if s.current.as_deref() == Some(name.as_str()) {
                s.current = None;
            }
        }
    }
}

pub(crate) async fn timed<T>(
    timeline: &Timeline,
    object: Option<&str>,
    part: Part,
    call: impl std::future::Future<Output = T>,
) -> T {
    let started = Instant::now();
    let out = call.await;
    timeline.add(object, part, started.elapsed());
    out
}

#[derive(Debug)]
pub(crate) struct TimedSource {
    pub(crate) inner: Arc<dyn SalesforceSource>,
    pub(crate) timeline: Arc<Timeline>,
}

#[async_trait]
impl SalesforceSource for TimedSource {
    async fn fetch_page(&self, tenant: &TenantId, request: &PageRequest) -> Result<Page> {
        let object = request.object.as_str();
        timed(
            &self.timeline,
            Some(object),
            Part::Fetch,
            self.inner.fetch_page(tenant, request),
        )
        .await
    }

    async fn count_records(&self, tenant: &TenantId, object: &SObject) -> Result<Option<u64>> {
        timed(
            &self.timeline,
            Some(object.as_str()),
            Part::Admin,
            self.inner.count_records(tenant, object),
        )
        .await
    }
}

#[derive(Debug)]
pub(crate) struct TimedSink {
    pub(crate) inner: Arc<dyn CrmSink>,
    pub(crate) timeline: Arc<Timeline>,
}

#[async_trait]
impl CrmSink for TimedSink {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> Result<Vec<Result<WriteOutcome, RecordError>>> {
        timed(
            &self.timeline,
            Some(batch.object.as_str()),
            Part::Write,
            self.inner.write_batch(tenant, batch),
        )
        .await
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> Result<Vec<Result<(), RecordError>>> {
        timed(
            &self.timeline,
            Some(object.as_str()),
            Part::Relink,
            self.inner.relink(tenant, object, links),
        )
        .await
    }

    async fn delete_batch(
        &self,
        tenant: &TenantId,
        object: &SObject,
        records: &[Deletion],
    ) -> Result<Vec<Result<(), RecordError>>> {
        timed(
            &self.timeline,
            Some(object.as_str()),
            Part::Write,
            self.inner.delete_batch(tenant, object, records),
        )
        .await
    }
}

#[derive(Debug)]
pub(crate) struct TimedJobs {
    pub(crate) inner: Arc<dyn JobStore>,
    pub(crate) timeline: Arc<Timeline>,
}

#[async_trait]
impl JobStore for TimedJobs {
    async fn create_job(&self, new: &NewJob) -> Result<Job> {
        self.inner.create_job(new).await
    }

    async fn job(&self, tenant: &TenantId, job: &JobId) -> Result<Job> {
        self.inner.job(tenant, job).await
    }

    async fn history(&self, tenant: &TenantId, limit: usize) -> Result<Vec<Job>> {
        self.inner.history(tenant, limit).await
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
        let call = self
            .inner
            .set_status(tenant, job, status, at, message, lease);
        timed(&self.timeline, None, Part::Admin, call).await
    }

    async fn set_object_state(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        state: ObjectState,
        lease: Option<&Lease>,
    ) -> Result<()> {
        // An object starts before its state is written and ends after.
        if state == ObjectState::Importing {
            self.timeline.state(object, state);
        }
        let call = self
            .inner
            .set_object_state(tenant, job, object, state, lease);
        let out = timed(&self.timeline, Some(object.as_str()), Part::Admin, call).await;
        if state != ObjectState::Importing {
            self.timeline.state(object, state);
        }
        out
    }

    async fn record_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        page: &PageRecord,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let call = self.inner.record_page(tenant, job, object, page, lease);
        timed(&self.timeline, Some(object.as_str()), Part::Progress, call).await
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        let call = self.inner.acquire_lease(tenant, job, owner, now, until);
        timed(&self.timeline, None, Part::Admin, call).await
    }

    async fn renew_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        lease: &Lease,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        let call = self.inner.renew_lease(tenant, job, lease, until);
        // Renewals run on the heartbeat task, beside the pipeline.
        let started = Instant::now();
        let out = call.await;
        self.timeline.lock().job_admin += started.elapsed().as_secs_f64();
        out
    }

    async fn stranded_jobs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        self.inner.stranded_jobs(now, limit).await
    }

    async fn error_log(
        &self,
        tenant: &TenantId,
        job: &JobId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        self.inner.error_log(tenant, job, offset, limit).await
    }

    async fn resolve_ids(
        &self,
        tenant: &TenantId,
        keys: &[IdKey],
    ) -> Result<HashMap<IdKey, IdMapping>> {
        let call = self.inner.resolve_ids(tenant, keys);
        timed(&self.timeline, None, Part::Resolve, call).await
    }

    async fn watermark(
        &self,
        tenant: &TenantId,
        object: &SObject,
    ) -> Result<Option<DateTime<Utc>>> {
        let call = self.inner.watermark(tenant, object);
        timed(&self.timeline, Some(object.as_str()), Part::Admin, call).await
    }

    async fn has_mappings(&self, tenant: &TenantId, object: &SObject) -> Result<bool> {
        let call = self.inner.has_mappings(tenant, object);
        timed(&self.timeline, Some(object.as_str()), Part::Admin, call).await
    }
}

/// A standard mapper, timed: nanoseconds spent in `map`.
#[derive(Debug)]
pub(crate) struct TimedMapper {
    pub(crate) inner: Arc<dyn Mapper>,
    pub(crate) nanos: Arc<AtomicU64>,
}

impl Mapper for TimedMapper {
    fn object(&self) -> SObject {
        self.inner.object()
    }
    fn fields(&self) -> &[&'static str] {
        self.inner.fields()
    }
    fn lookups(&self) -> &[LookupSpec] {
        self.inner.lookups()
    }
    fn imported_with(&self) -> Option<SObject> {
        self.inner.imported_with()
    }
    fn map(&self, record: &SfRecord, tables: &Tables) -> std::result::Result<Mapped, RecordError> {
        let started = Instant::now();
        let out = self.inner.map(record, tables);
        self.nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    }
}

pub(crate) fn timed_mappers() -> (Mappers, Vec<(SObject, Arc<AtomicU64>)>) {
    let mut mappers = Mappers::empty();
    let mut clocks = Vec::new();
    for m in Mappers::standard().iter() {
        let nanos = Arc::new(AtomicU64::new(0));
        clocks.push((m.object(), nanos.clone()));
        mappers = mappers.with(TimedMapper {
            inner: m.clone(),
            nanos,
        });
    }
    (mappers, clocks)
}
