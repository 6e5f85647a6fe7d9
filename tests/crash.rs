//! Crash tests against PostgreSQL, with real processes.
//!
//! The test binary re-runs itself as a child process (`child_entry`, only
//! active with `SF_CRASH_CHILD=1`) that imports the bundled sample org into
//! the reference CRM tables through [`PgCrmSink`] and [`PgJobStore`], with a
//! short lease (1.5 s, renewed every 300 ms; the races' is 6 s). Each `write_batch` sleeps a
//! little before and after the real write, so a kill lands mid-page (page
//! fetched, mapped and resolved, not yet written) or between the write and
//! the page's record in the job store.
//!
//! - `crash_seed_*`: for each seed, three children are killed one after
//!   the other (SIGKILL after a delay drawn from the seed; one of the three
//!   instead aborts itself right after its N-th write, before the page is
//!   recorded), then a last child runs to the end. Every child after the
//!   first finds the job stranded once its lease lapsed and takes it over.
//!   The destination must then equal an in-process import into
//!   [`InMemorySink`] record by record (ids, every column, every lookup),
//!   with the same counts and error log, one job in the history, finished
//!   and without a lease.
//! - `race_*`: two children race for one stranded job (through
//!   [`Importer::resume`] or [`Importer::start`]) at the same instant:
//!   exactly one takes it, the other is told the import is already running;
//!   the job completes once, with the same destination.
//! - `a_completed_job_is_not_reported_as_taken_over` (in process): the
//!   heartbeat racing the end of a job, which the crash runs hit now and
//!   then, made certain by a slow read of the finished job.
//!
//! The delay before a SIGKILL counts from the moment the child holds the
//! job; after each crash the job must be left running, leased to the dead
//! child, and the next child may take it only once that lease lapsed.
//!
//! `SF_CRASH_SEEDS=a,b,c` replaces the three default seeds.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use rust_decimal::Decimal;
use salesforce_import::crm::{Address, CrmRecord};
use salesforce_import::jobs::{IdKey, IdMapping, LogEntry, NewJob, PageRecord};
use salesforce_import::postgres::{self, PgCrmSink, PgJobStore};
use salesforce_import::sink::{Relink, WriteBatch, WriteOutcome};
use salesforce_import::testkit::unique_tenant;
use salesforce_import::{
    CrmId, CrmSink, Error, FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink,
    Job, JobId, JobStatus, JobStore, Lease, ObjectState, Problem, RecordError, SObject, Severity,
    SfId, TenantId, WriteMode,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row as _};

// ---------------------------------------------------------------------------
// Parameters shared by the parent and its children.

/// Set in a child: `child_entry` runs the import.
const CHILD_ENV: &str = "SF_CRASH_CHILD";
/// The tenant to import for.
const TENANT_ENV: &str = "SF_CRASH_TENANT";
/// `start` (default) or `resume`.
const MODE_ENV: &str = "SF_CRASH_MODE";
/// The job to resume (`resume` mode).
const JOB_ENV: &str = "SF_CRASH_JOB";
/// Abort the process right after the N-th `write_batch` returned.
const AFTER_WRITE_ENV: &str = "SF_CRASH_AFTER_WRITE";
/// Wait until this instant (Unix milliseconds) before starting: races.
const AT_ENV: &str = "SF_CRASH_AT_MS";
/// `0`: answer an import already running at once instead of waiting for
/// its lease to lapse.
const RETRY_ENV: &str = "SF_CRASH_RETRY";
/// The lease in milliseconds, when not [`LEASE`] (renewed every fifth).
const LEASE_ENV: &str = "SF_CRASH_LEASE_MS";

const PAGE_SIZE: usize = 7;
const LEASE: Duration = Duration::from_millis(1500);
/// The races' lease: nothing in a race waits for it to lapse, and a child
/// stalled past a short lease on a loaded machine would lose the job it
/// took (`LeaseLost`), which is not what a race tests.
const RACE_LEASE: Duration = Duration::from_secs(6);
/// Slept before and after each real write (so ~70 pages last ~3 s).
const HALF_WRITE_SLEEP: Duration = Duration::from_millis(15);
/// How long a child keeps trying while the previous child's lease holds.
const TAKEOVER_PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The child.

/// The child process's entry point: does nothing in a normal test run.
#[test]
fn child_entry() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child runtime");
    rt.block_on(child_main());
}

/// [`PgCrmSink`], slowed down, printing each write, and (with
/// `SF_CRASH_AFTER_WRITE=N`) aborting the process right after the N-th
/// write returned: the page is in the CRM, not yet recorded.
#[derive(Debug)]
struct SlowSink {
    inner: PgCrmSink,
    abort_after: Option<u64>,
    writes: AtomicU64,
}

