//! What the oauth2 crate needs from us: an HTTP client over our reqwest
//! 0.13 client, and Salesforce's token response.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::{BasicErrorResponse, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AccessToken, AsyncHttpClient, HttpRequest, HttpResponse, RefreshToken, RequestTokenError, Scope,
};

use crate::error::{Error, OAuthStep};
use serde::{Deserialize, Serialize};

/// Runs oauth2's requests on our reqwest client (oauth2's own `reqwest`
/// feature pins reqwest 0.12). The client follows no redirects.
pub(crate) struct OAuthHttp(pub(crate) reqwest::Client);

/// A failure of an OAuth call that may pass: the transport failed (the
/// URL removed from the error, since it can carry a code), or the server
/// answered 5xx.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OAuthHttpError {
    #[error("OAuth request failed")]
    Transport(#[source] reqwest::Error),
    #[error("OAuth server answered HTTP {0}")]
    Status(reqwest::StatusCode),
}

impl<'c> AsyncHttpClient<'c> for OAuthHttp {
    type Error = OAuthHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, OAuthHttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)
                .map_err(|e| OAuthHttpError::Transport(e.without_url()))?;
            let response = self
                .0
                .execute(request)
                .await
                .map_err(|e| OAuthHttpError::Transport(e.without_url()))?;
            if response.status().is_server_error() {
                return Err(OAuthHttpError::Status(response.status()));
            }
            let mut out = oauth2::http::Response::builder().status(response.status());
            if let Some(headers) = out.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| OAuthHttpError::Transport(e.without_url()))?;
            Ok(out
                .body(body.to_vec())
                .expect("status and headers come from a valid response"))
        })
    }
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

/// Salesforce's token response: the standard fields (no `expires_in`:
/// Salesforce does not send it) plus `instance_url`, `id`, `issued_at` and
/// `signature`. `token_type` is optional because some Salesforce flows
/// leave it out. Private: its tokens become `SecretString`s at once.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct SalesforceTokenResponse {
    pub(crate) access_token: AccessToken,
    #[serde(skip, default = "bearer")]
    token_type: BasicTokenType,
    #[serde(default)]
    pub(crate) refresh_token: Option<RefreshToken>,
    /// The org's API host; checked against the allow-list before use.
    pub(crate) instance_url: String,
    /// The identity URL of the connected user.
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// When the token was issued, in milliseconds since the epoch (as a string).
    #[serde(default)]
    pub(crate) issued_at: Option<String>,
    /// HMAC-SHA256 of `id` + `issued_at` with the client secret.
    #[serde(default)]
    pub(crate) signature: Option<String>,
}

impl oauth2::TokenResponse for SalesforceTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        None
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}

impl SalesforceTokenResponse {
    /// `issued_at` as a time, when it parses.
    pub(crate) fn issued_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let millis: i64 = self.issued_at.as_deref()?.parse().ok()?;
        chrono::DateTime::from_timestamp_millis(millis)
    }
}

/// Whether the token endpoint answered `invalid_grant` (for a refresh: the
/// refresh token was revoked or expired).
pub(crate) fn is_invalid_grant(
    err: &RequestTokenError<OAuthHttpError, BasicErrorResponse>,
) -> bool {
    matches!(err, RequestTokenError::ServerResponse(r) if matches!(r.error(), BasicErrorResponseType::InvalidGrant))
}

/// An oauth2 error as ours. Response bodies are never kept: a token
/// response that fails to parse may still hold a token.
pub(crate) fn token_error(
    step: OAuthStep,
    err: RequestTokenError<OAuthHttpError, BasicErrorResponse>,
) -> Error {
    match err {
        RequestTokenError::ServerResponse(r) => {
            let code = match r.error() {
                BasicErrorResponseType::InvalidGrant => "invalid_grant".to_owned(),
                other => other.to_string(),
            };
            let message = match r.error_description() {
                Some(d) => format!("{code}: {}", d.chars().take(200).collect::<String>()),
                None => code,
            };
            Error::OAuth {
                step,
                message: message.into(),
                source: None,
            }
        }
        RequestTokenError::Request(e) => Error::Unreachable {
            request: format!("token endpoint ({step})"),
            problem: match &e {
                OAuthHttpError::Status(s) => format!("HTTP {s}").into(),
                OAuthHttpError::Transport(_) => "connection failed".into(),
            },
            source: Some(Box::new(e)),
        },
        RequestTokenError::Parse(_, _) => Error::BadResponse {
            request: format!("token endpoint ({step})"),
            problem: "not a token response".into(),
            source: None,
        },
        RequestTokenError::Other(message) => Error::BadResponse {
            request: format!("token endpoint ({step})"),
            problem: message.into(),
            source: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_salesforce_token_responses() {
        // From tests/fixtures/api-responses (token-password.json): no token_type, no refresh_token.
        let json = r#"{"id":"https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P","issued_at":"1278448832702","instance_url":"https://na1.salesforce.com","signature":"0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ=","access_token":"00Dx0000000BV7z!AR8AQAxo9Uf"}"#;
        let t: SalesforceTokenResponse = serde_json::from_str(json).unwrap();
        assert_eq!(t.instance_url, "https://na1.salesforce.com");
        assert!(t.refresh_token.is_none());
        assert_eq!(t.issued_at().unwrap().timestamp(), 1_278_448_832);
        assert!(!format!("{t:?}").contains("AR8AQAxo9Uf"));
    }
}
