//! [`JobStore`]: import jobs, their progress and error log, history, the
//! one-running-import-per-tenant rule, checkpoints, and the Salesforce id ->
//! CRM id map.
//!
//! The always-compiled [`InMemoryJobStore`] is the reference implementation;
//! a host's own store runs the same conformance suite
//! (`salesforce_import::testkit`, feature `testkit`).
//!
//! # Implementing a job store
//!
//! Read `src/jobs/memory.rs` (one mutex over a few maps) as the model, and
//! keep these in mind for a database:
//! - enforce one running job per tenant in the database itself (a partial
//!   unique index over the running statuses), not with a read-then-write;
//! - apply a [`PageRecord`] in one transaction: counts, log entries, id
//!   mappings and checkpoint together;
//! - answer [`resolve_ids`](JobStore::resolve_ids) with one query
//!   (`WHERE (object, sf_id) IN (...)` / `= ANY($1)`), never one per key;
//! - build returned jobs with [`Job::new`] and log entries with
//!   [`LogEntry::new`] (both types are `#[non_exhaustive]`).

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crm::WriteMode;
use crate::error::Result;
use crate::id::{CrmId, JobId, SfId, TenantId};
use crate::object::SObject;

mod log;
mod memory;
pub use crate::status::{JobStatus, ObjectState};
pub use log::{LogEntry, Severity};
pub use memory::InMemoryJobStore;

/// Progress of one object within a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectProgress {
    /// The object.
    pub object: SObject,
    /// Its state.
    pub state: ObjectState,
    /// How many records the source reported, once known.
    pub total: Option<u64>,
    /// Records written (created, updated or found already present).
    pub imported: u64,
    /// Records already imported earlier and left alone.
    pub skipped: u64,
    /// Records that failed (see the error log).
    pub errors: u64,
    /// Records imported with a repaired value.
    pub warnings: u64,
    /// The last Salesforce id whose page was fully recorded: a resumed job
    /// continues after it.
    pub checkpoint: Option<SfId>,
}

impl ObjectProgress {
    /// A pending object with no progress.
    pub fn pending(object: SObject) -> ObjectProgress {
        ObjectProgress {
            object,
            state: ObjectState::Pending,
            total: None,
            imported: 0,
            skipped: 0,
            errors: 0,
            warnings: 0,
            checkpoint: None,
        }
    }

    /// Records processed so far: imported + skipped + errors.
    pub fn processed(&self) -> u64 {
        self.imported + self.skipped + self.errors
    }
}

/// One import job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Job {
    /// The id.
    pub id: JobId,
    /// The tenant.
    pub tenant: TenantId,
    /// The status.
    pub status: JobStatus,
    /// Who started it (the host's user id or email).
    pub started_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// Skip or update records imported before.
    pub mode: WriteMode,
    /// Per-object progress, in import order.
    pub objects: Vec<ObjectProgress>,
    /// Why it failed or was stopped.
    pub message: Option<String>,
}

impl Job {
    /// A pending job with every object pending: what
    /// [`JobStore::create_job`] returns, for stores outside this crate.
    ///
    /// ```
    /// use salesforce_import::jobs::{Job, NewJob};
    /// use salesforce_import::{JobId, JobStatus, SObject, TenantId, WriteMode};
    /// let new = NewJob::new(TenantId::new("acme"), "ada", vec![SObject::ACCOUNT], WriteMode::SkipExisting, chrono::Utc::now());
    /// let job = Job::new(JobId::new("42"), &new);
    /// assert_eq!(job.status, JobStatus::Pending);
    /// assert_eq!(job.objects.len(), 1);
    /// ```
    pub fn new(id: JobId, new: &NewJob) -> Job {
        Job {
            id,
            tenant: new.tenant.clone(),
            status: JobStatus::Pending,
            started_by: new.started_by.clone(),
            created_at: new.created_at,
            started_at: None,
            completed_at: None,
            mode: new.mode,
            objects: new
                .objects
                .iter()
                .cloned()
                .map(ObjectProgress::pending)
                .collect(),
            message: None,
        }
    }

    /// The progress of one object.
    pub fn object(&self, object: &SObject) -> Option<&ObjectProgress> {
        self.objects.iter().find(|o| &o.object == object)
    }

    /// Records the sources reported, over every object whose total is known.
    pub fn total(&self) -> u64 {
        self.objects.iter().filter_map(|o| o.total).sum()
    }

