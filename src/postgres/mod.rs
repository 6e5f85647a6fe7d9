//! PostgreSQL backends (feature `postgres`): [`PgJobStore`],
//! [`PgTokenVault`] and [`PgCrmSink`], over a [`PgPool`] the host passes in;
//! with the `http` feature also `PgPendingAuthorizations`, the OAuth
//! `state` store that lets several application servers share one flow.
//!
//! # Schema and migrations
//!
//! The migrations ship inside the crate, in two sets that share one
//! migrations table, `_sf_import_migrations` (never sqlx's default
//! `_sqlx_migrations`, which belongs to the host):
//!
//! - [`migrate`]: the job store, the Salesforce id -> CRM id map, the
//!   token vault and the pending OAuth authorizations (`sf_import_*`
//!   tables). Every host that uses [`PgJobStore`], [`PgTokenVault`] or
//!   `PgPendingAuthorizations` runs it.
//! - [`migrate_crm`]: the reference CRM schema (`crm_*` tables) that
//!   [`PgCrmSink`] writes. A host with its own CRM tables skips it and
//!   implements [`CrmSink`](crate::CrmSink) over its own schema.
//!
//! Each is safe to run at every start (applied versions are skipped; a lock
//! keeps two servers from migrating at once). A host that manages its
//! schema with its own tool copies the SQL from the crate's
//! `migrations/core` (and, if wanted, `migrations/crm`) directories instead.
//! PostgreSQL 13 or newer.
//!
//! ```no_run
//! # async fn run() -> salesforce_import::Result<()> {
//! use std::sync::Arc;
//! use salesforce_import::postgres::{self, PgCrmSink, PgJobStore};
//! use salesforce_import::{FileSource, Importer};
//!
//! let pool = sqlx::PgPool::connect("postgres://localhost/crm").await
//!     .map_err(|e| salesforce_import::Error::store("postgres", "connecting", e))?;
//! postgres::migrate(&pool).await?;
//! postgres::migrate_crm(&pool).await?;
//! let importer = Importer::builder(
//!     Arc::new(FileSource::sample_org()),
//!     Arc::new(PgCrmSink::new(pool.clone())),
//!     Arc::new(PgJobStore::new(pool)),
//! )
//! .build()?;
//! # Ok(()) }
//! ```
//!
//! # Tenant scoping and row-level security
//!
//! Every statement filters by tenant, and references between CRM records
//! are composite foreign keys on `(tenant_id, id)`, so no call made for one
//! tenant can read or change another tenant's jobs, tokens, mappings or
//! records. Hosts that want defence in depth call
//! [`enable_row_level_security`] once (after the migrations) and build the
//! stores with `.with_row_level_security()`: every transaction then sets
//! `app.current_org` to the tenant, and policies reject rows of any other
//! tenant. One table is left out on purpose: `sf_import_oauth_states`,
//! which the OAuth callback reads by the `state` alone, before it knows the
//! tenant (see `PgPendingAuthorizations` for why that is safe). Policies do
//! not apply to superusers or to the tables' owner unless forced;
//! [`enable_row_level_security`] forces them, so run the application as a
//! role that is not a superuser and has no `BYPASSRLS`. Such a role needs
//! `SELECT`, `INSERT`, `UPDATE` and `DELETE` on the crate's tables (the
//! state table included) and nothing on their sequences (identity columns).
//!
//! # One page, one outcome
//!
//! See [`PgCrmSink`] for how a page's writes, its id mappings and its
//! checkpoint stay consistent across a crash.

use sqlx::migrate::Migrator;
use sqlx::{PgPool, Postgres, Transaction};

use crate::id::TenantId;
use error::{db, migrate_error};

mod error;
mod jobs;
#[cfg(all(feature = "postgres", feature = "http"))]
mod pending;
mod sink;
mod vault;

pub use jobs::PgJobStore;
#[cfg(all(feature = "postgres", feature = "http"))]
pub use pending::PgPendingAuthorizations;
pub use sink::PgCrmSink;
pub use vault::PgTokenVault;

/// The table that records which of this crate's migrations were applied.
pub const MIGRATIONS_TABLE: &str = "_sf_import_migrations";

/// The session setting row-level security policies compare `tenant_id` with.
pub const TENANT_SETTING: &str = "app.current_org";

fn migrator(mut m: Migrator) -> Migrator {
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    // The two sets share the table: each ignores the other's versions.
    m.set_ignore_missing(true);
    m
}

async fn run(m: Migrator, pool: &PgPool, what: &'static str) -> crate::error::Result<()> {
    // On one connection of its own: sqlx takes a session-level advisory
    // lock (one per database) and does not release it when a migration
    // fails, so a pooled connection would go back to the pool still holding
    // it, and every later `migrate` on any server would wait forever.
    // Closing the session on failure releases the lock.
    let mut conn = pool.acquire().await.map_err(db("postgres", what))?;
    match m.run(&mut *conn).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.close().await;
            Err(migrate_error(what, e))
        }
    }
}

/// Creates or upgrades the job store, id map, token vault and pending
/// OAuth authorization tables (`sf_import_*`).
pub async fn migrate(pool: &PgPool) -> crate::error::Result<()> {
    run(
        migrator(sqlx::migrate!("migrations/core")),
        pool,
        "migrating the job store and vault tables",
    )
    .await
}

