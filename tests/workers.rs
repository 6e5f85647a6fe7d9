//! The import queue with worker PROCESSES: this test binary re-runs itself
//! as workers (`child_worker`, with `SF_IMPORT_WORKER_CHILD` set), three on
//! one queue; several tenants' imports are queued, one worker is SIGKILLed
//! mid-job, and every job must still complete, once, with each tenant's
//! PostgreSQL CRM equal record by record to an in-memory import of the same
//! org.
//!
//! `scaling` (ignored; run it with `--ignored --nocapture`) prints the wall
//! time of the same imports with 1, 2 and 4 worker processes.

mod support;

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use salesforce_import::postgres::{PgCrmSink, PgJobStore};
use salesforce_import::sink::{Relink, WriteBatch, WriteOutcome};
use salesforce_import::source::{PageRequest, SalesforceSource};
use salesforce_import::workers::{ImportQueue, Worker};
use salesforce_import::{
    CrmSink, FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink, JobId, JobStatus,
    JobStore, RecordError, SObject, TenantId,
};
use serde_json::Value;
use sqlx::PgPool;

use crate::support::sample_manifest::{COUNTS, DUPLICATE_ACCOUNT_NAMES};

const CHILD: &str = "SF_IMPORT_WORKER_CHILD";
const CHILD_QUEUE: &str = "SF_IMPORT_WORKER_QUEUE";
const CHILD_INDEX: &str = "SF_IMPORT_WORKER_INDEX";
const CHILD_CONCURRENCY: &str = "SF_IMPORT_WORKER_CONCURRENCY";
const CHILD_DELAY_MS: &str = "SF_IMPORT_WORKER_DELAY_MS";
/// Records per page in the workers: many pages, many checkpoints.
const PAGE_SIZE: usize = 25;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A tenant id no other run uses.
fn unique_tenant(tag: &str) -> TenantId {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    TenantId::new(format!("w-{tag}-{}-{nanos}", std::process::id()))
}

/// What every test imports: every selectable object of the sample org.
fn request() -> ImportRequest {
    ImportRequest::new("queue-test", SObject::SELECTABLE)
}

/// A sink that takes `delay` per record before writing, so that a job lasts
/// long enough to kill its worker in the middle.
#[derive(Debug)]
struct Slow {
    inner: PgCrmSink,
    per_record: Duration,
}

#[async_trait]
impl CrmSink for Slow {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> salesforce_import::Result<Vec<Result<WriteOutcome, RecordError>>> {
        tokio::time::sleep(self.per_record * batch.records.len() as u32).await;
        self.inner.write_batch(tenant, batch).await
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> salesforce_import::Result<Vec<Result<(), RecordError>>> {
        self.inner.relink(tenant, object, links).await
    }
}

/// A worker process: runs `Worker` on the queue the parent names, until its
/// stdin closes (the parent ending it) or it is killed. Returns at once
/// unless the parent started it.
#[test]
fn child_worker() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let queue: String = std::env::var(CHILD_QUEUE).expect("the queue name");
    let index: usize = env_or(CHILD_INDEX, 0);
    let concurrency: usize = env_or(CHILD_CONCURRENCY, 2);
    let delay = Duration::from_millis(env_or(CHILD_DELAY_MS, 2));
    // Short timings, so that a killed worker's job moves again within
    // seconds; set these two to 30000 and 5000 to see the defaults.
    let lease = Duration::from_millis(env_or("SF_IMPORT_TEST_LEASE_MS", 2_000));
    let queue_heartbeat = Duration::from_millis(env_or("SF_IMPORT_TEST_QUEUE_HEARTBEAT_MS", 1_000));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(6)
            .connect(&url)
            .await
            .expect("connect");
        let owner = format!("child-{index}-{}", std::process::id());
        let importer = Importer::builder(
            Arc::new(FileSource::sample_org()),
            Arc::new(Slow {
                inner: PgCrmSink::new(pool.clone()),
                per_record: delay,
            }),
            Arc::new(PgJobStore::new(pool.clone())),
        )
        .page_size(PAGE_SIZE)
        .lease(lease, lease / 4)
        .owner(owner.clone())
        .backoff(Duration::from_millis(50), Duration::from_millis(500))
        .build()
        .expect("importer");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            let _ = stop_tx.send(());
        });
        eprintln!("[worker {index}] up as {owner} on {queue}, concurrency {concurrency}");
        Worker::on(ImportQueue::new(pool).named(queue), Arc::new(importer))
            .concurrency(concurrency)
            .heartbeat(queue_heartbeat, 3)
            .poll_interval(Duration::from_millis(200))
            .name_prefix(format!("test-worker-{index}"))
            .run_until(async move {
                let _ = stop_rx.await;
            })
            .await
            .expect("worker");
        eprintln!("[worker {index}] stopped");
    });
}

