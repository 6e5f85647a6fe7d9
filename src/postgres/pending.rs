//! [`PgPendingAuthorizations`]: OAuth authorizations waiting for their
//! callback, in PostgreSQL, so that any application server can complete a
//! flow another one started.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::error::{RowExt, db};
use crate::error::Result;
use crate::http::{PendingAuthorization, PendingAuthorizations};
use crate::id::TenantId;
use crate::vault::TokenCipher;

const STORE: &str = "pending authorizations";

/// How many expired rows one insert deletes at most: the cleanup stays a
/// small, bounded cost of starting an authorization.
const CLEANUP_BATCH: i64 = 100;

/// [`PendingAuthorizations`] in PostgreSQL (table `sf_import_oauth_states`,
/// created by [`migrate`](super::migrate)), for hosts that run several
/// application servers: the OAuth callback may reach another server than
/// the one that sent the user to Salesforce, and still completes.
///
/// - **No usable secret at rest.** The `state` is stored only as its
///   SHA-256, and the PKCE verifier as Fernet ciphertext made by the
///   [`TokenCipher`] (use the token vault's). A copy of the table gives
///   neither a state a callback would accept nor a verifier.
/// - **Single use across servers.** [`take`](PendingAuthorizations::take)
///   is one `DELETE ... RETURNING`: of any number of callbacks racing on
///   one state, on any servers, exactly one gets the authorization.
/// - **Expired rows go away.** Each insert first deletes up to 100 rows
///   that expired (by both the database's clock and the inserting server's,
///   so a server whose clock runs ahead cannot cut another's states short),
///   skipping rows another insert is already deleting; the table stays as
///   small as the number of authorizations in flight.
///
/// # Row-level security
///
/// The table is deliberately **not** under the tenant policy of
/// [`enable_row_level_security`](super::enable_row_level_security), and the
/// store has no `.with_row_level_security()`. The callback finds its row by
/// the state alone, before it knows which tenant the row belongs to (the
/// trait's `take` has no tenant), so a policy keyed on `app.current_org`
/// would hide every row. Scoping the lookup by the caller's tenant would
/// add nothing: the state is a random, single-use bearer value that only
/// the user's browser holds, the row is found only by presenting it, and
/// [`SalesforceOAuth::complete`](crate::http::SalesforceOAuth::complete)
/// refuses a state issued to another tenant or user. The row holds no
/// tenant data beyond the tenant id, the user and the login host. Grant the
/// application role `SELECT`, `INSERT`, `UPDATE` and `DELETE` on it like on
/// the other tables.
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool, key: secrecy::SecretString,
/// #            vault: std::sync::Arc<dyn salesforce_import::TokenVault>) -> salesforce_import::Result<()> {
/// use std::sync::Arc;
/// use salesforce_import::http::SalesforceOAuth;
/// use salesforce_import::postgres::{self, PgPendingAuthorizations};
/// use salesforce_import::vault::TokenCipher;
///
/// postgres::migrate(&pool).await?;
/// let cipher = TokenCipher::new([key])?; // the same keys as the token vault
/// let oauth = SalesforceOAuth::builder("3MVG9...", secrecy::SecretString::from("..."),
///         "https://crm.example.com/sf/callback")
///     .pending(Arc::new(PgPendingAuthorizations::new(pool, cipher)))
///     .build(vault)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgPendingAuthorizations {
    pool: PgPool,
    cipher: TokenCipher,
}

impl PgPendingAuthorizations {
    /// A store over the host's pool, encrypting verifiers with `cipher`.
    /// Every server sharing the table needs the same keys.
    pub fn new(pool: PgPool, cipher: TokenCipher) -> PgPendingAuthorizations {
        PgPendingAuthorizations { pool, cipher }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The key a state is stored under: its SHA-256. States are random (128
/// bits from `oauth2`'s `CsrfToken::new_random`), so the hash cannot be
/// turned back into the state, and no salt is needed.
fn state_hash(state: &SecretString) -> [u8; 32] {
    Sha256::digest(state.expose_secret().as_bytes()).into()
}

#[async_trait]
impl PendingAuthorizations for PgPendingAuthorizations {
    async fn insert(&self, state: &SecretString, pending: PendingAuthorization) -> Result<()> {
        let verifier = self.cipher.encrypt(&pending.verifier);
        // One statement: the bounded cleanup of expired rows, then the new
        // row (replacing one under the same state, as a map would).
        sqlx::query(
            "WITH expired AS (
                 DELETE FROM sf_import_oauth_states WHERE state_hash IN (
                     SELECT state_hash FROM sf_import_oauth_states
                     WHERE expires_at <= LEAST(now(), $6)
                     ORDER BY expires_at
                     LIMIT $8
                     FOR UPDATE SKIP LOCKED))
             INSERT INTO sf_import_oauth_states
                 (state_hash, tenant_id, requested_by, verifier, login_url, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (state_hash) DO UPDATE SET
                 tenant_id = EXCLUDED.tenant_id, requested_by = EXCLUDED.requested_by,
                 verifier = EXCLUDED.verifier, login_url = EXCLUDED.login_url,
                 created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
        )
        .bind(&state_hash(state)[..])
        .bind(pending.tenant.as_str())
        .bind(&pending.user)
        .bind(&verifier)
        .bind(&pending.login_url)
        .bind(pending.created_at)
        .bind(pending.expires_at)
        .bind(CLEANUP_BATCH)
        .execute(&self.pool)
        .await
        .map_err(db(STORE, "storing a pending authorization"))?;
        Ok(())
    }

    async fn take(&self, state: &SecretString) -> Result<Option<PendingAuthorization>> {
        let row = sqlx::query(
            "DELETE FROM sf_import_oauth_states WHERE state_hash = $1
             RETURNING tenant_id, requested_by, verifier, login_url, created_at, expires_at",
        )
        .bind(&state_hash(state)[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db(STORE, "taking a pending authorization"))?;
        let Some(r) = row else { return Ok(None) };
        let verifier = self.cipher.decrypt(r.col::<&str, _>(STORE, "verifier")?)?;
        Ok(Some(PendingAuthorization::new(
            TenantId::new(r.col::<String, _>(STORE, "tenant_id")?),
            r.col::<String, _>(STORE, "requested_by")?,
            verifier,
            r.col::<String, _>(STORE, "login_url")?,
            r.col::<DateTime<Utc>, _>(STORE, "created_at")?,
            r.col::<DateTime<Utc>, _>(STORE, "expires_at")?,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_hash_is_sha256_of_the_state() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let got: String = state_hash(&SecretString::from("abc"))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
    }
}
