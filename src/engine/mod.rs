//! The import engine: [`Importer`].
//!
//! For one tenant and a selection of objects, the importer:
//! - orders the objects by their lookups (a topological sort; a
//!   self-reference such as `Account.ParentId` gets a second pass);
//! - streams each object page by page (memory bounded by the page size;
//!   page n+1 is fetched while page n is written);
//! - maps each page, resolves all of its lookups with one batched id-map
//!   query, writes it through the sink, and records counts, error log, id
//!   mappings and checkpoint in one [`JobStore::record_page`] call;
//! - rewrites records imported before only when Salesforce changed them
//!   since ([`WriteMode::UpdateChanged`], the default; or always, or
//!   never, in the other [`WriteMode`]s);
//! - in a [sync](ImportRequest::sync), reads only what changed since the
//!   last job, deleted records included;
//! - honours cancellation between pages, retries temporary failures with
//!   backoff, and resumes a stopped job from its checkpoints.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> salesforce_import::Result<()> {
//! use std::sync::Arc;
//! use futures::StreamExt;
//! use salesforce_import::{FileSource, Importer, ImportRequest, InMemoryJobStore, InMemorySink,
//!     ProgressEvent, SObject, TenantId};
//!
//! let importer = Importer::builder(
//!     Arc::new(FileSource::sample_org()),
//!     Arc::new(InMemorySink::new()),
//!     Arc::new(InMemoryJobStore::new()),
//! )
//! .page_size(50)
//! .build()?;
//! let mut handle = importer
//!     .start(&TenantId::new("acme"), ImportRequest::new("ada@example.com", [SObject::ACCOUNT]))
//!     .await?;
//! let mut events = handle.events();
//! while let Some(event) = events.next().await {
//!     if let ProgressEvent::Page { progress } = event {
//!         println!("{}: {} imported", progress.object, progress.imported);
//!     }
//! }
//! let job = handle.wait().await?;
//! println!("{} imported, {} failed", job.imported(), job.errors());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::retry::Backoff;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::crm::WriteMode;
use crate::error::{Error, Result};
use crate::id::{JobId, TenantId};
use crate::jobs::{Job, JobStore, Lease};
use crate::jobs::{MissingParents, NewJob, missing};
use crate::mapping::{Mappers, Tables};
use crate::object::SObject;
use crate::sink::CrmSink;
use crate::source::SalesforceSource;
use crate::status::JobStatus;
use crate::vault::TokenVault;

mod ids;
mod lease;
mod page;
mod plan;
mod preview;
mod progress;
mod run;
mod task;

pub use crate::retry::Clock;
use lease::{HeldLease, LeaseTimes};
pub use preview::{ObjectPreview, Preview};
pub use progress::ProgressEvent;
use progress::{Cancel, Events};

/// What to import, and who asked.
///
/// ```
/// use salesforce_import::{ImportRequest, SObject, WriteMode};
/// let req = ImportRequest::new("ada@example.com", [SObject::ACCOUNT, SObject::CONTACT])
///     .mode(WriteMode::Update);
/// assert_eq!(req.objects.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportRequest {
    /// Who started it (the host's user id or email).
    pub started_by: String,
    /// The objects selected. Companions come along (`OrderItem` with
    /// `Order`, `PricebookEntry` with `Product2`); nothing else is added.
    pub objects: Vec<SObject>,
    /// Skip or update records imported before; `None` takes the importer's default.
    pub mode: Option<WriteMode>,
    /// An incremental sync: each object imported before reads only what
    /// changed since (deletions included); see [`ImportRequest::sync`].
    pub sync: bool,
}

impl ImportRequest {
    /// Imports `objects`, started by `started_by`.
    pub fn new(started_by: impl Into<String>, objects: impl IntoIterator<Item = SObject>) -> Self {
        ImportRequest {
            started_by: started_by.into(),
            objects: objects.into_iter().collect(),
            mode: None,
            sync: false,
        }
    }

