//! Authenticated calls to the REST API: the bearer token, one refresh on
//! `INVALID_SESSION_ID`, retries of transport failures and 5xx, and
//! Salesforce's errors as ours.
//!
//! # Where retries live
//!
//! Here, not in the engine: each call is retried with backoff and jitter
//! (the engine's own `Backoff`) up to the source's `max_attempts`, and
//! what is still failing then comes back as [`Error::RetriesExhausted`],
//! which is not temporary, so the engine does not retry it again and the
//! attempts are never multiplied. A page fetch makes at most
//! `max_attempts` requests for its failures, plus one retry after a
//! token refresh.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::limits::{LIMIT_INFO, parse_limit_info};
use super::oauth::SalesforceOAuth;
use crate::error::{ApiErrorCode, Error, Result};
use crate::id::TenantId;
use crate::retry::Backoff;
use crate::source::ApiUsage;
use crate::vault::Connection;

/// An answer from the API: the parsed body and the org's API usage.
#[derive(Debug)]
pub(crate) struct Answer<T> {
    pub(crate) body: T,
    pub(crate) usage: Option<ApiUsage>,
}

/// One call to make: a path under the instance URL, its query, and what
/// to call it in errors; a GET unless [`method`](Get::method) says other.
#[derive(Debug)]
pub(crate) struct Get<'a> {
    /// `/services/data/v62.0/query` or a `nextRecordsUrl`.
    pub(crate) path: &'a str,
    pub(crate) query: &'a [(&'a str, &'a str)],
    pub(crate) headers: HeaderMap,
    /// For a person to read: `query Account (SELECT ...)`.
    pub(crate) name: &'a str,
    pub(crate) method: Method,
    /// A JSON body (`POST`, `PATCH`).
    pub(crate) body: Option<serde_json::Value>,
}

impl<'a> Get<'a> {
    /// A GET of `path`.
    pub(crate) fn new(path: &'a str, name: &'a str) -> Get<'a> {
        Get {
            path,
            query: &[],
            headers: HeaderMap::new(),
            name,
            method: Method::GET,
            body: None,
        }
    }
}

/// A successful answer's body as it came, with its headers.
#[derive(Debug)]
pub(crate) struct Raw {
    pub(crate) body: bytes::Bytes,
    pub(crate) headers: HeaderMap,
    pub(crate) usage: Option<ApiUsage>,
}

/// Salesforce's error body: `[{"message": ..., "errorCode": ...}]`.
#[derive(Debug, Deserialize)]
struct ApiError {
    #[serde(rename = "errorCode")]
    code: String,
    #[serde(default)]
    message: String,
}

/// How one attempt went wrong.
enum Failure {
    /// 401: the access token is no longer valid.
    Expired,
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ApiClient {
    pub(crate) oauth: Arc<SalesforceOAuth>,
    pub(crate) backoff: Backoff,
}

impl ApiClient {
    /// Makes the call and reads its answer as JSON, with retries (see the
    /// module docs).
    pub(crate) async fn get<T: DeserializeOwned + Send>(
        &self,
        tenant: &TenantId,
        get: &Get<'_>,
    ) -> Result<Answer<T>> {
        let raw = self.raw(tenant, get).await?;
        // Checked as UTF-8 once, whole: a parser over bytes checks every
        // raw value it lends (each record's members) on its own.
        let parsed = match std::str::from_utf8(&raw.body) {
            Ok(text) => serde_json::from_str::<T>(text),
            Err(_) => serde_json::from_slice::<T>(&raw.body),
        };
        match parsed {
            Ok(body) => Ok(Answer {
                body,
                usage: raw.usage,
            }),
            Err(e) => {
                let html = raw
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
                Err(unreadable(get.name, StatusCode::OK, html, &raw.body, e))
            }
        }
    }

    /// Makes the call and returns its answer as it came (CSV, or nothing),
    /// with retries.
    pub(crate) async fn raw(&self, tenant: &TenantId, get: &Get<'_>) -> Result<Raw> {
        self.backoff
            .run("Salesforce API call", || self.attempt(tenant, get))
            .await
    }

