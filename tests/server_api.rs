//! The router over real HTTP: every endpoint and error path, against the
//! fake Salesforce org on loopback. Every answer is held to the OpenAPI
//! document: its status must be documented for its route, and its body
//! must match that status's schema.

mod support;

#[path = "support/openapi.rs"]
mod openapi;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::request::Parts;
use reqwest::StatusCode;
use salesforce_import::http::RestSource;
use salesforce_import::server::{
    Authenticate, Caller, ImportApi, ImportApiBuilder, REQUESTED_WITH, REQUESTED_WITH_VALUE,
};
use salesforce_import::vault::{SealedConnection, TokenCipher};
use salesforce_import::{
    Connection, Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault, JobStore, SObject,
    TenantId, TokenVault,
};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use serde_json::{Value, json};

use openapi::Spec;

static SPEC: LazyLock<Spec> = LazyLock::new(Spec::load);

/// Trusts test headers: `x-user`, `x-tenant`, `x-admin: 1`.
#[derive(Debug)]
struct HeaderAuth;

#[async_trait]
impl Authenticate for HeaderAuth {
    async fn authenticate(&self, parts: &Parts) -> Option<Caller> {
        let header = |name: &str| parts.headers.get(name)?.to_str().ok();
        Some(Caller::new(
            header("x-user")?,
            TenantId::new(header("x-tenant")?),
            header("x-admin") == Some("1"),
        ))
    }
}

struct App {
    base: String,
    http: reqwest::Client,
    fake: FakeSalesforce,
    sink: Arc<InMemorySink>,
    jobs: Arc<InMemoryJobStore>,
}

/// Who calls.
#[derive(Clone, Copy)]
struct As<'a> {
    user: &'a str,
    tenant: &'a str,
    admin: bool,
}

const ADA: As = As {
    user: "ada@acme.test",
    tenant: "acme",
    admin: true,
};
const BOB: As = As {
    user: "bob@acme.test",
    tenant: "acme",
    admin: false,
};
const EVE: As = As {
    user: "eve@globex.test",
    tenant: "globex",
    admin: true,
};

async fn app_with(history: usize) -> App {
    app_built(history, &[]).await
}

/// The app, its router letting pages of `origins` change things too.
async fn app_built(history: usize, origins: &[&str]) -> App {
    app_over(history, origins, Arc::new(InMemoryTokenVault::new())).await
}

/// The app over `vault`.
async fn app_over(history: usize, origins: &[&str], vault: Arc<dyn TokenVault>) -> App {
    app_full(history, origins, vault, FakeOrg::sample(), |b, _| b).await
}

/// The app over `org`, its router's builder passed through `configure`
/// (after the counts source is set).
async fn app_full(
    history: usize,
    origins: &[&str],
    vault: Arc<dyn TokenVault>,
    org: FakeOrg,
    configure: impl FnOnce(ImportApiBuilder, &FakeSalesforce) -> ImportApiBuilder,
) -> App {
    let redirect = "http://127.0.0.1:9/callback";
    let fake = FakeSalesforce::builder()
        .org(org)
        .redirect_uri(redirect)
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let oauth = Arc::new(
        support::fake::oauth_builder(&fake)
            .build(vault.clone())
            .unwrap(),
    );
    let store = Arc::new(InMemoryJobStore::new());
    let jobs: Arc<dyn JobStore> = store.clone();
    let sink = Arc::new(InMemorySink::new());
    let source = Arc::new(RestSource::builder(oauth.clone()).build().unwrap());
    let importer = Importer::builder(source.clone(), sink.clone(), jobs.clone())
        .vault(vault)
        .page_size(50)
        .build()
        .unwrap();
    let mut builder = ImportApi::builder(importer, jobs, oauth, Arc::new(HeaderAuth))
        .history_limit(history)
        .counts_from(source);
    for origin in origins {
        builder = builder.allow_origin(origin);
    }
    let api = configure(builder, &fake).build();
    let router = axum::Router::new().nest("/api/salesforce", api.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/salesforce", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    App {
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        fake,
        sink,
        jobs: store,
    }
}

async fn app() -> App {
    app_with(50).await
}

impl App {
    /// A request as the admin page sends it: state-changing ones carry
    /// `X-Requested-With` (and no `Origin`, as a non-browser client).
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        who: Option<As>,
    ) -> reqwest::RequestBuilder {
        let marked = method != reqwest::Method::GET;
        let req = self.raw(method, path, who);
        if marked {
            req.header(REQUESTED_WITH, REQUESTED_WITH_VALUE)
        } else {
            req
        }
    }

    /// The page's origin: the server's own (`http://127.0.0.1:port`).
    fn origin(&self) -> String {
        let url = reqwest::Url::parse(&self.base).unwrap();
        url.origin().ascii_serialization()
    }

    /// A request with the session and nothing else.
    fn raw(&self, method: reqwest::Method, path: &str, who: Option<As>) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(who) = who {
            req = req
                .header("x-user", who.user)
                .header("x-tenant", who.tenant)
                .header("x-admin", if who.admin { "1" } else { "0" });
        }
        req
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        who: Option<As<'_>>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let verb = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.request(verb, path, who);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        SPEC.check(method, path, status.as_u16(), &value);
        (status, value)
    }

    /// Connect -> approve at the fake -> the code and state it sends back.
    async fn authorize(&self, who: As<'_>) -> (String, String) {
        let (status, body) = self.call("POST", "/connect", Some(who), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let url = body["authorization_url"].as_str().unwrap();
        assert!(url.starts_with(self.fake.login_url()), "{url}");
        let approval = self.fake.approve(url).await.unwrap();
        (approval.code, approval.state)
    }

    async fn connect(&self, who: As<'_>) {
        let (code, state) = self.authorize(who).await;
        let (status, body) = self
            .call(
                "POST",
                "/callback",
                Some(who),
                Some(json!({"code": code, "state": state})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["connected"], true);
    }

    async fn wait_for_end(&self, who: As<'_>, id: &str) -> Value {
        for _ in 0..600 {
            let (status, job) = self
                .call("GET", &format!("/import/{id}"), Some(who), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if !matches!(job["status"].as_str(), Some("PENDING" | "IN_PROGRESS")) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not end");
    }
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, words: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"], true, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(words), "{message:?} should say {words:?}");
}

#[tokio::test]
async fn requests_without_a_session_are_401() {
    let app = app().await;
    for (method, path) in [
        ("GET", "/status"),
        ("POST", "/connect"),
        ("DELETE", "/disconnect"),
        ("GET", "/import/history"),
        ("GET", "/import/1"),
    ] {
        let (status, body) = app.call(method, path, None, None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "sign in");
    }
}

#[tokio::test]
async fn connect_callback_status_and_disconnect() {
    let app = app().await;
    let (status, body) = app.call("GET", "/status", Some(ADA), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["connected"], false);

    app.connect(ADA).await;
    let (_, body) = app.call("GET", "/status", Some(BOB), None).await;
    assert_eq!(body["connected"], true, "{body}");
    assert_eq!(body["instance_url"], app.fake.instance_url());
    assert_eq!(body["connected_by"], ADA.user);
    assert!(body["connected_at"].is_string());
    // No token in what the page reads.
    assert!(!body.to_string().to_lowercase().contains("token"), "{body}");

    // Another tenant is not connected by it.
    let (_, other) = app.call("GET", "/status", Some(EVE), None).await;
    assert_eq!(other["connected"], false);

    let (status, body) = app.call("DELETE", "/disconnect", Some(ADA), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"was_connected": true, "revoked": true}));
    assert_eq!(app.fake.revocations(), 1);
    let (_, body) = app.call("GET", "/status", Some(ADA), None).await;
    assert_eq!(body["connected"], false);
    let (_, body) = app.call("DELETE", "/disconnect", Some(ADA), None).await;
    assert_eq!(body["was_connected"], false);
}

#[tokio::test]
async fn a_replayed_or_foreign_state_is_refused() {
    let app = app().await;
    // Foreign: Ada's state completed by another tenant's admin.
    let (code, state) = app.authorize(ADA).await;
    let body = json!({"code": code, "state": state});
    let (status, answer) = app
        .call("POST", "/callback", Some(EVE), Some(body.clone()))
        .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "state");
    let (_, eve) = app.call("GET", "/status", Some(EVE), None).await;
    assert_eq!(eve["connected"], false);

    // Replayed: a state works once.
    let (code, state) = app.authorize(ADA).await;
    let body = json!({"code": code, "state": state});
    let (status, _) = app
        .call("POST", "/callback", Some(ADA), Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = app.call("POST", "/callback", Some(ADA), Some(body)).await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "state");
    // A made-up state.
    let made_up = json!({"code": "x", "state": "acme"});
    let (status, answer) = app
        .call("POST", "/callback", Some(ADA), Some(made_up))
        .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "state");
}

