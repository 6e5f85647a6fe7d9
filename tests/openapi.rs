//! The OpenAPI document against the router that serves it: every route
//! it lists answers over real HTTP with the methods it lists and no
//! others, and it is served at `/openapi.json` without a session.
//! (tests/server_api.rs holds every answer of every flow to it.)

mod support;

#[path = "support/openapi.rs"]
mod openapi;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::request::Parts;
use reqwest::{Method, StatusCode};
use salesforce_import::http::RestSource;
use salesforce_import::server::{Authenticate, Caller, ImportApi};
use salesforce_import::{
    Importer, InMemoryJobStore, InMemorySink, InMemoryTokenVault, JobStore, TokenVault,
};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use serde_json::{Value, json};

use openapi::Spec;

/// Nobody is signed in.
#[derive(Debug)]
struct NoSessions;

#[async_trait]
impl Authenticate for NoSessions {
    async fn authenticate(&self, _parts: &Parts) -> Option<Caller> {
        None
    }
}

/// The router mounted at `/api/salesforce`; its base URL.
async fn serve() -> (String, FakeSalesforce) {
    let fake = FakeSalesforce::builder()
        .org(FakeOrg::sample())
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
    let source = Arc::new(RestSource::builder(oauth.clone()).build().unwrap());
    let importer = Importer::builder(source, Arc::new(InMemorySink::new()), jobs.clone())
        .vault(vault)
        .build()
        .unwrap();
    let api = ImportApi::builder(importer, jobs, oauth, Arc::new(NoSessions)).build();
    let app = axum::Router::new().nest("/api/salesforce", api.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/salesforce", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, fake)
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[tokio::test]
async fn every_documented_route_answers_its_methods_and_only_those() {
    let (base, _fake) = serve().await;
    let spec = Spec::load();
    let http = reqwest::Client::new();
    let paths = spec.doc()["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 16);
    let mut operations = 0;
    for (template, item) in paths {
        let path = template.replace("{id}", "42");
        for method in METHODS {
            let verb = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            // As the page sends it: state-changing requests carry the
            // header the router requires.
            let res = http
                .request(verb, format!("{base}{path}"))
                .header("x-requested-with", "salesforce-import")
                .send()
                .await
                .unwrap();
            let status = res.status();
            let allow = res.headers().get("allow").cloned();
            let text = res.text().await.unwrap();
            let body = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            };
            match item.get(method) {
                Some(operation) => {
                    operations += 1;
                    let public = operation.get("security").is_none();
                    let expected = if public {
                        StatusCode::OK
                    } else {
                        StatusCode::UNAUTHORIZED
                    };
                    assert_eq!(status, expected, "{method} {template}: {body}");
                    spec.check(method, &path, status.as_u16(), &body);
                }
                None => {
                    assert_eq!(
                        status,
                        StatusCode::METHOD_NOT_ALLOWED,
                        "{method} {template} is routed but not documented"
                    );
                    assert!(allow.is_some(), "{method} {template}: no Allow header");
                    let error = json!({"$ref": "#/components/schemas/Error"});
                    spec.assert_valid(&body, &error, &format!("{method} {template} 405"));
                }
            }
        }
    }
    assert_eq!(operations, 16);
}

#[tokio::test]
async fn the_document_is_served_without_a_session_with_its_mount_point_as_server() {
    let (base, _fake) = serve().await;
    let res = reqwest::get(format!("{base}/openapi.json")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    let mut served: Value = res.json().await.unwrap();
    assert_eq!(served["servers"], json!([{"url": "."}]));
    served.as_object_mut().unwrap().remove("servers");
    assert_eq!(served, *Spec::load().doc());
}

#[test]
fn the_document_describes_auth_errors_and_enums() {
    let spec = Spec::load();
    let doc = spec.doc();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc.get("servers").is_none(), "the host sets servers");
    assert_eq!(
        doc["components"]["securitySchemes"]["host_session"]["type"],
        "apiKey"
    );
    assert!(
        doc["info"]["description"]
            .as_str()
            .unwrap()
            .contains("Authentication")
    );
    let schemas = &doc["components"]["schemas"];
    for (name, values) in [
        (
            "JobStatus",
            json!([
                "PENDING",
                "IN_PROGRESS",
                "COMPLETED",
                "COMPLETED_WITH_ERRORS",
                "FAILED",
                "CANCELLED"
            ]),
        ),
        (
            "ObjectState",
            json!([
                "PENDING",
                "IMPORTING",
                "DONE",
                "FAILED",
                "UNAVAILABLE",
                "CANCELLED"
            ]),
        ),
        ("Mode", json!(["skip_existing", "update", "update_changed"])),
        ("Severity", json!(["ERROR", "WARNING"])),
        (
            "ObjectTypeName",
            json!([
                "Account",
                "Contact",
                "Opportunity",
                "Product2",
                "Order",
                "Quote"
            ]),
        ),
    ] {
        assert_eq!(schemas[name]["enum"], values, "{name}");
    }
    // Every error status of every operation answers the error schema, and
    // every operation but the document's needs the host's session.
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if !status.starts_with('2') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {template} {status}"
                    );
                }
            }
            let secured = operation["security"] == json!([{"host_session": []}]);
            assert_eq!(secured, template != "/openapi.json", "{method} {template}");
            assert_eq!(
                operation["responses"].get("401").is_some(),
                secured,
                "{method} {template}"
            );
        }
    }
}

