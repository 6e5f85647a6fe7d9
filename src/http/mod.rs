//! Salesforce over HTTP (feature `http`): the OAuth 2.0 web-server flow
//! ([`SalesforceOAuth`]) and the REST API source ([`RestSource`]).
//!
//! A host wires them together once:
//!
//! ```no_run
//! # async fn demo() -> salesforce_import::Result<()> {
//! use std::sync::Arc;
//! use secrecy::SecretString;
//! use salesforce_import::http::{RestSource, SalesforceOAuth};
//! use salesforce_import::{Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault};
//!
//! let vault = Arc::new(InMemoryTokenVault::new()); // your encrypted vault
//! let oauth = Arc::new(
//!     SalesforceOAuth::builder("3MVG9...", SecretString::from("..."), "https://crm.example.com/sf/callback")
//!         .build(vault.clone())?,
//! );
//! let source = Arc::new(RestSource::builder(oauth.clone()).build()?);
//! let importer = Importer::builder(source, Arc::new(InMemorySink::new()), Arc::new(InMemoryJobStore::new()))
//!     .vault(vault)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Every URL a token, code or secret is sent to (login host, the
//! `instance_url` of a token response or of a stored connection) must pass
//! the [`HostPolicy`] first. Tokens stay `SecretString`s: they appear in no
//! `Debug` output, error or log.

mod allow;
mod client;
mod limits;
mod oauth;
mod pending;
mod rest;
mod token;

pub use allow::{HostPolicy, LoginHost};
pub use oauth::{Authorization, Disconnected, SalesforceOAuth, SalesforceOAuthBuilder};
pub use pending::{InMemoryPendingAuthorizations, PendingAuthorization, PendingAuthorizations};
pub use rest::{DEFAULT_API_VERSION, RestSource, RestSourceBuilder};