/// A worker process of this test binary.
fn spawn_worker(queue: &str, index: usize, concurrency: usize, delay_ms: u64) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "child_worker", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(CHILD_QUEUE, queue)
        .env(CHILD_INDEX, index.to_string())
        .env(CHILD_CONCURRENCY, concurrency.to_string())
        .env(CHILD_DELAY_MS, delay_ms.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning a worker process")
}

/// Ends the workers gracefully (closing their stdin), or kills them after
/// 20 s.
fn stop_workers(workers: Vec<Child>) {
    let mut workers: Vec<Child> = workers
        .into_iter()
        .map(|mut c| {
            drop(c.stdin.take());
            c
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    for c in &mut workers {
        loop {
            match c.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
            }
        }
    }
}

/// A queue name no other run uses.
fn unique_queue(tag: &str) -> String {
    format!("sf-import-test-{tag}-{}-{}", std::process::id(), rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32
}

/// A small deterministic generator for the seeds.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

async fn setup() -> Option<(PgPool, Importer)> {
    let pool = common::pool().await?;
    ImportQueue::setup(&pool).await.expect("queue setup");
    // The parent only creates jobs: it never runs one.
    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        Arc::new(PgCrmSink::new(pool.clone())),
        Arc::new(PgJobStore::new(pool.clone())),
    )
    .build()
    .expect("importer");
    Some((pool, importer))
}

fn processed(job: &salesforce_import::Job) -> u64 {
    job.objects.iter().map(|o| o.processed()).sum()
}

/// Waits until every job is over; panics after `limit`.
async fn wait_all(store: &PgJobStore, jobs: &[(TenantId, JobId)], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let mut open = Vec::new();
        for (tenant, id) in jobs {
            let job = store.job(tenant, id).await.expect("job");
            if !job.status.is_final() {
                open.push(format!("{tenant}: {:?} {}", job.status, processed(&job)));
            }
        }
        if open.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "jobs not done after {limit:?}: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Three worker processes, several tenants, one worker SIGKILLed in the
/// middle of a job, for several seeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_jobs_complete_once_and_match_a_reference_import() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some((pool, importer)) = setup().await else {
        return;
    };
    let store = PgJobStore::new(pool.clone());
    let reference = Arc::new(reference_import().await);
    for seed in [1u64, 7, 42] {
        let mut rng = Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let queue = unique_queue(&format!("kill{seed}"));
        let tenants: Vec<TenantId> = (0..3 + rng.next(3))
            .map(|i| unique_tenant(&format!("s{seed}-{i}")))
            .collect();
        let mut jobs = Vec::new();
        let q = ImportQueue::new(pool.clone()).named(queue.clone());
        for tenant in &tenants {
            let job = q
                .enqueue(&importer, tenant, request())
                .await
                .expect("enqueue");
            assert_eq!(job.status, JobStatus::Pending);
            jobs.push((tenant.clone(), job.id));
        }
        let started = Instant::now();
        let mut workers: Vec<Option<Child>> = (0..3)
            .map(|i| Some(spawn_worker(&queue, i, 2, 3)))
            .collect();

        // Kill the worker running a job once that job has written a
        // seed-dependent number of records.
        let victim_job = rng.next(jobs.len() as u64) as usize;
        let kill_after = 40 + rng.next(200);
        let (tenant, id) = jobs[victim_job].clone();
        let (owner, at_kill) = loop {
            let job = store.job(&tenant, &id).await.expect("job");
            assert!(
                !job.status.is_final(),
                "seed {seed}: the job ended before the kill"
            );
            if let Some(lease) = job.lease.as_ref().filter(|_| processed(&job) >= kill_after) {
                break (lease.owner.clone(), job);
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "seed {seed}: no progress"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let index: usize = owner
            .strip_prefix("child-")
            .and_then(|r| r.split('-').next())
            .and_then(|i| i.parse().ok())
            .expect("a worker's owner id");
        let mut child = workers[index].take().expect("the worker is alive");
        child.kill().expect("SIGKILL");
        let killed = Instant::now();
        let _ = child.wait();
        let before = processed(&at_kill);
        // The time until another worker moves the job on.
        let moved = loop {
            let job = store.job(&tenant, &id).await.expect("job");
            if processed(&job) > before || job.status.is_final() {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(60),
                "seed {seed}: the job never moved again"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!(
            "seed {seed}: {} tenants; killed worker {index} at {before} records of {tenant}; \
             the job moved again {:.2} s after the SIGKILL",
            tenants.len(),
            moved.as_secs_f64()
        );
        wait_all(&store, &jobs, Duration::from_secs(90)).await;
        println!(
            "seed {seed}: all jobs done in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        stop_workers(workers.into_iter().flatten().collect());

        for (tenant, id) in &jobs {
            let history = store.history(tenant, 10).await.expect("history");
            assert_eq!(history.len(), 1, "one job per tenant: {history:?}");
            let job = &history[0];
            assert_eq!(&job.id, id);
            assert_eq!(job.status, JobStatus::CompletedWithErrors, "{job:?}");
            for (object, _, imported, failed) in COUNTS {
                let progress = job
                    .object(&SObject::new(*object))
                    .unwrap_or_else(|| panic!("{object} in the job"));
                assert_eq!(
                    (progress.imported, progress.errors),
                    (*imported as u64, *failed as u64),
                    "seed {seed}, {tenant}, {object}: counted once"
                );
            }
            compare_with_reference(&pool, tenant, &reference).await;
        }
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM apalis.jobs WHERE job_type = $1 AND status <> 'Done'",
        )
        .bind(&queue)
        .fetch_one(&pool)
        .await
        .expect("queue rows");
        assert_eq!(left, 0, "every task of the queue is done");
    }
}

/// Closing a worker's shutdown future mid-job: the worker finishes the
/// job in hand before it exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_the_job_in_hand() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some((pool, importer)) = setup().await else {
        return;
    };
    let store = PgJobStore::new(pool.clone());
    let queue = unique_queue("graceful");
    let tenant = unique_tenant("graceful");
    let q = ImportQueue::new(pool.clone()).named(queue.clone());
    let job = q
        .enqueue(&importer, &tenant, request())
        .await
        .expect("enqueue");
    let mut worker = spawn_worker(&queue, 0, 1, 4);
    let started = Instant::now();
    loop {
        let job = store.job(&tenant, &job.id).await.expect("job");
        if processed(&job) > 50 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(worker.stdin.take()); // the shutdown signal
    let status = tokio::task::spawn_blocking(move || worker.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "the worker exits cleanly: {status}");
    let job = store.job(&tenant, &job.id).await.expect("job");
    assert_eq!(job.status, JobStatus::CompletedWithErrors, "{job:?}");
}

/// A payload that is not a task, and a task whose job does not exist, are
/// dropped; the worker goes on with the next task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tasks_are_dropped_and_the_worker_goes_on() {
    use apalis::prelude::TaskSink;
    use salesforce_import::workers::ImportTask;

    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some((pool, importer)) = setup().await else {
        return;
    };
    let queue = unique_queue("bad");
    let mut raw = apalis_postgres::PostgresStorage::<Value>::new(&pool)
        .with_config(apalis_postgres::Config::default().queue(&queue));
    raw.push(serde_json::json!({"not": "a task"}))
        .await
        .expect("push");
    let q = ImportQueue::new(pool.clone()).named(queue.clone());
    q.push(ImportTask::new(
        unique_tenant("bad"),
        JobId::new("no-such-job"),
    ))
    .await
    .expect("push");
    let tenant = unique_tenant("good");
    let job = q
        .enqueue(&importer, &tenant, request())
        .await
        .expect("enqueue");
    let worker = spawn_worker(&queue, 0, 1, 0);
    let store = PgJobStore::new(pool.clone());
    wait_all(&store, &[(tenant, job.id)], Duration::from_secs(60)).await;
    stop_workers(vec![worker]);
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs WHERE job_type = $1 AND status IN ('Pending', 'Queued', 'Running')",
    )
    .bind(&queue)
    .fetch_one(&pool)
    .await
    .expect("queue rows");
    assert_eq!(open, 0, "no task left to retry");
}

/// The same imports spread over 1, 2 and 4 worker processes: every job
/// finishes once, with the sample org's counts. It prints the wall time of
/// each, which is how the README's scaling figures were measured (with
/// `SF_IMPORT_SCALING_TENANTS=8 SF_IMPORT_SCALING_DELAY_MS=2`); CI runs a
/// small, fast configuration and asserts only the outcome, never a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some((pool, importer)) = setup().await else {
        return;
    };
    let store = PgJobStore::new(pool.clone());
    let tenants = env_or("SF_IMPORT_SCALING_TENANTS", 3usize);
    let delay = env_or("SF_IMPORT_SCALING_DELAY_MS", 0u64);
    let concurrency = env_or("SF_IMPORT_SCALING_CONCURRENCY", 1usize);
    for processes in [1usize, 2, 4] {
        let queue = unique_queue(&format!("scale{processes}"));
        let q = ImportQueue::new(pool.clone()).named(queue.clone());
        let mut jobs = Vec::new();
        for i in 0..tenants {
            let tenant = unique_tenant(&format!("p{processes}-{i}"));
            let job = q
                .enqueue(&importer, &tenant, request())
                .await
                .expect("enqueue");
            jobs.push((tenant, job.id));
        }
        let started = Instant::now();
        let workers: Vec<Child> = (0..processes)
            .map(|i| spawn_worker(&queue, i, concurrency, delay))
            .collect();
        wait_all(&store, &jobs, Duration::from_secs(600)).await;
        let took = started.elapsed();
        stop_workers(workers);
        for (tenant, id) in &jobs {
            let job = store.job(tenant, id).await.expect("job");
            assert_eq!(
                job.status,
                JobStatus::CompletedWithErrors,
                "{tenant}: {job:?}"
            );
            let want: (u64, u64) = COUNTS
                .iter()
                .fold((0, 0), |(i, e), c| (i + c.2 as u64, e + c.3 as u64));
            assert_eq!(
                (job.imported(), job.errors()),
                want,
                "{tenant}: the sample org's counts"
            );
            assert_eq!(
                store.history(tenant, 10).await.expect("history").len(),
                1,
                "{tenant}: one job"
            );
        }
        println!(
            "{processes} worker process(es) x concurrency {concurrency}: {tenants} imports of the sample org \
             ({delay} ms per record in the sink) in {:.2} s",
            took.as_secs_f64()
        );
    }
}

