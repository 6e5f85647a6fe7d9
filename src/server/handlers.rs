//! One function per endpoint. Each `#[utoipa::path]` is that endpoint's
//! entry in the OpenAPI document: every status it can answer, with its body.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Shared;
use super::caller::Caller;
use super::error::ErrorBody;
use super::error::{ApiError, JsonBody, MaybeJsonBody, TOKEN_UNREADABLE, clip};
use super::views::{
    ConnectView, JobView, ModeView, ObjectTypeName, ObjectTypeView, StatusView, label,
};
use crate::crm::WriteMode;
use crate::engine::ImportRequest;
use crate::error::Error;
use crate::id::JobId;
use crate::jobs::Job;
use crate::object::SObject;
use crate::status::JobStatus;

type Api<T> = Result<T, ApiError>;
type S = State<Arc<Shared>>;

/// The `{id}` of a job's path. One that is not UTF-8 names no job: 404
/// with the JSON error (axum's own rejection is a plain-text 400).
pub(super) struct JobPath(pub(super) JobId);

impl<St: Send + Sync> FromRequestParts<St> for JobPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<JobPath, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(JobPath(JobId::new(id))),
            Err(_) => Err(ApiError::not_found("no import job with this id")),
        }
    }
}

/// How many error-log lines `GET /import/{id}` returns.
pub(super) const LOG_LINES: usize = 1_000;

#[utoipa::path(
    get,
    path = "/status",
    tag = "connection",
    operation_id = "status",
    summary = "Whether the caller's organization has Salesforce connected",
    security(("host_session" = [])),
    responses(
        (status = 200, description = "The connection, and what the caller may do (`can`: a non-admin may only look). A stored connection whose tokens can no longer be decrypted (the encryption key changed) is `connected: false` with `problem: token_unreadable`", body = StatusView),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 500, description = "The token vault failed", body = ErrorBody),
    )
)]
pub(super) async fn status(State(api): S, caller: Caller) -> Api<Json<StatusView>> {
    match api.oauth.status(&caller.tenant).await {
        Ok(status) => Ok(Json(StatusView::new(status, &caller))),
        // Stored, but not readable with today's keys: the admin connects
        // again (or disconnects to clear it).
        Err(Error::TokenDecryption) => Ok(Json(StatusView::token_unreadable(&caller))),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    post,
    path = "/connect",
    tag = "connection",
    operation_id = "connect",
    summary = "Begin connecting Salesforce (admin)",
    description = "Starts the OAuth 2.0 web-server flow with PKCE: send the admin's browser to `authorization_url`. Connecting again replaces the connection once the new one completes. The body (optional) chooses where the admin logs in: `production`, `sandbox` or the org's My Domain; without it, the login host the server is configured with. A login host off the server's allow-list of Salesforce hosts is refused (400).",
    security(("host_session" = [])),
    params(("X-Requested-With" = String, Header, description = "Must be `salesforce-import` (cross-site request forgery defence): without it the answer is 403")),
    request_body(content = Option<ConnectBody>, content_type = "application/json", description = "Optional: where the admin logs in"),
    responses(
        (status = 200, description = "Where to send the browser", body = ConnectView),
        (status = 400, description = "The login host is not an allowed Salesforce host (or not a My Domain), or the body is malformed JSON", body = ErrorBody),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 403, description = "The caller is not an admin, or the request lacks `X-Requested-With: salesforce-import` or comes from a foreign origin (cross-site request forgery defence)", body = ErrorBody),
        (status = 415, description = "A body that is not `application/json`", body = ErrorBody),
        (status = 422, description = "JSON of another shape (an unknown field, a wrong type)", body = ErrorBody),
        (status = 500, description = "The token vault failed", body = ErrorBody),
    )
)]
pub(super) async fn connect(
    State(api): S,
    caller: Caller,
    MaybeJsonBody(body): MaybeJsonBody<ConnectBody>,
) -> Api<Json<ConnectView>> {
    caller.require_admin()?;
    let login = body.and_then(|b| b.login_host);
    let authorization = match login.as_deref() {
        None => api.oauth.authorize(&caller.tenant, &caller.user).await?,
        Some(choice) => {
            let host = api.login.resolve(choice)?;
            api.oauth
                .authorize_at(&caller.tenant, &caller.user, &host)
                .await?
        }
    };
    Ok(Json(ConnectView {
        authorization_url: authorization.url,
    }))
}

