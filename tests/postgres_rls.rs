//! Row-level security, proved as a role the policies bind: superusers (the
//! other PostgreSQL tests' role) bypass them, so these tests connect a
//! second pool as `sf_import_rls_test` (LOGIN, no SUPERUSER, no BYPASSRLS;
//! see `tests/common/mod.rs`). They show that the stores built
//! `.with_row_level_security()` work as that role (the sample org imported,
//! the conformance suites passed), that raw SQL set to one tenant can
//! neither see nor change another tenant's rows nor write rows for it, and
//! that without the setting nothing is visible or writable.

mod support;

#[macro_use]
mod common;

use std::sync::Arc;

use crate::support::sample_manifest::{COUNTS, FAILURES};
use common::{TABLES, WITHOUT_TENANT_POLICY};
use salesforce_import::http::PendingAuthorizations;
use salesforce_import::postgres::{
    self, PgCrmSink, PgJobStore, PgPendingAuthorizations, PgTokenVault, TENANT_SETTING,
};
use salesforce_import::testkit::{fixture, unique_tenant};
use salesforce_import::vault::{TokenCipher, TokenVault};
use salesforce_import::{
    FileSource, ImportRequest, Importer, Job, JobStatus, JobStore, SObject, Severity, SfId,
    TenantId,
};
use secrecy::ExposeSecret;
use sqlx::{Connection, PgConnection, PgPool};

/// PostgreSQL's code for "new row violates row-level security policy".
const RLS_VIOLATION: &str = "42501";

fn cipher() -> TokenCipher {
    TokenCipher::new([TokenCipher::generate_key()]).expect("a fresh key")
}

/// The sample org imported for `tenant` by stores built
/// `.with_row_level_security()` on `app` (the role the policies bind).
async fn import_sample_org(app: &PgPool, tenant: &TenantId) -> Job {
    let importer = Importer::builder(
        Arc::new(FileSource::sample_org()),
        Arc::new(PgCrmSink::new(app.clone()).with_row_level_security()),
        Arc::new(PgJobStore::new(app.clone()).with_row_level_security()),
    )
    .page_size(20)
    .build()
    .unwrap();
    importer
        .run(
            tenant,
            ImportRequest::new("ada@example.com", SObject::SELECTABLE),
        )
        .await
        .unwrap()
}

/// Rows of each table per tenant, as the superuser sees them.
async fn rows_of(admin: &PgPool, tenant: &TenantId) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in TABLES {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE tenant_id = $1"
        )))
        .bind(tenant.as_str())
        .fetch_one(admin)
        .await
        .unwrap();
        counts.push(n);
    }
    counts
}

/// Runs `sql` (binding `$1` to `bind`) in a transaction that set
/// `app.current_org` to `tenant`, as the store does; commits on success.
/// Returns the rows affected.
async fn as_tenant(app: &PgPool, tenant: &TenantId, sql: String, bind: &str) -> sqlx::Result<u64> {
    let mut tx = app.begin().await?;
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(TENANT_SETTING)
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(bind)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

fn is_rls_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some(RLS_VIOLATION))
}

/// A store's error for a row the policy refused: permanent (the engine
/// does not retry it), with PostgreSQL's message in its source chain.
fn assert_permanent_rls_denial(err: &salesforce_import::Error) {
    assert_eq!(
        err.kind(),
        salesforce_import::ErrorKind::Permanent,
        "a row-level security denial is not retried: {err:?}"
    );
    let mut source = std::error::Error::source(err);
    let mut found = false;
    while let Some(s) = source {
        found |= s.to_string().contains("row-level security policy");
        source = s.source();
    }
    assert!(found, "the database's message is in the chain: {err:?}");
}

/// How many rows of each table `conn` sees, in [`TABLES`] order.
async fn visible(conn: &mut PgConnection) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in TABLES {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        counts.push(n);
    }
    counts
}

/// Every table of the crate has row-level security enabled and forced (so
/// an owning application role is bound too), with one policy for all
/// commands whose USING and WITH CHECK read `app.current_org`; enabling
/// again changes nothing.
#[tokio::test]
async fn every_table_has_forced_row_level_security_and_the_tenant_policy() {
    let (admin, _app) = rls_or_skip!();
    postgres::enable_row_level_security(&admin).await.unwrap();
    for table in TABLES {
        let (enabled, forced): (bool, bool) = sqlx::query_as(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)",
        )
        .bind(table)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert!(
            enabled && forced,
            "{table}: enabled {enabled}, forced {forced}"
        );
        let policies: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT policyname::text, cmd, qual, with_check FROM pg_policies WHERE tablename = $1",
        )
        .bind(table)
        .fetch_all(&admin)
        .await
        .unwrap();
        assert_eq!(policies.len(), 1, "{table}: {policies:?}");
        let (name, cmd, using, check) = &policies[0];
        assert_eq!((name.as_str(), cmd.as_str()), ("sf_import_tenant", "ALL"));
        for expr in [using, check] {
            assert!(
                expr.contains(TENANT_SETTING) && expr.contains("tenant_id"),
                "{table}: {expr}"
            );
        }
    }
}