// ---------------------------------------------------------------------
// Record-by-record comparison with an in-memory import of the same org.

/// Per CRM table: Salesforce id -> the record's fields as JSON, lookups
/// replaced by the Salesforce id of the record they point to.
type Snapshot = BTreeMap<&'static str, BTreeMap<String, BTreeMap<String, Value>>>;

const TABLES: [(&str, &str); 9] = [
    ("Account", "crm_accounts"),
    ("Contact", "crm_contacts"),
    ("Opportunity", "crm_opportunities"),
    ("Product2", "crm_products"),
    ("PricebookEntry", "crm_product_prices"),
    ("Order", "crm_orders"),
    ("OrderItem", "crm_order_lines"),
    ("Quote", "crm_quotes"),
    ("QuoteLineItem", "crm_quote_lines"),
];

/// The in-memory reference: the sample org imported with the in-memory
/// sink and job store, as the PostgreSQL workers import it.
async fn reference_import() -> (InMemorySink, TenantId) {
    let sink = InMemorySink::new();
    let tenant = TenantId::new("reference");
    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        Arc::new(sink.clone()),
        Arc::new(InMemoryJobStore::new()),
    )
    .page_size(PAGE_SIZE)
    .build()
    .expect("importer");
    let job = importer
        .run(&tenant, request())
        .await
        .expect("reference import");
    assert!(job.status.is_final(), "{job:?}");
    (sink, tenant)
}

