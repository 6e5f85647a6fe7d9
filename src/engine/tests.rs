//! Engine decisions, checked against mocks and the in-memory backends.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use mockall::Sequence;
use tokio::sync::Semaphore;

use super::page::{Decision, decide};
use super::*;
use crate::crm::{CrmRecord, CustomRecord, Link};
use crate::jobs::{IdKey, PageRecord};
use crate::mapping::{AccountMapper, LookupSpec, Mapped, Mapper, Reader};
use crate::sink::{MockCrmSink, WriteAction, WriteOutcome};
use crate::source::{Cursor, MockSalesforceSource, Page, PageRequest};
use crate::{
    CrmId, InMemoryJobStore, InMemorySink, InMemoryTokenVault, LogEntry, ObjectState, Problem,
    RecordError, Severity, SfId, SfRecord,
};

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
        let mut fields = serde_json::Map::new();
        fields.insert("name".into(), name.into());
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
        if start > 0 {
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
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
    Importer::builder(source, sink, jobs)
        .mappers(test_mappers())
        .clock(clock())
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
}

fn parents(n: usize) -> Vec<SfRecord> {
    (1..=n)
        .map(|i| rec(&parent_obj(), &id("a01", i), &format!("P{i}")))
        .collect()
}

// ------------------------------------------------------- decide(): pure

fn mapped(object: &SObject, sf_id: SfId, lookups: &[(LookupSpec, SfId)]) -> Mapped {
    let mut fields = serde_json::Map::new();
    fields.insert("name".into(), "x".into());
    let record = SfRecord::new(object.clone())
        .with("Id", sf_id.as_str())
        .with("Name", "x");
    let mut m = TestMapper {
        object: object.clone(),
        lookups: vec![],
    }
    .map(&record, &Default::default())
    .unwrap();
    m.lookups = lookups
        .iter()
        .map(|(spec, target)| crate::mapping::LookupValue {
            spec: spec.clone(),
            sf_id: target.clone(),
        })
        .collect();
    m
}

#[test]
fn decide_skips_or_updates_what_was_imported_before() {
    let me = id("a02", 1);
    let known: HashMap<IdKey, CrmId> = [((child_obj(), me.clone()), CrmId::new("c1"))].into();
    let mut deferred = 0;
    let d = decide(
        &child_obj(),
        mapped(&child_obj(), me.clone(), &[]),
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    );
    assert!(matches!(d, Decision::Skip), "{d:?}");
    let d = decide(
        &child_obj(),
        mapped(&child_obj(), me, &[]),
        &known,
        WriteMode::Update,
        &mut deferred,
    );
    let Decision::Write(w, warnings) = d else {
        panic!("{d:?}")
    };
    assert_eq!(w.existing, Some(CrmId::new("c1")));
    assert!(warnings.is_empty());
}

#[test]
fn decide_resolves_required_and_optional_lookups() {
    let (p1, p2, missing) = (id("a01", 1), id("a01", 2), id("a01", 99));
    let known: HashMap<IdKey, CrmId> = [
        ((parent_obj(), p1.clone()), CrmId::new("p1")),
        ((parent_obj(), p2.clone()), CrmId::new("p2")),
    ]
    .into();
    let specs = test_mappers().get(&child_obj()).unwrap().lookups().to_vec();
    let (required, optional) = (specs[0].clone(), specs[1].clone());
    let mut deferred = 0;

    // Both resolve.
    let m = mapped(
        &child_obj(),
        id("a02", 1),
        &[
            (required.clone(), p1.clone()),
            (optional.clone(), p2.clone()),
        ],
    );
    let Decision::Write(w, warnings) = decide(
        &child_obj(),
        m,
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    ) else {
        panic!()
    };
    assert_eq!(
        w.record.link(&Link::Custom("parent".into())),
        Some(&CrmId::new("p1"))
    );
    assert_eq!(
        w.record.link(&Link::Custom("other".into())),
        Some(&CrmId::new("p2"))
    );
    assert!(warnings.is_empty());

    // Optional unresolved: written, with a warning naming the field.
    let m = mapped(
        &child_obj(),
        id("a02", 2),
        &[
            (required.clone(), p1.clone()),
            (optional.clone(), missing.clone()),
        ],
    );
    let Decision::Write(w, warnings) = decide(
        &child_obj(),
        m,
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    ) else {
        panic!()
    };
    assert_eq!(w.record.link(&Link::Custom("other".into())), None);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].field, "OtherId");

    // Required unresolved: a record error naming the field and the target.
    let m = mapped(
        &child_obj(),
        id("a02", 3),
        &[(required.clone(), missing.clone())],
    );
    let Decision::Fail(e) = decide(
        &child_obj(),
        m,
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    ) else {
        panic!()
    };
    assert_eq!(e.field, "ParentId");
    assert_eq!(
        e.problem,
        Problem::UnresolvedLookup {
            target: parent_obj(),
            sf_id: missing.clone()
        }
    );
    assert_eq!(deferred, 0);
}

