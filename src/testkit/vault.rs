//! Conformance checks for [`TokenVault`].

use secrecy::ExposeSecret;

use super::{fixture, unique_tenant};
use crate::id::TenantId;
use crate::vault::{Connection, TokenVault};

// Token-looking strings that must never show up in Debug output.
const ACCESS: &str = "00Dxx0000001gPL!AQ0AQH0dMHZfz972Szmpkb58urFRkgeBGsxL";
const REFRESH: &str = "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJo7Xv";

async fn get(vault: &dyn TokenVault, tenant: &TenantId) -> Option<Connection> {
    vault
        .get(tenant)
        .await
        .unwrap_or_else(|e| panic!("get({tenant}) failed: {e}"))
}

async fn put(vault: &dyn TokenVault, tenant: &TenantId, c: &Connection) {
    vault
        .put(tenant, c)
        .await
        .unwrap_or_else(|e| panic!("put({tenant}) failed: {e}"));
}

fn assert_no_usable_tokens(c: &Connection, what: &str) {
    assert!(
        c.access_token.expose_secret().is_empty(),
        "{what}: a deactivated connection must not keep its access token"
    );
    assert!(
        c.refresh_token
            .as_ref()
            .is_none_or(|t| t.expose_secret().is_empty()),
        "{what}: a deactivated connection must not keep its refresh token"
    );
}

/// `get` of a tenant that never connected is `None`; `deactivate` of it is `false`.
pub async fn get_unknown_is_none(vault: &dyn TokenVault) {
    let tenant = unique_tenant();
    assert!(
        get(vault, &tenant).await.is_none(),
        "an unknown tenant has no connection"
    );
    let was = vault.deactivate(&tenant).await.expect("deactivate");
    assert!(!was, "deactivate of an unknown tenant returns false");
    assert!(
        get(vault, &tenant).await.is_none(),
        "deactivate must not create a connection"
    );
}

/// `put` then `get` round-trips every field, tokens included.
pub async fn put_get_round_trip(vault: &dyn TokenVault) {
    let tenant = unique_tenant();
    let mut c = fixture::connection(
        "https://acme.my.salesforce.com",
        ACCESS,
        Some(REFRESH),
        "ada@example.com",
    );
    c.refreshed_at = Some(fixture::at(60));
    c.identity_url =
        Some("https://login.salesforce.com/id/00Dxx0000001gPL/005xx000001Sv6e".to_owned());
    put(vault, &tenant, &c).await;
    let got = get(vault, &tenant).await.expect("the connection just put");
    assert_eq!(got.instance_url, c.instance_url, "instance_url round-trips");
    assert_eq!(
        got.access_token.expose_secret(),
        ACCESS,
        "access token round-trips"
    );
    assert_eq!(
        got.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(REFRESH),
        "refresh token round-trips"
    );
    assert_eq!(
        got.connected_by, "ada@example.com",
        "connected_by round-trips"
    );
    assert_eq!(got.connected_at, c.connected_at, "connected_at round-trips");
    assert_eq!(got.refreshed_at, c.refreshed_at, "refreshed_at round-trips");
    assert_eq!(got.identity_url, c.identity_url, "identity_url round-trips");
    assert!(got.active, "a connection put active is active");

    // Without a refresh token.
    let other = unique_tenant();
    put(
        vault,
        &other,
        &fixture::connection("https://b.my.salesforce.com", "tok-b", None, "bob"),
    )
    .await;
    let got = get(vault, &other).await.expect("connection");
    assert!(got.refresh_token.is_none(), "no refresh token stays none");
    assert_eq!(
        got.access_token.expose_secret(),
        "tok-b",
        "access token round-trips (no refresh token)"
    );
}

/// A second `put` replaces the connection.
pub async fn put_replaces(vault: &dyn TokenVault) {
    let tenant = unique_tenant();
    put(
        vault,
        &tenant,
        &fixture::connection(
            "https://old.my.salesforce.com",
            "old-token",
            Some("old-refresh"),
            "ada",
        ),
    )
    .await;
    put(
        vault,
        &tenant,
        &fixture::connection("https://new.my.salesforce.com", "new-token", None, "bob"),
    )
    .await;
    let got = get(vault, &tenant).await.expect("connection");
    assert_eq!(
        got.instance_url, "https://new.my.salesforce.com",
        "put replaces"
    );
    assert_eq!(
        got.access_token.expose_secret(),
        "new-token",
        "put replaces the access token"
    );
    assert!(
        got.refresh_token.is_none(),
        "put replaces the refresh token too"
    );
    assert_eq!(got.connected_by, "bob", "put replaces connected_by");
}

