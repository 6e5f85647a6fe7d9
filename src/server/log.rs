//! A job's log in full: paged (`GET /import/{id}/log`) and as the error
//! file (`GET /import/{id}/errors.csv`), both read page by page through
//! [`JobStore::log_page`](crate::jobs::JobStore::log_page), so a long log
//! never sits in memory whole.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Shared;
use super::caller::Caller;
use super::error::{ApiError, ErrorBody};
use super::handlers::JobPath;
use super::views::LogView;
use crate::id::{JobId, TenantId};
use crate::jobs::{LogEntry, LogPage, Severity};

/// Lines per page of `GET /import/{id}/log` unless `limit` says.
const DEFAULT_LIMIT: usize = 500;
/// The most lines one page of `GET /import/{id}/log` holds.
const MAX_LIMIT: usize = 1_000;
/// Lines read from the store per chunk of the error file.
const CSV_PAGE: usize = 1_000;

/// Which page of the log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct LogQuery {
    /// `0` (the default) for the first page, else the `next` of the page
    /// before.
    #[param(minimum = 0)]
    after: Option<u64>,
    /// Lines per page, 1 to 1,000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// One page of a job's log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LogPage)]
pub(super) struct LogPageView {
    /// The lines, oldest first.
    lines: Vec<LogView>,
    /// The `after` of the next page, when more lines follow; `null` at the
    /// end of the log (lines a running job adds later come after the last
    /// `next` given).
    #[schema(minimum = 0)]
    next: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/import/{id}/log",
    tag = "imports",
    operation_id = "job_log",
    summary = "A page of a job's error log",
    description = "The log of `GET /import/{id}` in full, page by page: start with `after=0` (or none), then pass each page's `next` as `after` until it is `null`. Every line comes exactly once, oldest first, even while the job runs.",
    security(("host_session" = [])),
    params(("id" = String, Path, description = "The job's id"), LogQuery),
    responses(
        (status = 200, description = "The page", body = LogPageView),
        (status = 400, description = "`after` or `limit` is not a whole number, or `limit` is not 1 to 1,000", body = ErrorBody),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 404, description = "No such job in the caller's organization", body = ErrorBody),
        (status = 500, description = "The job store failed", body = ErrorBody),
    )
)]
pub(super) async fn page(
    State(api): State<Arc<Shared>>,
    caller: Caller,
    JobPath(id): JobPath,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<LogPageView>, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::bad_request("after and limit are whole numbers (after=0&limit=500)")
    })?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit is 1 to {MAX_LIMIT} lines"
        )));
    }
    let page = api
        .jobs
        .log_page(&caller.tenant, &id, query.after.unwrap_or(0), limit)
        .await?;
    Ok(Json(LogPageView {
        next: page.next,
        lines: page.lines.into_iter().map(LogView::from).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/import/{id}/errors.csv",
    tag = "imports",
    operation_id = "errors_csv",
    summary = "A job's error file (CSV)",
    description = "Every line of the job's log (records that failed, and records imported with a repaired value) as CSV (RFC 4180, UTF-8, header row), for a spreadsheet: `level` (ERROR or WARNING), `object` (Salesforce API name), `salesforce_id`, `field`, `problem` (a machine-readable kind: missing, invalid, unresolved_lookup, ...) and `message`. A cell that a spreadsheet would read as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`. Sent as an attachment, `salesforce-import-<job>-errors.csv`.",
    security(("host_session" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The error file", content_type = "text/csv", body = String,
         headers(("Content-Disposition" = String, description = "`attachment; filename=\"salesforce-import-<job>-errors.csv\"`"))),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 404, description = "No such job in the caller's organization", body = ErrorBody),
        (status = 500, description = "The job store failed", body = ErrorBody),
    )
)]
pub(super) async fn errors_csv(
    State(api): State<Arc<Shared>>,
    caller: Caller,
    JobPath(id): JobPath,
) -> Result<Response, ApiError> {
    // The first page before the answer starts: a job that is not the
    // caller's is a 404, a failing store a 500, not a cut file.
    let first = api.jobs.log_page(&caller.tenant, &id, 0, CSV_PAGE).await?;
    let body = Body::from_stream(chunks(api, caller.tenant.clone(), id.clone(), first));
    Ok(csv_attachment(&id, "errors", body))
}

