//! Imports as tasks of a PostgreSQL-backed queue (feature `apalis`), run by
//! any number of worker processes: [`ImportQueue`] to enqueue, [`Worker`]
//! to run them.
//!
//! The queue is [apalis](https://docs.rs/apalis) 1.0 with its PostgreSQL
//! storage, on the host's own `PgPool` (tables in the schema `apalis`).
//!
//! ```no_run
//! # async fn run(pool: sqlx::PgPool, importer: std::sync::Arc<salesforce_import::Importer>)
//! # -> salesforce_import::Result<()> {
//! use salesforce_import::workers::{ImportQueue, Worker};
//! use salesforce_import::{ImportRequest, SObject, TenantId};
//!
//! ImportQueue::setup(&pool).await?; // once, at startup
//! let queue = ImportQueue::new(pool.clone());
//! let job = queue
//!     .enqueue(&importer, &TenantId::new("acme"), ImportRequest::new("ada", [SObject::ACCOUNT]))
//!     .await?;
//! println!("queued job {}", job.id);
//!
//! // In each worker process:
//! Worker::new(pool, importer)
//!     .concurrency(4)
//!     .run_until(async { let _ = tokio::signal::ctrl_c().await; })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # One task per job
//!
//! [`ImportQueue::enqueue`] records the job (pending, unleased) and pushes
//! one [`ImportTask`] naming it. A worker runs the whole job:
//! - **dependency order** holds because a job imports its objects in plan
//!   order (accounts before contacts before opportunities...), inside one
//!   task;
//! - **fairness between tenants** holds because a tenant has at most one
//!   running import (the job store's rule), so one tenant, however big,
//!   takes at most one worker slot at a time; the other slots serve the
//!   other tenants' jobs in queue order;
//! - **exactly-once writes** come from the job's lease, not from the queue:
//!   every write of a job carries its lease's fencing token, so a task the
//!   queue delivers twice (it does, after a worker's heartbeats stop) runs
//!   the job once. The second delivery waits for the first holder's lease
//!   to lapse; if the holder is alive, the lease never lapses and the
//!   second delivery gives up after [`Worker::takeover_wait`].
//!
//! # When a worker dies
//!
//! A worker process that dies stops heartbeating to the queue; after
//! `heartbeat × missed_heartbeats` ([`Worker::heartbeat`]) another worker
//! puts its task back on the queue, and a worker takes it: the job's lease
//! (of the dead process) lapses after the importer's lease time
//! ([`ImporterBuilder::lease`](crate::ImporterBuilder::lease)), then the
//! worker takes the job over and resumes it from its checkpoints. The
//! pause is the longer of the two, give or take a beat: about the lease
//! time with the defaults (30 s lease, 5 s × 3 queue heartbeats: 29 s
//! measured from the SIGKILL to the job's next page), 2 to 4 s with a 2 s
//! lease and 1 s × 3 heartbeats (`tests/workers.rs`).
//!
//! # Outcomes
//!
//! A task ends `Done` whenever the job ended, however it ended: completed,
//! cancelled, or failed (a failed job, for instance on Salesforce's rate
//! limit, is not retried by the queue, so nothing spins; resume it later
//! with [`ImportQueue::push`]). Only an error of the job store itself
//! (the database is down) fails the task, which the queue then retries
//! (the worker backs off first, 0.5 s doubling to a minute; apalis gives
//! up after 25 attempts). A payload that is not an [`ImportTask`], or a
//! task whose job does not exist, is dropped with an error in the log.
//!
//! # Capacity
//!
//! A process runs [`Worker::concurrency`] jobs at once; every process on
//! the queue adds as many slots. An import mostly waits on Salesforce and
//! on the database, so slots scale until the CPUs or the database are
//! busy. Measured on 2 cores (8 imports of the sample org, one slot per
//! process, `scaling` in `tests/workers.rs` with 8 tenants and 2 ms): with 2 ms of sink latency
//! per record, 10.0 s with 1 process, 5.1 s with 2, 2.8 s with 4; with
//! none (CPU bound), 2.0 s, 1.4 s, 1.4 s.
//!
//! The HTTP API queues instead of running imports in the server when built
//! with `ImportApiBuilder::with_queue` (feature `server`). To keep every
//! process under Salesforce's 25 concurrent requests per org, build the
//! importer over a [`PerOrgLimit`](crate::source::PerOrgLimit) source.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{
    AbortError, Attempt, BackendExt, BoxDynError, Data, TaskSink, WorkerBuilder,
};
use apalis::prelude::{ParallelizeExt, Strategy, WorkerBuilderExt};
use apalis_postgres::{Config, PostgresStorage, Pubsub};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::engine::{ImportRequest, Importer};
use crate::error::{Error, Result};
use crate::id::{JobId, TenantId};
use crate::jobs::Job;

