//! The conformance suite every [`CrmSink`],
//! [`JobStore`] and [`TokenVault`]
//! backend runs (and, with `http`, every
//! [`PendingAuthorizations`](crate::http::PendingAuthorizations) store): the
//! in-memory ones here, PostgreSQL ones, and yours.
//!
//! Compiled with the `testkit` feature, which adds no dependency. **Outside
//! the semver promise:** checks are added (and tightened) in minor
//! releases, as the contract they test grows; a backend that passed may
//! fail a newer suite, which is the point of running it.
//!
//! The fake Salesforce org is not here: it is the `salesforce-import-fake`
//! crate, so a host running this suite compiles no HTTP server.
//!
//! - [`sink`], [`jobs`], [`vault`], `pending`: one `pub async fn` per check, taking the
//!   backend as `&dyn Trait`. Each check works in fresh tenants from
//!   [`unique_tenant`], so checks can run in parallel against one shared
//!   database without cleaning up between them. Checks panic with a message
//!   saying which rule was broken.
//! - [`fixture`]: builders for records, batches, jobs and connections.
//! - [`sink_conformance!`](crate::sink_conformance),
//!   [`job_store_conformance!`](crate::job_store_conformance),
//!   [`token_vault_conformance!`](crate::token_vault_conformance),
//!   [`import_conformance!`](crate::import_conformance),
//!   `pending_authorizations_conformance!`: expand to one
//!   `#[tokio::test]` per check.
//!
//! # Running the suite against your backend
//!
//! In your crate's `Cargo.toml`:
//!
//! ```toml
//! [dev-dependencies]
//! salesforce-import = { version = "0.1", features = ["testkit"] }
//! tokio = { version = "1", features = ["macros", "rt"] }
//! ```
//!
//! Then in an integration test (`tests/conformance.rs`), one macro per port.
//! Each macro takes an expression that evaluates to a **future** whose
//! output is the backend (a value whose type implements the trait; not an
//! `Arc`). The expression is pasted into every generated test, so each test
//! builds its own backend (for a database: its own pool, but the same
//! database; the checks' unique tenants keep them apart):
//!
//! ```text
//! async fn pool() -> sqlx::PgPool { /* connect to $DATABASE_URL, migrate */ }
//!
//! mod sink { salesforce_import::sink_conformance!(async { my_crm::Sink::new(super::pool().await) }); }
//! mod jobs { salesforce_import::job_store_conformance!(async { my_crm::PgJobStore::new(super::pool().await) }); }
//! mod vault { salesforce_import::token_vault_conformance!(async { my_crm::Vault::new(super::pool().await) }); }
//! mod pending { salesforce_import::pending_authorizations_conformance!(async { my_crm::States::new(super::pool().await) }); }
//! mod import {
//!     salesforce_import::import_conformance!(
//!         async { my_crm::Sink::new(super::pool().await) },
//!         async { my_crm::PgJobStore::new(super::pool().await) },
//!     );
//! }
//! ```
//!
//! `tests/conformance_memory.rs` in this crate is a complete, runnable
//! example against the in-memory backends.
//!
//! Each generated test is named after its check (`jobs::concurrent_create_single_winner`),
//! so a failure says which rule broke. Invoke each macro once per module.
//!
//! The checks are plain async functions too, for hosts that want their own
//! test harness or runtime:
//!
//! ```
//! use salesforce_import::{testkit, InMemoryJobStore, InMemorySink, InMemoryTokenVault};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = InMemoryJobStore::new();
//! testkit::jobs::one_running_job_per_tenant(&store).await;
//! testkit::jobs::concurrent_create_single_winner(&store).await;
//! testkit::sink::write_creates_in_order(&InMemorySink::new()).await;
//! testkit::vault::deactivate_once(&InMemoryTokenVault::new()).await;
//! // Or everything at once:
//! testkit::run_all(&InMemorySink::new(), &store, &InMemoryTokenVault::new()).await;
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::id::TenantId;
use crate::jobs::JobStore;
use crate::sink::CrmSink;
use crate::vault::TokenVault;

pub mod fixture;
pub mod import;
pub mod jobs;
#[cfg(feature = "http")]
pub mod pending;
pub mod sink;
pub mod vault;

/// A tenant id no other test has used: `t-<pid>-<nanos>-<counter>`.
///
/// The process id and a nanosecond timestamp keep test processes that
/// share one database apart; the counter keeps calls within a process apart.
pub fn unique_tenant() -> TenantId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    TenantId::new(format!("t-{}-{nanos}-{n}", std::process::id()))
}