    /// Records written, over every object.
    pub fn imported(&self) -> u64 {
        self.objects.iter().map(|o| o.imported).sum()
    }

    /// Records skipped, over every object.
    pub fn skipped(&self) -> u64 {
        self.objects.iter().map(|o| o.skipped).sum()
    }

    /// Records that failed, over every object.
    pub fn errors(&self) -> u64 {
        self.objects.iter().map(|o| o.errors).sum()
    }
}

/// What a new job is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewJob {
    /// The tenant.
    pub tenant: TenantId,
    /// Who starts it.
    pub started_by: String,
    /// The objects, in import order.
    pub objects: Vec<SObject>,
    /// Skip or update.
    pub mode: WriteMode,
    /// Now.
    pub created_at: DateTime<Utc>,
}

impl NewJob {
    /// A new job.
    pub fn new(
        tenant: TenantId,
        started_by: impl Into<String>,
        objects: Vec<SObject>,
        mode: WriteMode,
        created_at: DateTime<Utc>,
    ) -> NewJob {
        NewJob {
            tenant,
            started_by: started_by.into(),
            objects,
            mode,
            created_at,
        }
    }
}

/// Everything one page changes, recorded atomically: counts, error log,
/// id mappings and the checkpoint. A store must apply all of it or none, so
/// a crash leaves the job at the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageRecord {
    /// The source's total for the object, when first known.
    pub total: Option<u64>,
    /// Records written.
    pub imported: u64,
    /// Records skipped.
    pub skipped: u64,
    /// Records failed.
    pub errors: u64,
    /// Records repaired.
    pub warnings: u64,
    /// Error-log entries (errors and warnings).
    pub log: Vec<LogEntry>,
    /// New Salesforce id -> CRM id mappings for this object.
    pub mappings: Vec<(SfId, CrmId)>,
    /// The last Salesforce id of the page.
    pub checkpoint: Option<SfId>,
}

/// The key of the id map: one Salesforce record of one object.
pub type IdKey = (SObject, SfId);

/// Jobs, progress, history, checkpoints and the id map.
///
/// Contract:
/// - [`create_job`](JobStore::create_job) fails with
///   [`Error::ImportAlreadyRunning`](crate::Error::ImportAlreadyRunning)
///   while the tenant has a job that [`is_running`](JobStatus::is_running),
///   even under concurrent calls;
/// - [`record_page`](JobStore::record_page) applies a [`PageRecord`] whole
///   or not at all;
/// - the id map is unique per (tenant, object, Salesforce id), and
///   [`resolve_ids`](JobStore::resolve_ids) answers a whole page in one call;
/// - everything is scoped to the tenant: another tenant's job is
///   [`Error::JobNotFound`](crate::Error::JobNotFound).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait JobStore: fmt::Debug + Send + Sync + 'static {
    /// Creates a pending job, unless the tenant already has a running one.
    async fn create_job(&self, new: &NewJob) -> Result<Job>;

    /// One job.
    async fn job(&self, tenant: &TenantId, job: &JobId) -> Result<Job>;

    /// The tenant's jobs, newest first, at most `limit`.
    async fn history(&self, tenant: &TenantId, limit: usize) -> Result<Vec<Job>>;

    /// Sets a job's status (and `started_at` on the first `InProgress`,
    /// `completed_at` on a final status) and its message.
    async fn set_status(
        &self,
        tenant: &TenantId,
        job: &JobId,
        status: JobStatus,
        at: DateTime<Utc>,
        message: Option<String>,
    ) -> Result<()>;

    /// Sets one object's state.
    async fn set_object_state(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        state: ObjectState,
    ) -> Result<()>;

    /// Records one page of one object, atomically.
    async fn record_page(
        &self,
        tenant: &TenantId,
        job: &JobId,
        object: &SObject,
        page: &PageRecord,
    ) -> Result<()>;

    /// The job's error log, oldest first.
    async fn error_log(
        &self,
        tenant: &TenantId,
        job: &JobId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogEntry>>;

    /// Looks up CRM ids for Salesforce ids, in one call; unknown keys are
    /// absent from the answer.
    async fn resolve_ids(&self, tenant: &TenantId, keys: &[IdKey])
    -> Result<HashMap<IdKey, CrmId>>;
}
