//! Helpers of the Bulk API 2.0 tests: job requests, a CSV reader, the
//! comparison of a CSV row with a REST record.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{Api, records};

pub fn jobs_url(api: &Api, version: &str, rest: &str) -> String {
    format!("{}/services/data/v{version}/jobs/query{rest}", api.base)
}

pub async fn answer(req: reqwest::RequestBuilder, api: &Api) -> (StatusCode, HeaderMap, String) {
    let resp = req
        .bearer_auth(api.token.expose_secret())
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

pub fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::String(text.to_owned()))
}

/// `POST /jobs/query` with this body.
pub async fn create_with(api: &Api, body: Value) -> (StatusCode, Value) {
    let url = jobs_url(api, &api.version, "");
    let (status, _, text) = answer(api.http.post(url).json(&body), api).await;
    (status, json_of(&text))
}

pub async fn create(api: &Api, operation: &str, soql: &str) -> (StatusCode, Value) {
    create_with(api, json!({"operation": operation, "query": soql})).await
}

pub async fn poll(api: &Api, id: &str) -> (StatusCode, Value) {
    let url = jobs_url(api, &api.version, &format!("/{id}"));
    let (status, _, text) = answer(api.http.get(url), api).await;
    (status, json_of(&text))
}

pub async fn results(
    api: &Api,
    id: &str,
    query: &[(&str, String)],
) -> (StatusCode, HeaderMap, String) {
    let url = jobs_url(api, &api.version, &format!("/{id}/results"));
    answer(api.http.get(url).query(query), api).await
}

pub async fn abort(api: &Api, id: &str) -> (StatusCode, Value) {
    let url = jobs_url(api, &api.version, &format!("/{id}"));
    let req = api.http.patch(url).json(&json!({"state": "Aborted"}));
    let (status, _, text) = answer(req, api).await;
    (status, json_of(&text))
}

pub async fn delete(api: &Api, id: &str) -> StatusCode {
    let url = jobs_url(api, &api.version, &format!("/{id}"));
    answer(api.http.delete(url), api).await.0
}

/// Creates a job and polls it until it leaves InProgress; its id.
pub async fn completed(api: &Api, operation: &str, soql: &str) -> String {
    let (status, job) = create(api, operation, soql).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    for _ in 0..10 {
        let (_, info) = poll(api, &id).await;
        if info["state"] == "JobComplete" {
            return id;
        }
        assert_eq!(info["state"], "InProgress", "{info}");
    }
    panic!("job {id} never completed");
}

/// Every result set of a job, `max` records at a time: the header and rows.
pub async fn read_all(api: &Api, id: &str, max: u64) -> (Vec<String>, Vec<Vec<String>>) {
    let (mut rows, mut locator) = (Vec::new(), None::<String>);
    loop {
        let mut query = vec![("maxRecords", max.to_string())];
        if let Some(l) = &locator {
            query.push(("locator", l.clone()));
        }
        let (status, headers, text) = results(api, id, &query).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(headers["content-type"], "text/csv");
        let mut set = parse_csv(&text);
        let header = set.remove(0);
        let count: usize = headers["sforce-numberofrecords"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(count, set.len());
        assert!(count as u64 <= max);
        rows.extend(set);
        match headers["sforce-locator"].to_str().unwrap() {
            "null" => return (header, rows),
            next => locator = Some(next.to_owned()),
        }
    }
}

/// A CSV reader for the test: quoted fields, doubled quotes, line breaks
/// inside quotes, LF or CRLF line endings.
pub fn parse_csv_with(text: &str, delimiter: char) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) if c == delimiter => row.push(std::mem::take(&mut field)),
            (false, c) => panic!("unquoted {c:?} in {text}"),
        }
    }
    assert!(
        row.is_empty() && field.is_empty(),
        "rows end with a line ending"
    );
    rows
}

pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    parse_csv_with(text, ',')
}

/// Asserts a CSV row holds a REST record's values; returns the kinds seen.
pub fn assert_same(record: &Value, header: &[String], row: &[String]) -> Vec<&'static str> {
    assert_eq!(header.len(), row.len());
    let mut kinds = Vec::new();
    for (name, cell) in header.iter().zip(row) {
        let value = match name.split_once('.') {
            Some((rel, _)) if record[rel].is_null() => {
                kinds.push("null parent");
                Value::Null
            }
            Some((rel, field)) => record[rel][field].clone(),
            None => record[name.as_str()].clone(),
        };
        let at = value
            .as_str()
            .and_then(|s| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z").ok());
        kinds.push(match (&value, at) {
            (Value::Null, _) => {
                assert_eq!(cell, "", "{name}");
                "null"
            }
            (Value::Bool(b), _) => {
                assert_eq!(cell, &b.to_string(), "{name}");
                "bool"
            }
            (Value::Number(n), _) => {
                assert_eq!(cell.parse::<f64>().ok(), n.as_f64(), "{name}");
                "number"
            }
            (Value::String(_), Some(at)) => {
                let utc = at.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%S%.3fZ");
                assert_eq!(cell, &utc.to_string(), "{name}");
                "datetime"
            }
            (Value::String(s), None) => {
                assert_eq!(cell, s, "{name}");
                "text"
            }
            (other, _) => panic!("{name}: {other}"),
        });
    }
    kinds
}

/// The REST query's records for the same SOQL (ordered by Id).
pub async fn rest_records(api: &Api, resource: &str, soql: &str) -> Vec<Value> {
    records(&api.pages(resource, soql, None).await.0)
}
