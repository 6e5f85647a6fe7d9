//! One command that measures an import end to end against its physical
//! floors, on a generated org served by the fake Salesforce over loopback.
//!
//! ```text
//! export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo run --release --features http,postgres --example benchmark -- --records 1000000
//! ```
//!
//! Flags: `--records N` (default 100,000; about N records over the nine
//! objects, in the proportions of `FakeOrg::generated`), `--page-size`
//! (2,000), `--latency-ms` (300, for the latency run), `--runs` (1: the
//! median of that many runs of each timed phase), `--seed-records` (5,000:
//! the org the per-record baseline runs on), `--skip a,b` (phases to leave
//! out: `fetch`, `copy`, `pg`, `mem`, `seed`, `small`, `latency`).
//!
//! The org is served by this process; every phase runs in a child process
//! of the same binary (so each phase's peak resident memory, `VmHWM`, is
//! its own, and the fake's memory is in none of them):
//!
//! - `fetch`: every object read through `RestSource`, page by page, parsed
//!   and dropped: the source's floor.
//! - `copy`: the same records read and mapped (not timed), then `COPY ...
//!   FROM STDIN` (text format, one statement per table) into the reference
//!   CRM tables, with their indexes and constraints, in a fresh schema: the
//!   database's floor. The id map's rows are copied after, timed apart.
//! - `pg`: the import into `PgCrmSink` and `PgJobStore` in a fresh schema.
//! - `mem`: the import into `InMemorySink` and `InMemoryJobStore`.
//! - `seed`: the seed plan's algorithm, one id-map lookup and one `INSERT`
//!   (the CRM row and its id mapping) per record, on a smaller org; its
//!   per-record rate does not depend on the org's size, so it is compared
//!   as a rate.
//! - `small`: the `pg` import of an org a tenth the size (peak memory).
//! - `latency`: the fake adds `--latency-ms` to every response; the fetch
//!   of every object, then the import into memory.
//!
//! Where the import's time goes comes from wrappers around the source, the
//! sink, the job store and the mappers that time every call (the engine has
//! no timings of its own). The table ends with one line:
//! `RESULT records=N import_s=X fetch_s=Y copy_s=Z floor_ratio=R seed_ratio=S
//! mem_rate=M mem_bytes_per_record=B rss_mb=A rss_small_mb=A0 api_calls=C
//! api_min=D latency_ratio=L`.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use salesforce_import::crm::{Address, CrmRecord};
use salesforce_import::http::{HostPolicy, LoginHost, RestSource, SalesforceOAuth};
use salesforce_import::jobs::{IdKey, IdMapping, Lease, NewJob, PageRecord};
use salesforce_import::mapping::{LookupSpec, Mapped, Mapper, Mappers, Requirement, Tables};
use salesforce_import::postgres::{self, PgCrmSink, PgJobStore};
use salesforce_import::sink::{Deletion, Relink, WriteBatch, WriteOutcome};
use salesforce_import::source::{Page, PageRequest};
use salesforce_import::{
    Connection, CrmId, CrmSink, ImportRequest, Importer, InMemoryJobStore, InMemorySink,
    InMemoryTokenVault, Job, JobId, JobStatus, JobStore, LogEntry, ObjectState, RecordError,
    Result, SObject, SalesforceSource, SfId, SfRecord, TenantId, TokenVault,
};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Uuid;
use sqlx::{AssertSqlSafe, PgPool};

const PHASES: [&str; 7] = ["fetch", "copy", "pg", "mem", "seed", "small", "latency"];
/// The line a child prints its report on.
const REPORT: &str = "BENCH_REPORT ";

// ---------------------------------------------------------------- arguments

#[derive(Debug, Clone)]
struct Args {
    records: u64,
    page_size: usize,
    latency_ms: u64,
    runs: usize,
    seed_records: u64,
    /// `ImporterBuilder::pages_in_flight` (0: the default).
    pages_in_flight: usize,
    /// `ImporterBuilder::objects_in_flight` (0: the default).
    objects_in_flight: usize,
    /// `ImporterBuilder::id_cache` (none: the default).
    id_cache: Option<usize>,
    skip: Vec<String>,
}

impl Args {
    fn parse() -> Args {
        let argv: Vec<String> = std::env::args().collect();
        let value = |name: &str| {
            argv.iter()
                .position(|a| a == name)
                .and_then(|i| argv.get(i + 1))
                .cloned()
        };
        let number = |name: &str, default: u64| {
            value(name)
                .map(|v| v.replace(['_', ','], "").parse().expect("a number"))
                .unwrap_or(default)
        };
        let skip: Vec<String> = value("--skip")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default();
        for s in &skip {
            assert!(
                PHASES.contains(&s.as_str()),
                "--skip {s}: one of {PHASES:?}"
            );
        }
        Args {
            records: number("--records", 100_000),
            page_size: number("--page-size", 2_000) as usize,
            latency_ms: number("--latency-ms", 300),
            runs: number("--runs", 1).max(1) as usize,
            seed_records: number("--seed-records", 5_000),
            pages_in_flight: number("--pages-in-flight", 0) as usize,
            objects_in_flight: number("--objects-in-flight", 0) as usize,
            id_cache: value("--id-cache").map(|_| number("--id-cache", 0) as usize),
            skip,
        }
    }

    fn runs(&self, phase: &str) -> bool {
        !self.skip.iter().any(|s| s == phase)
    }
}

/// `FakeOrg::generated(_, size)` has about four records per account.
fn size_for(records: u64) -> u64 {
    (records / 4).max(10)
}

// ------------------------------------------------------------------ reports

/// Where one object's time went in one phase. Times are seconds of wall
/// time spent inside each call (busy time).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ObjectTimes {
    object: String,
    records: u64,
    pages: u64,
    /// From the object's start to its end (an import), or its read (fetch).
    wall: f64,
    fetch: f64,
    map: f64,
    resolve: f64,
    write: f64,
    progress: f64,
    relink: f64,
    admin: f64,
    copy: f64,
}

/// What a child reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PhaseReport {
    phase: String,
    records: u64,
    /// The phase's timed part.
    secs: f64,
    /// Work before the timed part (the COPY's read and map, the schema).
    prepare_secs: f64,
    /// COPY of the id map's rows (copy phase).
    idmap_copy_secs: f64,
    /// Peak resident memory of the child (VmHWM), KiB.
    hwm_kb: u64,
    /// CPU time of the child, user and system, over the whole phase
    /// (setup included): steadier than wall time on a shared machine.
    #[serde(default)]
    cpu_secs: f64,
    /// Resident memory held after the import, less before (memory phase).
    held_kb: i64,
    failed: u64,
    status: String,
    objects: Vec<ObjectTimes>,
    /// Calls to the job store that belong to no object (jobs, leases).
    job_admin: f64,
    /// The latency run: the fetch of every object first, then the import.
    fetch_objects: Vec<ObjectTimes>,
    #[serde(default)]
    api_calls: u64,
    #[serde(default)]
    api_by_endpoint: Vec<(String, usize)>,
}

