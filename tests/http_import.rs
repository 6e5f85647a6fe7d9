//! The REST source end to end, over real loopback HTTP against the test
//! kit's fake org: the whole sample org imported into memory must equal the
//! same org imported from its files, record by record, whatever goes wrong
//! on the way (token expiry, 5xx bursts, connection resets, the rate limit
//! and a resume).

mod support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::sample_manifest::COUNTS;
use futures::StreamExt;
use salesforce_import::crm::CrmRecord;
use salesforce_import::http::RestSource;
use salesforce_import::source::{PageRequest, SalesforceSource};
use salesforce_import::{
    Error, FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault,
    Job, JobStatus, JobStore, ObjectState, ProgressEvent, SObject, Severity, TenantId, TokenVault,
};
use salesforce_import_fake::{Endpoint, Failure, FakeOrg, FakeSalesforce};

const PAGE: usize = 20;

struct World {
    fake: FakeSalesforce,
    vault: Arc<InMemoryTokenVault>,
    sink: Arc<InMemorySink>,
    jobs: Arc<InMemoryJobStore>,
    importer: Importer,
    source: Arc<RestSource>,
    tenant: TenantId,
}

async fn world(org: FakeOrg) -> World {
    let fake = FakeSalesforce::builder()
        .org(org)
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let vault = Arc::new(InMemoryTokenVault::new());
    let tenant = TenantId::new("acme");
    vault
        .put(&tenant, &fake.connection("ada@example.com"))
        .await
        .unwrap();
    let oauth = Arc::new(
        support::fake::oauth_builder(&fake)
            .build(vault.clone())
            .unwrap(),
    );
    let source = Arc::new(
        RestSource::builder(oauth)
            .api_version(fake.api_version())
            .max_attempts(4)
            .backoff(Duration::from_millis(1), Duration::from_millis(10))
            .build()
            .unwrap(),
    );
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let importer = Importer::builder(source.clone(), sink.clone(), jobs.clone())
        .vault(vault.clone())
        .page_size(PAGE) // the engine's default retries: they must not multiply the source's
        // One object at a time: the faults below count calls in order.
        .objects_in_flight(1)
        .build()
        .unwrap();
    World {
        fake,
        vault,
        sink,
        jobs,
        importer,
        source,
        tenant,
    }
}

fn request() -> ImportRequest {
    ImportRequest::new("ada@example.com", SObject::SELECTABLE)
}

type Store = support::compare::Canonical;

/// Every record with every mapped field, lookups spelled as Salesforce
/// ids (CRM ids depend on the order records were written in).
fn store(sink: &InMemorySink, tenant: &TenantId) -> Store {
    support::compare::canonical(sink, tenant)
}

/// The sample org imported straight from its files: what every REST
/// import must equal.
async fn expected() -> Store {
    let sink = Arc::new(InMemorySink::new());
    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        sink.clone(),
        Arc::new(InMemoryJobStore::new()),
    )
    .page_size(PAGE)
    .build()
    .unwrap();
    let tenant = TenantId::new("acme");
    let job = importer.run(&tenant, request()).await.unwrap();
    assert_eq!(
        job.status,
        JobStatus::CompletedWithErrors,
        "{:?}",
        job.message
    );
    store(&sink, &tenant)
}

async fn assert_matches_org(w: &World, job: &Job) {
    let got = store(&w.sink, &w.tenant);
    let want = expected().await;
    assert_eq!(got.len(), want.len(), "record count");
    for (key, record) in &want {
        assert_eq!(got.get(key), Some(record), "{key:?}");
    }
    for (object, _, imported, failed) in COUNTS {
        let p = job.object(&SObject::new(*object)).unwrap();
        assert_eq!(
            (p.imported + p.skipped, p.errors),
            (*imported as u64, *failed as u64),
            "{object}"
        );
    }
    assert_eq!(
        w.jobs.mapping_count(&w.tenant),
        COUNTS.iter().map(|c| c.2).sum::<usize>()
            - w.sink.records(&w.tenant, &SObject::PRICEBOOK_ENTRY).len(),
        "no duplicate mappings"
    );
}