/// Where the admin logs in to connect.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConnectRequest)]
pub(super) struct ConnectBody {
    /// `production` (login.salesforce.com), `sandbox`
    /// (test.salesforce.com), or the org's My Domain: its name (`acme`),
    /// its host (`acme.my.salesforce.com`,
    /// `acme--uat.sandbox.my.salesforce.com`) or that host's `https://`
    /// URL. Checked against the server's allow-list of Salesforce hosts.
    /// Absent or null: the login host the server is configured with.
    #[schema(example = "sandbox")]
    login_host: Option<String>,
}

/// What Salesforce sent the browser back with.
#[derive(Deserialize, ToSchema)]
#[schema(as = Callback)]
pub(super) struct CallbackBody {
    /// The authorization code (`code` query parameter).
    #[schema(min_length = 1)]
    code: String,
    /// The flow's state (`state` query parameter); single use.
    #[schema(min_length = 1)]
    state: String,
}

#[utoipa::path(
    post,
    path = "/callback",
    tag = "connection",
    operation_id = "callback",
    summary = "Finish connecting Salesforce (admin)",
    description = "Exchanges the code for tokens, which are stored encrypted. The state must be one this tenant's `POST /connect` issued, unexpired and unused.",
    security(("host_session" = [])),
    params(("X-Requested-With" = String, Header, description = "Must be `salesforce-import` (cross-site request forgery defence): without it the answer is 403")),
    request_body(content = CallbackBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Connected", body = StatusView),
        (status = 400, description = "Malformed JSON, an empty code or state, an unknown, expired, replayed or foreign state, or a code Salesforce refused", body = ErrorBody),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 403, description = "The caller is not an admin, or the request lacks `X-Requested-With: salesforce-import` or comes from a foreign origin (cross-site request forgery defence)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "JSON of another shape", body = ErrorBody),
        (status = 500, description = "The token vault failed", body = ErrorBody),
        (status = 502, description = "Salesforce's token endpoint failed", body = ErrorBody),
    )
)]
pub(super) async fn callback(
    State(api): S,
    caller: Caller,
    JsonBody(body): JsonBody<CallbackBody>,
) -> Api<Json<StatusView>> {
    caller.require_admin()?;
    if body.code.is_empty() || body.state.is_empty() {
        return Err(ApiError::bad_request("code and state are both required"));
    }
    let status = api
        .oauth
        .complete(&caller.tenant, &caller.user, &body.code, &body.state)
        .await?;
    Ok(Json(StatusView::new(status, &caller)))
}

/// What disconnecting did.
#[derive(Serialize, ToSchema)]
#[schema(as = Disconnected)]
pub(super) struct DisconnectView {
    /// Whether there was an active connection (now deactivated).
    was_connected: bool,
    /// Whether Salesforce confirmed revoking the tokens. `false` when it
    /// could not be reached: the connection is deactivated all the same.
    revoked: bool,
    /// Why revoking was not tried, when it was not: the stored tokens could
    /// not be decrypted (the encryption key changed), so the connection was
    /// only deactivated here.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[utoipa::path(
    delete,
    path = "/disconnect",
    tag = "connection",
    operation_id = "disconnect",
    summary = "Disconnect Salesforce (admin)",
    description = "Deactivates the connection and asks Salesforce to revoke its tokens. Jobs and the record of what was imported stay. A connection whose tokens can no longer be decrypted (the encryption key changed) is deactivated without revoking, and `note` says so. An import running for the organization stops (fails) once its connection is gone.",
    security(("host_session" = [])),
    params(("X-Requested-With" = String, Header, description = "Must be `salesforce-import` (cross-site request forgery defence): without it the answer is 403")),
    responses(
        (status = 200, description = "Disconnected (or was not connected)", body = DisconnectView),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 403, description = "The caller is not an admin, or the request lacks `X-Requested-With: salesforce-import` or comes from a foreign origin (cross-site request forgery defence)", body = ErrorBody),
        (status = 500, description = "The token vault failed", body = ErrorBody),
    )
)]
pub(super) async fn disconnect(State(api): S, caller: Caller) -> Api<Json<DisconnectView>> {
    caller.require_admin()?;
    let done = api.oauth.disconnect(&caller.tenant).await?;
    let note = done.token_unreadable.then(|| {
        "the stored tokens could not be decrypted (the encryption key changed): \
         the connection was deactivated here without asking Salesforce to revoke them; \
         revoke them in Salesforce's Connected Apps OAuth Usage if needed"
            .to_owned()
    });
    Ok(Json(DisconnectView {
        was_connected: done.was_connected,
        revoked: done.revoked,
        note,
    }))
}