    /// Syncs changes instead of reading every record: each object that a
    /// finished job imported before reads only the records whose
    /// `SystemModstamp` is at or after its watermark, less the look-back
    /// window ([`ImporterBuilder::sync_lookback`]), deleted ones included
    /// (and deleted in the CRM through [`CrmSink::delete_batch`]). An
    /// object never imported is read whole. Needs a mode that updates
    /// ([`WriteMode::UpdateChanged`], the default, or [`WriteMode::Update`]).
    ///
    /// ```
    /// use salesforce_import::{ImportRequest, SObject};
    /// let req = ImportRequest::new("ada@example.com", [SObject::ACCOUNT]).sync(true);
    /// assert!(req.sync);
    /// ```
    pub fn sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// Skip or update records imported before.
    pub fn mode(mut self, mode: WriteMode) -> Self {
        self.mode = Some(mode);
        self
    }
}

/// Configures an [`Importer`]. The three ports are required; everything
/// else has a sound default.
pub struct ImporterBuilder {
    source: Arc<dyn SalesforceSource>,
    sink: Arc<dyn CrmSink>,
    jobs: Arc<dyn JobStore>,
    vault: Option<Arc<dyn TokenVault>>,
    mappers: Mappers,
    tables: Tables,
    page_size: usize,
    pages_in_flight: usize,
    objects_in_flight: usize,
    id_cache: usize,
    mode: WriteMode,
    lookback: Duration,
    backoff: Backoff,
    clock: Clock,
    lease: LeaseTimes,
    owner: Option<String>,
    stranded: Stranded,
}

/// What [`Importer::start`] does when the tenant's running job is
/// stranded: its lease lapsed, so the process that ran it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Stranded {
    /// Take it over and resume it from its checkpoints (the default): the
    /// handle returned is the stranded job's, and the new request is not
    /// started (start it again once that job is done).
    #[default]
    TakeOver,
    /// Leave it and answer [`Error::ImportStranded`], for a host that asks
    /// its user first.
    Report,
}

