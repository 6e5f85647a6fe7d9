//! Several pages of an object in flight: written at once, recorded in
//! page order, and a failure or a cancel leaving every recorded page
//! whole.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::*;
use crate::sink::{Relink, WriteBatch};

/// The in-memory CRM, slower to write the earlier pages (so later pages
/// finish first), counting how many writes run at once, and failing the
/// write of one page.
#[derive(Debug, Default)]
struct Staggered {
    inner: InMemorySink,
    active: AtomicUsize,
    most: AtomicUsize,
    /// Fail (permanently, once) the write of the Parent__c page whose
    /// first record is this one (its number).
    fail_at: Option<usize>,
    failing: AtomicBool,
}

#[async_trait]
impl CrmSink for Staggered {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> Result<Vec<Result<WriteOutcome, RecordError>>> {
        let first: usize = batch.records[0].sf_id.as_str()[3..15].parse().unwrap();
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        // Page 1 waits longest, the later ones less.
        let wait = 60u64.saturating_sub(first as u64 * 2);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        self.active.fetch_sub(1, Ordering::SeqCst);
        if batch.object == parent_obj()
            && self.fail_at == Some(first)
            && !self.failing.swap(true, Ordering::SeqCst)
        {
            return Err(Error::config("the CRM refused the page").permanent());
        }
        self.inner.write_batch(tenant, batch).await
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> Result<Vec<Result<(), RecordError>>> {
        self.inner.relink(tenant, object, links).await
    }
}

fn build(sink: Arc<Staggered>, jobs: Arc<InMemoryJobStore>, records: usize) -> Importer {
    let source = Arc::new(VecSource::default().with(parent_obj(), parents(records)));
    Importer::builder(source, sink, jobs)
        .mappers(test_mappers())
        .clock(clock())
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .page_size(3)
        .pages_in_flight(4)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_written_together_and_recorded_in_order() {
    let t = tenant();
    let sink = Arc::new(Staggered::default());
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = build(sink.clone(), jobs.clone(), 30);
    let mut handle = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    let events: Vec<ProgressEvent> = handle.events().collect().await;
    let job = handle.wait().await.unwrap();
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.message);
    assert_eq!(job.imported(), 30);
    assert_eq!(sink.inner.count(&t, &parent_obj()), 30);
    let most = sink.most.load(Ordering::SeqCst);
    assert!((2..=4).contains(&most), "{most} writes at once");
    // Each page recorded after the one before it: the checkpoints step
    // through the pages in order, never past one not recorded.
    let checkpoints: Vec<SfId> = events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Page { progress } => progress.checkpoint.clone(),
            _ => None,
        })
        .collect();
    let expected: Vec<SfId> = (1..=10).map(|p| id("a01", p * 3)).collect();
    assert_eq!(checkpoints, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_page_keeps_the_pages_before_it_and_a_resume_completes_exactly() {
    let t = tenant();
    // Page 3 (records 7 to 9) fails while later pages are in flight.
    let sink = Arc::new(Staggered {
        fail_at: Some(7),
        ..Staggered::default()
    });
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = build(sink.clone(), jobs.clone(), 30);
    let job = imp
        .run(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.message.as_deref().unwrap().contains("refused the page"));
    // Pages 1 and 2 recorded, nothing after the failed one.
    assert_eq!(job.objects[0].checkpoint, Some(id("a01", 6)));
    assert_eq!(job.imported(), 6);

    let resumed = imp.resume(&t, &job.id).await.unwrap().wait().await.unwrap();
    assert_eq!(
        resumed.status,
        JobStatus::Completed,
        "{:?}",
        resumed.message
    );
    assert_eq!(resumed.imported(), 30, "every record counted once");
    let written = sink.inner.records(&t, &parent_obj());
    assert_eq!(written.len(), 30, "no record twice");
    let names: BTreeSet<String> = written
        .into_iter()
        .map(|(_, _, r)| match r {
            CrmRecord::Custom(c) => c.fields["name"].as_text().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, (1..=30).map(|i| format!("P{i}")).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_records_the_pages_in_flight_and_starts_no_more() {
    let t = tenant();
    let sink = Arc::new(Staggered::default());
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = build(sink.clone(), jobs.clone(), 60);
    let mut handle = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    let mut events = handle.events();
    while let Some(e) = events.next().await {
        if matches!(e, ProgressEvent::Page { .. }) {
            handle.cancel();
            break;
        }
    }
    drop(events);
    let job = handle.wait().await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    let written = sink.inner.count(&t, &parent_obj()) as u64;
    assert!(written < 60, "stopped before the end: {written} written");
    // What was written is what was recorded: nothing behind the checkpoint.
    assert_eq!(job.imported(), written);
    let checkpoint = job.objects[0].checkpoint.clone().unwrap();
    assert_eq!(checkpoint, id("a01", written as usize));
}

/// Pages in flight are 1 to 64, objects in flight 1 to 16.
#[test]
fn in_flight_limits() {
    type Set = fn(ImporterBuilder, usize) -> ImporterBuilder;
    let limits: [(Set, usize); 2] = [
        (ImporterBuilder::pages_in_flight, 64),
        (ImporterBuilder::objects_in_flight, 16),
    ];
    for (set, max) in limits {
        let build = |n: usize| {
            set(
                Importer::builder(
                    Arc::new(VecSource::default()),
                    Arc::new(InMemorySink::new()),
                    Arc::new(InMemoryJobStore::new()),
                ),
                n,
            )
            .build()
        };
        assert!(matches!(build(0), Err(Error::Config { .. })), "{max}");
        assert!(matches!(build(max + 1), Err(Error::Config { .. })), "{max}");
        assert!(build(1).is_ok() && build(max).is_ok(), "{max}");
    }
}

fn other_obj() -> SObject {
    SObject::new("Other__c")
}

/// Parent__c and Other__c (independent) then Child__c (refers to
/// Parent__c), 12 records each, through the staggered sink.
fn three_objects(sink: Arc<Staggered>, jobs: Arc<InMemoryJobStore>) -> Importer {
    let children = (1..=12)
        .map(|i| {
            let mut r = rec(&child_obj(), &id("a02", i), &format!("C{i}"));
            r.set("ParentId", id("a01", i).as_str());
            r
        })
        .collect();
    let others = (1..=12)
        .map(|i| rec(&other_obj(), &id("a03", i), &format!("O{i}")))
        .collect();
    let source = Arc::new(
        VecSource::default()
            .with(parent_obj(), parents(12))
            .with(child_obj(), children)
            .with(other_obj(), others),
    );
    let mappers = test_mappers().with(TestMapper {
        object: other_obj(),
        lookups: vec![],
    });
    Importer::builder(source, sink, jobs)
        .mappers(mappers)
        .clock(clock())
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .page_size(3)
        .objects_in_flight(2)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_objects_run_together_and_a_child_waits_for_its_parent() {
    let t = tenant();
    let sink = Arc::new(Staggered::default());
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = three_objects(sink.clone(), jobs.clone());
    let request = ImportRequest::new("ada", [child_obj(), parent_obj(), other_obj()]);
    let mut handle = imp.start(&t, request).await.unwrap();
    let events: Vec<ProgressEvent> = handle.events().collect().await;
    let job = handle.wait().await.unwrap();
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.message);
    assert_eq!(job.imported(), 36);
    let started = |o: &SObject| {
        events
            .iter()
            .position(|e| matches!(e, ProgressEvent::ObjectStarted { object } if object == o))
            .unwrap()
    };
    let finished = |o: &SObject| {
        events
            .iter()
            .position(|e| matches!(e, ProgressEvent::ObjectFinished { progress } if &progress.object == o))
            .unwrap()
    };
    // Parent__c and Other__c overlap; Child__c starts after Parent__c is done.
    let (p, o, c) = (parent_obj(), other_obj(), child_obj());
    assert!(
        started(&o) < finished(&p) && started(&p) < finished(&o),
        "{events:?}"
    );
    assert!(finished(&p) < started(&c), "{events:?}");
    // Every child linked to its parent: the lookups resolved.
    for (_, _, r) in sink.inner.records(&t, &c) {
        let CrmRecord::Custom(r) = r else { panic!() };
        assert!(r.links.contains_key("parent"), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_object_stops_the_one_beside_it_and_a_resume_finishes_both() {
    let t = tenant();
    // Parent__c's third page fails; Other__c runs beside it.
    let sink = Arc::new(Staggered {
        fail_at: Some(7),
        ..Staggered::default()
    });
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = three_objects(sink.clone(), jobs.clone());
    let request = ImportRequest::new("ada", [child_obj(), parent_obj(), other_obj()]);
    let job = imp.run(&t, request).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.message.as_deref().unwrap().starts_with("Parent__c:"),
        "{:?}",
        job.message
    );
    let state = |o: &SObject| job.object(o).unwrap().state;
    assert_eq!(state(&parent_obj()), ObjectState::Failed);
    assert!(
        matches!(
            state(&other_obj()),
            ObjectState::Cancelled | ObjectState::Done
        ),
        "{:?}",
        state(&other_obj())
    );
    assert_eq!(state(&child_obj()), ObjectState::Pending, "never started");
    assert_eq!(sink.inner.count(&t, &child_obj()), 0);

    let resumed = imp.resume(&t, &job.id).await.unwrap().wait().await.unwrap();
    assert_eq!(
        resumed.status,
        JobStatus::Completed,
        "{:?}",
        resumed.message
    );
    for o in [parent_obj(), other_obj(), child_obj()] {
        assert_eq!(sink.inner.count(&t, &o), 12, "{o}");
        assert_eq!(resumed.object(&o).unwrap().imported, 12, "{o}");
    }
}
