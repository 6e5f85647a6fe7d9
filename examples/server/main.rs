//! The admin pages of an example CRM, over the crate's router: a Salesforce
//! settings page (connect, status, disconnect) and an import page (object
//! checkboxes, live progress, history with error logs).
//!
//! By default it runs against a fake Salesforce org on loopback serving
//! the bundled sample org, so the whole flow works without a Salesforce
//! account. With a connected app's credentials in the environment it works
//! against a real org:
//!
//! ```text
//! cargo run --example server --features server
//! # then open http://127.0.0.1:3000
//!
//! SF_CLIENT_ID=... SF_CLIENT_SECRET=... [SF_LOGIN_URL=https://test.salesforce.com] \
//!   cargo run --example server --features server
//! # the connected app's callback URL must be http://localhost:3000/
//! ```
//!
//! With the fake org, `POST /demo/rate-limit?after=N` makes the fake
//! refuse data requests after `N` more (Salesforce's API limit: the running
//! import fails and can be resumed), `DELETE /demo/rate-limit` lifts it,
//! `POST /demo/latency?ms=N` slows the fake's answers (each needs
//! `X-Requested-With: salesforce-import`). Two fake orgs run: the
//! "production" one and a "sandbox" one (both the sample org), which the
//! page's login-host choice picks between; `GET /demo/orgs` says where
//! each listens. A My Domain cannot be tried against the fakes (it names a
//! real Salesforce host).
//!
//! Everyone who opens the page is the demo admin of the tenant `demo`, or,
//! with the cookie `demo_role=viewer`, a user of it who is not an admin
//! (the page is then read-only): a real host implements `Authenticate`
//! over its own sessions. The server listens on 127.0.0.1 only.
//!
//! Every response carries a Content-Security-Policy (scripts, styles and
//! requests from this origin only; no framing), `X-Frame-Options: DENY`,
//! `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`;
//! API responses are `Cache-Control: no-store`. Log events (info and up;
//! `SF_IMPORT_LOG=debug` for more) go to stderr, the causes of 500s
//! included, with one line per request (method, path, status, time; never
//! the query string, which carries OAuth codes on the way back from
//! Salesforce, nor headers or bodies, which carry sessions and tokens).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use salesforce_import::http::{HostPolicy, LoginHost, RestSource, SalesforceOAuth};
use salesforce_import::server::{Authenticate, Caller, ImportApi};
use salesforce_import::{Importer, InMemoryJobStore, InMemorySink, JobStore, TenantId, TokenVault};
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use secrecy::SecretString;

const INDEX: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/style.css");

/// The page's policy: its script and stylesheet are files of this origin
/// (no inline script or style), the API is on this origin, the favicon is
/// the empty `data:` URL, and no site may frame it.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response; API answers are not cached.
async fn security_headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let cache = if api { "no-store" } else { "no-cache" };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

/// A minimal tracing subscriber: one line per event on stderr (the crate
/// logs through `tracing`; a real host installs its own subscriber).
mod vault;

mod log {
    use std::fmt::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    pub struct Stderr {
        max: Level,
        next_id: AtomicU64,
    }

    impl Stderr {
        /// Info and up, or the level `SF_IMPORT_LOG` names.
        pub fn install() {
            let max = std::env::var("SF_IMPORT_LOG")
                .ok()
                .and_then(|l| l.parse().ok())
                .unwrap_or(Level::INFO);
            let subscriber = Stderr {
                max,
                next_id: AtomicU64::new(1),
            };
            let _ = tracing::subscriber::set_global_default(subscriber);
        }
    }

    struct Line<'a>(&'a mut String);

    impl Visit for Line<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                let _ = write!(self.0, " {value:?}");
            } else {
                let _ = write!(self.0, " {}={value:?}", field.name());
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                let _ = write!(self.0, " {value}");
            } else {
                let _ = write!(self.0, " {}={value}", field.name());
            }
        }
    }

    impl Subscriber for Stderr {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            *metadata.level() <= self.max
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed))
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let meta = event.metadata();
            let mut line = format!(
                "{} {:>5} {}:",
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                meta.level(),
                meta.target()
            );
            event.record(&mut Line(&mut line));
            eprintln!("{line}");
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