#[utoipa::path(
    get,
    path = "/import/objects",
    tag = "imports",
    operation_id = "object_types",
    summary = "The objects an admin can choose, with what each needs",
    security(("host_session" = [])),
    responses(
        (status = 200, description = "Every selectable object, in import order", body = Vec<ObjectTypeView>),
        (status = 401, description = "No session", body = ErrorBody),
    )
)]
pub(super) async fn object_types(State(api): S, _caller: Caller) -> Json<Vec<ObjectTypeView>> {
    Json(ObjectTypeView::all(api.importer.mappers()))
}

/// What to import.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StartImport)]
pub(super) struct StartBody {
    /// The objects, by API name (labels such as `Products`, and any case,
    /// are taken too). What they need is imported with them only if
    /// chosen: see `GET /import/objects`.
    #[schema(value_type = Vec<ObjectTypeName>, min_items = 1)]
    object_types: Vec<String>,
    /// `update_changed` (the default), `update` or `skip_existing`.
    #[serde(default)]
    #[schema(value_type = Option<ModeView>)]
    mode: Option<String>,
    /// Sync changes (default false): objects imported before read only
    /// what changed since, deletions included.
    #[serde(default)]
    sync: bool,
}

#[utoipa::path(
    post,
    path = "/import",
    tag = "imports",
    operation_id = "start_import",
    summary = "Start an import (admin)",
    description = "Creates the job and runs it in the background: follow it with `GET /import/{id}`. One import runs per organization at a time.",
    security(("host_session" = [])),
    params(("X-Requested-With" = String, Header, description = "Must be `salesforce-import` (cross-site request forgery defence): without it the answer is 403")),
    request_body(content = StartBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Started: the new job", body = JobView),
        (status = 400, description = "Malformed JSON, an empty or unknown object list, an unknown mode, or Salesforce not connected", body = ErrorBody),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 403, description = "The caller is not an admin, or the request lacks `X-Requested-With: salesforce-import` or comes from a foreign origin (cross-site request forgery defence)", body = ErrorBody),
        (status = 409, description = "An import is already running for this organization", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "JSON of another shape (an unknown field, a wrong type)", body = ErrorBody),
        (status = 500, description = "The job store or token vault failed", body = ErrorBody),
    )
)]
pub(super) async fn start_import(
    State(api): S,
    caller: Caller,
    JsonBody(body): JsonBody<StartBody>,
) -> Api<(StatusCode, Json<JobView>)> {
    caller.require_admin()?;
    let request = import_request(body, &caller)?;
    require_connected(&api, &caller).await?;
    // The import goes on in the background; the handle is not needed to
    // follow it (the job store has the progress) nor to cancel it
    // (`Importer::cancel`).
    #[cfg(feature = "apalis")]
    if let Some(queue) = &api.queue {
        let job = queue
            .enqueue(&api.importer, &caller.tenant, request)
            .await?;
        return Ok((StatusCode::ACCEPTED, Json(JobView::new(job))));
    }
    let handle = api.importer.start(&caller.tenant, request).await?;
    let job = api.jobs.job(&caller.tenant, handle.job_id()).await?;
    Ok((StatusCode::ACCEPTED, Json(JobView::new(job))))
}

/// The import a start (or preview) body asks for, checked.
pub(super) fn import_request(body: StartBody, caller: &Caller) -> Api<ImportRequest> {
    let objects = parse_objects(&body.object_types)?;
    let mode = match body.mode.as_deref() {
        None | Some("update_changed") => ModeView::UpdateChanged,
        Some("skip_existing") => ModeView::SkipExisting,
        Some("update") => ModeView::Update,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown mode {:?}: use \"update_changed\", \"update\" or \"skip_existing\"",
                clip(other)
            )));
        }
    };
    if body.sync && mode == ModeView::SkipExisting {
        return Err(ApiError::bad_request(
            "a sync updates what changed: mode skip_existing cannot be combined with sync",
        ));
    }
    Ok(ImportRequest::new(caller.user.clone(), objects)
        .mode(WriteMode::from(mode))
        .sync(body.sync))
}

