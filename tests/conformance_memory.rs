//! The conformance suite, run from outside the crate against the in-memory
//! backends: what a host's own `tests/conformance.rs` looks like.

use salesforce_import::{InMemoryJobStore, InMemorySink, InMemoryTokenVault};

mod sink {
    salesforce_import::sink_conformance!(async { super::InMemorySink::new() });
}

mod jobs {
    salesforce_import::job_store_conformance!(async { super::InMemoryJobStore::new() });
}

mod vault {
    salesforce_import::token_vault_conformance!(async { super::InMemoryTokenVault::new() });
}

#[cfg(feature = "http")]
mod pending {
    salesforce_import::pending_authorizations_conformance!(async {
        salesforce_import::http::InMemoryPendingAuthorizations::new()
    });
}

mod import {
    // A constructor may do async work (connect, migrate) before returning.
    async fn jobs() -> super::InMemoryJobStore {
        tokio::task::yield_now().await;
        super::InMemoryJobStore::new()
    }

    salesforce_import::import_conformance!(async { super::InMemorySink::new() }, jobs());
}

/// One shared set of backends, every check: the way a host might run the
/// suite against one database from a single test.
#[tokio::test]
async fn run_all_against_shared_backends() {
    let (sink, jobs, vault) = (
        InMemorySink::new(),
        InMemoryJobStore::new(),
        InMemoryTokenVault::new(),
    );
    salesforce_import::testkit::run_all(&sink, &jobs, &vault).await;
}

/// The fixtures are public: a host builds test data with them.
#[tokio::test]
async fn fixtures_build_records_for_a_sink() {
    use salesforce_import::SObject;
    use salesforce_import::sink::{CrmSink, WriteAction, WriteMode};
    use salesforce_import::testkit::{fixture, unique_tenant};

    let sink = InMemorySink::new();
    let tenant = unique_tenant();
    let acc = fixture::sf_id(&SObject::ACCOUNT, 1);
    let batch = fixture::batch(
        SObject::ACCOUNT,
        WriteMode::SkipExisting,
        vec![fixture::account(&acc)],
    );
    let out = sink.write_batch(&tenant, &batch).await.unwrap();
    let account = out[0].as_ref().unwrap();
    assert_eq!(account.action, WriteAction::Created);
    let order = fixture::sf_id(&SObject::ORDER, 1);
    let batch = fixture::batch(
        SObject::ORDER,
        WriteMode::SkipExisting,
        vec![fixture::order(&order, Some(account.crm_id.clone()))],
    );
    assert!(sink.write_batch(&tenant, &batch).await.unwrap()[0].is_ok());
    assert_eq!(sink.count(&tenant, &SObject::ORDER), 1);
}
