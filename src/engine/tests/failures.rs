//! Whole jobs meeting failures: retries, rate limits, crashes, cancellation,
//! and the one-running-import rule.

use super::*;

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

#[tokio::test(start_paused = true)]
async fn cancel_during_retry_waits_ends_the_job_at_once() {
    let t = tenant();
    let failed = Arc::new(tokio::sync::Notify::new());
    let told = failed.clone();
    let mut source = MockSalesforceSource::new();
    // Only one attempt: the cancel lands during the wait before the second.
    source.expect_fetch_page().times(1).returning(move |_, _| {
        told.notify_one();
        Err(Error::source(
            "fetching Parent__c",
            std::io::Error::other("connection reset"),
        ))
    });
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = importer(Arc::new(source), Arc::new(InMemorySink::new()), jobs)
        .backoff(Duration::from_secs(20), Duration::from_secs(60))
        .build()
        .unwrap();
    let handle = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    failed.notified().await;
    handle.cancel();
    let job = handle.wait().await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelled, "{:?}", job.message);
    assert_eq!(job.objects[0].state, ObjectState::Cancelled);
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

#[tokio::test]
async fn cancel_stops_after_the_page_in_hand() {
    let t = tenant();
    let g = gated_import(Arc::new(InMemoryJobStore::new()));
    let handle = g
        .imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    g.reached.notified().await; // page 1 is being written
    handle.cancel();
    g.proceed.add_permits(100);
    let job = handle.wait().await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.objects[0].state, ObjectState::Cancelled);
    assert_eq!(job.imported(), 3);
    assert_eq!(
        g.memory.count(&t, &parent_obj()),
        3,
        "the prefetched page was not written"
    );
    assert_eq!(
        g.source.fetches.load(Ordering::SeqCst),
        2,
        "page 2 was prefetched, page 3 never asked for"
    );
    assert!(job.completed_at.is_some());
}

/// An import of 9 records in pages of 3 whose sink pauses on its first
/// write, so a test can act mid-import.
pub(super) struct Gated {
    pub(super) imp: Importer,
    pub(super) source: Arc<VecSource>,
    /// What the sink wrote.
    pub(super) memory: InMemorySink,
    /// Notified when page 1 is being written.
    pub(super) reached: Arc<tokio::sync::Notify>,
    /// Permits for the paused write to go on.
    pub(super) proceed: Arc<Semaphore>,
}

pub(super) fn gated_import(jobs: Arc<InMemoryJobStore>) -> Gated {
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
    let imp = importer(source.clone(), Arc::new(sink), jobs)
        .page_size(3)
        .build()
        .unwrap();
    Gated {
        imp,
        source,
        memory,
        reached,
        proceed,
    }
}

#[tokio::test]
async fn importer_cancel_finds_the_job_by_id_and_tenant() {
    let t = tenant();
    let Gated {
        imp,
        memory,
        reached,
        proceed,
        ..
    } = gated_import(Arc::new(InMemoryJobStore::new()));
    let handle = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    let id = handle.job_id().clone();
    reached.notified().await;
    assert!(
        !imp.cancel(&TenantId::new("someone-else"), &id),
        "another tenant's job"
    );
    assert!(!imp.cancel(&t, &JobId::new("no-such-job")));
    assert!(imp.cancel(&t, &id));
    proceed.add_permits(100);
    let job = handle.wait().await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(memory.count(&t, &parent_obj()), 3);
    assert!(
        !imp.cancel(&t, &id),
        "a finished job is no longer registered"
    );
}

#[tokio::test]
async fn a_job_cancelled_in_the_store_by_another_process_stops() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let Gated {
        imp,
        memory,
        reached,
        proceed,
        ..
    } = gated_import(jobs.clone());
    let handle = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    reached.notified().await;
    // Another server (or an admin after a crash) marks the job cancelled.
    jobs.set_status(
        &t,
        handle.job_id(),
        JobStatus::Cancelled,
        Utc::now(),
        None,
        None,
    )
    .await
    .unwrap();
    proceed.add_permits(100);
    let job = handle.wait().await.unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.objects[0].state, ObjectState::Cancelled);
    assert_eq!(
        memory.count(&t, &parent_obj()),
        3,
        "stopped after the page in hand"
    );
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