/// The objects an admin asked for: Salesforce API names (`Product2`), or
/// the labels the page shows (`Products`), in any case.
fn parse_objects(names: &[String]) -> Api<Vec<SObject>> {
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "object_types is empty: choose at least one of Account, Contact, Opportunity, Product2, Order, Quote",
        ));
    }
    let mut objects = Vec::new();
    for name in names {
        let wanted = name.trim().to_ascii_lowercase();
        let found = SObject::SELECTABLE.into_iter().find(|o| {
            let api_name = o.as_str().to_ascii_lowercase();
            let plural = label(o).to_ascii_lowercase();
            wanted == api_name
                || wanted == plural
                || Some(wanted.as_str()) == plural.strip_suffix('s')
                || (wanted == "product" && *o == SObject::PRODUCT2)
                || (wanted == "opportunity" && *o == SObject::OPPORTUNITY)
        });
        match found {
            Some(o) if !objects.contains(&o) => objects.push(o),
            Some(_) => {}
            None => {
                return Err(ApiError::bad_request(format!(
                    "unknown object type {:?}: use Account, Contact, Opportunity, Product2, Order or Quote",
                    clip(name)
                )));
            }
        }
    }
    Ok(objects)
}

#[utoipa::path(
    get,
    path = "/import/history",
    tag = "imports",
    operation_id = "history",
    summary = "The organization's newest jobs, newest first",
    description = "The newest 50 jobs (the host may configure another limit), without their error logs.",
    security(("host_session" = [])),
    responses(
        (status = 200, description = "The jobs", body = Vec<JobView>),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 500, description = "The job store failed", body = ErrorBody),
    )
)]
pub(super) async fn history(State(api): S, caller: Caller) -> Api<Json<Vec<JobView>>> {
    let jobs = api.jobs.history(&caller.tenant, api.history).await?;
    Ok(Json(jobs.into_iter().map(JobView::new).collect()))
}

#[utoipa::path(
    get,
    path = "/import/{id}",
    tag = "imports",
    operation_id = "job",
    summary = "One job, with its error log",
    description = "The job with the first 1,000 lines of its error log; `error_log_truncated` says whether more follow, and `error_log_next` where `GET /import/{id}/log` reads on.",
    security(("host_session" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job, with `error_log`, `error_log_truncated` and (when cut) `error_log_next`", body = JobView),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 404, description = "No such job in the caller's organization", body = ErrorBody),
        (status = 500, description = "The job store failed", body = ErrorBody),
    )
)]
pub(super) async fn job(State(api): S, caller: Caller, JobPath(id): JobPath) -> Api<Json<JobView>> {
    let job = api.jobs.job(&caller.tenant, &id).await?;
    let log = api.jobs.log_page(&caller.tenant, &id, 0, LOG_LINES).await?;
    Ok(Json(JobView::new(job).with_log(log)))
}

#[utoipa::path(
    post,
    path = "/import/{id}/cancel",
    tag = "imports",
    operation_id = "cancel",
    summary = "Cancel a running job (admin)",
    description = "The import stops at its next page; what was written stays.",
    security(("host_session" = [])),
    params(
        ("id" = String, Path, description = "The job's id"),
        ("X-Requested-With" = String, Header, description = "Must be `salesforce-import` (cross-site request forgery defence): without it the answer is 403"),
    ),
    responses(
        (status = 200, description = "The job, cancelled or stopping", body = JobView),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 403, description = "The caller is not an admin, or the request lacks `X-Requested-With: salesforce-import` or comes from a foreign origin (cross-site request forgery defence)", body = ErrorBody),
        (status = 404, description = "No such job in the caller's organization", body = ErrorBody),
        (status = 409, description = "The job is not running", body = ErrorBody),
        (status = 500, description = "The job store failed", body = ErrorBody),
    )
)]
pub(super) async fn cancel(
    State(api): S,
    caller: Caller,
    JobPath(id): JobPath,
) -> Api<Json<JobView>> {
    caller.require_admin()?;
    check_job(&api, &caller, &id, "cancelled", |j| j.status.is_running()).await?;
    if !api.importer.cancel(&caller.tenant, &id) {
        // Not running in this process: left over from a crash (or run by
        // another server, which stops at its next page when it sees this).
        api.jobs
            .set_status(
                &caller.tenant,
                &id,
                JobStatus::Cancelled,
                chrono::Utc::now(),
                Some(format!("cancelled by {}", caller.user)),
                // An administrator's write: not fenced by a lease.
                None,
            )
            .await?;
    }
    let job = api.jobs.job(&caller.tenant, &id).await?;
    Ok(Json(JobView::new(job)))
}

