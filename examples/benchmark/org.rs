//! A child's connection to the fake org, and the fresh PostgreSQL schema
//! each phase runs in.

use std::str::FromStr;
use std::sync::Arc;

use chrono::Utc;
use salesforce_import::http::{HostPolicy, LoginHost, RestSource, SalesforceOAuth};
use salesforce_import::mapping::{Mappers, Tables};
use salesforce_import::postgres;
use salesforce_import::source::PageRequest;
use salesforce_import::{
    Connection, InMemoryTokenVault, SObject, SalesforceSource, SfRecord, TenantId, TokenVault,
};
use salesforce_import_fake::FakeSalesforce;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};

/// What a child needs to reach the fake org this process serves.
pub(crate) fn fake_env(fake: &FakeSalesforce) -> Vec<(&'static str, String)> {
    let (access, refresh) = fake.issue_tokens();
    // The tokens leave this process here, to its own children, through
    // their environment: a fake org's tokens, for a benchmark.
    vec![
        ("BENCH_INSTANCE_URL", fake.instance_url().to_owned()),
        ("BENCH_LOGIN_URL", fake.login_url().to_owned()),
        ("BENCH_CLIENT_ID", fake.client_id().to_owned()),
        (
            "BENCH_CLIENT_SECRET",
            fake.client_secret().expose_secret().to_owned(),
        ),
        ("BENCH_REDIRECT_URI", fake.redirect_uri().to_owned()),
        ("BENCH_API_VERSION", fake.api_version().to_owned()),
        ("BENCH_ACCESS", access.expose_secret().to_owned()),
        ("BENCH_REFRESH", refresh.expose_secret().to_owned()),
    ]
}

pub(crate) fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"))
}

pub(crate) struct Org {
    pub(crate) tenant: TenantId,
    pub(crate) vault: Arc<InMemoryTokenVault>,
    pub(crate) source: Arc<RestSource>,
}

pub(crate) async fn connect_org() -> Org {
    let tenant = TenantId::new("bench");
    let vault = Arc::new(InMemoryTokenVault::new());
    let connection = Connection::new(
        env("BENCH_INSTANCE_URL"),
        SecretString::from(env("BENCH_ACCESS")),
        Some(SecretString::from(env("BENCH_REFRESH"))),
        "bench@example.com",
        Utc::now(),
    );
    vault.put(&tenant, &connection).await.expect("a connection");
    let oauth = SalesforceOAuth::builder(
        env("BENCH_CLIENT_ID"),
        SecretString::from(env("BENCH_CLIENT_SECRET")),
        env("BENCH_REDIRECT_URI"),
    )
    .login_host(LoginHost::url(env("BENCH_LOGIN_URL")))
    .host_policy(HostPolicy::salesforce().allow_loopback())
    .build(vault.clone())
    .expect("an OAuth client");
    let source = RestSource::builder(Arc::new(oauth))
        .api_version(env("BENCH_API_VERSION"))
        // REST paging throughout: `--page-size` records a call.
        .bulk_threshold(u64::MAX)
        .build()
        .expect("a REST source");
    Org {
        tenant,
        vault,
        source: Arc::new(source),
    }
}

/// Reads every page of `object`, handing each to `each`.
pub(crate) async fn read_object(
    source: &dyn SalesforceSource,
    tenant: &TenantId,
    object: &SObject,
    page_size: usize,
    mut each: impl FnMut(Vec<SfRecord>),
) -> u64 {
    let mut fields = Mappers::standard().select_fields(object, &Tables::default());
    fields.push("SystemModstamp".into());
    let request = PageRequest::new(object.clone(), fields, page_size);
    let mut page = source.fetch_page(tenant, &request).await.expect("a page");
    let mut pages = 1;
    loop {
        let next = page.next.take();
        each(std::mem::take(&mut page.records));
        let Some(next) = next else { break };
        page = source
            .fetch_page(tenant, &request.clone().cursor(Some(next)))
            .await
            .expect("a page");
        pages += 1;
    }
    pages
}

// ---------------------------------------------------------- PostgreSQL

pub(crate) struct Schema {
    pub(crate) admin: PgPool,
    pub(crate) pool: PgPool,
    pub(crate) name: String,
}

/// A fresh schema on `DATABASE_URL`, both migration sets applied in it.
pub(crate) async fn fresh_schema(phase: &str) -> Schema {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL (PostgreSQL) is set");
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connecting to DATABASE_URL");
    let name = format!("bench_{phase}_{}", std::process::id());
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
    )))
    .execute(&admin)
    .await
    .expect("a schema");
    let options = PgConnectOptions::from_str(&url)
        .expect("DATABASE_URL")
        .options([("search_path", name.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .expect("a pool on the schema");
    postgres::migrate(&pool).await.expect("migrate");
    postgres::migrate_crm(&pool).await.expect("migrate_crm");
    Schema { admin, pool, name }
}

impl Schema {
    pub(crate) async fn drop(self) {
        self.pool.close().await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .expect("dropping the schema");
    }
}
