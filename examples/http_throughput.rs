//! Throughput of the REST source over loopback HTTP against the fake org,
//! compared with the same records read straight from memory
//! ([`FileSource`]), in the same run: the ratio is the cost of HTTP, JSON
//! and paging on this machine, with no network latency.
//!
//! ```text
//! cargo run --release --features http --example http_throughput            # 20,000-account org
//! cargo run --release --features http --example http_throughput -- 5000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use salesforce_import::http::{HostPolicy, LoginHost, RestSource, SalesforceOAuth};
use salesforce_import::{
    FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault,
    Result, SObject, SalesforceSource, TenantId, TokenVault,
};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};

const PAGE: usize = 2_000;

async fn import(
    source: Arc<dyn SalesforceSource>,
    vault: Option<Arc<dyn TokenVault>>,
) -> Result<(u64, Duration)> {
    let mut builder = Importer::builder(
        source,
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .page_size(PAGE);
    if let Some(vault) = vault {
        builder = builder.vault(vault);
    }
    let started = Instant::now();
    let job = builder
        .build()?
        .run(
            &TenantId::new("bench"),
            ImportRequest::new("bench", SObject::SELECTABLE),
        )
        .await?;
    Ok((job.total(), started.elapsed()))
}

#[tokio::main]
async fn main() -> Result<()> {
    let size: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of accounts"))
        .unwrap_or(20_000);
    if cfg!(debug_assertions) {
        println!("(debug build: use --release for meaningful figures)\n");
    }
    let org = FakeOrg::generated(7, size);

    // The same records, in memory.
    let mut files = FileSource::new();
    for object in SObject::STANDARD {
        let records = org.records(&object, usize::MAX);
        let json =
            serde_json::json!({"totalSize": records.len(), "done": true, "records": records});
        files = files.add_query_json(&json.to_string())?;
    }

    let fake = FakeSalesforce::builder().org(org).start().await?;
    let vault = Arc::new(InMemoryTokenVault::new());
    let tenant = TenantId::new("bench");
    vault.put(&tenant, &fake.connection("bench")).await?;
    let oauth = Arc::new(
        SalesforceOAuth::builder(
            fake.client_id(),
            fake.client_secret().clone(),
            fake.redirect_uri(),
        )
        // The fake listens on loopback, which only a test allows.
        .login_host(LoginHost::url(fake.login_url()))
        .host_policy(HostPolicy::salesforce().allow_loopback())
        .build(vault.clone())?,
    );
    let rest = RestSource::builder(oauth)
        .api_version(fake.api_version())
        .build()?;

    let (n_files, t_files) = import(Arc::new(files), None).await?;
    let (n_rest, t_rest) = import(Arc::new(rest), Some(vault)).await?;
    assert_eq!(n_files, n_rest, "both imports saw the same org");
    let rate = |n: u64, t: Duration| n as f64 / t.as_secs_f64();
    println!("{n_files} records, {PAGE} a page");
    println!(
        "  FileSource (memory):     {:>9.0} records/s ({t_files:.2?})",
        rate(n_files, t_files)
    );
    println!(
        "  RestSource (loopback):   {:>9.0} records/s ({t_rest:.2?})",
        rate(n_rest, t_rest)
    );
    println!(
        "  REST / files throughput: {:.2}",
        rate(n_rest, t_rest) / rate(n_files, t_files)
    );
    println!("  API calls: {}", fake.api_usage());
    Ok(())
}