#[tokio::test]
async fn bad_bodies_are_400_or_422_with_a_message_never_500() {
    let app = app().await;
    app.connect(ADA).await;
    let send_raw = |path: &str, content_type: Option<&str>, body: &str| {
        let path = path.to_owned();
        let mut req = app
            .request(reqwest::Method::POST, &path, Some(ADA))
            .body(body.to_owned());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            let body = res.json::<Value>().await.unwrap();
            SPEC.check("POST", &path, status.as_u16(), &body);
            (status, body)
        }
    };
    let json_type = Some("application/json");
    let (status, body) = send_raw("/import", json_type, "{not json").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "");
    let (status, body) = send_raw("/import", json_type, r#"{"object_types": "Account"}"#).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "object_types",
    );
    let (status, body) = send_raw("/import", json_type, r#"{"objects": ["Account"]}"#).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "");
    let (status, body) = send_raw("/import", None, r#"{"object_types": ["Account"]}"#).await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type",
    );
    let (status, body) = send_raw("/callback", json_type, r#"{"code": 1}"#).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "");
    let (status, body) = send_raw("/callback", json_type, r#"{"code": "", "state": ""}"#).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "required");

    let (status, body) = app
        .call(
            "POST",
            "/import",
            Some(ADA),
            Some(json!({"object_types": []})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "empty");
    let unknown = json!({"object_types": ["Account", "Lead"]});
    let (status, body) = app.call("POST", "/import", Some(ADA), Some(unknown)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "\"Lead\"");
    let bad_mode = json!({"object_types": ["Account"], "mode": "merge"});
    let (status, body) = app.call("POST", "/import", Some(ADA), Some(bad_mode)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "mode");
    let (status, body) = app.call("GET", "/no/such/thing", Some(ADA), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no such endpoint");
}

#[tokio::test]
async fn only_admins_connect_start_and_cancel() {
    let app = app().await;
    app.connect(ADA).await;
    let start = json!({"object_types": ["Account"]});
    for (method, path, body) in [
        ("POST", "/connect", None),
        ("DELETE", "/disconnect", None),
        ("POST", "/import", Some(start.clone())),
        ("POST", "/import/1/cancel", None),
        (
            "POST",
            "/callback",
            Some(json!({"code": "c", "state": "s"})),
        ),
    ] {
        let (status, answer) = app.call(method, path, Some(BOB), body).await;
        assert_error(status, &answer, StatusCode::FORBIDDEN, "administrator");
    }
    // Reading is for everyone signed in.
    let (status, _) = app.call("GET", "/import/history", Some(BOB), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, objects) = app.call("GET", "/import/objects", Some(BOB), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(objects.as_array().unwrap().len(), 6);
    assert_eq!(objects[1]["object_type"], "Contact");
    assert_eq!(objects[1]["hint"], "Contacts need Accounts");
    assert_eq!(objects[1]["requires"], json!(["Account"]));
}

#[tokio::test]
async fn starting_needs_a_connection() {
    let app = app().await;
    let start = json!({"object_types": ["Account"]});
    let (status, body) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "not connected");
}

#[tokio::test]
async fn an_import_runs_in_the_background_and_is_followed_to_its_end() {
    let app = app().await;
    app.connect(ADA).await;
    app.fake.faults().set_latency(Duration::from_millis(20));
    let all = json!({"object_types": ["Account", "Contact", "Opportunity", "Product2", "Order", "Quote"]});
    let (status, job) = app
        .call("POST", "/import", Some(ADA), Some(all.clone()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert!(
        matches!(job["status"].as_str(), Some("PENDING" | "IN_PROGRESS")),
        "{job}"
    );
    assert_eq!(job["started_by"], ADA.user);
    assert_eq!(job["objects"].as_array().unwrap().len(), 9);
    let id = job["id"].as_str().unwrap().to_owned();

    // One import per tenant at a time.
    let (status, body) = app.call("POST", "/import", Some(ADA), Some(all)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "already running");

    app.fake.faults().set_latency(Duration::ZERO);
    let job = app.wait_for_end(BOB, &id).await;
    assert_eq!(job["status"], "COMPLETED_WITH_ERRORS", "{job}");
    assert_eq!(job["imported"], 468);
    assert_eq!(job["errors"], 5);
    assert_eq!(job["warnings"], 4);
    let log = job["error_log"].as_array().unwrap();
    assert_eq!(log.len(), 9);
    let missing_name = log
        .iter()
        .find(|e| e["sf_id"] == "0035g0000000163AAA")
        .unwrap();
    assert_eq!(missing_name["severity"], "ERROR");
    assert_eq!(missing_name["object_type"], "Contact");
    assert_eq!(missing_name["field"], "LastName");
    let tenant = TenantId::new("acme");
    assert_eq!(app.sink.count(&tenant, &SObject::ACCOUNT), 90);

    let (_, history) = app.call("GET", "/import/history", Some(ADA), None).await;
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["id"], id.as_str());
    assert!(history[0].get("error_log").is_none());

    // Cancelling a finished job is a conflict.
    let (status, body) = app
        .call("POST", &format!("/import/{id}/cancel"), Some(ADA), None)
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "cannot be cancelled");
}

#[tokio::test]
async fn another_tenants_job_is_404_everywhere() {
    let app = app().await;
    app.connect(ADA).await;
    let start = json!({"object_types": ["Account"]});
    let (_, job) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    let id = job["id"].as_str().unwrap().to_owned();
    app.wait_for_end(ADA, &id).await;

    let (status, body) = app
        .call("GET", &format!("/import/{id}"), Some(EVE), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no import job");
    let (status, body) = app
        .call("POST", &format!("/import/{id}/cancel"), Some(EVE), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no import job");
    let (_, history) = app.call("GET", "/import/history", Some(EVE), None).await;
    assert_eq!(history, json!([]));
    let (status, body) = app
        .call("GET", "/import/does-not-exist", Some(ADA), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no import job");
}

#[tokio::test]
async fn cancel_stops_a_running_import() {
    let app = app().await;
    app.connect(ADA).await;
    app.fake.faults().set_latency(Duration::from_millis(100));
    let start = json!({"object_types": ["Account", "Contact", "Opportunity"]});
    let (_, job) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call("POST", &format!("/import/{id}/cancel"), Some(ADA), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.fake.faults().set_latency(Duration::ZERO);
    let job = app.wait_for_end(ADA, &id).await;
    assert_eq!(job["status"], "CANCELLED", "{job}");
    assert!(job["imported"].as_u64().unwrap() < 245, "{job}");
    // The tenant can start again.
    let start = json!({"object_types": ["Account"], "mode": "update"});
    let (status, job) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["mode"], "update");
}

#[tokio::test]
async fn history_is_newest_first_and_limited() {
    let app = app_with(2).await;
    app.connect(ADA).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let start = json!({"object_types": ["Products"]});
        let (status, job) = app.call("POST", "/import", Some(ADA), Some(start)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        let id = job["id"].as_str().unwrap().to_owned();
        app.wait_for_end(ADA, &id).await;
        ids.push(id);
    }
    let (_, history) = app.call("GET", "/import/history", Some(ADA), None).await;
    let listed: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
}

#[tokio::test]
async fn salesforce_refusing_the_code_is_a_400_and_nothing_is_stored() {
    let app = app().await;
    let (_code, state) = app.authorize(ADA).await;
    let forged = json!({"code": "not-the-code-salesforce-sent", "state": state});
    let (status, body) = app.call("POST", "/callback", Some(ADA), Some(forged)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "code exchange");
    assert!(!body.to_string().contains("not-the-code"), "{body}");
    let (_, status) = app.call("GET", "/status", Some(ADA), None).await;
    assert_eq!(status["connected"], false);
}

#[tokio::test]
async fn disconnect_deactivates_even_when_salesforce_cannot_revoke() {
    use salesforce_import_fake::{Endpoint, Failure};
    let app = app().await;
    app.connect(ADA).await;
    app.fake
        .faults()
        .fail_next_on(Endpoint::Revoke, 100, Failure::ConnectionReset);
    let (status, body) = app.call("DELETE", "/disconnect", Some(ADA), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"was_connected": true, "revoked": false}));
    let (_, status) = app.call("GET", "/status", Some(ADA), None).await;
    assert_eq!(status["connected"], false);
    // Starting an import now says why not.
    let start = json!({"object_types": ["Account"]});
    let (status, body) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "not connected");
}

#[tokio::test]
async fn a_job_stopped_by_the_api_limit_is_resumed_to_the_end() {
    let app = app().await;
    app.connect(ADA).await;
    app.fake.faults().rate_limit_after(4);
    let start = json!({"object_types": ["Account", "Contact"]});
    let (_, job) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_end(ADA, &id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job["message"].as_str().unwrap().contains("limit"), "{job}");
    let stopped_at = job["imported"].as_u64().unwrap();
    assert!(stopped_at < 178, "{job}");

    let resume = format!("/import/{id}/resume");
    let (status, body) = app.call("POST", &resume, Some(BOB), None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "administrator");
    let (status, body) = app.call("POST", &resume, Some(EVE), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no import job");

    app.fake.faults().clear_rate_limit();
    // Slow enough that the resumed run is still going when it answers.
    app.fake.faults().set_latency(Duration::from_millis(30));
    let (status, job) = app.call("POST", &resume, Some(ADA), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["id"], id.as_str());
    // The answer is the job as the resumed run has it, not as it failed.
    assert_eq!(job["status"], "IN_PROGRESS", "{job}");
    assert_eq!(job["message"], Value::Null, "{job}");
    let (_, now) = app
        .call("GET", &format!("/import/{id}"), Some(ADA), None)
        .await;
    assert!(
        matches!(
            now["status"].as_str(),
            Some("IN_PROGRESS" | "COMPLETED_WITH_ERRORS")
        ),
        "{now}"
    );
    app.fake.faults().set_latency(Duration::ZERO);
    let job = app.wait_for_end(ADA, &id).await;
    assert_eq!(job["status"], "COMPLETED_WITH_ERRORS", "{job}");
    assert_eq!(job["imported"], 178);
    assert_eq!(job["errors"], 1);
    let tenant = TenantId::new("acme");
    assert_eq!(
        app.sink.count(&tenant, &SObject::ACCOUNT),
        90,
        "no duplicates"
    );
    assert_eq!(
        app.sink.count(&tenant, &SObject::CONTACT),
        88,
        "no duplicates"
    );

    // Only a failed job resumes.
    let (status, body) = app.call("POST", &resume, Some(ADA), None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "cannot be resumed");
}

/// Sends `req`, holds the answer to the document; status, headers, body.
async fn send(
    req: reqwest::RequestBuilder,
    method: &str,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    SPEC.check(method, path, status.as_u16(), &body);
    (status, headers, body)
}

#[tokio::test]
async fn cross_site_requests_are_refused_and_change_nothing() {
    let app = app().await;
    app.connect(ADA).await;
    // A long import, running while another site's forms try their luck.
    app.fake.faults().set_latency(Duration::from_millis(100));
    let start = json!({"object_types": ["Account", "Contact", "Opportunity"]});
    let (status, job) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let cancel = format!("/import/{id}/cancel");
    let resume = format!("/import/{id}/resume");
    let forms: [(&str, &str, &str); 6] = [
        ("POST", "/connect", ""),
        ("POST", "/callback", "code=c&state=s"),
        ("DELETE", "/disconnect", ""),
        ("POST", "/import", "object_types=Account"),
        ("POST", &cancel, ""),
        ("POST", &resume, ""),
    ];
    for (method, path, form) in forms {
        let verb = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        // A form of another site: the browser sends the session and its
        // Origin, and cannot add a header.
        let req = app
            .raw(verb.clone(), path, Some(ADA))
            .header("origin", "http://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        let (status, _, body) = send(req, method, path).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "cross-origin");
        // The same without Origin (a browser or proxy that drops it).
        let req = app
            .raw(verb.clone(), path, Some(ADA))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        let (status, _, body) = send(req, method, path).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "X-Requested-With");
        // The header from a foreign origin (a script there, had CORS let it).
        let req = app
            .request(verb.clone(), path, Some(ADA))
            .header("origin", "http://evil.example")
            .header("content-type", "text/plain")
            .body(form.to_owned());
        let (status, _, body) = send(req, method, path).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "cross-origin");
        // Refused before the session is looked at.
        let req = app
            .raw(verb, path, None)
            .header("origin", "http://evil.example");
        let (status, _, body) = send(req, method, path).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "cross-origin");
    }
    // Nothing changed: still connected, nothing revoked, the job runs on,
    // no other job.
    let (_, status) = app.call("GET", "/status", Some(ADA), None).await;
    assert_eq!(status["connected"], true, "{status}");
    assert_eq!(app.fake.revocations(), 0);
    let (_, job) = app
        .call("GET", &format!("/import/{id}"), Some(ADA), None)
        .await;
    assert!(
        matches!(job["status"].as_str(), Some("PENDING" | "IN_PROGRESS")),
        "{job}"
    );
    let (_, history) = app.call("GET", "/import/history", Some(ADA), None).await;
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");

    // From the page's own origin, with the header: as before.
    let origin = app.origin();
    let page = |method: reqwest::Method, path: &str| {
        app.request(method, path, Some(ADA))
            .header("origin", origin.as_str())
    };
    let (status, _, body) = send(page(reqwest::Method::POST, &cancel), "POST", &cancel).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.fake.faults().set_latency(Duration::ZERO);
    let job = app.wait_for_end(ADA, &id).await;
    assert_eq!(job["status"], "CANCELLED", "{job}");
    let (status, _, body) = send(page(reqwest::Method::POST, &resume), "POST", &resume).await;
    assert_error(status, &body, StatusCode::CONFLICT, "cannot be resumed");
    let start = json!({"object_types": ["Products"]});
    let (status, _, body) = send(
        page(reqwest::Method::POST, "/import").json(&start),
        "POST",
        "/import",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.wait_for_end(ADA, body["id"].as_str().unwrap()).await;
    let (status, _, body) = send(page(reqwest::Method::POST, "/connect"), "POST", "/connect").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let approval = app
        .fake
        .approve(body["authorization_url"].as_str().unwrap())
        .await
        .unwrap();
    let callback = json!({"code": approval.code, "state": approval.state});
    let (status, _, body) = send(
        page(reqwest::Method::POST, "/callback").json(&callback),
        "POST",
        "/callback",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = send(
        page(reqwest::Method::DELETE, "/disconnect"),
        "DELETE",
        "/disconnect",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["was_connected"], true);
}

#[tokio::test]
async fn an_origin_the_host_allows_may_change_things() {
    let app = app_built(50, &["https://CRM.example.com/"]).await;
    let req = app
        .request(reqwest::Method::POST, "/connect", Some(ADA))
        .header("origin", "https://crm.example.com");
    let (status, _, body) = send(req, "POST", "/connect").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let req = app
        .request(reqwest::Method::POST, "/connect", Some(ADA))
        .header("origin", "https://crm.example.com.evil.example");
    let (status, _, body) = send(req, "POST", "/connect").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "cross-origin");
}

#[tokio::test]
async fn long_input_is_not_echoed_back() {
    let app = app().await;
    app.connect(ADA).await;
    let huge = "A".repeat(1 << 20);
    let start = json!({"object_types": [huge.clone()]});
    let (status, body) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "unknown object type",
    );
    assert!(
        body.to_string().len() < 400,
        "{} bytes",
        body.to_string().len()
    );
    let start = json!({"object_types": ["Account"], "mode": huge.clone()});
    let (status, body) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "unknown mode");
    assert!(
        body.to_string().len() < 400,
        "{} bytes",
        body.to_string().len()
    );
    // serde's messages quote the input too.
    let start = json!({"object_types": ["Account"], huge.clone(): 1});
    let (status, body) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().len() < 400,
        "{} bytes",
        body.to_string().len()
    );
    // A long job id in the path: 60 KB reaches the router, which answers
    // briefly.
    let path = format!("/import/{}", "7".repeat(60_000));
    let (status, body) = app.call("GET", &path, Some(ADA), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no import job");
    assert!(
        body.to_string().len() < 400,
        "{} bytes",
        body.to_string().len()
    );
    // An id that is not UTF-8 names no job: the JSON 404, not axum's
    // plain-text 400.
    for (method, path) in [("GET", "/import/%FF"), ("POST", "/import/%FF/cancel")] {
        let (status, body) = app.call(method, path, Some(ADA), None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "no import job");
    }
    // 1 MiB is more than a URI can hold (64 KiB): the HTTP server refuses
    // it itself, briefly.
    let (status, reply) = raw_get(&app.base, &"7".repeat(1 << 20)).await;
    assert!(status.starts_with("HTTP/1.1 4"), "{status}");
    assert!(reply < 400, "{status}: {reply} bytes");
}

/// `GET {base}/import/{id}` over a bare TCP connection (no client would
/// send such a URI); the status line and how many bytes came back.
async fn raw_get(base: &str, id: &str) -> (String, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = reqwest::Url::parse(base).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "GET {}/import/{id} HTTP/1.1\r\nhost: {addr}\r\nx-user: a\r\nx-tenant: acme\r\n\r\n",
        url.path()
    );
    // The server may stop reading (and close) before all of it is sent.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply)).await;
    let text = String::from_utf8_lossy(&reply);
    let status = text.lines().next().unwrap_or_default().to_owned();
    (status, reply.len())
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow_and_the_json_error() {
    let app = app().await;
    for (method, path, allow) in [
        ("PUT", "/status", "GET,HEAD"),
        ("GET", "/connect", "POST"),
        ("POST", "/disconnect", "DELETE"),
        ("PATCH", "/import/1/cancel", "POST"),
    ] {
        let verb = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (status, headers, body) = send(app.request(verb, path, Some(ADA)), method, path).await;
        assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "Allow");
        assert_eq!(headers["allow"], allow, "{method} {path}");
    }
}

/// A vault that keeps tokens encrypted, as a database vault does, and
/// whose key can be replaced: after [`rotate`](RotatingVault::rotate)
/// without the old key, the stored tokens cannot be decrypted.
#[derive(Debug)]
struct RotatingVault {
    cipher: Mutex<TokenCipher>,
    rows: Mutex<HashMap<TenantId, SealedConnection>>,
}

impl RotatingVault {
    fn new() -> RotatingVault {
        RotatingVault {
            cipher: Mutex::new(TokenCipher::new([TokenCipher::generate_key()]).unwrap()),
            rows: Mutex::default(),
        }
    }

    /// A new key, the old one forgotten.
    fn rotate(&self) {
        *self.cipher.lock().unwrap() = TokenCipher::new([TokenCipher::generate_key()]).unwrap();
    }
}

#[async_trait]
impl TokenVault for RotatingVault {
    async fn get(&self, tenant: &TenantId) -> salesforce_import::Result<Option<Connection>> {
        let rows = self.rows.lock().unwrap();
        let cipher = self.cipher.lock().unwrap();
        rows.get(tenant).map(|s| cipher.open(s)).transpose()
    }

    async fn put(
        &self,
        tenant: &TenantId,
        connection: &Connection,
    ) -> salesforce_import::Result<()> {
        let sealed = self.cipher.lock().unwrap().seal(connection);
        self.rows.lock().unwrap().insert(tenant.clone(), sealed);
        Ok(())
    }

    async fn deactivate(&self, tenant: &TenantId) -> salesforce_import::Result<bool> {
        // Tokens dropped: no row to decrypt any more.
        Ok(self
            .rows
            .lock()
            .unwrap()
            .remove(tenant)
            .is_some_and(|s| s.active))
    }
}

#[tokio::test]
async fn a_connection_whose_tokens_cannot_be_decrypted_can_be_replaced_or_cleared() {
    let vault = Arc::new(RotatingVault::new());
    let app = app_over(50, &[], vault.clone()).await;
    app.connect(ADA).await;
    vault.rotate();

    // Not a 500: not connected, and why.
    let (status, body) = app.call("GET", "/status", Some(ADA), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connected"], false, "{body}");
    assert_eq!(body["problem"], "token_unreadable", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("connect again"), "{message}");
    assert!(
        !body.to_string().to_lowercase().contains("token\":"),
        "{body}"
    );

    // Starting says so.
    let start = json!({"object_types": ["Account"]});
    let (status, body) = app
        .call("POST", "/import", Some(ADA), Some(start.clone()))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "not connected");
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "can no longer be read",
    );

    // Disconnecting clears it, without asking Salesforce to revoke
    // tokens nobody can read.
    let (status, body) = app.call("DELETE", "/disconnect", Some(ADA), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["was_connected"], true, "{body}");
    assert_eq!(body["revoked"], false, "{body}");
    assert!(
        body["note"].as_str().unwrap().contains("decrypted"),
        "{body}"
    );
    assert_eq!(app.fake.revocations(), 0);
    let (_, body) = app.call("GET", "/status", Some(ADA), None).await;
    assert_eq!(body["connected"], false, "{body}");
    assert_eq!(body["problem"], Value::Null, "{body}");

    // Connecting again works (with today's key).
    app.connect(ADA).await;
    let (status, job) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job = app.wait_for_end(ADA, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
}

#[tokio::test]
async fn not_connected_messages_name_no_tenant_id() {
    let app = app().await;
    let start = json!({"object_types": ["Account"]});
    let (status, body) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "Salesforce is not connected",
    );
    assert!(!body.to_string().contains(ADA.tenant), "{body}");

    // A job cut off by a disconnect says why, without the tenant either.
    app.connect(ADA).await;
    app.fake.faults().set_latency(Duration::from_millis(30));
    let start = json!({"object_types": ["Account", "Contact"]});
    let (_, job) = app.call("POST", "/import", Some(ADA), Some(start)).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let (status, _) = app.call("DELETE", "/disconnect", Some(ADA), None).await;
    assert_eq!(status, StatusCode::OK);
    let job = app.wait_for_end(ADA, &id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["message"].as_str().unwrap();
    assert!(message.contains("not connected"), "{message}");
    assert!(!message.contains(ADA.tenant), "{message}");
    let resume = format!("/import/{id}/resume");
    let (status, body) = app.call("POST", &resume, Some(ADA), None).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "Salesforce is not connected",
    );
    assert!(!body.to_string().contains(ADA.tenant), "{body}");
}

