//! [`TokenVault`]: each tenant's Salesforce connection.
//!
//! Tokens are [`SecretString`]s: they never appear in `Debug` output, logs or
//! errors. Backends encrypt them at rest with [`TokenCipher`] (Fernet, so
//! tokens written by Python's `cryptography.fernet` still decrypt); the
//! always-compiled [`InMemoryTokenVault`] holds them in memory only.
//!
//! # Implementing a vault
//!
//! Encrypt the tokens before they reach your storage and decrypt them on
//! the way out: [`TokenCipher::seal`] gives a [`SealedConnection`] (tokens
//! as Fernet ciphertext) to store, and [`TokenCipher::open`] turns it back.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use async_trait::async_trait;
//! use salesforce_import::vault::{Connection, SealedConnection, TokenCipher, TokenVault};
//! use salesforce_import::{Result, TenantId};
//!
//! #[derive(Debug)]
//! struct MyVault {
//!     cipher: TokenCipher,
//!     rows: Mutex<HashMap<TenantId, SealedConnection>>, // your table
//! }
//!
//! #[async_trait]
//! impl TokenVault for MyVault {
//!     async fn get(&self, tenant: &TenantId) -> Result<Option<Connection>> {
//!         let row = self.rows.lock().unwrap().get(tenant).cloned();
//!         row.map(|sealed| self.cipher.open(&sealed)).transpose()
//!     }
//!     async fn put(&self, tenant: &TenantId, connection: &Connection) -> Result<()> {
//!         let sealed = self.cipher.seal(connection); // tokens encrypted from here on
//!         self.rows.lock().unwrap().insert(tenant.clone(), sealed);
//!         Ok(())
//!     }
//!     async fn deactivate(&self, tenant: &TenantId) -> Result<bool> {
//!         let mut rows = self.rows.lock().unwrap();
//!         let Some(row) = rows.get_mut(tenant) else { return Ok(false) };
//!         let was_active = std::mem::replace(&mut row.active, false);
//!         row.access_token = self.cipher.encrypt(&"".into()); // tokens forgotten
//!         row.refresh_token = None;
//!         Ok(was_active)
//!     }
//! }
//! ```

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::error::Result;
use crate::id::TenantId;

mod cipher;
mod memory;
pub use cipher::{SealedConnection, TokenCipher};
pub use memory::InMemoryTokenVault;

/// A tenant's connection to one Salesforce org.
///
/// `Debug` is safe: the tokens print as `[REDACTED]`.
///
/// ```
/// use salesforce_import::vault::Connection;
/// use secrecy::SecretString;
/// let c = Connection::new(
///     "https://acme.my.salesforce.com",
///     SecretString::from("00Dxx!AQ0AQH0dMHZfz9"),
///     Some(SecretString::from("5Aep861TSESvWeug_xvFHRBTTbf")),
///     "ada@example.com",
///     chrono::Utc::now(),
/// );
/// assert!(!format!("{c:?}").contains("AQ0AQH0dMHZfz9"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Connection {
    /// The org's API host (`https://acme.my.salesforce.com`).
    pub instance_url: String,
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token.
    pub refresh_token: Option<SecretString>,
    /// Who connected (the host's user id or email).
    pub connected_by: String,
    /// When.
    pub connected_at: DateTime<Utc>,
    /// When the access token was last refreshed.
    pub refreshed_at: Option<DateTime<Utc>>,
    /// The Salesforce identity URL of the connected user, if known.
    pub identity_url: Option<String>,
    /// Whether the connection is in use; disconnecting deactivates it.
    pub active: bool,
}

impl Connection {
    /// An active connection.
    pub fn new(
        instance_url: impl Into<String>,
        access_token: SecretString,
        refresh_token: Option<SecretString>,
        connected_by: impl Into<String>,
        connected_at: DateTime<Utc>,
    ) -> Connection {
        Connection {
            instance_url: instance_url.into(),
            access_token,
            refresh_token,
            connected_by: connected_by.into(),
            connected_at,
            refreshed_at: None,
            identity_url: None,
            active: true,
        }
    }
}

/// Where tenants' Salesforce connections are kept.
///
/// Contract: one connection per tenant; [`put`](TokenVault::put) replaces
/// it; [`deactivate`](TokenVault::deactivate) keeps the row but marks it
/// inactive and drops the tokens; everything is scoped to the tenant.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TokenVault: fmt::Debug + Send + Sync + 'static {
    /// The tenant's connection, active or not.
    async fn get(&self, tenant: &TenantId) -> Result<Option<Connection>>;

    /// Stores (or replaces) the tenant's connection.
    async fn put(&self, tenant: &TenantId, connection: &Connection) -> Result<()>;

    /// Marks the connection inactive and forgets its tokens. Returns whether
    /// there was an active connection.
    async fn deactivate(&self, tenant: &TenantId) -> Result<bool>;
}

/// A connection's state as an admin page shows it: no tokens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ConnectionStatus {
    /// Whether an active connection exists.
    pub connected: bool,
    /// The org's API host.
    pub instance_url: Option<String>,
    /// Who connected.
    pub connected_by: Option<String>,
    /// When.
    pub connected_at: Option<DateTime<Utc>>,
}

impl From<Option<&Connection>> for ConnectionStatus {
    fn from(c: Option<&Connection>) -> Self {
        ConnectionStatus {
            connected: c.is_some_and(|c| c.active),
            instance_url: c.map(|c| c.instance_url.clone()),
            connected_by: c.map(|c| c.connected_by.clone()),
            connected_at: c.map(|c| c.connected_at),
        }
    }
}