/// The queue name [`ImportQueue::new`] uses.
pub const DEFAULT_QUEUE: &str = "salesforce-import";

/// What the queue carries: the job to run (its plan and progress are in
/// the job store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImportTask {
    /// The tenant.
    pub tenant: TenantId,
    /// The job.
    pub job: JobId,
}

impl ImportTask {
    /// A task that runs (or resumes) `job` of `tenant`.
    pub fn new(tenant: TenantId, job: JobId) -> ImportTask {
        ImportTask { tenant, job }
    }
}

/// The import queue: a named apalis queue in the host's PostgreSQL.
#[derive(Clone)]
pub struct ImportQueue {
    pool: PgPool,
    name: String,
}

impl fmt::Debug for ImportQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportQueue")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn queue_error<E>(what: &'static str) -> impl FnOnce(E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| Error::store("import queue", what, e)
}

impl ImportQueue {
    /// The queue [`DEFAULT_QUEUE`] on `pool`.
    pub fn new(pool: PgPool) -> ImportQueue {
        ImportQueue {
            pool,
            name: DEFAULT_QUEUE.to_owned(),
        }
    }

    /// Another queue name (the workers must use the same one).
    pub fn named(mut self, name: impl Into<String>) -> ImportQueue {
        self.name = name.into();
        self
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates or upgrades apalis's tables (schema `apalis`, history in
    /// `apalis._sqlx_migrations`). Run it once at startup, from one
    /// process (a deploy step, or the application server), not from every
    /// worker: sqlx's migration lock is one per database.
    pub async fn setup(pool: &PgPool) -> Result<()> {
        PostgresStorage::setup(pool)
            .await
            .map_err(queue_error("setting up the queue's tables"))
    }

    fn storage(&self) -> PostgresStorage<serde_json::Value> {
        PostgresStorage::new(&self.pool).with_config(Config::default().queue(&self.name))
    }

    /// Records a pending job for `request` ([`Importer::create`]: the same
    /// checks as [`Importer::start`], [`Error::ImportAlreadyRunning`] while
    /// the tenant has a running import) and queues it. Returns the job.
    ///
    /// If queueing fails after the job was recorded, the job stays pending
    /// with no lease (stranded): [`Importer::recover`] runs it, or push it
    /// again with [`push`](ImportQueue::push).
    pub async fn enqueue(
        &self,
        importer: &Importer,
        tenant: &TenantId,
        request: ImportRequest,
    ) -> Result<Job> {
        let job = importer.create(tenant, request).await?;
        self.push(ImportTask::new(job.tenant.clone(), job.id.clone()))
            .await?;
        tracing::info!(%tenant, job = %job.id, queue = %self.name, "import queued");
        Ok(job)
    }

    /// Queues a task for an existing job: to resume a failed job, or one
    /// whose task was lost.
    pub async fn push(&self, task: ImportTask) -> Result<()> {
        let value = serde_json::to_value(&task)
            .map_err(|e| Error::store("import queue", "encoding a task", e))?;
        self.storage()
            .push(value)
            .await
            .map_err(queue_error("pushing a task"))
    }
}

/// A worker: takes [`ImportTask`]s off the queue and runs their jobs with
/// an [`Importer`], `concurrency` at a time.
///
/// Run one per process (or several with distinct queues); any number of
/// processes can serve one queue. Each worker has a name unique to this
/// run of this process (prefix, process id, a random part): apalis
/// recovers the tasks of a dead worker only under another name.
///
/// To cap concurrent Salesforce requests per org across the jobs of a
/// process, build the importer over a
/// [`PerOrgLimit`](crate::source::PerOrgLimit) source.
pub struct Worker {
    queue: ImportQueue,
    importer: Arc<Importer>,
    concurrency: usize,
    heartbeat: Duration,
    missed_heartbeats: usize,
    poll_interval: Duration,
    name_prefix: String,
    takeover_wait: Option<Duration>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("queue", &self.queue.name)
            .field("concurrency", &self.concurrency)
            .field("heartbeat", &self.heartbeat)
            .field("missed_heartbeats", &self.missed_heartbeats)
            .field("poll_interval", &self.poll_interval)
            .field("name_prefix", &self.name_prefix)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker on the queue [`DEFAULT_QUEUE`] of `pool`.
    pub fn new(pool: PgPool, importer: Arc<Importer>) -> Worker {
        Worker::on(ImportQueue::new(pool), importer)
    }