    /// One attempt; on an expired session, one refresh (shared with
    /// concurrent requests) and one retry with the new token.
    async fn attempt(&self, tenant: &TenantId, get: &Get<'_>) -> Result<Raw> {
        let connection = self.oauth.active_connection(tenant).await?;
        match self.send(&connection, get).await {
            Ok(answer) => Ok(answer),
            Err(Failure::Error(e)) => Err(e),
            Err(Failure::Expired) => {
                tracing::info!(tenant = %tenant, "Salesforce session expired; refreshing");
                let fresh = self
                    .oauth
                    .refresh_after(tenant, Some(&connection.access_token))
                    .await?;
                match self.send(&fresh, get).await {
                    Ok(answer) => Ok(answer),
                    Err(Failure::Error(e)) => Err(e),
                    Err(Failure::Expired) => Err(Error::SessionExpired),
                }
            }
        }
    }

    async fn send(&self, connection: &Connection, get: &Get<'_>) -> Result<Raw, Failure> {
        let mut auth = HeaderValue::try_from(format!(
            "Bearer {}",
            connection.access_token.expose_secret()
        ))
        .map_err(|_| Failure::Expired)?;
        auth.set_sensitive(true);
        let mut request = self
            .oauth
            .http()
            .request(
                get.method.clone(),
                format!("{}{}", connection.instance_url, get.path),
            )
            .query(get.query)
            .headers(get.headers.clone())
            .header(AUTHORIZATION, auth);
        if let Some(body) = &get.body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| transport(get.name, e))?;
        let status = response.status();
        let usage = response
            .headers()
            .get(LIMIT_INFO)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_limit_info);
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let html = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| transport(get.name, e))?;

        if status.is_success() {
            return Ok(Raw {
                body,
                headers,
                usage,
            });
        }
        if status.is_server_error() {
            return Err(Error::Unreachable {
                request: get.name.to_owned(),
                problem: match first_error(&body) {
                    Some(e) => format!("HTTP {} {}: {}", status.as_u16(), e.code, e.message),
                    None => format!("HTTP {}", status.as_u16()),
                }
                .into(),
                source: None,
            }
            .into());
        }
        let error = first_error(&body).map(|e| (ApiErrorCode::parse(&e.code), e.message));
        if status == StatusCode::UNAUTHORIZED
            && error
                .as_ref()
                .is_none_or(|(code, _)| *code == ApiErrorCode::InvalidSessionId)
        {
            return Err(Failure::Expired);
        }
        match error {
            Some((ApiErrorCode::RequestLimitExceeded, message)) => Err(Error::RateLimited {
                message,
                retry_after,
            }
            .into()),
            Some((code, message)) => Err(Error::Api {
                request: get.name.to_owned(),
                status: status.as_u16(),
                code,
                message,
            }
            .into()),
            None => Err(Error::BadResponse {
                request: get.name.to_owned(),
                problem: if html || body.trim_ascii_start().starts_with(b"<") {
                    format!(
                        "HTTP {}: an HTML page, not Salesforce's error JSON",
                        status.as_u16()
                    )
                } else {
                    format!("HTTP {}: not Salesforce's error JSON", status.as_u16())
                }
                .into(),
                source: None,
            }
            .into()),
        }
    }
}

fn first_error(body: &[u8]) -> Option<ApiError> {
    serde_json::from_slice::<Vec<ApiError>>(body)
        .ok()?
        .into_iter()
        .next()
}

fn transport(request: &str, e: reqwest::Error) -> Failure {
    let problem = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "connection lost while reading the answer"
    } else {
        "request failed"
    };
    Failure::Error(Error::Unreachable {
        request: request.to_owned(),
        problem: problem.into(),
        source: Some(Box::new(e.without_url())),
    })
}

fn unreadable(
    request: &str,
    status: StatusCode,
    html: bool,
    body: &[u8],
    e: serde_json::Error,
) -> Error {
    let problem = if html || body.trim_ascii_start().starts_with(b"<") {
        format!("HTTP {}: an HTML page instead of JSON", status.as_u16())
    } else if e.is_eof() {
        format!(
            "HTTP {}: JSON cut short after {} bytes",
            status.as_u16(),
            body.len()
        )
    } else {
        format!("HTTP {}: not the JSON expected", status.as_u16())
    };
    Error::BadResponse {
        request: request.to_owned(),
        problem: problem.into(),
        source: Some(Box::new(e)),
    }
}
