//! What is in the org before an import: `GET /import/counts`, the org's
//! live records per selectable object, shown beside each checkbox (the
//! dry run, `POST /import/preview`, is in `preview.rs`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use futures::future::join_all;
use serde::Serialize;
use utoipa::ToSchema;

use super::Shared;
use super::caller::Caller;
use super::error::{ApiError, ErrorBody};
use super::handlers::require_connected;
use super::views::{ObjectTypeName, label};
use crate::error::Error;
use crate::object::SObject;

/// How many records of one object the org holds.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ObjectCount)]
pub(super) struct ObjectCountView {
    /// The Salesforce API name, as `POST /import` takes it.
    #[schema(value_type = ObjectTypeName)]
    object_type: SObject,
    /// The name an admin reads: `Accounts`, `Products`, ...
    label: &'static str,
    /// Live records (the recycle bin not counted); `null` when the source
    /// cannot tell cheaply, or the org does not have the object.
    #[schema(minimum = 0)]
    count: Option<u64>,
    /// `false` when the org does not have the object (Orders or Quotes
    /// not enabled): an import skips it.
    available: bool,
}

#[utoipa::path(
    get,
    path = "/import/counts",
    tag = "imports",
    operation_id = "object_counts",
    summary = "The org's record count per selectable object",
    description = "For each object `GET /import/objects` lists, how many live records the connected org holds (`SELECT COUNT() FROM <object>`, kept a minute). Needs a connection. An object whose count cannot be had is `count: null`.",
    security(("host_session" = [])),
    responses(
        (status = 200, description = "One count per selectable object, in import order", body = Vec<ObjectCountView>),
        (status = 400, description = "Salesforce not connected", body = ErrorBody),
        (status = 401, description = "No session", body = ErrorBody),
        (status = 429, description = "Salesforce's API limit reached", body = ErrorBody),
        (status = 500, description = "The token vault failed", body = ErrorBody),
        (status = 502, description = "Salesforce failed", body = ErrorBody),
    )
)]
pub(super) async fn object_counts(
    State(api): State<Arc<Shared>>,
    caller: Caller,
) -> Result<Json<Vec<ObjectCountView>>, ApiError> {
    require_connected(&api, &caller).await?;
    let objects = SObject::SELECTABLE;
    let answers = match &api.source {
        Some(source) => {
            join_all(
                objects
                    .iter()
                    .map(|object| source.count_records(&caller.tenant, object)),
            )
            .await
        }
        None => objects.iter().map(|_| Ok(None)).collect(),
    };
    let mut counts = Vec::with_capacity(objects.len());
    for (object, answer) in objects.iter().zip(answers) {
        let (count, available) = match answer {
            Ok(count) => (count, true),
            Err(Error::ObjectNotAvailable { .. }) => (None, false),
            Err(e) => return Err(e.into()),
        };
        counts.push(ObjectCountView {
            label: label(object),
            object_type: object.clone(),
            count,
            available,
        });
    }
    Ok(Json(counts))
}
