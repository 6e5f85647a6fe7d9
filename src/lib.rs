//! # salesforce-import
//!
//! Moves a company's Salesforce data (Accounts, Contacts, Opportunities,
//! Products, Orders, Quotes, with their line items) into another CRM.
//!
//! The host CRM plugs its storage in through four traits —
//! [`SalesforceSource`], [`CrmSink`], [`JobStore`], [`TokenVault`] — and gets
//! the whole job: imports in dependency order, streamed page by page with
//! bounded memory, live progress, history, deduplication on re-runs, resume
//! after a crash, and per-record errors that name the record and the field.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> salesforce_import::Result<()> {
//! use std::sync::Arc;
//! use salesforce_import::{FileSource, Importer, ImportRequest, InMemoryJobStore, InMemorySink,
//!     JobStatus, SObject, TenantId};
//!
//! let source = Arc::new(FileSource::sample_org());
//! let sink = Arc::new(InMemorySink::default());
//! let jobs = Arc::new(InMemoryJobStore::default());
//! let importer = Importer::builder(source, sink.clone(), jobs).build()?;
//!
//! let tenant = TenantId::new("acme");
//! let handle = importer
//!     .start(&tenant, ImportRequest::new("ada@example.com", [SObject::ACCOUNT, SObject::CONTACT]))
//!     .await?;
//! let job = handle.wait().await?;
//! assert!(matches!(job.status, JobStatus::Completed | JobStatus::CompletedWithErrors));
//! assert!(sink.count(&tenant, &SObject::ACCOUNT) > 0);
//! # Ok(()) }
//! ```
//!
//! ## Modules
//!
//! - [`mapping`]: pure mappers from [`SfRecord`] to typed [`crm`] records,
//!   with override tables for picklists and countries.
//! - [`source`], [`sink`], [`jobs`], [`vault`]: the four ports, each with
//!   an in-memory reference backend.
//! - [`engine`]: the [`Importer`].
//! - `http` (feature `http`): the OAuth 2.0 web-server flow, the host
//!   allow-list and the REST API source.
//! - `postgres` (feature `postgres`): job store, token vault and a
//!   reference CRM sink on the host's `PgPool`, with embedded migrations.
//! - `server` (feature `server`): the axum router a host mounts (connect,
//!   status, disconnect, start and follow imports, history).
//! - `testkit` (feature `testkit`): the conformance suite every backend
//!   runs, and `FakeSalesforce`, a fake org over loopback HTTP with faults
//!   on demand.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod crm;
pub mod engine;
mod error;
#[cfg(feature = "http")]
pub mod http;
mod id;
pub mod jobs;
pub mod mapping;
mod object;
#[cfg(feature = "postgres")]
pub mod postgres;
mod record;
mod retry;
#[cfg(feature = "server")]
pub mod server;
pub mod sink;
pub mod source;
mod status;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod vault;

pub use crm::WriteMode;
pub use engine::{ImportHandle, ImportRequest, Importer, ImporterBuilder, ProgressEvent};
pub use error::{
    ApiErrorCode, BoxError, Error, ErrorKind, FieldError, FieldName, OAuthStep, Problem,
    RecordError, Result,
};
pub use id::{CrmId, InvalidSfId, JobId, SfId, TenantId};
pub use jobs::{InMemoryJobStore, Job, JobStore, LogEntry, ObjectProgress, Severity};
pub use object::{InvalidSObject, SObject};
pub use record::SfRecord;
pub use sink::{CrmSink, InMemorySink};
pub use source::{FileSource, SalesforceSource};
pub use status::{JobStatus, ObjectState};
pub use vault::{Connection, InMemoryTokenVault, TokenVault};

/// Compile-time check that the four ports can be used as trait objects.
#[cfg(test)]
fn _object_safe(
    _: std::sync::Arc<dyn SalesforceSource>,
    _: std::sync::Arc<dyn CrmSink>,
    _: std::sync::Arc<dyn JobStore>,
    _: std::sync::Arc<dyn TokenVault>,
    _: std::sync::Arc<dyn mapping::Mapper>,
) {
}
