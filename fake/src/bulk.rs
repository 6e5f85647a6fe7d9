//! Bulk API 2.0 query jobs (API 47.0 and later), as Salesforce's "Bulk
//! API 2.0 and Bulk API Developer Guide" describes them: create a job,
//! poll it until `JobComplete`, read its results as CSV sets chained by
//! `Sforce-Locator`, abort or delete it.
//!
//! A job's SOQL goes through the planner of the REST query: the records
//! it returns are fixed when it is created (a snapshot of positions), and
//! its result sets show their values as they are when served, rendered
//! set by set (a generated org computes only the records of the set
//! asked for).
//!
//! Where the guide gives no status or error code, the choice is said at
//! the place it is made.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::api::{self, json_text, not_found, sf_error};
use super::faults::BulkFate;
use super::filter::{self, Rows};
use super::soql::{self, Select, SoqlError};
use super::store::format_stamp;
use super::{FakeSalesforce, FakeSalesforceBuilder, Shared, generated, oauth};
use salesforce_import::SfId;

mod csv;

use csv::{CsvColumn, Format};

/// The first API version with Bulk API 2.0 query jobs.
const FIRST_VERSION: u32 = 47;

/// Records in a result set when `maxRecords` is not given. Salesforce
/// says only "a default value based on the service"; 50 000 keeps a set
/// of a few columns to a few megabytes.
const DEFAULT_MAX_RECORDS: u64 = 50_000;

/// The query jobs of a fake, and its counters.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    by_id: Mutex<HashMap<String, Job>>,
    next: AtomicU64,
    created: AtomicU64,
}

#[derive(Debug)]
struct Job {
    id: String,
    all: bool,
    object: String,
    /// `NN.N`: results must be asked in the same version.
    version: String,
    columns: Arc<[CsvColumn]>,
    rows: Rows,
    format: Format,
    created: DateTime<Utc>,
    modstamp: DateTime<Utc>,
    state: JobState,
    fate: BulkFate,
    polls: u32,
    /// The fault plan's expiry epoch when created.
    epoch: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
}

impl JobState {
    fn name(self) -> &'static str {
        match self {
            JobState::UploadComplete => "UploadComplete",
            JobState::InProgress => "InProgress",
            JobState::JobComplete => "JobComplete",
            JobState::Failed => "Failed",
            JobState::Aborted => "Aborted",
        }
    }

    /// As the results error spells it (`IN_PROGRESS`).
    fn upper(self) -> &'static str {
        match self {
            JobState::UploadComplete => "UPLOAD_COMPLETE",
            JobState::InProgress => "IN_PROGRESS",
            JobState::JobComplete => "JOB_COMPLETE",
            JobState::Failed => "FAILED",
            JobState::Aborted => "ABORTED",
        }
    }

    fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::JobComplete | JobState::Failed | JobState::Aborted
        )
    }
}

/// The message of a failed job: what the guide's limits page says a job
/// retried too often reports.
const FAILED_MESSAGE: &str = "Retried more than 15 times";

impl Job {
    /// One more poll: `UploadComplete` → `InProgress` → the job's end
    /// after `polls_to_complete` polls.
    fn advance(&mut self, polls_to_complete: u32) {
        if self.state.is_terminal() {
            return;
        }
        self.polls = self.polls.saturating_add(1);
        let next = self.end_after(polls_to_complete);
        if next != self.state {
            self.state = next;
            self.modstamp = Utc::now();
        }
    }

    /// The state after `self.polls` polls.
    fn end_after(&self, polls_to_complete: u32) -> JobState {
        match self.fate {
            _ if self.polls < polls_to_complete => JobState::InProgress,
            BulkFate::Stick => JobState::InProgress,
            BulkFate::Fail => JobState::Failed,
            BulkFate::Complete => JobState::JobComplete,
        }
    }

