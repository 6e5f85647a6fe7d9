//! Connecting to the test database: `DATABASE_URL`, migrated once per
//! process. Without it the tests print that they are skipped, unless
//! `SF_IMPORT_REQUIRE_PG=1` (CI), where a missing or unreachable database
//! fails them.
#![allow(dead_code)] // each test crate uses a part

use salesforce_import::postgres;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::OnceCell;

static MIGRATED: OnceCell<()> = OnceCell::const_new();

fn required() -> bool {
    std::env::var("SF_IMPORT_REQUIRE_PG").is_ok_and(|v| v == "1")
}

fn skip(why: String) -> Option<PgPool> {
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