#[tokio::test]
async fn the_sample_org_over_http_equals_the_org() {
    let w = world(FakeOrg::sample()).await;
    let mut handle = w.importer.start(&w.tenant, request()).await.unwrap();
    let events: Vec<ProgressEvent> = handle.events().collect().await;
    let job = handle.wait().await.unwrap();
    assert_eq!(
        job.status,
        JobStatus::CompletedWithErrors,
        "{:?}",
        job.message
    );
    assert_matches_org(&w, &job).await;

    // Paged by the requested batch size, ordered by Id, one describe per object.
    let queries = w.fake.queries();
    assert!(
        queries.iter().all(|q| q.ends_with("ORDER BY Id")),
        "{queries:?}"
    );
    assert!(w.fake.count(Endpoint::QueryMore) > 10);
    assert!(
        w.fake
            .requests()
            .iter()
            .filter_map(|r| r.batch_size)
            .all(|b| b == PAGE as u32)
    );
    // API usage is reported as the import goes.
    let last_usage = events.iter().rev().find_map(|e| match e {
        ProgressEvent::ApiUsage { usage } => Some(*usage),
        _ => None,
    });
    let usage = last_usage.expect("API usage reported");
    assert!(usage.used > 0 && usage.max == 15_000, "{usage:?}");
    assert_eq!(w.fake.refreshes(), 0);
}

#[tokio::test]
async fn a_token_expiring_mid_object_is_refreshed_once_and_stored() {
    let w = world(FakeOrg::sample()).await;
    let before = w.vault.get(&w.tenant).await.unwrap().unwrap();
    // Products (describe + 2 pages) and price book entries (describe + 2
    // pages) take 6 data calls, Account's describe and first page 2 more:
    // the expiry meets Account's second page.
    w.fake.faults().expire_tokens_after(9);
    let job = w.importer.run(&w.tenant, request()).await.unwrap();
    assert_eq!(
        job.status,
        JobStatus::CompletedWithErrors,
        "{:?}",
        job.message
    );
    assert_matches_org(&w, &job).await;
    assert_eq!(w.fake.refreshes(), 1, "one refresh for one expiry");
    let refused: Vec<_> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.status == Some(401))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].endpoint, Endpoint::QueryMore, "mid-object");
    let after = w.vault.get(&w.tenant).await.unwrap().unwrap();
    assert!(after.refreshed_at.is_some());
    use secrecy::ExposeSecret;
    assert_ne!(
        after.access_token.expose_secret(),
        before.access_token.expose_secret()
    );
    assert!(w.fake.is_token_live(after.access_token.expose_secret()));
}

#[tokio::test]
async fn concurrent_requests_share_one_refresh() {
    let w = world(FakeOrg::sample()).await;
    w.fake.faults().expire_tokens_after(0);
    let fields: Vec<String> = ["Id", "Name"].map(String::from).to_vec();
    let requests: Vec<PageRequest> = SObject::SELECTABLE
        .iter()
        .map(|o| PageRequest::new(o.clone(), fields.clone(), 5))
        .collect();
    let pages =
        futures::future::join_all(requests.iter().map(|r| w.source.fetch_page(&w.tenant, r))).await;
    for (r, page) in requests.iter().zip(pages) {
        let page = page.unwrap_or_else(|e| panic!("{}: {e}", r.object));
        assert_eq!(page.records.len(), 5, "{}", r.object);
    }
    assert_eq!(w.fake.refreshes(), 1, "six requests met one expiry");
}

#[tokio::test]
async fn bursts_of_5xx_and_connection_resets_are_retried() {
    let w = world(FakeOrg::sample()).await;
    let faults = w.fake.faults();
    // Three failures in a row on one request (4 attempts allowed), on
    // different endpoints, of every transient kind.
    faults.fail_next_on(Endpoint::QueryMore, 3, Failure::ServiceUnavailable);
    faults.fail_next_on(Endpoint::Query, 2, Failure::ServerError);
    faults.fail_next_on(Endpoint::Describe, 1, Failure::ConnectionReset);
    let job = w.importer.run(&w.tenant, request()).await.unwrap();
    assert_eq!(
        job.status,
        JobStatus::CompletedWithErrors,
        "{:?}",
        job.message
    );
    assert_matches_org(&w, &job).await;
    let failed = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.failure.is_some())
        .count();
    assert_eq!(failed, 6, "every injected fault was met and retried");
}

#[tokio::test]
async fn retries_run_out_with_a_clear_error() {
    let w = world(FakeOrg::sample()).await;
    w.fake
        .faults()
        .fail_next_on(Endpoint::QueryMore, 100, Failure::ServiceUnavailable);
    let job = w.importer.run(&w.tenant, request()).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let message = job.message.unwrap();
    assert!(
        message.contains("gave up after 4 attempts")
            && message.contains("query Product2 (next page)")
            && message.contains("HTTP 503"),
        "{message}"
    );
    // 4 attempts, not 4 x the engine's attempts.
    assert_eq!(
        w.fake
            .requests()
            .iter()
            .filter(|r| r.failure.is_some())
            .count(),
        4
    );
}