    /// The job info of create, abort (`full` false) and get (`full`).
    fn info(&self, state: JobState, full: bool) -> Value {
        let mut info = json!({
            "id": self.id,
            "operation": if self.all { "queryAll" } else { "query" },
            "object": self.object,
            "createdById": oauth::USER_ID,
            "createdDate": format_stamp(self.created),
            "systemModstamp": format_stamp(self.modstamp),
            "state": state.name(),
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.version.parse::<f64>().unwrap_or(0.0),
            "lineEnding": self.format.line_ending,
            "columnDelimiter": self.format.delimiter,
        });
        if full {
            let done = state == JobState::JobComplete;
            let processed = if done { self.rows.len() } else { 0 };
            info["jobType"] = json!("V2Query");
            info["numberRecordsProcessed"] = json!(processed);
            info["retries"] = json!(0);
            info["totalProcessingTime"] = json!(if done { 100 + processed / 1000 } else { 0 });
            info["isPkChunkingSupported"] = json!(true);
            if state == JobState::Failed {
                info["errorMessage"] = json!(FAILED_MESSAGE);
            }
        }
        info
    }
}

impl Jobs {
    /// The jobs, those expired by the fault plan removed.
    fn lock(&self, epoch: u64) -> MutexGuard<'_, HashMap<String, Job>> {
        let mut jobs = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        jobs.retain(|_, job| job.epoch >= epoch);
        jobs
    }
}

impl Shared {
    fn jobs(&self) -> MutexGuard<'_, HashMap<String, Job>> {
        self.bulk.lock(self.faults.bulk_epoch())
    }
}

impl FakeSalesforceBuilder {
    /// How many polls (`GET .../jobs/query/{id}`) a Bulk API 2.0 query job
    /// takes to finish (default 2): the polls before answer `InProgress`,
    /// that one `JobComplete`. With `0` a job is complete as soon as it is
    /// created (its create answer still says `UploadComplete`, as
    /// Salesforce's always does) and its results can be read unpolled.
    pub fn bulk_polls_to_complete(mut self, polls: u32) -> Self {
        self.bulk_polls_to_complete = polls;
        self
    }
}

impl FakeSalesforce {
    /// How many Bulk API 2.0 query jobs were created.
    pub fn bulk_jobs_created(&self) -> u64 {
        self.shared.bulk.created.load(Ordering::Relaxed)
    }

    /// How many Bulk API 2.0 query jobs exist now: created and neither
    /// deleted nor expired ([`Faults::bulk_expire_jobs`](crate::Faults::bulk_expire_jobs)).
    /// A client that cleans up after itself leaves 0.
    pub fn bulk_jobs_open(&self) -> u64 {
        self.shared.jobs().len() as u64
    }
}

/// `NN.N` if served and 47.0 or later (else the resource does not exist:
/// 404 `NOT_FOUND`, as for any unknown REST resource).
fn bulk_version<'a>(shared: &Shared, segment: &'a str) -> Option<&'a str> {
    api::version(shared, segment).filter(|v| {
        v.split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .is_some_and(|m| m >= FIRST_VERSION)
    })
}

/// A job id in its 18-character form (Salesforce takes 15 or 18).
fn job_key(id: &str) -> Option<String> {
    SfId::parse(id).ok().map(|id| id.as_str().to_owned())
}

/// The answer for a job that does not exist, was deleted or purged. The
/// guide gives none: Salesforce answers an id it does not know as any
/// unknown REST resource.
fn job_not_found() -> Response {
    not_found()
}

/// Reads the SOQL of a job being created from its body, for the request
/// log, and gives the request back whole.
pub(crate) async fn logged_soql(req: Request) -> (Request, Option<String>) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let soql = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| Some(v.get("query")?.as_str()?.to_owned()));
    (Request::from_parts(parts, Body::from(bytes)), soql)
}

