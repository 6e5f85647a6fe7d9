//! Whole jobs against mocks and the in-memory backends.

use super::*;

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
        .run(
            &t,
            ImportRequest::new("ada", [parent_obj()]).mode(WriteMode::SkipExisting),
        )
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
    assert_eq!((job.imported(), job.updated(), job.skipped()), (0, 3, 0));
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
    // Without the id cache, which spares a first import every id query
    // (`lookups_of_what_the_job_recorded_skip_the_store`).
    let job = importer(source.clone(), Arc::new(sink), jobs.clone())
        .page_size(3)
        .id_cache(0)
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
                && r.fields == ["Id", "Name", "ParentId", "OtherId", "SystemModstamp"]
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
        // One page at a time: 4 -> 2 is then set by the first pass.
        .pages_in_flight(1)
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
    // The second pass sets only the reference the first one left (1 -> 5;
    // 3 -> 77 stays unresolved), from memory, without reading again.
    assert!(
        events.contains(&ProgressEvent::Relinked {
            object: SObject::ACCOUNT,
            links: 1
        }),
        "{events:?}"
    );
    let log = jobs.error_log(&t, &job.id, 0, 10).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].severity, log[0].field.as_str()),
        (Severity::Warning, "ParentId")
    );
    assert_eq!(log[0].sf_id, Some(id("001", 3)));
}

#[tokio::test]
async fn query_warnings_are_logged_and_api_usage_is_reported() {
    use crate::error::FieldError;
    use crate::source::ApiUsage;
    let t = tenant();
    let mut source = MockSalesforceSource::new();
    let page = Page::new(parents(2), None, Some(2))
        .with_api_usage(Some(ApiUsage::new(42, 15_000)))
        .with_warnings(vec![FieldError::new("CurrencyIsoCode", Problem::NotInOrg)]);
    source
        .expect_fetch_page()
        .times(1)
        .returning(move |_, _| Ok(page.clone()));
    let jobs = Arc::new(InMemoryJobStore::new());
    let imp = importer(
        Arc::new(source),
        Arc::new(InMemorySink::new()),
        jobs.clone(),
    )
    .build()
    .unwrap();
    let mut handle = imp
        .start(&t, ImportRequest::new("ada", [parent_obj()]))
        .await
        .unwrap();
    let events: Vec<ProgressEvent> = handle.events().collect().await;
    let job = handle.wait().await.unwrap();
    assert!(
        events.contains(&ProgressEvent::ApiUsage {
            usage: ApiUsage::new(42, 15_000)
        }),
        "{events:?}"
    );
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.message);
    let p = job.object(&parent_obj()).unwrap();
    assert_eq!((p.imported, p.warnings, p.errors), (2, 0, 0));
    let log = jobs.error_log(&t, &job.id, 0, 10).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (
            log[0].severity,
            log[0].sf_id.as_ref(),
            log[0].field.as_str()
        ),
        (Severity::Warning, None, "CurrencyIsoCode")
    );
    assert_eq!(
        log[0].to_string(),
        "Parent__c: field CurrencyIsoCode: not in this Salesforce org (or hidden from the connected user): not imported"
    );
}

// ------------------------------------------- re-runs and syncs, with mocks

fn stamped_parents(n: usize, changed: &[usize]) -> Vec<SfRecord> {
    parents(n)
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let stamp = if changed.contains(&(i + 1)) {
                "2026-01-02T00:00:00.000+0000"
            } else {
                "2026-01-01T00:00:00.000+0000"
            };
            r.with("SystemModstamp", stamp)
        })
        .collect()
}

#[tokio::test]
async fn a_re_run_writes_only_what_salesforce_changed_since() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    importer(
        Arc::new(VecSource::default().with(parent_obj(), stamped_parents(5, &[]))),
        Arc::new(InMemorySink::new()),
        jobs.clone(),
    )
    .build()
    .unwrap()
    .run(&t, ImportRequest::new("ada", [parent_obj()]))
    .await
    .unwrap();

    // Records 2 and 4 changed in Salesforce: only they reach the sink, as
    // updates of the records they were imported as.
    let changed = [id("a01", 2), id("a01", 4)];
    let mut mock = MockCrmSink::new();
    mock.expect_write_batch()
        .times(1)
        .withf(move |_, batch| {
            batch.mode == WriteMode::Update
                && batch.records.iter().map(|r| &r.sf_id).eq(changed.iter())
                && batch.records.iter().all(|r| r.existing.is_some())
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
    let job = importer(
        Arc::new(VecSource::default().with(parent_obj(), stamped_parents(5, &[2, 4]))),
        Arc::new(mock),
        jobs.clone(),
    )
    .build()
    .unwrap()
    .run(&t, ImportRequest::new("ada", [parent_obj()]))
    .await
    .unwrap();
    assert_eq!(job.mode, WriteMode::UpdateChanged, "the default");
    assert_eq!(
        (job.imported(), job.updated(), job.skipped(), job.errors()),
        (0, 2, 3, 0)
    );
    let m = jobs
        .resolve_ids(&t, &[(parent_obj(), id("a01", 2))])
        .await
        .unwrap();
    assert_eq!(
        m.values().next().unwrap().modstamp.unwrap().to_rfc3339(),
        "2026-01-02T00:00:00+00:00",
        "the id map keeps the stamp written"
    );
}

#[tokio::test]
async fn a_sync_reads_changes_since_the_watermark_less_the_look_back() {
    let t = tenant();
    let jobs = Arc::new(InMemoryJobStore::new());
    let sink = Arc::new(InMemorySink::new());
    let imp = |source: Arc<dyn SalesforceSource>| {
        importer(source, sink.clone(), jobs.clone())
            .sync_lookback(Duration::from_secs(60))
            .build()
            .unwrap()
    };
    // The first sync has no watermark: it reads everything, in Id order,
    // without deleted rows, and leaves the greatest stamp it read.
    let first = imp(Arc::new(
        VecSource::default().with(parent_obj(), stamped_parents(3, &[3])),
    ))
    .run(&t, ImportRequest::new("ada", [parent_obj()]).sync(true))
    .await
    .unwrap();
    assert!(first.sync);
    assert_eq!(
        first
            .object(&parent_obj())
            .unwrap()
            .watermark
            .unwrap()
            .to_rfc3339(),
        "2026-01-02T00:00:00+00:00"
    );

    let mut source = MockSalesforceSource::new();
    source
        .expect_fetch_page()
        .times(1)
        .withf(|_, r| {
            r.changed_since.map(|s| s.to_rfc3339()).as_deref() == Some("2026-01-01T23:59:00+00:00")
                && r.include_deleted
                && r.fields.iter().any(|f| f == "IsDeleted")
        })
        .returning(|_, _| {
            Ok(Page::last(vec![
                rec(&parent_obj(), &id("a01", 1), "gone")
                    .with("SystemModstamp", "2026-01-03T00:00:00.000+0000")
                    .with("IsDeleted", true),
            ]))
        });
    let job = imp(Arc::new(source))
        .run(&t, ImportRequest::new("ada", [parent_obj()]).sync(true))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.message);
    assert_eq!((job.deleted(), job.imported(), job.updated()), (1, 0, 0));
    let m = jobs
        .resolve_ids(&t, &[(parent_obj(), id("a01", 1))])
        .await
        .unwrap();
    assert!(
        m.values().next().unwrap().deleted,
        "the id map marks it deleted"
    );
    assert_eq!(
        jobs.watermark(&t, &parent_obj())
            .await
            .unwrap()
            .unwrap()
            .to_rfc3339(),
        "2026-01-03T00:00:00+00:00",
        "the watermark moves to what the sync read"
    );
}