#[async_trait]
impl CrmSink for SlowSink {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> salesforce_import::Result<Vec<Result<WriteOutcome, RecordError>>> {
        let first = batch.records.first().map(|r| r.sf_id.to_string());
        let last = batch.records.last().map(|r| r.sf_id.to_string());
        println!(
            "WRITING {} {} {}..{}",
            batch.object,
            batch.records.len(),
            first.as_deref().unwrap_or("-"),
            last.as_deref().unwrap_or("-")
        );
        tokio::time::sleep(HALF_WRITE_SLEEP).await;
        let out = self.inner.write_batch(tenant, batch).await?;
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        println!(
            "WROTE #{n} {} {}..{}",
            batch.object,
            first.as_deref().unwrap_or("-"),
            last.as_deref().unwrap_or("-")
        );
        if self.abort_after == Some(n) {
            println!("ABORTING after write #{n}: written, not recorded");
            std::process::abort();
        }
        tokio::time::sleep(HALF_WRITE_SLEEP).await;
        Ok(out)
    }

    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> salesforce_import::Result<Vec<Result<(), RecordError>>> {
        tokio::time::sleep(HALF_WRITE_SLEEP).await;
        let out = self.inner.relink(tenant, object, links).await?;
        println!("RELINKED {object} {}", links.len());
        tokio::time::sleep(HALF_WRITE_SLEEP).await;
        Ok(out)
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

async fn child_main() {
    let var = |k: &str| std::env::var(k).ok();
    let url = var("DATABASE_URL").expect("the parent passes DATABASE_URL");
    let tenant = TenantId::new(var(TENANT_ENV).expect("SF_CRASH_TENANT"));
    let abort_after = var(AFTER_WRITE_ENV).map(|n| n.parse::<u64>().expect("a number"));
    let retry = var(RETRY_ENV).is_none_or(|v| v != "0");
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&url)
        .await
        .expect("child: connecting to PostgreSQL");
    postgres::migrate(&pool).await.expect("child: migrate");
    postgres::migrate_crm(&pool)
        .await
        .expect("child: migrate_crm");
    let sink = Arc::new(SlowSink {
        inner: PgCrmSink::new(pool.clone()),
        abort_after,
        writes: AtomicU64::new(0),
    });
    let jobs = Arc::new(PgJobStore::new(pool.clone()));
    let owner = format!("crash-child-{}-{}", std::process::id(), unix_ms());
    let lease = std::env::var(LEASE_ENV)
        .ok()
        .map(|ms| Duration::from_millis(ms.parse().expect("child: lease in ms")))
        .unwrap_or(LEASE);
    let importer = Importer::builder(Arc::new(FileSource::sample_org()), sink, jobs.clone())
        .page_size(PAGE_SIZE)
        .lease(lease, lease / 5)
        .owner(owner.clone())
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .build()
        .expect("child: importer");
    println!("READY {owner}");

    if let Some(at) = var(AT_ENV) {
        let at: u64 = at.parse().expect("a time");
        let now = unix_ms();
        if now > at {
            println!("LATE by {} ms", now - at);
        } else {
            tokio::time::sleep(Duration::from_millis(at - now)).await;
        }
    }

    let mode = var(MODE_ENV).unwrap_or_else(|| "start".to_owned());
    let handle = match mode.as_str() {
        "resume" => {
            let job = JobId::new(var(JOB_ENV).expect("SF_CRASH_JOB"));
            match importer.resume(&tenant, &job).await {
                Ok(handle) => handle,
                Err(Error::ImportAlreadyRunning { job, .. }) => {
                    println!("RESULT already-running {job}");
                    return;
                }
                Err(e) => {
                    println!("RESULT error {e}");
                    panic!("child: resume failed: {e}");
                }
            }
        }
        "start" => {
            // A job that already finished (the previous child completed it
            // before it was killed) is not started again: one job only.
            let history = jobs.history(&tenant, 10).await.expect("child: history");
            if let Some(done) = history.iter().find(|j| j.status.is_final()) {
                println!("RESULT finished-before {} {}", done.id, done.status);
                return;
            }
            let begun = Instant::now();
            let mut refused = 0u32;
            loop {
                let request = ImportRequest::new("crash-test", SObject::SELECTABLE);
                match importer.start(&tenant, request).await {
                    Ok(handle) => {
                        if refused > 0 {
                            println!(
                                "WAITED {} ms ({refused} refusals) for the lease to lapse",
                                begun.elapsed().as_millis()
                            );
                        }
                        break handle;
                    }
                    Err(Error::ImportAlreadyRunning { .. })
                        if retry && begun.elapsed() < TAKEOVER_PATIENCE =>
                    {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(Error::ImportAlreadyRunning { job, .. }) => {
                        println!("RESULT already-running {job}");
                        if retry {
                            panic!(
                                "child: job {job} was never taken over: still leased after {:?}",
                                begun.elapsed()
                            );
                        }
                        return;
                    }
                    Err(e) => {
                        println!("RESULT error {e}");
                        panic!("child: start failed: {e}");
                    }
                }
            }
        }
        other => panic!("child: unknown mode {other}"),
    };
    let id = handle.job_id().clone();
    println!("RESULT took {id}");
    println!("STARTED {id} {}", unix_ms());
    let job = handle.wait().await.expect("child: the job ended in error");
    println!(
        "DONE {} {} imported={} skipped={} errors={}",
        job.id,
        job.status,
        job.imported(),
        job.skipped(),
        job.errors()
    );
}

// ---------------------------------------------------------------------------
// Driving children from the parent.

/// A child process, its output read by two threads.
struct Spawned {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    spawned_at: Instant,
}

fn pump(
    from: impl Read + Send + 'static,
    to: Arc<Mutex<Vec<String>>>,
    tx: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            to.lock().unwrap().push(line.clone());
            if let Some(tx) = &tx {
                let _ = tx.send(line);
            }
        }
    })
}