/// `POST /services/data/vNN.N/jobs/query`: creates a job.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    Path(segment): Path<String>,
    body: Bytes,
) -> Response {
    let Some(version) = bulk_version(&shared, &segment) else {
        return not_found();
    };
    // The guide gives no error for a malformed request; these are the
    // REST framework's codes (JSON_PARSER_ERROR) and the generic Bulk API
    // 2.0 one its examples use (API_ERROR).
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
                "The request body must be a JSON object",
            );
        }
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", &e.to_string()),
    };
    let text = |key: &str| request.get(key).and_then(Value::as_str);
    let all = match text("operation") {
        Some("query") => false,
        Some("queryAll") => true,
        other => {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "API_ERROR",
                &format!(
                    "Invalid operation {:?} for a query job: use query or queryAll",
                    other.unwrap_or_default()
                ),
            );
        }
    };
    if text("contentType").is_some_and(|c| c != "CSV") {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "API_ERROR",
            "The only content type of query jobs is CSV",
        );
    }
    let Some(format) = Format::parse(text("columnDelimiter"), text("lineEnding")) else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "API_ERROR",
            "Invalid columnDelimiter or lineEnding",
        );
    };
    let Some(q) = text("query") else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "API_ERROR",
            "A query job needs a query",
        );
    };
    let (object, columns, rows) = match plan(&shared, q, all) {
        Ok(planned) => planned,
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, e.code, &e.message),
    };
    let n = shared.bulk.next.fetch_add(1, Ordering::Relaxed);
    let now = Utc::now();
    let mut job = Job {
        id: generated::id("750", n),
        all,
        object,
        version: version.to_owned(),
        columns: columns.into(),
        rows,
        format,
        created: now,
        modstamp: now,
        state: JobState::UploadComplete,
        fate: shared.faults.take_bulk_fate(),
        polls: 0,
        epoch: shared.faults.bulk_epoch(),
    };
    let polls_to_complete = shared.config.bulk_polls_to_complete;
    if polls_to_complete == 0 {
        job.state = job.end_after(0);
    }
    let info = job.info(JobState::UploadComplete, false);
    shared.jobs().insert(job.id.clone(), job);
    shared.bulk.created.fetch_add(1, Ordering::Relaxed);
    json_text(info.to_string())
}

type Planned = (String, Vec<CsvColumn>, Rows);

/// The object, columns and records of a job's SOQL, or why it is
/// refused (a 400).
fn plan(shared: &Shared, q: &str, all: bool) -> Result<Planned, SoqlError> {
    let parsed = soql::parse(q)?;
    if shared.faults.bulk_refuses(&parsed.object.text) {
        // The guide's errors page: InvalidJob for "a job using an
        // unsupported object type"; the message is Bulk API's.
        return Err(SoqlError {
            code: "INVALIDJOB",
            message: format!(
                "Entity '{}' is not supported by the Bulk API.",
                parsed.object.text
            ),
        });
    }
    let Select::Fields(fields) = &parsed.select else {
        // "Bulk API 2.0 doesn't support SOQL queries that include ...
        // Aggregate Functions such as COUNT()" (Create a Query Job); the
        // code is the one of the guide's Bulk API 2.0 error examples.
        return Err(SoqlError {
            code: "API_ERROR",
            message: "Aggregate queries are not supported by Bulk API 2.0: COUNT()".to_owned(),
        });
    };
    let org = &shared.org;
    let schema = api::object_schema(org, &parsed, q)?;
    let columns = csv::columns(org, schema, fields, q)?;
    let selection = filter::resolve(org, schema, &parsed, q, all)?;
    let rows = org.select(schema, &selection);
    Ok((schema.name.clone(), columns, rows))
}

/// `GET /services/data/vNN.N/jobs/query/{id}`: the job's state, one poll
/// further.
pub(crate) async fn info(
    State(shared): State<Arc<Shared>>,
    Path((segment, id)): Path<(String, String)>,
) -> Response {
    if bulk_version(&shared, &segment).is_none() {
        return not_found();
    }
    let polls_to_complete = shared.config.bulk_polls_to_complete;
    let mut jobs = shared.jobs();
    let Some(job) = job_key(&id).and_then(|id| jobs.get_mut(&id)) else {
        return job_not_found();
    };
    job.advance(polls_to_complete);
    json_text(job.info(job.state, true).to_string())
}

/// `PATCH /services/data/vNN.N/jobs/query/{id}` with `{"state":
/// "Aborted"}`: aborts a job still `UploadComplete` or `InProgress`.
pub(crate) async fn abort(
    State(shared): State<Arc<Shared>>,
    Path((segment, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if bulk_version(&shared, &segment).is_none() {
        return not_found();
    }
    let request: Option<Value> = serde_json::from_slice(&body).ok();
    let Some(state) = request.as_ref().and_then(|v| v.get("state")?.as_str()) else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "The request body must be {\"state\": \"Aborted\"}",
        );
    };
    let mut jobs = shared.jobs();
    let Some(job) = job_key(&id).and_then(|id| jobs.get_mut(&id)) else {
        return job_not_found();
    };
    // The guide only says which states can be aborted; the code is the
    // errors page's InvalidJobState ("the job state specified in a job
    // update operation is invalid").
    if state != "Aborted" {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOBSTATE",
            &format!("Invalid state for a query job: {state}; the only change is to Aborted"),
        );
    }
    if job.state.is_terminal() {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOBSTATE",
            &format!(
                "Cannot abort a job in state {}: only UploadComplete and InProgress jobs can be \
                 aborted",
                job.state.name()
            ),
        );
    }
    job.state = JobState::Aborted;
    job.modstamp = Utc::now();
    json_text(job.info(JobState::Aborted, false).to_string())
}

