//! Bulk API 2.0 over real loopback HTTP against the fake org: the same org
//! read through Bulk and through REST must give the same CRM, record by
//! record; every Bulk fault (a failed job, a stuck one, an unreadable
//! result set, an object Bulk refuses) falls back or starts again and still
//! ends equal; jobs are deleted once read.

mod support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::compare::{Canonical, canonical};
use salesforce_import::http::RestSource;
use salesforce_import::{
    ImportRequest, Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault, Job, JobStatus,
    JobStore, SObject, Severity, TenantId, TokenVault,
};
use salesforce_import_fake::{Endpoint, FakeOrg, FakeSalesforce};
use serde_json::json;

async fn fake(org: FakeOrg) -> FakeSalesforce {
    FakeSalesforce::builder()
        .org(org)
        .min_batch_size(1)
        .bulk_polls_to_complete(2)
        .start()
        .await
        .unwrap()
}

/// A source over the fake: through Bulk for every object (`threshold`
/// 0), never (`u64::MAX`), or above `threshold` records.
async fn source(
    fake: &FakeSalesforce,
    vault: &Arc<InMemoryTokenVault>,
    threshold: u64,
) -> Arc<RestSource> {
    let oauth = Arc::new(
        support::fake::oauth_builder(fake)
            .build(vault.clone())
            .unwrap(),
    );
    Arc::new(
        RestSource::builder(oauth)
            .api_version(fake.api_version())
            .max_attempts(2)
            .backoff(Duration::from_millis(1), Duration::from_millis(5))
            .bulk_threshold(threshold)
            .bulk_max_records(97)
            .bulk_poll(Duration::from_millis(5), Duration::from_millis(20))
            .bulk_timeout(Duration::from_millis(400))
            .build()
            .unwrap(),
    )
}

/// Imports the whole org into a fresh in-memory CRM.
async fn import(
    fake: &FakeSalesforce,
    tenant: &str,
    threshold: u64,
) -> (Job, Canonical, Arc<InMemoryJobStore>) {
    let vault = Arc::new(InMemoryTokenVault::new());
    let tenant = TenantId::new(tenant);
    vault
        .put(&tenant, &fake.connection("ada@example.com"))
        .await
        .unwrap();
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let importer = Importer::builder(
        source(fake, &vault, threshold).await,
        sink.clone(),
        jobs.clone(),
    )
    .vault(vault)
    .page_size(50)
    // One object at a time: the fake's faults hit "the next jobs", which
    // must be one object's.
    .objects_in_flight(1)
    .build()
    .unwrap();
    let job = importer
        .run(&tenant, ImportRequest::new("ada", SObject::SELECTABLE))
        .await
        .unwrap();
    assert!(
        matches!(
            job.status,
            JobStatus::Completed | JobStatus::CompletedWithErrors
        ),
        "{:?}: {:?}",
        job.status,
        job.message
    );
    (job, canonical(&sink, &tenant), jobs)
}

fn assert_same(bulk: &Canonical, rest: &Canonical) {
    assert_eq!(bulk.len(), rest.len(), "record count");
    for (key, want) in rest {
        assert_eq!(bulk.get(key), Some(want), "{} {}", key.0, key.1);
    }
}

async fn fallbacks(jobs: &InMemoryJobStore, job: &Job) -> Vec<(SObject, String)> {
    jobs.error_log(&job.tenant, &job.id, 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.severity == Severity::Warning && e.message.contains("instead of Bulk API"))
        .map(|e| (e.object, e.message))
        .collect()
}

#[tokio::test]
async fn bulk_and_rest_give_the_same_crm() {
    let fake = fake(FakeOrg::generated_materialized(21, 250)).await;
    let (rest_job, rest, _) = import(&fake, "rest", u64::MAX).await;
    assert_eq!(fake.bulk_jobs_created(), 0, "REST only");
    let rest_served = fake.records_served();
    let (bulk_job, bulk, jobs) = import(&fake, "bulk", 0).await;
    assert_same(&bulk, &rest);
    assert_eq!(
        (bulk_job.imported(), bulk_job.errors()),
        (rest_job.imported(), rest_job.errors())
    );
    assert!(fake.bulk_jobs_created() >= 9, "one job per object at least");
    assert_eq!(fake.bulk_jobs_open(), 0, "every job deleted once read");
    assert_eq!(
        fake.records_served() - rest_served,
        rest_served,
        "Bulk read each record once, as REST did"
    );
    assert!(fallbacks(&jobs, &bulk_job).await.is_empty());
}