#[test]
fn decide_first_lookup_that_resolves_fills_a_shared_slot() {
    // OrderItem: Product2Id and PricebookEntryId both fill the product slot.
    let product = LookupSpec::optional("Product2Id", SObject::PRODUCT2, Link::Product);
    let entry = LookupSpec::optional("PricebookEntryId", SObject::PRICEBOOK_ENTRY, Link::Product);
    let (p, e) = (id("01t", 1), id("01u", 1));
    let known: HashMap<IdKey, CrmId> = [(
        (SObject::PRICEBOOK_ENTRY, e.clone()),
        CrmId::new("prod-via-entry"),
    )]
    .into();
    let mut m = mapped(
        &SObject::ORDER_ITEM,
        id("802", 1),
        &[(product, p), (entry, e)],
    );
    m.record = CrmRecord::OrderLine(Default::default());
    let mut deferred = 0;
    let Decision::Write(w, warnings) = decide(
        &SObject::ORDER_ITEM,
        m,
        &known,
        WriteMode::SkipExisting,
        &mut deferred,
    ) else {
        panic!()
    };
    assert_eq!(
        w.record.link(&Link::Product),
        Some(&CrmId::new("prod-via-entry"))
    );
    assert!(
        warnings.is_empty(),
        "a filled slot is not a warning: {warnings:?}"
    );
}

#[test]
fn decide_defers_unresolved_self_references() {
    let spec = LookupSpec::optional("ParentId", SObject::ACCOUNT, Link::ParentAccount);
    let mut m = mapped(
        &SObject::ACCOUNT,
        id("001", 1),
        &[(spec.clone(), id("001", 2))],
    );
    m.record = CrmRecord::Account(Default::default());
    let mut deferred = 0;
    let d = decide(
        &SObject::ACCOUNT,
        m,
        &HashMap::new(),
        WriteMode::SkipExisting,
        &mut deferred,
    );
    let Decision::Write(_, warnings) = d else {
        panic!()
    };
    assert!(warnings.is_empty());
    assert_eq!(deferred, 1);
    // A record naming itself as its parent is neither deferred nor an error.
    let mut m = mapped(&SObject::ACCOUNT, id("001", 3), &[(spec, id("001", 3))]);
    m.record = CrmRecord::Account(Default::default());
    decide(
        &SObject::ACCOUNT,
        m,
        &HashMap::new(),
        WriteMode::SkipExisting,
        &mut deferred,
    );
    assert_eq!(deferred, 1);
}

// ------------------------------------------------------------ the builder

#[test]
fn builder_validates() {
    let b = || {
        Importer::builder(
            Arc::new(VecSource::default()),
            Arc::new(InMemorySink::new()),
            Arc::new(InMemoryJobStore::new()),
        )
    };
    assert!(matches!(
        b().page_size(0).build(),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        b().page_size(10_001).build(),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        b().max_attempts(0).build(),
        Err(Error::Config { .. })
    ));
    assert!(b().build().is_ok());
}

// ------------------------------------------------- whole jobs, with mocks

