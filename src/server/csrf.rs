//! The cross-site request forgery defence of the router: every
//! state-changing request (any method but `GET`, `HEAD`, `OPTIONS` and
//! `TRACE`) must carry [`REQUESTED_WITH`] set to [`REQUESTED_WITH_VALUE`],
//! and, when it has an `Origin`, come from the request's own host or an
//! origin the host allowed. A form or a simple request from another site
//! can do neither: a custom header makes the browser ask first (CORS
//! preflight), which the router never answers yes to.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::error::{ApiError, clip};

/// The header every state-changing request must carry (with
/// [`REQUESTED_WITH_VALUE`]): `X-Requested-With`.
pub const REQUESTED_WITH: &str = "x-requested-with";

/// The value of [`REQUESTED_WITH`]: `salesforce-import`.
pub const REQUESTED_WITH_VALUE: &str = "salesforce-import";

/// The router's route layer: refuses a state-changing request without the
/// header, or from a foreign origin, with 403 before anything runs.
pub(super) async fn guard(State(api): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if is_safe(req.method()) {
        return next.run(req).await;
    }
    match check(&api.origins, req.headers(), req.uri()) {
        Ok(()) => next.run(req).await,
        Err(refused) => refused.into_response(),
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn check(allowed: &[String], headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        let normalized = normalize_origin(origin);
        let ours = host.is_some_and(|host| same_host(&normalized, host));
        if !ours && !allowed.contains(&normalized) {
            return Err(ApiError::forbidden(format!(
                "cross-origin request refused: Origin {:?} is neither this site nor an allowed origin",
                clip(origin)
            )));
        }
    }
    let marked = headers.get(REQUESTED_WITH).is_some_and(|v| {
        v.as_bytes()
            .eq_ignore_ascii_case(REQUESTED_WITH_VALUE.as_bytes())
    });
    if !marked {
        return Err(ApiError::forbidden(
            "request refused (cross-site request forgery defence): a state-changing request needs the header `X-Requested-With: salesforce-import`",
        ));
    }
    Ok(())
}

/// `scheme://host[:port]`, lowercased, without a trailing slash or the
/// scheme's default port.
pub(super) fn normalize_origin(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if origin.starts_with(scheme)
            && let Some(bare) = origin.strip_suffix(port)
        {
            return bare.to_owned();
        }
    }
    origin
}

/// Whether a normalized origin names `host` (a `Host` header value).
fn same_host(origin: &str, host: &str) -> bool {
    let (authority, default) = if let Some(a) = origin.strip_prefix("http://") {
        (a, ":80")
    } else if let Some(a) = origin.strip_prefix("https://") {
        (a, ":443")
    } else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    let host = host.strip_suffix(default).unwrap_or(&host);
    !authority.is_empty() && authority == host
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    const MARK: (&str, &str) = (REQUESTED_WITH, REQUESTED_WITH_VALUE);

    #[test]
    fn the_header_is_required_and_the_origin_must_be_ours_or_allowed() {
        let uri = Uri::from_static("/import");
        let allowed = vec![normalize_origin("https://CRM.example.com/")];
        let ok =
            |pairs: &[(&'static str, &'static str)]| check(&allowed, &headers(pairs), &uri).is_ok();
        assert!(ok(&[MARK]));
        assert!(ok(&[
            MARK,
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ]));
        assert!(ok(&[
            MARK,
            ("host", "crm.test"),
            ("origin", "https://crm.test")
        ]));
        assert!(ok(&[
            MARK,
            ("host", "crm.test:443"),
            ("origin", "https://crm.test")
        ]));
        assert!(ok(&[
            MARK,
            ("host", "internal:8080"),
            ("origin", "https://crm.example.com")
        ]));
        assert!(!ok(&[]));
        assert!(!ok(&[(REQUESTED_WITH, "XMLHttpRequest")]));
        assert!(!ok(&[
            MARK,
            ("host", "127.0.0.1:3000"),
            ("origin", "http://evil.example")
        ]));
        assert!(!ok(&[
            MARK,
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3001")
        ]));
        assert!(!ok(&[MARK, ("host", "127.0.0.1:3000"), ("origin", "null")]));
        assert!(!ok(&[MARK, ("origin", "http://127.0.0.1:3000")]));
    }
}
