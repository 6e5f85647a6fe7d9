//! The migration lifecycle, measured against the fake org over loopback
//! HTTP, all in one run:
//!
//! 1. **API calls to read a large org**, REST paging (2,000 a page) against
//!    Bulk API 2.0 (50,000 a result set): every object of a generated org
//!    of about `--records` records is read through `RestSource`, nothing
//!    written, and the fake counts the requests.
//! 2. **A sync after 1% changed**, against the full import it follows: a
//!    materialised org of about `--sync-records` records is imported into
//!    the in-memory CRM, 1% of its records change, and a sync brings the
//!    CRM up to date; the two are timed in the same run.
//!
//! ```text
//! cargo run --release --features http --example lifecycle -- --records 1000000 --sync-records 100000
//! ```
//!
//! It ends with one line:
//! `RESULT records=N rest_calls=R bulk_calls=B rest_s=.. bulk_s=.. sync_records=M full_s=.. sync_s=.. sync_ratio=..`

use std::sync::Arc;
use std::time::{Duration, Instant};

use salesforce_import::http::{HostPolicy, LoginHost, RestSource, SalesforceOAuth};
use salesforce_import::mapping::{Mappers, Tables};
use salesforce_import::source::{PageRequest, SalesforceSource};
use salesforce_import::{
    ImportRequest, Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault, SObject, TenantId,
    TokenVault,
};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().expect("a number"))
        .unwrap_or(default)
}

/// About `records` records in all: `generated(size)` makes about four
/// records per account.
fn size_for(records: u64) -> u64 {
    (records / 4).max(10)
}

async fn connected(
    fake: &FakeSalesforce,
    tenant: &TenantId,
) -> (Arc<InMemoryTokenVault>, Arc<SalesforceOAuth>) {
    let vault = Arc::new(InMemoryTokenVault::new());
    vault
        .put(tenant, &fake.connection("bench@example.com"))
        .await
        .expect("store the connection");
    let oauth = SalesforceOAuth::builder(
        fake.client_id(),
        fake.client_secret().clone(),
        fake.redirect_uri(),
    )
    .login_host(LoginHost::url(fake.login_url()))
    .host_policy(HostPolicy::salesforce().allow_loopback())
    .build(vault.clone())
    .expect("an OAuth client");
    (vault, Arc::new(oauth))
}

/// Reads every object through `source`, writing nothing: (records, s).
async fn read_all(source: &RestSource, tenant: &TenantId) -> (u64, f64) {
    let mappers = Mappers::standard();
    let tables = Tables::default();
    let started = Instant::now();
    let mut records = 0;
    for object in SObject::STANDARD {
        let mut fields = mappers.select_fields(&object, &tables);
        fields.push("SystemModstamp".into());
        let request = PageRequest::new(object.clone(), fields, 2_000);
        let mut page = source.fetch_page(tenant, &request).await.expect("a page");
        loop {
            records += page.records.len() as u64;
            let Some(next) = page.next.take() else { break };
            page = source
                .fetch_page(tenant, &request.clone().cursor(Some(next)))
                .await
                .expect("a page");
        }
    }
    (records, started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    let records = arg("--records", 1_000_000);
    let sync_records = arg("--sync-records", 100_000);
    let tenant = TenantId::new("bench");

    // 1. API calls, REST against Bulk, on a generated org (computed as it
    // is served: memory stays flat).
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::generated(7, size_for(records)))
        .start()
        .await
        .expect("the fake org");
    let (_, oauth) = connected(&fake, &tenant).await;
    let rest = RestSource::builder(oauth.clone())
        .api_version(fake.api_version())
        .bulk_threshold(u64::MAX)
        .build()
        .expect("a REST source");
    let before = fake.requests().len();
    let (read, rest_s) = read_all(&rest, &tenant).await;
    let rest_calls = fake.requests().len() - before;
    let bulk = RestSource::builder(oauth)
        .api_version(fake.api_version())
        .bulk_threshold(50_000)
        .bulk_poll(Duration::from_millis(100), Duration::from_secs(1))
        .build()
        .expect("a Bulk source");
    let before = fake.requests().len();
    let (bulk_read, bulk_s) = read_all(&bulk, &tenant).await;
    let bulk_calls = fake.requests().len() - before;
    assert_eq!(read, bulk_read, "both read every record");
    println!("Reading {read} records (9 objects), nothing written:");
    println!("  REST (2,000 a page):          {rest_calls:>6} API calls, {rest_s:>7.2} s");
    println!(
        "  Bulk API 2.0 (above 50,000):  {bulk_calls:>6} API calls, {bulk_s:>7.2} s ({:.1}x fewer calls)",
        rest_calls as f64 / bulk_calls.max(1) as f64
    );
    drop(fake);

    // 2. A sync after 1% changed, against the full import.
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::generated_materialized(11, size_for(sync_records)))
        .start()
        .await
        .expect("the fake org");
    let (vault, oauth) = connected(&fake, &tenant).await;
    let source = Arc::new(
        RestSource::builder(oauth)
            .api_version(fake.api_version())
            .build()
            .expect("a source"),
    );
    let importer = Importer::builder(
        source,
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .vault(vault)
    .build()
    .expect("an importer");
    let started = Instant::now();
    let full = importer
        .run(&tenant, ImportRequest::new("bench", SObject::SELECTABLE))
        .await
        .expect("the import");
    let full_s = started.elapsed().as_secs_f64();
    let total = full.total();

    let org = fake.org();
    org.advance(Duration::from_secs(3_600));
    let mut changed = 0;
    'change: for object in [SObject::CONTACT, SObject::ACCOUNT, SObject::OPPORTUNITY] {
        for r in org.records(&object, usize::MAX) {
            if changed >= total / 100 {
                break 'change;
            }
            let fields = serde_json::json!({"Description": "changed for the sync"});
            org.update(
                &object,
                &r.id().expect("an id"),
                fields.as_object().unwrap().clone(),
            )
            .expect("an update");
            changed += 1;
        }
    }
    let started = Instant::now();
    let sync = importer
        .run(
            &tenant,
            ImportRequest::new("bench", SObject::SELECTABLE).sync(true),
        )
        .await
        .expect("the sync");
    let sync_s = started.elapsed().as_secs_f64();
    println!(
        "\nImport of {total} records into memory: {full_s:.2} s ({:?}).",
        full.status
    );
    println!(
        "Sync after {changed} changed (1%): {sync_s:.2} s ({:?}; {} updated, {} read), {:.1}% of the import.",
        sync.status,
        sync.updated(),
        sync.total(),
        100.0 * sync_s / full_s
    );
    println!(
        "\nRESULT records={read} rest_calls={rest_calls} bulk_calls={bulk_calls} rest_s={rest_s:.2} \
         bulk_s={bulk_s:.2} sync_records={total} full_s={full_s:.2} sync_s={sync_s:.3} \
         sync_ratio={:.4}",
        sync_s / full_s
    );
}
