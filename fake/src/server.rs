//! The HTTP side: routes, the middleware that logs requests and injects
//! faults, the bearer-token guard, and an accept loop that can drop a
//! connection without answering.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::faults::{Endpoint, Failure, LoggedRequest};
use super::{Shared, api, bulk, oauth};

/// Put in a response's extensions: the connection is closed instead.
#[derive(Debug, Clone, Copy)]
struct ResetConnection;

impl fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset by the fake's fault plan")
    }
}

impl std::error::Error for ResetConnection {}

/// The fake's routes over its shared state.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let data = Router::new()
        .route("/services/data/{version}/query", get(api::query))
        .route("/services/data/{version}/queryAll", get(api::query_all))
        .route(
            "/services/data/{version}/query/{cursor}",
            get(api::query_more),
        )
        .route(
            "/services/data/{version}/queryAll/{cursor}",
            get(api::query_more),
        )
        .route(
            "/services/data/{version}/sobjects",
            get(api::describe_global),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/describe",
            get(api::describe),
        )
        .route("/services/data/{version}/limits", get(api::limits))
        .route("/services/data/{version}/jobs/query", post(bulk::create))
        .route(
            "/services/data/{version}/jobs/query/{id}",
            get(bulk::info).patch(bulk::abort).delete(bulk::delete),
        )
        .route(
            "/services/data/{version}/jobs/query/{id}/results",
            get(bulk::results),
        )
        .route_layer(from_fn_with_state(shared.clone(), data_guard));
    Router::new()
        .route("/services/oauth2/authorize", get(oauth::authorize))
        .route("/services/oauth2/token", post(oauth::token))
        .route(
            "/services/oauth2/revoke",
            post(oauth::revoke).get(oauth::revoke),
        )
        .route(
            "/id/{org}/{user}",
            get(oauth::identity).route_layer(from_fn_with_state(shared.clone(), bearer_guard)),
        )
        .route("/services/data", get(api::versions))
        .route("/services/data/", get(api::versions))
        .merge(data)
        .fallback(api::unknown)
        .layer(from_fn_with_state(shared.clone(), observe))
        .with_state(shared)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("Bearer") || scheme.eq_ignore_ascii_case("OAuth"))
        .then(|| token.trim())
}

fn invalid_session() -> Response {
    api::sf_error(
        StatusCode::UNAUTHORIZED,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    )
}

fn has_live_token(shared: &Shared, headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|t| shared.lock_auth().access_is_live(t))
}

/// The identity URL needs a token but is not an API call.
async fn bearer_guard(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if !has_live_token(&shared, req.headers()) {
        return invalid_session();
    }
    next.run(req).await
}

/// REST calls: a live bearer token, the API allowance, `Sforce-Limit-Info`.
async fn data_guard(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if shared.faults.tokens_expire_now() {
        shared.lock_auth().expire_access_tokens();
    }
    if !has_live_token(&shared, req.headers()) {
        return invalid_session();
    }
    let max = shared.config.daily_api_limit;
    let stats = &shared.stats;
    let limit_info = |used: u64| {
        HeaderValue::try_from(format!("api-usage={used}/{max}")).expect("digits are a header value")
    };
    if stats.api_used.load(Ordering::Relaxed) >= max || shared.faults.rate_limited_now() {
        let mut refused = api::sf_error(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        );
        let used = stats.api_used.load(Ordering::Relaxed);
        refused
            .headers_mut()
            .insert("sforce-limit-info", limit_info(used));
        return refused;
    }
    let used = stats.api_used.fetch_add(1, Ordering::Relaxed) + 1;
    let mut response = next.run(req).await;
    response
        .headers_mut()
        .insert("sforce-limit-info", limit_info(used));
    response
}

const MAINTENANCE_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\
<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request \
due to maintenance downtime or capacity problems. Please try again later.</p></body></html>\n";

const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Login | Salesforce</title></head>\
<body><form id=\"login_form\" method=\"post\"></form></body></html>\n";

/// Every request: numbered, delayed, failed on demand, logged.
async fn observe(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let number = shared.stats.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let path = req.uri().path().to_owned();
    let endpoint = Endpoint::of(&path);
    let mut soql = (endpoint == Endpoint::Query)
        .then(|| {
            url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.into_owned())
        })
        .flatten();
    let req = if endpoint == Endpoint::BulkQuery && req.method() == axum::http::Method::POST {
        let (req, bulk_soql) = bulk::logged_soql(req).await;
        soql = bulk_soql;
        req
    } else {
        req
    };
    let batch_size = api::asked_batch_size(req.headers());
    let method = req.method().to_string();
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let failure = shared.faults.failure_for(number, endpoint);
    let html = |status: StatusCode, page: &'static str| {
        (
            status,
            [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
            page,
        )
            .into_response()
    };
    let response = match failure {
        None => next.run(req).await,
        Some(Failure::ServiceUnavailable) => {
            html(StatusCode::SERVICE_UNAVAILABLE, MAINTENANCE_PAGE)
        }
        Some(Failure::HtmlBody) => html(StatusCode::OK, LOGIN_PAGE),
        Some(Failure::ServerError) => api::sf_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: \
             1932362498-84431 (-1426430413)",
        ),
        Some(Failure::ConnectionReset) => {
            let mut r = StatusCode::OK.into_response();
            r.extensions_mut().insert(ResetConnection);
            r
        }
        Some(Failure::TruncatedBody) => truncate(next.run(req).await).await,
    };
    let reset = response.extensions().get::<ResetConnection>().is_some();
    shared.stats.log(LoggedRequest {
        number,
        method,
        path,
        endpoint,
        soql,
        batch_size,
        status: (!reset).then(|| response.status().as_u16()),
        failure,
    });
    response
}

/// The response with its body cut in half.
async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
}

/// Serves `router` on `listener` until the returned task is aborted
/// (which also ends every open connection).
pub(crate) fn spawn(listener: TcpListener, router: Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    connections.spawn(serve_connection(stream, router.clone()));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

async fn serve_connection(stream: tokio::net::TcpStream, router: Router) {
    let inner = TowerToHyperService::new(router);
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let future = hyper::service::Service::call(&inner, req);
        async move {
            let response: Response = match future.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if response.extensions().get::<ResetConnection>().is_some() {
                // hyper closes the connection without writing a response.
                return Err(ResetConnection);
            }
            Ok::<_, ResetConnection>(response)
        }
    });
    // An error here is a client that went away, or a reset we chose.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