/// Row-level security does not get in the way: as the bound role, the
/// sample org imports with the manifest's counts and failures, the job,
/// its history, error log and id map read back, a re-run creates nothing,
/// and the vault stores, reads and deactivates a connection.
#[tokio::test]
async fn stores_with_row_level_security_work_as_a_bound_role() {
    let (admin, app) = rls_or_skip!();
    let tenant = unique_tenant();
    let job = import_sample_org(&app, &tenant).await;
    assert_eq!(
        job.status,
        JobStatus::CompletedWithErrors,
        "{:?}",
        job.message
    );

    let sink = PgCrmSink::new(app.clone()).with_row_level_security();
    let jobs = PgJobStore::new(app.clone()).with_row_level_security();
    let stored = jobs.job(&tenant, &job.id).await.unwrap();
    for (object, in_org, imported, failed) in COUNTS {
        let o = SObject::new(*object);
        let p = stored.object(&o).unwrap();
        assert_eq!(
            (p.total, p.imported, p.errors),
            (Some(*in_org as u64), *imported as u64, *failed as u64),
            "{object}"
        );
        assert_eq!(
            sink.count(&tenant, &o).await.unwrap(),
            Some(*imported as u64),
            "{object} rows as the bound role"
        );
    }
    let history = jobs.history(&tenant, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, job.id);
    let mut failed: Vec<String> = jobs
        .error_log(&tenant, &job.id, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.severity == Severity::Error)
        .map(|e| e.sf_id.unwrap().to_string())
        .collect();
    let mut want: Vec<String> = FAILURES
        .iter()
        .map(|(_, id, _, _)| id.to_string())
        .collect();
    failed.sort();
    want.sort();
    assert_eq!(failed, want, "the error log");

    // The id map resolves what the import wrote, and agrees with the table.
    let (sf_id, crm_id): (String, String) = sqlx::query_as(
        "SELECT sf_id, crm_id FROM sf_import_id_map WHERE tenant_id = $1 AND object = 'Account'
         ORDER BY sf_id LIMIT 1",
    )
    .bind(tenant.as_str())
    .fetch_one(&admin)
    .await
    .unwrap();
    let key = (SObject::ACCOUNT, SfId::parse(&sf_id).unwrap());
    let resolved = jobs
        .resolve_ids(&tenant, std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(
        resolved.get(&key).map(|c| c.crm_id.as_str()),
        Some(crm_id.as_str())
    );

    let rerun = import_sample_org(&app, &tenant).await;
    assert_eq!(rerun.imported(), 0, "a re-run writes nothing");
    assert_eq!(jobs.history(&tenant, 10).await.unwrap().len(), 2);

    let vault = PgTokenVault::new(app.clone(), cipher()).with_row_level_security();
    let conn = fixture::connection("https://a.my.salesforce.com", "at-1", Some("rt-1"), "ada");
    vault.put(&tenant, &conn).await.unwrap();
    let got = vault.get(&tenant).await.unwrap().expect("stored");
    assert_eq!(got.access_token.expose_secret(), "at-1");
    assert!(vault.deactivate(&tenant).await.unwrap(), "was active");
    assert!(!vault.get(&tenant).await.unwrap().expect("kept").active);
}

/// Raw SQL on the bound role, set to tenant A: tenant B's rows in every
/// table are invisible, updates and deletes aimed at them touch nothing
/// (B's rows are all still there afterwards), and writing a row for B, by
/// insert or by moving one of A's rows, fails the policy's WITH CHECK.
#[tokio::test]
async fn one_tenant_cannot_see_change_or_write_another_tenants_rows() {
    let (admin, app) = rls_or_skip!();
    let (a, b) = (unique_tenant(), unique_tenant());
    for t in [&a, &b] {
        import_sample_org(&app, t).await;
        let vault = PgTokenVault::new(app.clone(), cipher()).with_row_level_security();
        let conn = fixture::connection("https://a.my.salesforce.com", "at", Some("rt"), "ada");
        vault.put(t, &conn).await.unwrap();
    }
    let b_rows = rows_of(&admin, &b).await;
    for (table, n) in TABLES.iter().zip(&b_rows) {
        assert!(*n > 0, "tenant B has {table} rows to protect");
    }

    let mut conn = app.acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(TENANT_SETTING)
        .bind(a.as_str())
        .execute(&mut *tx)
        .await
        .unwrap();
    let seen = visible(&mut tx).await;
    tx.commit().await.unwrap();
    assert_eq!(seen, rows_of(&admin, &a).await, "A sees exactly its rows");

    for table in TABLES {
        let b_id = b.as_str();
        let read = format!("SELECT 1 FROM {table} WHERE tenant_id = $1");
        let found = as_tenant(&app, &a, read, b_id).await.unwrap();
        assert_eq!(found, 0, "A reads none of B's {table}");
        let update = format!("UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = $1");
        let updated = as_tenant(&app, &a, update, b_id).await.unwrap();
        assert_eq!(updated, 0, "A updates none of B's {table}");
        let delete = format!("DELETE FROM {table} WHERE tenant_id = $1");
        let deleted = as_tenant(&app, &a, delete, b_id).await.unwrap();
        assert_eq!(deleted, 0, "A deletes none of B's {table}");
        // Moving one of A's rows to B is refused by WITH CHECK.
        let moved = as_tenant(&app, &a, format!("UPDATE {table} SET tenant_id = $1"), b_id).await;
        assert!(
            moved.as_ref().is_err_and(is_rls_violation),
            "A cannot hand its {table} rows to B: {moved:?}"
        );
    }
    assert_eq!(rows_of(&admin, &b).await, b_rows, "B's rows are untouched");

    let inserts = [
        "INSERT INTO sf_import_jobs (tenant_id, status, started_by, mode, created_at)
         VALUES ($1, 'COMPLETED', 'mallory', 'update', now())",
        "INSERT INTO sf_import_id_map (tenant_id, object, sf_id, crm_id)
         VALUES ($1, 'Account', '001000000000999AAA', 'forged')",
        "INSERT INTO sf_import_connections (tenant_id, instance_url, connected_by, connected_at)
         VALUES ($1, 'https://evil.example.com', 'mallory', now())",
        "INSERT INTO crm_accounts (tenant_id, sf_id, name)
         VALUES ($1, '001000000000999AAA', 'Forged')",
    ];
    for sql in inserts {
        let res = as_tenant(&app, &a, sql.to_owned(), b.as_str()).await;
        assert!(
            res.as_ref().is_err_and(is_rls_violation),
            "A cannot write a row for B: {sql}: {res:?}"
        );
    }
    assert_eq!(rows_of(&admin, &b).await, b_rows, "B got no forged rows");
}

/// Without `app.current_org` nothing is visible, on a new session and on
/// one whose earlier transaction set it (where it then reads '', which
/// must not match a tenant whose id is empty); inserts are refused; stores
/// built without `.with_row_level_security()` see nothing and write nothing.
#[tokio::test]
async fn without_the_setting_nothing_is_visible_or_writable() {
    let (admin, app) = rls_or_skip!();
    let tenant = unique_tenant();
    import_sample_org(&app, &tenant).await;
    let conn = fixture::connection("https://e.my.salesforce.com", "at", None, "ada");
    PgTokenVault::new(app.clone(), cipher())
        .with_row_level_security()
        .put(&tenant, &conn)
        .await
        .unwrap();
    // A tenant with an empty id (TenantId allows it), written by the superuser.
    let empty = TenantId::new("");
    PgTokenVault::new(admin.clone(), cipher())
        .put(&empty, &conn)
        .await
        .unwrap();
    assert!(rows_of(&admin, &tenant).await[0] > 0);

    let url = std::env::var("DATABASE_URL").unwrap();
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let mut fresh = PgConnection::connect_with(&options.username(common::RLS_ROLE))
        .await
        .unwrap();
    let unset: Option<String> = sqlx::query_scalar("SELECT current_setting($1, true)")
        .bind(TENANT_SETTING)
        .fetch_one(&mut fresh)
        .await
        .unwrap();
    assert_eq!(unset, None, "a new session has no tenant");
    assert!(visible(&mut fresh).await.iter().all(|n| *n == 0));

    // The same session after a transaction set the tenant and ended.
    let mut tx = fresh.begin().await.unwrap();
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(TENANT_SETTING)
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await
        .unwrap();
    assert!(visible(&mut tx).await.iter().all(|n| *n > 0));
    tx.commit().await.unwrap();
    let after: Option<String> = sqlx::query_scalar("SELECT current_setting($1, true)")
        .bind(TENANT_SETTING)
        .fetch_one(&mut fresh)
        .await
        .unwrap();
    assert_eq!(after.as_deref(), Some(""), "PostgreSQL leaves it empty");
    let seen = visible(&mut fresh).await;
    assert!(seen.iter().all(|n| *n == 0), "nothing visible: {seen:?}");
    let insert = sqlx::query(
        "INSERT INTO crm_accounts (tenant_id, sf_id, name) VALUES ($1, '001000000000998AAA', 'X')",
    )
    .bind(tenant.as_str())
    .execute(&mut fresh)
    .await;
    assert!(insert.as_ref().is_err_and(is_rls_violation), "{insert:?}");
    fresh.close().await.unwrap();

    // Stores that do not set the tenant, as the bound role.
    let jobs = PgJobStore::new(app.clone());
    assert!(jobs.history(&tenant, 10).await.unwrap().is_empty());
    let new = fixture::new_job(&unique_tenant(), &[SObject::ACCOUNT], fixture::at(0));
    let refused = jobs
        .create_job(&new)
        .await
        .expect_err("no job without a tenant");
    assert_permanent_rls_denial(&refused);
    let sink = PgCrmSink::new(app.clone());
    assert_eq!(
        sink.count(&tenant, &SObject::ACCOUNT).await.unwrap(),
        Some(0)
    );
    let vault = PgTokenVault::new(app, cipher());
    assert!(vault.get(&empty).await.unwrap().is_none());
    let refused = vault
        .put(&tenant, &conn)
        .await
        .expect_err("no write without a tenant");
    assert_permanent_rls_denial(&refused);
}

/// The documented exception: the OAuth state table has no row-level
/// security and no policy (the callback finds a row by the state alone,
/// before it knows the tenant), so the bound role uses it with no tenant
/// set, and a state started for one tenant is taken in a transaction set
/// to another (the flow, not the database, then refuses the tenant).
#[tokio::test]
async fn the_oauth_state_table_is_the_documented_exception() {
    let (admin, app) = rls_or_skip!();
    for table in WITHOUT_TENANT_POLICY {
        assert!(!TABLES.contains(&table));
        let (enabled, forced): (bool, bool) = sqlx::query_as(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)",
        )
        .bind(table)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert!(
            !enabled && !forced,
            "{table}: enabled {enabled}, forced {forced}"
        );
        let policies: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_policies WHERE tablename = $1")
                .bind(table)
                .fetch_one(&admin)
                .await
                .unwrap();
        assert_eq!(policies, 0, "{table}");
    }

    let store = PgPendingAuthorizations::new(app.clone(), cipher());
    let (a, b) = (unique_tenant(), unique_tenant());
    let state = secrecy::SecretString::from(format!("state-{a}"));
    let now = chrono::Utc::now();
    let pending = salesforce_import::http::PendingAuthorization::new(
        a.clone(),
        "ada",
        secrecy::SecretString::from("verifier"),
        "https://login.salesforce.com",
        now,
        now + chrono::Duration::minutes(10),
    );
    store.insert(&state, pending).await.unwrap();
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(TENANT_SETTING)
        .bind(b.as_str())
        .execute(&mut *tx)
        .await
        .unwrap();
    let seen: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sf_import_oauth_states WHERE tenant_id = $1")
            .bind(a.as_str())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        seen, 1,
        "no policy hides the row from another tenant's transaction"
    );
    let got = store
        .take(&state)
        .await
        .unwrap()
        .expect("taken by the state alone");
    assert_eq!(got.tenant, a);
}