/// Runs every check against the three backends, one after the other,
/// including the [`import`] checks that use the sink and the job store together.
pub async fn run_all(sink: &dyn CrmSink, jobs: &dyn JobStore, vault: &dyn TokenVault) {
    crate::__testkit_sink_checks!(__testkit_run_each, sink, (sink));
    crate::__testkit_job_store_checks!(__testkit_run_each, jobs, (jobs));
    crate::__testkit_token_vault_checks!(__testkit_run_each, vault, (vault));
    crate::__testkit_import_checks!(__testkit_run_each, import, (sink, jobs));
}

// ---------------------------------------------------------------------------
// The lists of checks. One place per port: the test macros and `run_all`
// expand them, so a new check is added in its module and here.

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_sink_checks {
    ($then:ident, $module:ident, $($args:tt)*) => {
        $crate::$then! { $module, $($args)*;
            empty_batch,
            write_creates_in_order,
            skip_existing_is_idempotent,
            duplicate_within_batch,
            update_mode_updates_in_place,
            tenants_are_independent,
            objects_are_distinct_keys,
            missing_required_reference_is_record_error,
            reference_to_other_tenant_is_record_error,
            price_entry_returns_product_id,
            price_entry_skip_existing_keeps_product,
            price_entries_share_a_product,
            price_entry_onto_non_product_is_record_error,
            relink_sets_parent,
            relink_is_tenant_scoped,
            large_batch,
            deletions_or_unsupported,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_job_store_checks {
    ($then:ident, $module:ident, $($args:tt)*) => {
        $crate::$then! { $module, $($args)*;
            create_job_is_pending,
            one_running_job_per_tenant,
            create_allowed_after_final_status,
            other_tenant_unaffected,
            concurrent_create_single_winner,
            set_status_timestamps,
            set_object_state,
            record_page_accumulates,
            record_page_unknown_object_changes_nothing,
            resolve_ids_scoping,
            resolve_ids_many_keys,
            error_log_paging,
            log_page_reads_every_line_once,
            history_newest_first,
            other_tenants_job_not_found,
            lease_has_one_holder,
            expired_lease_taken_over_once,
            stale_owner_cannot_write,
            ending_the_run_releases_the_lease,
            stranded_jobs_lists_lapsed_leases,
            holder_cannot_undo_a_cancel,
            watermark_is_the_latest_done,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_token_vault_checks {
    ($then:ident, $module:ident, $($args:tt)*) => {
        $crate::$then! { $module, $($args)*;
            get_unknown_is_none,
            put_get_round_trip,
            put_replaces,
            deactivate_once,
            tenant_isolation,
            debug_hides_tokens,
        }
    };
}

/// Expands to one `#[tokio::test]` per check: `$ctor` builds the backend.
#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_tests {
    ($module:ident, $ctor:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let backend = $ctor.await;
                $crate::testkit::$module::$name(&backend).await;
            }
        )*
    };
}

/// Expands to one `#[tokio::test]` per two-backend check: `$sink` and
/// `$jobs` build the backends.
#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_tests2 {
    ($module:ident, $sink:expr, $jobs:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let sink = $sink.await;
                let jobs = $jobs.await;
                $crate::testkit::$module::$name(&sink, &jobs).await;
            }
        )*
    };
}

/// Expands to one awaited call per check (for [`run_all`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_run_each {
    ($module:ident, $args:tt; $($name:ident),* $(,)?) => {
        $( $crate::testkit::$module::$name $args.await; )*
    };
}

/// Generates one `#[tokio::test]` per [`CrmSink`] check in
/// [`testkit::sink`](crate::testkit::sink).
///
/// The argument is an expression evaluating to a future whose output
/// implements [`CrmSink`]; it is evaluated afresh in every test. The calling
/// crate needs `tokio` with the `macros` and `rt` features. Invoke once per
/// module (the tests are named after the checks).
///
/// ```
/// // tests/conformance.rs
/// mod sink {
///     salesforce_import::sink_conformance!(async { salesforce_import::InMemorySink::new() });
/// }
/// ```
#[macro_export]
macro_rules! sink_conformance {
    ($ctor:expr $(,)?) => {
        $crate::__testkit_sink_checks!(__testkit_tests, sink, $ctor);
    };
}

/// Generates one `#[tokio::test]` per [`JobStore`] check in
/// [`testkit::jobs`](crate::testkit::jobs).
///
/// The argument is an expression evaluating to a future whose output
/// implements [`JobStore`]; it is evaluated afresh in every test. The
/// calling crate needs `tokio` with the `macros` and `rt` features. Invoke
/// once per module.
///
/// ```
/// // tests/conformance.rs; for a database: `async { PgJobStore::new(pool().await) }`.
/// mod jobs {
///     salesforce_import::job_store_conformance!(async { salesforce_import::InMemoryJobStore::new() });
/// }
/// ```
#[macro_export]
macro_rules! job_store_conformance {
    ($ctor:expr $(,)?) => {
        $crate::__testkit_job_store_checks!(__testkit_tests, jobs, $ctor);
    };
}

