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
//! Each port is a folder with its trait in `mod.rs` and its in-memory
//! backend beside it; layers import only downward (CI checks it with
//! `scripts/check_layers.py`):
//!
//! - [`crm`]: the typed CRM records the mappers produce.
//! - [`mapping`]: pure mappers from [`SfRecord`] to [`crm`] records, with
//!   override tables for picklists and countries.
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
//!   runs, yours included.
//! - `workers` (feature `apalis`): imports as tasks of a PostgreSQL-backed
//!   queue, run by any number of worker processes.
//!
//! ## Errors
//!
//! One [`Error`] type; [`Error::kind`] says what to do about it:
//! [`ErrorKind::Temporary`] (the engine retries it with backoff),
//! [`ErrorKind::RateLimited`] (the job stops with its checkpoints, to be
//! resumed once Salesforce's allowance is back) or [`ErrorKind::Permanent`]
//! (the job stops at once, with the cause in the `source()` chain). A bad
//! record is not an `Error` but a [`RecordError`] in the job's log, and the
//! import goes on.
//!
//! ## Features
//!
//! | feature | what it adds | dependencies it brings |
//! |---|---|---|
//! | *(none)* | the engine, mappers, [`FileSource`], the in-memory sink, job store and token vault, [`vault::TokenCipher`] (Fernet) | fernet (pure Rust), tokio, serde |
//! | `http` | `http::RestSource`, `http::SalesforceOAuth` (web-server flow with PKCE), `http::HostPolicy`, `http::PendingAuthorizations` | reqwest 0.13 (rustls), oauth2 5, url |
//! | `postgres` | `postgres::PgJobStore`, `PgTokenVault`, `PgCrmSink` (and with `http`, `PgPendingAuthorizations`) on the host's `PgPool`; migrations; optional row-level security | sqlx 0.9, sha2 |
//! | `server` | `server::ImportApi`: the axum router, `Authenticate`, `Caller`, the OpenAPI document; implies `http` | axum 0.8, utoipa 5 |
//! | `apalis` | `workers::ImportQueue`, `workers::Worker`: imports queued in PostgreSQL and run by worker processes; implies `postgres` | apalis 1.0, apalis-postgres 1.0 |
//! | `testkit` | the conformance suite for your backends; outside the semver promise | none |
//!
//! A fake Salesforce org for tests, served over loopback HTTP with faults on
//! demand, is the separate crate `salesforce-import-fake`, so that a host
//! running only the conformance suite compiles no HTTP server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// docs.rs builds with every feature and `--cfg docsrs`: each item says
// which feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod crm;
pub mod engine;
mod error;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod id;
pub mod jobs;
pub mod mapping;
mod object;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
mod record;
mod retry;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
pub mod sink;
pub mod source;
mod status;
#[cfg(any(test, feature = "testkit"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod vault;
#[cfg(feature = "apalis")]
#[cfg_attr(docsrs, doc(cfg(feature = "apalis")))]
pub mod workers;

pub use crm::WriteMode;
pub use engine::{
    ImportHandle, ImportRequest, Importer, ImporterBuilder, Preview, ProgressEvent, Stranded,
};
pub use error::{
    ApiErrorCode, BoxError, Error, ErrorKind, FieldError, FieldName, OAuthStep, Problem,
    RecordError, Result,
};
pub use id::{CrmId, InvalidSfId, JobId, SfId, TenantId};
pub use jobs::{InMemoryJobStore, Job, JobStore, Lease, LogEntry, ObjectProgress, Severity};
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