/// One line per request: method, path (without the query, where OAuth
/// codes travel), status and time taken.
async fn access_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if res.status().is_server_error() {
        tracing::error!(%method, %path, status, ms, "request failed");
    } else {
        tracing::info!(%method, %path, status, ms, "request");
    }
    res
}

/// Everyone is the demo tenant's admin, except with the cookie
/// `demo_role=viewer`: a user who may only look (an example, on 127.0.0.1
/// only).
#[derive(Debug)]
struct DemoAuth;

#[async_trait]
impl Authenticate for DemoAuth {
    async fn authenticate(&self, parts: &Parts) -> Option<Caller> {
        let viewer = parts
            .headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .any(|c| c.trim() == "demo_role=viewer");
        let (user, admin) = if viewer {
            ("viewer@example.com", false)
        } else {
            ("admin@example.com", true)
        };
        Some(Caller::new(user, TenantId::new("demo"), admin))
    }
}

/// Faults of the fake org on demand, for trying (and testing) what the
/// page does when an import fails:
///
/// - `POST /demo/rate-limit?after=N`: after `N` more data requests the
///   fake answers `REQUEST_LIMIT_EXCEEDED` (an import fails, and can be
///   resumed);
/// - `DELETE /demo/rate-limit`: the limit is lifted;
/// - `POST /demo/latency?ms=N`: every answer of the fake takes `N` ms
///   more (a slower import);
/// - `POST /demo/rotate-key`: the vault's key is replaced and the old one
///   forgotten, so the stored tokens cannot be decrypted (the page must
///   let the admin disconnect and connect again).
///
/// Only with the fake org, and only with `X-Requested-With:
/// salesforce-import` (as the API's own state-changing requests).
fn fault_routes(fakes: &[&FakeSalesforce], vault: Arc<vault::RotatingVault>) -> Router {
    use axum::extract::Query;
    use axum::http::{HeaderMap, StatusCode};

    let all: Vec<salesforce_import_fake::Faults> =
        fakes.iter().map(|f| f.faults().clone()).collect();
    let orgs = serde_json::json!({
        "production": fakes.first().map(|f| f.url()),
        "sandbox": fakes.get(1).map(|f| f.url()),
    });

    #[derive(serde::Deserialize)]
    struct After {
        after: u64,
    }

    fn marked(headers: &HeaderMap) -> Result<(), StatusCode> {
        match headers.get("x-requested-with") {
            Some(v) if v == "salesforce-import" => Ok(()),
            _ => Err(StatusCode::FORBIDDEN),
        }
    }

    #[derive(serde::Deserialize)]
    struct Ms {
        ms: u64,
    }

    let limit = all.clone();
    let slow = all.clone();
    Router::new()
        .route("/orgs", get(move || async move { axum::Json(orgs) }))
        .route(
            "/rotate-key",
            axum::routing::post(move |headers: HeaderMap| async move {
                marked(&headers)?;
                vault.rotate();
                Ok::<_, StatusCode>(StatusCode::NO_CONTENT)
            }),
        )
        .route(
            "/latency",
            axum::routing::post(
                move |headers: HeaderMap, Query(Ms { ms }): Query<Ms>| async move {
                    marked(&headers)?;
                    for f in &slow {
                        f.set_latency(Duration::from_millis(ms));
                    }
                    Ok::<_, StatusCode>(StatusCode::NO_CONTENT)
                },
            ),
        )
        .route(
            "/rate-limit",
            axum::routing::post(
                move |headers: HeaderMap, Query(After { after }): Query<After>| async move {
                    marked(&headers)?;
                    for f in &limit {
                        f.rate_limit_after(after);
                    }
                    Ok::<_, StatusCode>(StatusCode::NO_CONTENT)
                },
            )
            .delete(move |headers: HeaderMap| async move {
                marked(&headers)?;
                for f in &all {
                    f.clear_rate_limit();
                }
                Ok::<_, StatusCode>(StatusCode::NO_CONTENT)
            }),
        )
}