#[tokio::test]
async fn a_sync_in_skip_mode_is_refused() {
    let imp = importer(
        Arc::new(VecSource::default()),
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .build()
    .unwrap();
    let err = imp
        .run(
            &tenant(),
            ImportRequest::new("ada", [parent_obj()])
                .sync(true)
                .mode(WriteMode::SkipExisting),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
}

/// Children refer to parents the same job just imported: with the id
/// cache, their pages need not ask the store about them; and on a first
/// import no record's own id is asked either (the store had none of the
/// object, and the run knows what it recorded). Without the cache every
/// key is asked. Both imports end the same, and a second run, which finds
/// the mappings, asks about every record again.
#[tokio::test]
async fn lookups_of_what_the_job_recorded_skip_the_store() {
    let children: Vec<SfRecord> = (1..=12)
        .map(|i| {
            rec(&child_obj(), &id("a02", i), &format!("C{i}"))
                .with("ParentId", id("a01", 1 + i % 10).as_str())
                .with("OtherId", id("a01", 1 + (i + 3) % 10).as_str())
        })
        .collect();
    let asked_of = |jobs: &Hooked| {
        let asked = jobs.asked.lock().unwrap().clone();
        let count = |o: SObject| asked.iter().filter(|(k, _)| *k == o).count();
        (count(parent_obj()), count(child_obj()))
    };
    let mut results = Vec::new();
    for cache in [100_000, 0] {
        let t = tenant();
        let jobs = Arc::new(Hooked::default());
        let sink = Arc::new(InMemorySink::new());
        let source = Arc::new(
            VecSource::default()
                .with(parent_obj(), parents(10))
                .with(child_obj(), children.clone()),
        );
        let importer = importer(source, sink.clone(), jobs.clone())
            .page_size(3)
            .id_cache(cache)
            .build()
            .unwrap();
        let request = ImportRequest::new("ada", [parent_obj(), child_obj()]);
        let job = importer.run(&t, request.clone()).await.unwrap();
        assert_eq!((job.imported(), job.errors()), (22, 0));
        if cache > 0 {
            assert_eq!(asked_of(&jobs), (0, 0), "first import, with the cache");
        } else {
            let (parents_asked, children_asked) = asked_of(&jobs);
            assert_eq!(children_asked, 12);
            assert!(parents_asked > 10, "without the cache: {parents_asked}");
        }
        let written: Vec<(String, Option<String>, Option<String>)> = sink
            .records(&t, &child_obj())
            .into_iter()
            .map(|(sf, _, r)| {
                let link = |slot: &str| {
                    r.link(&Link::Custom(slot.into()))
                        .map(|crm| sink.record(&t, crm).unwrap())
                        .map(|p| match p {
                            CrmRecord::Custom(c) => c.fields["name"].json().to_owned(),
                            other => panic!("{other:?}"),
                        })
                };
                (sf.as_str().to_owned(), link("parent"), link("other"))
            })
            .collect();
        results.push(written);

        // Again, reading everything: every record was imported before,
        // and is found so.
        jobs.asked.lock().unwrap().clear();
        let job = importer
            .run(&t, request.mode(WriteMode::SkipExisting))
            .await
            .unwrap();
        assert_eq!((job.imported(), job.skipped(), job.errors()), (0, 22, 0));
        let (parents_asked, children_asked) = asked_of(&jobs);
        assert_eq!(children_asked, 12, "cache {cache}");
        if cache > 0 {
            // Each parent asked once, by its own page: the children's
            // references are answered by what the store said then.
            assert_eq!(parents_asked, 10, "the store's answers are kept");
        } else {
            assert!(parents_asked > 10, "without the cache: {parents_asked}");
        }
    }
    assert_eq!(results[0].len(), 12);
    assert_eq!(
        results[0], results[1],
        "the same links with and without the cache"
    );
}
