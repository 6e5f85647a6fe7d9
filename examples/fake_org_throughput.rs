//! Reads a generated org of 1 000 000 accounts from the test kit's fake
//! Salesforce through REST paging (reqwest, `batchSize=2000`,
//! `nextRecordsUrl`), and reports records per second and the process's
//! resident memory before and after: the fake computes records on the fly,
//! so memory stays flat however large the org.
//!
//! ```text
//! cargo run --release --example fake_org_throughput [accounts]
//! ```

use std::time::Instant;

use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use secrecy::ExposeSecret;
use serde::Deserialize;

/// Resident memory of this process in KiB (Linux), if known.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage {
    total_size: u64,
    next_records_url: Option<String>,
    records: Vec<serde_json::Value>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let accounts: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::generated(2024, accounts))
        .start()
        .await?;
    let (access, _) = fake.issue_tokens();
    let http = reqwest::Client::new();
    let fields = "Id, Name, Phone, Website, Industry, Type, NumberOfEmployees, AnnualRevenue, \
                  CurrencyIsoCode, BillingStreet, BillingCity, BillingState, BillingPostalCode, \
                  BillingCountry, Description, ParentId";
    let soql = format!("SELECT {fields} FROM Account ORDER BY Id");
    let get = |url: String| {
        http.get(url)
            .bearer_auth(access.expose_secret())
            .header("Sforce-Query-Options", "batchSize=2000")
    };

    let rss_before = rss_kib();
    let started = Instant::now();
    let first = format!("{}/services/data/v{}/query", fake.url(), fake.api_version());
    let mut page: QueryPage = get(first)
        .query(&[("q", &soql)])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let total = page.total_size;
    let rss_warm = rss_kib();
    let (mut read, mut pages, mut peak) = (0u64, 0u64, rss_warm.unwrap_or(0));
    loop {
        read += page.records.len() as u64;
        pages += 1;
        if pages % 50 == 0 {
            peak = peak.max(rss_kib().unwrap_or(0));
        }
        let Some(next) = page.next_records_url.take() else {
            break;
        };
        page = get(format!("{}{next}", fake.url()))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
    }
    let elapsed = started.elapsed();
    let rss_after = rss_kib();
    assert_eq!(read, total, "every record read once");
    println!(
        "read {read} generated accounts ({} fields) in {pages} pages in {:.2} s: {:.0} records/s",
        fields.split(',').count(),
        elapsed.as_secs_f64(),
        read as f64 / elapsed.as_secs_f64()
    );
    if let (Some(before), Some(warm), Some(after)) = (rss_before, rss_warm, rss_after) {
        println!(
            "resident memory (server and client in one process): {} MiB before the query, \
             {} MiB after the first page, peak {} MiB, {} MiB after the last page; \
             last/first page {:.2}",
            before / 1024,
            warm / 1024,
            peak.max(after) / 1024,
            after / 1024,
            after as f64 / warm as f64
        );
    }
    Ok(())
}