/// Record fields whose column has another name: (table, field, column).
const RENAMED: [(&str, &str, &str); 1] = [("crm_orders", "activated_date", "activated_at")];

/// The record fields that hold a lookup (`crm::Link`).
const LINKS: [&str; 7] = [
    "parent",
    "account",
    "contact",
    "opportunity",
    "product",
    "order",
    "quote",
];

/// The reference import's records, as JSON with lookups as Salesforce ids.
async fn memory_snapshot(sink: &InMemorySink, tenant: &TenantId) -> Snapshot {
    let mut sf_of: HashMap<String, String> = HashMap::new();
    let mut all = Vec::new();
    for (object, table) in TABLES {
        let records = sink.records(tenant, &SObject::new(object));
        for (sf_id, crm_id, _) in &records {
            sf_of.insert(crm_id.to_string(), sf_id.to_string());
        }
        all.push((table, records));
    }
    let mut snapshot = Snapshot::new();
    for (table, records) in all {
        let rows = snapshot.entry(table).or_default();
        for (sf_id, _, record) in records {
            let tagged = serde_json::to_value(&record).expect("record as JSON");
            let fields = tagged
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_object)
                .cloned()
                .expect("an externally tagged record");
            let mut flat = BTreeMap::new();
            for (key, value) in fields {
                match value {
                    Value::Object(address) if key != "custom_fields" => {
                        for (part, v) in address {
                            let prefix = match (key.as_str(), table) {
                                ("address", "crm_accounts") => "billing",
                                ("address", "crm_contacts") => "mailing",
                                _ => key.strip_suffix("_address").unwrap_or(&key),
                            };
                            let part = if part == "line" {
                                "street".to_owned()
                            } else {
                                part
                            };
                            flat.insert(format!("{prefix}_{part}"), v);
                        }
                    }
                    Value::String(id) if LINKS.contains(&key.as_str()) => {
                        flat.insert(
                            format!("{key}_id"),
                            Value::String(
                                sf_of
                                    .get(&id)
                                    .expect("a lookup to a record of the import")
                                    .clone(),
                            ),
                        );
                    }
                    v => {
                        flat.insert(key, v);
                    }
                }
            }
            assert!(
                rows.insert(sf_id.to_string(), flat).is_none(),
                "one record per id"
            );
        }
    }
    // The in-memory sink writes a price book entry onto its product and
    // keeps only the entry's id -> the product: compare that lookup.
    let source = FileSource::sample_org();
    let entries = snapshot.entry("crm_product_prices").or_default();
    let mut request = PageRequest::new(SObject::PRICEBOOK_ENTRY, vec!["Id".into()], 2_000);
    loop {
        let page = source
            .fetch_page(tenant, &request)
            .await
            .expect("the sample org");
        for record in &page.records {
            let sf_id = record.id().expect("an id");
            if let Some((product, _)) = sink.get(tenant, &SObject::PRICEBOOK_ENTRY, &sf_id) {
                let product = sf_of
                    .get(&product.to_string())
                    .expect("the entry's product");
                let row =
                    BTreeMap::from([("product_id".to_owned(), Value::String(product.clone()))]);
                entries.insert(sf_id.to_string(), row);
            }
        }
        match page.next {
            Some(next) => request = request.cursor(Some(next)),
            None => break,
        }
    }
    snapshot
}