// ---- the error file, the paged log, login hosts, capabilities, counts ----

/// A finished job of `tenant` in the app's job store whose log has `lines`
/// lines: `n` errors, each naming its record; some cells start like a
/// spreadsheet formula. Returns the job id.
async fn job_with_log(app: &App, tenant: &str, lines: usize) -> String {
    use salesforce_import::jobs::{NewJob, PageRecord};
    use salesforce_import::{LogEntry, Problem, Severity, SfId, WriteMode};
    let tenant = TenantId::new(tenant);
    let new = NewJob::new(
        tenant.clone(),
        "ada@acme.test",
        vec![SObject::CONTACT],
        WriteMode::UpdateChanged,
        chrono::Utc::now(),
    );
    let job = app.jobs.create_job(&new).await.unwrap();
    let entries: Vec<LogEntry> = (0..lines)
        .map(|i| {
            let sf_id = SfId::parse(&format!("003000000{i:06}")).unwrap();
            let (severity, field, message) = match i % 4 {
                0 => (Severity::Error, "LastName", format!("line {i}: missing")),
                1 => (
                    Severity::Warning,
                    "Email",
                    format!("=HYPERLINK(\"x\",\"{i}\")"),
                ),
                2 => (
                    Severity::Error,
                    "-Amount",
                    format!("+{i}, \"quoted\"\nsecond line"),
                ),
                _ => (
                    Severity::Warning,
                    "@Phone",
                    format!("line {i}: \u{e9}t\u{e9}"),
                ),
            };
            let mut entry = LogEntry::new(
                severity,
                SObject::CONTACT,
                Some(sf_id),
                field,
                Problem::Missing,
            );
            entry.message = message;
            entry
        })
        .collect();
    for chunk in entries.chunks(700) {
        let mut page = PageRecord::default();
        page.errors = chunk.len() as u64;
        page.log = chunk.to_vec();
        app.jobs
            .record_page(&tenant, &job.id, &SObject::CONTACT, &page, None)
            .await
            .unwrap();
    }
    // Finished, so that the tenant may start imports.
    app.jobs
        .set_status(
            &tenant,
            &job.id,
            salesforce_import::JobStatus::CompletedWithErrors,
            chrono::Utc::now(),
            None,
            None,
        )
        .await
        .unwrap();
    job.id.to_string()
}