impl fmt::Debug for ImporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImporterBuilder")
            .field("page_size", &self.page_size)
            .field("mode", &self.mode)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl ImporterBuilder {
    /// Requires an active Salesforce connection in this vault before a job
    /// starts ([`Error::NotConnected`] otherwise).
    pub fn vault(mut self, vault: Arc<dyn TokenVault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// The mappers (default: [`Mappers::standard`]).
    pub fn mappers(mut self, mappers: Mappers) -> Self {
        self.mappers = mappers;
        self
    }

    /// The override tables (default: [`Tables::default`]).
    pub fn tables(mut self, tables: Tables) -> Self {
        self.tables = tables;
        self
    }

    /// Records per page (default 2,000, Salesforce's largest query batch);
    /// memory use is proportional to it. Must be 1 to 10,000.
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// How many pages of one object are mapped, resolved and written at
    /// once, each on its own task, while the next is fetched (default 4;
    /// 1 to 64). Pages are still recorded one after another, in order, so
    /// a checkpoint never passes a page that was not recorded; after a
    /// crash at most this many pages are written again. Memory use grows
    /// with it (pages in flight plus one fetched).
    pub fn pages_in_flight(mut self, pages: usize) -> Self {
        self.pages_in_flight = pages;
        self
    }

    /// How many objects of a job are imported at once (default 2; 1 to
    /// 16). An object starts once every object of the job it refers to is
    /// done (Contact after Account, Opportunity after both), in plan order:
    /// Product2 and its prices are read beside Account, Quote beside
    /// Order. With 1, objects run one after another in plan order. Each
    /// object has its own [`pages_in_flight`](ImporterBuilder::pages_in_flight).
    pub fn objects_in_flight(mut self, objects: usize) -> Self {
        self.objects_in_flight = objects;
        self
    }

    /// How many of the id mappings a job recorded it keeps in memory to
    /// resolve later pages' lookups without asking the job store (default
    /// 100,000, about 13 MB; 0 turns it off). Contacts refer to accounts
    /// the same job imported: with every account's mapping at hand, a
    /// contact page asks the store only about the contacts themselves.
    /// Only what the store took or answered is kept, and lookups it does
    /// not hold go to the store as before, so results are the same at any
    /// size; past the size, the mappings recorded or asked for last are
    /// kept.
    pub fn id_cache(mut self, entries: usize) -> Self {
        self.id_cache = entries;
        self
    }

    /// The default write mode (default [`WriteMode::UpdateChanged`]).
    pub fn mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// How far before an object's watermark a sync starts reading
    /// (default 10 minutes): Salesforce stamps a change when its
    /// transaction starts, so a long transaction commits records stamped
    /// before changes already read. Records read twice are skipped as
    /// unchanged.
    pub fn sync_lookback(mut self, lookback: Duration) -> Self {
        self.lookback = lookback;
        self
    }

    /// Attempts for a call that fails temporarily (default 5; at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.backoff.max_attempts = attempts;
        self
    }

    /// The first retry's wait, doubling after (default 500 ms), and the
    /// longest wait (default 30 s).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff.base = base;
        self.backoff.max = max;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How long a running job's lease lasts (default 30 s) and how often
    /// this process renews it (default 10 s; less than the lease). A job
    /// whose process dies is taken over once its lease lapses: a shorter
    /// lease recovers sooner, but a process stalled for longer than it
    /// (a long GC-like pause, a lost database) loses its job.
    pub fn lease(mut self, lease: Duration, heartbeat: Duration) -> Self {
        self.lease = LeaseTimes {
            ttl: lease,
            heartbeat,
        };
        self
    }

    /// The id this process holds leases under (default: host name, process
    /// id and a random part). Two processes must never share one.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// What [`Importer::start`] does with a stranded job (default
    /// [`Stranded::TakeOver`]).
    pub fn on_stranded(mut self, stranded: Stranded) -> Self {
        self.stranded = stranded;
        self
    }

    /// Checks the configuration and builds the importer.
    pub fn build(self) -> Result<Importer> {
        if !(1..=10_000).contains(&self.page_size) {
            return Err(Error::config(format!(
                "page size must be between 1 and 10000, not {}",
                self.page_size
            )));
        }
        if !(1..=64).contains(&self.pages_in_flight) {
            return Err(Error::config(format!(
                "pages_in_flight must be 1 to 64, not {}",
                self.pages_in_flight
            )));
        }
        if !(1..=16).contains(&self.objects_in_flight) {
            return Err(Error::config(format!(
                "objects_in_flight must be 1 to 16, not {}",
                self.objects_in_flight
            )));
        }
        if self.backoff.max_attempts == 0 {
            return Err(Error::config("max_attempts must be at least 1"));
        }
        if self.backoff.base > self.backoff.max {
            return Err(Error::config("the first backoff wait exceeds the longest"));
        }
        if self.lease.heartbeat.is_zero() || self.lease.heartbeat >= self.lease.ttl {
            return Err(Error::config(
                "the lease heartbeat must be shorter than the lease, and not zero",
            ));
        }
        let owner = match self.owner {
            Some(owner) if owner.trim().is_empty() => {
                return Err(Error::config("the lease owner id is empty"));
            }
            Some(owner) => owner,
            None => default_owner(),
        };
        Ok(Importer {
            inner: Arc::new(Inner {
                source: self.source,
                sink: self.sink,
                jobs: self.jobs,
                vault: self.vault,
                mappers: self.mappers,
                tables: self.tables,
                page_size: self.page_size,
                pages_in_flight: self.pages_in_flight,
                objects_in_flight: self.objects_in_flight,
                id_cache: self.id_cache,
                mode: self.mode,
                lookback: chrono::Duration::from_std(self.lookback)
                    .map_err(|_| Error::config("the sync look-back window is too long"))?,
                backoff: self.backoff,
                clock: self.clock,
                lease: self.lease,
                owner,
                stranded: self.stranded,
                running: Mutex::default(),
            }),
        })
    }
}

pub(crate) struct Inner {
    pub(crate) source: Arc<dyn SalesforceSource>,
    pub(crate) sink: Arc<dyn CrmSink>,
    pub(crate) jobs: Arc<dyn JobStore>,
    pub(crate) vault: Option<Arc<dyn TokenVault>>,
    pub(crate) mappers: Mappers,
    pub(crate) tables: Tables,
    pub(crate) page_size: usize,
    pub(crate) pages_in_flight: usize,
    pub(crate) objects_in_flight: usize,
    pub(crate) id_cache: usize,
    pub(crate) mode: WriteMode,
    pub(crate) lookback: chrono::Duration,
    pub(crate) backoff: Backoff,
    pub(crate) clock: Clock,
    pub(crate) lease: LeaseTimes,
    pub(crate) owner: String,
    stranded: Stranded,
    /// Jobs this importer runs in this process, for [`Importer::cancel`].
    running: Mutex<HashMap<(TenantId, JobId), Cancel>>,
}

