//! Helpers for the fake Salesforce tests: a small REST caller, fixtures,
//! JSON key sets.
#![allow(dead_code)]

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use salesforce_import::{SObject, SfId, SfRecord};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

pub mod bulk;

/// A fake with the sample org and default settings.
pub async fn start_default() -> FakeSalesforce {
    FakeSalesforce::builder().start().await.unwrap()
}

/// A recorded Salesforce response from the workspace's
/// tests/fixtures/api-responses (their sources are in SOURCES.md there).
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/api-responses/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap();
    // token-authorization-code.json wraps the object in an array.
    match value {
        Value::Array(mut a) if name.starts_with("token-") => a.remove(0),
        v => v,
    }
}

/// The keys of a JSON object.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// Calls the fake's REST API with a token.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub version: String,
    pub token: SecretString,
}

impl Api {
    pub fn new(fake: &FakeSalesforce) -> Api {
        Api::with_token(fake, fake.issue_tokens().0)
    }

    pub fn with_token(fake: &FakeSalesforce, token: SecretString) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: fake.url().to_owned(),
            version: fake.api_version().to_owned(),
            token,
        }
    }

    pub fn with_version(fake: &FakeSalesforce, version: &str) -> Api {
        Api {
            version: version.to_owned(),
            ..Api::new(fake)
        }
    }

    /// GET a path below `/services/data/vNN.N/`.
    pub async fn get(&self, path: &str) -> (StatusCode, HeaderMap, Value) {
        self.get_url(&format!("/services/data/v{}/{path}", self.version), None)
            .await
    }

    /// GET a server-relative URL (a `nextRecordsUrl`).
    pub async fn get_url(&self, url: &str, batch: Option<u32>) -> (StatusCode, HeaderMap, Value) {
        let mut req = self
            .http
            .get(format!("{}{url}", self.base))
            .bearer_auth(self.token.expose_secret());
        if let Some(b) = batch {
            req = req.header("Sforce-Query-Options", format!("batchSize={b}"));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    /// The first page of a query.
    pub async fn query(&self, soql: &str, batch: Option<u32>) -> (StatusCode, HeaderMap, Value) {
        self.query_on("query", soql, batch).await
    }

    /// The first page of a query on `query` or `queryAll`.
    pub async fn query_on(
        &self,
        resource: &str,
        soql: &str,
        batch: Option<u32>,
    ) -> (StatusCode, HeaderMap, Value) {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        self.get_url(
            &format!("/services/data/v{}/{resource}?q={q}", self.version),
            batch,
        )
        .await
    }

    /// Every page of a query, following nextRecordsUrl, and the Ids read.
    pub async fn query_all(&self, soql: &str, batch: Option<u32>) -> (Vec<Value>, Vec<String>) {
        self.pages("query", soql, batch).await
    }

    /// Every page of a query on `query` or `queryAll`, following
    /// nextRecordsUrl, and the Ids read.
    pub async fn pages(
        &self,
        resource: &str,
        soql: &str,
        batch: Option<u32>,
    ) -> (Vec<Value>, Vec<String>) {
        let (status, _, mut page) = self.query_on(resource, soql, batch).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut pages = Vec::new();
        let mut ids = Vec::new();
        loop {
            for r in page["records"].as_array().unwrap() {
                ids.push(r["Id"].as_str().unwrap().to_owned());
            }
            let next = page
                .get("nextRecordsUrl")
                .and_then(Value::as_str)
                .map(str::to_owned);
            pages.push(page);
            let Some(next) = next else { break };
            let (status, _, p) = self.get_url(&next, batch).await;
            assert_eq!(status, StatusCode::OK, "{p}");
            page = p;
        }
        (pages, ids)
    }
}

// Helpers of the sync tests.

pub fn fields(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

pub fn id(s: &str) -> SfId {
    SfId::parse(s).unwrap()
}

/// Salesforce's spelling of a stamp: `2026-01-01T00:00:00.000+0000`.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

pub fn modstamp(record: &SfRecord) -> DateTime<Utc> {
    record.datetime("SystemModstamp").unwrap().unwrap()
}

pub fn records(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["records"].as_array().unwrap().clone())
        .collect()
}

pub fn ids(org: &FakeOrg, object: &SObject) -> Vec<SfId> {
    org.records(object, usize::MAX)
        .iter()
        .map(|r| r.id().unwrap())
        .collect()
}

pub async fn serve(org: FakeOrg) -> FakeSalesforce {
    FakeSalesforce::builder()
        .org(org)
        .min_batch_size(1)
        .start()
        .await
        .unwrap()
}