/// `deactivate` returns true once, then false; the connection stays,
/// inactive, without usable tokens; a new `put` makes it active again.
pub async fn deactivate_once(vault: &dyn TokenVault) {
    let tenant = unique_tenant();
    put(
        vault,
        &tenant,
        &fixture::connection(
            "https://acme.my.salesforce.com",
            ACCESS,
            Some(REFRESH),
            "ada",
        ),
    )
    .await;
    assert!(
        vault.deactivate(&tenant).await.expect("deactivate"),
        "first deactivate returns true"
    );
    assert!(
        !vault.deactivate(&tenant).await.expect("deactivate"),
        "second deactivate returns false"
    );
    let got = get(vault, &tenant)
        .await
        .expect("a deactivated connection is kept");
    assert!(!got.active, "a deactivated connection is inactive");
    assert_eq!(
        got.instance_url, "https://acme.my.salesforce.com",
        "the row is kept"
    );
    assert_no_usable_tokens(&got, "after deactivate");

    put(
        vault,
        &tenant,
        &fixture::connection("https://acme.my.salesforce.com", "fresh", None, "ada"),
    )
    .await;
    let got = get(vault, &tenant).await.expect("connection");
    assert!(
        got.active,
        "put after deactivate makes the connection active again"
    );
    assert_eq!(
        got.access_token.expose_secret(),
        "fresh",
        "put after deactivate stores the new access token"
    );
}

/// Tenants do not see or change each other's connections.
pub async fn tenant_isolation(vault: &dyn TokenVault) {
    let (a, b) = (unique_tenant(), unique_tenant());
    put(
        vault,
        &a,
        &fixture::connection(
            "https://a.my.salesforce.com",
            "token-a",
            Some("refresh-a"),
            "ada",
        ),
    )
    .await;
    assert!(
        get(vault, &b).await.is_none(),
        "tenant B must not see tenant A's connection"
    );
    put(
        vault,
        &b,
        &fixture::connection("https://b.my.salesforce.com", "token-b", None, "bob"),
    )
    .await;
    assert!(
        vault.deactivate(&b).await.expect("deactivate"),
        "deactivating B's active connection returns true"
    );
    let got = get(vault, &a).await.expect("tenant A's connection");
    assert!(got.active, "deactivating B must not touch A");
    assert_eq!(
        got.instance_url, "https://a.my.salesforce.com",
        "tenant A's connection is untouched by tenant B"
    );
    assert_eq!(
        got.access_token.expose_secret(),
        "token-a",
        "tenant A's access token is untouched by tenant B"
    );
    assert_eq!(
        got.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some("refresh-a"),
        "tenant A's refresh token is untouched by tenant B"
    );
}

/// A connection read back never prints its tokens in `Debug` output.
pub async fn debug_hides_tokens(vault: &dyn TokenVault) {
    let tenant = unique_tenant();
    let c = fixture::connection(
        "https://acme.my.salesforce.com",
        ACCESS,
        Some(REFRESH),
        "ada",
    );
    let text = format!("{c:?}");
    assert!(
        !text.contains(ACCESS) && !text.contains(REFRESH),
        "Debug of a Connection shows a token: {text}"
    );
    put(vault, &tenant, &c).await;
    let got = get(vault, &tenant).await.expect("connection");
    let text = format!("{got:?} {:?}", Some(&got));
    assert!(
        !text.contains(ACCESS),
        "Debug of a stored connection shows the access token: {text}"
    );
    assert!(
        !text.contains(REFRESH),
        "Debug of a stored connection shows the refresh token: {text}"
    );
    let text = format!("{vault:?}");
    assert!(
        !text.contains(ACCESS) && !text.contains(REFRESH),
        "Debug of the vault itself shows a token: {text}"
    );
}