// --------------------------------------------------------------- /proc

fn proc_status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// This process's CPU time so far, user and system, in seconds
/// (`/proc/self/stat` counts it in USER_HZ ticks, 100 a second on Linux).
fn proc_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command name, which is in parentheses.
            let rest = &s[s.rfind(')')? + 2..];
            let mut f = rest.split_whitespace().skip(11);
            let user: u64 = f.next()?.parse().ok()?;
            let system: u64 = f.next()?.parse().ok()?;
            Some((user + system) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0.0, |kb| kb as f64 / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {mem_gb:.0} GB RAM")
}

// ------------------------------------------------------- timing wrappers

#[derive(Debug, Clone, Copy)]
enum Part {
    Fetch,
    Resolve,
    Write,
    Progress,
    Relink,
    Admin,
}

#[derive(Debug, Default)]
struct TimelineState {
    objects: Vec<ObjectTimes>,
    current: Option<String>,
    started: HashMap<String, Instant>,
    job_admin: f64,
}

/// Every timed call of one import, by object.
#[derive(Debug, Default)]
struct Timeline(Mutex<TimelineState>);

impl TimelineState {
    fn object(&mut self, object: &str) -> &mut ObjectTimes {
        let i = match self.objects.iter().position(|o| o.object == object) {
            Some(i) => i,
            None => {
                self.objects.push(ObjectTimes {
                    object: object.to_owned(),
                    ..ObjectTimes::default()
                });
                self.objects.len() - 1
            }
        };
        &mut self.objects[i]
    }
}

impl Timeline {
    fn lock(&self) -> std::sync::MutexGuard<'_, TimelineState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, object: Option<&str>, part: Part, took: Duration) {
        let mut s = self.lock();
        let secs = took.as_secs_f64();
        let object = object.map(str::to_owned).or_else(|| s.current.clone());
        let Some(object) = object else {
            s.job_admin += secs;
            return;
        };
        let o = s.object(&object);
        match part {
            Part::Fetch => {
                o.fetch += secs;
                o.pages += 1;
            }
            Part::Resolve => o.resolve += secs,
            Part::Write => o.write += secs,
            Part::Progress => o.progress += secs,
            Part::Relink => o.relink += secs,
            Part::Admin => o.admin += secs,
        }
    }

    fn state(&self, object: &SObject, state: ObjectState) {
        let mut s = self.lock();
        let name = object.as_str().to_owned();
        if state == ObjectState::Importing {
            s.current = Some(name.clone());
            s.started.insert(name.clone(), Instant::now());
            s.object(&name);
        } else if let Some(started) = s.started.remove(&name) {
            s.object(&name).wall = started.elapsed().as_secs_f64();
            if s.current.as_deref() == Some(name.as_str()) {
                s.current = None;
            }
        }
    }
}

async fn timed<T>(
    timeline: &Timeline,
    object: Option<&str>,
    part: Part,
    call: impl std::future::Future<Output = T>,
) -> T {
    let started = Instant::now();
    let out = call.await;
    timeline.add(object, part, started.elapsed());
    out
}

#[derive(Debug)]
struct TimedSource {
    inner: Arc<dyn SalesforceSource>,
    timeline: Arc<Timeline>,
}

#[async_trait]
impl SalesforceSource for TimedSource {
    async fn fetch_page(&self, tenant: &TenantId, request: &PageRequest) -> Result<Page> {
        let object = request.object.as_str();
        timed(
            &self.timeline,
            Some(object),
            Part::Fetch,
            self.inner.fetch_page(tenant, request),
        )
        .await
    }

    async fn count_records(&self, tenant: &TenantId, object: &SObject) -> Result<Option<u64>> {
        timed(
            &self.timeline,
            Some(object.as_str()),
            Part::Admin,
            self.inner.count_records(tenant, object),
        )
        .await
    }
}

#[derive(Debug)]
struct TimedSink {
    inner: Arc<dyn CrmSink>,
    timeline: Arc<Timeline>,
}

#[async_trait]
impl CrmSink for TimedSink {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> Result<Vec<Result<WriteOutcome, RecordError>>> {
        timed(
            &self.timeline,
            Some(batch.object.as_str()),
            Part::Write,
            self.inner.write_batch(tenant, batch),
        )
        .await
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> Result<Vec<Result<(), RecordError>>> {
        timed(
            &self.timeline,
            Some(object.as_str()),
            Part::Relink,
            self.inner.relink(tenant, object, links),
        )
        .await
    }

    async fn delete_batch(
        &self,
        tenant: &TenantId,
        object: &SObject,
        records: &[Deletion],
    ) -> Result<Vec<Result<(), RecordError>>> {
        timed(
            &self.timeline,
            Some(object.as_str()),
            Part::Write,
            self.inner.delete_batch(tenant, object, records),
        )
        .await
    }
}

#[derive(Debug)]
struct TimedJobs {
    inner: Arc<dyn JobStore>,
    timeline: Arc<Timeline>,
}

#[async_trait]
impl JobStore for TimedJobs {
    async fn create_job(&self, new: &NewJob) -> Result<Job> {
        self.inner.create_job(new).await
    }

    async fn job(&self, tenant: &TenantId, job: &JobId) -> Result<Job> {
        self.inner.job(tenant, job).await
    }

    async fn history(&self, tenant: &TenantId, limit: usize) -> Result<Vec<Job>> {
        self.inner.history(tenant, limit).await
    }

    async fn set_status(
        &self,
        tenant: &TenantId,
        job: &JobId,
        status: JobStatus,
        at: DateTime<Utc>,
        message: Option<String>,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let call = self
            .inner
            .set_status(tenant, job, status, at, message, lease);
        timed(&self.timeline, None, Part::Admin, call).await
    }

    async fn set_object_state(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        state: ObjectState,
        lease: Option<&Lease>,
    ) -> Result<()> {
        // An object starts before its state is written and ends after.
        if state == ObjectState::Importing {
            self.timeline.state(object, state);
        }
        let call = self
            .inner
            .set_object_state(tenant, job, object, state, lease);
        let out = timed(&self.timeline, Some(object.as_str()), Part::Admin, call).await;
        if state != ObjectState::Importing {
            self.timeline.state(object, state);
        }
        out
    }

    async fn record_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        page: &PageRecord,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let call = self.inner.record_page(tenant, job, object, page, lease);
        timed(&self.timeline, Some(object.as_str()), Part::Progress, call).await
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Lease>> {
        let call = self.inner.acquire_lease(tenant, job, owner, now, until);
        timed(&self.timeline, None, Part::Admin, call).await
    }