#[tokio::test]
async fn the_rate_limit_stops_the_job_and_a_resume_finishes_it() {
    let w = world(FakeOrg::sample()).await;
    w.fake.faults().rate_limit_after(15);
    let job = w.importer.run(&w.tenant, request()).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let message = job.message.clone().unwrap();
    assert!(message.contains("request limit"), "{message}");
    let checkpointed = job
        .objects
        .iter()
        .filter(|o| o.checkpoint.is_some())
        .count();
    assert!(checkpointed > 0, "checkpoints kept: {:?}", job.objects);

    w.fake.faults().clear_rate_limit();
    let resumed = w
        .importer
        .resume(&w.tenant, &job.id)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(
        resumed.status,
        JobStatus::CompletedWithErrors,
        "{:?}",
        resumed.message
    );
    assert_matches_org(&w, &resumed).await;
    // The resume asked for records after the checkpoint.
    assert!(w.fake.queries().iter().any(|q| q.contains("WHERE Id > '")));
}

#[tokio::test]
async fn objects_the_org_lacks_are_not_available_and_the_rest_imports() {
    let org = FakeOrg::sample()
        .without_object(SObject::ORDER)
        .without_object(SObject::ORDER_ITEM)
        .without_object(SObject::QUOTE)
        .without_object(SObject::QUOTE_LINE_ITEM);
    let w = world(org).await;
    let job = w.importer.run(&w.tenant, request()).await.unwrap();
    assert_eq!(
        job.status,
        JobStatus::CompletedWithErrors,
        "{:?}",
        job.message
    );
    for o in [
        SObject::ORDER,
        SObject::ORDER_ITEM,
        SObject::QUOTE,
        SObject::QUOTE_LINE_ITEM,
    ] {
        assert_eq!(
            job.object(&o).unwrap().state,
            ObjectState::Unavailable,
            "{o}"
        );
    }
    let message = job.message.clone().unwrap();
    assert!(
        message.contains("not available in this Salesforce org"),
        "{message}"
    );
    for (object, _, imported, _) in &COUNTS[..5] {
        let o = SObject::new(*object);
        assert_eq!(
            job.object(&o).unwrap().imported,
            *imported as u64,
            "{object}"
        );
    }
}

#[tokio::test]
async fn a_hidden_field_is_left_out_with_a_warning() {
    let org = FakeOrg::sample().hide_field(SObject::ACCOUNT, "Industry");
    let w = world(org).await;
    let job = w
        .importer
        .run(&w.tenant, ImportRequest::new("ada", [SObject::ACCOUNT]))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.message);
    assert_eq!(job.object(&SObject::ACCOUNT).unwrap().imported, 90);
    let queries = w.fake.queries();
    assert!(
        queries.iter().all(|q| !q.contains("Industry")),
        "{queries:?}"
    );
    let log = w.jobs.error_log(&w.tenant, &job.id, 0, 100).await.unwrap();
    let warning = log
        .iter()
        .find(|e| e.field == "Industry")
        .expect("a warning names the field");
    assert_eq!(
        (warning.severity, &warning.sf_id),
        (Severity::Warning, &None)
    );
    assert_eq!(
        warning.to_string(),
        "Account: field Industry: not in this Salesforce org (or hidden from the connected user): not imported"
    );
}

#[tokio::test]
async fn an_html_page_or_cut_json_is_a_clear_error_naming_the_request() {
    for (failure, problem) in [
        (Failure::HtmlBody, "an HTML page instead of JSON"),
        (Failure::TruncatedBody, "JSON cut short"),
    ] {
        let w = world(FakeOrg::sample()).await;
        w.fake.faults().fail_next_on(Endpoint::Query, 1, failure);
        let job = w
            .importer
            .run(&w.tenant, ImportRequest::new("ada", [SObject::ACCOUNT]))
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        let message = job.message.unwrap();
        assert!(
            message.contains("query Account (SELECT Id, Name")
                && message.contains("FROM Account ORDER BY Id)")
                && message.contains(problem),
            "{failure:?}: {message}"
        );
    }
}

#[tokio::test]
async fn no_connection_or_a_revoked_one_stops_cleanly() {
    let w = world(FakeOrg::sample()).await;
    // Refresh token revoked at Salesforce and access token expired.
    let conn = w.vault.get(&w.tenant).await.unwrap().unwrap();
    use secrecy::ExposeSecret;
    reqwest::Client::new()
        .post(format!("{}/services/oauth2/revoke", w.fake.url()))
        .form(&[(
            "token",
            conn.refresh_token.as_ref().unwrap().expose_secret(),
        )])
        .send()
        .await
        .unwrap();
    let job = w
        .importer
        .run(&w.tenant, ImportRequest::new("ada", [SObject::ACCOUNT]))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.message.as_deref().unwrap().contains("session expired"),
        "{:?}",
        job.message
    );
    w.vault.deactivate(&w.tenant).await.unwrap();
    let err = w
        .importer
        .run(&w.tenant, ImportRequest::new("ada", [SObject::ACCOUNT]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err:?}");
}