/// The endpoints of the error file, the paged log, the counts and the
/// login host are documented with their parameters, bodies and headers.
#[test]
fn the_document_describes_the_log_the_error_file_counts_and_login_hosts() {
    let spec = Spec::load();
    let doc = spec.doc();
    let paths = &doc["paths"];
    let log = &paths["/import/{id}/log"]["get"];
    let params: Vec<&str> = log["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["id", "after", "limit"]);
    assert_eq!(
        log["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/LogPage"
    );
    let page = json!({"lines": [{"severity": "ERROR", "object_type": "Contact", "label": "Contacts",
        "sf_id": "0035e00000AbCdEAAV", "field": "LastName", "message": "missing"}], "next": 7});
    assert_eq!(
        spec.errors(&page, &json!({"$ref": "#/components/schemas/LogPage"})),
        Vec::<String>::new()
    );
    let csv = &paths["/import/{id}/errors.csv"]["get"]["responses"]["200"];
    assert!(csv["content"]["text/csv"].is_object(), "{csv}");
    assert!(csv["headers"]["Content-Disposition"].is_object(), "{csv}");
    let counts = &paths["/import/counts"]["get"]["responses"]["200"]["content"]["application/json"];
    assert_eq!(
        counts["schema"]["items"]["$ref"],
        "#/components/schemas/ObjectCount"
    );
    let connect = &paths["/connect"]["post"];
    // Not required (absent means false in OpenAPI).
    assert_ne!(connect["requestBody"]["required"], true, "{connect}");
    let body = &doc["components"]["schemas"]["ConnectRequest"];
    assert!(body["properties"]["login_host"].is_object(), "{body}");
    let status = &doc["components"]["schemas"]["Status"];
    assert!(
        status["required"]
            .as_array()
            .unwrap()
            .contains(&json!("can")),
        "{status}"
    );
    let can = &doc["components"]["schemas"]["Capabilities"]["properties"];
    for action in ["connect", "disconnect", "import", "cancel", "resume"] {
        assert_eq!(can[action]["type"], "boolean", "{action}");
    }
    let job = &doc["components"]["schemas"]["Job"]["properties"];
    assert!(job["error_log_truncated"].is_object() && job["error_log_next"].is_object());
}

/// The checker tests/server_api.rs relies on finds what it should.
#[test]
fn the_checker_refuses_undeclared_missing_and_mistyped_properties() {
    let spec = Spec::load();
    let job = json!({"$ref": "#/components/schemas/Job"});
    let valid = json!({
        "id": "7", "status": "COMPLETED", "started_by": "ada", "created_at": "2026-01-02T03:04:05Z",
        "started_at": null, "completed_at": null, "mode": "update", "message": null,
        "interrupted": false, "imported": 1, "skipped": 0, "errors": 0, "warnings": 0,
        "sync": false, "updated": 0, "deleted": 0,
        "objects": [{"object_type": "Account", "label": "Accounts", "state": "DONE", "total": 1,
                     "imported": 1, "updated": 0, "skipped": 0, "deleted": 0, "errors": 0,
                     "warnings": 0}],
    });
    assert_eq!(spec.errors(&valid, &job), Vec::<String>::new());

    let mut extra = valid.clone();
    extra["secret"] = json!("x");
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("started_by");
    let mut bad_enum = valid.clone();
    bad_enum["objects"][0]["state"] = json!("RUNNING");
    let mut bad_type = valid.clone();
    bad_type["imported"] = json!(-1);
    let mut bad_date = valid;
    bad_date["created_at"] = json!("yesterday");
    for (broken, says) in [
        (extra, "\"secret\" is not declared"),
        (missing, "required \"started_by\" is missing"),
        (bad_enum, "$.objects[0].state"),
        (bad_type, "$.imported"),
        (bad_date, "not an RFC 3339 date-time"),
    ] {
        let errors = spec.errors(&broken, &job);
        assert!(
            errors.iter().any(|e| e.contains(says)),
            "{says}: {errors:?}"
        );
    }
    assert_eq!(spec.template("/import/history"), Some("/import/history"));
    assert_eq!(
        spec.template("/import/42/cancel"),
        Some("/import/{id}/cancel")
    );
    assert_eq!(spec.template("/import/42/nope"), None);
}
