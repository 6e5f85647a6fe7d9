//! Leases: a stranded job is taken over and finished exactly once; a live
//! lease is respected; a stale owner that wakes up after a takeover
//! changes nothing.

use super::failures::gated_import;
use super::*;
use crate::engine::Stranded;
use crate::jobs::NewJob;

/// A clock `secs` after the tests' fixed clock.
fn clock_after(secs: i64) -> Clock {
    let base = (clock())();
    Arc::new(move || base + chrono::Duration::seconds(secs))
}

/// A job of `tenant` over the parent object, created leased to `owner`
/// until `secs` after the tests' clock (negative: already lapsed).
async fn leased_job(jobs: &InMemoryJobStore, tenant: &TenantId, owner: &str, secs: i64) -> Job {
    let now = (clock())();
    let new = NewJob::new(
        tenant.clone(),
        "ada",
        vec![parent_obj()],
        crate::crm::WriteMode::SkipExisting,
        now,
    )
    .leased_to(owner, now + chrono::Duration::seconds(secs));
    jobs.create_job(&new).await.unwrap()
}

/// Every parent of the source, by name, as the CRM holds it.
fn names(sink: &InMemorySink, t: &TenantId) -> Vec<String> {
    let mut names: Vec<String> = (1..=9)
        .filter_map(|i| sink.get(t, &parent_obj(), &id("a01", i)))
        .map(|(_, r)| match r {
            CrmRecord::Custom(c) => c.fields["name"].as_text().unwrap_or_default(),
            other => panic!("{other:?}"),
        })
        .collect();
    names.sort();
    names
}

fn all_names() -> Vec<String> {
    let mut n: Vec<String> = (1..=9).map(|i| format!("P{i}")).collect();
    n.sort();
    n
}

/// A process dies mid-import (its task is aborted between pages, with
/// its lease still held); a later start for the tenant, once the lease
/// lapsed, takes the same job over and finishes it from its checkpoint:
/// every record once, the job's counts whole.
#[tokio::test]
async fn a_stranded_job_is_taken_over_by_the_next_start() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let g = gated_import(jobs.clone());
    let first = g
        .imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    let id = first.job_id().clone();
    g.reached.notified().await; // page 1 is being written
    g.proceed.add_permits(1);
    g.reached.notified().await; // page 1 recorded, page 2 being written
    first.task.abort(); // the process dies here
    let crashed = jobs.job(&t, &id).await.unwrap();
    assert_eq!(crashed.status, JobStatus::InProgress);
    assert_eq!(crashed.imported(), 3);
    let dead_lease = crashed
        .lease
        .clone()
        .expect("still leased to the dead process");
    assert!(
        !crashed.is_stranded((clock())()),
        "its lease has not lapsed yet"
    );

    // Another process, 60 s later: the lease (30 s) has lapsed.
    let later = importer(
        Arc::new(VecSource::default().with(parent_obj(), parents(9))),
        Arc::new(g.memory.clone()),
        jobs.clone(),
    )
    .page_size(3)
    .clock(clock_after(60))
    .owner("process-b")
    .build()
    .unwrap();
    let handle = later
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    assert_eq!(
        handle.job_id(),
        &id,
        "the stranded job is resumed, not a new one started"
    );
    let done = handle.wait().await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.imported(), 9, "3 before the crash, 6 after");
    assert_eq!(names(&g.memory, &t), all_names());
    assert_eq!(
        g.memory.count(&t, &parent_obj()),
        9,
        "nothing written twice"
    );
    assert_eq!(done.lease, None, "finishing released the lease");
    assert_eq!(
        jobs.history(&t, 10).await.unwrap().len(),
        1,
        "one job in the history"
    );
    assert!(dead_lease.token < 2, "the dead owner's token");
}

/// With `Stranded::Report`, a start leaves a stranded job alone and says so.
#[tokio::test]
async fn a_stranded_job_is_reported_when_asked() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let job = leased_job(&jobs, &t, "dead", -1).await;
    let imp = importer(
        Arc::new(VecSource::default().with(parent_obj(), parents(9))),
        Arc::new(InMemorySink::new()),
        jobs.clone(),
    )
    .on_stranded(Stranded::Report)
    .build()
    .unwrap();
    let err = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ImportStranded { job: j, .. } if j == &job.id),
        "{err:?}"
    );
    assert_eq!(
        jobs.job(&t, &job.id).await.unwrap().lease,
        job.lease,
        "left alone"
    );
}

/// A job whose lease another process holds is running there: neither a
/// start nor a resume takes it.
#[tokio::test]
async fn a_live_lease_is_respected() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let job = leased_job(&jobs, &t, "alive", 30).await;
    let imp = importer(
        Arc::new(VecSource::default().with(parent_obj(), parents(9))),
        Arc::new(InMemorySink::new()),
        jobs.clone(),
    )
    .build()
    .unwrap();
    for err in [
        imp.start(&t, ImportRequest::new("ada", [parent_obj()]))
            .await
            .unwrap_err(),
        imp.resume(&t, &job.id).await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::ImportAlreadyRunning { job: j, .. } if j == &job.id),
            "{err:?}"
        );
    }
    assert!(imp.recover().await.unwrap().is_empty(), "nothing stranded");
}