    async fn renew_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        lease: &Lease,
        until: DateTime<Utc>,
    ) -> Result<Lease> {
        let call = self.inner.renew_lease(tenant, job, lease, until);
        // Renewals run on the heartbeat task, beside the pipeline.
        let started = Instant::now();
        let out = call.await;
        self.timeline.lock().job_admin += started.elapsed().as_secs_f64();
        out
    }

    async fn stranded_jobs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        self.inner.stranded_jobs(now, limit).await
    }

    async fn error_log(
        &self,
        tenant: &TenantId,
        job: &JobId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        self.inner.error_log(tenant, job, offset, limit).await
    }

    async fn resolve_ids(
        &self,
        tenant: &TenantId,
        keys: &[IdKey],
    ) -> Result<HashMap<IdKey, IdMapping>> {
        let call = self.inner.resolve_ids(tenant, keys);
        timed(&self.timeline, None, Part::Resolve, call).await
    }

    async fn watermark(
        &self,
        tenant: &TenantId,
        object: &SObject,
    ) -> Result<Option<DateTime<Utc>>> {
        let call = self.inner.watermark(tenant, object);
        timed(&self.timeline, Some(object.as_str()), Part::Admin, call).await
    }

    async fn has_mappings(&self, tenant: &TenantId, object: &SObject) -> Result<bool> {
        let call = self.inner.has_mappings(tenant, object);
        timed(&self.timeline, Some(object.as_str()), Part::Admin, call).await
    }
}

/// A standard mapper, timed: nanoseconds spent in `map`.
#[derive(Debug)]
struct TimedMapper {
    inner: Arc<dyn Mapper>,
    nanos: Arc<AtomicU64>,
}

impl Mapper for TimedMapper {
    fn object(&self) -> SObject {
        self.inner.object()
    }
    fn fields(&self) -> &[&'static str] {
        self.inner.fields()
    }
    fn lookups(&self) -> &[LookupSpec] {
        self.inner.lookups()
    }
    fn imported_with(&self) -> Option<SObject> {
        self.inner.imported_with()
    }
    fn map(&self, record: &SfRecord, tables: &Tables) -> std::result::Result<Mapped, RecordError> {
        let started = Instant::now();
        let out = self.inner.map(record, tables);
        self.nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    }
}

fn timed_mappers() -> (Mappers, Vec<(SObject, Arc<AtomicU64>)>) {
    let mut mappers = Mappers::empty();
    let mut clocks = Vec::new();
    for m in Mappers::standard().iter() {
        let nanos = Arc::new(AtomicU64::new(0));
        clocks.push((m.object(), nanos.clone()));
        mappers = mappers.with(TimedMapper {
            inner: m.clone(),
            nanos,
        });
    }
    (mappers, clocks)
}

// ------------------------------------------------- the child's connection

/// What a child needs to reach the fake org this process serves.
fn fake_env(fake: &FakeSalesforce) -> Vec<(&'static str, String)> {
    let (access, refresh) = fake.issue_tokens();
    // The tokens leave this process here, to its own children, through
    // their environment: a fake org's tokens, for a benchmark.
    vec![
        ("BENCH_INSTANCE_URL", fake.instance_url().to_owned()),
        ("BENCH_LOGIN_URL", fake.login_url().to_owned()),
        ("BENCH_CLIENT_ID", fake.client_id().to_owned()),
        (
            "BENCH_CLIENT_SECRET",
            fake.client_secret().expose_secret().to_owned(),
        ),
        ("BENCH_REDIRECT_URI", fake.redirect_uri().to_owned()),
        ("BENCH_API_VERSION", fake.api_version().to_owned()),
        ("BENCH_ACCESS", access.expose_secret().to_owned()),
        ("BENCH_REFRESH", refresh.expose_secret().to_owned()),
    ]
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"))
}

struct Org {
    tenant: TenantId,
    vault: Arc<InMemoryTokenVault>,
    source: Arc<RestSource>,
}

async fn connect_org() -> Org {
    let tenant = TenantId::new("bench");
    let vault = Arc::new(InMemoryTokenVault::new());
    let connection = Connection::new(
        env("BENCH_INSTANCE_URL"),
        SecretString::from(env("BENCH_ACCESS")),
        Some(SecretString::from(env("BENCH_REFRESH"))),
        "bench@example.com",
        Utc::now(),
    );
    vault.put(&tenant, &connection).await.expect("a connection");
    let oauth = SalesforceOAuth::builder(
        env("BENCH_CLIENT_ID"),
        SecretString::from(env("BENCH_CLIENT_SECRET")),
        env("BENCH_REDIRECT_URI"),
    )
    .login_host(LoginHost::url(env("BENCH_LOGIN_URL")))
    .host_policy(HostPolicy::salesforce().allow_loopback())
    .build(vault.clone())
    .expect("an OAuth client");
    let source = RestSource::builder(Arc::new(oauth))
        .api_version(env("BENCH_API_VERSION"))
        // REST paging throughout: `--page-size` records a call.
        .bulk_threshold(u64::MAX)
        .build()
        .expect("a REST source");
    Org {
        tenant,
        vault,
        source: Arc::new(source),
    }
}

/// Reads every page of `object`, handing each to `each`.
async fn read_object(
    source: &dyn SalesforceSource,
    tenant: &TenantId,
    object: &SObject,
    page_size: usize,
    mut each: impl FnMut(Vec<SfRecord>),
) -> u64 {
    let mut fields = Mappers::standard().select_fields(object, &Tables::default());
    fields.push("SystemModstamp".into());
    let request = PageRequest::new(object.clone(), fields, page_size);
    let mut page = source.fetch_page(tenant, &request).await.expect("a page");
    let mut pages = 1;
    loop {
        let next = page.next.take();
        each(std::mem::take(&mut page.records));
        let Some(next) = next else { break };
        page = source
            .fetch_page(tenant, &request.clone().cursor(Some(next)))
            .await
            .expect("a page");
        pages += 1;
    }
    pages
}

// ---------------------------------------------------------- PostgreSQL

struct Schema {
    admin: PgPool,
    pool: PgPool,
    name: String,
}

