//! Authorizations waiting for their OAuth callback: the `state` store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::error::Result;
use crate::id::TenantId;

/// One authorization started by [`SalesforceOAuth::authorize`](super::SalesforceOAuth::authorize)
/// and waiting for Salesforce to send the user back with a code.
///
/// `Debug` is safe: the PKCE verifier prints as `[REDACTED]`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PendingAuthorization {
    /// The tenant being connected.
    pub tenant: TenantId,
    /// The host's user who asked; only they may complete it.
    pub user: String,
    /// The PKCE code verifier, sent with the code exchange.
    pub verifier: SecretString,
    /// The login host the user was sent to (the code is exchanged there).
    pub login_url: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl PendingAuthorization {
    /// A pending authorization, as a store outside this crate reads it back.
    pub fn new(
        tenant: TenantId,
        user: impl Into<String>,
        verifier: SecretString,
        login_url: impl Into<String>,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> PendingAuthorization {
        PendingAuthorization {
            tenant,
            user: user.into(),
            verifier,
            login_url: login_url.into(),
            created_at,
            expires_at,
        }
    }
}

/// Where pending authorizations wait for their callback, keyed by the
/// OAuth `state`.
///
/// Contract: [`take`](PendingAuthorizations::take) removes what it returns,
/// so a `state` completes at most once, even when two callbacks race. A
/// host running several servers keeps them in its database, where every
/// server finds them: `postgres::PgPendingAuthorizations` (features
/// `postgres` and `http`) keys a table by a hash of the state and encrypts
/// the verifier like the tokens. One process can use
/// [`InMemoryPendingAuthorizations`]. The test kit's
/// `pending_authorizations_conformance!` checks a store of your own.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> salesforce_import::Result<()> {
/// use secrecy::SecretString;
/// use salesforce_import::http::{InMemoryPendingAuthorizations, PendingAuthorization, PendingAuthorizations};
/// use salesforce_import::TenantId;
///
/// let store = InMemoryPendingAuthorizations::new();
/// let now = chrono::Utc::now();
/// let state = SecretString::from("0f3c9a...random");
/// let pending = PendingAuthorization::new(TenantId::new("acme"), "ada", SecretString::from("verifier"),
///     "https://login.salesforce.com", now, now + chrono::Duration::minutes(10));
/// store.insert(&state, pending).await?;
/// assert!(store.take(&state).await?.is_some());
/// assert!(store.take(&state).await?.is_none()); // single use
/// # Ok(()) }
/// ```
#[async_trait]
pub trait PendingAuthorizations: fmt::Debug + Send + Sync + 'static {
    /// Keeps `pending` under `state`.
    async fn insert(&self, state: &SecretString, pending: PendingAuthorization) -> Result<()>;

    /// Removes and returns the authorization kept under `state`, expired
    /// or not (the caller checks the expiry, tenant and user).
    async fn take(&self, state: &SecretString) -> Result<Option<PendingAuthorization>>;
}

/// Pending authorizations in this process's memory. Expired entries are
/// dropped whenever a new one is inserted, so the map stays small.
#[derive(Clone, Default)]
pub struct InMemoryPendingAuthorizations {
    state: Arc<Mutex<HashMap<String, PendingAuthorization>>>,
}

impl fmt::Debug for InMemoryPendingAuthorizations {
    /// The count only: states are bearer values until used.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryPendingAuthorizations")
            .field("pending", &self.lock().len())
            .finish()
    }
}

impl InMemoryPendingAuthorizations {
    /// An empty store.
    pub fn new() -> InMemoryPendingAuthorizations {
        InMemoryPendingAuthorizations::default()
    }

    /// How many authorizations are waiting (expired ones included until
    /// the next insert).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, PendingAuthorization>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl PendingAuthorizations for InMemoryPendingAuthorizations {
    async fn insert(&self, state: &SecretString, pending: PendingAuthorization) -> Result<()> {
        let mut map = self.lock();
        let now = pending.created_at;
        map.retain(|_, p| p.expires_at > now);
        map.insert(state.expose_secret().to_owned(), pending);
        Ok(())
    }

    async fn take(&self, state: &SecretString) -> Result<Option<PendingAuthorization>> {
        Ok(self.lock().remove(state.expose_secret()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(at: DateTime<Utc>) -> PendingAuthorization {
        PendingAuthorization::new(
            TenantId::new("t"),
            "u",
            SecretString::from("the-verifier"),
            "https://login.salesforce.com",
            at,
            at + chrono::Duration::minutes(10),
        )
    }

    #[tokio::test]
    async fn take_is_single_use_and_expired_entries_are_dropped() {
        let store = InMemoryPendingAuthorizations::new();
        let t0 = Utc::now();
        let a = SecretString::from("state-a");
        store.insert(&a, pending(t0)).await.unwrap();
        store
            .insert(&SecretString::from("state-b"), pending(t0))
            .await
            .unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.take(&a).await.unwrap().is_some());
        assert!(store.take(&a).await.unwrap().is_none());
        // An insert 11 minutes later drops state-b, which has expired.
        store
            .insert(
                &SecretString::from("state-c"),
                pending(t0 + chrono::Duration::minutes(11)),
            )
            .await
            .unwrap();
        assert_eq!(store.len(), 1);
        let debug = format!("{store:?}");
        assert!(!debug.contains("state-c") && !debug.contains("the-verifier"));
    }
}