/// Generates one `#[tokio::test]` per [`TokenVault`] check in
/// [`testkit::vault`](crate::testkit::vault).
///
/// The argument is an expression evaluating to a future whose output
/// implements [`TokenVault`]; it is evaluated afresh in every test. The
/// calling crate needs `tokio` with the `macros` and `rt` features. Invoke
/// once per module.
///
/// ```
/// // tests/conformance.rs
/// mod vault {
///     salesforce_import::token_vault_conformance!(async { salesforce_import::InMemoryTokenVault::new() });
/// }
/// ```
#[macro_export]
macro_rules! token_vault_conformance {
    ($ctor:expr $(,)?) => {
        $crate::__testkit_token_vault_checks!(__testkit_tests, vault, $ctor);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_pending_checks {
    ($then:ident, $module:ident, $($args:tt)*) => {
        $crate::$then! { $module, $($args)*;
            round_trip,
            take_is_single_use,
            take_unknown_is_none,
            concurrent_takes_single_winner,
            debug_hides_secrets,
            many_states_independent,
        }
    };
}

/// Generates one `#[tokio::test]` per
/// [`PendingAuthorizations`](crate::http::PendingAuthorizations) check in
/// `testkit::pending` (the OAuth `state` store; needs the `http` feature,
/// which `testkit` turns on).
///
/// The argument is an expression evaluating to a future whose output
/// implements `PendingAuthorizations`; it is evaluated afresh in every
/// test. The calling crate needs `tokio` with the `macros` and `rt`
/// features. Invoke once per module.
///
/// ```
/// // tests/conformance.rs; for PostgreSQL:
/// // `async { PgPendingAuthorizations::new(pool().await, cipher) }`.
/// mod pending {
///     salesforce_import::pending_authorizations_conformance!(async {
///         salesforce_import::http::InMemoryPendingAuthorizations::new()
///     });
/// }
/// ```
#[macro_export]
macro_rules! pending_authorizations_conformance {
    ($ctor:expr $(,)?) => {
        $crate::__testkit_pending_checks!(__testkit_tests, pending, $ctor);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_import_checks {
    ($then:ident, $module:ident, $($args:tt)*) => {
        $crate::$then! { $module, $($args)*;
            ids_written_then_recorded_resolve,
            rewrite_after_lost_page_is_idempotent,
        }
    };
}

/// Generates one `#[tokio::test]` per check in
/// [`testkit::import`](crate::testkit::import), which use a [`CrmSink`] and
/// a [`JobStore`] together (the engine's write-then-record cycle).
///
/// Both arguments are expressions evaluating to futures (as for
/// [`sink_conformance!`](crate::sink_conformance)); the calling crate needs
/// `tokio` with the `macros` and `rt` features.
///
/// ```
/// // tests/conformance.rs
/// mod import {
///     salesforce_import::import_conformance!(
///         async { salesforce_import::InMemorySink::new() },
///         async { salesforce_import::InMemoryJobStore::new() },
///     );
/// }
/// ```
#[macro_export]
macro_rules! import_conformance {
    ($sink:expr, $jobs:expr $(,)?) => {
        $crate::__testkit_import_checks!(__testkit_tests2, import, $sink, $jobs);
    };
}

#[cfg(test)]
mod memory_conformance {
    mod sink {
        crate::sink_conformance!(async { crate::sink::InMemorySink::new() });
    }
    mod jobs {
        crate::job_store_conformance!(async { crate::jobs::InMemoryJobStore::new() });
    }
    mod vault {
        crate::token_vault_conformance!(async { crate::vault::InMemoryTokenVault::new() });
    }
    #[cfg(feature = "http")]
    mod pending {
        crate::pending_authorizations_conformance!(async {
            crate::http::InMemoryPendingAuthorizations::new()
        });
    }
    mod import {
        crate::import_conformance!(async { crate::sink::InMemorySink::new() }, async {
            crate::jobs::InMemoryJobStore::new()
        });
    }

    #[tokio::test]
    async fn run_all_on_shared_backends() {
        // Every check against one set of backends: tenants keep them apart.
        let (sink, jobs, vault) = (
            crate::sink::InMemorySink::new(),
            crate::jobs::InMemoryJobStore::new(),
            crate::vault::InMemoryTokenVault::new(),
        );
        super::run_all(&sink, &jobs, &vault).await;
    }
}