fn json_fields(pairs: &[(&str, serde_json::Value)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The products (with their prices) an import of `org` gives, and the
/// warnings on `Pricebook2.IsStandard` and the queries it made.
async fn import_products(
    org: FakeOrg,
) -> (
    support::compare::Canonical,
    Vec<salesforce_import::LogEntry>,
    Vec<String>,
) {
    let w = world(org).await;
    // A custom price book with an entry for the first product: not its
    // list price.
    let fake_org = w.fake.org();
    let book = fake_org
        .insert(
            &SObject::new("Pricebook2"),
            json_fields(&[("Name", serde_json::json!("Partner prices"))]),
        )
        .unwrap();
    let product = fake_org.records(&SObject::PRODUCT2, 1)[0].id().unwrap();
    fake_org
        .insert(
            &SObject::PRICEBOOK_ENTRY,
            json_fields(&[
                ("Pricebook2Id", serde_json::json!(book.as_str())),
                ("Product2Id", serde_json::json!(product.as_str())),
                ("UnitPrice", serde_json::json!(1.5)),
                ("IsActive", serde_json::json!(true)),
            ]),
        )
        .unwrap();
    let job = w
        .importer
        .run(&w.tenant, ImportRequest::new("ada", [SObject::PRODUCT2]))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.message);
    let log = w
        .jobs
        .error_log(&w.tenant, &job.id, 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.field == "Pricebook2.IsStandard")
        .collect();
    (
        support::compare::canonical(&w.sink, &w.tenant),
        log,
        w.fake.queries(),
    )
}

#[tokio::test]
async fn without_is_standard_prices_come_from_the_standard_price_books_id_with_a_warning() {
    let (plain, plain_log, _) = import_products(FakeOrg::generated_materialized(5, 40)).await;
    assert!(plain_log.is_empty(), "{plain_log:?}");
    let priced = plain
        .values()
        .filter(|(r, _)| matches!(r, CrmRecord::Product(p) if p.price.is_some()))
        .count();
    assert!(priced > 0, "the org has list prices");

    let org =
        FakeOrg::generated_materialized(5, 40).hide_field(SObject::new("Pricebook2"), "IsStandard");
    let (hidden, log, queries) = import_products(org).await;
    // Record by record the same products, prices included.
    assert_eq!(hidden, plain);
    // Said once, naming what was used.
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].severity, Severity::Warning);
    assert!(
        log[0].message.contains("standard price book's id 01s")
            && log[0].message.contains("queried once"),
        "{}",
        log[0].message
    );
    let lookups: Vec<_> = queries
        .iter()
        .filter(|q| q.contains("FROM Pricebook2 WHERE"))
        .collect();
    assert_eq!(
        lookups,
        ["SELECT Id FROM Pricebook2 WHERE Name = 'Standard Price Book' LIMIT 1"]
    );
}

#[tokio::test]
async fn without_grand_total_a_quote_takes_its_total_price_with_a_warning() {
    let import = |org: FakeOrg| async move {
        let w = world(org).await;
        let job = w
            .importer
            .run(&w.tenant, ImportRequest::new("ada", [SObject::QUOTE]))
            .await
            .unwrap();
        let log = w
            .jobs
            .error_log(&w.tenant, &job.id, 0, 10_000)
            .await
            .unwrap();
        (job, support::compare::canonical(&w.sink, &w.tenant), log)
    };
    let (_, plain, plain_log) = import(FakeOrg::generated_materialized(9, 30)).await;
    assert!(plain_log.iter().all(|e| e.field != "GrandTotal"));
    let totals = plain
        .values()
        .filter(|(r, _)| matches!(r, CrmRecord::Quote(q) if q.total.is_some()))
        .count();
    assert!(totals > 0);

    let org = FakeOrg::generated_materialized(9, 30).hide_field(SObject::QUOTE, "GrandTotal");
    let (job, hidden, log) = import(org).await;
    assert_eq!(hidden, plain, "every total, from TotalPrice");
    let quotes = job.object(&SObject::QUOTE).unwrap();
    let fallbacks: Vec<_> = log
        .iter()
        .filter(|e| e.field == "GrandTotal" && e.sf_id.is_some())
        .collect();
    assert_eq!(fallbacks.len() as u64, quotes.imported);
    assert_eq!(quotes.warnings, quotes.imported);
    assert_eq!(
        fallbacks[0].message,
        "not available: TotalPrice used instead"
    );
}