/// A process stalls mid-page past its lease; another takes the job over
/// and finishes it. When the first wakes up, its write to the CRM is
/// idempotent and its page record is refused: the job keeps the new
/// owner's counts, and the first learns it lost the job.
#[tokio::test]
async fn a_stale_owner_changes_nothing_after_a_takeover() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let g = gated_import(jobs.clone());
    let stalled = g
        .imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    let id = stalled.job_id().clone();
    g.reached.notified().await; // page 1 is being written: the process stalls

    let later = importer(
        Arc::new(VecSource::default().with(parent_obj(), parents(9))),
        Arc::new(g.memory.clone()),
        jobs.clone(),
    )
    .page_size(3)
    .clock(clock_after(60))
    .owner("process-b")
    .build()
    .unwrap();
    let done = later.resume(&t, &id).await.unwrap().wait().await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.imported(), 9);

    g.proceed.add_permits(100); // the stalled process wakes up
    let err = stalled.wait().await.unwrap_err();
    assert!(matches!(err, Error::LeaseLost { .. }), "{err:?}");
    let after = jobs.job(&t, &id).await.unwrap();
    assert_eq!(
        after.status,
        JobStatus::Completed,
        "the stale owner changed the status"
    );
    assert_eq!(after.imported(), 9, "the stale owner's page was counted");
    assert_eq!(
        g.memory.count(&t, &parent_obj()),
        9,
        "nothing written twice"
    );
    assert_eq!(names(&g.memory, &t), all_names());
}

/// `recover` takes over every stranded job it can see, and only those.
#[tokio::test]
async fn recover_takes_over_every_stranded_job() {
    let (a, b, c) = (tenant(), tenant(), tenant());
    let jobs = Arc::new(InMemoryJobStore::new());
    let sink = InMemorySink::new();
    let stranded_a = leased_job(&jobs, &a, "dead", -1).await;
    let stranded_b = leased_job(&jobs, &b, "dead", -5).await;
    let live = leased_job(&jobs, &c, "alive", 30).await;
    let imp = importer(
        Arc::new(VecSource::default().with(parent_obj(), parents(9))),
        Arc::new(sink.clone()),
        jobs.clone(),
    )
    .build()
    .unwrap();
    let handles = imp.recover().await.unwrap();
    let mut ids: Vec<JobId> = handles.iter().map(|h| h.job_id().clone()).collect();
    ids.sort();
    let mut want = vec![stranded_a.id.clone(), stranded_b.id.clone()];
    want.sort();
    assert_eq!(ids, want);
    for h in handles {
        assert_eq!(h.wait().await.unwrap().status, JobStatus::Completed);
    }
    assert_eq!(names(&sink, &a), all_names());
    assert_eq!(names(&sink, &b), all_names());
    assert_eq!(
        sink.count(&c, &parent_obj()),
        0,
        "the live job was left to its owner"
    );
    assert_eq!(jobs.job(&c, &live.id).await.unwrap().lease, live.lease);
    assert!(
        imp.recover().await.unwrap().is_empty(),
        "nothing left to recover"
    );
}

#[test]
fn a_heartbeat_as_long_as_the_lease_is_refused() {
    let build = |lease: u64, beat: u64| {
        Importer::builder(
            Arc::new(VecSource::default()),
            Arc::new(InMemorySink::new()),
            Arc::new(InMemoryJobStore::new()),
        )
        .lease(Duration::from_secs(lease), Duration::from_secs(beat))
        .build()
    };
    assert!(matches!(build(30, 30), Err(Error::Config { .. })));
    assert!(matches!(build(30, 0), Err(Error::Config { .. })));
    assert!(build(30, 10).is_ok());
}

/// A sink that moves the clock a minute on after its first write: the
/// process stalled past its lease (the heartbeat could not renew it).
#[derive(Debug)]
struct StallingSink {
    inner: InMemorySink,
    offset: Arc<std::sync::atomic::AtomicI64>,
}

#[async_trait]
impl CrmSink for StallingSink {
    async fn write_batch(
        &self,
        t: &TenantId,
        b: &crate::sink::WriteBatch,
    ) -> Result<Vec<Result<WriteOutcome, RecordError>>> {
        let out = self.inner.write_batch(t, b).await;
        self.offset.fetch_add(60, Ordering::SeqCst);
        out
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

/// Once its lease has run out as last renewed, a process writes nothing
/// more to the CRM (the job store cannot fence those writes): another
/// process may own the job and have written newer values.
#[tokio::test]
async fn a_run_whose_lease_ran_out_writes_nothing_more_to_the_crm() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let offset = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let base = (clock())();
    let clock_offset = offset.clone();
    let sink = StallingSink {
        inner: InMemorySink::new(),
        offset: offset.clone(),
    };
    let memory = sink.inner.clone();
    let imp = importer(
        Arc::new(VecSource::default().with(parent_obj(), parents(9))),
        Arc::new(sink),
        jobs.clone(),
    )
    .page_size(3)
    .clock(Arc::new(move || {
        base + chrono::Duration::seconds(clock_offset.load(Ordering::SeqCst))
    }))
    .build()
    .unwrap();
    let err = imp
        .run(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LeaseLost { .. }), "{err:?}");
    assert_eq!(
        memory.count(&t, &parent_obj()),
        3,
        "only the page written before the stall"
    );
    let job = &jobs.history(&t, 1).await.unwrap()[0];
    assert!(
        job.is_stranded(base + chrono::Duration::seconds(60)),
        "left for another process to take over"
    );
}