/// A CSV file about job `id` as an attachment,
/// `salesforce-import-<job>-<what>.csv`.
pub(super) fn csv_attachment(id: &JobId, what: &str, body: impl Into<Body>) -> Response {
    let filename = format!("salesforce-import-{}-{what}.csv", file_safe(id.as_str()));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body.into(),
    )
        .into_response()
}

/// The file: the header and the first page, then one chunk per page read.
/// A store failure midway ends the stream with an error, which cuts the
/// response (a client sees a broken download, never a short file that
/// looks whole).
fn chunks(
    api: Arc<Shared>,
    tenant: TenantId,
    job: JobId,
    first: LogPage,
) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    enum Next {
        Page(LogPage, bool),
        Read(u64),
        Done,
    }
    stream::unfold(Next::Page(first, true), move |state| {
        let (api, tenant, job) = (api.clone(), tenant.clone(), job.clone());
        async move {
            let (page, header) = match state {
                Next::Done => return None,
                Next::Page(page, header) => (page, header),
                Next::Read(after) => {
                    match api.jobs.log_page(&tenant, &job, after, CSV_PAGE).await {
                        Ok(page) => (page, false),
                        Err(err) => {
                            tracing::error!(job = %job, error = %err, source = ?std::error::Error::source(&err), "error file: reading the log failed midway");
                            return Some((
                                Err(std::io::Error::other("the job store failed")),
                                Next::Done,
                            ));
                        }
                    }
                }
            };
            let next = match page.next {
                Some(after) => Next::Read(after),
                None => Next::Done,
            };
            Some((csv_chunk(&page.lines, header), next))
        }
    })
}

/// The columns of the error file.
const COLUMNS: [&str; 6] = [
    "level",
    "object",
    "salesforce_id",
    "field",
    "problem",
    "message",
];

/// Lines as CSV rows (after the header row when `header`).
fn csv_chunk(lines: &[LogEntry], header: bool) -> Result<Vec<u8>, std::io::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    if header {
        out.write_record(COLUMNS)?;
    }
    for line in lines {
        let level = match line.severity {
            Severity::Warning => "WARNING",
            _ => "ERROR",
        };
        let sf_id = line.sf_id.as_ref().map(|id| id.as_str()).unwrap_or("");
        let problem = problem_kind(line);
        out.write_record(
            [
                cell(level),
                cell(line.object.as_str()),
                cell(sf_id),
                cell(&line.field),
                cell(&problem),
                cell(&line.message),
            ]
            .iter()
            .map(|c| c.as_bytes()),
        )?;
    }
    out.into_inner().map_err(|e| e.into_error())
}

/// The problem's kind, as its JSON names it (`missing`, `invalid`, ...).
fn problem_kind(line: &LogEntry) -> String {
    serde_json::to_value(&line.problem)
        .ok()
        .and_then(|v| v.get("kind")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A cell a spreadsheet shows as text: one that would start a formula
/// (`=`, `+`, `-`, `@`, a tab, a carriage return) gets a leading `'`
/// (OWASP's advice against CSV injection).
fn cell(value: &str) -> Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// A job id as a file name may hold it: letters, digits, `-` and `_`,
/// at most 64 of them.
fn file_safe(id: &str) -> String {
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    if safe.is_empty() {
        "job".to_owned()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Problem;
    use crate::id::SfId;
    use crate::object::SObject;

    #[test]
    fn formulas_become_text_and_quoting_is_csv() {
        for (raw, want) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("plain", "plain"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(cell(raw), want, "{raw:?}");
        }
        let mut entry = LogEntry::new(
            Severity::Error,
            SObject::CONTACT,
            Some(SfId::parse("0035g0000000163AAA").unwrap()),
            "LastName",
            Problem::Missing,
        );
        entry.message = "=cmd|' /C calc'!A0, \"quoted\"\nnext line".to_owned();
        let text = String::from_utf8(csv_chunk(&[entry], true).unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            COLUMNS
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1, "{text}");
        assert_eq!(
            rows[0].iter().collect::<Vec<_>>(),
            [
                "ERROR",
                "Contact",
                "0035g0000000163AAA",
                "LastName",
                "missing",
                "'=cmd|' /C calc'!A0, \"quoted\"\nnext line"
            ]
        );
    }

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(file_safe("42"), "42");
        assert_eq!(file_safe("job-7_a"), "job-7_a");
        assert_eq!(file_safe("../\"evil\r\n.csv"), "evilcsv");
        assert_eq!(file_safe("\""), "job");
        assert_eq!(file_safe(&"x".repeat(100)).len(), 64);
    }
}
