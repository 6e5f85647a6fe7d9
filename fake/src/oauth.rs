//! The OAuth 2.0 endpoints of the fake: authorize (auto-approved), token
//! (authorization code with PKCE, refresh token), revoke; and the token
//! bookkeeping the data endpoints check bearer tokens against.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use secrecy::ExposeSecret;
use serde_json::json;

use super::Shared;

/// The org and user ids in identity URLs.
pub(crate) const ORG_ID: &str = "00D5g000004FAKEEAG";
pub(crate) const USER_ID: &str = "0055g000004FAKEAAG";

#[derive(Debug)]
struct Code {
    redirect_uri: String,
    challenge: Option<String>,
    issued: Instant,
}

#[derive(Debug)]
struct Access {
    refresh: Option<String>,
    live: bool,
}

/// Codes and tokens issued, and which are still good.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    /// Refresh token → live.
    refresh: HashMap<String, bool>,
}

impl AuthState {
    pub(crate) fn access_is_live(&self, token: &str) -> bool {
        self.access.get(token).is_some_and(|a| a.live)
    }

    /// Expires every access token issued so far (refresh tokens stay good).
    pub(crate) fn expire_access_tokens(&mut self) {
        for a in self.access.values_mut() {
            a.live = false;
        }
    }

    /// Issues a new access token, and a refresh token unless one is given.
    pub(crate) fn issue(&mut self, refresh: Option<String>) -> (String, String) {
        let refresh = refresh.unwrap_or_else(|| {
            let r = random_token("5Aep861", 80);
            self.refresh.insert(r.clone(), true);
            r
        });
        let access = random_token(&format!("{}!AR", &ORG_ID[..15]), 96);
        self.access.insert(
            access.clone(),
            Access {
                refresh: Some(refresh.clone()),
                live: true,
            },
        );
        (access, refresh)
    }
}

/// Random text from a base-62-ish alphabet after `prefix`, `len` long in all.
fn random_token(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";
    let state = RandomState::new();
    let mut out = String::with_capacity(len);
    out.push_str(prefix);
    let mut n = 0u64;
    while out.len() < len {
        let word = state.hash_one(n);
        n += 1;
        for k in 0..8 {
            if out.len() < len {
                out.push(ALPHABET[((word >> (k * 8)) % 64) as usize] as char);
            }
        }
    }
    out
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// `{"error": .., "error_description": ..}` with status 400.
fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response()
}

fn now_millis() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
        .to_string()
}

