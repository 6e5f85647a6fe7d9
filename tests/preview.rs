//! Preview (a dry run) and the missing-parent report, on the bundled
//! sample org: the preview writes nothing and foretells the run that
//! follows it, object by object; the report names exactly the records whose
//! required parent was absent, and why.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::support::preview::assert_preview_matches;
use crate::support::sample_manifest::FAILURES;
use salesforce_import::jobs::{MissingParents, MissingReason};
use salesforce_import::{
    FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink, JobStore, SObject,
    Severity, SfId, TenantId, WriteMode,
};

struct World {
    sink: Arc<InMemorySink>,
    jobs: Arc<InMemoryJobStore>,
    importer: Importer,
}

fn world() -> World {
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        sink.clone(),
        jobs.clone(),
    )
    .page_size(7)
    .build()
    .unwrap();
    World {
        sink,
        jobs,
        importer,
    }
}

fn id(s: &str) -> SfId {
    SfId::parse(s).unwrap()
}

fn all() -> ImportRequest {
    ImportRequest::new("ada@example.com", SObject::SELECTABLE)
}

async fn assert_nothing_written(w: &World, tenant: &TenantId) {
    for object in SObject::STANDARD {
        assert_eq!(w.sink.count(tenant, &object), 0, "{object} written");
    }
    assert!(w.jobs.history(tenant, 10).await.unwrap().is_empty());
    let keys = [(SObject::ACCOUNT, id("0015g00000000aQAAQ"))];
    assert!(w.jobs.resolve_ids(tenant, &keys).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_preview_writes_nothing_and_foretells_the_import_and_its_rerun() {
    let w = world();
    let t = TenantId::new("acme");
    let preview = w.importer.preview(&t, &all(), 3).await.unwrap();
    assert_nothing_written(&w, &t).await;
    // The sample org's expected failures, the first three in import order.
    assert_eq!(preview.rejected(), FAILURES.len() as u64);
    assert_eq!(preview.rejections.len(), 3);
    let expected: BTreeSet<(String, String, String)> = FAILURES
        .iter()
        .map(|(o, i, f, _)| (o.to_string(), i.to_string(), f.to_string()))
        .collect();
    for r in &preview.rejections {
        let key = (
            r.object.to_string(),
            r.sf_id.as_ref().unwrap().to_string(),
            r.field.clone(),
        );
        assert!(
            expected.contains(&key),
            "{key:?} is not an expected failure"
        );
        assert_eq!(r.severity, Severity::Error);
        assert!(!r.message.is_empty());
    }

    let job = w.importer.run(&t, all()).await.unwrap();
    assert_preview_matches(&preview, &job);
    // The run's first errors are the preview's rejections, in order.
    let errors: Vec<_> = w
        .jobs
        .error_log(&t, &job.id, 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.severity == Severity::Error)
        .take(3)
        .map(|e| (e.object, e.sf_id, e.field))
        .collect();
    let foretold: Vec<_> = preview
        .rejections
        .iter()
        .map(|e| (e.object.clone(), e.sf_id.clone(), e.field.clone()))
        .collect();
    assert_eq!(errors, foretold);

    // A re-run: every record is known; nothing is created.
    for mode in [
        WriteMode::UpdateChanged,
        WriteMode::Update,
        WriteMode::SkipExisting,
    ] {
        let again = all().mode(mode);
        let preview = w.importer.preview(&t, &again, 3).await.unwrap();
        assert!(
            preview.objects.iter().all(|o| o.create == 0),
            "{mode:?}: {preview:?}"
        );
        let job = w.importer.run(&t, again).await.unwrap();
        assert_preview_matches(&preview, &job);
    }
}

#[tokio::test]
async fn a_preview_resolves_lookups_to_records_it_would_create_and_not_to_unselected_objects() {
    let w = world();
    let t = TenantId::new("partial");
    // Orders alone (their items come along): every order needs an Account,
    // which is neither selected nor in the CRM, and every item its order.
    let request = ImportRequest::new("ada@example.com", [SObject::ORDER]);
    let preview = w.importer.preview(&t, &request, 1_000).await.unwrap();
    let orders = preview.object(&SObject::ORDER).unwrap();
    let items = preview.object(&SObject::ORDER_ITEM).unwrap();
    assert_eq!((orders.create, orders.reject), (0, orders.read));
    assert_eq!((items.create, items.reject), (0, items.read));
    assert!(orders.read > 0 && items.read > 0);
    let job = w.importer.run(&t, request).await.unwrap();
    assert_preview_matches(&preview, &job);

    let report = w.importer.missing_parents(&t, &job.id).await.unwrap();
    assert_eq!(report.records() as u64, orders.read + items.read);
    for g in report.groups() {
        let expected = if g.object == SObject::ORDER {
            ("AccountId", SObject::ACCOUNT, MissingReason::NotSelected)
        } else {
            ("OrderId", SObject::ORDER, MissingReason::Failed)
        };
        assert_eq!(
            (g.field.as_str(), g.parent_object.clone(), g.reason),
            expected
        );
    }
    // The rejections the preview listed are the report's records.
    let rejected: BTreeSet<SfId> = preview
        .rejections
        .iter()
        .filter_map(|r| r.sf_id.clone())
        .collect();
    let reported: BTreeSet<SfId> = report
        .groups()
        .iter()
        .flat_map(|g| g.records.iter().cloned())
        .collect();
    assert_eq!(rejected, reported);

    // Then with their accounts: the preview resolves lookups to accounts
    // and orders it would create itself, as the run does.
    let t = TenantId::new("whole");
    let request = ImportRequest::new("ada@example.com", [SObject::ACCOUNT, SObject::ORDER]);
    let preview = w.importer.preview(&t, &request, 10).await.unwrap();
    assert_eq!(preview.object(&SObject::ORDER).unwrap().reject, 1);
    assert_eq!(preview.object(&SObject::ORDER_ITEM).unwrap().reject, 2);
    let job = w.importer.run(&t, request).await.unwrap();
    assert_preview_matches(&preview, &job);
}

#[tokio::test]
async fn the_missing_parent_report_lists_exactly_the_records_whose_parent_was_absent() {
    let w = world();
    let t = TenantId::new("acme");
    let job = w.importer.run(&t, all()).await.unwrap();
    let report = w.importer.missing_parents(&t, &job.id).await.unwrap();
    let rows: Vec<_> = report
        .groups()
        .iter()
        .map(|g| {
            (
                g.object.to_string(),
                g.field.clone(),
                g.parent_object.to_string(),
                g.parent_id.to_string(),
                g.reason,
                g.records.iter().map(SfId::to_string).collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "Order".to_owned(),
                "AccountId".to_owned(),
                "Account".to_owned(),
                "0015g00000ZZZZZAA5".to_owned(),
                MissingReason::NotFound,
                vec!["8015g00000000YdAAI".to_owned()],
            ),
            (
                "OrderItem".to_owned(),
                "OrderId".to_owned(),
                "Order".to_owned(),
                "8015g00000000YdAAI".to_owned(),
                MissingReason::Failed,
                vec![
                    "8025g00000000zUAAQ".to_owned(),
                    "8025g0000000105AAA".to_owned()
                ],
            ),
        ]
    );
    let mut csv = Vec::new();
    report.write_csv(&mut csv).unwrap();
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "object,sf_id,field,parent_object,parent_id,reason\n\
         Order,8015g00000000YdAAI,AccountId,Account,0015g00000ZZZZZAA5,not_found\n\
         OrderItem,8025g00000000zUAAQ,OrderId,Order,8015g00000000YdAAI,failed\n\
         OrderItem,8025g0000000105AAA,OrderId,Order,8015g00000000YdAAI,failed\n"
    );
    // The same from the job's log directly.
    let log = w.jobs.error_log(&t, &job.id, 0, 10_000).await.unwrap();
    assert_eq!(MissingParents::from_log(&job, log), report);
}