/// The conformance suites, as the bound role with row-level security on.
mod conformance {
    use super::*;

    mod jobs {
        use super::*;
        salesforce_import::job_store_conformance!({
            let (_admin, app) = rls_or_skip!();
            async move { PgJobStore::new(app).with_row_level_security() }
        });
    }

    mod sink {
        use super::*;
        salesforce_import::sink_conformance!({
            let (_admin, app) = rls_or_skip!();
            async move { PgCrmSink::new(app).with_row_level_security() }
        });
    }

    mod import {
        use super::*;
        salesforce_import::import_conformance!(
            {
                let (_admin, app) = rls_or_skip!();
                async move { PgCrmSink::new(app).with_row_level_security() }
            },
            {
                let (_admin, app) = rls_or_skip!();
                async move { PgJobStore::new(app).with_row_level_security() }
            },
        );
    }

    mod vault {
        use super::*;
        salesforce_import::token_vault_conformance!({
            let (_admin, app) = rls_or_skip!();
            async move { PgTokenVault::new(app, cipher()).with_row_level_security() }
        });
    }

    /// No tenant setting: the state table is outside the policies.
    mod pending {
        use super::*;
        salesforce_import::pending_authorizations_conformance!({
            let (_admin, app) = rls_or_skip!();
            async move { PgPendingAuthorizations::new(app, cipher()) }
        });
    }
}