#[tokio::test]
async fn the_threshold_decides_from_the_first_rest_page() {
    let fake = fake(FakeOrg::generated_materialized(4, 200)).await;
    let (_, rest, _) = import(&fake, "rest", u64::MAX).await;
    // Contacts (200) are above 120, accounts' pages too; products are not.
    let (job, mixed, jobs) = import(&fake, "mixed", 120).await;
    assert_same(&mixed, &rest);
    assert!(fake.bulk_jobs_created() >= 2, "the large objects by Bulk");
    assert!(
        fake.bulk_jobs_created() < 9,
        "the small ones by REST: {}",
        fake.bulk_jobs_created()
    );
    assert_eq!(fake.bulk_jobs_open(), 0);
    assert!(fallbacks(&jobs, &job).await.is_empty());
}

#[tokio::test]
async fn failed_and_stuck_jobs_are_tried_again_then_rest_takes_over() {
    let fake = fake(FakeOrg::generated_materialized(8, 150)).await;
    let (_, rest, _) = import(&fake, "rest", u64::MAX).await;

    // One failed job: the second job reads the object; no fallback.
    fake.faults().bulk_fail_next_jobs(1);
    let (job, got, jobs) = import(&fake, "one-failure", 0).await;
    assert_same(&got, &rest);
    assert!(fallbacks(&jobs, &job).await.is_empty());

    // Two in a row: that object is read through REST, and the log says why.
    fake.faults().bulk_fail_next_jobs(2);
    let (job, got, jobs) = import(&fake, "two-failures", 0).await;
    assert_same(&got, &rest);
    let fell = fallbacks(&jobs, &job).await;
    assert_eq!(fell.len(), 1, "{fell:?}");
    assert!(fell[0].1.contains("failed"), "{fell:?}");

    // A job stuck in progress past the timeout is aborted and tried again.
    fake.faults().bulk_stick_next_jobs(1);
    let (job, got, jobs) = import(&fake, "stuck", 0).await;
    assert_same(&got, &rest);
    assert!(fallbacks(&jobs, &job).await.is_empty());
    assert_eq!(fake.bulk_jobs_open(), 0, "the stuck job was deleted too");
}

#[tokio::test]
async fn unreadable_result_sets_and_refused_objects_still_end_equal() {
    let fake = fake(FakeOrg::generated_materialized(13, 150)).await;
    let (_, rest, _) = import(&fake, "rest", u64::MAX).await;

    // 412 on a result set: a new job continues after the last record read.
    fake.faults().bulk_results_precondition_failed(1);
    let (job, got, jobs) = import(&fake, "precondition", 0).await;
    assert_same(&got, &rest);
    assert!(fallbacks(&jobs, &job).await.is_empty());

    // An object Bulk API does not support: REST at once, said once.
    fake.faults().clear();
    fake.faults().bulk_refuse_object(SObject::ACCOUNT);
    let (job, got, jobs) = import(&fake, "refused", 0).await;
    assert_same(&got, &rest);
    let fell = fallbacks(&jobs, &job).await;
    assert_eq!(
        fell.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
        [SObject::ACCOUNT],
        "{fell:?}"
    );
    assert_eq!(fake.bulk_jobs_open(), 0);
}