/// Runs imports. Cheap to clone; share one per application.
#[derive(Clone)]
pub struct Importer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Importer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Importer")
            .field("source", &self.inner.source)
            .field("sink", &self.inner.sink)
            .field("jobs", &self.inner.jobs)
            .field("page_size", &self.inner.page_size)
            .finish_non_exhaustive()
    }
}

impl Importer {
    /// Starts configuring an importer over a source, a sink and a job store.
    pub fn builder(
        source: Arc<dyn SalesforceSource>,
        sink: Arc<dyn CrmSink>,
        jobs: Arc<dyn JobStore>,
    ) -> ImporterBuilder {
        ImporterBuilder {
            source,
            sink,
            jobs,
            vault: None,
            mappers: Mappers::standard(),
            tables: Tables::default(),
            page_size: 2_000,
            pages_in_flight: 4,
            objects_in_flight: 2,
            id_cache: 100_000,
            mode: WriteMode::UpdateChanged,
            lookback: Duration::from_secs(600),
            backoff: Backoff {
                max_attempts: 5,
                base: Duration::from_millis(500),
                max: Duration::from_secs(30),
            },
            clock: crate::retry::system_clock(),
            lease: LeaseTimes {
                ttl: Duration::from_secs(30),
                heartbeat: Duration::from_secs(10),
            },
            owner: None,
            stranded: Stranded::TakeOver,
        }
    }

