//! The conformance suite against the PostgreSQL backends, on the database
//! named by `DATABASE_URL` (see `tests/common/mod.rs` for skipping).
//! Each check works in fresh tenants, so the tests run in parallel on one
//! database and can be re-run against a database left from earlier runs.

#[macro_use]
mod common;

use salesforce_import::postgres::{PgCrmSink, PgJobStore, PgPendingAuthorizations, PgTokenVault};
use salesforce_import::vault::TokenCipher;

mod jobs {
    use super::*;
    salesforce_import::job_store_conformance!({
        let pool = pg_or_skip!();
        async move { PgJobStore::new(pool) }
    });
}

mod sink {
    use super::*;
    salesforce_import::sink_conformance!({
        let pool = pg_or_skip!();
        async move { PgCrmSink::new(pool) }
    });
}

mod import {
    use super::*;
    salesforce_import::import_conformance!(
        {
            let pool = pg_or_skip!();
            async move { PgCrmSink::new(pool) }
        },
        {
            let pool = pg_or_skip!();
            async move { PgJobStore::new(pool) }
        },
    );
}

mod vault {
    use super::*;
    salesforce_import::token_vault_conformance!({
        let pool = pg_or_skip!();
        let cipher = TokenCipher::new([TokenCipher::generate_key()]).expect("a fresh key");
        async move { PgTokenVault::new(pool, cipher) }
    });
}

mod pending {
    use super::*;
    salesforce_import::pending_authorizations_conformance!({
        let pool = pg_or_skip!();
        let cipher = TokenCipher::new([TokenCipher::generate_key()]).expect("a fresh key");
        async move { PgPendingAuthorizations::new(pool, cipher) }
    });
}