#[tokio::test]
async fn skip_mode_never_writes_what_was_imported_before() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let source = Arc::new(VecSource::default().with(parent_obj(), parents(5)));
    let sink = Arc::new(InMemorySink::new());
    let first = importer(source.clone(), sink.clone(), jobs.clone())
        .build()
        .unwrap();
    let job = first
        .run(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    assert_eq!((job.imported(), job.skipped()), (5, 0));

    // Second run: the sink must not be called at all.
    let mut mock = MockCrmSink::new();
    mock.expect_write_batch().never();
    let again = importer(source, Arc::new(mock), jobs).build().unwrap();
    let job = again
        .run(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!((job.imported(), job.skipped(), job.errors()), (0, 5, 0));
}

#[tokio::test]
async fn update_mode_sends_the_crm_ids_of_records_imported_before() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let source = Arc::new(VecSource::default().with(parent_obj(), parents(3)));
    let sink = Arc::new(InMemorySink::new());
    importer(source.clone(), sink.clone(), jobs.clone())
        .build()
        .unwrap()
        .run(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();

    let mut mock = MockCrmSink::new();
    mock.expect_write_batch()
        .times(1)
        .withf(|_, batch| {
            batch.mode == WriteMode::Update && batch.records.iter().all(|r| r.existing.is_some())
        })
        .returning(|_, batch| {
            Ok(batch
                .records
                .iter()
                .map(|r| {
                    Ok(WriteOutcome::new(
                        r.existing.clone().unwrap(),
                        WriteAction::Updated,
                    ))
                })
                .collect())
        });
    let job = importer(source, Arc::new(mock), jobs.clone())
        .build()
        .unwrap()
        .run(
            &t,
            ImportRequest::new("ada", [parent_obj()]).mode(WriteMode::Update),
        )
        .await
        .unwrap();
    assert_eq!((job.imported(), job.skipped()), (3, 0));
    assert_eq!(jobs.mapping_count(&t), 3, "updates add no mappings");
}

#[tokio::test]
async fn lookups_resolve_and_bad_records_are_logged_while_the_rest_goes_on() {
    let t = tenant();
    let children = vec![
        rec(&child_obj(), &id("a02", 1), "ok").with("ParentId", id("a01", 1).as_str()),
        rec(&child_obj(), &id("a02", 2), "no parent").with("ParentId", id("a01", 99).as_str()),
        rec(&child_obj(), &id("a02", 3), "optional missing")
            .with("ParentId", id("a01", 2).as_str())
            .with("OtherId", id("a01", 98).as_str()),
        rec(&child_obj(), &id("a02", 4), "").with("ParentId", id("a01", 1).as_str()),
        SfRecord::new(child_obj())
            .with("Id", "garbage")
            .with("Name", "bad id"),
    ];
    let source = Arc::new(
        VecSource::default()
            .with(parent_obj(), parents(2))
            .with(child_obj(), children),
    );
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = importer(source, sink.clone(), jobs.clone())
        .build()
        .unwrap();
    let job = imp
        .run(&t, ImportRequest::new("ada", [parent_obj(), child_obj()]))
        .await
        .unwrap();

    assert_eq!(job.status, JobStatus::CompletedWithErrors);
    let child = job.object(&child_obj()).unwrap();
    assert_eq!((child.imported, child.errors, child.warnings), (2, 3, 1));
    assert_eq!(sink.count(&t, &child_obj()), 2);
    let (_, ok) = sink.get(&t, &child_obj(), &id("a02", 1)).unwrap();
    let (parent_crm, _) = sink.get(&t, &parent_obj(), &id("a01", 1)).unwrap();
    assert_eq!(ok.link(&Link::Custom("parent".into())), Some(&parent_crm));

    let log = jobs.error_log(&t, job_id(&job), 0, 100).await.unwrap();
    let summary: Vec<(Severity, Option<String>, String)> = log
        .iter()
        .map(|e| {
            (
                e.severity,
                e.sf_id.as_ref().map(|i| i.to_15().to_owned()),
                e.field.clone(),
            )
        })
        .collect();
    assert!(
        summary.contains(&(
            Severity::Error,
            Some(id("a02", 2).to_15().into()),
            "ParentId".into()
        )),
        "{summary:?}"
    );
    assert!(
        summary.contains(&(
            Severity::Warning,
            Some(id("a02", 3).to_15().into()),
            "OtherId".into()
        )),
        "{summary:?}"
    );
    assert!(
        summary.contains(&(
            Severity::Error,
            Some(id("a02", 4).to_15().into()),
            "Name".into()
        )),
        "{summary:?}"
    );
    assert!(
        summary.contains(&(Severity::Error, None, "Id".into())),
        "{summary:?}"
    );
    let no_parent = log.iter().find(|e| e.field == "ParentId").unwrap();
    assert!(
        no_parent.to_string().contains("which was not imported"),
        "{no_parent}"
    );
}

fn job_id(job: &Job) -> &JobId {
    &job.id
}

/// The in-memory job store, counting the calls the engine makes, and
/// failing `record_page` on a chosen call as a crash between the sink's
/// write and the job store's record would.
#[derive(Debug, Default)]
struct Hooked {
    inner: InMemoryJobStore,
    resolve: AtomicUsize,
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
    ) -> Result<()> {
        self.inner.set_status(t, j, s, at, m).await
    }
    async fn set_object_state(
        &self,
        t: &TenantId,
        j: &JobId,
        o: &SObject,
        s: ObjectState,
    ) -> Result<()> {
        self.inner.set_object_state(t, j, o, s).await
    }
    async fn record_page(
        &self,
        t: &TenantId,
        j: &JobId,
        o: &SObject,
        p: &PageRecord,
    ) -> Result<()> {
        let call = self.record.fetch_add(1, Ordering::SeqCst) + 1;
        if self.crash_on_record == Some(call) {
            return Err(Error::config(
                "simulated crash after the sink wrote the page",
            ));
        }
        self.inner.record_page(t, j, o, p).await
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
    async fn resolve_ids(&self, t: &TenantId, keys: &[IdKey]) -> Result<HashMap<IdKey, CrmId>> {
        self.resolve.fetch_add(1, Ordering::SeqCst);
        self.inner.resolve_ids(t, keys).await
    }
}

#[tokio::test]
async fn one_id_query_one_write_and_one_record_per_page() {
    let t = tenant();
    let jobs = Arc::new(Hooked::default());
    let source = Arc::new(VecSource::default().with(parent_obj(), parents(10)));
    let mut sink = MockCrmSink::new();
    let mut n = 0;
    sink.expect_write_batch()
        .times(4)
        .returning(move |_, batch| {
            assert!(batch.records.len() <= 3);
            Ok(batch
                .records
                .iter()
                .map(|_| {
                    n += 1;
                    Ok(WriteOutcome::new(
                        CrmId::new(n.to_string()),
                        WriteAction::Created,
                    ))
                })
                .collect())
        });
    let job = importer(source.clone(), Arc::new(sink), jobs.clone())
        .page_size(3)
        .build()
        .unwrap()
        .run(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    assert_eq!(job.imported(), 10);
    assert_eq!(source.fetches.load(Ordering::SeqCst), 4);
    assert_eq!(
        jobs.resolve.load(Ordering::SeqCst),
        4,
        "one id-map query per page"
    );
    assert_eq!(
        jobs.record.load(Ordering::SeqCst),
        4,
        "one progress write per page"
    );
    let p = job.object(&parent_obj()).unwrap();
    assert_eq!(p.total, Some(10));
    assert_eq!(p.checkpoint, Some(id("a01", 10)));
}

#[tokio::test]
async fn pages_are_requested_in_order_with_the_mappers_fields() {
    let t = tenant();
    let mut source = MockSalesforceSource::new();
    let mut seq = Sequence::new();
    let page1 = Page::new(parents(2), Some(Cursor::new("next-1")), Some(3));
    let page2 = Page::new(vec![parents(3).pop().unwrap()], None, Some(3));
    source
        .expect_fetch_page()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|_, r| {
            r.cursor.is_none()
                && r.after.is_none()
                && r.fields == ["Id", "Name", "ParentId", "OtherId"]
                && r.page_size == 2
        })
        .returning(move |_, _| Ok(page1.clone()));
    source
        .expect_fetch_page()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|_, r| r.cursor.as_ref().map(Cursor::as_str) == Some("next-1"))
        .returning(move |_, _| Ok(page2.clone()));
    let job = importer(
        Arc::new(source),
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .page_size(2)
    .build()
    .unwrap()
    .run(&t, ImportRequest::new("ada", [parent_obj()]))
    .await
    .unwrap();
    assert_eq!(job.imported(), 3);
}

#[tokio::test(start_paused = true)]
async fn temporary_failures_are_retried_with_backoff() {
    let t = tenant();
    let mut source = MockSalesforceSource::new();
    let mut seq = Sequence::new();
    source
        .expect_fetch_page()
        .times(2)
        .in_sequence(&mut seq)
        .returning(|_, _| {
            Err(Error::source(
                "HTTP 503",
                std::io::Error::other("unavailable"),
            ))
        });
    source
        .expect_fetch_page()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(Page::last(parents(2))));
    let mut sink = MockCrmSink::new();
    let mut seq2 = Sequence::new();
    sink.expect_write_batch()
        .times(1)
        .in_sequence(&mut seq2)
        .returning(|_, _| {
            Err(Error::store(
                "crm sink",
                "deadlock",
                std::io::Error::other("40P01"),
            ))
        });
    sink.expect_write_batch()
        .times(1)
        .in_sequence(&mut seq2)
        .returning(|_, b| {
            Ok(b.records
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    Ok(WriteOutcome::new(
                        CrmId::new(i.to_string()),
                        WriteAction::Created,
                    ))
                })
                .collect())
        });
    let job = importer(
        Arc::new(source),
        Arc::new(sink),
        Arc::new(InMemoryJobStore::new()),
    )
    .build()
    .unwrap()
    .run(&t, ImportRequest::new("ada", [parent_obj()]))
    .await
    .unwrap();
    assert_eq!((job.status, job.imported()), (JobStatus::Completed, 2));
}