/// `DELETE /services/data/vNN.N/jobs/query/{id}`: `204`, and the job is
/// gone; a job not yet finished or aborted is refused as the guide shows.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((segment, id)): Path<(String, String)>,
) -> Response {
    if bulk_version(&shared, &segment).is_none() {
        return not_found();
    }
    let mut jobs = shared.jobs();
    let Some(key) = job_key(&id).filter(|id| jobs.contains_key(id)) else {
        return job_not_found();
    };
    if !jobs[&key].state.is_terminal() {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "API_ERROR",
            "Error encountered when deleting the job because the job is not terminated",
        );
    }
    jobs.remove(&key);
    StatusCode::NO_CONTENT.into_response()
}

/// The 412 the guide shows for results of a job that is not complete.
fn not_complete(state: JobState) -> Response {
    sf_error(
        StatusCode::PRECONDITION_FAILED,
        "JOB_NOT_COMPLETE",
        &format!(
            "can only download query results of successfully completed bulk job with status: \
             JOB_COMPLETE. Current status: {}",
            state.upper()
        ),
    )
}

/// `GET /services/data/vNN.N/jobs/query/{id}/results[?locator=&maxRecords=]`:
/// one result set as CSV, `Sforce-Locator` naming the next (`null` after
/// the last) and `Sforce-NumberOfRecords` counting this one's.
pub(crate) async fn results(
    State(shared): State<Arc<Shared>>,
    Path((segment, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(version) = bulk_version(&shared, &segment) else {
        return not_found();
    };
    if shared.faults.take_bulk_precondition_failed() {
        return not_complete(JobState::InProgress);
    }
    let (object, columns, rows, format) = {
        let jobs = shared.jobs();
        let Some(job) = job_key(&id).and_then(|id| jobs.get(&id)) else {
            return job_not_found();
        };
        if job.version != version {
            // "Use the same API version to get query results that you used
            // to create the query. Otherwise, the call returns a 409
            // error." The code is not given.
            return sf_error(
                StatusCode::CONFLICT,
                "API_ERROR",
                &format!(
                    "The job was created in API version {}: ask its results in that version",
                    job.version
                ),
            );
        }
        if job.state != JobState::JobComplete {
            return not_complete(job.state);
        }
        (
            job.object.clone(),
            job.columns.clone(),
            job.rows.clone(),
            job.format,
        )
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    // Neither error is in the guide: a maxRecords that is not a positive
    // number gets the generic API_ERROR, a locator this job never handed
    // out INVALID_LOCATOR (the REST API's is INVALID_QUERY_LOCATOR).
    let max = match param("maxRecords").map(|m| m.parse::<u64>()) {
        None => DEFAULT_MAX_RECORDS,
        Some(Ok(m)) if m > 0 => m,
        Some(_) => {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "API_ERROR",
                "maxRecords must be a positive integer",
            );
        }
    };
    let total = rows.len();
    let from = match param("locator") {
        None => 0,
        Some(l) => match csv::decode_locator(l) {
            Some(offset) if offset < total => offset,
            _ => {
                return sf_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_LOCATOR",
                    &format!("Invalid locator: {l}"),
                );
            }
        },
    };
    let Some(schema) = shared.org.schema(&object) else {
        return not_found();
    };
    let to = from.saturating_add(max).min(total);
    let mut out = String::with_capacity(64 * (columns.len() + 1) * (to - from + 1) as usize);
    csv::write_header(&columns, format, &mut out);
    let positions = (from..to).map(|i| rows.get(i));
    csv::write_rows(&shared.org, schema, positions, &columns, format, &mut out);
    shared.stats.served(&schema.name, to - from);
    let next = if to < total {
        csv::encode_locator(to)
    } else {
        "null".to_owned()
    };
    let mut response = ([(header::CONTENT_TYPE, "text/csv")], out).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "sforce-locator",
        HeaderValue::try_from(next).expect("a locator is base 64"),
    );
    headers.insert("sforce-numberofrecords", HeaderValue::from(to - from));
    response
}