#[utoipa::path(
    post,
    path = "/import/{id}/resume",
    tag = "imports",
    operation_id = "resume",
    summary = "Resume a failed or interrupted job (admin)",
    description = "Continues a job that stopped with an error (Salesforce's API limit reached, Salesforce or the database unreachable), or one whose server died while running it (`interrupted`), from its checkpoints, in the background. Records already imported are not written again.",
    security(("host_session" = [])),
    params(
        ("id" = String, Path, description = "The job's id"),
        ("X-Requested-With" = String, Header, description = "Must be `salesforce-import` (cross-site request forgery defence): without it the answer is 403"),
    ),
    responses(
        (status = 202, description = "Resumed: the job as the resumed run has it (`IN_PROGRESS`, or `PENDING` when queued for a worker)", body = JobView),
        (status = 400, description = "Salesforce not connected", body = ErrorBody),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 403, description = "The caller is not an admin, or the request lacks `X-Requested-With: salesforce-import` or comes from a foreign origin (cross-site request forgery defence)", body = ErrorBody),
        (status = 404, description = "No such job in the caller's organization", body = ErrorBody),
        (status = 409, description = "The job neither failed nor was interrupted, or another import is running", body = ErrorBody),
        (status = 500, description = "The job store or token vault failed", body = ErrorBody),
    )
)]
pub(super) async fn resume(
    State(api): S,
    caller: Caller,
    JobPath(id): JobPath,
) -> Api<(StatusCode, Json<JobView>)> {
    caller.require_admin()?;
    // A failed job, or a stranded one (its process is gone: the lease
    // lapsed). One still leased runs on another server: 409.
    check_job(&api, &caller, &id, "resumed", |j| {
        j.status == JobStatus::Failed || j.is_stranded(chrono::Utc::now())
    })
    .await?;
    require_connected(&api, &caller).await?;
    #[cfg(feature = "apalis")]
    if let Some(queue) = &api.queue {
        let task = crate::workers::ImportTask::new(caller.tenant.clone(), id.clone());
        queue.push(task).await?;
        let mut job = api.jobs.job(&caller.tenant, &id).await?;
        // Queued: a worker takes it up. Not failed any more.
        if !job.status.is_running() {
            job.status = JobStatus::Pending;
            job.message = None;
        }
        return Ok((StatusCode::ACCEPTED, Json(JobView::new(job))));
    }
    let mut handle = api.importer.resume(&caller.tenant, &id).await?;
    // The answer is the job as the resumed run has it: wait (briefly) for
    // the run to take it, so that it no longer reads as failed.
    let mut events = handle.events();
    let started = tokio::time::timeout(RESUME_WAIT, events.next()).await;
    drop(events);
    let mut job = api.jobs.job(&caller.tenant, handle.job_id()).await?;
    if started.is_err() && job.status == JobStatus::Failed {
        // Not started yet (a slow job store): it is being resumed.
        job.status = JobStatus::InProgress;
        job.message = None;
    }
    Ok((StatusCode::ACCEPTED, Json(JobView::new(job))))
}

/// How long `POST /import/{id}/resume` waits for the resumed run to start.
const RESUME_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// 400 unless the caller's tenant has an active Salesforce connection
/// (one whose tokens cannot be decrypted is not one).
pub(super) async fn require_connected(api: &Shared, caller: &Caller) -> Api<()> {
    match api.oauth.status(&caller.tenant).await {
        Ok(status) if status.connected => Ok(()),
        Ok(_) => Err(Error::NotConnected {
            tenant: caller.tenant.clone(),
        }
        .into()),
        Err(Error::TokenDecryption) => Err(ApiError::bad_request(format!(
            "Salesforce is not connected: {TOKEN_UNREADABLE}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// 404 unless the job is the caller's tenant's, 409 when its status does
/// not allow `action`.
async fn check_job(
    api: &Shared,
    caller: &Caller,
    id: &JobId,
    action: &'static str,
    allowed: impl Fn(&Job) -> bool,
) -> Api<()> {
    let job = api.jobs.job(&caller.tenant, id).await?;
    if allowed(&job) {
        Ok(())
    } else {
        Err(Error::JobNotResumable {
            job: id.clone(),
            status: job.status,
            action,
        }
        .into())
    }
}

pub(super) async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// A route that exists, with a method it does not take (axum adds the
/// `Allow` header).
pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