#[tokio::test]
async fn a_sync_through_bulk_reads_deletions_with_query_all() {
    let fake = fake(FakeOrg::generated_materialized(17, 150)).await;
    let vault = Arc::new(InMemoryTokenVault::new());
    let tenant = TenantId::new("acme");
    vault
        .put(&tenant, &fake.connection("ada@example.com"))
        .await
        .unwrap();
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let importer = Importer::builder(source(&fake, &vault, 0).await, sink.clone(), jobs.clone())
        .vault(vault)
        .page_size(50)
        .build()
        .unwrap();
    let request = || ImportRequest::new("ada", SObject::SELECTABLE);
    importer.run(&tenant, request()).await.unwrap();

    let org = fake.org();
    org.advance(Duration::from_secs(3_600));
    let contacts: Vec<_> = org
        .records(&SObject::CONTACT, 30)
        .iter()
        .map(|r| r.id().unwrap())
        .collect();
    for id in contacts.iter().step_by(3) {
        let fields = json!({"Title": "Synced"});
        org.update(&SObject::CONTACT, id, fields.as_object().unwrap().clone())
            .unwrap();
    }
    let account = org.records(&SObject::ACCOUNT, 5)[4].id().unwrap();
    org.delete(&SObject::ACCOUNT, &account).unwrap();

    let sync = importer.run(&tenant, request().sync(true)).await.unwrap();
    assert!(
        matches!(
            sync.status,
            JobStatus::Completed | JobStatus::CompletedWithErrors
        ),
        "{:?}",
        sync.message
    );
    assert!(sync.deleted() >= 1, "{:?}", sync.objects);
    assert!(sync.updated() >= 10, "{:?}", sync.objects);
    assert_eq!(fake.bulk_jobs_open(), 0);

    // The CRM equals the org: live records as a fresh REST import reads
    // them, deleted ones deleted.
    let (_, want, _) = import(&fake, "reference", u64::MAX).await;
    let got = canonical(&sink, &tenant);
    for (key, record) in &want {
        assert_eq!(got.get(key), Some(record), "{} {}", key.0, key.1);
    }
    for (key, (_, deleted)) in &got {
        if !want.contains_key(key) {
            assert!(
                *deleted,
                "{} {} deleted in the org, live in the CRM",
                key.0, key.1
            );
        }
    }
}

/// The in-memory CRM, failing one write of Contact as a database that goes
/// away would.
#[derive(Debug, Default)]
struct FailingSink {
    inner: InMemorySink,
    contact_pages: std::sync::atomic::AtomicU64,
    fail_page: u64,
    /// On this Contact page, every Bulk job of the fake expires.
    expire_on_page: Option<(u64, salesforce_import_fake::Faults)>,
}

#[async_trait::async_trait]
impl salesforce_import::CrmSink for FailingSink {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &salesforce_import::sink::WriteBatch,
    ) -> salesforce_import::Result<
        Vec<Result<salesforce_import::sink::WriteOutcome, salesforce_import::RecordError>>,
    > {
        if batch.object == SObject::CONTACT {
            let n = self
                .contact_pages
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            if let Some((page, faults)) = &self.expire_on_page
                && n == *page
            {
                faults.bulk_expire_jobs();
            }
            if n == self.fail_page {
                return Err(salesforce_import::Error::store(
                    "crm sink",
                    "writing contacts",
                    std::io::Error::other("the CRM database went away"),
                )
                .permanent());
            }
        }
        self.inner.write_batch(tenant, batch).await
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[salesforce_import::sink::Relink],
    ) -> salesforce_import::Result<Vec<Result<(), salesforce_import::RecordError>>> {
        self.inner.relink(tenant, object, links).await
    }
}

#[tokio::test]
async fn a_stopped_bulk_read_resumes_from_the_jobs_locator() {
    let fake = fake(FakeOrg::generated_materialized(23, 200)).await;
    let (_, rest, _) = import(&fake, "rest", u64::MAX).await;

    let vault = Arc::new(InMemoryTokenVault::new());
    let tenant = TenantId::new("resumed");
    vault
        .put(&tenant, &fake.connection("ada@example.com"))
        .await
        .unwrap();
    let sink = Arc::new(FailingSink {
        fail_page: 2,
        ..FailingSink::default()
    });
    let jobs = Arc::new(InMemoryJobStore::new());
    let importer = Importer::builder(source(&fake, &vault, 0).await, sink.clone(), jobs.clone())
        .vault(vault)
        .page_size(50)
        .build()
        .unwrap();
    let stopped = importer
        .run(&tenant, ImportRequest::new("ada", SObject::SELECTABLE))
        .await
        .unwrap();
    assert_eq!(stopped.status, JobStatus::Failed, "{:?}", stopped.message);
    let contact = stopped.object(&SObject::CONTACT).unwrap();
    assert!(
        contact
            .resume_cursor
            .as_deref()
            .is_some_and(|c| c.starts_with("bulk:")),
        "the job's locator is kept with the checkpoint: {contact:?}"
    );
    let contact_queries = || {
        fake.queries()
            .iter()
            .filter(|q| q.contains("FROM Contact"))
            .count()
    };
    let before = contact_queries();

    let resumed = importer
        .resume(&tenant, &stopped.id)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(
        matches!(
            resumed.status,
            JobStatus::Completed | JobStatus::CompletedWithErrors
        ),
        "{:?}",
        resumed.message
    );
    assert_eq!(
        contact_queries(),
        before,
        "the resumed read went on with the job's locator: no new Contact query"
    );
    assert_same(&canonical(&sink.inner, &tenant), &rest);
    assert_eq!(fake.bulk_jobs_open(), 0, "the job was deleted once read");
}

