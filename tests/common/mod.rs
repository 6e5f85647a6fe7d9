//! Connecting to the test database: `DATABASE_URL`, migrated once per
//! process. Without it the tests print that they are skipped, unless
//! `SF_IMPORT_REQUIRE_PG=1` (CI), where a missing or unreachable database
//! fails them.
#![allow(dead_code)] // each test crate uses a part

use std::str::FromStr;

use salesforce_import::postgres;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::OnceCell;

static MIGRATED: OnceCell<()> = OnceCell::const_new();
static RLS_READY: OnceCell<()> = OnceCell::const_new();

/// The crate's tables, each with `tenant_id` and the tenant policy.
pub const TABLES: [&str; 14] = [
    "sf_import_jobs",
    "sf_import_job_objects",
    "sf_import_job_log",
    "sf_import_id_map",
    "sf_import_connections",
    "crm_accounts",
    "crm_contacts",
    "crm_opportunities",
    "crm_products",
    "crm_product_prices",
    "crm_orders",
    "crm_order_lines",
    "crm_quotes",
    "crm_quote_lines",
];

/// The crate's tables deliberately outside the tenant policy (the
/// counterpart of `WITHOUT_TENANT_POLICY` in `src/postgres/mod.rs`):
/// `sf_import_oauth_states`, which the OAuth callback reads by the state
/// alone, before it knows the tenant. The application role still needs
/// its grants.
pub const WITHOUT_TENANT_POLICY: [&str; 1] = ["sf_import_oauth_states"];

/// The role the row-level security tests connect as: it logs in, and is
/// neither a superuser nor exempt from row-level security.
pub const RLS_ROLE: &str = "sf_import_rls_test";

fn required() -> bool {
    std::env::var("SF_IMPORT_REQUIRE_PG").is_ok_and(|v| v == "1")
}

fn skip<T>(why: String) -> Option<T> {
    assert!(
        !required(),
        "SF_IMPORT_REQUIRE_PG=1 but PostgreSQL is not usable: {why}"
    );
    eprintln!("skipped: PostgreSQL test ({why}); set DATABASE_URL to run it");
    None
}

/// A fresh pool on `DATABASE_URL` with both migration sets applied, or
/// `None` (after printing why) when the tests are to be skipped.
pub async fn pool() -> Option<PgPool> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        return skip("DATABASE_URL is not set".into());
    };
    let pool = match PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(30))
        .connect(&url)
        .await
    {
        Ok(p) => p,
        Err(e) => return skip(format!("cannot connect to DATABASE_URL: {e}")),
    };
    MIGRATED
        .get_or_init(|| async {
            postgres::migrate(&pool).await.expect("migrate");
            postgres::migrate_crm(&pool).await.expect("migrate_crm");
        })
        .await;
    Some(pool)
}

/// The pool, or `return` from the calling test after printing why it is
/// skipped.
#[macro_export]
macro_rules! pg_or_skip {
    () => {
        match $crate::common::pool().await {
            Some(pool) => pool,
            None => return,
        }
    };
}

/// Makes [`RLS_ROLE`] (once per database, under an advisory lock: re-runs
/// and parallel runs find it made), grants it what the application needs
/// on the crate's tables, and turns on row-level security.
async fn prepare_rls(admin: &PgPool) {
    let mut tx = admin.begin().await.expect("begin");
    let tables = TABLES
        .iter()
        .chain(&WITHOUT_TENANT_POLICY)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT pg_advisory_xact_lock(727275);
         DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RLS_ROLE}') THEN
                 CREATE ROLE {RLS_ROLE} LOGIN;
             END IF;
             EXECUTE format('GRANT USAGE ON SCHEMA %I TO {RLS_ROLE}', current_schema());
         END $$;
         ALTER ROLE {RLS_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
         GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {RLS_ROLE};"
    )))
    .execute(&mut *tx)
    .await
    .expect("the row-level security test role");
    tx.commit().await.expect("commit");
    postgres::enable_row_level_security(admin)
        .await
        .expect("enable_row_level_security");
}

/// `(admin, app)`: the pool of [`pool`] (a superuser) and one on the same
/// database as [`RLS_ROLE`], which the tenant policies bind; or `None`
/// (after printing why) when the tests are to be skipped. The role logs in
/// without a password: the server must trust loopback, as `.ci/run` sets up.
pub async fn rls_pools() -> Option<(PgPool, PgPool)> {
    let admin = pool().await?;
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&admin)
            .await
            .expect("reading the current role");
    if !superuser {
        skip("DATABASE_URL's role is not a superuser, so it cannot make a test role".into())?;
    }
    RLS_READY.get_or_init(|| prepare_rls(&admin)).await;
    let url = std::env::var("DATABASE_URL").expect("pool() read it");
    let options = PgConnectOptions::from_str(&url)
        .expect("DATABASE_URL parses")
        .username(RLS_ROLE);
    let app = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(30))
        .connect_with(options)
        .await
        .unwrap_or_else(|e| panic!("connecting as {RLS_ROLE} (trust authentication?): {e}"));
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&app)
            .await
            .expect("reading the test role");
    assert!(
        !superuser && !bypass,
        "{RLS_ROLE} must be bound by the policies"
    );
    Some((admin, app))
}

/// `(admin, app)` pools of [`rls_pools`], or `return` from the calling test
/// after printing why it is skipped.
#[macro_export]
macro_rules! rls_or_skip {
    () => {
        match $crate::common::rls_pools().await {
            Some(pools) => pools,
            None => return,
        }
    };
}