/// The log as `GET /import/{id}/log` pages it, `limit` lines a page.
async fn read_log(app: &App, who: As<'_>, id: &str, limit: usize) -> (Vec<Value>, usize) {
    let (mut lines, mut after, mut pages) = (Vec::new(), 0_u64, 0);
    loop {
        let (status, page) = app
            .call(
                "GET",
                &format!("/import/{id}/log?after={after}&limit={limit}"),
                Some(who),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        let got = page["lines"].as_array().unwrap();
        assert!(got.len() <= limit, "{} lines for limit {limit}", got.len());
        lines.extend(got.iter().cloned());
        match page["next"].as_u64() {
            Some(next) => {
                assert!(pages < 10_000, "the log never ends");
                after = next;
            }
            None => {
                assert!(page["next"].is_null(), "{page}");
                return (lines, pages);
            }
        }
    }
}

#[tokio::test]
async fn log_paging_reads_every_line_exactly_once() {
    let app = app().await;
    let id = job_with_log(&app, "acme", 2_345).await;
    let want: Vec<String> = (0..2_345).map(|i| format!("003000000{i:06}")).collect();
    for limit in [1_000, 333, 7] {
        // A user who is not an admin may read it too.
        let (lines, pages) = read_log(&app, BOB, &id, limit).await;
        let ids: Vec<String> = lines
            .iter()
            .map(|l| l["sf_id"].as_str().unwrap()[..15].to_owned())
            .collect();
        assert_eq!(ids, want, "limit {limit}: every line once, in order");
        assert_eq!(pages, 2_345_usize.div_ceil(limit), "limit {limit}");
    }
    let (_, first) = app
        .call("GET", &format!("/import/{id}/log"), Some(ADA), None)
        .await;
    assert_eq!(
        first["lines"].as_array().unwrap().len(),
        500,
        "the default page"
    );

    // The job's own view says it holds the first 1,000 and where to go on.
    let (status, job) = app
        .call("GET", &format!("/import/{id}"), Some(ADA), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["error_log"].as_array().unwrap().len(), 1_000);
    assert_eq!(job["error_log_truncated"], true);
    let next = job["error_log_next"]
        .as_u64()
        .expect("a cut log says where it goes on");
    let (_, rest) = app
        .call(
            "GET",
            &format!("/import/{id}/log?after={next}&limit=1"),
            Some(ADA),
            None,
        )
        .await;
    assert_eq!(
        rest["lines"][0]["sf_id"].as_str().unwrap()[..15],
        want[1_000]
    );
    let short = job_with_log(&app, "initech", 3).await;
    let who = As {
        tenant: "initech",
        ..ADA
    };
    let (_, job) = app
        .call("GET", &format!("/import/{short}"), Some(who), None)
        .await;
    assert_eq!(job["error_log_truncated"], false, "{job}");
    assert!(job.get("error_log_next").is_none(), "{job}");

    for query in ["limit=0", "limit=1001", "after=-1", "after=x", "limit=1.5"] {
        let (status, body) = app
            .call("GET", &format!("/import/{id}/log?{query}"), Some(ADA), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"], true);
    }
    // Another organization's job does not exist.
    let (status, body) = app
        .call("GET", &format!("/import/{id}/log"), Some(EVE), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no import job");
    let (status, body) = app
        .call("GET", &format!("/import/{id}/log"), None, None)
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "sign in");
}

/// `GET path` as raw text: status, headers, body.
async fn get_text(
    app: &App,
    path: &str,
    who: Option<As<'_>>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let res = app
        .raw(reqwest::Method::GET, path, who)
        .send()
        .await
        .unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.text().await.unwrap())
}

#[tokio::test]
async fn the_error_file_holds_every_log_line_row_by_row() {
    let app = app().await;
    let id = job_with_log(&app, "acme", 2_345).await;
    let path = format!("/import/{id}/errors.csv");
    let (status, headers, text) = get_text(&app, &path, Some(BOB)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"salesforce-import-{id}-errors.csv\"").as_str()
    );
    let (lines, _) = read_log(&app, ADA, &id, 1_000).await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "level",
            "object",
            "salesforce_id",
            "field",
            "problem",
            "message"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), lines.len(), "one row per log line");
    // A cell that would start a formula is text: `'` first.
    let text_cell = |v: &str| {
        if v.starts_with(['=', '+', '-', '@']) {
            format!("'{v}")
        } else {
            v.to_owned()
        }
    };
    for (i, (row, line)) in rows.iter().zip(&lines).enumerate() {
        let want = [
            line["severity"].as_str().unwrap().to_owned(),
            line["object_type"].as_str().unwrap().to_owned(),
            line["sf_id"].as_str().unwrap_or("").to_owned(),
            text_cell(line["field"].as_str().unwrap()),
            "missing".to_owned(),
            text_cell(line["message"].as_str().unwrap()),
        ];
        assert_eq!(row.iter().collect::<Vec<_>>(), want, "row {i}");
        for cell in row.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "row {i}: {cell:?}");
        }
    }
    assert_eq!(&rows[1][5], "'=HYPERLINK(\"x\",\"1\")");
    assert_eq!(&rows[2][3], "'-Amount");
    assert_eq!(&rows[2][5], "'+2, \"quoted\"\nsecond line");
    assert_eq!(&rows[3][3], "'@Phone");
    assert_eq!(&rows[3][5], "line 3: \u{e9}t\u{e9}");

    // A real import's file: the sample org's 5 errors and 4 warnings.
    app.connect(ADA).await;
    let all = json!({"object_types": ["Account", "Contact", "Opportunity", "Product2", "Order", "Quote"]});
    let (_, job) = app.call("POST", "/import", Some(ADA), Some(all)).await;
    let real = job["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_end(ADA, &real).await;
    let (_, _, text) = get_text(&app, &format!("/import/{real}/errors.csv"), Some(ADA)).await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let log = job["error_log"].as_array().unwrap();
    assert_eq!(rows.len(), log.len());
    assert_eq!(rows.iter().filter(|r| &r[0] == "ERROR").count(), 5);
    assert_eq!(rows.iter().filter(|r| &r[0] == "WARNING").count(), 4);
    let missing_name = rows
        .iter()
        .find(|r| &r[2] == "0035g0000000163AAA" && &r[0] == "ERROR")
        .unwrap();
    assert_eq!(
        missing_name.iter().take(5).collect::<Vec<_>>(),
        [
            "ERROR",
            "Contact",
            "0035g0000000163AAA",
            "LastName",
            "missing"
        ]
    );

    // Not the caller's job: the JSON 404; no session: 401.
    for (who, expected) in [
        (Some(EVE), StatusCode::NOT_FOUND),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        let (status, headers, text) = get_text(&app, &path, who).await;
        assert_eq!(status, expected, "{text}");
        assert_eq!(headers["content-type"], "application/json");
        let body: Value = serde_json::from_str(&text).unwrap();
        SPEC.check("GET", &path, status.as_u16(), &body);
    }
    // An id that would break out of the header is not echoed into it.
    let (status, headers, _) = get_text(&app, "/import/a%22b%0d%0a/errors.csv", Some(ADA)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers.get("content-disposition").is_none());
}