/// The tenant's rows in the reference CRM tables, lookups as Salesforce ids.
async fn postgres_snapshot(pool: &PgPool, tenant: &TenantId) -> Snapshot {
    let mut sf_of: HashMap<String, String> = HashMap::new();
    let mut all = Vec::new();
    for (_, table) in TABLES {
        let rows: Vec<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT to_jsonb(t) FROM {table} t WHERE tenant_id = $1"
        )))
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
        .expect("reading a crm table");
        for row in &rows {
            sf_of.insert(
                row["id"].as_str().unwrap().to_owned(),
                row["sf_id"].as_str().unwrap().to_owned(),
            );
        }
        all.push((table, rows));
    }
    let mut snapshot = Snapshot::new();
    for (table, rows) in all {
        let out = snapshot.entry(table).or_default();
        for row in rows {
            let Value::Object(mut row) = row else {
                unreachable!()
            };
            let sf_id = row["sf_id"].as_str().unwrap().to_owned();
            for key in ["id", "tenant_id", "sf_id", "created_at", "updated_at"] {
                row.remove(key);
            }
            let mut flat = BTreeMap::new();
            for (key, value) in row {
                let value = match (&value, key.ends_with("_id")) {
                    (Value::String(uuid), true) if sf_of.contains_key(uuid) => {
                        Value::String(sf_of[uuid].clone())
                    }
                    _ => value,
                };
                flat.insert(key, value);
            }
            assert!(
                out.insert(sf_id.clone(), flat).is_none(),
                "{table}: {sf_id} twice"
            );
        }
    }
    snapshot
}

