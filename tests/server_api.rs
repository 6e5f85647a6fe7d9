//! The router over real HTTP: every endpoint and error path, against the
//! fake Salesforce org on loopback. Every answer is held to the OpenAPI
//! document: its status must be documented for its route, and its body
//! must match that status's schema.

mod support;

#[path = "support/openapi.rs"]
mod openapi;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::request::Parts;
use reqwest::StatusCode;
use salesforce_import::http::RestSource;
use salesforce_import::server::{Authenticate, Caller, ImportApi};
use salesforce_import::{
    Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault, JobStore, SObject, TenantId,
    TokenVault,
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
    let redirect = "http://127.0.0.1:9/callback";
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::sample())
        .redirect_uri(redirect)
        .min_batch_size(1)
        .start()
        .await
        .unwrap();
    let vault: Arc<dyn TokenVault> = Arc::new(InMemoryTokenVault::new());
    let oauth = Arc::new(
        support::fake::oauth_builder(&fake)
            .build(vault.clone())
            .unwrap(),
    );
    let jobs: Arc<dyn JobStore> = Arc::new(InMemoryJobStore::new());
    let sink = Arc::new(InMemorySink::new());
    let source = Arc::new(RestSource::builder(oauth.clone()).build().unwrap());
    let importer = Importer::builder(source, sink.clone(), jobs.clone())
        .vault(vault)
        .page_size(50)
        .build()
        .unwrap();
    let api = ImportApi::builder(importer, jobs, oauth, Arc::new(HeaderAuth))
        .history_limit(history)
        .build();
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
    }
}

async fn app() -> App {
    app_with(50).await
}

impl App {
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        who: Option<As>,
    ) -> reqwest::RequestBuilder {
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
    let (status, job) = app.call("POST", &resume, Some(ADA), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["id"], id.as_str());
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