    /// A worker on `queue`.
    pub fn on(queue: ImportQueue, importer: Arc<Importer>) -> Worker {
        Worker {
            queue,
            importer,
            concurrency: 4,
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
            poll_interval: Duration::from_secs(2),
            name_prefix: "sf-import".to_owned(),
            takeover_wait: None,
        }
    }

    /// The queue's name (default [`DEFAULT_QUEUE`]).
    pub fn queue(mut self, name: impl Into<String>) -> Worker {
        self.queue = self.queue.named(name);
        self
    }

    /// Jobs this process runs at once (default 4, at least 1). One job is
    /// one tenant's import; a tenant never has two.
    pub fn concurrency(mut self, jobs: usize) -> Worker {
        self.concurrency = jobs.max(1);
        self
    }

    /// How often this worker tells the queue it is alive (default 5 s),
    /// and how many missed beats make its tasks orphans that other workers
    /// take back (default 3: 15 s).
    pub fn heartbeat(mut self, interval: Duration, missed: usize) -> Worker {
        self.heartbeat = interval;
        self.missed_heartbeats = missed.max(1);
        self
    }

    /// How often an idle worker looks for tasks besides the queue's
    /// notifications (default 2 s).
    pub fn poll_interval(mut self, interval: Duration) -> Worker {
        self.poll_interval = interval;
        self
    }

    /// The start of the worker's name (default `sf-import`).
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Worker {
        self.name_prefix = prefix.into();
        self
    }

    /// How long a task whose job another owner holds waits for that
    /// lease to lapse before leaving the job to its holder (default: twice
    /// the importer's lease time).
    pub fn takeover_wait(mut self, wait: Duration) -> Worker {
        self.takeover_wait = Some(wait);
        self
    }

    /// Runs until the process ends.
    pub async fn run(self) -> Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Runs until `shutdown` resolves, then stops taking tasks and waits
    /// for the jobs in hand to end.
    pub async fn run_until<F>(self, shutdown: F) -> Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let name = unique_name(&self.name_prefix);
        let config = Config::default()
            .queue(&self.queue.name)
            // One at a time: tasks fetched beyond the free slots wait
            // without heartbeats, and get taken back and run twice.
            .batch_size(1)
            .heartbeat_interval(self.heartbeat)
            .missed_heartbeats(self.missed_heartbeats);
        let strategy = Strategy::new()
            .stream(Pubsub::new(
                self.queue.pool.clone(),
                self.queue.name.clone(),
            ))
            .interval(self.poll_interval);
        let backend = PostgresStorage::<serde_json::Value>::new(&self.queue.pool)
            .with_config(config)
            .poll_with_strategy(strategy);
        let takeover_wait = self
            .takeover_wait
            .unwrap_or_else(|| self.importer.lease_ttl() * 2);
        let shared = Arc::new(Shared {
            importer: self.importer,
            takeover_wait,
            worker: name.clone(),
        });
        tracing::info!(worker = %name, queue = %self.queue.name, concurrency = self.concurrency, "worker started");
        let worker = WorkerBuilder::new(name.clone())
            .backend(backend)
            .data(shared)
            .concurrency(self.concurrency)
            .parallelize(tokio::spawn)
            .build(run_task);
        let result = worker
            .run_until(async move {
                shutdown.await;
                Ok::<(), std::io::Error>(())
            })
            .await;
        tracing::info!(worker = %name, "worker stopped");
        result.map_err(|e| Error::store("import queue", "running the worker", e))
    }
}