#[tokio::test]
async fn connect_takes_the_login_host_the_admin_chose_within_the_allow_list() {
    // `production` stands for an unreachable loopback host here, `sandbox`
    // for the fake org.
    let app = app_full(
        50,
        &[],
        Arc::new(InMemoryTokenVault::new()),
        FakeOrg::sample(),
        |b, fake| {
            b.login_hosts(
                salesforce_import::http::LoginHost::url("http://127.0.0.1:9"),
                salesforce_import::http::LoginHost::url(fake.login_url()),
            )
        },
    )
    .await;
    let connect = |body: Option<Value>, who: As<'static>| {
        let app = &app;
        async move { app.call("POST", "/connect", Some(who), body).await }
    };
    let (status, body) = connect(Some(json!({"login_host": "production"})), ADA).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["authorization_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:9/services/oauth2/authorize?"),
        "{body}"
    );
    for (choice, host) in [
        ("acme", "https://acme.my.salesforce.com/"),
        (
            "acme--uat.sandbox.my.salesforce.com",
            "https://acme--uat.sandbox.my.salesforce.com/",
        ),
        (
            "https://Acme.my.salesforce.com/",
            "https://acme.my.salesforce.com/",
        ),
    ] {
        let (status, body) = connect(Some(json!({ "login_host": choice })), ADA).await;
        assert_eq!(status, StatusCode::OK, "{choice}: {body}");
        let url = body["authorization_url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{host}services/oauth2/authorize?")),
            "{choice}: {url}"
        );
    }
    // Off the allow-list, or not a host at all: the JSON 400.
    for (choice, says) in [
        ("evil.example", "not an allowed Salesforce host"),
        (
            "salesforce.com.evil.example",
            "not an allowed Salesforce host",
        ),
        ("http://127.0.0.1:9", "not a login host"),
        (
            "acme.my.salesforce.com/services/oauth2/token?x=",
            "not a login host",
        ),
        ("", "not a login host"),
    ] {
        let (status, body) = connect(Some(json!({ "login_host": choice })), ADA).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, says);
    }
    let (status, body) = connect(Some(json!({"login_host": 7})), ADA).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = connect(Some(json!({"login": "sandbox"})), ADA).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = connect(Some(json!({"login_host": "sandbox"})), BOB).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "administrator");
    let req = app
        .request(reqwest::Method::POST, "/connect", Some(ADA))
        .header("content-type", "text/plain")
        .body("sandbox");
    let (status, _, body) = send(req, "POST", "/connect").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");

    // The sandbox, all the way: its code is exchanged at its own token
    // endpoint (the flow remembers the host it began at).
    let (status, body) = connect(Some(json!({"login_host": "Sandbox"})), ADA).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["authorization_url"].as_str().unwrap();
    assert!(url.starts_with(app.fake.login_url()), "{url}");
    let approval = app.fake.approve(url).await.unwrap();
    let callback = json!({"code": approval.code, "state": approval.state});
    let (status, body) = app
        .call("POST", "/callback", Some(ADA), Some(callback))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connected"], true);
    assert_eq!(app.fake.code_exchanges(), 1);
    // No body at all: the login host the server is configured with.
    let (status, body) = connect(None, ADA).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["authorization_url"]
            .as_str()
            .unwrap()
            .starts_with(app.fake.login_url())
    );
}

