//! One function per endpoint.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::caller::Caller;
use super::error::{ApiError, JsonBody};
use super::views::{ConnectView, JobView, ObjectTypeView, StatusView, label};
use crate::{Error, ImportRequest, JobId, JobStatus, SObject, WriteMode};

type Api<T> = Result<T, ApiError>;
type S = State<Arc<Shared>>;

/// How many error-log lines `GET /import/{id}` returns.
const LOG_LINES: usize = 1_000;

pub(super) async fn status(State(api): S, caller: Caller) -> Api<Json<StatusView>> {
    Ok(Json(api.oauth.status(&caller.tenant).await?.into()))
}

pub(super) async fn connect(State(api): S, caller: Caller) -> Api<Json<ConnectView>> {
    caller.require_admin()?;
    let authorization = api.oauth.authorize(&caller.tenant, &caller.user).await?;
    Ok(Json(ConnectView {
        authorization_url: authorization.url,
    }))
}

#[derive(Deserialize)]
pub(super) struct CallbackBody {
    code: String,
    state: String,
}

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
    Ok(Json(status.into()))
}

#[derive(Serialize)]
pub(super) struct DisconnectView {
    was_connected: bool,
    revoked: bool,
}

pub(super) async fn disconnect(State(api): S, caller: Caller) -> Api<Json<DisconnectView>> {
    caller.require_admin()?;
    let done = api.oauth.disconnect(&caller.tenant).await?;
    Ok(Json(DisconnectView {
        was_connected: done.was_connected,
        revoked: done.revoked,
    }))
}

pub(super) async fn object_types(State(api): S, _caller: Caller) -> Json<Vec<ObjectTypeView>> {
    Json(ObjectTypeView::all(api.importer.mappers()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StartBody {
    object_types: Vec<String>,
    #[serde(default)]
    mode: Option<String>,
}

pub(super) async fn start_import(
    State(api): S,
    caller: Caller,
    JsonBody(body): JsonBody<StartBody>,
) -> Api<(StatusCode, Json<JobView>)> {
    caller.require_admin()?;
    let objects = parse_objects(&body.object_types)?;
    let mode = match body.mode.as_deref() {
        None | Some("skip_existing") => WriteMode::SkipExisting,
        Some("update") => WriteMode::Update,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown mode {other:?}: use \"skip_existing\" or \"update\""
            )));
        }
    };
    if !api.oauth.status(&caller.tenant).await?.connected {
        return Err(Error::NotConnected {
            tenant: caller.tenant,
        }
        .into());
    }
    let request = ImportRequest::new(caller.user.clone(), objects).mode(mode);
    // The import goes on in the background; the handle is not needed to
    // follow it (the job store has the progress) nor to cancel it
    // (`Importer::cancel`).
    let handle = api.importer.start(&caller.tenant, request).await?;
    let job = api.jobs.job(&caller.tenant, handle.job_id()).await?;
    Ok((StatusCode::ACCEPTED, Json(JobView::new(job))))
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
                    "unknown object type {name:?}: use Account, Contact, Opportunity, Product2, Order or Quote"
                )));
            }
        }
    }
    Ok(objects)
}

pub(super) async fn history(State(api): S, caller: Caller) -> Api<Json<Vec<JobView>>> {
    let jobs = api.jobs.history(&caller.tenant, api.history).await?;
    Ok(Json(jobs.into_iter().map(JobView::new).collect()))
}

pub(super) async fn job(
    State(api): S,
    caller: Caller,
    Path(id): Path<String>,
) -> Api<Json<JobView>> {
    let id = JobId::new(id);
    let job = api.jobs.job(&caller.tenant, &id).await?;
    let log = api
        .jobs
        .error_log(&caller.tenant, &id, 0, LOG_LINES)
        .await?;
    Ok(Json(JobView::new(job).with_log(log)))
}

pub(super) async fn cancel(
    State(api): S,
    caller: Caller,
    Path(id): Path<String>,
) -> Api<Json<JobView>> {
    caller.require_admin()?;
    let id = JobId::new(id);
    let job = api.jobs.job(&caller.tenant, &id).await?;
    if !job.status.is_running() {
        return Err(Error::JobNotResumable {
            job: id,
            status: job.status,
            action: "cancelled",
        }
        .into());
    }
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
            )
            .await?;
    }
    let job = api.jobs.job(&caller.tenant, &id).await?;
    Ok(Json(JobView::new(job)))
}

pub(super) async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}
