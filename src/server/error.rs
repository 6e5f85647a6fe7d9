//! Errors as the router answers them: `{"error": true, "message": "..."}`
//! with the right status code.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::error::{Error, OAuthStep};
use crate::id::{JobId, TenantId};

/// An error answer of the router.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

/// Every error answer's body.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    #[schema(schema_with = always_true)]
    error: bool,
    /// What went wrong, for a person to read. A 500's message names no
    /// internals (they are in the server's log).
    message: &'a str,
}

fn always_true() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .description(Some("Always `true`."))
        .enum_values(Some([true]))
        .build()
}

/// The most characters of a caller's input an error message repeats.
const ECHO: usize = 100;

/// The longest error message (the backstop for messages that quote the
/// caller's input in ways [`clip`] does not see, such as serde's).
const MESSAGE: usize = 300;

/// `value`, cut to [`ECHO`] characters with an ellipsis: what an error
/// message may repeat of the caller's input.
pub(crate) fn clip(value: &str) -> String {
    clip_to(value, ECHO)
}

fn clip_to(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: clip_to(&message.into(), MESSAGE),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this endpoint does not take that method; the Allow header lists the ones it takes",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(ErrorBody {
            error: true,
            message: &self.message,
        });
        (self.status, body).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        let status = status_of(&err);
        if status.is_server_error() {
            // The details stay in the log; the caller gets a plain message.
            tracing::error!(error = %err, source = ?std::error::Error::source(&err), "salesforce import API");
        }
        let message = match status {
            StatusCode::INTERNAL_SERVER_ERROR => {
                "the import service failed; the details are in the server's log".to_owned()
            }
            _ => user_message(echo_clipped(err)),
        };
        ApiError::new(status, message)
    }
}

/// Salesforce not connected, as the router says it (no tenant id).
pub(crate) const NOT_CONNECTED: &str =
    "Salesforce is not connected: an administrator connects it in the settings";

/// The connection stored cannot be decrypted (the encryption key changed).
pub(crate) const TOKEN_UNREADABLE: &str =
    "the stored connection can no longer be read (the encryption key changed): connect again";

/// The error's message for a person to read: as the crate's `Display`,
/// without the internal tenant id.
fn user_message(err: Error) -> String {
    match err {
        Error::NotConnected { .. } => NOT_CONNECTED.to_owned(),
        Error::ImportAlreadyRunning { job, .. } => {
            format!("an import is already running (job {job})")
        }
        Error::ImportStranded { job, .. } => {
            format!("the import (job {job}) was interrupted and can be resumed")
        }
        Error::JobNotFound { job, .. } => format!("no import job {job}"),
        other => other.to_string(),
    }
}

/// A job's stored message as the router shows it: the crate's error
/// texts name the tenant, which users do not need to see.
pub(crate) fn scrub_tenant(message: String, tenant: &TenantId) -> String {
    let not_connected = Error::NotConnected {
        tenant: tenant.clone(),
    }
    .to_string();
    message
        .replace(&not_connected, "Salesforce is not connected")
        .replace(&format!(" for tenant {tenant}"), "")
        .replace(&format!("the import of tenant {tenant} "), "the import ")
}

/// The error with what the caller sent (a job id from the path) clipped.
fn echo_clipped(err: Error) -> Error {
    match err {
        Error::JobNotFound { tenant, job } => Error::JobNotFound {
            tenant: TenantId::new(clip(tenant.as_str())),
            job: JobId::new(clip(job.as_str())),
        },
        Error::JobNotResumable {
            job,
            status,
            action,
        } => Error::JobNotResumable {
            job: JobId::new(clip(job.as_str())),
            status,
            action,
        },
        Error::HostNotAllowed { url, reason } => Error::HostNotAllowed {
            url: clip(&url),
            reason,
        },
        other => other,
    }
}

fn status_of(err: &Error) -> StatusCode {
    match err {
        Error::Config { .. }
        | Error::NotConnected { .. }
        | Error::SessionExpired
        | Error::OAuthState { .. }
        | Error::HostNotAllowed { .. } => StatusCode::BAD_REQUEST,
        // The code came with the caller's callback.
        Error::OAuth {
            step: OAuthStep::CodeExchange,
            ..
        } => StatusCode::BAD_REQUEST,
        Error::ImportAlreadyRunning { .. }
        | Error::ImportStranded { .. }
        | Error::JobNotResumable { .. }
        | Error::LeaseLost { .. } => StatusCode::CONFLICT,
        Error::JobNotFound { .. } => StatusCode::NOT_FOUND,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Source { .. }
        | Error::RetriesExhausted { .. }
        | Error::ObjectNotAvailable { .. }
        | Error::Unreachable { .. }
        | Error::Api { .. }
        | Error::BadResponse { .. }
        | Error::OAuth { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `axum::Json`, with rejections answered as [`ApiError`]s: malformed JSON
/// is 400, well-formed JSON of the wrong shape 422, a missing
/// `Content-Type: application/json` 415.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(from_rejection(rejection)),
        }
    }
}

