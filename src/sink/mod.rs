//! [`CrmSink`]: where mapped records go, a batch at a time.
//!
//! The always-compiled [`InMemorySink`] is the reference implementation.
//!
//! # Implementing a sink for your CRM
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use async_trait::async_trait;
//! use salesforce_import::sink::{CrmSink, Relink, WriteBatch, WriteOutcome, WriteAction};
//! use salesforce_import::{CrmId, RecordError, Result, SObject, SfId, TenantId};
//!
//! #[derive(Debug, Default)]
//! struct MyCrm { rows: Mutex<HashMap<(TenantId, SObject, SfId), CrmId>> }
//!
//! #[async_trait]
//! impl CrmSink for MyCrm {
//!     async fn write_batch(&self, tenant: &TenantId, batch: &WriteBatch)
//!         -> Result<Vec<Result<WriteOutcome, RecordError>>>
//!     {
//!         let mut rows = self.rows.lock().unwrap();
//!         Ok(batch.records.iter().map(|r| {
//!             let key = (tenant.clone(), batch.object.clone(), r.sf_id.clone());
//!             // Idempotent on (tenant, object, Salesforce id).
//!             if let Some(id) = rows.get(&key) {
//!                 return Ok(WriteOutcome::new(id.clone(), WriteAction::AlreadyPresent));
//!             }
//!             let id = CrmId::new(format!("{}", rows.len() + 1));
//!             rows.insert(key, id.clone());
//!             Ok(WriteOutcome::new(id, WriteAction::Created))
//!         }).collect())
//!     }
//!
//!     async fn relink(&self, _tenant: &TenantId, _object: &SObject, links: &[Relink])
//!         -> Result<Vec<Result<(), RecordError>>>
//!     {
//!         Ok(links.iter().map(|_| Ok(())).collect())
//!     }
//! }
//! ```

use std::fmt;

use async_trait::async_trait;

use crate::crm::{CrmRecord, Link};
use chrono::{DateTime, Utc};

use crate::error::{Error, FieldError, RecordError, Result};
use crate::id::{CrmId, SfId, TenantId};
use crate::object::SObject;

mod memory;
mod pack;
pub use crate::crm::WriteMode;
pub use memory::InMemorySink;

/// One mapped record with its references resolved, ready to write.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WriteRecord {
    /// The Salesforce id: the idempotency key, with the tenant and object.
    pub sf_id: SfId,
    /// The record.
    pub record: CrmRecord,
    /// The CRM id, when the id map says the record was imported before
    /// (only sent in [`WriteMode::Update`]).
    pub existing: Option<CrmId>,
}

impl WriteRecord {
    /// A record to write.
    pub fn new(sf_id: SfId, record: CrmRecord, existing: Option<CrmId>) -> WriteRecord {
        WriteRecord {
            sf_id,
            record,
            existing,
        }
    }
}

/// One page of records of one object for one tenant.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WriteBatch {
    /// The Salesforce object the records came from.
    pub object: SObject,
    /// Skip or update records already present: always
    /// [`WriteMode::SkipExisting`] or [`WriteMode::Update`]. (In
    /// [`WriteMode::UpdateChanged`] the engine leaves unchanged records out
    /// of the batch and sends the rest as `Update`.)
    pub mode: WriteMode,
    /// The records, in Salesforce Id order.
    pub records: Vec<WriteRecord>,
}