#[tokio::test]
async fn status_says_what_the_caller_may_do() {
    let app = app().await;
    let all = json!({"connect": true, "disconnect": true, "import": true, "cancel": true, "resume": true});
    let none = json!({"connect": false, "disconnect": false, "import": false, "cancel": false, "resume": false});
    for connected in [false, true] {
        if connected {
            app.connect(ADA).await;
        }
        let (status, body) = app.call("GET", "/status", Some(ADA), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["connected"], connected);
        assert_eq!(body["can"], all, "an admin");
        let (_, body) = app.call("GET", "/status", Some(BOB), None).await;
        assert_eq!(body["can"], none, "a user who is not an admin");
    }
    // What `can` says is what the router does: each refused to Bob.
    let (_, job) = app
        .call(
            "POST",
            "/import",
            Some(ADA),
            Some(json!({"object_types": ["Product2"]})),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    app.wait_for_end(ADA, &id).await;
    for (method, path) in [
        ("POST", "/connect".to_owned()),
        ("DELETE", "/disconnect".to_owned()),
        ("POST", "/import".to_owned()),
        ("POST", format!("/import/{id}/cancel")),
        ("POST", format!("/import/{id}/resume")),
    ] {
        let body = (path == "/import").then(|| json!({"object_types": ["Account"]}));
        let (status, body) = app.call(method, &path, Some(BOB), body).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "administrator");
    }
}

