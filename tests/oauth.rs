//! The OAuth 2.0 web-server flow end to end against the fake org over
//! loopback HTTP: authorization URL -> approval -> callback -> tokens in
//! the vault -> refresh -> revoke; states that are replayed, foreign or
//! expired; instance URLs off the allow-list. (No secret in logs, `Debug`
//! or errors: `tests/no_secret_leaks.rs`.)

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::Utc;
use salesforce_import::engine::Clock;
use salesforce_import::http::{HostPolicy, LoginHost, RestSource, SalesforceOAuth};
use salesforce_import::source::{PageRequest, SalesforceSource};
use salesforce_import::vault::Connection;
use salesforce_import::{Error, InMemoryTokenVault, SObject, TenantId, TokenVault};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use secrecy::{ExposeSecret, SecretString};

struct World {
    fake: FakeSalesforce,
    vault: Arc<InMemoryTokenVault>,
    oauth: Arc<SalesforceOAuth>,
    /// Minutes added to the real clock.
    minutes: Arc<AtomicI64>,
}

async fn world() -> World {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::sample())
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let vault = Arc::new(InMemoryTokenVault::new());
    let minutes = Arc::new(AtomicI64::new(0));
    let offset = minutes.clone();
    let clock: Clock =
        Arc::new(move || Utc::now() + chrono::Duration::minutes(offset.load(Ordering::SeqCst)));
    let oauth = Arc::new(
        support::fake::oauth_builder(&fake)
            .clock(clock)
            .build(vault.clone())
            .unwrap(),
    );
    World {
        fake,
        vault,
        oauth,
        minutes,
    }
}

async fn connect(w: &World, tenant: &TenantId, user: &str) -> Connection {
    let auth = w.oauth.authorize(tenant, user).await.unwrap();
    let approval = w.fake.approve(&auth.url).await.unwrap();
    let (code, state) = (approval.code, approval.state);
    let status = w.oauth.complete(tenant, user, &code, &state).await.unwrap();
    assert!(status.connected);
    w.vault.get(tenant).await.unwrap().unwrap()
}

fn assert_state_rejected(err: Error, reason: &str) {
    match err {
        Error::OAuthState { reason: got } => assert_eq!(got, reason),
        other => panic!("expected a rejected state ({reason}), got {other:?}"),
    }
}

#[tokio::test]
async fn the_whole_flow_connects_refreshes_and_disconnects() {
    let w = world().await;
    let tenant = TenantId::new("acme");
    let auth = w.oauth.authorize(&tenant, "ada@example.com").await.unwrap();
    let url = url::Url::parse(&auth.url).unwrap();
    assert!(auth.url.starts_with(&format!(
        "{}/services/oauth2/authorize?",
        w.fake.login_url()
    )));
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_ne!(q["state"], tenant.as_str());

    let approval = w.fake.approve(&auth.url).await.unwrap();
    let (code, state) = (approval.code, approval.state);
    assert_eq!(state, q["state"]);
    let status = w
        .oauth
        .complete(&tenant, "ada@example.com", &code, &state)
        .await
        .unwrap();
    assert!(status.connected);
    assert_eq!(status.instance_url.as_deref(), Some(w.fake.instance_url()));
    assert_eq!(status.connected_by.as_deref(), Some("ada@example.com"));
    assert_eq!(w.fake.code_exchanges(), 1);

    let conn = w.vault.get(&tenant).await.unwrap().unwrap();
    assert!(conn.active);
    assert!(w.fake.is_token_live(conn.access_token.expose_secret()));
    assert!(conn.refresh_token.is_some());
    assert!(conn.identity_url.as_deref().unwrap().contains("/id/"));

    // The connection works for the REST source.
    let source = RestSource::builder(w.oauth.clone())
        .api_version(w.fake.api_version())
        .build()
        .unwrap();
    let page = source
        .fetch_page(
            &tenant,
            &PageRequest::new(SObject::ACCOUNT, vec!["Id".into(), "Name".into()], 10),
        )
        .await
        .unwrap();
    assert_eq!(page.records.len(), 10);

    // Refresh: a new access token, stored; the refresh token kept.
    w.oauth.refresh(&tenant).await.unwrap();
    let refreshed = w.vault.get(&tenant).await.unwrap().unwrap();
    assert_eq!(w.fake.refreshes(), 1);
    assert_ne!(
        refreshed.access_token.expose_secret(),
        conn.access_token.expose_secret()
    );
    assert_eq!(
        refreshed.refresh_token.as_ref().unwrap().expose_secret(),
        conn.refresh_token.as_ref().unwrap().expose_secret()
    );
    assert!(refreshed.refreshed_at.is_some());
    assert!(w.fake.is_token_live(refreshed.access_token.expose_secret()));

    // Disconnect: revoked at Salesforce, deactivated here.
    let done = w.oauth.disconnect(&tenant).await.unwrap();
    assert!(done.was_connected && done.revoked, "{done:?}");
    assert_eq!(w.fake.revocations(), 1);
    assert!(!w.fake.is_token_live(refreshed.access_token.expose_secret()));
    let after = w.vault.get(&tenant).await.unwrap().unwrap();
    assert!(!after.active && after.refresh_token.is_none());
    assert!(!w.oauth.status(&tenant).await.unwrap().connected);
    let again = w.oauth.disconnect(&tenant).await.unwrap();
    assert!(!again.was_connected && !again.revoked);
}