/// An optional JSON body: none at all (no `Content-Type`, nothing sent)
/// is `None`; anything else is read as [`JsonBody`] reads it (a body that
/// is not `application/json` is 415).
#[derive(Debug)]
pub(crate) struct MaybeJsonBody<T>(pub(crate) Option<T>);

impl<T, S> FromRequest<S> for MaybeJsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            let JsonBody(value) = JsonBody::<T>::from_request(req, state).await?;
            return Ok(MaybeJsonBody(Some(value)));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::new(r.status(), r.body_text()))?;
        if body.is_empty() {
            Ok(MaybeJsonBody(None))
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a body must be JSON, with `Content-Type: application/json`",
            ))
        }
    }
}

fn from_rejection(rejection: JsonRejection) -> ApiError {
    ApiError::new(rejection.status(), rejection.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_input_is_clipped() {
        let long = "x".repeat(1 << 20);
        let (status, message) = answer(Error::JobNotFound {
            tenant: TenantId::new("acme"),
            job: JobId::new(long.clone()),
        });
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(message.len() < 200, "{} bytes", message.len());
        assert!(message.contains("…"), "{message}");
        assert_eq!(clip("short"), "short");
        assert_eq!(clip(&"é".repeat(101)), format!("{}…", "é".repeat(100)));
        let backstop = ApiError::bad_request(long);
        assert_eq!(backstop.message.chars().count(), MESSAGE + 1);
    }

    fn answer(err: Error) -> (StatusCode, String) {
        let e = ApiError::from(err);
        (e.status, e.message)
    }

    #[test]
    fn statuses_follow_the_error() {
        let tenant = TenantId::new("acme");
        let job = JobId::new("7");
        let cases = [
            (Error::config("x"), StatusCode::BAD_REQUEST),
            (
                Error::NotConnected {
                    tenant: tenant.clone(),
                },
                StatusCode::BAD_REQUEST,
            ),
            (
                Error::OAuthState { reason: "expired" },
                StatusCode::BAD_REQUEST,
            ),
            (
                Error::ImportAlreadyRunning {
                    tenant: tenant.clone(),
                    job: job.clone(),
                },
                StatusCode::CONFLICT,
            ),
            (Error::JobNotFound { tenant, job }, StatusCode::NOT_FOUND),
            (
                Error::RateLimited {
                    message: "TotalRequests Limit exceeded.".into(),
                    retry_after: None,
                },
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                Error::OAuth {
                    step: OAuthStep::Revoke,
                    message: "down".into(),
                    source: None,
                },
                StatusCode::BAD_GATEWAY,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(answer(err).0, status);
        }
    }

    #[test]
    fn messages_name_no_tenant_id() {
        let tenant = TenantId::new("acme-internal-7");
        let job = JobId::new("7");
        for err in [
            Error::NotConnected {
                tenant: tenant.clone(),
            },
            Error::ImportAlreadyRunning {
                tenant: tenant.clone(),
                job: job.clone(),
            },
            Error::JobNotFound {
                tenant: tenant.clone(),
                job: job.clone(),
            },
        ] {
            let (_, message) = answer(err);
            assert!(!message.contains("acme-internal-7"), "{message}");
        }
        let (_, message) = answer(Error::NotConnected {
            tenant: tenant.clone(),
        });
        assert!(
            message.starts_with("Salesforce is not connected"),
            "{message}"
        );
        let stored = Error::NotConnected {
            tenant: tenant.clone(),
        }
        .to_string();
        assert_eq!(
            scrub_tenant(format!("Contact: {stored}"), &tenant),
            "Contact: Salesforce is not connected"
        );
    }

    #[test]
    fn a_store_failure_is_500_without_its_details() {
        let (status, message) = answer(Error::store(
            "job store",
            "insert into sf_import_jobs",
            "password authentication failed for user \"crm\"",
        ));
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!message.contains("sf_import_jobs") && !message.contains("password"));
        assert!(message.contains("server's log"), "{message}");
    }
}