#[tokio::test(start_paused = true)]
async fn retries_run_out_and_the_job_fails_with_the_cause() {
    let t = tenant();
    let mut source = MockSalesforceSource::new();
    source.expect_fetch_page().times(3).returning(|_, _| {
        Err(Error::source(
            "fetching Parent__c",
            std::io::Error::other("connection reset"),
        ))
    });
    let job = importer(
        Arc::new(source),
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .max_attempts(3)
    .build()
    .unwrap()
    .run(&t, ImportRequest::new("ada", [parent_obj()]))
    .await
    .unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let message = job.message.unwrap();
    assert!(
        message.contains("gave up after 3 attempts") && message.contains("connection reset"),
        "{message}"
    );
    assert_eq!(job.objects[0].state, ObjectState::Failed);
}

#[tokio::test]
async fn rate_limit_stops_the_job_keeping_checkpoints_and_resume_finishes_it() {
    let t = tenant();
    let all = parents(5);
    let checkpoint = id("a01", 2);
    let mut source = MockSalesforceSource::new();
    let mut seq = Sequence::new();
    let first = Page::new(all[..2].to_vec(), Some(Cursor::new("c2")), Some(5));
    source
        .expect_fetch_page()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(first.clone()));
    source
        .expect_fetch_page()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| {
            Err(Error::RateLimited {
                message: "TotalRequests Limit exceeded.".into(),
                retry_after: None,
            })
        });
    // The resumed run must start after the checkpoint, with no cursor.
    let rest = Page::last(all[2..].to_vec());
    let cp = checkpoint.clone();
    source
        .expect_fetch_page()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |_, r| r.after.as_ref() == Some(&cp) && r.cursor.is_none())
        .returning(move |_, _| Ok(rest.clone()));

    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = importer(Arc::new(source), sink.clone(), jobs.clone())
        .page_size(2)
        .build()
        .unwrap();
    let job = imp
        .run(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.message
            .as_deref()
            .unwrap()
            .contains("TotalRequests Limit exceeded.")
    );
    assert_eq!(job.objects[0].checkpoint, Some(checkpoint));
    assert_eq!(job.imported(), 2);

    let resumed = imp.resume(&t, &job.id).await.unwrap().wait().await.unwrap();
    assert_eq!(resumed.id, job.id);
    assert_eq!(resumed.status, JobStatus::Completed);
    assert_eq!((resumed.imported(), resumed.objects[0].total), (5, Some(5)));
    assert_eq!(sink.count(&t, &parent_obj()), 5);
    assert!(matches!(
        imp.resume(&t, &job.id).await,
        Err(Error::JobNotResumable {
            status: JobStatus::Completed,
            ..
        })
    ));
}

