//! End-to-end throughput and memory of the engine on a generated org.
//!
//! ```text
//! cargo run --release --example throughput            # 50,000 and 200,000 accounts
//! cargo run --release --example throughput -- 100000  # 100,000 and 400,000
//! ```
//!
//! Two measurements, each at N and 4N records in the same run, reported as
//! ratios:
//! 1. engine only: accounts generated page by page and written to a sink
//!    that keeps nothing, with a job store that keeps no id map. Peak memory
//!    should not grow with the org: only one page is held at a time.
//! 2. with lookups: accounts then contacts (each contact looks up its
//!    account), into the in-memory CRM and job store, which keep everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use salesforce_import::jobs::{IdKey, IdMapping, Lease, NewJob, PageRecord};
use salesforce_import::sink::{Relink, WriteAction, WriteBatch, WriteOutcome};
use salesforce_import::source::{Cursor, Page, PageRequest};
use salesforce_import::{
    CrmId, CrmSink, ImportRequest, Importer, InMemoryJobStore, InMemorySink, Job, JobId, JobStatus,
    JobStore, LogEntry, ObjectState, RecordError, Result, SObject, SalesforceSource, SfId,
    SfRecord, TenantId,
};

/// Generates `accounts` accounts and as many contacts, on demand, in Id order.
#[derive(Debug)]
struct GeneratedOrg {
    accounts: u64,
    contacts: u64,
}

const COUNTRIES: [&str; 6] = [
    "United States",
    "USA",
    "U.S.",
    "Deutschland",
    "UK",
    "France",
];

fn sf_id(prefix: &str, n: u64) -> SfId {
    SfId::parse(&format!("{prefix}{n:011}")).expect("generated ids are valid")
}

impl GeneratedOrg {
    fn record(&self, object: &SObject, n: u64) -> SfRecord {
        if object == &SObject::ACCOUNT {
            SfRecord::new(SObject::ACCOUNT)
                .with("Id", sf_id("001G", n).as_str())
                .with("Name", format!("Account {n}"))
                .with("Phone", format!("+1 555 {:07}", n % 10_000_000))
                .with("BillingCity", "Springfield")
                .with("BillingCountry", COUNTRIES[(n % 6) as usize])
                .with("AnnualRevenue", format!("{}.{:02}", n * 1000, n % 100))
                .with("NumberOfEmployees", n % 5000)
        } else {
            SfRecord::new(SObject::CONTACT)
                .with("Id", sf_id("003G", n).as_str())
                .with("FirstName", "Ada")
                .with("LastName", format!("Contact {n}"))
                .with("Email", format!("c{n}@example.com"))
                .with("AccountId", sf_id("001G", (n % self.accounts) + 1).as_str())
        }
    }
}

#[async_trait]
impl SalesforceSource for GeneratedOrg {
    async fn fetch_page(&self, _tenant: &TenantId, req: &PageRequest) -> Result<Page> {
        let (prefix, count) = match req.object.as_str() {
            "Account" => ("001G", self.accounts),
            "Contact" => ("003G", self.contacts),
            _ => return Ok(Page::last(vec![])),
        };
        let after = req.after.as_ref().map_or(0, |id| {
            id.to_15()[prefix.len()..]
                .parse::<u64>()
                .expect("a generated id")
        });
        let start = req
            .cursor
            .as_ref()
            .map_or(after + 1, |c| c.as_str().parse().expect("our cursor"));
        let end = (start + req.page_size as u64).min(count + 1);
        let records = (start..end).map(|n| self.record(&req.object, n)).collect();
        let next = (end <= count).then(|| Cursor::new(end.to_string()));
        Ok(Page::new(records, next, Some(count - after)))
    }
}

/// A CRM that keeps nothing: what the engine costs by itself.
#[derive(Debug, Default)]
struct Discard(AtomicU64);

#[async_trait]
impl CrmSink for Discard {
    async fn write_batch(
        &self,
        _: &TenantId,
        batch: &WriteBatch,
    ) -> Result<Vec<std::result::Result<WriteOutcome, RecordError>>> {
        Ok(batch
            .records
            .iter()
            .map(|_| {
                let id = self.0.fetch_add(1, Ordering::Relaxed);
                Ok(WriteOutcome::new(
                    CrmId::new(id.to_string()),
                    WriteAction::Created,
                ))
            })
            .collect())
    }
    async fn relink(
        &self,
        _: &TenantId,
        _: &SObject,
        links: &[Relink],
    ) -> Result<Vec<std::result::Result<(), RecordError>>> {
        Ok(links.iter().map(|_| Ok(())).collect())
    }
}

/// The in-memory job store without its id map.
#[derive(Debug, Default)]
struct NoIdMap(InMemoryJobStore);