/// Equal up to representation: numbers as text or JSON numbers, enum
/// variants as `ClosedWon` or `CLOSED_WON`, timestamps to the second.
fn same(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let (Some(x), Some(y)) = (text(a), text(b)) else {
        return false;
    };
    if let (Ok(x), Ok(y)) = (
        x.parse::<rust_decimal_like::Num>(),
        y.parse::<rust_decimal_like::Num>(),
    ) {
        return x == y;
    }
    let squash = |s: &str| s.replace(['_', ' ', '-'], "").to_ascii_lowercase();
    if squash(&x) == squash(&y) {
        return true;
    }
    let time = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    matches!((time(&x), time(&y)), (Some(p), Some(q)) if p == q)
}

/// Number parsing that ignores trailing zeros (`12.50` = `12.5`).
mod rust_decimal_like {
    #[derive(PartialEq)]
    pub struct Num(String);
    impl std::str::FromStr for Num {
        type Err = ();
        fn from_str(s: &str) -> Result<Num, ()> {
            if s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
            {
                return Err(());
            }
            let s = if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.')
            } else {
                s
            };
            Ok(Num(s.to_owned()))
        }
    }
}

/// Every record the reference import wrote is in the tenant's tables, once,
/// with the same mapped fields and lookups to the same Salesforce ids, and
/// nothing else is.
async fn compare_with_reference(
    pool: &PgPool,
    tenant: &TenantId,
    reference: &(InMemorySink, TenantId),
) {
    let expected = memory_snapshot(&reference.0, &reference.1).await;
    let actual = postgres_snapshot(pool, tenant).await;
    let renamed: BTreeSet<&str> = DUPLICATE_ACCOUNT_NAMES
        .iter()
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    let mut compared = 0usize;
    let mut missing = BTreeSet::new();
    for (table, want_rows) in &expected {
        let got_rows = &actual[table];
        let want_ids: BTreeSet<&String> = want_rows.keys().collect();
        let got_ids: BTreeSet<&String> = got_rows.keys().collect();
        assert_eq!(
            want_ids, got_ids,
            "{tenant} {table}: the same Salesforce ids"
        );
        for (sf_id, want) in want_rows {
            let got = &got_rows[sf_id];
            for (field, value) in want {
                if *table == "crm_accounts" && field == "name" && renamed.contains(sf_id.as_str()) {
                    continue; // PgCrmSink tells duplicate names apart
                }
                let column = RENAMED
                    .iter()
                    .find(|(t, f, _)| t == table && f == field)
                    .map_or(field.as_str(), |(_, _, c)| c);
                // A lookup left empty: `parent` is `parent_id`.
                let Some(in_pg) = got.get(column).or_else(|| got.get(&format!("{field}_id")))
                else {
                    missing.insert(format!("{table}.{field}"));
                    continue;
                };
                assert!(
                    same(value, in_pg),
                    "{tenant} {table} {sf_id}: {field} is {in_pg} in PostgreSQL, {value} in memory"
                );
                compared += 1;
            }
        }
    }
    assert!(
        missing.is_empty(),
        "record fields with no column: {missing:?}"
    );
    assert!(compared > 3_000, "only {compared} values compared");
}

