//! The REST data endpoints: versions, query and its following pages,
//! describe global, describe, limits.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::filter::{self, Rows};
use super::render::Column;
use super::schema::ObjectSchema;
use super::soql::{self, Query, Select, SoqlError};
use super::{FakeOrg, Shared, schema};

/// A Salesforce REST error: `[{"message": .., "errorCode": ..}]`.
pub(crate) fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        json!([{"message": message, "errorCode": code}]).to_string(),
    )
        .into_response()
}

pub(crate) fn not_found() -> Response {
    sf_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

pub(crate) fn json_text(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body,
    )
        .into_response()
}

/// An open query: which records it returns (fixed when it started), and
/// how far a page reaches.
#[derive(Debug, Clone)]
pub(crate) struct Locator {
    object: String,
    columns: Vec<Column>,
    rows: Rows,
    batch: u64,
}

/// A query planned: its records to page through, or its count.
enum Planned {
    Records(Locator),
    Count(u64),
}

/// `vNN.N` → `NN.N`, if this org serves it.
pub(crate) fn version<'a>(shared: &Shared, segment: &'a str) -> Option<&'a str> {
    segment
        .strip_prefix('v')
        .filter(|v| shared.config.versions.iter().any(|s| s == v))
}

/// A version's release label: 31.0 is Summer '14, then Winter, Spring,
/// Summer every year.
fn release_label(version: &str) -> String {
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(31);
    if major < 31 {
        return format!("Version {version}");
    }
    let index = major - 31;
    let season = ["Summer", "Winter", "Spring"][(index % 3) as usize];
    format!("{season} '{:02}", 14 + index.div_ceil(3))
}

/// `GET /services/data`.
pub(crate) async fn versions(State(shared): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = shared
        .config
        .versions
        .iter()
        .map(|v| json!({"label": release_label(v), "url": format!("/services/data/v{v}"), "version": v}))
        .collect();
    json_text(Value::Array(list).to_string())
}

/// The batch size asked in `Sforce-Query-Options: batchSize=N`, if any.
pub(crate) fn asked_batch_size(headers: &HeaderMap) -> Option<u32> {
    let options = headers.get("sforce-query-options")?.to_str().ok()?;
    options.split(',').find_map(|opt| {
        let (k, v) = opt.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("batchSize")
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

/// `GET /services/data/vNN.N/query?q=`: live records only.
pub(crate) async fn query(
    State(shared): State<Arc<Shared>>,
    Path(segment): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    start_query(&shared, &segment, raw, &headers, false)
}

/// `GET /services/data/vNN.N/queryAll?q=`: records in the recycle bin too.
pub(crate) async fn query_all(
    State(shared): State<Arc<Shared>>,
    Path(segment): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    start_query(&shared, &segment, raw, &headers, true)
}

fn start_query(
    shared: &Shared,
    segment: &str,
    raw: Option<String>,
    headers: &HeaderMap,
    deleted: bool,
) -> Response {
    let Some(version) = version(shared, segment) else {
        return not_found();
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let Some((_, q)) = params.iter().find(|(k, _)| k == "q") else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    match plan(shared, q, headers, deleted) {
        Ok(Planned::Records(locator)) => page(shared, version, locator, 0, None),
        Ok(Planned::Count(n)) => json_text(format!(
            "{{\"totalSize\":{n},\"done\":true,\"records\":[]}}"
        )),
        Err(e) => sf_error(StatusCode::BAD_REQUEST, e.code, &e.message),
    }
}

fn plan(
    shared: &Shared,
    q: &str,
    headers: &HeaderMap,
    deleted: bool,
) -> Result<Planned, SoqlError> {
    let parsed = soql::parse(q)?;
    let org = &shared.org;
    let schema = object_schema(org, &parsed, q)?;
    let columns = match &parsed.select {
        Select::Count => None,
        Select::Fields(fields) => Some(org.columns(schema, fields, q)?),
    };
    let selection = filter::resolve(org, schema, &parsed, q, deleted)?;
    let rows = org.select(schema, &selection);
    let Some(columns) = columns else {
        return Ok(Planned::Count(rows.len()));
    };
    let min = u64::from(shared.config.min_batch_size);
    let batch = asked_batch_size(headers)
        .map_or(2000, u64::from)
        .clamp(min, 2000);
    Ok(Planned::Records(Locator {
        object: schema.name.clone(),
        columns,
        rows,
        batch,
    }))
}

/// The queried object, or `INVALID_TYPE` for one the org does not have.
pub(crate) fn object_schema<'a>(
    org: &'a FakeOrg,
    parsed: &Query,
    q: &str,
) -> Result<&'a ObjectSchema, SoqlError> {
    org.schema(&parsed.object.text).ok_or_else(|| {
        SoqlError::at(
            "INVALID_TYPE",
            q,
            parsed.object.at,
            &format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom \
                 object, be sure to append the '__c' after the entity name. Please reference \
                 your WSDL or the describe call for the appropriate names.",
                parsed.object.text
            ),
        )
    })
}

/// Serves the page at `offset` (records already returned) of a query;
/// `id` is its locator once it has one.
fn page(
    shared: &Shared,
    version: &str,
    locator: Locator,
    offset: u64,
    id: Option<String>,
) -> Response {
    let org = &shared.org;
    let Some(schema) = org.schema(&locator.object) else {
        return not_found();
    };
    let total = locator.rows.len();
    let from = offset.min(total);
    let to = from.saturating_add(locator.batch).min(total);
    let done = to >= total;
    let mut out =
        String::with_capacity(256 + (to - from) as usize * 64 * (locator.columns.len() + 1));
    let _ = write!(out, "{{\"totalSize\":{total},\"done\":{done},");
    if !done {
        let id = id.unwrap_or_else(|| shared.open_locator(locator.clone()));
        let _ = write!(
            out,
            "\"nextRecordsUrl\":\"/services/data/v{version}/query/{id}-{to}\","
        );
    }
    out.push_str("\"records\":[");
    let positions = (from..to).map(|i| locator.rows.get(i));
    org.write_records(schema, positions, &locator.columns, version, &mut out);
    out.push_str("]}");
    shared.stats.served(&schema.name, to - from);
    json_text(out)
}

/// `GET /services/data/vNN.N/query/01g...-N`: a following page.
pub(crate) async fn query_more(
    State(shared): State<Arc<Shared>>,
    Path((segment, cursor)): Path<(String, String)>,
) -> Response {
    let Some(version) = version(&shared, &segment) else {
        return not_found();
    };
    let invalid = || {
        sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        )
    };
    let Some((id, offset)) = cursor.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<u64>() else {
        return invalid();
    };
    let Some(locator) = shared.locator(id) else {
        return invalid();
    };
    if offset >= locator.rows.len() {
        return invalid();
    }
    page(&shared, version, locator, offset, Some(id.to_owned()))
}

