//! `PgPendingAuthorizations`: the OAuth flow across two application servers
//! sharing one database (started on one, completed on the other, replays
//! refused), the table holding no usable state or verifier, and expired
//! rows cleaned up by later inserts. The trait's contract itself is the
//! conformance suite's (`tests/conformance_postgres.rs`).

mod support;

#[macro_use]
mod common;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use salesforce_import::http::{
    InMemoryPendingAuthorizations, PendingAuthorization, PendingAuthorizations, SalesforceOAuth,
};
use salesforce_import::postgres::{PgPendingAuthorizations, PgTokenVault};
use salesforce_import::testkit::unique_tenant;
use salesforce_import::vault::TokenCipher;
use salesforce_import::{Error, TenantId};
use salesforce_import_fake::FakeSalesforce;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

const USER: &str = "ada@example.com";

fn cipher(key: &SecretString) -> TokenCipher {
    TokenCipher::new([key.clone()]).expect("a valid key")
}

/// One application server: its own pool on the shared database, its own
/// `SalesforceOAuth`, the keys every server shares.
async fn server(fake: &FakeSalesforce, key: &SecretString) -> Option<SalesforceOAuth> {
    let pool = common::pool().await?;
    let pending = Arc::new(PgPendingAuthorizations::new(pool.clone(), cipher(key)));
    let vault = Arc::new(PgTokenVault::new(pool, cipher(key)));
    Some(
        support::fake::oauth_builder(fake)
            .pending(pending)
            .build(vault)
            .unwrap(),
    )
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn assert_state_rejected(result: salesforce_import::Result<impl std::fmt::Debug>, reason: &str) {
    match result {
        Err(Error::OAuthState { reason: got }) => assert_eq!(got, reason),
        other => panic!("expected a rejected state ({reason}), got {other:?}"),
    }
}

/// Server A starts the flow, the callback lands on server B, which
/// completes it; the same callback replayed on B, or on A, is refused
/// without reaching Salesforce. Then the other way round.
#[tokio::test]
async fn a_flow_started_on_one_server_completes_on_another() {
    let fake = FakeSalesforce::builder().start().await.unwrap();
    let key = TokenCipher::generate_key();
    let Some(a) = server(&fake, &key).await else {
        return;
    };
    let b = server(&fake, &key).await.expect("the pool of server A");

    let tenant = unique_tenant();
    let authorization = a.authorize(&tenant, USER).await.unwrap();
    let approval = fake.approve(&authorization.url).await.unwrap();
    let status = b
        .complete(&tenant, USER, &approval.code, &approval.state)
        .await
        .unwrap();
    assert!(status.connected);
    assert_eq!(status.connected_by.as_deref(), Some(USER));
    assert_eq!(fake.code_exchanges(), 1);
    let stored = b.vault().get(&tenant).await.unwrap().expect("connected");
    assert!(fake.is_token_live(stored.access_token.expose_secret()));
    assert!(
        a.status(&tenant).await.unwrap().connected,
        "server A sees the connection"
    );

    for (name, server) in [("B", &b), ("A", &a)] {
        let replay = server
            .complete(&tenant, USER, &approval.code, &approval.state)
            .await;
        assert!(replay.is_err(), "a replay on {name} is refused");
        assert_state_rejected(replay, "unknown or already used");
    }
    assert_eq!(fake.code_exchanges(), 1, "replays never reach Salesforce");

    // Started on B, completed on A.
    let other = unique_tenant();
    let authorization = b.authorize(&other, USER).await.unwrap();
    let approval = fake.approve(&authorization.url).await.unwrap();
    let status = a
        .complete(&other, USER, &approval.code, &approval.state)
        .await
        .unwrap();
    assert!(status.connected);
    assert_state_rejected(
        b.complete(&other, USER, &approval.code, &approval.state)
            .await,
        "unknown or already used",
    );
}

/// Why the store exists: with each server keeping states in its own
/// memory, a callback landing on the other server is refused.
#[tokio::test]
async fn states_in_memory_do_not_cross_servers() {
    let fake = FakeSalesforce::builder().start().await.unwrap();
    let vault = Arc::new(salesforce_import::InMemoryTokenVault::new());
    let build = || {
        support::fake::oauth_builder(&fake)
            .pending(Arc::new(InMemoryPendingAuthorizations::new()))
            .build(vault.clone())
            .unwrap()
    };
    let (a, b) = (build(), build());
    let tenant = TenantId::new("acme");
    let authorization = a.authorize(&tenant, USER).await.unwrap();
    let approval = fake.approve(&authorization.url).await.unwrap();
    assert_state_rejected(
        b.complete(&tenant, USER, &approval.code, &approval.state)
            .await,
        "unknown or already used",
    );
}

/// The row of a real authorization, read raw: the state appears only as
/// its SHA-256 (computed here by PostgreSQL), the verifier only as Fernet
/// ciphertext that decrypts to the verifier of the URL's PKCE challenge,
/// and no column holds either in plain text. Another key cannot read the
/// verifier.
#[tokio::test]
async fn the_table_holds_no_plaintext_state_or_verifier() {
    let Some(pool) = common::pool().await else {
        return;
    };
    let fake = FakeSalesforce::builder().start().await.unwrap();
    let key = TokenCipher::generate_key();
    let store = Arc::new(PgPendingAuthorizations::new(pool.clone(), cipher(&key)));
    let vault = Arc::new(PgTokenVault::new(pool.clone(), cipher(&key)));
    let oauth = support::fake::oauth_builder(&fake)
        .pending(store.clone())
        .build(vault)
        .unwrap();
    let tenant = unique_tenant();
    let authorization = oauth.authorize(&tenant, USER).await.unwrap();
    let query = query_of(&authorization.url);
    let (state, challenge) = (&query["state"], &query["code_challenge"]);

    let (hash_len, tenant_id, user, verifier, whole_row): (i32, String, String, String, String) =
        sqlx::query_as(
            "SELECT octet_length(state_hash), tenant_id, requested_by, verifier, row_to_json(s)::text
             FROM sf_import_oauth_states s
             WHERE state_hash = sha256(convert_to($1, 'UTF8'))",
        )
        .bind(state)
        .fetch_one(&pool)
        .await
        .expect("one row, keyed by the SHA-256 of the state");
    assert_eq!(hash_len, 32);
    assert_eq!((tenant_id.as_str(), user.as_str()), (tenant.as_str(), USER));
    assert!(!whole_row.contains(state.as_str()), "{whole_row}");
    assert!(
        verifier.starts_with("gAAAAA"),
        "Fernet ciphertext: {verifier}"
    );

    let plain = cipher(&key).decrypt(&verifier).unwrap();
    assert!(plain.expose_secret().len() >= 43, "a PKCE verifier");
    assert!(!whole_row.contains(plain.expose_secret()), "{whole_row}");
    // It is the verifier of this authorization: its S256 is the challenge.
    let s256: String = sqlx::query_scalar(
        "SELECT rtrim(translate(encode(sha256(convert_to($1, 'UTF8')), 'base64'), '+/', '-_'), '=')",
    )
    .bind(plain.expose_secret())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(&s256, challenge);

    // A server with other keys cannot read the verifier (and the state is
    // spent: a state whose verifier is unreadable cannot complete anyway).
    let stranger = PgPendingAuthorizations::new(pool, cipher(&TokenCipher::generate_key()));
    let taken = stranger.take(&SecretString::from(state.clone())).await;
    assert!(matches!(taken, Err(Error::TokenDecryption)), "{taken:?}");
    assert!(
        store
            .take(&SecretString::from(state.clone()))
            .await
            .unwrap()
            .is_none()
    );
}

fn pending(tenant: &TenantId, created_at: DateTime<Utc>, ttl: Duration) -> PendingAuthorization {
    PendingAuthorization::new(
        tenant.clone(),
        USER,
        SecretString::from("verifier"),
        "https://login.salesforce.com",
        created_at,
        created_at + ttl,
    )
}

async fn row_exists(pool: &PgPool, state: &SecretString) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sf_import_oauth_states
                        WHERE state_hash = sha256(convert_to($1, 'UTF8')))",
    )
    .bind(state.expose_secret())
    .fetch_one(pool)
    .await
    .unwrap()
}

