//! Engine decisions, checked against mocks and the in-memory backends:
//! `decide` for the pure per-record decision, `jobs` for whole jobs,
//! `failures` for whole jobs meeting failures.

mod decide;
mod failures;
mod jobs;
mod leases;
mod pipeline;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use mockall::Sequence;
use tokio::sync::Semaphore;

use super::page::{Decision, decide};
use super::*;
use crate::crm::{CrmRecord, CustomRecord, Link};
use crate::error::{Problem, RecordError};
use crate::id::{CrmId, SfId};
use crate::jobs::{IdKey, IdMapping, Lease, PageRecord};
use crate::jobs::{InMemoryJobStore, LogEntry, Severity};
use crate::mapping::{AccountMapper, LookupSpec, Mapped, Mapper, Reader};
use crate::record::SfRecord;
use crate::sink::InMemorySink;
use crate::sink::{MockCrmSink, WriteAction, WriteOutcome};
use crate::source::{Cursor, MockSalesforceSource, Page, PageRequest};
use crate::status::ObjectState;
use crate::vault::InMemoryTokenVault;

// ---------------------------------------------------------------- fixtures

fn tenant() -> TenantId {
    static N: AtomicUsize = AtomicUsize::new(0);
    TenantId::new(format!("engine-test-{}", N.fetch_add(1, Ordering::SeqCst)))
}

fn clock() -> Clock {
    Arc::new(|| Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap())
}

fn parent_obj() -> SObject {
    SObject::new("Parent__c")
}

fn child_obj() -> SObject {
    SObject::new("Child__c")
}

/// A mapper for tests: reads `Name`, declares the lookups it is given.
#[derive(Debug)]
struct TestMapper {
    object: SObject,
    lookups: Vec<LookupSpec>,
}

impl Mapper for TestMapper {
    fn object(&self) -> SObject {
        self.object.clone()
    }
    fn fields(&self) -> &[&'static str] {
        &["Id", "Name", "ParentId", "OtherId"]
    }
    fn lookups(&self) -> &[LookupSpec] {
        &self.lookups
    }
    fn map(
        &self,
        record: &SfRecord,
        tables: &crate::mapping::Tables,
    ) -> Result<Mapped, RecordError> {
        let mut r = Reader::new(self.object.clone(), record, tables)?;
        let name = r.required_text("Name")?;
        let mut fields = crate::crm::CustomFields::new();
        fields.insert("name".into(), serde_json::Value::from(name).into());
        r.finish(CrmRecord::Custom(CustomRecord::new(fields)), &self.lookups)
    }
}

fn test_mappers() -> Mappers {
    Mappers::empty()
        .with(TestMapper {
            object: parent_obj(),
            lookups: vec![],
        })
        .with(TestMapper {
            object: child_obj(),
            lookups: vec![
                LookupSpec::required("ParentId", parent_obj(), Link::Custom("parent".into())),
                LookupSpec::optional("OtherId", parent_obj(), Link::Custom("other".into())),
            ],
        })
}

/// 15-character ids with a given prefix, in ascending order.
fn id(prefix: &str, n: usize) -> SfId {
    SfId::parse(&format!("{prefix}{n:012}")).unwrap()
}

fn rec(object: &SObject, sf_id: &SfId, name: &str) -> SfRecord {
    SfRecord::new(object.clone())
        .with("Id", sf_id.as_str())
        .with("Name", name)
}

/// A source over records held in memory, honouring `after`, `cursor` and
/// `page_size` like a real one (the cursor is an offset).
#[derive(Debug, Default, Clone)]
struct VecSource {
    objects: BTreeMap<SObject, Vec<SfRecord>>,
    /// When set, every page after the first waits for a permit.
    gate: Option<Arc<Semaphore>>,
    fetches: Arc<AtomicUsize>,
}

impl VecSource {
    fn with(mut self, object: SObject, mut records: Vec<SfRecord>) -> Self {
        records.sort_by_key(|r| r.id().ok());
        self.objects.insert(object, records);
        self
    }
}

#[async_trait]
impl SalesforceSource for VecSource {
    async fn fetch_page(&self, _tenant: &TenantId, req: &PageRequest) -> Result<Page> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let start: usize = req
            .cursor
            .as_ref()
            .map_or(0, |c| c.as_str().parse().unwrap());
        if start > 0
            && let Some(gate) = &self.gate
        {
            gate.acquire().await.unwrap().forget();
        }
        let all: Vec<&SfRecord> = self
            .objects
            .get(&req.object)
            .map(|v| v.iter().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| req.after.as_ref().is_none_or(|a| &r.id().unwrap() > a))
            .collect();
        let end = (start + req.page_size).min(all.len());
        let next = (end < all.len()).then(|| Cursor::new(end.to_string()));
        let records = all[start..end].iter().map(|r| (*r).clone()).collect();
        Ok(Page::new(records, next, Some(all.len() as u64)))
    }
}

