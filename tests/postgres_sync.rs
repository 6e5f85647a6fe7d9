//! A sync into PostgreSQL over real HTTP against the fake org: after edits,
//! an insert and a delete that cascades, the reference schema holds every
//! live record of the org with its current values, the deleted ones
//! soft-deleted (`deleted_at`), the id map marks them, and the job store
//! keeps the watermark the next sync starts from.

mod support;

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use salesforce_import::http::RestSource;
use salesforce_import::postgres::{PgCrmSink, PgJobStore};
use salesforce_import::testkit::unique_tenant;
use salesforce_import::{
    ImportRequest, Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault, JobStatus,
    JobStore, SObject, TenantId, TokenVault,
};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use serde_json::json;
use sqlx::PgPool;

async fn source(fake: &FakeSalesforce, vault: &Arc<InMemoryTokenVault>) -> Arc<RestSource> {
    let oauth = Arc::new(
        support::fake::oauth_builder(fake)
            .build(vault.clone())
            .unwrap(),
    );
    Arc::new(
        RestSource::builder(oauth)
            .api_version(fake.api_version())
            .build()
            .unwrap(),
    )
}

/// (sf_id -> (title, deleted)) of the tenant's contacts in PostgreSQL.
async fn contacts(pool: &PgPool, tenant: &TenantId) -> BTreeMap<String, (Option<String>, bool)> {
    sqlx::query_as::<_, (String, Option<String>, bool)>(
        "SELECT sf_id, title, deleted_at IS NOT NULL FROM crm_contacts WHERE tenant_id = $1",
    )
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, title, deleted)| (id, (title, deleted)))
    .collect()
}

async fn live_accounts(pool: &PgPool, tenant: &TenantId) -> BTreeSet<String> {
    sqlx::query_scalar("SELECT sf_id FROM crm_accounts WHERE tenant_id = $1 AND deleted_at IS NULL")
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test]
async fn a_sync_into_postgres_updates_inserts_and_soft_deletes() {
    let pool = pg_or_skip!();
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::generated_materialized(31, 120))
        .start()
        .await
        .unwrap();
    let tenant = unique_tenant();
    let vault = Arc::new(InMemoryTokenVault::new());
    vault
        .put(&tenant, &fake.connection("ada@example.com"))
        .await
        .unwrap();
    let jobs = Arc::new(PgJobStore::new(pool.clone()));
    let importer = Importer::builder(
        source(&fake, &vault).await,
        Arc::new(PgCrmSink::new(pool.clone())),
        jobs.clone(),
    )
    .vault(vault.clone())
    .page_size(40)
    .build()
    .unwrap();
    let request = || ImportRequest::new("ada", SObject::SELECTABLE);
    let first = importer.run(&tenant, request()).await.unwrap();
    assert!(first.errors() < first.imported(), "{:?}", first.message);

    let org = fake.org();
    org.advance(Duration::from_secs(3_600));
    let edited: Vec<_> = org
        .records(&SObject::CONTACT, 60)
        .iter()
        .step_by(6)
        .map(|r| r.id().unwrap())
        .collect();
    for id in &edited {
        let fields = json!({"Title": format!("Head of {}", id.as_str())});
        org.update(&SObject::CONTACT, id, fields.as_object().unwrap().clone())
            .unwrap();
    }
    let new_account = org
        .insert(
            &SObject::ACCOUNT,
            json!({"Name": "Arrived later"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
    let doomed = org.records(&SObject::ACCOUNT, 3)[2].id().unwrap();
    let gone = org.delete(&SObject::ACCOUNT, &doomed).unwrap();

    let sync = importer.run(&tenant, request().sync(true)).await.unwrap();
    assert!(
        matches!(
            sync.status,
            JobStatus::Completed | JobStatus::CompletedWithErrors
        ),
        "{:?}",
        sync.message
    );
    assert!(sync.sync);
    assert_eq!(sync.imported(), 1, "the new account: {:?}", sync.objects);
    assert!(sync.updated() >= edited.len() as u64);

    // The same org imported afresh into memory: what PostgreSQL must hold.
    let reference = TenantId::new("reference");
    vault
        .put(&reference, &fake.connection("ref@example.com"))
        .await
        .unwrap();
    let memory = Arc::new(InMemorySink::new());
    Importer::builder(
        source(&fake, &vault).await,
        memory.clone(),
        Arc::new(InMemoryJobStore::new()),
    )
    .vault(vault)
    .build()
    .unwrap()
    .run(&reference, request())
    .await
    .unwrap();

    let want_accounts: BTreeSet<String> = memory
        .records(&reference, &SObject::ACCOUNT)
        .into_iter()
        .map(|(sf, ..)| sf.to_string())
        .collect();
    assert!(want_accounts.contains(new_account.as_str()));
    assert_eq!(live_accounts(&pool, &tenant).await, want_accounts);

    let want_contacts: BTreeMap<String, Option<String>> = memory
        .records(&reference, &SObject::CONTACT)
        .into_iter()
        .map(|(sf, _, record)| match record {
            salesforce_import::crm::CrmRecord::Contact(c) => (sf.to_string(), c.title),
            other => panic!("{other:?}"),
        })
        .collect();
    let got = contacts(&pool, &tenant).await;
    for (sf, title) in &want_contacts {
        assert_eq!(got.get(sf), Some(&(title.clone(), false)), "Contact {sf}");
    }
    let deleted: BTreeSet<String> = gone.iter().map(|(_, id)| id.to_string()).collect();
    for (sf, (_, is_deleted)) in &got {
        if !want_contacts.contains_key(sf) {
            assert!(deleted.contains(sf), "Contact {sf} is not in the org");
            assert!(is_deleted, "Contact {sf} was deleted in the org");
        }
    }
    for id in &edited {
        if !deleted.contains(id.as_str()) {
            assert_eq!(
                got[id.as_str()].0.as_deref(),
                Some(format!("Head of {}", id.as_str()).as_str())
            );
        }
    }

    let map = jobs
        .resolve_ids(&tenant, &[(SObject::ACCOUNT, doomed.clone())])
        .await
        .unwrap();
    assert!(map.values().next().unwrap().deleted, "the id map marks it");
    let watermark = jobs.watermark(&tenant, &SObject::CONTACT).await.unwrap();
    assert!(
        watermark.is_some_and(|w| w >= org.now() - chrono::Duration::seconds(1)),
        "the next sync starts at the changes: {watermark:?} vs {}",
        org.now()
    );
}