impl Spawned {
    fn new(vars: &[(&str, String)]) -> Spawned {
        let exe = std::env::current_exe().expect("the test binary");
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in [
            TENANT_ENV,
            MODE_ENV,
            JOB_ENV,
            AFTER_WRITE_ENV,
            AT_ENV,
            RETRY_ENV,
            LEASE_ENV,
        ] {
            cmd.env_remove(k);
        }
        cmd.env(CHILD_ENV, "1").env("RUST_BACKTRACE", "0");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawning a child");
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            pump(child.stdout.take().unwrap(), stdout.clone(), Some(tx)),
            pump(child.stderr.take().unwrap(), stderr.clone(), None),
        ];
        Spawned {
            child,
            lines,
            stdout,
            stderr,
            readers,
            spawned_at: Instant::now(),
        }
    }

    /// The first line starting with `prefix` within `timeout`; `None` when
    /// the child closed its output (exited) or the time ran out.
    fn wait_line(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Waits for the child to exit, up to `timeout` (then kills it and
    /// answers `None`).
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.join_readers();
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.join_readers();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reaps the child.
    /// `false` when it had exited already.
    fn kill(&mut self) -> bool {
        let alive = self.child.try_wait().expect("try_wait").is_none();
        if alive {
            self.child.kill().expect("SIGKILL");
        }
        self.child.wait().expect("reaping the child");
        self.join_readers();
        alive
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The last line the child printed about its progress.
    fn last_progress(&self) -> String {
        self.stdout()
            .iter()
            .rev()
            .find(|l| {
                ["WRITING", "WROTE", "RELINKED", "STARTED", "ABORTING"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .cloned()
            .unwrap_or_else(|| "(none)".to_owned())
    }

    /// Its output, for a failure message: the last lines, and a panic's
    /// message.
    fn transcript(&self) -> String {
        let tail = |v: &[String]| {
            let skip = v.len().saturating_sub(25);
            v[skip..].join("\n    ")
        };
        let stderr = self.stderr.lock().unwrap().clone();
        let panic = stderr
            .iter()
            .position(|l| l.contains("panicked at"))
            .map(|i| stderr[i..(i + 4).min(stderr.len())].join("\n    "))
            .unwrap_or_else(|| "(none)".to_owned());
        format!(
            "  child stdout (tail):\n    {}\n  child panic:\n    {panic}\n  child stderr (tail):\n    {}",
            tail(&self.stdout()),
            tail(&stderr)
        )
    }

    fn count(&self, prefix: &str) -> usize {
        self.stdout()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

/// `STARTED <job> <unix ms>`: the job id and when the child had it.
fn parse_started(line: &str) -> (String, u64) {
    let mut parts = line.split_whitespace().skip(1);
    let id = parts.next().expect("a job id").to_owned();
    let at = parts.next().and_then(|t| t.parse().ok()).expect("a time");
    (id, at)
}

/// splitmix64: kill times from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn seeds() -> [u64; 3] {
    let mut seeds = [0x5EED_0001, 0x5EED_0002, 0x5EED_0003];
    if let Ok(list) = std::env::var("SF_CRASH_SEEDS") {
        for (slot, s) in seeds.iter_mut().zip(list.split(',')) {
            let s = s.trim();
            *slot = s
                .strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16))
                .unwrap_or_else(|| s.parse())
                .expect("SF_CRASH_SEEDS: numbers");
        }
    }
    seeds
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn crash_seed_1() {
    crash_scenario(seeds()[0]);
}

#[test]
fn crash_seed_2() {
    crash_scenario(seeds()[1]);
}

#[test]
fn crash_seed_3() {
    crash_scenario(seeds()[2]);
}

/// A child took the job at `at` (Unix ms): never before the dead child's
/// lease lapsed.
fn check_takeover(story: &mut Vec<String>, lapsed: Option<DateTime<Utc>>, at: u64, round: u64) {
    let Some(lapsed) = lapsed else { return };
    let after = at as i64 - lapsed.timestamp_millis();
    assert!(
        after >= 0,
        "round {round}: the job was taken over {} ms before the dead child's lease lapsed\n{}",
        -after,
        story.join("\n")
    );
    story.push(format!("  taken over {after} ms after that lease lapsed"));
}

fn fail(story: &[String], what: String, child: &Spawned) -> ! {
    panic!("{what}\n{}\n{}", story.join("\n"), child.transcript())
}

/// Three children killed (one aborting itself between a write and its
/// record), a fourth run to the end; then the destination is compared with
/// the reference.
fn crash_scenario(seed: u64) {
    let reference = reference();
    let rt = runtime();
    let Some(pool) = rt.block_on(common::pool()) else {
        return;
    };
    let tenant = unique_tenant();
    let begun = Instant::now();
    let mut rng = Rng(seed);
    let abort_round = rng.range(0, 2);
    let mut story = vec![format!("seed {seed:#x}, tenant {tenant}")];
    let mut job_ids: BTreeSet<String> = BTreeSet::new();
    let mut acquisitions = 0u64;
    let mut finished_early = false;
    let store = PgJobStore::new(pool.clone());
    // When the lease of the last killed child lapses.
    let mut lapsed: Option<DateTime<Utc>> = None;

    for round in 0..3 {
        let mut vars = vec![(TENANT_ENV, tenant.to_string())];
        let abort_after = (round == abort_round).then(|| rng.range(1, 15));
        let delay = Duration::from_millis(rng.range(30, 2000));
        if let Some(n) = abort_after {
            vars.push((AFTER_WRITE_ENV, n.to_string()));
        }
        let mut child = Spawned::new(&vars);
        let Some(started) = child.wait_line("STARTED ", Duration::from_secs(45)) else {
            // No job taken: it finished before (a kill came too late), or
            // the child failed.
            let status = child.wait_exit(Duration::from_secs(10));
            if child.count("RESULT finished-before") > 0 && status.is_some_and(|s| s.success()) {
                story.push(format!("round {round}: the job had finished already"));
                finished_early = true;
                break;
            }
            fail(
                &story,
                format!("round {round}: the child never took the job ({status:?})"),
                &child,
            );
        };
        let since_spawn = child.spawned_at.elapsed();
        acquisitions += 1;
        let (id, at) = parse_started(&started);
        job_ids.insert(id);
        check_takeover(&mut story, lapsed, at, round);
        match abort_after {
            Some(n) => {
                let status = child.wait_exit(Duration::from_secs(60));
                let Some(status) = status else {
                    fail(
                        &story,
                        format!("round {round}: abort after write #{n}: the child hung"),
                        &child,
                    );
                };
                if status.signal() == Some(6) {
                    story.push(format!(
                        "round {round}: took the job {} ms after spawn, aborted itself right \
                         after write #{n} ({})",
                        since_spawn.as_millis(),
                        child.last_progress()
                    ));
                } else if status.success() {
                    story.push(format!(
                        "round {round}: meant to abort after write #{n}, but the job \
                         finished first"
                    ));
                    finished_early = true;
                } else {
                    fail(
                        &story,
                        format!("round {round}: abort after write #{n}: exited with {status}"),
                        &child,
                    );
                }
            }
            None => {
                std::thread::sleep(delay);
                let killed = child.kill();
                // A kill can land after the import ended and before the
                // process exited: the job is then finished, not stranded.
                let ended = killed
                    && rt
                        .block_on(store.history(&tenant, 10))
                        .unwrap()
                        .first()
                        .is_some_and(|job| job.status.is_final());
                if ended {
                    story.push(format!(
                        "round {round}: the job finished before the SIGKILL at {} ms landed \
                         (the child was exiting: {})",
                        delay.as_millis(),
                        child.last_progress()
                    ));
                    finished_early = true;
                } else if killed {
                    story.push(format!(
                        "round {round}: took the job {} ms after spawn, SIGKILL {} ms later \
                         (last: {})",
                        since_spawn.as_millis(),
                        delay.as_millis(),
                        child.last_progress()
                    ));
                } else {
                    let status = child.child.try_wait().ok().flatten();
                    if !status.is_some_and(|s| s.success()) {
                        fail(
                            &story,
                            format!("round {round}: the child died on its own: {status:?}"),
                            &child,
                        );
                    }
                    story.push(format!(
                        "round {round}: the job finished before the SIGKILL at {} ms",
                        delay.as_millis()
                    ));
                    finished_early = true;
                }
            }
        }
        if finished_early {
            break;
        }
        // Killed: the job stays running, leased to the dead child until
        // the lease lapses.
        let owner = child
            .stdout()
            .iter()
            // (after the harness's "test child_entry ... ", on the same line)
            .find_map(|l| l.split_once("READY ").map(|(_, owner)| owner.to_owned()))
            .unwrap_or_default();
        let jobs = rt.block_on(store.history(&tenant, 10)).unwrap();
        match &jobs[..] {
            [job]
                if job.status.is_running()
                    && job.lease.as_ref().is_some_and(|l| l.owner == owner) =>
            {
                let lease = job.lease.as_ref().unwrap();
                story.push(format!(
                    "  left {} with lease #{} of the dead child until {}",
                    job.status, lease.token, lease.expires_at
                ));
                lapsed = Some(lease.expires_at);
            }
            _ => fail(
                &story,
                format!(
                    "round {round}: after the crash, the job should be running and leased to \
                     {owner}: {jobs:?}"
                ),
                &child,
            ),
        }
    }

    // The last child: takes the job over once the lease lapsed, and ends it.
    let mut last = Spawned::new(&[(TENANT_ENV, tenant.to_string())]);
    let status = last.wait_exit(Duration::from_secs(90));
    let took = last
        .stdout()
        .iter()
        .find(|l| l.starts_with("STARTED "))
        .map(|l| parse_started(l));
    if let Some((id, at)) = took {
        acquisitions += 1;
        job_ids.insert(id);
        check_takeover(&mut story, lapsed, at, 3);
    }
    match status {
        Some(s) if s.success() => {}
        other => fail(
            &story,
            format!("the last child did not finish the job: {other:?}"),
            &last,
        ),
    }
    let done = last
        .stdout()
        .iter()
        .find(|l| l.starts_with("DONE ") || l.starts_with("RESULT finished-before"))
        .cloned();
    let Some(done) = done else {
        fail(
            &story,
            "the last child did not report the job's end".into(),
            &last,
        );
    };
    story.push(format!(
        "last child: {} ({})",
        done,
        last.stdout()
            .iter()
            .find(|l| l.starts_with("WAITED"))
            .map_or("took it at once", String::as_str)
    ));
    story.push(format!(
        "children done after {} ms",
        begun.elapsed().as_millis()
    ));
    if !finished_early {
        assert!(
            last.count("STARTED ") == 1,
            "the last child must have taken the job over\n{}\n{}",
            story.join("\n"),
            last.transcript()
        );
    }
    assert_eq!(
        job_ids.len(),
        1,
        "every child must have run the same job (taken over, not a new one): {job_ids:?}\n{}",
        story.join("\n")
    );

    let context = story.join("\n");
    rt.block_on(verify(&pool, &tenant, reference, acquisitions, &context));
    eprintln!("{context}\nverified in {} ms", begun.elapsed().as_millis());
}

#[test]
fn race_for_a_stranded_job_through_resume() {
    race("resume");
}

#[test]
fn race_for_a_stranded_job_through_start() {
    race("start");
}

/// Two children, at the same instant, for one stranded job: exactly one
/// takes it.
fn race(mode: &str) {
    let reference = reference();
    let rt = runtime();
    let Some(pool) = rt.block_on(common::pool()) else {
        return;
    };
    let tenant = unique_tenant();
    let store = PgJobStore::new(pool.clone());
    let plan = Importer::builder(
        Arc::new(FileSource::new()),
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .build()
    .unwrap()
    .plan(&SObject::SELECTABLE)
    .unwrap();
    let now = Utc::now();
    let new = NewJob::new(
        tenant.clone(),
        "crash-test",
        plan,
        WriteMode::SkipExisting,
        now - chrono::Duration::minutes(2),
    )
    .leased_to("dead", now - chrono::Duration::minutes(1));
    let job = rt
        .block_on(store.create_job(&new))
        .expect("the stranded job");
    assert!(job.is_stranded(Utc::now()), "{job:?}");

    let at = unix_ms() + 2_500;
    let vars = vec![
        (TENANT_ENV, tenant.to_string()),
        (MODE_ENV, mode.to_owned()),
        (JOB_ENV, job.id.to_string()),
        (AT_ENV, at.to_string()),
        (RETRY_ENV, "0".to_owned()),
        (LEASE_ENV, RACE_LEASE.as_millis().to_string()),
    ];
    let mut children = [Spawned::new(&vars), Spawned::new(&vars)];
    let statuses: Vec<Option<ExitStatus>> = children
        .iter_mut()
        .map(|c| c.wait_exit(Duration::from_secs(90)))
        .collect();
    let results: Vec<Vec<String>> = children
        .iter()
        .map(|c| {
            c.stdout()
                .into_iter()
                .filter(|l| l.starts_with("RESULT") || l.starts_with("LATE"))
                .collect()
        })
        .collect();
    let context = format!(
        "race through {mode}, tenant {tenant}, job {}: {results:?}\n{}\n{}",
        job.id,
        children[0].transcript(),
        children[1].transcript()
    );
    assert!(
        statuses.iter().all(|s| s.is_some_and(|s| s.success())),
        "both children must exit cleanly: {statuses:?}\n{context}"
    );
    let took = results
        .iter()
        .filter(|r| r.iter().any(|l| l.starts_with("RESULT took ")))
        .count();
    let refused = results
        .iter()
        .filter(|r| {
            r.iter()
                .any(|l| l == &format!("RESULT already-running {}", job.id))
        })
        .count();
    assert_eq!(
        (took, refused),
        (1, 1),
        "exactly one takes the job, the other is told it runs\n{context}"
    );
    // Token 1 was the dead owner's; the winner's is 2.
    rt.block_on(verify(&pool, &tenant, reference, 2, &context));
    eprintln!("race through {mode}, job {}: {results:?}", job.id);
}

// ---------------------------------------------------------------------------
// The heartbeat and the end of a job.

/// [`PgJobStore`] whose reads of a finished job are slow (a database
/// hiccup at the wrong moment): the engine reads the job back right after
/// the final `set_status`, which released the lease, while the heartbeat
/// is still running.
#[derive(Debug)]
struct SlowFinalRead {
    inner: PgJobStore,
    delay: Duration,
}

#[async_trait]
impl JobStore for SlowFinalRead {
    async fn create_job(&self, new: &NewJob) -> salesforce_import::Result<Job> {
        self.inner.create_job(new).await
    }

    async fn job(&self, tenant: &TenantId, job: &JobId) -> salesforce_import::Result<Job> {
        let read = self.inner.job(tenant, job).await?;
        if read.status.is_final() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(read)
    }

    async fn history(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> salesforce_import::Result<Vec<Job>> {
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
    ) -> salesforce_import::Result<()> {
        self.inner
            .set_status(tenant, job, status, at, message, lease)
            .await
    }

    async fn set_object_state(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        state: ObjectState,
        lease: Option<&Lease>,
    ) -> salesforce_import::Result<()> {
        self.inner
            .set_object_state(tenant, job, object, state, lease)
            .await
    }

    async fn record_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        page: &PageRecord,
        lease: Option<&Lease>,
    ) -> salesforce_import::Result<()> {
        self.inner
            .record_page(tenant, job, object, page, lease)
            .await
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> salesforce_import::Result<Option<Lease>> {
        self.inner
            .acquire_lease(tenant, job, owner, now, until)
            .await
    }

    async fn renew_lease(
        &self,
        tenant: &TenantId,
        job: &JobId,
        lease: &Lease,
        until: DateTime<Utc>,
    ) -> salesforce_import::Result<Lease> {
        self.inner.renew_lease(tenant, job, lease, until).await
    }

    async fn stranded_jobs(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> salesforce_import::Result<Vec<Job>> {
        self.inner.stranded_jobs(now, limit).await
    }

    async fn error_log(
        &self,
        tenant: &TenantId,
        job: &JobId,
        offset: usize,
        limit: usize,
    ) -> salesforce_import::Result<Vec<LogEntry>> {
        self.inner.error_log(tenant, job, offset, limit).await
    }

    async fn resolve_ids(
        &self,
        tenant: &TenantId,
        keys: &[IdKey],
    ) -> salesforce_import::Result<HashMap<IdKey, IdMapping>> {
        self.inner.resolve_ids(tenant, keys).await
    }

    async fn watermark(
        &self,
        tenant: &TenantId,
        object: &SObject,
    ) -> salesforce_import::Result<Option<DateTime<Utc>>> {
        self.inner.watermark(tenant, object).await
    }
    async fn has_mappings(
        &self,
        tenant: &TenantId,
        object: &SObject,
    ) -> salesforce_import::Result<bool> {
        self.inner.has_mappings(tenant, object).await
    }
}

/// A job that completed (and released its lease) must be reported as
/// completed, even when a heartbeat beats between the release and the end
/// of the run. The heartbeat finds the lease released, takes that for a
/// takeover, and `wait()` answers `LeaseLost` ("taken over by another
/// worker") for a job that nobody took over and that is COMPLETED in the
/// store. The crash scenarios hit this now and then on their own (the last
/// child ends with `LeaseLost`); a slow read of the finished job makes it
/// certain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_job_is_not_reported_as_taken_over() {
    let pool = pg_or_skip!();
    let store = PgJobStore::new(pool.clone());
    let heartbeat = Duration::from_millis(100);
    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        Arc::new(PgCrmSink::new(pool.clone())),
        Arc::new(SlowFinalRead {
            inner: store.clone(),
            delay: heartbeat * 3,
        }),
    )
    .lease(Duration::from_secs(2), heartbeat)
    .build()
    .unwrap();
    let tenant = unique_tenant();
    let ended = importer
        .run(
            &tenant,
            ImportRequest::new("crash-test", [SObject::PRODUCT2]),
        )
        .await;
    let stored = store.history(&tenant, 10).await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(
        stored[0].status.is_final() && stored[0].lease.is_none(),
        "the job is finished in the store: {:?}",
        stored[0]
    );
    let ended = ended.map(|j| j.status);
    assert!(
        matches!(ended, Ok(status) if status == stored[0].status),
        "job {} is {} in the store and nobody took it over, but the importer \
         answered {ended:?}",
        stored[0].id,
        stored[0].status
    );
}

// ---------------------------------------------------------------------------
// The reference, and the comparison.

/// One record as a comparable map: column -> value, lookups as
/// `Object:SalesforceId`, NULL as `NULL`, text quoted, decimals normalized.
type Row = BTreeMap<String, String>;
/// (object, Salesforce id).
type Key = (String, String);

/// What the import must give, from an in-process import into memory.
#[derive(Debug)]
struct Reference {
    records: BTreeMap<Key, Row>,
    id_keys: BTreeSet<Key>,
    /// Per object, in plan order: state, total, imported, skipped, errors, warnings.
    progress: Vec<String>,
    status: JobStatus,
    log: Vec<String>,
}

/// The reference sink, remembering what each price book entry was written
/// with (the in-memory sink keeps only its effect on the product).
#[derive(Debug)]
struct Recorder {
    inner: InMemorySink,
    written: Mutex<HashMap<Key, CrmRecord>>,
}

#[async_trait]
impl CrmSink for Recorder {
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> salesforce_import::Result<Vec<Result<WriteOutcome, RecordError>>> {
        let out = self.inner.write_batch(tenant, batch).await?;
        let mut written = self.written.lock().unwrap();
        for (w, o) in batch.records.iter().zip(&out) {
            if o.is_ok() {
                written.insert(
                    (batch.object.to_string(), w.sf_id.to_string()),
                    w.record.clone(),
                );
            }
        }
        Ok(out)
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

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(build_reference())
    })
}

fn log_line(e: &LogEntry) -> String {
    format!(
        "{:?} {} {} {}: {}",
        e.severity,
        e.object,
        e.sf_id.as_ref().map_or("-", SfId::as_str),
        e.field,
        e.message
    )
}

fn progress_lines(job: &Job) -> Vec<String> {
    job.objects
        .iter()
        .map(|o| {
            format!(
                "{} {:?} total={:?} imported={} skipped={} errors={} warnings={}",
                o.object, o.state, o.total, o.imported, o.skipped, o.errors, o.warnings
            )
        })
        .collect()
}

async fn build_reference() -> Reference {
    let sink = InMemorySink::new();
    let recorder = Arc::new(Recorder {
        inner: sink.clone(),
        written: Mutex::default(),
    });
    let jobs = Arc::new(InMemoryJobStore::new());
    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        recorder.clone(),
        jobs.clone(),
    )
    .page_size(PAGE_SIZE)
    .build()
    .unwrap();
    let tenant = TenantId::new("crash-reference");
    let job = importer
        .run(
            &tenant,
            ImportRequest::new("crash-test", SObject::SELECTABLE),
        )
        .await
        .expect("the reference import");
    assert!(job.status.is_final(), "reference: {job:?}");
    let plan = importer.plan(&SObject::SELECTABLE).unwrap();

    // CRM id -> "Object:SalesforceId" over every stored record.
    let mut names: HashMap<CrmId, String> = HashMap::new();
    for object in &plan {
        for (sf_id, crm_id, _) in sink.records(&tenant, object) {
            let previous = names.insert(crm_id.clone(), format!("{object}:{sf_id}"));
            assert!(previous.is_none(), "reference: CRM id {crm_id} twice");
        }
    }
    let link = |id: Option<&CrmId>| match id {
        None => "NULL".to_owned(),
        Some(id) => names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("UNKNOWN:{id}")),
    };

    let source = FileSource::sample_org();
    let mut keys = Vec::new();
    for object in &plan {
        for record in source.records(object) {
            if let Ok(id) = record.id() {
                keys.push((object.clone(), id));
            }
        }
    }
    let mapped = jobs.resolve_ids(&tenant, &keys).await.unwrap();
    let id_keys: BTreeSet<Key> = mapped
        .keys()
        .map(|(o, s)| (o.to_string(), s.to_string()))
        .collect();

    let written = recorder.written.lock().unwrap().clone();
    let mut records = BTreeMap::new();
    let mut account_names: HashSet<String> = HashSet::new();
    // (Salesforce id, name given, name stored) of each renamed account.
    let mut renamed: Vec<(SfId, String, String)> = Vec::new();
    for (object, sf_id) in &keys {
        let key = (object.to_string(), sf_id.to_string());
        let record = if *object == SObject::PRICEBOOK_ENTRY {
            if !id_keys.contains(&key) {
                continue;
            }
            written
                .get(&key)
                .cloned()
                .expect("a written price book entry")
        } else {
            match sink.get(&tenant, object, sf_id) {
                Some((_, record)) => record,
                None => continue,
            }
        };
        let mut row = normalize(&record, &link);
        if let CrmRecord::Account(a) = &record {
            // PgCrmSink's documented policy for BottleCRM's unique account
            // names: a name taken (ignoring case) by an account imported
            // before (they come in Id order) gets the 15-character id.
            if !account_names.insert(a.name.to_lowercase()) {
                let stored = format!("{} ({})", a.name, sf_id.to_15());
                row.insert("name".into(), text(Some(stored.as_str())));
                renamed.push((sf_id.clone(), a.name.clone(), stored));
            }
        }
        records.insert(key, row);
    }
    let entries = jobs.error_log(&tenant, &job.id, 0, 100_000).await.unwrap();
    // PgCrmSink reports each rename as a warning on the record's Name,
    // counted once per record (with any other warning of the record).
    let mut job = job;
    for (sf_id, _, _) in &renamed {
        let warned = entries.iter().any(|e| {
            e.severity == Severity::Warning
                && e.object == SObject::ACCOUNT
                && e.sf_id.as_ref() == Some(sf_id)
        });
        if !warned
            && let Some(p) = job
                .objects
                .iter_mut()
                .find(|o| o.object == SObject::ACCOUNT)
        {
            p.warnings += 1;
        }
    }
    let log = {
        let mut log: Vec<String> = entries.iter().map(log_line).collect();
        log.extend(renamed.iter().map(|(sf_id, given, stored)| {
            format!(
                "Warning Account {sf_id} Name: {}",
                Problem::renamed(given, stored)
            )
        }));
        log.sort();
        log
    };
    Reference {
        records,
        id_keys,
        progress: progress_lines(&job),
        status: job.status,
        log,
    }
}

const NULL: &str = "NULL";

fn text(v: Option<&str>) -> String {
    v.map_or(NULL.to_owned(), |s| format!("{s:?}"))
}

fn num(v: Option<Decimal>) -> String {
    v.map_or(NULL.to_owned(), |d| d.normalize().to_string())
}

fn date(v: Option<NaiveDate>) -> String {
    v.map_or(NULL.to_owned(), |d| d.to_string())
}

fn ts(v: Option<DateTime<Utc>>) -> String {
    v.map_or(NULL.to_owned(), |t| {
        t.trunc_subsecs(6)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    })
}

/// JSON with object keys sorted, whatever the map type.
fn json(v: &serde_json::Value) -> String {
    fn canonical(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: BTreeMap<&String, serde_json::Value> =
                    m.iter().map(|(k, v)| (k, canonical(v))).collect();
                serde_json::to_value(sorted).unwrap()
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.iter().map(canonical).collect())
            }
            other => other.clone(),
        }
    }
    canonical(v).to_string()
}

