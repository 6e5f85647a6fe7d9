//! Conformance checks for [`PendingAuthorizations`], the OAuth `state`
//! store (feature `http`, on with `testkit`).
//!
//! Each check uses fresh states (and tenants), so the checks run in
//! parallel against one shared store or database. Times are near the real
//! clock and unexpired, so that a store cleaning up expired entries on
//! insert never removes another check's entries.

use chrono::{DateTime, SubsecRound, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::unique_tenant;
use crate::http::{PendingAuthorization, PendingAuthorizations};
use crate::id::TenantId;

/// A PKCE-verifier-looking value that must never show up in `Debug` output.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A state no other check has used, shaped like the ones `oauth2` makes.
fn unique_state() -> SecretString {
    SecretString::from(format!("st8-{}-Zk3qXb9v", unique_tenant()))
}

/// Now, in whole seconds: a store may keep microseconds only.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn pending(tenant: &TenantId, user: &str, verifier: &str) -> PendingAuthorization {
    let created = now();
    PendingAuthorization::new(
        tenant.clone(),
        user,
        SecretString::from(verifier.to_owned()),
        "https://login.salesforce.com",
        created,
        created + chrono::Duration::minutes(10),
    )
}

async fn insert(store: &dyn PendingAuthorizations, state: &SecretString, p: PendingAuthorization) {
    store
        .insert(state, p)
        .await
        .unwrap_or_else(|e| panic!("insert failed: {e}"));
}

async fn take(
    store: &dyn PendingAuthorizations,
    state: &SecretString,
) -> Option<PendingAuthorization> {
    store
        .take(state)
        .await
        .unwrap_or_else(|e| panic!("take failed: {e}"))
}

/// `insert` then `take` returns every field as inserted.
pub async fn round_trip(store: &dyn PendingAuthorizations) {
    let (tenant, state) = (unique_tenant(), unique_state());
    let mut p = pending(&tenant, "ada@example.com", VERIFIER);
    p.login_url = "https://acme.my.salesforce.com".to_owned();
    let (created_at, expires_at) = (p.created_at, p.expires_at);
    insert(store, &state, p).await;
    let got = take(store, &state)
        .await
        .expect("take returns what was inserted");
    assert_eq!(got.tenant, tenant, "the tenant round-trips");
    assert_eq!(got.user, "ada@example.com", "the user round-trips");
    assert_eq!(
        got.verifier.expose_secret(),
        VERIFIER,
        "the PKCE verifier round-trips"
    );
    assert_eq!(
        got.login_url, "https://acme.my.salesforce.com",
        "the login URL round-trips"
    );
    assert_eq!(got.created_at, created_at, "created_at round-trips");
    assert_eq!(got.expires_at, expires_at, "expires_at round-trips");
}

/// A state completes at most once: a second `take` is `None`.
pub async fn take_is_single_use(store: &dyn PendingAuthorizations) {
    let (tenant, state) = (unique_tenant(), unique_state());
    insert(store, &state, pending(&tenant, "ada", VERIFIER)).await;
    assert!(
        take(store, &state).await.is_some(),
        "the first take finds it"
    );
    assert!(
        take(store, &state).await.is_none(),
        "a second take of one state must be None (single use)"
    );
}

/// `take` of a state never inserted is `None`, and does not disturb others.
pub async fn take_unknown_is_none(store: &dyn PendingAuthorizations) {
    let (tenant, state) = (unique_tenant(), unique_state());
    insert(store, &state, pending(&tenant, "ada", VERIFIER)).await;
    assert!(
        take(store, &unique_state()).await.is_none(),
        "an unknown state has no authorization"
    );
    let prefix = SecretString::from(state.expose_secret()[..8].to_owned());
    assert!(
        take(store, &prefix).await.is_none(),
        "a prefix of a state is not the state"
    );
    let got = take(store, &state).await;
    assert!(
        got.is_some_and(|p| p.tenant == tenant),
        "taking unknown states must not remove a known one"
    );
}

/// Many callbacks racing on one state: exactly one gets the authorization.
pub async fn concurrent_takes_single_winner(store: &dyn PendingAuthorizations) {
    let (tenant, state) = (unique_tenant(), unique_state());
    insert(store, &state, pending(&tenant, "ada", VERIFIER)).await;
    let takes = (0..8).map(|_| store.take(&state));
    let results = futures::future::join_all(takes).await;
    let mut winners = 0;
    for r in results {
        if let Some(p) = r.unwrap_or_else(|e| panic!("a concurrent take failed: {e}")) {
            assert_eq!(p.tenant, tenant, "the winner gets the authorization");
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one of 8 concurrent takes wins");
}

/// Neither the state nor the verifier shows in `Debug` of the store or of
/// what it returns.
pub async fn debug_hides_secrets(store: &dyn PendingAuthorizations) {
    let (tenant, state) = (unique_tenant(), unique_state());
    insert(store, &state, pending(&tenant, "ada", VERIFIER)).await;
    let text = format!("{store:?}");
    assert!(
        !text.contains(state.expose_secret()) && !text.contains(VERIFIER),
        "Debug of the store shows a state or a verifier: {text}"
    );
    let got = take(store, &state).await.expect("inserted");
    let text = format!("{got:?} {:?}", Some(&got));
    assert!(
        !text.contains(VERIFIER),
        "Debug of a pending authorization shows the verifier: {text}"
    );
    assert!(
        !text.contains(state.expose_secret()),
        "Debug of a pending authorization shows the state: {text}"
    );
}

/// Many states, for several tenants and users, are kept apart: each take
/// returns its own authorization, in any order, and leaves the others.
pub async fn many_states_independent(store: &dyn PendingAuthorizations) {
    let tenants = [unique_tenant(), unique_tenant(), unique_tenant()];
    let mut kept = Vec::new();
    for i in 0..30 {
        let tenant = &tenants[i % tenants.len()];
        let (state, user, verifier) = (
            unique_state(),
            format!("user-{i}"),
            format!("v-{i}-{VERIFIER}"),
        );
        insert(store, &state, pending(tenant, &user, &verifier)).await;
        kept.push((state, tenant.clone(), user, verifier));
    }
    // Every other one first, then the rest backwards.
    let order: Vec<usize> = (0..30).step_by(2).chain((1..30).step_by(2).rev()).collect();
    for i in order {
        let (state, tenant, user, verifier) = &kept[i];
        let got = take(store, state)
            .await
            .unwrap_or_else(|| panic!("state #{i} was lost after others were taken"));
        assert_eq!(
            (&got.tenant, &got.user, got.verifier.expose_secret()),
            (tenant, user, verifier.as_str()),
            "state #{i} returns its own authorization"
        );
        assert!(take(store, state).await.is_none(), "state #{i} is used up");
    }
}