fn importer(
    source: Arc<dyn SalesforceSource>,
    sink: Arc<dyn CrmSink>,
    jobs: Arc<dyn JobStore>,
) -> ImporterBuilder {
    // One page at a time: these tests count what each page does; the
    // pages in flight have tests of their own (`pipeline.rs`).
    Importer::builder(source, sink, jobs)
        .mappers(test_mappers())
        .clock(clock())
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
        .pages_in_flight(1)
        .objects_in_flight(1)
}

fn parents(n: usize) -> Vec<SfRecord> {
    (1..=n)
        .map(|i| rec(&parent_obj(), &id("a01", i), &format!("P{i}")))
        .collect()
}

/// The in-memory job store, counting the calls the engine makes, and
/// failing `record_page` on a chosen call as a crash between the sink's
/// write and the job store's record would.
#[derive(Debug, Default)]
struct Hooked {
    inner: InMemoryJobStore,
    resolve: AtomicUsize,
    /// Every key `resolve_ids` was asked, in order.
    asked: std::sync::Mutex<Vec<IdKey>>,
    record: AtomicUsize,
    crash_on_record: Option<usize>,
}

#[async_trait]
impl JobStore for Hooked {
    async fn create_job(&self, new: &crate::jobs::NewJob) -> Result<Job> {
        self.inner.create_job(new).await
    }
    async fn job(&self, t: &TenantId, j: &JobId) -> Result<Job> {
        self.inner.job(t, j).await
    }
    async fn history(&self, t: &TenantId, limit: usize) -> Result<Vec<Job>> {
        self.inner.history(t, limit).await
    }
    async fn set_status(
        &self,
        t: &TenantId,
        j: &JobId,
        s: JobStatus,
        at: DateTime<Utc>,
        m: Option<String>,
        lease: Option<&Lease>,
    ) -> Result<()> {
        self.inner.set_status(t, j, s, at, m, lease).await
    }
    async fn set_object_state(
        &self,
        t: &TenantId,
        j: &JobId,
        o: &SObject,
        s: ObjectState,
        lease: Option<&Lease>,
    ) -> Result<()> {
        self.inner.set_object_state(t, j, o, s, lease).await
    }
    async fn record_page(
        &self,
        t: &TenantId,
        j: &JobId,
        o: &SObject,
        p: &PageRecord,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let call = self.record.fetch_add(1, Ordering::SeqCst) + 1;
        if self.crash_on_record == Some(call) {
            return Err(Error::config(
                "simulated crash after the sink wrote the page",
            ));
        }
        self.inner.record_page(t, j, o, p, lease).await
    }
    async fn acquire_lease(
        &self,
        t: &TenantId,
        j: &JobId,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Lease>> {
        self.inner.acquire_lease(t, j, owner, now, until).await
    }
    async fn renew_lease(
        &self,
        t: &TenantId,
        j: &JobId,
        lease: &Lease,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Lease> {
        self.inner.renew_lease(t, j, lease, until).await
    }
    async fn stranded_jobs(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<Job>> {
        self.inner.stranded_jobs(now, limit).await
    }
    async fn error_log(
        &self,
        t: &TenantId,
        j: &JobId,
        off: usize,
        lim: usize,
    ) -> Result<Vec<LogEntry>> {
        self.inner.error_log(t, j, off, lim).await
    }
    async fn resolve_ids(&self, t: &TenantId, keys: &[IdKey]) -> Result<HashMap<IdKey, IdMapping>> {
        self.resolve.fetch_add(1, Ordering::SeqCst);
        self.asked.lock().unwrap().extend_from_slice(keys);
        self.inner.resolve_ids(t, keys).await
    }
    async fn watermark(&self, t: &TenantId, o: &SObject) -> Result<Option<DateTime<Utc>>> {
        self.inner.watermark(t, o).await
    }
    async fn has_mappings(&self, t: &TenantId, o: &SObject) -> Result<bool> {
        self.inner.has_mappings(t, o).await
    }
}

/// Pauses every write until the test lets it through, and says when one
/// is waiting.
#[derive(Debug)]
struct GatedSink {
    inner: InMemorySink,
    reached: Arc<tokio::sync::Notify>,
    proceed: Arc<Semaphore>,
}

#[async_trait]
impl CrmSink for GatedSink {
    async fn write_batch(
        &self,
        t: &TenantId,
        b: &crate::sink::WriteBatch,
    ) -> Result<Vec<Result<WriteOutcome, RecordError>>> {
        self.reached.notify_one();
        self.proceed.acquire().await.expect("never closed").forget();
        self.inner.write_batch(t, b).await
    }
    async fn relink(
        &self,
        t: &TenantId,
        o: &SObject,
        l: &[crate::sink::Relink],
    ) -> Result<Vec<Result<(), RecordError>>> {
        self.inner.relink(t, o, l).await
    }
}