/// `GET /services/oauth2/authorize`: the user approves at once.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = form(query.unwrap_or_default().as_bytes());
    let get = |k: &str| params.get(k).map(String::as_str);
    let page = |error: &str, description: &str| {
        // Salesforce shows an error page rather than redirect to a URI it
        // does not trust.
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
            format!(
                "<html><body><p>error={error}&amp;error_description={description}</p></body></html>"
            ),
        )
            .into_response()
    };
    if get("client_id") != Some(shared.config.client_id.as_str()) {
        return page("invalid_client_id", "client identifier invalid");
    }
    let Some(redirect_uri) = get("redirect_uri").filter(|r| *r == shared.config.redirect_uri)
    else {
        return page(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    };
    let mut to = url::Url::parse(redirect_uri).expect("the redirect URI was checked at build time");
    let state = get("state");
    let redirect = |mut to: url::Url, pairs: &[(&str, &str)]| {
        {
            let mut q = to.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            if let Some(state) = state {
                q.append_pair("state", state);
            }
        }
        let location = HeaderValue::try_from(to.as_str()).expect("a URL is a valid header value");
        (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
    };
    if get("response_type") != Some("code") {
        return redirect(
            to,
            &[
                ("error", "unsupported_response_type"),
                ("error_description", "response type not supported"),
            ],
        );
    }
    if get("code_challenge_method").is_some_and(|m| m != "S256") {
        return redirect(
            to,
            &[
                ("error", "invalid_request"),
                ("error_description", "unsupported code challenge method"),
            ],
        );
    }
    // Real codes end in "==": clients must URL-decode them.
    let code = random_token("aPrx", 60) + "==";
    shared.lock_auth().codes.insert(
        code.clone(),
        Code {
            redirect_uri: redirect_uri.to_owned(),
            challenge: get("code_challenge").map(str::to_owned),
            issued: Instant::now(),
        },
    );
    to.set_fragment(None);
    redirect(to, &[("code", &code)])
}

/// `POST /services/oauth2/token`.
pub(crate) async fn token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let params = form(&body);
    let get = |k: &str| params.get(k).map(String::as_str);
    let config = &shared.config;
    let grant = get("grant_type").unwrap_or_default();
    if grant != "authorization_code" && grant != "refresh_token" {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    if get("client_id") != Some(config.client_id.as_str()) {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    let secret_ok = get("client_secret") == Some(config.client_secret.expose_secret());
    let mut auth = shared.lock_auth();
    let (access, refresh) = if grant == "authorization_code" {
        if !secret_ok {
            return oauth_error("invalid_client", "invalid client credentials");
        }
        // A code is spent by its first use, good or bad.
        let Some(code) = get("code").and_then(|c| auth.codes.remove(c)) else {
            return oauth_error("invalid_grant", "authentication failure");
        };
        if code.issued.elapsed() > config.code_lifetime {
            return oauth_error("invalid_grant", "expired authorization code");
        }
        if get("redirect_uri") != Some(code.redirect_uri.as_str()) {
            return oauth_error(
                "redirect_uri_mismatch",
                "redirect_uri must match configuration",
            );
        }
        if let Some(challenge) = &code.challenge {
            let Some(verifier) = get("code_verifier") else {
                return oauth_error("invalid_grant", "invalid code verifier");
            };
            let computed = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
                verifier.to_owned(),
            ));
            if computed.as_str() != challenge {
                return oauth_error("invalid_grant", "invalid code verifier");
            }
        }
        shared.stats.code_exchanges.fetch_add(1, Ordering::Relaxed);
        let (a, r) = auth.issue(None);
        (a, Some(r))
    } else {
        // Salesforce accepts a refresh without the secret when the app does
        // not require it; a wrong secret is refused.
        if get("client_secret").is_some() && !secret_ok {
            return oauth_error("invalid_client", "invalid client credentials");
        }
        let Some(refresh) = get("refresh_token").filter(|r| auth.refresh.get(*r) == Some(&true))
        else {
            return oauth_error("invalid_grant", "expired access/refresh token");
        };
        let refresh = refresh.to_owned();
        shared.stats.refreshes.fetch_add(1, Ordering::Relaxed);
        let (a, _) = auth.issue(Some(refresh));
        (a, None)
    };
    drop(auth);
    let mut body = json!({
        "access_token": access,
        "signature": random_token("", 43) + "=",
        "scope": "refresh_token api",
        "instance_url": shared.base_url,
        "id": format!("{}/id/{ORG_ID}/{USER_ID}", shared.base_url),
        "token_type": "Bearer",
        "issued_at": now_millis(),
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    (
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

/// `POST /services/oauth2/revoke` (form `token=`), or `GET ...?token=`.
pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params = form(&body);
    params.extend(form(query.unwrap_or_default().as_bytes()));
    let Some(token) = params.get("token") else {
        return oauth_error("unsupported_token_type", "this token type is not supported");
    };
    let mut auth = shared.lock_auth();
    let revoked = if let Some(a) = auth.access.get_mut(token).filter(|a| a.live) {
        a.live = false;
        true
    } else if auth.refresh.get(token) == Some(&true) {
        auth.refresh.insert(token.clone(), false);
        for a in auth.access.values_mut() {
            if a.refresh.as_deref() == Some(token.as_str()) {
                a.live = false;
            }
        }
        true
    } else {
        false
    };
    drop(auth);
    if !revoked {
        return oauth_error("unsupported_token_type", "this token type is not supported");
    }
    shared.stats.revocations.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK.into_response()
}

/// `GET /id/{org}/{user}`: the identity of the connected user.
pub(crate) async fn identity(State(shared): State<Arc<Shared>>) -> Response {
    let base = &shared.base_url;
    axum::Json(json!({
        "id": format!("{base}/id/{ORG_ID}/{USER_ID}"),
        "asserted_user": true,
        "user_id": USER_ID,
        "organization_id": ORG_ID,
        "username": "admin@fake-org.example.com",
        "nick_name": "admin",
        "display_name": "Fake Admin",
        "email": "admin@fake-org.example.com",
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "urls": {
            "rest": format!("{base}/services/data/v{{version}}/"),
            "sobjects": format!("{base}/services/data/v{{version}}/sobjects/"),
            "query": format!("{base}/services/data/v{{version}}/query/"),
        },
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_sized() {
        let a = random_token("5Aep861", 80);
        let b = random_token("5Aep861", 80);
        assert_eq!(a.len(), 80);
        assert!(a.starts_with("5Aep861"));
        assert_ne!(a, b);
    }

    #[test]
    fn expiry_keeps_refresh_tokens() {
        let mut auth = AuthState::default();
        let (a1, r) = auth.issue(None);
        let (a2, _) = auth.issue(Some(r.clone()));
        let (other, _) = auth.issue(None);
        assert!(auth.access_is_live(&a1) && auth.access_is_live(&a2));
        auth.expire_access_tokens();
        assert!(!auth.access_is_live(&a1) && !auth.access_is_live(&other));
        assert_eq!(auth.refresh.get(&r), Some(&true));
    }
}
