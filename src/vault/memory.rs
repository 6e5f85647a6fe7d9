//! The in-memory [`TokenVault`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use secrecy::SecretString;

use super::{Connection, TokenVault};
use crate::error::Result;
use crate::id::TenantId;

/// A thread-safe in-memory token vault. Tokens stay in memory as
/// [`SecretString`]s (zeroed when dropped) and are never written anywhere.
#[derive(Debug, Clone, Default)]
pub struct InMemoryTokenVault {
    state: Arc<Mutex<HashMap<TenantId, Connection>>>,
}

impl InMemoryTokenVault {
    /// An empty vault.
    pub fn new() -> InMemoryTokenVault {
        InMemoryTokenVault::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TenantId, Connection>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl TokenVault for InMemoryTokenVault {
    async fn get(&self, tenant: &TenantId) -> Result<Option<Connection>> {
        Ok(self.lock().get(tenant).cloned())
    }

    async fn put(&self, tenant: &TenantId, connection: &Connection) -> Result<()> {
        self.lock().insert(tenant.clone(), connection.clone());
        Ok(())
    }

    async fn deactivate(&self, tenant: &TenantId) -> Result<bool> {
        let mut state = self.lock();
        let Some(conn) = state.get_mut(tenant) else {
            return Ok(false);
        };
        let was_active = conn.active;
        conn.active = false;
        conn.access_token = SecretString::from("");
        conn.refresh_token = None;
        Ok(was_active)
    }
}