/// A reference record in the columns of its PostgreSQL table.
fn normalize(record: &CrmRecord, link: &dyn Fn(Option<&CrmId>) -> String) -> Row {
    let mut r = Row::new();
    let mut put = |k: &str, v: String| {
        r.insert(k.to_owned(), v);
    };
    let s = |v: &Option<String>| text(v.as_deref());
    let custom = |m: &salesforce_import::crm::CustomFields| json(&serde_json::to_value(m).unwrap());
    let address = |put: &mut dyn FnMut(&str, String), prefix: &str, a: &Address| {
        put(&format!("{prefix}_street"), s(&a.line));
        put(&format!("{prefix}_city"), s(&a.city));
        put(&format!("{prefix}_state"), s(&a.state));
        put(&format!("{prefix}_postcode"), s(&a.postcode));
        put(&format!("{prefix}_country"), s(&a.country));
    };
    match record {
        CrmRecord::Account(a) => {
            put("name", text(Some(a.name.as_str())));
            put("email", s(&a.email));
            put("phone", s(&a.phone));
            put("website", s(&a.website));
            put("industry", s(&a.industry));
            put("account_type", s(&a.account_type));
            put(
                "number_of_employees",
                a.number_of_employees
                    .map_or(NULL.to_owned(), |n| n.to_string()),
            );
            put("annual_revenue", num(a.annual_revenue));
            put("currency", s(&a.currency));
            address(&mut put, "billing", &a.address);
            put("description", s(&a.description));
            put("parent_id", link(a.parent.as_ref()));
            put("custom_fields", custom(&a.custom_fields));
        }
        CrmRecord::Contact(c) => {
            put("first_name", s(&c.first_name));
            put("last_name", text(Some(c.last_name.as_str())));
            put("email", s(&c.email));
            put("phone", s(&c.phone));
            put("title", s(&c.title));
            put("department", s(&c.department));
            put("do_not_call", c.do_not_call.to_string());
            address(&mut put, "mailing", &c.address);
            put("description", s(&c.description));
            put("account_id", link(c.account.as_ref()));
            put("custom_fields", custom(&c.custom_fields));
        }
        CrmRecord::Opportunity(o) => {
            put("name", text(Some(o.name.as_str())));
            put("stage", text(Some(o.stage.code())));
            put("amount", num(o.amount));
            put("probability", num(o.probability));
            put("closed_on", date(o.closed_on));
            put("lead_source", s(&o.lead_source));
            put("opportunity_type", s(&o.opportunity_type));
            put("currency", s(&o.currency));
            put("description", s(&o.description));
            put("account_id", link(o.account.as_ref()));
            put("contact_id", link(o.contact.as_ref()));
            put("custom_fields", custom(&o.custom_fields));
        }
        CrmRecord::Product(p) => {
            put("name", text(Some(p.name.as_str())));
            put("sku", s(&p.sku));
            put("description", s(&p.description));
            put("is_active", p.is_active.to_string());
            put("family", s(&p.family));
            put("price", num(p.price));
            put("currency", s(&p.currency));
            put("custom_fields", custom(&p.custom_fields));
        }
        CrmRecord::ProductPrice(p) => {
            put("product_id", link(p.product.as_ref()));
            put("price", num(p.price));
            put("currency", s(&p.currency));
            put("is_active", p.is_active.to_string());
        }
        CrmRecord::Order(o) => {
            put("name", s(&o.name));
            put("order_number", s(&o.order_number));
            put("status", text(Some(o.status.code())));
            put("order_date", date(o.order_date));
            put("activated_at", ts(o.activated_date));
            put("total_amount", num(o.total_amount));
            put("currency", s(&o.currency));
            address(&mut put, "billing", &o.billing_address);
            address(&mut put, "shipping", &o.shipping_address);
            put("description", s(&o.description));
            put("account_id", link(o.account.as_ref()));
            put("contact_id", link(o.contact.as_ref()));
            put("opportunity_id", link(o.opportunity.as_ref()));
            put("custom_fields", custom(&o.custom_fields));
        }
        CrmRecord::OrderLine(l) => {
            put("order_id", link(l.order.as_ref()));
            put("product_id", link(l.product.as_ref()));
            put("name", s(&l.name));
            put("quantity", num(Some(l.quantity)));
            put("unit_price", num(Some(l.unit_price)));
            put("discount_amount", num(Some(l.discount_amount)));
            put("total", num(Some(l.total)));
        }
        CrmRecord::Quote(q) => {
            put("title", text(Some(q.title.as_str())));
            put("quote_number", s(&q.quote_number));
            put("status", text(Some(q.status.code())));
            put("subtotal", num(q.subtotal));
            put("discount", num(q.discount));
            put("tax", num(q.tax));
            put("total", num(q.total));
            put("currency", s(&q.currency));
            put("expiry_date", date(q.expiry_date));
            put("notes", s(&q.notes));
            put("account_id", link(q.account.as_ref()));
            put("contact_id", link(q.contact.as_ref()));
            put("opportunity_id", link(q.opportunity.as_ref()));
            put("custom_fields", custom(&q.custom_fields));
        }
        CrmRecord::QuoteLine(l) => {
            put("quote_id", link(l.quote.as_ref()));
            put("product_id", link(l.product.as_ref()));
            put("name", s(&l.name));
            put("quantity", num(Some(l.quantity)));
            put("unit_price", num(Some(l.unit_price)));
            put("discount", num(l.discount));
            put("total", num(Some(l.total)));
        }
        other => panic!("the sample org maps to no {other:?}"),
    }
    r
}