#[tokio::test]
async fn a_replayed_state_is_rejected() {
    let w = world().await;
    let tenant = TenantId::new("acme");
    let auth = w.oauth.authorize(&tenant, "ada").await.unwrap();
    let approval = w.fake.approve(&auth.url).await.unwrap();
    let (code, state) = (approval.code, approval.state);
    w.oauth
        .complete(&tenant, "ada", &code, &state)
        .await
        .unwrap();
    let err = w
        .oauth
        .complete(&tenant, "ada", &code, &state)
        .await
        .unwrap_err();
    assert_state_rejected(err, "unknown or already used");
    let err = w
        .oauth
        .complete(&tenant, "ada", &code, "made-up-state")
        .await
        .unwrap_err();
    assert_state_rejected(err, "unknown or already used");
    assert_eq!(w.fake.code_exchanges(), 1, "no code sent for a bad state");
}

#[tokio::test]
async fn a_state_issued_to_another_tenant_or_user_is_rejected() {
    let w = world().await;
    let (acme, globex) = (TenantId::new("acme"), TenantId::new("globex"));
    for (tenant, user) in [(&globex, "ada"), (&acme, "mallory")] {
        let auth = w.oauth.authorize(&acme, "ada").await.unwrap();
        let approval = w.fake.approve(&auth.url).await.unwrap();
        let (code, state) = (approval.code, approval.state);
        let err = w
            .oauth
            .complete(tenant, user, &code, &state)
            .await
            .unwrap_err();
        assert_state_rejected(err, "issued to another tenant or user");
        assert!(w.vault.get(tenant).await.unwrap().is_none());
        // Used up: not even the right tenant and user can complete it now.
        let err = w
            .oauth
            .complete(&acme, "ada", &code, &state)
            .await
            .unwrap_err();
        assert_state_rejected(err, "unknown or already used");
    }
    assert!(w.vault.get(&acme).await.unwrap().is_none());
    assert_eq!(w.fake.code_exchanges(), 0);
}

#[tokio::test]
async fn an_expired_state_is_rejected() {
    let w = world().await;
    let tenant = TenantId::new("acme");
    let auth = w.oauth.authorize(&tenant, "ada").await.unwrap();
    let approval = w.fake.approve(&auth.url).await.unwrap();
    let (code, state) = (approval.code, approval.state);
    w.minutes.store(11, Ordering::SeqCst);
    let err = w
        .oauth
        .complete(&tenant, "ada", &code, &state)
        .await
        .unwrap_err();
    assert_state_rejected(err, "expired");
    assert_eq!(w.fake.code_exchanges(), 0);
}

#[tokio::test]
async fn a_bad_code_is_an_oauth_error() {
    let w = world().await;
    let tenant = TenantId::new("acme");
    let auth = w.oauth.authorize(&tenant, "ada").await.unwrap();
    let state = w.fake.approve(&auth.url).await.unwrap().state;
    let err = w
        .oauth
        .complete(&tenant, "ada", "not-the-code", &state)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { step: salesforce_import::OAuthStep::CodeExchange, message, .. } if message.starts_with("invalid_grant")),
        "{err:?}"
    );
}

/// A token endpoint on loopback that answers every code with an
/// `instance_url` off the allow-list.
async fn rogue_token_endpoint() -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/services/oauth2/token",
        post(|| async {
            axum::Json(serde_json::json!({
                "access_token": "00Dx!rogue-access-token",
                "refresh_token": "rogue-refresh-token",
                "instance_url": "https://na1.salesforce.com.evil.example",
                "id": "https://login.salesforce.com/id/00Dx/005x",
                "issued_at": "1700000000000",
                "signature": "c2ln",
                "token_type": "Bearer"
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn an_instance_url_off_the_allow_list_is_refused() {
    let login = rogue_token_endpoint().await;
    let vault = Arc::new(InMemoryTokenVault::new());
    let oauth = Arc::new(
        SalesforceOAuth::builder("id", SecretString::from("secret"), "http://localhost/cb")
            .login_host(LoginHost::url(&login))
            .host_policy(HostPolicy::salesforce().allow_loopback())
            .build(vault.clone())
            .unwrap(),
    );
    let tenant = TenantId::new("acme");
    let auth = oauth.authorize(&tenant, "ada").await.unwrap();
    let state = url::Url::parse(&auth.url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let err = oauth
        .complete(&tenant, "ada", "any-code", &state)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HostNotAllowed { .. }), "{err:?}");
    assert!(err.to_string().contains("na1.salesforce.com.evil.example"));
    assert!(
        vault.get(&tenant).await.unwrap().is_none(),
        "nothing stored"
    );

    // A stored connection pointing off the list gets no token sent either.
    let conn = Connection::new(
        "https://evil.example",
        SecretString::from("tok"),
        None,
        "ada",
        Utc::now(),
    );
    vault.put(&tenant, &conn).await.unwrap();
    let source = RestSource::builder(oauth).build().unwrap();
    let err = source
        .fetch_page(
            &tenant,
            &PageRequest::new(SObject::ACCOUNT, vec!["Id".into()], 10),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HostNotAllowed { .. }), "{err:?}");
}

#[tokio::test]
async fn disconnect_deactivates_even_when_salesforce_is_down() {
    let w = world().await;
    let tenant = TenantId::new("acme");
    connect(&w, &tenant, "ada").await;
    let World {
        fake, oauth, vault, ..
    } = w;
    fake.shutdown().await;
    let done = oauth.disconnect(&tenant).await.unwrap();
    assert!(done.was_connected && !done.revoked, "{done:?}");
    let after = vault.get(&tenant).await.unwrap().unwrap();
    assert!(!after.active && after.refresh_token.is_none());
}