/// [`Worker::new`]`(pool, importer).run_until(shutdown)`.
pub async fn run_worker<F>(pool: PgPool, importer: Arc<Importer>, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    Worker::new(pool, importer).run_until(shutdown).await
}

/// A name unique to this run of this process.
fn unique_name(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{prefix}-{}-{:08x}", std::process::id(), random as u32)
}

struct Shared {
    importer: Arc<Importer>,
    takeover_wait: Duration,
    worker: String,
}

/// The task: decode, then run the job to its end.
async fn run_task(
    payload: serde_json::Value,
    shared: Data<Arc<Shared>>,
    attempt: Attempt,
) -> std::result::Result<(), BoxDynError> {
    // A payload that is not a task is dropped, not retried: taking
    // `Value` keeps the worker alive through it.
    let task: ImportTask = match serde_json::from_value(payload.clone()) {
        Ok(task) => task,
        Err(e) => {
            tracing::error!(%payload, error = %e, "not an import task: dropped");
            return Err(Box::new(AbortError::new(format!(
                "not an import task: {e}"
            ))));
        }
    };
    match run_job(&shared, &task).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == crate::error::ErrorKind::Temporary => {
            // The queue retries a failed task at once: back off here
            // (0.5 s, doubling, at most a minute), keeping the slot.
            let wait = Duration::from_millis(500)
                .saturating_mul(1 << attempt.current().min(7))
                .min(Duration::from_secs(60));
            tracing::warn!(tenant = %task.tenant, job = %task.job, error = %e,
                attempt = attempt.current(), ?wait, "task failed; the queue retries it");
            tokio::time::sleep(wait).await;
            Err(Box::new(e))
        }
        Err(e) => {
            tracing::error!(tenant = %task.tenant, job = %task.job, error = %e, "task failed");
            Err(Box::new(AbortError::new(e)))
        }
    }
}

async fn run_job(shared: &Shared, task: &ImportTask) -> Result<()> {
    let (tenant, id) = (&task.tenant, &task.job);
    let importer = &shared.importer;
    let deadline = tokio::time::Instant::now() + shared.takeover_wait;
    loop {
        let job = match importer.job_store().job(tenant, id).await {
            Ok(job) => job,
            Err(Error::JobNotFound { .. }) => {
                tracing::warn!(%tenant, job = %id, "the queued job does not exist: dropped");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if job.status.is_final() {
            tracing::info!(%tenant, job = %id, status = ?job.status, "job already over");
            return Ok(());
        }
        match importer.resume(tenant, id).await {
            Ok(handle) => {
                tracing::info!(%tenant, job = %id, worker = %shared.worker, "running the job");
                return match handle.wait().await {
                    Ok(job) => {
                        tracing::info!(%tenant, job = %id, status = ?job.status,
                            imported = job.imported(), errors = job.errors(),
                            message = job.message.as_deref().unwrap_or(""), "job ended");
                        Ok(())
                    }
                    Err(Error::LeaseLost { .. }) => {
                        tracing::warn!(%tenant, job = %id, "another worker took the job over");
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
            }
            Err(Error::ImportAlreadyRunning { job: running, .. }) if &running == id => {
                // Another owner holds the lease: a worker that died (its
                // lease lapses soon) or one still running the job.
                if tokio::time::Instant::now() >= deadline {
                    // Left to that process for now, but not forgotten: a
                    // temporary failure puts the task back on the queue, so
                    // if that process dies later the job is still taken over.
                    tracing::warn!(%tenant, job = %id, "the job's lease is held and renewed by another process: retrying later");
                    return Err(Error::Store {
                        store: "import queue",
                        message: format!(
                            "job {id} is leased to another live process; the task is retried later"
                        )
                        .into(),
                        temporary: true,
                        source: None,
                    });
                }
                let now = chrono::Utc::now();
                let wait = job
                    .lease
                    .as_ref()
                    .and_then(|l| (l.expires_at - now).to_std().ok())
                    .unwrap_or_default()
                    .clamp(Duration::from_millis(100), Duration::from_secs(1));
                tokio::time::sleep(wait).await;
            }
            Err(Error::ImportAlreadyRunning { job: other, .. }) => {
                tracing::warn!(%tenant, job = %id, running = %other, "the tenant runs another import: not resumed");
                return Ok(());
            }
            Err(Error::JobNotResumable { .. } | Error::LeaseLost { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