#[derive(Clone, Copy)]
enum Ty {
    Text,
    Int,
    Num,
    Bool,
    Date,
    Ts,
    Json,
    /// A reference (uuid) to a record of another table.
    Link,
}

/// One reference CRM table: the object stored there and its columns
/// (beyond `id`, `tenant_id`, `sf_id`, `created_at`, `updated_at`), as in
/// `migrations/crm/2001_reference_crm.sql`.
struct Table {
    object: &'static str,
    table: &'static str,
    columns: &'static [(&'static str, Ty)],
}

const TABLES: &[Table] = {
    use Ty::*;
    &[
        Table {
            object: "Account",
            table: "crm_accounts",
            columns: &[
                ("name", Text),
                ("email", Text),
                ("phone", Text),
                ("website", Text),
                ("industry", Text),
                ("account_type", Text),
                ("number_of_employees", Int),
                ("annual_revenue", Num),
                ("currency", Text),
                ("billing_street", Text),
                ("billing_city", Text),
                ("billing_state", Text),
                ("billing_postcode", Text),
                ("billing_country", Text),
                ("description", Text),
                ("parent_id", Link),
                ("custom_fields", Json),
            ],
        },
        Table {
            object: "Contact",
            table: "crm_contacts",
            columns: &[
                ("first_name", Text),
                ("last_name", Text),
                ("email", Text),
                ("phone", Text),
                ("title", Text),
                ("department", Text),
                ("do_not_call", Bool),
                ("mailing_street", Text),
                ("mailing_city", Text),
                ("mailing_state", Text),
                ("mailing_postcode", Text),
                ("mailing_country", Text),
                ("description", Text),
                ("account_id", Link),
                ("custom_fields", Json),
            ],
        },
        Table {
            object: "Opportunity",
            table: "crm_opportunities",
            columns: &[
                ("name", Text),
                ("stage", Text),
                ("amount", Num),
                ("probability", Num),
                ("closed_on", Date),
                ("lead_source", Text),
                ("opportunity_type", Text),
                ("currency", Text),
                ("description", Text),
                ("account_id", Link),
                ("contact_id", Link),
                ("custom_fields", Json),
            ],
        },
        Table {
            object: "Product2",
            table: "crm_products",
            columns: &[
                ("name", Text),
                ("sku", Text),
                ("description", Text),
                ("is_active", Bool),
                ("family", Text),
                ("price", Num),
                ("currency", Text),
                ("custom_fields", Json),
            ],
        },
        Table {
            object: "PricebookEntry",
            table: "crm_product_prices",
            columns: &[
                ("product_id", Link),
                ("price", Num),
                ("currency", Text),
                ("is_active", Bool),
            ],
        },
        Table {
            object: "Order",
            table: "crm_orders",
            columns: &[
                ("name", Text),
                ("order_number", Text),
                ("status", Text),
                ("order_date", Date),
                ("activated_at", Ts),
                ("total_amount", Num),
                ("currency", Text),
                ("billing_street", Text),
                ("billing_city", Text),
                ("billing_state", Text),
                ("billing_postcode", Text),
                ("billing_country", Text),
                ("shipping_street", Text),
                ("shipping_city", Text),
                ("shipping_state", Text),
                ("shipping_postcode", Text),
                ("shipping_country", Text),
                ("description", Text),
                ("account_id", Link),
                ("contact_id", Link),
                ("opportunity_id", Link),
                ("custom_fields", Json),
            ],
        },
        Table {
            object: "OrderItem",
            table: "crm_order_lines",
            columns: &[
                ("order_id", Link),
                ("product_id", Link),
                ("name", Text),
                ("quantity", Num),
                ("unit_price", Num),
                ("discount_amount", Num),
                ("total", Num),
            ],
        },
        Table {
            object: "Quote",
            table: "crm_quotes",
            columns: &[
                ("title", Text),
                ("quote_number", Text),
                ("status", Text),
                ("subtotal", Num),
                ("discount", Num),
                ("tax", Num),
                ("total", Num),
                ("currency", Text),
                ("expiry_date", Date),
                ("notes", Text),
                ("account_id", Link),
                ("contact_id", Link),
                ("opportunity_id", Link),
                ("custom_fields", Json),
            ],
        },
        Table {
            object: "QuoteLineItem",
            table: "crm_quote_lines",
            columns: &[
                ("quote_id", Link),
                ("product_id", Link),
                ("name", Text),
                ("quantity", Num),
                ("unit_price", Num),
                ("discount", Num),
                ("total", Num),
            ],
        },
    ]
};