fn state() -> SecretString {
    SecretString::from(format!("state-{}", unique_tenant()))
}

/// A row expired long ago is deleted by the next insert (any server's);
/// rows still valid by the database's clock stay, even when the inserting
/// server's clock runs an hour ahead.
#[tokio::test]
async fn inserts_delete_expired_rows_and_only_those() {
    let Some(pool) = common::pool().await else {
        return;
    };
    let store = PgPendingAuthorizations::new(pool.clone(), cipher(&TokenCipher::generate_key()));
    let tenant = unique_tenant();
    let ten_minutes = Duration::minutes(10);

    // Expired in 2000: first in line for the cleanup.
    let old = state();
    let y2k = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    store
        .insert(&old, pending(&tenant, y2k, ten_minutes))
        .await
        .unwrap();
    // Valid for five more minutes by the database's clock.
    let live = state();
    let five_ago = Utc::now() - Duration::minutes(5);
    store
        .insert(&live, pending(&tenant, five_ago, ten_minutes))
        .await
        .unwrap();
    assert!(
        !row_exists(&pool, &old).await,
        "the expired row was deleted"
    );
    assert!(row_exists(&pool, &live).await, "a live row is kept");

    // A server whose clock runs an hour ahead.
    let ahead = state();
    let in_an_hour = Utc::now() + Duration::hours(1);
    store
        .insert(&ahead, pending(&tenant, in_an_hour, ten_minutes))
        .await
        .unwrap();
    assert!(
        row_exists(&pool, &live).await,
        "a clock running ahead does not cut other states short"
    );
    assert!(store.take(&live).await.unwrap().is_some());
    assert!(store.take(&ahead).await.unwrap().is_some());
}

/// Inserting under a state already kept replaces it, as the in-memory
/// store does: one row, the new authorization.
#[tokio::test]
async fn an_insert_under_a_known_state_replaces_it() {
    let Some(pool) = common::pool().await else {
        return;
    };
    let store = PgPendingAuthorizations::new(pool.clone(), cipher(&TokenCipher::generate_key()));
    let (first, second, s) = (unique_tenant(), unique_tenant(), state());
    let now = Utc::now();
    store
        .insert(&s, pending(&first, now, Duration::minutes(10)))
        .await
        .unwrap();
    store
        .insert(&s, pending(&second, now, Duration::minutes(10)))
        .await
        .unwrap();
    let got = store.take(&s).await.unwrap().expect("kept");
    assert_eq!(got.tenant, second);
    assert!(!row_exists(&pool, &s).await);
}