#[tokio::test]
async fn an_object_missing_from_the_org_does_not_fail_the_job() {
    let t = tenant();
    let mut source = MockSalesforceSource::new();
    source
        .expect_fetch_page()
        .withf(|_, r| r.object == parent_obj())
        .returning(|_, _| Ok(Page::last(parents(1))));
    source
        .expect_fetch_page()
        .withf(|_, r| r.object == child_obj())
        .returning(|_, r| {
            Err(Error::ObjectNotAvailable {
                object: r.object.clone(),
            })
        });
    let job = importer(
        Arc::new(source),
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .build()
    .unwrap()
    .run(&t, ImportRequest::new("ada", [parent_obj(), child_obj()]))
    .await
    .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(
        job.object(&child_obj()).unwrap().state,
        ObjectState::Unavailable
    );
    assert!(job.message.unwrap().contains("Child__c"));
}

#[tokio::test]
async fn a_crash_between_write_and_record_creates_no_duplicates_on_resume() {
    let t = tenant();
    let store = InMemoryJobStore::new();
    let jobs = Arc::new(Hooked {
        inner: store.clone(),
        crash_on_record: Some(2),
        ..Hooked::default()
    });
    let sink = Arc::new(InMemorySink::new());
    let source = Arc::new(VecSource::default().with(parent_obj(), parents(7)));
    let imp = importer(source, sink.clone(), jobs)
        .page_size(3)
        .build()
        .unwrap();
    let job = imp
        .run(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(
        sink.count(&t, &parent_obj()),
        6,
        "page 2 was written, not recorded"
    );
    assert_eq!(job.imported(), 3);

    let done = imp.resume(&t, &job.id).await.unwrap().wait().await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(sink.count(&t, &parent_obj()), 7, "nothing written twice");
    assert_eq!(done.imported(), 7);
    assert_eq!(store.mapping_count(&t), 7);
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

#[tokio::test]
async fn cancel_stops_after_the_page_in_hand() {
    let t = tenant();
    let sink = GatedSink {
        inner: InMemorySink::new(),
        reached: Arc::new(tokio::sync::Notify::new()),
        proceed: Arc::new(Semaphore::new(0)),
    };
    let (memory, reached, proceed) = (
        sink.inner.clone(),
        sink.reached.clone(),
        sink.proceed.clone(),
    );
    let source = Arc::new(VecSource::default().with(parent_obj(), parents(9)));
    let imp = importer(
        source.clone(),
        Arc::new(sink),
        Arc::new(InMemoryJobStore::new()),
    )
    .page_size(3)
    .build()
    .unwrap();
    let handle = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    reached.notified().await; // page 1 is being written
    handle.cancel();
    proceed.add_permits(100);
    let job = handle.wait().await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.objects[0].state, ObjectState::Cancelled);
    assert_eq!(job.imported(), 3);
    assert_eq!(
        memory.count(&t, &parent_obj()),
        3,
        "the prefetched page was not written"
    );
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "page 2 was prefetched, page 3 never asked for"
    );
    assert!(job.completed_at.is_some());
}

#[tokio::test]
async fn one_running_import_per_tenant() {
    let t = tenant();
    let gate = Arc::new(Semaphore::new(0));
    let source = Arc::new(VecSource {
        gate: Some(gate.clone()),
        ..VecSource::default().with(parent_obj(), parents(4))
    });
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = importer(source, Arc::new(InMemorySink::new()), jobs)
        .page_size(2)
        .build()
        .unwrap();
    let running = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    let err = imp
        .start(&t, ImportRequest::new("bob", [parent_obj()]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ImportAlreadyRunning { job, .. } if job == running.job_id()),
        "{err:?}"
    );
    // Another tenant is not affected.
    let other = imp
        .start(&tenant(), ImportRequest::new("eve", [parent_obj()]))
        .await
        .unwrap();
    gate.add_permits(10);
    assert_eq!(running.wait().await.unwrap().status, JobStatus::Completed);
    assert_eq!(other.wait().await.unwrap().status, JobStatus::Completed);
}

#[tokio::test]
async fn a_vault_without_a_connection_refuses_to_start() {
    let imp = importer(
        Arc::new(VecSource::default()),
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .vault(Arc::new(InMemoryTokenVault::new()))
    .build()
    .unwrap();
    let err = imp
        .start(&tenant(), ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err:?}");
}

#[tokio::test]
async fn events_tell_the_whole_story_in_order() {
    let t = tenant();
    let source = Arc::new(VecSource::default().with(parent_obj(), parents(5)));
    let imp = importer(
        source,
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .page_size(2)
    .build()
    .unwrap();
    let mut handle = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    let events: Vec<ProgressEvent> = handle.events().collect().await;
    let job = handle.wait().await.unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            ProgressEvent::JobStarted { .. } => "job".into(),
            ProgressEvent::ObjectStarted { object } => format!("start {object}"),
            ProgressEvent::Page { progress } => format!("page {}", progress.imported),
            ProgressEvent::ObjectFinished { progress } => format!("done {:?}", progress.state),
            ProgressEvent::JobFinished { job } => format!("end {}", job.status),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "job",
            "start Parent__c",
            "page 2",
            "page 4",
            "page 5",
            "done Done",
            "end COMPLETED"
        ]
    );
    assert_eq!(job.started_at, Some(clock()()));
    assert_eq!(job.completed_at, Some(clock()()));
    assert_eq!(job.started_by, "ada");
}

#[tokio::test]
async fn accounts_get_parents_imported_after_them_in_a_second_pass() {
    let t = tenant();
    let acct = |n: usize, parent: Option<usize>| {
        let mut r = rec(&SObject::ACCOUNT, &id("001", n), &format!("A{n}"));
        if let Some(p) = parent {
            r.set("ParentId", id("001", p).as_str());
        }
        r
    };
    // 1 -> 5 (forward), 4 -> 2 (backward), 3 -> 77 (never imported).
    let accounts = vec![
        acct(1, Some(5)),
        acct(2, None),
        acct(3, Some(77)),
        acct(4, Some(2)),
        acct(5, None),
    ];
    let source = Arc::new(VecSource::default().with(SObject::ACCOUNT, accounts));
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let mut handle = Importer::builder(source, sink.clone(), jobs.clone())
        .mappers(Mappers::empty().with(AccountMapper))
        .page_size(2)
        .build()
        .unwrap()
        .start(&t, ImportRequest::new("ada", [SObject::ACCOUNT]))
        .await
        .unwrap();
    let events: Vec<ProgressEvent> = handle.events().collect().await;
    let job = handle.wait().await.unwrap();
    assert_eq!(job.imported(), 5);
    let parent_of = |n: usize| match sink.get(&t, &SObject::ACCOUNT, &id("001", n)).unwrap().1 {
        CrmRecord::Account(a) => a.parent,
        other => panic!("{other:?}"),
    };
    let crm = |n: usize| sink.get(&t, &SObject::ACCOUNT, &id("001", n)).unwrap().0;
    assert_eq!(
        parent_of(1),
        Some(crm(5)),
        "forward reference set by the second pass"
    );
    assert_eq!(
        parent_of(4),
        Some(crm(2)),
        "backward reference set in the first pass"
    );
    assert_eq!(parent_of(3), None);
    assert!(events.contains(&ProgressEvent::Relinked {
        object: SObject::ACCOUNT,
        links: 2
    }));
    let log = jobs.error_log(&t, &job.id, 0, 10).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].severity, log[0].field.as_str()),
        (Severity::Warning, "ParentId")
    );
    assert_eq!(log[0].sf_id, Some(id("001", 3)));
}