impl WriteBatch {
    /// A batch.
    pub fn new(object: SObject, mode: WriteMode, records: Vec<WriteRecord>) -> WriteBatch {
        WriteBatch {
            object,
            mode,
            records,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WriteAction {
    /// A new CRM record.
    Created,
    /// An existing CRM record was updated.
    Updated,
    /// The record was already there (written before, e.g. by a run that
    /// crashed before recording it) and was left as it was.
    AlreadyPresent,
}

/// The result of writing one record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteOutcome {
    /// The record's CRM id.
    pub crm_id: CrmId,
    /// What happened.
    pub action: WriteAction,
    /// Values the CRM changed while storing the record (e.g. a name taken
    /// by another record, renamed): the engine logs each as a warning of
    /// the record.
    pub warnings: Vec<FieldError>,
}

impl WriteOutcome {
    /// An outcome, without warnings.
    pub fn new(crm_id: CrmId, action: WriteAction) -> WriteOutcome {
        WriteOutcome {
            crm_id,
            action,
            warnings: Vec::new(),
        }
    }

    /// The outcome with one more warning: a value the CRM changed.
    #[must_use]
    pub fn with_warning(mut self, warning: FieldError) -> WriteOutcome {
        self.warnings.push(warning);
        self
    }
}

/// A record deleted in Salesforce, to delete (or archive) in the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deletion {
    /// Its Salesforce id, for error messages.
    pub sf_id: SfId,
    /// The CRM record it was imported as.
    pub crm_id: CrmId,
    /// When Salesforce deleted it (its `SystemModstamp`), or when the
    /// engine saw the deletion if the source does not say.
    pub deleted_at: DateTime<Utc>,
}

impl Deletion {
    /// A deletion.
    pub fn new(sf_id: SfId, crm_id: CrmId, deleted_at: DateTime<Utc>) -> Deletion {
        Deletion {
            sf_id,
            crm_id,
            deleted_at,
        }
    }
}

/// A reference set after the fact: the second pass that links accounts to
/// parents that were imported after them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Relink {
    /// The record to change.
    pub crm_id: CrmId,
    /// Its Salesforce id, for error messages.
    pub sf_id: SfId,
    /// The slot.
    pub link: Link,
    /// The record it refers to.
    pub target: CrmId,
}

impl Relink {
    /// A relink.
    pub fn new(crm_id: CrmId, sf_id: SfId, link: Link, target: CrmId) -> Relink {
        Relink {
            crm_id,
            sf_id,
            link,
            target,
        }
    }
}

/// The host CRM's storage.
///
/// Contract:
/// - writing the same (tenant, object, Salesforce id) twice returns the same
///   [`CrmId`] and creates nothing new: in [`WriteMode::SkipExisting`] the
///   second write is [`WriteAction::AlreadyPresent`]; in
///   [`WriteMode::Update`] it updates the record in place;
/// - one result per record, in order; a record the CRM rejects is a
///   [`RecordError`] and the rest of the batch is still written;
/// - an `Err` of the whole call means nothing of the batch may be assumed
///   written; the engine retries temporary errors, and idempotency makes
///   the retry harmless;
/// - every read and write is scoped to `tenant`;
/// - [`delete_batch`](CrmSink::delete_batch) is optional: a sink that
///   keeps deleted records leaves the default, which answers
///   [`Error::Unsupported`]; the engine then
///   logs one warning per object and goes on. A sink that implements it
///   must make it idempotent, and let a later write of the same record
///   (restored from Salesforce's recycle bin) bring it back.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait CrmSink: fmt::Debug + Send + Sync + 'static {
    /// Writes one batch of one object.
    async fn write_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch,
    ) -> Result<Vec<Result<WriteOutcome, RecordError>>>;

    /// Sets references on records already written (one result per link).
    async fn relink(
        &self,
        tenant: &TenantId,
        object: &SObject,
        links: &[Relink],
    ) -> Result<Vec<Result<(), RecordError>>>;

    /// Deletes (or archives) records deleted in Salesforce, one result per
    /// record; the default does not support it.
    async fn delete_batch(
        &self,
        tenant: &TenantId,
        object: &SObject,
        records: &[Deletion],
    ) -> Result<Vec<Result<(), RecordError>>> {
        let _ = (tenant, object, records);
        Err(Error::Unsupported {
            port: "crm sink",
            operation: "deleting records",
        })
    }
}