#[async_trait]
impl JobStore for NoIdMap {
    async fn create_job(&self, new: &NewJob) -> Result<Job> {
        self.0.create_job(new).await
    }
    async fn job(&self, t: &TenantId, j: &JobId) -> Result<Job> {
        self.0.job(t, j).await
    }
    async fn history(&self, t: &TenantId, limit: usize) -> Result<Vec<Job>> {
        self.0.history(t, limit).await
    }
    async fn set_status(
        &self,
        t: &TenantId,
        j: &JobId,
        s: JobStatus,
        at: chrono::DateTime<chrono::Utc>,
        m: Option<String>,
        lease: Option<&Lease>,
    ) -> Result<()> {
        self.0.set_status(t, j, s, at, m, lease).await
    }
    async fn set_object_state(
        &self,
        t: &TenantId,
        j: &JobId,
        o: &SObject,
        s: ObjectState,
        lease: Option<&Lease>,
    ) -> Result<()> {
        self.0.set_object_state(t, j, o, s, lease).await
    }
    async fn record_page(
        &self,
        t: &TenantId,
        j: &JobId,
        o: &SObject,
        p: &PageRecord,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut p = p.clone();
        p.mappings.clear();
        self.0.record_page(t, j, o, &p, lease).await
    }
    async fn acquire_lease(
        &self,
        t: &TenantId,
        j: &JobId,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Lease>> {
        self.0.acquire_lease(t, j, owner, now, until).await
    }
    async fn renew_lease(
        &self,
        t: &TenantId,
        j: &JobId,
        lease: &Lease,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Lease> {
        self.0.renew_lease(t, j, lease, until).await
    }
    async fn stranded_jobs(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<Job>> {
        self.0.stranded_jobs(now, limit).await
    }
    async fn error_log(
        &self,
        t: &TenantId,
        j: &JobId,
        off: usize,
        lim: usize,
    ) -> Result<Vec<LogEntry>> {
        self.0.error_log(t, j, off, lim).await
    }
    async fn resolve_ids(&self, _: &TenantId, _: &[IdKey]) -> Result<HashMap<IdKey, IdMapping>> {
        Ok(HashMap::new())
    }
    async fn watermark(
        &self,
        _: &TenantId,
        _: &SObject,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        Ok(None)
    }
}

/// Peak resident memory in KiB since the last reset (Linux); 0 elsewhere.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn reset_peak_rss() {
    // Writing 5 resets VmHWM to the current RSS (Linux 4.0+).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Measured {
    records: u64,
    seconds: f64,
    peak_kib: u64,
}

async fn measure(accounts: u64, with_lookups: bool) -> Measured {
    reset_peak_rss();
    let contacts = if with_lookups { accounts } else { 0 };
    let source = Arc::new(GeneratedOrg { accounts, contacts });
    let (sink, jobs): (Arc<dyn CrmSink>, Arc<dyn JobStore>) = if with_lookups {
        (
            Arc::new(InMemorySink::new()),
            Arc::new(InMemoryJobStore::new()),
        )
    } else {
        (Arc::new(Discard::default()), Arc::new(NoIdMap::default()))
    };
    let importer = Importer::builder(source, sink, jobs)
        .page_size(2_000)
        .build()
        .expect("valid configuration");
    let objects = if with_lookups {
        vec![SObject::ACCOUNT, SObject::CONTACT]
    } else {
        vec![SObject::ACCOUNT]
    };
    let started = Instant::now();
    let job = importer
        .run(
            &TenantId::new("bench"),
            ImportRequest::new("bench", objects),
        )
        .await
        .expect("the import runs");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.message);
    assert_eq!(job.imported(), accounts + contacts);
    Measured {
        records: job.imported(),
        seconds,
        peak_kib: peak_rss_kib(),
    }
}

fn report(name: &str, small: &Measured, large: &Measured) {
    let rate = |m: &Measured| m.records as f64 / m.seconds;
    println!("{name}");
    for m in [small, large] {
        println!(
            "  {:>9} records: {:>7.2} s, {:>9.0} records/s, peak RSS {:>7} KiB",
            m.records,
            m.seconds,
            rate(m),
            m.peak_kib
        );
    }
    println!(
        "  4x the records: {:.2}x the time, {:.2}x the rate, {:.2}x the peak memory",
        large.seconds / small.seconds,
        rate(large) / rate(small),
        large.peak_kib as f64 / small.peak_kib.max(1) as f64
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of accounts"))
        .unwrap_or(50_000);
    if cfg!(debug_assertions) {
        println!("(debug build: use --release for meaningful figures)\n");
    }
    let small = measure(n, false).await;
    let large = measure(4 * n, false).await;
    report("engine only (accounts; nothing kept):", &small, &large);
    let small = measure(n, true).await;
    let large = measure(4 * n, true).await;
    report(
        "accounts + contacts with lookups, into the in-memory CRM:",
        &small,
        &large,
    );
}
