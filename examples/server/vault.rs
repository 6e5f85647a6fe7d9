//! The example's token vault: tokens kept encrypted (as `PgTokenVault`
//! keeps them), with a key the demo can replace, so the page's recovery
//! from tokens that can no longer be decrypted can be tried (and tested).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use salesforce_import::vault::{SealedConnection, TokenCipher};
use salesforce_import::{Connection, Result, TenantId, TokenVault};

#[derive(Debug)]
pub(crate) struct RotatingVault {
    cipher: Mutex<TokenCipher>,
    rows: Mutex<HashMap<TenantId, SealedConnection>>,
}

impl RotatingVault {
    pub(crate) fn new() -> RotatingVault {
        RotatingVault {
            cipher: Mutex::new(
                TokenCipher::new([TokenCipher::generate_key()]).expect("a fresh key"),
            ),
            rows: Mutex::default(),
        }
    }

    /// A new key, the old one forgotten (a key rotation gone wrong): the
    /// stored tokens cannot be decrypted any more.
    pub(crate) fn rotate(&self) {
        *self.cipher.lock().expect("cipher") =
            TokenCipher::new([TokenCipher::generate_key()]).expect("a fresh key");
    }
}

#[async_trait]
impl TokenVault for RotatingVault {
    async fn get(&self, tenant: &TenantId) -> Result<Option<Connection>> {
        let rows = self.rows.lock().expect("rows");
        let cipher = self.cipher.lock().expect("cipher");
        rows.get(tenant).map(|s| cipher.open(s)).transpose()
    }

    async fn put(&self, tenant: &TenantId, connection: &Connection) -> Result<()> {
        let sealed = self.cipher.lock().expect("cipher").seal(connection);
        self.rows
            .lock()
            .expect("rows")
            .insert(tenant.clone(), sealed);
        Ok(())
    }

    async fn deactivate(&self, tenant: &TenantId) -> Result<bool> {
        // The tokens are dropped with the row: nothing left to decrypt.
        Ok(self
            .rows
            .lock()
            .expect("rows")
            .remove(tenant)
            .is_some_and(|s| s.active))
    }
}