/// Creates or upgrades the reference CRM tables (`crm_*`) that
/// [`PgCrmSink`] writes. Needs nothing from [`migrate`], but a host using
/// both runs both.
pub async fn migrate_crm(pool: &PgPool) -> crate::error::Result<()> {
    run(
        migrator(sqlx::migrate!("migrations/crm")),
        pool,
        "migrating the reference CRM tables",
    )
    .await
}

/// Turns on row-level security for every table of this crate that exists
/// (run it after [`migrate`] and, if used, [`migrate_crm`]): a row is
/// visible and writable only while [`TENANT_SETTING`] (`app.current_org`)
/// names its tenant. Unset (or empty), it names none: nothing is visible and
/// every insert is refused.
///
/// The one exception is `sf_import_oauth_states` (pending OAuth
/// authorizations): the callback finds its row by the `state` alone,
/// before it knows the tenant, so a tenant policy would hide every row;
/// the unguessable, single-use state guards it instead, and the flow then
/// checks the row's tenant and user.
///
/// Each table gets `ENABLE` and `FORCE ROW LEVEL SECURITY` (so the policies
/// bind the tables' owner too) and one policy, `sf_import_tenant`, whose
/// `USING` and `WITH CHECK` compare `tenant_id` with the setting.
/// Superusers and roles with `BYPASSRLS` are never bound: run the
/// application as a role with neither, granted `SELECT`, `INSERT`,
/// `UPDATE` and `DELETE` on the tables.
///
/// Idempotent and cheap to run at every start: tables already set up are
/// left alone (no table locks), and an advisory lock keeps two servers from
/// setting them up at once.
///
/// The stores set the setting themselves, transaction-locally, when built
/// with `.with_row_level_security()`; without that, a role bound by the
/// policies sees no rows at all and can write none.
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> salesforce_import::Result<()> {
/// use salesforce_import::postgres::{self, PgCrmSink, PgJobStore};
/// postgres::migrate(&pool).await?;
/// postgres::migrate_crm(&pool).await?;
/// postgres::enable_row_level_security(&pool).await?;
/// let jobs = PgJobStore::new(pool.clone()).with_row_level_security();
/// let sink = PgCrmSink::new(pool).with_row_level_security();
/// # Ok(()) }
/// ```
pub async fn enable_row_level_security(pool: &PgPool) -> crate::error::Result<()> {
    sqlx::raw_sql(include_str!("row_level_security.sql"))
        .execute(pool)
        .await
        .map_err(db("postgres", "enabling row-level security"))?;
    Ok(())
}

/// Whether the stores set [`TENANT_SETTING`] in each transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Rls {
    #[default]
    Off,
    On,
}

/// Begins a transaction for `tenant`, setting [`TENANT_SETTING`] for it
/// when row-level security is on.
pub(crate) async fn begin(
    pool: &PgPool,
    tenant: &TenantId,
    rls: Rls,
    store: &'static str,
) -> crate::error::Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await.map_err(db(store, "beginning"))?;
    if rls == Rls::On {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(TENANT_SETTING)
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db(store, "setting the tenant"))?;
    }
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::TENANT_SETTING;

    const POLICY: &str = include_str!("row_level_security.sql");

    /// The tables every migration of the crate creates.
    fn migrated_tables() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut tables = Vec::new();
        for set in std::fs::read_dir(root).expect("migrations/") {
            for file in std::fs::read_dir(set.expect("a set").path()).expect("a set") {
                let sql = std::fs::read_to_string(file.expect("a file").path()).expect("SQL");
                tables.extend(
                    sql.lines()
                        .filter_map(|l| l.trim().strip_prefix("CREATE TABLE "))
                        .filter_map(|rest| rest.split_whitespace().next())
                        .map(str::to_owned),
                );
            }
        }
        tables
    }

    /// Tables deliberately left out of the tenant policy, each with why.
    /// Adding one here needs a reason as strong as this one.
    const WITHOUT_TENANT_POLICY: &[(&str, &str)] = &[(
        "sf_import_oauth_states",
        "the OAuth callback finds its row by the state alone, before the tenant \
         is known (PendingAuthorizations::take has no tenant); the random, \
         single-use state is the access control, and SalesforceOAuth::complete \
         then refuses a row of another tenant or user",
    )];

    /// A table added by a migration without a policy would be readable
    /// across tenants: every `CREATE TABLE` must be in the policy's list,
    /// or in [`WITHOUT_TENANT_POLICY`] (and then not in the list).
    #[test]
    fn every_migrated_table_gets_the_tenant_policy() {
        let tables = migrated_tables();
        assert!(tables.len() >= 15, "{tables:?}");
        for table in &tables {
            let covered = POLICY.contains(&format!("'{table}'"));
            let excepted = WITHOUT_TENANT_POLICY.iter().any(|(t, _)| t == table);
            assert!(
                covered != excepted,
                "{table}: in the policy list {covered}, a documented exception {excepted}"
            );
        }
        for (table, why) in WITHOUT_TENANT_POLICY {
            assert!(tables.iter().any(|t| t == table), "{table} is not migrated");
            assert!(!why.is_empty());
            // The SQL says so too, for hosts that copy it.
            assert!(
                POLICY.contains(table),
                "row_level_security.sql explains {table}"
            );
        }
    }

    #[test]
    fn the_policy_reads_the_tenant_setting() {
        let setting = format!("current_setting(''{TENANT_SETTING}'', true)");
        assert_eq!(POLICY.matches(&setting).count(), 2, "USING and WITH CHECK");
    }
}