/// The router with a queue: `POST /import` queues the job (pending, run by
/// no one in the server's process), a worker process runs it, and a
/// second start while it is queued is 409.
#[cfg(feature = "server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_with_a_queue_enqueues_instead_of_running() {
    use axum::http::request::Parts;
    use salesforce_import::http::SalesforceOAuth;
    use salesforce_import::server::{Authenticate, Caller, ImportApi};
    use salesforce_import::vault::{Connection, InMemoryTokenVault, TokenVault};

    #[derive(Debug)]
    struct Tenant(TenantId);

    #[async_trait]
    impl Authenticate for Tenant {
        async fn authenticate(&self, _: &Parts) -> Option<Caller> {
            Some(Caller::new("ada@queue.test", self.0.clone(), true))
        }
    }

    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some((pool, _)) = setup().await else {
        return;
    };
    let tenant = unique_tenant("router");
    let vault: Arc<dyn TokenVault> = Arc::new(InMemoryTokenVault::new());
    let connection = Connection::new(
        "https://example.my.salesforce.com",
        "token".to_owned().into(),
        None,
        "ada@queue.test",
        chrono::Utc::now(),
    );
    vault.put(&tenant, &connection).await.expect("a connection");
    let oauth = Arc::new(
        SalesforceOAuth::builder(
            "client",
            "secret".to_owned().into(),
            "http://127.0.0.1:9/cb",
        )
        .build(vault.clone())
        .expect("oauth"),
    );
    let jobs: Arc<dyn JobStore> = Arc::new(PgJobStore::new(pool.clone()));
    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        Arc::new(PgCrmSink::new(pool.clone())),
        jobs.clone(),
    )
    .vault(vault)
    .build()
    .expect("importer");
    let queue_name = unique_queue("router");
    let api = ImportApi::builder(
        importer,
        jobs.clone(),
        oauth,
        Arc::new(Tenant(tenant.clone())),
    )
    .with_queue(ImportQueue::new(pool.clone()).named(queue_name.clone()))
    .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api.router()).await });
    let http = reqwest::Client::new();
    let start = || {
        http.post(format!("{base}/import"))
            // The router's cross-site request forgery defence.
            .header("x-requested-with", "salesforce-import")
            .json(&serde_json::json!({"object_types": ["Account", "Contact", "Opportunity", "Product2", "Order", "Quote"]}))
            .send()
    };

    let response = start().await.expect("POST /import");
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "PENDING", "{body}");
    let id = JobId::new(body["id"].as_str().expect("the job id"));
    let again = start().await.expect("POST /import");
    assert_eq!(
        again.status(),
        reqwest::StatusCode::CONFLICT,
        "one import per tenant"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let job = jobs.job(&tenant, &id).await.unwrap();
    assert_eq!(
        job.status,
        JobStatus::Pending,
        "queued, not run by the server"
    );

    let worker = spawn_worker(&queue_name, 0, 1, 0);
    wait_all(
        &PgJobStore::new(pool.clone()),
        &[(tenant.clone(), id.clone())],
        Duration::from_secs(60),
    )
    .await;
    stop_workers(vec![worker]);
    let job = jobs.job(&tenant, &id).await.unwrap();
    assert_eq!(job.status, JobStatus::CompletedWithErrors, "{job:?}");
    let body: Value = http
        .get(format!("{base}/import/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "COMPLETED_WITH_ERRORS", "{body}");
    assert_eq!(jobs.history(&tenant, 10).await.unwrap().len(), 1);
}