struct Args {
    port: u16,
    latency: Duration,
    page_size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 3000,
        latency: Duration::from_millis(60),
        page_size: 25,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                args.port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--latency-ms" => {
                let ms: u64 = value("--latency-ms")?
                    .parse()
                    .map_err(|e| format!("--latency-ms: {e}"))?;
                args.latency = Duration::from_millis(ms);
            }
            "--page-size" => {
                args.page_size = value("--page-size")?
                    .parse()
                    .map_err(|e| format!("--page-size: {e}"))?;
            }
            "-h" | "--help" => {
                println!(
                    "usage: server [--port 3000 (0: any free port)] [--latency-ms 60] [--page-size 25]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    log::Stderr::install();
    // Salesforce accepts plain http callbacks on localhost only.
    // Bound first, so that `--port 0` (any free port) gives the real port
    // for the callback URL.
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    let port = listener.local_addr()?.port();
    let redirect = format!("http://localhost:{port}/");
    let rotating = Arc::new(vault::RotatingVault::new());
    let vault: Arc<dyn TokenVault> = rotating.clone();

    // A real org when a connected app is configured, the fake ones
    // otherwise (with what `production` and `sandbox` mean to the page).
    let (oauth, fakes, choices) = match std::env::var("SF_CLIENT_ID") {
        Ok(client_id) => {
            let secret = std::env::var("SF_CLIENT_SECRET")
                .map_err(|_| "SF_CLIENT_ID is set: set SF_CLIENT_SECRET too")?;
            let login = std::env::var("SF_LOGIN_URL")
                .map(LoginHost::url)
                .unwrap_or_else(|_| LoginHost::production());
            println!("Salesforce: {} (connected app {client_id})", login.as_str());
            let oauth = SalesforceOAuth::builder(client_id, SecretString::from(secret), &redirect)
                .login_host(login)
                .build(vault.clone())?;
            (oauth, Vec::new(), None)
        }
        Err(_) => {
            let redirect = format!("http://127.0.0.1:{port}/");
            let fake = FakeSalesforce::builder()
                .org(FakeOrg::sample())
                .redirect_uri(&redirect)
                .min_batch_size(1)
                .start()
                .await?;
            // The "sandbox": another fake org, with the same connected app.
            let sandbox = FakeSalesforce::builder()
                .org(FakeOrg::sample())
                .client_id(fake.client_id())
                .client_secret(fake.client_secret().clone())
                .redirect_uri(&redirect)
                .min_batch_size(1)
                .start()
                .await?;
            // Slow enough that the progress bars have something to show.
            fake.faults().set_latency(args.latency);
            sandbox.faults().set_latency(args.latency);
            println!(
                "Salesforce: a fake org at {} (the bundled sample org), its sandbox at {}",
                fake.url(),
                sandbox.url()
            );
            // The fake's client id and secret, its login host, loopback allowed.
            let oauth = SalesforceOAuth::builder(
                fake.client_id(),
                fake.client_secret().clone(),
                fake.redirect_uri(),
            )
            // The fake listens on loopback, which only a test allows.
            .login_host(LoginHost::url(fake.login_url()))
            .host_policy(HostPolicy::salesforce().allow_loopback())
            .build(vault.clone())?;
            let choices = (
                LoginHost::url(fake.login_url()),
                LoginHost::url(sandbox.login_url()),
            );
            (oauth, vec![fake, sandbox], Some(choices))
        }
    };
    let oauth = Arc::new(oauth);

    let jobs: Arc<dyn JobStore> = Arc::new(InMemoryJobStore::new());
    let sink = Arc::new(InMemorySink::new());
    let source = Arc::new(RestSource::builder(oauth.clone()).build()?);
    let importer = Importer::builder(source.clone(), sink, jobs.clone())
        .vault(vault)
        .page_size(args.page_size)
        .build()?;
    let mut api = ImportApi::builder(importer, jobs, oauth, Arc::new(DemoAuth)).counts_from(source);
    if let Some((production, sandbox)) = choices {
        api = api.login_hosts(production, sandbox);
    }
    let api = api.build();

    let mut app = Router::new()
        .nest("/api/salesforce", api.router())
        .route(
            "/",
            get(|| async { ([(CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }),
        )
        .route(
            "/static/app.js",
            get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS) }),
        )
        .route(
            "/static/style.css",
            get(|| async { ([(CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .layer(middleware::from_fn(security_headers));
    if !fakes.is_empty() {
        let fakes: Vec<&FakeSalesforce> = fakes.iter().collect();
        app = app.nest("/demo", fault_routes(&fakes, rotating.clone()));
    }
    let app = app.layer(middleware::from_fn(access_log));

    println!("Open http://127.0.0.1:{port}/");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