#[tokio::test]
async fn jobs_that_expire_mid_read_are_replaced_after_the_last_record() {
    let fake = fake(FakeOrg::generated_materialized(29, 200)).await;
    let (_, rest, _) = import(&fake, "rest", u64::MAX).await;
    let vault = Arc::new(InMemoryTokenVault::new());
    let tenant = TenantId::new("expiring");
    vault
        .put(&tenant, &fake.connection("ada@example.com"))
        .await
        .unwrap();
    let sink = Arc::new(FailingSink {
        expire_on_page: Some((2, fake.faults().clone())),
        ..FailingSink::default()
    });
    let jobs = Arc::new(InMemoryJobStore::new());
    let job = Importer::builder(source(&fake, &vault, 0).await, sink.clone(), jobs.clone())
        .vault(vault)
        .page_size(50)
        .build()
        .unwrap()
        .run(&tenant, ImportRequest::new("ada", SObject::SELECTABLE))
        .await
        .unwrap();
    assert!(
        matches!(
            job.status,
            JobStatus::Completed | JobStatus::CompletedWithErrors
        ),
        "{:?}",
        job.message
    );
    let contact_jobs = fake
        .requests()
        .iter()
        .filter(|r| {
            r.endpoint == Endpoint::BulkQuery
                && r.method == "POST"
                && r.soql
                    .as_deref()
                    .is_some_and(|q| q.contains("FROM Contact"))
        })
        .count();
    assert_eq!(contact_jobs, 2, "a new job replaced the expired one");
    assert_same(&canonical(&sink.inner, &tenant), &rest);
    assert!(fallbacks(&jobs, &job).await.is_empty());
}

#[tokio::test]
async fn the_api_limit_stops_a_bulk_read_and_a_resume_finishes_it() {
    let fake = fake(FakeOrg::generated_materialized(37, 150)).await;
    let (_, rest, _) = import(&fake, "rest", u64::MAX).await;
    let vault = Arc::new(InMemoryTokenVault::new());
    let tenant = TenantId::new("limited");
    vault
        .put(&tenant, &fake.connection("ada@example.com"))
        .await
        .unwrap();
    let sink = Arc::new(InMemorySink::new());
    let importer = Importer::builder(
        source(&fake, &vault, 0).await,
        sink.clone(),
        Arc::new(InMemoryJobStore::new()),
    )
    .vault(vault)
    .page_size(50)
    .build()
    .unwrap();
    // The allowance runs out in the middle of the Bulk reads: the job
    // stops (no new Bulk job, no fall-back to REST against a spent limit).
    fake.faults().rate_limit_after(12);
    let stopped = importer
        .run(&tenant, ImportRequest::new("ada", SObject::SELECTABLE))
        .await
        .unwrap();
    assert_eq!(stopped.status, JobStatus::Failed, "{:?}", stopped.objects);
    assert!(
        stopped.message.as_deref().unwrap_or("").contains("limit"),
        "{:?}",
        stopped.message
    );
    fake.faults().clear_rate_limit();
    let resumed = importer
        .resume(&tenant, &stopped.id)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(
        matches!(
            resumed.status,
            JobStatus::Completed | JobStatus::CompletedWithErrors
        ),
        "{:?}",
        resumed.message
    );
    assert_same(&canonical(&sink, &tenant), &rest);
}
