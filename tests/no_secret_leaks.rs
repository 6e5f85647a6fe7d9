//! No token, code, secret or PKCE verifier reaches logs, `Debug` output or
//! error text during a whole OAuth flow and an import with a refresh,
//! against the fake org over loopback HTTP.
//!
//! Its own test binary with one test: the log capture is the global
//! subscriber, which tests running in parallel threads would share.

mod support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use salesforce_import::http::{
    InMemoryPendingAuthorizations, PendingAuthorization, PendingAuthorizations, RestSource,
    SalesforceOAuth,
};
use salesforce_import::{
    Error, ImportRequest, Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault, JobStatus,
    Result, SObject, TenantId, TokenVault,
};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use secrecy::{ExposeSecret, SecretString};
use support::logs::Captured;

/// The pending-state store, also remembering every PKCE verifier it saw
/// so that the test can look for them.
#[derive(Default)]
struct SpyPending {
    inner: InMemoryPendingAuthorizations,
    verifiers: Mutex<Vec<String>>,
}

impl std::fmt::Debug for SpyPending {
    /// The test's own record of verifiers stays out of the texts searched.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.inner, f)
    }
}

#[async_trait]
impl PendingAuthorizations for SpyPending {
    async fn insert(&self, state: &SecretString, pending: PendingAuthorization) -> Result<()> {
        self.verifiers
            .lock()
            .unwrap()
            .push(pending.verifier.expose_secret().to_owned());
        self.inner.insert(state, pending).await
    }
    async fn take(&self, state: &SecretString) -> Result<Option<PendingAuthorization>> {
        self.inner.take(state).await
    }
}

struct World {
    fake: FakeSalesforce,
    vault: Arc<InMemoryTokenVault>,
    oauth: Arc<SalesforceOAuth>,
    pending: Arc<SpyPending>,
}

async fn world() -> World {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::sample())
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let vault = Arc::new(InMemoryTokenVault::new());
    let pending = Arc::new(SpyPending::default());
    let oauth = Arc::new(
        support::fake::oauth_builder(&fake)
            .pending(pending.clone())
            .build(vault.clone())
            .unwrap(),
    );
    World {
        fake,
        vault,
        oauth,
        pending,
    }
}

#[tokio::test]
async fn no_secret_reaches_logs_debug_or_errors() {
    let captured = Captured::default();
    tracing::subscriber::set_global_default(captured.clone()).unwrap();

    let w = world().await;
    let tenant = TenantId::new("acme");
    let auth = w.oauth.authorize(&tenant, "ada").await.unwrap();
    let approval = w.fake.approve(&auth.url).await.unwrap();
    let (code, state) = (approval.code, approval.state);
    w.oauth
        .complete(&tenant, "ada", &code, &state)
        .await
        .unwrap();
    let first = w.vault.get(&tenant).await.unwrap().unwrap();
    let mut texts = vec![
        format!("{auth:?}"),
        format!("{:?}", w.oauth),
        format!("{first:?}"),
        format!("{:?}", w.oauth.status(&tenant).await.unwrap()),
        format!("{:?}", w.pending),
    ];
    // Errors along the way: replayed state, expired token, refresh.
    let err = w
        .oauth
        .complete(&tenant, "ada", &code, &state)
        .await
        .unwrap_err();
    texts.push(format!("{err} {err:?}"));

    // An import during which the token expires and is refreshed.
    w.fake.faults().expire_tokens_after(3);
    let source = Arc::new(
        RestSource::builder(w.oauth.clone())
            .api_version(w.fake.api_version())
            .build()
            .unwrap(),
    );
    texts.push(format!("{source:?}"));
    let importer = Importer::builder(
        source,
        Arc::new(InMemorySink::new()),
        Arc::new(InMemoryJobStore::new()),
    )
    .vault(w.vault.clone())
    .page_size(10)
    .build()
    .unwrap();
    let job = importer
        .run(
            &tenant,
            ImportRequest::new("ada", [SObject::ACCOUNT, SObject::CONTACT]),
        )
        .await
        .unwrap();
    assert!(job.status == JobStatus::Completed || job.status == JobStatus::CompletedWithErrors);
    assert_eq!(w.fake.refreshes(), 1);
    let second = w.vault.get(&tenant).await.unwrap().unwrap();
    texts.push(format!("{second:?} {job:?} {importer:?}"));

    // A refresh that Salesforce refuses.
    let mut revoked = second.clone();
    revoked.refresh_token = Some(SecretString::from("stale-refresh-token-value"));
    w.vault.put(&tenant, &revoked).await.unwrap();
    let err = w.oauth.refresh(&tenant).await.unwrap_err();
    assert!(matches!(err, Error::SessionExpired), "{err:?}");
    texts.push(format!("{err} {err:?}"));
    w.vault.put(&tenant, &second).await.unwrap();
    w.oauth.disconnect(&tenant).await.unwrap();

    let logs = captured.text();
    assert!(
        logs.contains("Salesforce connected"),
        "the capture works: {logs}"
    );
    assert!(logs.contains("refreshed"), "{logs}");
    texts.push(logs);
    let all = texts.join("\n");

    let mut secrets = vec![
        ("authorization code", code.clone()),
        ("state", state.clone()),
        (
            "client secret",
            w.fake.client_secret().expose_secret().to_owned(),
        ),
        (
            "first access token",
            first.access_token.expose_secret().to_owned(),
        ),
        (
            "refresh token",
            first
                .refresh_token
                .as_ref()
                .unwrap()
                .expose_secret()
                .to_owned(),
        ),
        (
            "second access token",
            second.access_token.expose_secret().to_owned(),
        ),
        (
            "stale refresh token",
            "stale-refresh-token-value".to_owned(),
        ),
    ];
    for v in w.pending.verifiers.lock().unwrap().iter() {
        secrets.push(("PKCE verifier", v.clone()));
    }
    for (what, secret) in secrets {
        assert!(secret.len() >= 8, "{what} is long enough to search for");
        if let Some(at) = all.find(&secret) {
            let line_start = all[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = all[at..].find('\n').map_or(all.len(), |i| at + i);
            panic!("the {what} leaked: {}", &all[line_start..line_end]);
        }
    }
}