#[tokio::test]
async fn counts_are_one_count_query_per_object_kept_a_minute() {
    let app = app_full(
        50,
        &[],
        Arc::new(InMemoryTokenVault::new()),
        FakeOrg::sample().without_object(SObject::QUOTE),
        |b, _| b,
    )
    .await;
    let (status, body) = app.call("GET", "/import/counts", Some(ADA), None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "not connected");
    app.connect(ADA).await;
    let org = app.fake.org();
    for who in [ADA, BOB, ADA] {
        let (status, body) = app.call("GET", "/import/counts", Some(who), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let counts = body.as_array().unwrap();
        let names: Vec<&str> = counts
            .iter()
            .map(|c| c["object_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Account",
                "Contact",
                "Opportunity",
                "Product2",
                "Order",
                "Quote"
            ]
        );
        for c in counts {
            let object = SObject::new(c["object_type"].as_str().unwrap());
            if object == SObject::QUOTE {
                assert_eq!(c["available"], false, "{c}");
                assert!(c["count"].is_null(), "{c}");
            } else {
                assert_eq!(c["available"], true, "{c}");
                assert_eq!(c["count"], org.count(&object), "{c}");
                assert!(org.count(&object) > 0, "{c}");
            }
        }
    }
    let counted: Vec<String> = app
        .fake
        .queries()
        .into_iter()
        .filter(|q| q.starts_with("SELECT COUNT()"))
        .collect();
    assert_eq!(
        counted.len(),
        6,
        "one query per object, then the cache: {counted:?}"
    );
    assert!(
        counted.contains(&"SELECT COUNT() FROM Product2".to_owned()),
        "{counted:?}"
    );
    let (status, body) = app.call("GET", "/import/counts", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "sign in");
}

/// Every state-changing operation the document lists (so any added later
/// too), sent as another site's form would send it: refused with 403,
/// nothing changed.
#[tokio::test]
async fn a_cross_origin_form_to_every_state_changing_endpoint_is_refused() {
    let app = app().await;
    app.connect(ADA).await;
    app.fake.faults().set_latency(Duration::from_millis(100));
    let (status, job) = app
        .call(
            "POST",
            "/import",
            Some(ADA),
            Some(json!({"object_types": ["Account", "Contact"]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let mut refused = Vec::new();
    for (template, item) in SPEC.doc()["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method == "get" {
                continue;
            }
            let path = template.replace("{id}", &id);
            let verb = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            for body in [
                "",
                "object_types=Account&login_host=evil.example&code=c&state=s",
            ] {
                let req = app
                    .raw(verb.clone(), &path, Some(ADA))
                    .header("origin", "https://evil.example")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
                let (status, _, answer) = send(req, &method.to_ascii_uppercase(), &path).await;
                assert_error(status, &answer, StatusCode::FORBIDDEN, "cross-origin");
            }
            refused.push(format!("{method} {template}"));
        }
    }
    refused.sort();
    assert_eq!(
        refused,
        [
            "delete /disconnect",
            "post /callback",
            "post /connect",
            "post /import",
            "post /import/preview",
            "post /import/{id}/cancel",
            "post /import/{id}/resume",
        ],
        "the state-changing endpoints"
    );
    let (_, status) = app.call("GET", "/status", Some(ADA), None).await;
    assert_eq!(status["connected"], true);
    assert_eq!(app.fake.revocations(), 0);
    let (_, job) = app
        .call("GET", &format!("/import/{id}"), Some(ADA), None)
        .await;
    assert!(
        matches!(job["status"].as_str(), Some("PENDING" | "IN_PROGRESS")),
        "{job}"
    );
    let (_, history) = app.call("GET", "/import/history", Some(ADA), None).await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    app.fake.faults().set_latency(Duration::ZERO);
}

#[tokio::test]
async fn a_preview_foretells_the_import_and_writes_nothing_then_the_missing_parents_download() {
    let app = app().await;
    app.connect(ADA).await;
    let all = json!({"object_types": ["Account", "Contact", "Opportunity", "Product2", "Order", "Quote"]});
    // Only admins, and only with a connection's data read.
    let (status, body) = app
        .call("POST", "/import/preview", Some(BOB), Some(all.clone()))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "admin");
    let (status, preview) = app
        .call("POST", "/import/preview", Some(ADA), Some(all.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let tenant = TenantId::new("acme");
    assert_eq!(
        app.sink.count(&tenant, &SObject::ACCOUNT),
        0,
        "nothing written"
    );
    let (_, history) = app.call("GET", "/import/history", Some(ADA), None).await;
    assert!(history.as_array().unwrap().is_empty(), "no job: {history}");
    let rejections = preview["rejections"].as_array().unwrap();
    assert_eq!(rejections.len(), 5, "{preview}");
    assert!(rejections.iter().all(|r| r["severity"] == "ERROR"));

    let (status, job) = app.call("POST", "/import", Some(ADA), Some(all)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_end(ADA, &id).await;
    let objects = job["objects"].as_array().unwrap();
    let foretold = preview["objects"].as_array().unwrap();
    assert_eq!(objects.len(), foretold.len());
    for (o, p) in objects.iter().zip(foretold) {
        assert_eq!(o["object_type"], p["object_type"]);
        for (done, said) in [
            ("imported", "create"),
            ("updated", "update"),
            ("skipped", "skip"),
            ("deleted", "delete"),
            ("errors", "reject"),
        ] {
            assert_eq!(
                o[done], p[said],
                "{}: {done} against {said}",
                o["object_type"]
            );
        }
    }

    let path = format!("/import/{id}/missing-parents.csv");
    let (status, headers, text) = get_text(&app, &path, Some(BOB)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        headers[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(&format!("salesforce-import-{id}-missing-parents.csv"))
    );
    assert_eq!(
        text,
        "object,sf_id,field,parent_object,parent_id,reason\n\
         Order,8015g00000000YdAAI,AccountId,Account,0015g00000ZZZZZAA5,not_found\n\
         OrderItem,8025g00000000zUAAQ,OrderId,Order,8015g00000000YdAAI,failed\n\
         OrderItem,8025g0000000105AAA,OrderId,Order,8015g00000000YdAAI,failed\n"
    );
    // Another tenant's job is not found.
    let (status, _, _) = get_text(&app, &path, Some(EVE)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
