//! [`PgTokenVault`]: each tenant's Salesforce connection in PostgreSQL,
//! tokens encrypted with a [`TokenCipher`].

use async_trait::async_trait;
use secrecy::SecretString;
use sqlx::PgPool;

use super::error::{RowExt, db};
use super::{Rls, begin};
use crate::error::Result;
use crate::id::TenantId;
use crate::vault::{Connection, SealedConnection, TokenCipher, TokenVault};

const STORE: &str = "token vault";

/// A [`TokenVault`] in PostgreSQL (table `sf_import_connections`, created
/// by [`migrate`](super::migrate)): one row per tenant with the instance
/// URL, who connected and when, the active flag, and the access and refresh
/// tokens as Fernet ciphertext made by the [`TokenCipher`]. Plain tokens
/// never reach the database, and the cipher's keys never leave the process.
///
/// Deactivating keeps the row (who connected, when) and deletes the
/// ciphertext.
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool, key: secrecy::SecretString) -> salesforce_import::Result<()> {
/// use salesforce_import::postgres::{self, PgTokenVault};
/// use salesforce_import::vault::TokenCipher;
/// postgres::migrate(&pool).await?;
/// let vault = PgTokenVault::new(pool, TokenCipher::new([key])?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgTokenVault {
    pool: PgPool,
    cipher: TokenCipher,
    rls: Rls,
}

impl PgTokenVault {
    /// A vault over the host's pool, encrypting with `cipher`.
    pub fn new(pool: PgPool, cipher: TokenCipher) -> PgTokenVault {
        PgTokenVault {
            pool,
            cipher,
            rls: Rls::Off,
        }
    }

    /// Sets `app.current_org` in every transaction, for hosts that turned on
    /// [row-level security](super::enable_row_level_security).
    pub fn with_row_level_security(mut self) -> PgTokenVault {
        self.rls = Rls::On;
        self
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl TokenVault for PgTokenVault {
    async fn get(&self, tenant: &TenantId) -> Result<Option<Connection>> {
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        let row = sqlx::query(
            "SELECT instance_url, access_token, refresh_token, identity_url, connected_by,
                    connected_at, refreshed_at, active
             FROM sf_import_connections WHERE tenant_id = $1",
        )
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(STORE, "reading a connection"))?;
        tx.commit()
            .await
            .map_err(db(STORE, "reading a connection"))?;
        let Some(r) = row else { return Ok(None) };
        let access: Option<String> = r.col(STORE, "access_token")?;
        let Some(access) = access else {
            // Deactivated: the row without tokens.
            let mut c = Connection::new(
                r.col::<String, _>(STORE, "instance_url")?,
                SecretString::from(""),
                None,
                r.col::<String, _>(STORE, "connected_by")?,
                r.col(STORE, "connected_at")?,
            );
            c.refreshed_at = r.col(STORE, "refreshed_at")?;
            c.identity_url = r.col(STORE, "identity_url")?;
            c.active = false;
            return Ok(Some(c));
        };
        let sealed = SealedConnection::new(
            r.col::<String, _>(STORE, "instance_url")?,
            access,
            r.col(STORE, "refresh_token")?,
            r.col::<String, _>(STORE, "connected_by")?,
            r.col(STORE, "connected_at")?,
            r.col(STORE, "refreshed_at")?,
            r.col(STORE, "identity_url")?,
            r.col(STORE, "active")?,
        );
        self.cipher.open(&sealed).map(Some)
    }

    async fn put(&self, tenant: &TenantId, connection: &Connection) -> Result<()> {
        let sealed = self.cipher.seal(connection);
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        sqlx::query(
            "INSERT INTO sf_import_connections AS c (tenant_id, instance_url, access_token,
                 refresh_token, identity_url, connected_by, connected_at, refreshed_at, active)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (tenant_id) DO UPDATE SET
                 instance_url = EXCLUDED.instance_url, access_token = EXCLUDED.access_token,
                 refresh_token = EXCLUDED.refresh_token, identity_url = EXCLUDED.identity_url,
                 connected_by = EXCLUDED.connected_by, connected_at = EXCLUDED.connected_at,
                 refreshed_at = EXCLUDED.refreshed_at, active = EXCLUDED.active,
                 updated_at = now()",
        )
        .bind(tenant.as_str())
        .bind(&sealed.instance_url)
        .bind(&sealed.access_token)
        .bind(&sealed.refresh_token)
        .bind(&sealed.identity_url)
        .bind(&sealed.connected_by)
        .bind(sealed.connected_at)
        .bind(sealed.refreshed_at)
        .bind(sealed.active)
        .execute(&mut *tx)
        .await
        .map_err(db(STORE, "storing a connection"))?;
        tx.commit().await.map_err(db(STORE, "storing a connection"))
    }

    async fn deactivate(&self, tenant: &TenantId) -> Result<bool> {
        let mut tx = begin(&self.pool, tenant, self.rls, STORE).await?;
        // Locked, so of two concurrent calls exactly one sees it active.
        let was_active: Option<bool> = sqlx::query_scalar(
            "SELECT active FROM sf_import_connections WHERE tenant_id = $1 FOR UPDATE",
        )
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(STORE, "deactivating a connection"))?;
        if was_active.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE sf_import_connections
             SET active = false, access_token = NULL, refresh_token = NULL, updated_at = now()
             WHERE tenant_id = $1",
        )
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db(STORE, "deactivating a connection"))?;
        tx.commit()
            .await
            .map_err(db(STORE, "deactivating a connection"))?;
        Ok(was_active.unwrap_or(false))
    }
}