/// `GET /services/data/vNN.N/sobjects`.
pub(crate) async fn describe_global(
    State(shared): State<Arc<Shared>>,
    Path(segment): Path<String>,
) -> Response {
    let Some(version) = version(&shared, &segment) else {
        return not_found();
    };
    let sobjects: Vec<Value> = shared
        .org
        .schemas()
        .map(|s| schema::global_entry(s, version))
        .collect();
    json_text(json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}).to_string())
}

/// `GET /services/data/vNN.N/sobjects/{Object}/describe`.
pub(crate) async fn describe(
    State(shared): State<Arc<Shared>>,
    Path((segment, object)): Path<(String, String)>,
) -> Response {
    let Some(version) = version(&shared, &segment) else {
        return not_found();
    };
    let org = &shared.org;
    let Some(schema) = org.schema(&object) else {
        return not_found();
    };
    let doc = schema::describe(schema, version, |f| org.visible(&schema.name, &f.name));
    json_text(doc.to_string())
}

/// `GET /services/data/vNN.N/limits`.
pub(crate) async fn limits(
    State(shared): State<Arc<Shared>>,
    Path(segment): Path<String>,
) -> Response {
    if version(&shared, &segment).is_none() {
        return not_found();
    }
    let max = shared.config.daily_api_limit;
    let used = shared.stats.api_used.load(Ordering::Relaxed).min(max);
    let fixed = |max: u64| json!({"Max": max, "Remaining": max});
    let doc = json!({
        "ConcurrentAsyncGetReportInstances": fixed(200),
        "ConcurrentSyncReportRuns": fixed(20),
        "DailyApiRequests": {"Max": max, "Remaining": max - used},
        "DailyAsyncApexExecutions": fixed(250_000),
        "DailyBulkApiRequests": fixed(5_000),
        "DailyDurableGenericStreamingApiEvents": fixed(10_000),
        "DailyDurableStreamingApiEvents": fixed(10_000),
        "DailyGenericStreamingApiEvents": fixed(10_000),
        "DailyStreamingApiEvents": fixed(10_000),
        "DailyWorkflowEmails": fixed(390),
        "DataStorageMB": fixed(5),
        "DurableStreamingApiConcurrentClients": fixed(20),
        "FileStorageMB": fixed(20),
        "HourlyAsyncReportRuns": fixed(1_200),
        "HourlyDashboardRefreshes": fixed(200),
        "HourlyDashboardResults": fixed(5_000),
        "HourlyDashboardStatuses": fixed(999_999_999),
        "HourlyODataCallout": fixed(10_000),
        "HourlySyncReportRuns": fixed(500),
        "HourlyTimeBasedWorkflow": fixed(50),
        "MassEmail": fixed(10),
        "SingleEmail": fixed(15),
        "StreamingApiConcurrentClients": fixed(20),
    });
    json_text(doc.to_string())
}

/// Any other path under `/services/data`.
pub(crate) async fn unknown() -> Response {
    not_found()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_labels() {
        assert_eq!(release_label("31.0"), "Summer '14");
        assert_eq!(release_label("32.0"), "Winter '15");
        assert_eq!(release_label("33.0"), "Spring '15");
        assert_eq!(release_label("57.0"), "Spring '23");
        assert_eq!(release_label("60.0"), "Spring '24");
    }

    #[test]
    fn batch_size_header() {
        let mut h = HeaderMap::new();
        assert_eq!(asked_batch_size(&h), None);
        h.insert("Sforce-Query-Options", "batchSize=500".parse().unwrap());
        assert_eq!(asked_batch_size(&h), Some(500));
        h.insert(
            "Sforce-Query-Options",
            "foo=1, batchSize = 250".parse().unwrap(),
        );
        assert_eq!(asked_batch_size(&h), Some(250));
    }
}