/// A row as read: its CRM id, and its columns with links still as uuids.
struct PgRow {
    crm_id: String,
    values: Vec<(&'static str, Ty, Option<String>)>,
    /// Pre-normalized values of the columns that are not links.
    plain: Row,
}

async fn read_table(pool: &PgPool, tenant: &TenantId, t: &Table) -> Vec<(String, PgRow)> {
    let exprs: Vec<String> = t
        .columns
        .iter()
        .map(|(c, ty)| match ty {
            Ty::Link | Ty::Json => format!("{c}::text AS {c}"),
            _ => (*c).to_owned(),
        })
        .collect();
    let sql = format!(
        "SELECT sf_id, id::text AS crm_id, {} FROM {} WHERE tenant_id = $1 ORDER BY sf_id",
        exprs.join(", "),
        t.table
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("reading {}: {e}", t.table));
    rows.iter()
        .map(|r| {
            let sf_id: String = r.get("sf_id");
            let crm_id: String = r.get("crm_id");
            let mut plain = Row::new();
            let mut values = Vec::new();
            for &(c, ty) in t.columns {
                let v = match ty {
                    Ty::Text => text(r.get::<Option<String>, _>(c).as_deref()),
                    Ty::Int => r
                        .get::<Option<i64>, _>(c)
                        .map_or(NULL.to_owned(), |n| n.to_string()),
                    Ty::Num => num(r.get::<Option<Decimal>, _>(c)),
                    Ty::Bool => r
                        .get::<Option<bool>, _>(c)
                        .map_or(NULL.to_owned(), |b| b.to_string()),
                    Ty::Date => date(r.get::<Option<NaiveDate>, _>(c)),
                    Ty::Ts => ts(r.get::<Option<DateTime<Utc>>, _>(c)),
                    Ty::Json => match r.get::<Option<String>, _>(c) {
                        None => NULL.to_owned(),
                        Some(j) => json(&serde_json::from_str(&j).expect("jsonb")),
                    },
                    Ty::Link => {
                        values.push((c, ty, r.get::<Option<String>, _>(c)));
                        continue;
                    }
                };
                plain.insert(c.to_owned(), v);
            }
            (
                sf_id,
                PgRow {
                    crm_id,
                    values,
                    plain,
                },
            )
        })
        .collect()
}

/// Compares the tenant's PostgreSQL destination, id map and job with the
/// reference; panics listing every difference, with `context`.
async fn verify(
    pool: &PgPool,
    tenant: &TenantId,
    reference: &Reference,
    lease_token: u64,
    context: &str,
) {
    let mut problems: Vec<String> = Vec::new();

    // The tables have exactly the columns compared here.
    for t in TABLES {
        let cols: BTreeSet<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(t.table)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        let mut want: BTreeSet<String> = [
            "id",
            "tenant_id",
            "sf_id",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        want.extend(t.columns.iter().map(|(c, _)| (*c).to_owned()));
        assert_eq!(
            cols, want,
            "the columns of {} changed: update this test",
            t.table
        );
    }

    // Nothing was deleted in these orgs: no row may be marked deleted.
    for t in TABLES {
        let deleted: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {} WHERE tenant_id = $1 AND deleted_at IS NOT NULL",
            t.table
        )))
        .bind(tenant.as_str())
        .fetch_one(pool)
        .await
        .unwrap();
        if deleted > 0 {
            problems.push(format!("{}: {deleted} rows marked deleted", t.table));
        }
    }

    // Every row, then its links as Object:SalesforceId.
    let mut tables = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut crm_ids: HashMap<Key, String> = HashMap::new();
    for t in TABLES {
        let rows = read_table(pool, tenant, t).await;
        let mut seen = HashSet::new();
        for (sf_id, row) in &rows {
            if !seen.insert(sf_id.clone()) {
                problems.push(format!("{} {sf_id}: stored twice", t.object));
            }
            let key = (t.object.to_owned(), sf_id.clone());
            if t.object == "PricebookEntry" {
                // Its CRM id (in the id map) is its product's.
                let product = row.values.iter().find(|v| v.0 == "product_id");
                if let Some((_, _, Some(p))) = product {
                    crm_ids.insert(key, p.clone());
                }
            } else {
                names.insert(row.crm_id.clone(), format!("{}:{sf_id}", t.object));
                crm_ids.insert(key, row.crm_id.clone());
            }
        }
        tables.push((t, rows));
    }
    let mut got: BTreeMap<Key, Row> = BTreeMap::new();
    for (t, rows) in tables {
        for (sf_id, row) in rows {
            let mut normalized = row.plain;
            for (c, _, v) in row.values {
                let v = match v {
                    None => NULL.to_owned(),
                    Some(id) => names
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| format!("UNKNOWN:{id}")),
                };
                normalized.insert(c.to_owned(), v);
            }
            got.insert((t.object.to_owned(), sf_id), normalized);
        }
    }

    // Record by record.
    for (key, want) in &reference.records {
        match got.get(key) {
            None => problems.push(format!("{} {}: missing", key.0, key.1)),
            Some(row) => {
                for (c, w) in want {
                    let g = row.get(c).map_or("(no column)", String::as_str);
                    if g != w {
                        problems.push(format!(
                            "{} {}: {c} is {g}, the reference has {w}",
                            key.0, key.1
                        ));
                    }
                }
                for c in row.keys().filter(|c| !want.contains_key(*c)) {
                    problems.push(format!("{} {}: unexpected column {c}", key.0, key.1));
                }
            }
        }
    }
    for key in got.keys().filter(|k| !reference.records.contains_key(*k)) {
        problems.push(format!("{} {}: extra record", key.0, key.1));
    }

    // The id map: the same keys, each naming the row stored.
    let map: Vec<(String, String, String)> =
        sqlx::query_as("SELECT object, sf_id, crm_id FROM sf_import_id_map WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await
            .unwrap();
    let mut map_keys = BTreeSet::new();
    for (object, sf_id, crm_id) in map {
        let key = (object, sf_id);
        match crm_ids.get(&key) {
            Some(id) if *id == crm_id => {}
            Some(id) => problems.push(format!(
                "id map: {} {} -> {crm_id}, but the row's id is {id}",
                key.0, key.1
            )),
            None => problems.push(format!(
                "id map: {} {} -> {crm_id}, which has no row",
                key.0, key.1
            )),
        }
        map_keys.insert(key);
    }
    for k in reference.id_keys.difference(&map_keys) {
        problems.push(format!("id map: {} {} missing", k.0, k.1));
    }
    for k in map_keys.difference(&reference.id_keys) {
        problems.push(format!("id map: {} {} extra", k.0, k.1));
    }

    // One job, finished, no lease; the same counts and error log.
    let jobs = PgJobStore::new(pool.clone());
    let history = jobs.history(tenant, 100).await.unwrap();
    if history.len() != 1 {
        problems.push(format!(
            "history: {} jobs: {:?}",
            history.len(),
            history
                .iter()
                .map(|j| format!("{} {}", j.id, j.status))
                .collect::<Vec<_>>()
        ));
    }
    if let Some(job) = history.first() {
        if !matches!(
            job.status,
            JobStatus::Completed | JobStatus::CompletedWithErrors
        ) || job.status != reference.status
        {
            problems.push(format!(
                "job {}: {} ({:?}), the reference ended {}",
                job.id, job.status, job.message, reference.status
            ));
        }
        if job.lease.is_some() {
            problems.push(format!("job {}: still leased: {:?}", job.id, job.lease));
        }
        if job.completed_at.is_none() {
            problems.push(format!("job {}: no completed_at", job.id));
        }
        let progress = progress_lines(job);
        if progress != reference.progress {
            problems.push(format!(
                "job {}: progress\n      {}\n    the reference:\n      {}",
                job.id,
                progress.join("\n      "),
                reference.progress.join("\n      ")
            ));
        }
        let mut log: Vec<String> = jobs
            .error_log(tenant, &job.id, 0, 100_000)
            .await
            .unwrap()
            .iter()
            .map(log_line)
            .collect();
        log.sort();
        if log != reference.log {
            let extra: Vec<&String> = log.iter().filter(|l| !reference.log.contains(l)).collect();
            let missing: Vec<&String> = reference.log.iter().filter(|l| !log.contains(l)).collect();
            problems.push(format!(
                "job {}: error log of {} entries, the reference has {}; not in the \
                 reference: {extra:?}; missing: {missing:?}",
                job.id,
                log.len(),
                reference.log.len()
            ));
        }
        let (token, owner): (i64, Option<String>) = sqlx::query_as(
            "SELECT lease_token, lease_owner FROM sf_import_jobs WHERE tenant_id = $1",
        )
        .bind(tenant.as_str())
        .fetch_one(pool)
        .await
        .unwrap();
        if token != lease_token as i64 || owner.is_some() {
            problems.push(format!(
                "job {}: lease token {token} (owner {owner:?}); {lease_token} acquisitions \
                 were seen",
                job.id
            ));
        }
    }

    if !problems.is_empty() {
        let n = problems.len();
        problems.truncate(60);
        panic!(
            "{n} differences from the reference:\n  {}\n{context}",
            problems.join("\n  ")
        );
    }
}