#[tokio::test]
async fn a_failed_job_is_not_resumed_while_another_runs() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let mut limited = MockSalesforceSource::new();
    limited.expect_fetch_page().returning(|_, _| {
        Err(Error::RateLimited {
            message: "TotalRequests Limit exceeded.".into(),
            retry_after: None,
        })
    });
    let first = importer(
        Arc::new(limited),
        Arc::new(InMemorySink::new()),
        jobs.clone(),
    )
    .build()
    .unwrap();
    let failed = first
        .run(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    assert_eq!(failed.status, JobStatus::Failed);

    let gate = Arc::new(Semaphore::new(0));
    let source = Arc::new(VecSource {
        gate: Some(gate.clone()),
        ..VecSource::default().with(parent_obj(), parents(4))
    });
    let second = importer(source, Arc::new(InMemorySink::new()), jobs.clone())
        .page_size(2)
        .build()
        .unwrap();
    let running = second
        .start(&t, ImportRequest::new("bob", [parent_obj()]))
        .await
        .unwrap();
    let err = first.resume(&t, &failed.id).await.unwrap_err();
    assert!(
        matches!(&err, Error::ImportAlreadyRunning { job, .. } if job == running.job_id()),
        "{err:?}"
    );
    gate.add_permits(10);
    assert_eq!(running.wait().await.unwrap().status, JobStatus::Completed);
}