/// A fresh schema on `DATABASE_URL`, both migration sets applied in it.
async fn fresh_schema(phase: &str) -> Schema {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL (PostgreSQL) is set");
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connecting to DATABASE_URL");
    let name = format!("bench_{phase}_{}", std::process::id());
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
    )))
    .execute(&admin)
    .await
    .expect("a schema");
    let options = PgConnectOptions::from_str(&url)
        .expect("DATABASE_URL")
        .options([("search_path", name.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .expect("a pool on the schema");
    postgres::migrate(&pool).await.expect("migrate");
    postgres::migrate_crm(&pool).await.expect("migrate_crm");
    Schema { admin, pool, name }
}

impl Schema {
    async fn drop(self) {
        self.pool.close().await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .expect("dropping the schema");
    }
}

// -------------------------------------------- CRM rows, as the sink's tables

/// One reference CRM table: name and columns (after `tenant_id`, `sf_id`)
/// with their types, as in `migrations/crm`.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, &'static str)],
    /// The id the id map records (a price's is its product's).
    mapped_id: &'static str,
}

macro_rules! table {
    ($name:literal, $mapped:literal, [$(($c:literal, $t:literal)),* $(,)?]) => {
        Table { name: $name, mapped_id: $mapped, columns: &[$(($c, $t)),*] }
    };
}

const ACCOUNTS: Table = table!(
    "crm_accounts",
    "id",
    [
        ("name", "text"),
        ("email", "text"),
        ("phone", "text"),
        ("website", "text"),
        ("industry", "text"),
        ("account_type", "text"),
        ("number_of_employees", "int8"),
        ("annual_revenue", "numeric"),
        ("currency", "text"),
        ("billing_street", "text"),
        ("billing_city", "text"),
        ("billing_state", "text"),
        ("billing_postcode", "text"),
        ("billing_country", "text"),
        ("description", "text"),
        ("parent_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
const CONTACTS: Table = table!(
    "crm_contacts",
    "id",
    [
        ("first_name", "text"),
        ("last_name", "text"),
        ("email", "text"),
        ("phone", "text"),
        ("title", "text"),
        ("department", "text"),
        ("do_not_call", "bool"),
        ("mailing_street", "text"),
        ("mailing_city", "text"),
        ("mailing_state", "text"),
        ("mailing_postcode", "text"),
        ("mailing_country", "text"),
        ("description", "text"),
        ("account_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
const OPPORTUNITIES: Table = table!(
    "crm_opportunities",
    "id",
    [
        ("name", "text"),
        ("stage", "text"),
        ("amount", "numeric"),
        ("probability", "numeric"),
        ("closed_on", "date"),
        ("lead_source", "text"),
        ("opportunity_type", "text"),
        ("currency", "text"),
        ("description", "text"),
        ("account_id", "uuid"),
        ("contact_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
const PRODUCTS: Table = table!(
    "crm_products",
    "id",
    [
        ("name", "text"),
        ("sku", "text"),
        ("description", "text"),
        ("is_active", "bool"),
        ("family", "text"),
        ("price", "numeric"),
        ("currency", "text"),
        ("custom_fields", "jsonb"),
    ]
);
const PRICES: Table = table!(
    "crm_product_prices",
    "product_id",
    [
        ("product_id", "uuid"),
        ("price", "numeric"),
        ("currency", "text"),
        ("is_active", "bool"),
    ]
);
const ORDERS: Table = table!(
    "crm_orders",
    "id",
    [
        ("name", "text"),
        ("order_number", "text"),
        ("status", "text"),
        ("order_date", "date"),
        ("activated_at", "timestamptz"),
        ("total_amount", "numeric"),
        ("currency", "text"),
        ("billing_street", "text"),
        ("billing_city", "text"),
        ("billing_state", "text"),
        ("billing_postcode", "text"),
        ("billing_country", "text"),
        ("shipping_street", "text"),
        ("shipping_city", "text"),
        ("shipping_state", "text"),
        ("shipping_postcode", "text"),
        ("shipping_country", "text"),
        ("description", "text"),
        ("account_id", "uuid"),
        ("contact_id", "uuid"),
        ("opportunity_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
const ORDER_LINES: Table = table!(
    "crm_order_lines",
    "id",
    [
        ("order_id", "uuid"),
        ("product_id", "uuid"),
        ("name", "text"),
        ("quantity", "numeric"),
        ("unit_price", "numeric"),
        ("discount_amount", "numeric"),
        ("total", "numeric"),
    ]
);
const QUOTES: Table = table!(
    "crm_quotes",
    "id",
    [
        ("title", "text"),
        ("quote_number", "text"),
        ("status", "text"),
        ("subtotal", "numeric"),
        ("discount", "numeric"),
        ("tax", "numeric"),
        ("total", "numeric"),
        ("currency", "text"),
        ("expiry_date", "date"),
        ("notes", "text"),
        ("account_id", "uuid"),
        ("contact_id", "uuid"),
        ("opportunity_id", "uuid"),
        ("custom_fields", "jsonb"),
    ]
);
const QUOTE_LINES: Table = table!(
    "crm_quote_lines",
    "id",
    [
        ("quote_id", "uuid"),
        ("product_id", "uuid"),
        ("name", "text"),
        ("quantity", "numeric"),
        ("unit_price", "numeric"),
        ("discount", "numeric"),
        ("total", "numeric"),
    ]
);

type Values = Vec<Option<String>>;

/// The record's table and its column values as text, in column order.
fn row(record: &CrmRecord) -> Option<(&'static Table, Values)> {
    fn s(v: &Option<String>) -> Option<String> {
        v.clone()
    }
    fn d<T: ToString>(v: &Option<T>) -> Option<String> {
        v.as_ref().map(ToString::to_string)
    }
    fn id(v: &Option<CrmId>) -> Option<String> {
        v.as_ref().map(|i| i.as_str().to_owned())
    }
    fn json(v: &salesforce_import::crm::CustomFields) -> Option<String> {
        serde_json::to_string(v).ok()
    }
    fn addr(a: &Address) -> [Option<String>; 5] {
        [
            s(&a.line),
            s(&a.city),
            s(&a.state),
            s(&a.postcode),
            s(&a.country),
        ]
    }
    let b = |v: bool| Some(if v { "t" } else { "f" }.to_owned());
    Some(match record {
        CrmRecord::Account(a) => {
            let mut v = vec![
                Some(a.name.clone()),
                s(&a.email),
                s(&a.phone),
                s(&a.website),
                s(&a.industry),
                s(&a.account_type),
                d(&a.number_of_employees),
                d(&a.annual_revenue),
                s(&a.currency),
            ];
            v.extend(addr(&a.address));
            v.extend([s(&a.description), id(&a.parent), json(&a.custom_fields)]);
            (&ACCOUNTS, v)
        }
        CrmRecord::Contact(c) => {
            let mut v = vec![
                s(&c.first_name),
                Some(c.last_name.clone()),
                s(&c.email),
                s(&c.phone),
                s(&c.title),
                s(&c.department),
                b(c.do_not_call),
            ];
            v.extend(addr(&c.address));
            v.extend([s(&c.description), id(&c.account), json(&c.custom_fields)]);
            (&CONTACTS, v)
        }
        CrmRecord::Opportunity(o) => (
            &OPPORTUNITIES,
            vec![
                Some(o.name.clone()),
                Some(o.stage.code().to_owned()),
                d(&o.amount),
                d(&o.probability),
                d(&o.closed_on),
                s(&o.lead_source),
                s(&o.opportunity_type),
                s(&o.currency),
                s(&o.description),
                id(&o.account),
                id(&o.contact),
                json(&o.custom_fields),
            ],
        ),
        CrmRecord::Product(p) => (
            &PRODUCTS,
            vec![
                Some(p.name.clone()),
                s(&p.sku),
                s(&p.description),
                b(p.is_active),
                s(&p.family),
                d(&p.price),
                s(&p.currency),
                json(&p.custom_fields),
            ],
        ),
        CrmRecord::ProductPrice(p) => (
            &PRICES,
            vec![id(&p.product), d(&p.price), s(&p.currency), b(p.is_active)],
        ),
        CrmRecord::Order(o) => {
            let mut v = vec![
                s(&o.name),
                s(&o.order_number),
                Some(o.status.code().to_owned()),
                d(&o.order_date),
                o.activated_date.map(|t| t.to_rfc3339()),
                d(&o.total_amount),
                s(&o.currency),
            ];
            v.extend(addr(&o.billing_address));
            v.extend(addr(&o.shipping_address));
            v.extend([
                s(&o.description),
                id(&o.account),
                id(&o.contact),
                id(&o.opportunity),
                json(&o.custom_fields),
            ]);
            (&ORDERS, v)
        }
        CrmRecord::OrderLine(l) => (
            &ORDER_LINES,
            vec![
                id(&l.order),
                id(&l.product),
                s(&l.name),
                Some(l.quantity.to_string()),
                Some(l.unit_price.to_string()),
                Some(l.discount_amount.to_string()),
                Some(l.total.to_string()),
            ],
        ),
        CrmRecord::Quote(q) => (
            &QUOTES,
            vec![
                Some(q.title.clone()),
                s(&q.quote_number),
                Some(q.status.code().to_owned()),
                d(&q.subtotal),
                d(&q.discount),
                d(&q.tax),
                d(&q.total),
                s(&q.currency),
                d(&q.expiry_date),
                s(&q.notes),
                id(&q.account),
                id(&q.contact),
                id(&q.opportunity),
                json(&q.custom_fields),
            ],
        ),
        CrmRecord::QuoteLine(l) => (
            &QUOTE_LINES,
            vec![
                id(&l.quote),
                id(&l.product),
                s(&l.name),
                Some(l.quantity.to_string()),
                Some(l.unit_price.to_string()),
                d(&l.discount),
                Some(l.total.to_string()),
            ],
        ),
        _ => return None,
    })
}

/// Account names are unique per tenant, ignoring case: a taken name gets
/// the Salesforce id, as `PgCrmSink` does.
fn dedupe_account_name(record: &mut CrmRecord, sf_id: &SfId, names: &mut HashSet<String>) {
    if let CrmRecord::Account(a) = record
        && !names.insert(a.name.to_lowercase())
    {
        a.name = format!("{} ({})", a.name, &sf_id.as_str()[..15]);
        names.insert(a.name.to_lowercase());
    }
}

/// Fills the record's references from `known`; false when a required one
/// is missing.
fn resolve(mapped: &mut Mapped, known: &HashMap<SfId, String>) -> bool {
    for lookup in &mapped.lookups {
        match known.get(&lookup.sf_id) {
            Some(crm) => {
                mapped
                    .record
                    .set_link(&lookup.spec.link, CrmId::new(crm.clone()));
            }
            None if lookup.spec.requirement == Requirement::Required => return false,
            None => {}
        }
    }
    true
}

fn copy_text(out: &mut Vec<u8>, values: impl IntoIterator<Item = Option<String>>) {
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match v {
            None => out.extend_from_slice(b"\\N"),
            Some(v) => {
                for byte in v.bytes() {
                    match byte {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\t' => out.extend_from_slice(b"\\t"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        other => out.push(other),
                    }
                }
            }
        }
    }
    out.push(b'\n');
}

// ----------------------------------------------------------------- phases

async fn phase_fetch(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let mut report = PhaseReport::default();
    let started = Instant::now();
    for object in SObject::STANDARD {
        let t = Instant::now();
        let mut records = 0;
        let pages = read_object(
            org.source.as_ref(),
            &org.tenant,
            &object,
            args.page_size,
            |r| records += r.len() as u64,
        )
        .await;
        let secs = t.elapsed().as_secs_f64();
        report.records += records;
        report.objects.push(ObjectTimes {
            object: object.to_string(),
            records,
            pages,
            wall: secs,
            fetch: secs,
            ..ObjectTimes::default()
        });
    }
    report.secs = started.elapsed().as_secs_f64();
    report
}

async fn phase_copy(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let tenant = org.tenant.as_str().to_owned();
    let mappers = Mappers::standard();
    let tables = Tables::default();
    let mut report = PhaseReport::default();
    let started = Instant::now();
    // Read, map and resolve every record; CRM ids are made here.
    let mut known: HashMap<SfId, String> = HashMap::new();
    let mut names = HashSet::new();
    let mut next_id: u128 = 1;
    let mut buffers: Vec<(SObject, &'static Table, Vec<u8>, u64)> = Vec::new();
    let mut idmap: Vec<u8> = Vec::new();
    for object in SObject::STANDARD {
        let mapper = mappers.get(&object).expect("a standard mapper").clone();
        let mut buf = Vec::new();
        let mut table = None;
        let mut rows = 0;
        read_object(
            org.source.as_ref(),
            &org.tenant,
            &object,
            args.page_size,
            |records| {
                for r in records {
                    let Ok(mut mapped) = mapper.map(&r, &tables) else {
                        continue;
                    };
                    if !resolve(&mut mapped, &known) {
                        continue;
                    }
                    dedupe_account_name(&mut mapped.record, &mapped.sf_id, &mut names);
                    let Some((t, values)) = row(&mapped.record) else {
                        continue;
                    };
                    let id = Uuid::from_u128(next_id).to_string();
                    next_id += 1;
                    let mapped_id = if t.mapped_id == "id" {
                        id.clone()
                    } else {
                        values[0].clone().expect("a price has its product")
                    };
                    let head = [
                        Some(id),
                        Some(tenant.clone()),
                        Some(mapped.sf_id.as_str().to_owned()),
                    ];
                    copy_text(&mut buf, head.into_iter().chain(values));
                    copy_text(
                        &mut idmap,
                        [
                            Some(tenant.clone()),
                            Some(object.to_string()),
                            Some(mapped.sf_id.as_str().to_owned()),
                            Some(mapped_id.clone()),
                        ],
                    );
                    known.insert(mapped.sf_id, mapped_id);
                    table = Some(t);
                    rows += 1;
                }
            },
        )
        .await;
        if let Some(t) = table {
            buffers.push((object, t, buf, rows));
        }
    }
    drop(known);
    let schema = fresh_schema("copy").await;
    report.prepare_secs = started.elapsed().as_secs_f64();

    let mut conn = schema.pool.acquire().await.expect("a connection");
    let started = Instant::now();
    for (object, table, buf, rows) in &buffers {
        let t = Instant::now();
        let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let sql = format!(
            "COPY {} (id, tenant_id, sf_id, {}) FROM STDIN",
            table.name,
            columns.join(", ")
        );
        let mut copy = conn.copy_in_raw(&sql).await.expect("COPY");
        for chunk in buf.chunks(1 << 20) {
            copy.send(chunk).await.expect("COPY data");
        }
        let copied = copy.finish().await.expect("COPY");
        assert_eq!(copied, *rows, "{object}: every row copied");
        report.records += rows;
        report.objects.push(ObjectTimes {
            object: object.to_string(),
            records: *rows,
            wall: t.elapsed().as_secs_f64(),
            copy: t.elapsed().as_secs_f64(),
            ..ObjectTimes::default()
        });
    }
    report.secs = started.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY sf_import_id_map (tenant_id, object, sf_id, crm_id) FROM STDIN")
        .await
        .expect("COPY");
    for chunk in idmap.chunks(1 << 20) {
        copy.send(chunk).await.expect("COPY data");
    }
    copy.finish().await.expect("COPY");
    report.idmap_copy_secs = t.elapsed().as_secs_f64();
    drop(conn);
    schema.drop().await;
    report
}

/// An import of every object through the engine, each port timed.
async fn import(
    org: &Org,
    sink: Arc<dyn CrmSink>,
    jobs: Arc<dyn JobStore>,
    args: &Args,
    report: &mut PhaseReport,
) {
    let timeline = Arc::new(Timeline::default());
    let (mappers, clocks) = timed_mappers();
    let source = TimedSource {
        inner: org.source.clone(),
        timeline: timeline.clone(),
    };
    let importer = Importer::builder(
        Arc::new(source),
        Arc::new(TimedSink {
            inner: sink,
            timeline: timeline.clone(),
        }),
        Arc::new(TimedJobs {
            inner: jobs,
            timeline: timeline.clone(),
        }),
    )
    .vault(org.vault.clone())
    .mappers(mappers)
    .page_size(args.page_size);
    let importer = match args.pages_in_flight {
        0 => importer,
        n => importer.pages_in_flight(n),
    };
    let importer = match args.objects_in_flight {
        0 => importer,
        n => importer.objects_in_flight(n),
    };
    let importer = match args.id_cache {
        None => importer,
        Some(n) => importer.id_cache(n),
    };
    let importer = importer.build().expect("an importer");
    let started = Instant::now();
    let job = importer
        .run(
            &org.tenant,
            ImportRequest::new("bench", SObject::SELECTABLE),
        )
        .await
        .expect("the import");
    report.secs = started.elapsed().as_secs_f64();
    report.status = format!("{:?}", job.status);
    report.failed = job.errors();
    report.records = job.objects.iter().map(|o| o.processed()).sum();
    let mut state = timeline.lock();
    for (object, nanos) in clocks {
        state.object(object.as_str()).map = nanos.load(Ordering::Relaxed) as f64 / 1e9;
    }
    for o in &job.objects {
        state.object(o.object.as_str()).records = o.processed();
    }
    report.objects = state.objects.clone();
    report.job_admin = state.job_admin;
}

async fn phase_pg(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let schema = fresh_schema("import").await;
    let mut report = PhaseReport::default();
    import(
        &org,
        Arc::new(PgCrmSink::new(schema.pool.clone())),
        Arc::new(PgJobStore::new(schema.pool.clone())),
        args,
        &mut report,
    )
    .await;
    schema.drop().await;
    report
}

async fn phase_mem(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let mut report = PhaseReport::default();
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let before = proc_status_kb("VmRSS:");
    import(&org, sink.clone(), jobs.clone(), args, &mut report).await;
    // The CRM and the job store still hold everything here.
    report.held_kb = proc_status_kb("VmRSS:") as i64 - before as i64;
    drop((sink, jobs));
    report
}

/// The seed plan's algorithm: per record, one id-map lookup for its
/// references, then one statement inserting the CRM row and its mapping.
async fn phase_seed(args: &Args) -> PhaseReport {
    let org = connect_org().await;
    let schema = fresh_schema("seed").await;
    let pool = schema.pool.clone();
    let tenant = org.tenant.as_str().to_owned();
    let mappers = Mappers::standard();
    let tables = Tables::default();
    let mut report = PhaseReport::default();
    let mut names = HashSet::new();
    let started = Instant::now();
    for object in SObject::STANDARD {
        let mapper = mappers.get(&object).expect("a standard mapper").clone();
        let t = Instant::now();
        let mut records = Vec::new();
        // Read first: the baseline is about the writes.
        read_object(
            org.source.as_ref(),
            &org.tenant,
            &object,
            args.page_size,
            |page| records.extend(page),
        )
        .await;
        let fetched = t.elapsed().as_secs_f64();
        let mut times = ObjectTimes {
            object: object.to_string(),
            fetch: fetched,
            ..ObjectTimes::default()
        };
        for r in records {
            let Ok(mut mapped) = mapper.map(&r, &tables) else {
                report.failed += 1;
                continue;
            };
            let wanted: Vec<String> = mapped
                .lookups
                .iter()
                .map(|l| l.sf_id.as_str().to_owned())
                .collect();
            let mut known = HashMap::new();
            if !wanted.is_empty() {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT sf_id, crm_id FROM sf_import_id_map
                     WHERE tenant_id = $1 AND sf_id = ANY($2)",
                )
                .bind(&tenant)
                .bind(&wanted)
                .fetch_all(&pool)
                .await
                .expect("an id-map lookup");
                for (sf, crm) in rows {
                    known.insert(SfId::parse(&sf).expect("a stored id"), crm);
                }
            }
            if !resolve(&mut mapped, &known) {
                report.failed += 1;
                continue;
            }
            dedupe_account_name(&mut mapped.record, &mapped.sf_id, &mut names);
            let Some((table, values)) = row(&mapped.record) else {
                continue;
            };
            let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
            let params: Vec<String> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, ty))| format!("${}::{ty}", i + 4))
                .collect();
            let sql = format!(
                "WITH r AS (INSERT INTO {} (tenant_id, sf_id, {}) VALUES ($1, $2, {})
                 RETURNING {}) INSERT INTO sf_import_id_map (tenant_id, object, sf_id, crm_id)
                 SELECT $1, $3, $2, {}::text FROM r",
                table.name,
                columns.join(", "),
                params.join(", "),
                table.mapped_id,
                table.mapped_id,
            );
            let mut q = sqlx::query(AssertSqlSafe(sql))
                .bind(&tenant)
                .bind(mapped.sf_id.as_str())
                .bind(object.as_str());
            for v in values {
                q = q.bind(v);
            }
            match q.execute(&pool).await {
                Ok(_) => times.records += 1,
                Err(_) => report.failed += 1,
            }
        }
        times.wall = t.elapsed().as_secs_f64() - fetched;
        times.write = times.wall;
        report.records += times.records;
        report.objects.push(times);
    }
    let total = started.elapsed().as_secs_f64();
    report.secs = total - report.objects.iter().map(|o| o.fetch).sum::<f64>();
    schema.drop().await;
    report
}

async fn phase_latency(args: &Args) -> PhaseReport {
    let fetched = phase_fetch(args).await;
    let mut report = phase_mem(args).await;
    report.fetch_objects = fetched.objects;
    report
}

async fn run_child(phase: &str, args: &Args) {
    let mut report = match phase {
        "fetch" => phase_fetch(args).await,
        "copy" => phase_copy(args).await,
        "pg" | "small" => phase_pg(args).await,
        "mem" => phase_mem(args).await,
        "seed" => phase_seed(args).await,
        "latency" => phase_latency(args).await,
        other => panic!("unknown phase {other}"),
    };
    report.phase = phase.to_owned();
    report.hwm_kb = proc_status_kb("VmHWM:");
    report.cpu_secs = proc_cpu_secs();
    println!(
        "{REPORT}{}",
        serde_json::to_string(&report).expect("a report")
    );
}

// ----------------------------------------------------------------- parent

/// Runs `phase` in a child process against `fake`: its report, with the
/// API calls the fake counted meanwhile.
async fn spawn(phase: &str, fake: &FakeSalesforce) -> PhaseReport {
    eprintln!("  running {phase} ...");
    let before_usage = fake.api_usage();
    let before_log = fake.requests().len();
    let exe = std::env::current_exe().expect("this binary");
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args().skip(1))
        .env("BENCH_PHASE", phase)
        .stderr(std::process::Stdio::inherit());
    for (k, v) in fake_env(fake) {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("the child's waiter")
        .expect("a child process");
    assert!(out.status.success(), "phase {phase} failed: {}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(REPORT))
        .unwrap_or_else(|| panic!("phase {phase} printed no report"));
    let mut report: PhaseReport = serde_json::from_str(line).expect("a report");
    report.api_calls = fake.api_usage() - before_usage;
    let mut by: Vec<(String, usize)> = Vec::new();
    for r in &fake.requests()[before_log..] {
        let name = format!("{:?}", r.endpoint);
        match by.iter_mut().find(|(n, _)| *n == name) {
            Some((_, n)) => *n += 1,
            None => by.push((name, 1)),
        }
    }
    report.api_by_endpoint = by;
    eprintln!(
        "    {phase}: {:.2} s, {} records",
        report.secs, report.records
    );
    report
}

/// The median run by time, of `runs` runs.
async fn median(phase: &str, fake: &FakeSalesforce, runs: usize) -> PhaseReport {
    let mut all = Vec::new();
    for _ in 0..runs {
        all.push(spawn(phase, fake).await);
    }
    all.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    all.swap_remove(all.len() / 2)
}

async fn start_fake(records: u64) -> FakeSalesforce {
    FakeSalesforce::builder()
        .org(FakeOrg::generated(7, size_for(records)))
        .start()
        .await
        .expect("the fake org")
}

/// The longest chain of dependent objects (a lookup's target before the
/// object), weighed by each object's fetch time: seconds, and the chain.
fn critical_path(fetch: &[ObjectTimes]) -> (f64, Vec<String>) {
    let mappers = Mappers::standard();
    let mut finish: HashMap<String, (f64, Vec<String>)> = HashMap::new();
    for object in SObject::STANDARD {
        let own = fetch
            .iter()
            .find(|o| o.object == object.as_str())
            .map_or(0.0, |o| o.fetch);
        let before = mappers
            .get(&object)
            .map(|m| {
                m.lookups()
                    .iter()
                    .map(|l| l.target.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t != &object)
            .filter_map(|t| finish.get(t.as_str()).cloned())
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap_or_default();
        let mut chain = before.1;
        chain.push(object.to_string());
        finish.insert(object.to_string(), (before.0 + own, chain));
    }
    finish
        .into_values()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or_default()
}

fn pct(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:>3.0}%", 100.0 * part / whole)
    } else {
        "  -".into()
    }
}

fn breakdown(title: &str, r: &PhaseReport) {
    println!(
        "\n{title}: {:.2} s, {} records, {:?}, {} failed",
        r.secs, r.records, r.status, r.failed
    );
    println!(
        "{:<15} {:>8} {:>6} {:>8} | {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} | {:>8} {:>9}",
        "object",
        "records",
        "pages",
        "wall s",
        "map",
        "resolve_ids",
        "write_batch",
        "record_page",
        "relink",
        "rest",
        "fetch s",
        "rec/s"
    );
    let mut total = ObjectTimes::default();
    let cell = |secs: f64, wall: f64| format!("{secs:>6.2} {}", pct(secs, wall));
    for o in &r.objects {
        let known = o.map + o.resolve + o.write + o.progress + o.relink;
        println!(
            "{:<15} {:>8} {:>6} {:>8.2} | {} {} {} {} {} {} | {:>8.2} {:>9.0}",
            o.object,
            o.records,
            o.pages,
            o.wall,
            cell(o.map, o.wall),
            cell(o.resolve, o.wall),
            cell(o.write, o.wall),
            cell(o.progress, o.wall),
            cell(o.relink, o.wall),
            cell(o.wall - known, o.wall),
            o.fetch,
            o.records as f64 / o.wall.max(1e-9),
        );
        total.records += o.records;
        total.pages += o.pages;
        total.map += o.map;
        total.resolve += o.resolve;
        total.write += o.write;
        total.progress += o.progress + o.admin;
        total.relink += o.relink;
        total.fetch += o.fetch;
    }
    let wall = r.secs;
    let progress = total.progress + r.job_admin;
    let known = total.map + total.resolve + total.write + progress + total.relink;
    println!(
        "{:<15} {:>8} {:>6} {:>8.2} | {} {} {} {} {} {} | {:>8.2} {:>9.0}",
        "overall",
        total.records,
        total.pages,
        wall,
        cell(total.map, wall),
        cell(total.resolve, wall),
        cell(total.write, wall),
        cell(progress, wall),
        cell(total.relink, wall),
        cell(wall - known, wall),
        total.fetch,
        total.records as f64 / wall.max(1e-9),
    );
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "na".to_owned(), |v| format!("{v:.digits$}"))
}

async fn run_parent(args: Args) {
    let profile = if cfg!(debug_assertions) {
        "debug build: use --release for meaningful figures"
    } else {
        "release build"
    };
    println!(
        "benchmark: --records {} --page-size {} --latency-ms {} --runs {} --seed-records {}",
        args.records, args.page_size, args.latency_ms, args.runs, args.seed_records
    );
    println!("machine: {}; {profile}", machine());
    let fake = start_fake(args.records).await;
    let mut reports: HashMap<&str, PhaseReport> = HashMap::new();
    for phase in ["fetch", "copy", "pg", "mem"] {
        if args.runs(phase) {
            reports.insert(phase, median(phase, &fake, args.runs).await);
        }
    }
    if args.runs("seed") {
        let seed_fake = start_fake(args.seed_records).await;
        reports.insert("seed", spawn("seed", &seed_fake).await);
    }
    if args.runs("small") {
        let small_fake = start_fake(args.records / 10).await;
        reports.insert("small", spawn("small", &small_fake).await);
    }
    if args.runs("latency") {
        fake.faults()
            .set_latency(Duration::from_millis(args.latency_ms));
        reports.insert("latency", spawn("latency", &fake).await);
        fake.faults().set_latency(Duration::ZERO);
    }

    // The phases.
    println!(
        "\n{:<44} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9}",
        "phase", "records", "seconds", "records/s", "CPU µs/r", "peak MB", "API calls"
    );
    let label = |p: &str| match p {
        "fetch" => "fetch only (RestSource, parsed, dropped)",
        "copy" => "COPY only of the CRM rows (same tables)",
        "pg" => "import into PostgreSQL",
        "mem" => "import into memory",
        "seed" => "seed-style baseline (per-record SQL)",
        "small" => "import into PostgreSQL, records/10",
        "latency" => "import into memory, latency per call",
        _ => "?",
    };
    for phase in PHASES {
        if let Some(r) = reports.get(phase) {
            println!(
                "{:<44} {:>9} {:>9.2} {:>11.0} {:>9.2} {:>9.1} {:>9}",
                label(phase),
                r.records,
                r.secs,
                r.records as f64 / r.secs.max(1e-9),
                1e6 * r.cpu_secs / r.records.max(1) as f64,
                r.hwm_kb as f64 / 1024.0,
                r.api_calls
            );
        }
    }
    if let Some(c) = reports.get("copy") {
        println!(
            "  (COPY: {:.2} s to read, map and resolve first, not counted; the id map's rows \
             copied after in {:.2} s more)",
            c.prepare_secs, c.idmap_copy_secs
        );
    }
    if let Some(s) = reports.get("seed") {
        println!(
            "  (seed-style: {} records of a smaller org, {} failed; compared as a rate)",
            s.records, s.failed
        );
    }
    if let (Some(f), Some(c)) = (reports.get("fetch"), reports.get("copy")) {
        println!(
            "\n{:<15} {:>8} {:>6} {:>9} {:>9}",
            "object", "records", "pages", "fetch s", "COPY s"
        );
        for o in &f.objects {
            let copy = c.objects.iter().find(|x| x.object == o.object);
            println!(
                "{:<15} {:>8} {:>6} {:>9.2} {:>9}",
                o.object,
                o.records,
                o.pages,
                o.fetch,
                copy.map_or("-".into(), |c| format!("{:.2}", c.copy))
            );
        }
    }
    for (phase, title) in [
        ("pg", "Import into PostgreSQL, where the time goes"),
        ("mem", "Import into memory, where the time goes"),
    ] {
        if let Some(r) = reports.get(phase) {
            breakdown(title, r);
        }
    }
    println!(
        "  busy seconds inside each call and its share of the object's wall time; \
         record_page = progress, checkpoint and id mappings (plus state and lease writes); \
         rest = wall less the columns before it: fetch not hidden by the prefetch, \
         engine work; fetch s = time inside fetch_page, overlapped"
    );

    let import_s = reports.get("pg").map(|r| r.secs);
    let records = reports.get("pg").map(|r| r.records);
    if let Some(pg) = reports.get("pg") {
        let by = pg
            .api_by_endpoint
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "\nAPI calls of the PostgreSQL import: {} ({by})",
            pg.api_calls
        );
    }
    let per_object = reports
        .get("fetch")
        .or(reports.get("pg"))
        .map(|r| r.objects.clone())
        .unwrap_or_default();
    let api_min: u64 = per_object
        .iter()
        .map(|o| o.records.div_ceil(args.page_size as u64))
        .sum();
    let fetch_s = reports.get("fetch").map(|r| r.secs);
    let copy_s = reports.get("copy").map(|r| r.secs);
    let floor = match (fetch_s, copy_s) {
        (Some(f), Some(c)) => Some(f.max(c)),
        (f, c) => f.or(c),
    };
    let floor_ratio = import_s.zip(floor).map(|(i, f)| i / f);
    let seed_rate = reports
        .get("seed")
        .map(|s| s.records as f64 / s.secs.max(1e-9));
    let seed_ratio = import_s
        .zip(records)
        .zip(seed_rate)
        .map(|((i, n), s)| n as f64 / i / s);
    let mem = reports.get("mem");
    let mem_rate = mem.map(|m| m.records as f64 / m.secs);
    let mem_bytes = mem.map(|m| m.held_kb as f64 * 1024.0 / m.records.max(1) as f64);
    let rss_mb = reports.get("pg").map(|r| r.hwm_kb as f64 / 1024.0);
    let rss_small_mb = reports.get("small").map(|r| r.hwm_kb as f64 / 1024.0);
    let api_calls = reports.get("pg").map(|r| r.api_calls as f64);
    let latency_ratio = reports.get("latency").map(|l| {
        let (path, chain) = critical_path(&l.fetch_objects);
        breakdown(
            &format!("Import into memory with {} ms per call", args.latency_ms),
            l,
        );
        println!(
            "latency_ratio = import with latency ({:.2} s) / fetch critical path with latency \
             ({path:.2} s): the longest chain of dependent objects ({}), each weighed by the \
             time to fetch all its pages one after another with the same latency",
            l.secs,
            chain.join(" -> ")
        );
        l.secs / path
    });
    println!(
        "floor_ratio = import_s / max(fetch_s, copy_s); seed_ratio = import rate / seed-style \
         rate; mem_bytes_per_record = resident memory held after the memory import / records; \
         rss = peak resident memory (VmHWM) of the phase's own process; CPU µs/r = the phase \
         process's CPU time (user and system, setup included) per record, without the fake \
         org's or PostgreSQL's"
    );
    println!(
        "\nRESULT records={} import_s={} fetch_s={} copy_s={} floor_ratio={} seed_ratio={} \
         mem_rate={} mem_bytes_per_record={} rss_mb={} rss_small_mb={} api_calls={} api_min={} \
         latency_ratio={}",
        records.map_or("na".into(), |n| n.to_string()),
        num(import_s, 2),
        num(fetch_s, 2),
        num(copy_s, 2),
        num(floor_ratio, 2),
        num(seed_ratio, 1),
        num(mem_rate, 0),
        num(mem_bytes, 0),
        num(rss_mb, 1),
        num(rss_small_mb, 1),
        num(api_calls, 0),
        api_min,
        num(latency_ratio, 2),
    );
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match std::env::var("BENCH_PHASE") {
        Ok(phase) => run_child(&phase, &args).await,
        Err(_) => run_parent(args).await,
    }
}
