//! Before and after an import: `POST /import/preview`, the dry run
//! ([`Importer::preview`](crate::Importer::preview)), and
//! `GET /import/{id}/missing-parents.csv`, the records that failed for want
//! of a required parent
//! ([`Importer::missing_parents`](crate::Importer::missing_parents)).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use super::Shared;
use super::caller::Caller;
use super::error::{ApiError, ErrorBody, JsonBody};
use super::handlers::{JobPath, StartBody, import_request, require_connected};
use super::log::csv_attachment;
use super::views::{LogView, label};
use crate::engine::{ObjectPreview, Preview};
use crate::object::SObject;

/// How many rejections a preview lists.
const REJECTIONS: usize = 100;

/// What an import would do with one object.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ObjectPreview)]
pub(super) struct ObjectPreviewView {
    /// The Salesforce API name: a selectable object or one imported with
    /// it (`PricebookEntry`, `OrderItem`, `QuoteLineItem`).
    #[schema(value_type = String, example = "Account")]
    object_type: SObject,
    /// The name an admin reads: `Accounts`, `Products`, ...
    label: &'static str,
    /// Records read from Salesforce.
    read: u64,
    /// Records that would be created.
    create: u64,
    /// Records imported before that would be written over.
    update: u64,
    /// Records imported before that would be left as they are.
    skip: u64,
    /// Records that would be deleted (a sync).
    delete: u64,
    /// Records that would fail.
    reject: u64,
    /// `false` when the org does not have the object.
    available: bool,
}

impl From<&ObjectPreview> for ObjectPreviewView {
    fn from(o: &ObjectPreview) -> ObjectPreviewView {
        ObjectPreviewView {
            label: label(&o.object),
            object_type: o.object.clone(),
            read: o.read,
            create: o.create,
            update: o.update,
            skip: o.skip,
            delete: o.delete,
            reject: o.reject,
            available: !o.unavailable,
        }
    }
}

/// What an import would do, object by object, with its first rejections.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Preview)]
pub(super) struct PreviewView {
    /// In the order the import would run them.
    objects: Vec<ObjectPreviewView>,
    /// The first 100 records that would fail, in the order the import would
    /// meet them.
    rejections: Vec<LogView>,
}

impl From<Preview> for PreviewView {
    fn from(p: Preview) -> PreviewView {
        PreviewView {
            objects: p.objects.iter().map(ObjectPreviewView::from).collect(),
            rejections: p.rejections.into_iter().map(LogView::from).collect(),
        }
    }
}

#[utoipa::path(
    post,
    path = "/import/preview",
    tag = "imports",
    operation_id = "preview_import",
    summary = "What an import would do, without doing it (admin)",
    description = "A dry run of `POST /import` with the same body: per object, how many records the import would create, update, skip, delete and reject, with the first 100 rejections. Reads Salesforce and the id map as the import would; writes nothing (no record, no id-map entry, no job). The counts are those the import then makes, unless the org changes in between or the CRM refuses a record on its own. It reads every selected record: on a large org it takes about as long as reading the import's pages.",
    security(("host_session" = [])),
    params(("X-Requested-With" = String, Header, description = "Must be `salesforce-import` (cross-site request forgery defence): without it the answer is 403")),
    request_body(content = StartBody, content_type = "application/json"),
    responses(
        (status = 200, description = "What the import would do", body = PreviewView),
        (status = 400, description = "Malformed JSON, an empty or unknown object list, an unknown mode, or Salesforce not connected", body = ErrorBody),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 403, description = "The caller is not an admin, or the request lacks `X-Requested-With: salesforce-import` or comes from a foreign origin", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "JSON of another shape", body = ErrorBody),
        (status = 500, description = "Salesforce, the job store or the token vault failed", body = ErrorBody),
    )
)]
pub(super) async fn preview(
    State(api): State<Arc<Shared>>,
    caller: Caller,
    JsonBody(body): JsonBody<StartBody>,
) -> Result<Json<PreviewView>, ApiError> {
    caller.require_admin()?;
    let request = import_request(body, &caller)?;
    require_connected(&api, &caller).await?;
    let preview = api
        .importer
        .preview(&caller.tenant, &request, REJECTIONS)
        .await?;
    Ok(Json(preview.into()))
}

#[utoipa::path(
    get,
    path = "/import/{id}/missing-parents.csv",
    tag = "imports",
    operation_id = "missing_parents_csv",
    summary = "A job's missing-parent report (CSV)",
    description = "Every record of the job that failed because a required parent was not found, grouped by parent: `object`, `sf_id`, `field`, `parent_object`, `parent_id`, `reason` (`not_selected`: the parent's object was not imported; `failed`: the parent failed itself; `not_found`: not in the org). A header row alone when there is none. Sent as an attachment, `salesforce-import-<job>-missing-parents.csv`.",
    security(("host_session" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The report", content_type = "text/csv", body = String,
         headers(("Content-Disposition" = String, description = "`attachment; filename=\"salesforce-import-<job>-missing-parents.csv\"`"))),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 404, description = "No such job in the caller's organization", body = ErrorBody),
        (status = 500, description = "The job store failed", body = ErrorBody),
    )
)]
pub(super) async fn missing_parents_csv(
    State(api): State<Arc<Shared>>,
    caller: Caller,
    JobPath(id): JobPath,
) -> Result<Response, ApiError> {
    let report = api.importer.missing_parents(&caller.tenant, &id).await?;
    let mut body = Vec::new();
    report
        .write_csv(&mut body)
        .expect("writing to a Vec does not fail");
    Ok(csv_attachment(&id, "missing-parents", body))
}