    /// The objects `selected` expands to, in the order they would be imported.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use salesforce_import::*;
    /// # let importer = Importer::builder(Arc::new(FileSource::new()), Arc::new(InMemorySink::new()),
    /// #     Arc::new(InMemoryJobStore::new())).build()?;
    /// let plan = importer.plan(&[SObject::ORDER, SObject::ACCOUNT])?;
    /// assert_eq!(plan, [SObject::ACCOUNT, SObject::ORDER, SObject::ORDER_ITEM]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn plan(&self, selected: &[SObject]) -> Result<Vec<SObject>> {
        plan::plan(&self.inner.mappers, selected)
    }

    /// Creates a job and runs it in the background on the current tokio
    /// runtime. Fails at once with [`Error::ImportAlreadyRunning`] when the
    /// tenant has a running import, [`Error::NotConnected`] when a vault is
    /// configured and the tenant has no active connection, and
    /// [`Error::Config`] for an empty or unknown selection.
    pub async fn start(&self, tenant: &TenantId, request: ImportRequest) -> Result<ImportHandle> {
        let new = self.new_job(tenant, request).await?;
        let until = self.inner.lease.until(new.created_at);
        let new = new.leased_to(self.inner.owner.clone(), until);
        match self.inner.jobs.create_job(&new).await {
            Ok(mut job) => {
                let lease = job.lease.take().ok_or_else(|| {
                    Error::config("the job store created the job without its lease")
                })?;
                Ok(self.spawn(job, lease))
            }
            Err(Error::ImportAlreadyRunning { tenant, job }) => {
                let running = self.inner.jobs.job(&tenant, &job).await?;
                if !running.is_stranded((self.inner.clock)()) {
                    return Err(Error::ImportAlreadyRunning { tenant, job });
                }
                match self.inner.stranded {
                    Stranded::Report => Err(Error::ImportStranded { tenant, job }),
                    Stranded::TakeOver => self.take_over(running).await,
                }
            }
            Err(e) => Err(e),
        }
    }

    /// What [`start`](Importer::start) with `request` would do, object by
    /// object: how many records it would create, update, skip, delete and
    /// reject, with the first `max_rejections` rejections (object,
    /// Salesforce id, field, message). Reads the source and the id map as
    /// the import would; writes nothing to the sink, the id map or the job
    /// history, and needs no lease (it may run beside an import, but then
    /// counts against an id map that is changing).
    ///
    /// The counts are those the import then makes, unless the org changes
    /// in between or the CRM refuses a record the mapping accepted (a
    /// constraint of its own): those rejections show only when writing.
    /// Records the preview would create are kept in memory (about 50 bytes
    /// each) so that lookups to them resolve as in the real run.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use salesforce_import::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<()> {
    /// let importer = Importer::builder(
    ///     Arc::new(FileSource::sample_org()),
    ///     Arc::new(InMemorySink::new()),
    ///     Arc::new(InMemoryJobStore::new()),
    /// )
    /// .build()?;
    /// let tenant = TenantId::new("acme");
    /// let request = ImportRequest::new("ada@example.com", [SObject::ACCOUNT]);
    /// let preview = importer.preview(&tenant, &request, 10).await?;
    /// let accounts = preview.object(&SObject::ACCOUNT).unwrap();
    /// assert_eq!(accounts.create, accounts.read);
    /// // Nothing was written: the real run creates them.
    /// let job = importer.run(&tenant, request).await?;
    /// assert_eq!(job.imported(), accounts.create);
    /// # Ok(()) }
    /// ```
    pub async fn preview(
        &self,
        tenant: &TenantId,
        request: &ImportRequest,
        max_rejections: usize,
    ) -> Result<Preview> {
        let new = self.new_job(tenant, request.clone()).await?;
        preview::preview(
            &self.inner,
            tenant,
            new.objects,
            new.sync,
            new.mode,
            max_rejections,
        )
        .await
    }

    /// The job's missing-parent report: every record that failed because a
    /// required parent (its Account, its Order, ...) was not found, grouped
    /// by parent and why it was missing (not selected, failed itself, not
    /// found in the org). Reads the job's whole log, a page at a time.
    pub async fn missing_parents(&self, tenant: &TenantId, job: &JobId) -> Result<MissingParents> {
        const PAGE: usize = 10_000;
        let found = self.inner.jobs.job(tenant, job).await?;
        let mut collector = missing::Collector::default();
        let mut after = 0;
        loop {
            let page = self.inner.jobs.log_page(tenant, job, after, PAGE).await?;
            collector.extend(page.lines);
            match page.next {
                Some(next) => after = next,
                None => break,
            }
        }
        Ok(collector.finish(&found))
    }

    /// Plans and records a job without running it: pending and unleased,
    /// for another process to run with [`resume`](Importer::resume) (a
    /// queue worker; see the `workers` module, feature `apalis`). Fails as
    /// [`start`](Importer::start) does, except that a running job of the
    /// tenant is always [`Error::ImportAlreadyRunning`]. Until someone
    /// takes its lease the job counts as [stranded](Job::is_stranded):
    /// [`recover`](Importer::recover) may run it too, and whichever takes
    /// the lease first runs it, once.
    pub async fn create(&self, tenant: &TenantId, request: ImportRequest) -> Result<Job> {
        let new = self.new_job(tenant, request).await?;
        self.inner.jobs.create_job(&new).await
    }

    /// The job a request makes, after the checks `start` and `create`
    /// share: a known, non-empty selection, and a connected tenant when a
    /// vault is configured.
    async fn new_job(&self, tenant: &TenantId, request: ImportRequest) -> Result<NewJob> {
        let objects = self.plan(&request.objects)?;
        if let Some(vault) = &self.inner.vault {
            let connected = vault.get(tenant).await?.is_some_and(|c| c.active);
            if !connected {
                return Err(Error::NotConnected {
                    tenant: tenant.clone(),
                });
            }
        }
        let mode = request.mode.unwrap_or(self.inner.mode);
        if request.sync && mode == WriteMode::SkipExisting {
            return Err(Error::config(
                "a sync updates what changed: use write mode update_changed or update, not skip_existing",
            ));
        }
        Ok(NewJob::new(
            tenant.clone(),
            request.started_by,
            objects,
            mode,
            (self.inner.clock)(),
        )
        .sync(request.sync))
    }

    /// How long a lease this importer takes lasts (see
    /// [`ImporterBuilder::lease`]).
    pub fn lease_ttl(&self) -> Duration {
        self.inner.lease.ttl
    }

    /// The job store.
    pub fn job_store(&self) -> &Arc<dyn JobStore> {
        &self.inner.jobs
    }

    /// Takes a job's lease and runs it from its checkpoints; another
    /// process holding the lease is [`Error::ImportAlreadyRunning`].
    async fn take_over(&self, job: Job) -> Result<ImportHandle> {
        let now = (self.inner.clock)();
        let lease = self
            .inner
            .jobs
            .acquire_lease(
                &job.tenant,
                &job.id,
                &self.inner.owner,
                now,
                self.inner.lease.until(now),
            )
            .await?;
        let Some(lease) = lease else {
            return Err(Error::ImportAlreadyRunning {
                tenant: job.tenant,
                job: job.id,
            });
        };
        tracing::info!(tenant = %job.tenant, job = %job.id, token = lease.token, "taking the job over");
        // Read again under the lease: the checkpoints as the last owner left them.
        let job = self.inner.jobs.job(&job.tenant, &job.id).await?;
        Ok(self.spawn(job, lease))
    }

    /// Takes over and resumes every stranded job the job store shows this
    /// process (running jobs whose lease lapsed: their process died or was
    /// stopped during a deploy). Call it at startup, and now and then.
    /// A job another process takes first is left to it.
    ///
    /// A store that isolates tenants per session (PostgreSQL with
    /// row-level security) shows no other tenant's jobs here: use
    /// [`recover_tenant`](Importer::recover_tenant) for each tenant.
    pub async fn recover(&self) -> Result<Vec<ImportHandle>> {
        let now = (self.inner.clock)();
        let stranded = self.inner.jobs.stranded_jobs(now, 1_000).await?;
        self.take_over_all(stranded).await
    }

    /// [`recover`](Importer::recover) for one tenant.
    pub async fn recover_tenant(&self, tenant: &TenantId) -> Result<Vec<ImportHandle>> {
        let now = (self.inner.clock)();
        let stranded = self
            .inner
            .jobs
            .history(tenant, 20)
            .await?
            .into_iter()
            .filter(|j| j.is_stranded(now))
            .collect();
        self.take_over_all(stranded).await
    }

    async fn take_over_all(&self, stranded: Vec<Job>) -> Result<Vec<ImportHandle>> {
        let mut handles = Vec::new();
        for job in stranded {
            match self.take_over(job).await {
                Ok(handle) => handles.push(handle),
                // Taken by another process, or finished meanwhile.
                Err(Error::ImportAlreadyRunning { .. } | Error::JobNotResumable { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(handles)
    }

    /// Continues a job that stopped from its checkpoints: a failed one
    /// (for instance on Salesforce's rate limit), or a stranded one (its
    /// process died: the lease lapsed). Records already written are not
    /// written again.
    ///
    /// A pending or in-progress job whose lease another process still holds
    /// is [`Error::ImportAlreadyRunning`]; a failed job is not resumed while
    /// the tenant has another import running (the same error).
    pub async fn resume(&self, tenant: &TenantId, job: &JobId) -> Result<ImportHandle> {
        let job = self.inner.jobs.job(tenant, job).await?;
        match job.status {
            JobStatus::Pending | JobStatus::InProgress => self.take_over(job).await,
            JobStatus::Failed => {
                let recent = self.inner.jobs.history(tenant, 100).await?;
                if let Some(other) = recent
                    .iter()
                    .find(|j| j.status.is_running() && j.id != job.id)
                {
                    return Err(Error::ImportAlreadyRunning {
                        tenant: tenant.clone(),
                        job: other.id.clone(),
                    });
                }
                self.take_over(job).await
            }
            status => Err(Error::JobNotResumable {
                job: job.id,
                status,
                action: "resumed",
            }),
        }
    }

    /// The mappers this importer uses (the standard ones unless the builder
    /// was given others).
    pub fn mappers(&self) -> &Mappers {
        &self.inner.mappers
    }

    /// Asks a job this importer runs in this process to stop after the page
    /// in hand, as [`ImportHandle::cancel`] does. Returns `false` when the
    /// job is not running here (finished, unknown, another tenant's, or run
    /// by another process).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> salesforce_import::Result<()> {
    /// # use std::sync::Arc;
    /// # use salesforce_import::*;
    /// # let importer = Importer::builder(Arc::new(FileSource::sample_org()), Arc::new(InMemorySink::new()),
    /// #     Arc::new(InMemoryJobStore::new())).build()?;
    /// let tenant = TenantId::new("acme");
    /// let handle = importer.start(&tenant, ImportRequest::new("ada", [SObject::ACCOUNT])).await?;
    /// let id = handle.job_id().clone();
    /// let stopped = importer.cancel(&tenant, &id); // false if it already finished
    /// let job = handle.wait().await?;
    /// assert!(!importer.cancel(&tenant, &id)); // finished: nothing to cancel
    /// assert_eq!(stopped, job.status == JobStatus::Cancelled);
    /// # Ok(()) }
    /// ```
    pub fn cancel(&self, tenant: &TenantId, job: &JobId) -> bool {
        let running = self.inner.running.lock().expect("running jobs lock");
        match running.get(&(tenant.clone(), job.clone())) {
            Some(cancel) => {
                cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Starts an import and waits for it to finish.
    pub async fn run(&self, tenant: &TenantId, request: ImportRequest) -> Result<Job> {
        self.start(tenant, request).await?.wait().await
    }

    fn spawn(&self, job: Job, lease: Lease) -> ImportHandle {
        let (events, first) = Events::new();
        let cancel = Cancel::default();
        let runner = run::Runner {
            inner: self.inner.clone(),
            events: events.clone(),
            cancel: cancel.clone(),
            held: HeldLease::new(lease),
            ids: Arc::new(ids::IdCache::new(self.inner.id_cache)),
        };
        let id = job.id.clone();
        let tenant = job.tenant.clone();
        let key = (tenant.clone(), id.clone());
        self.inner
            .running
            .lock()
            .expect("running jobs lock")
            .insert(key.clone(), cancel.clone());
        // Unregisters the job however the task ends (a panic included).
        let registered = Registered {
            inner: self.inner.clone(),
            key,
        };
        let task = tokio::spawn(async move {
            let _registered = registered;
            runner.run(job).await
        });
        ImportHandle {
            job: id,
            tenant,
            cancel,
            events: events.downgrade(),
            first: Some(first),
            task,
        }
    }
}

/// An owner id unique to this process: host, process id, and a random part
/// (a restarted process on the same host and pid is another owner).
fn default_owner() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{host}-{}-{random:016x}", std::process::id())
}

/// A job in [`Inner::running`] until dropped.
struct Registered {
    inner: Arc<Inner>,
    key: (TenantId, JobId),
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut running) = self.inner.running.lock() {
            running.remove(&self.key);
        }
    }
}

/// A running import: its id, its events, a way to cancel it, and its end.
///
/// Dropping the handle does not stop the import.
#[derive(Debug)]
pub struct ImportHandle {
    job: JobId,
    tenant: TenantId,
    cancel: Cancel,
    events: broadcast::WeakSender<ProgressEvent>,
    first: Option<broadcast::Receiver<ProgressEvent>>,
    task: JoinHandle<Result<Job>>,
}

impl ImportHandle {
    /// The job's id.
    pub fn job_id(&self) -> &JobId {
        &self.job
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Asks the import to stop: the pages in flight (at most
    /// [`pages_in_flight`](ImporterBuilder::pages_in_flight)) are finished
    /// and recorded, no other starts. The job ends
    /// [`JobStatus::Cancelled`]; what was written stays recorded.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The progress events. The first call sees every event from the
    /// start; later calls see events from then on. A listener that falls
    /// more than 1,024 events behind skips the oldest.
    pub fn events(&mut self) -> BoxStream<'static, ProgressEvent> {
        let rx = match self.first.take() {
            Some(rx) => rx,
            // The job may have ended and dropped its sender: then the stream is empty.
            None => match self.events.upgrade() {
                Some(tx) => tx.subscribe(),
                None => return futures::stream::empty().boxed(),
            },
        };
        futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) => return Some((event, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }

    /// Waits for the import to end and returns the job's final state.
    /// `Ok` whatever the job's status (a failed job is `Ok` with status
    /// [`JobStatus::Failed`] and a message); `Err` only when the job's state
    /// could not be recorded.
    pub async fn wait(self) -> Result<Job> {
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(Error::Store {
                store: "import task",
                message: "the import task panicked or was aborted".into(),
                temporary: false,
                source: Some(Box::new(join)),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
