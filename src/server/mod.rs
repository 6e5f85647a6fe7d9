//! The HTTP API a host mounts (feature `server`): connect Salesforce, start
//! and follow imports, read the history. JSON in and out.
//!
//! The host supplies who is calling through [`Authenticate`]; the router
//! scopes every request to the caller's tenant. Connecting, disconnecting,
//! starting and cancelling need an admin; reading needs a signed-in user.
//! A job of another tenant is 404, never 403, so ids do not leak.
//!
//! Every state-changing request (`POST`, `PUT`, `PATCH`, `DELETE`) must
//! carry the header `X-Requested-With: salesforce-import`
//! ([`REQUESTED_WITH`], [`REQUESTED_WITH_VALUE`]), and a request with an
//! `Origin` header must come from the request's own host (`Host`) or an
//! origin the host allowed with [`ImportApiBuilder::allow_origin`].
//! Otherwise the answer is 403 and nothing runs, session or not. This is
//! the router's defence against cross-site request forgery: another site's
//! form or simple request cannot set the header, and a script of another
//! origin that sets it needs a CORS preflight the router never grants. The
//! host's page sends the header with every `fetch` that changes something
//! (bodies are `Content-Type: application/json` as well). What the host
//! must still do itself: mark its session cookie `SameSite=Lax` or
//! `Strict` (and `Secure`, `HttpOnly`), add no CORS layer that allows
//! credentials from other origins in front of the router, and protect its
//! own form posts elsewhere with its own CSRF token. Error messages repeat
//! at most 100 characters of any value the caller sent.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | `GET` | `/status` | | `{connected, instance_url, connected_by, connected_at, can: {connect, disconnect, import, cancel, resume}}` |
//! | `POST` | `/connect` | optional `{login_host: "production" \| "sandbox" \| "<My Domain>"}` | `{authorization_url}`: send the browser there |
//! | `POST` | `/callback` | `{code, state}` | the status, connected |
//! | `DELETE` | `/disconnect` | | `{was_connected, revoked}` |
//! | `GET` | `/import/objects` | | `[{object_type, label, requires, hint}]` |
//! | `GET` | `/import/counts` | | `[{object_type, label, count, available}]`: the org's records per object |
//! | `POST` | `/import` | `{object_types: ["Account", ...], mode?: "update_changed" \| "update" \| "skip_existing", sync?: bool}` | 202 and the job |
//! | `GET` | `/import/history` | | the newest 50 jobs |
//! | `GET` | `/import/{id}` | | the job, with the first 1,000 lines of `error_log`, `error_log_truncated` (and `error_log_next`) |
//! | `GET` | `/import/{id}/log?after=0&limit=500` | | `{lines, next}`: a page of the log; pass `next` as `after` until it is null |
//! | `GET` | `/import/{id}/errors.csv` | | the whole log as a CSV attachment |
//! | `POST` | `/import/{id}/cancel` | | the job |
//! | `POST` | `/import/{id}/resume` | | 202 and the job: a failed or interrupted job continues from its checkpoints |
//! | `GET` | `/openapi.json` | | this API's OpenAPI 3.1 document (no session needed) |
//!
//! A job is `{id, status, started_by, created_at, started_at,
//! completed_at, mode, sync, message, imported, updated, skipped, deleted,
//! errors, warnings, objects: [{object_type, label, state, total, imported,
//! updated, skipped, deleted, errors, warnings}]}`; `GET /import/{id}` adds `error_log: [{severity, label,
//! object_type, sf_id, field, message}]`. `status` is one of `PENDING`,
//! `IN_PROGRESS`, `COMPLETED`, `COMPLETED_WITH_ERRORS`, `FAILED`,
//! `CANCELLED`.
//!
//! Errors are `{"error": true, "message": "..."}`: 400 for a bad request
//! (an empty or unknown object list, not connected, a bad or replayed OAuth
//! state), 401 without a session, 403 for a non-admin or a state-changing
//! request without `X-Requested-With` or from a foreign origin, 404 for a
//! job that is not the caller's, 405 (with `Allow`) for a method a route
//! does not take, 409 when an import is already running, 415/422 for a
//! body that is not the JSON asked for, 502 when Salesforce fails.
//!
//! [`ImportApi::openapi`] is the OpenAPI 3.1 document of all of it, generated
//! from the handlers: every path, body, status and enum.
//!
//! ```no_run
//! # async fn demo(importer: salesforce_import::Importer,
//! #     jobs: std::sync::Arc<dyn salesforce_import::JobStore>,
//! #     oauth: salesforce_import::http::SalesforceOAuth,
//! #     auth: std::sync::Arc<dyn salesforce_import::server::Authenticate>) {
//! use std::sync::Arc;
//! use salesforce_import::server::ImportApi;
//!
//! let api = ImportApi::builder(importer, jobs, Arc::new(oauth), auth).build();
//! let app = axum::Router::new().nest("/api/salesforce", api.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post};

use crate::engine::Importer;
use crate::http::{LoginHost, SalesforceOAuth};
use crate::jobs::JobStore;
use crate::source::SalesforceSource;

mod caller;
mod counts;
mod csrf;
mod error;
mod handlers;
mod log;
mod login;
mod openapi;
mod preview;
mod views;

pub use caller::{Authenticate, Caller};
pub use csrf::{REQUESTED_WITH, REQUESTED_WITH_VALUE};

/// How many jobs `GET /import/history` lists.
const HISTORY: usize = 50;

/// The router's shared state.
pub(crate) struct Shared {
    importer: Importer,
    jobs: Arc<dyn JobStore>,
    oauth: Arc<SalesforceOAuth>,
    auth: Arc<dyn Authenticate>,
    history: usize,
    /// Origins besides the request's own host that may send state-changing
    /// requests (normalized: `scheme://host[:port]`, lowercase).
    origins: Vec<String>,
    /// What `production` and `sandbox` mean to `POST /connect`.
    login: login::LoginChoices,
    /// What `GET /import/counts` asks (none: every count is null).
    source: Option<Arc<dyn SalesforceSource>>,
    /// Where `POST /import` and resume queue jobs instead of running them
    /// here (feature `apalis`).
    #[cfg(feature = "apalis")]
    queue: Option<crate::workers::ImportQueue>,
}

/// The import API: build it once, mount [`router`](ImportApi::router)
/// under a path of the host's choosing.
#[derive(Clone)]
pub struct ImportApi {
    shared: Arc<Shared>,
}

impl fmt::Debug for ImportApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportApi")
            .field("importer", &self.shared.importer)
            .field("oauth", &self.shared.oauth)
            .field("auth", &self.shared.auth)
            .finish_non_exhaustive()
    }
}

/// Configures an [`ImportApi`].
#[derive(Debug)]
#[must_use]
pub struct ImportApiBuilder {
    importer: Importer,
    jobs: Arc<dyn JobStore>,
    oauth: Arc<SalesforceOAuth>,
    auth: Arc<dyn Authenticate>,
    history: usize,
    origins: Vec<String>,
    login: login::LoginChoices,
    source: Option<Arc<dyn SalesforceSource>>,
    #[cfg(feature = "apalis")]
    queue: Option<crate::workers::ImportQueue>,
}

impl ImportApiBuilder {
    /// The source `GET /import/counts` asks for the org's record count per
    /// object ([`SalesforceSource::count_records`]): give it the
    /// importer's source. Without one, every count is `null`.
    ///
    /// ```
    /// # fn demo(builder: salesforce_import::server::ImportApiBuilder,
    /// #     source: std::sync::Arc<salesforce_import::http::RestSource>) {
    /// let builder = builder.counts_from(source);
    /// # }
    /// ```
    pub fn counts_from(mut self, source: Arc<dyn SalesforceSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// Where an admin who chooses `production` or `sandbox` in
    /// `POST /connect` logs in (default
    /// [`LoginHost::production`] and [`LoginHost::sandbox`]). A My Domain
    /// the admin types is used as given. Every choice is checked against
    /// the OAuth flow's [`HostPolicy`](crate::http::HostPolicy) when it
    /// is used: one off the allow-list is refused (400).
    pub fn login_hosts(mut self, production: LoginHost, sandbox: LoginHost) -> Self {
        self.login = login::LoginChoices {
            production,
            sandbox,
        };
        self
    }

    /// Lets pages of `origin` (`https://crm.example.com`: scheme, host and
    /// port if not the default) send state-changing requests, besides the
    /// request's own host (the `Host` header), which is always allowed.
    /// Needed when the page is served from another origin than the API,
    /// or behind a proxy that rewrites `Host`. Call once per origin.
    ///
    /// ```
    /// # fn demo(builder: salesforce_import::server::ImportApiBuilder) {
    /// let builder = builder.allow_origin("https://crm.example.com");
    /// # }
    /// ```
    pub fn allow_origin(mut self, origin: impl AsRef<str>) -> Self {
        let origin = csrf::normalize_origin(origin.as_ref());
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
        self
    }

    /// Queues imports (`POST /import`, `POST /import/{id}/resume`) on
    /// `queue` for worker processes to run, instead of running them in
    /// this process; the answer is the same pending job. Cancelling a
    /// queued or running job marks it cancelled in the job store; the
    /// worker running it stops at its next page.
    #[cfg(feature = "apalis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "apalis")))]
    pub fn with_queue(mut self, queue: crate::workers::ImportQueue) -> Self {
        self.queue = Some(queue);
        self
    }

    /// How many jobs the history lists (default 50).
    pub fn history_limit(mut self, jobs: usize) -> Self {
        self.history = jobs.max(1);
        self
    }

    /// The API.
    pub fn build(self) -> ImportApi {
        ImportApi {
            shared: Arc::new(Shared {
                importer: self.importer,
                jobs: self.jobs,
                oauth: self.oauth,
                auth: self.auth,
                history: self.history,
                origins: self.origins,
                login: self.login,
                source: self.source,
                #[cfg(feature = "apalis")]
                queue: self.queue,
            }),
        }
    }
}

impl ImportApi {
    /// An API over an importer, the job store it writes to (for progress
    /// and history), the OAuth flow (whose vault holds the connections;
    /// give the importer the same vault) and the host's authentication.
    pub fn builder(
        importer: Importer,
        jobs: Arc<dyn JobStore>,
        oauth: Arc<SalesforceOAuth>,
        auth: Arc<dyn Authenticate>,
    ) -> ImportApiBuilder {
        ImportApiBuilder {
            importer,
            jobs,
            oauth,
            auth,
            history: HISTORY,
            origins: Vec::new(),
            login: login::LoginChoices::default(),
            source: None,
            #[cfg(feature = "apalis")]
            queue: None,
        }
    }

    /// The routes, relative: mount them with `Router::nest`.
    ///
    /// Imports started through it run on the tokio runtime that serves
    /// the request, in the background.
    ///
    /// `GET /openapi.json` serves [`openapi`](ImportApi::openapi) without
    /// asking for a session (the document is the same for everyone and
    /// holds nothing the crate's source does not), with one server, `.`,
    /// that resolves to the mount point. A host that wants it private
    /// puts its own middleware in front of the nested router.
    ///
    /// Every state-changing request it routes (`POST`, `PUT`, `PATCH`,
    /// `DELETE`) must carry `X-Requested-With: salesforce-import`
    /// ([`REQUESTED_WITH`]) and, when it has an `Origin` header, come from
    /// the request's own host or an [allowed
    /// origin](ImportApiBuilder::allow_origin); otherwise it is 403 and
    /// nothing runs. A method a route does not take is 405, with `Allow`
    /// and the JSON error.
    pub fn router(&self) -> Router {
        routes(Router::new())
            .route_layer(middleware::from_fn_with_state(
                self.shared.clone(),
                csrf::guard,
            ))
            .method_not_allowed_fallback(handlers::method_not_allowed)
            .fallback(handlers::not_found)
            .with_state(self.shared.clone())
    }

    /// The OpenAPI 3.1 document (JSON) of [`router`](ImportApi::router):
    /// every route with its request body, each status it can answer with
    /// its body (errors are `{"error": true, "message"}`), the enums (job
    /// status, object state, mode, severity) and the authentication model.
    ///
    /// Paths are relative to where the host mounts the router, and the
    /// document has no `servers`: a host publishing it sets them (and its
    /// real security scheme in place of `host_session`, a stand-in for the
    /// host's session).
    ///
    /// ```
    /// use salesforce_import::server::ImportApi;
    ///
    /// let doc: serde_json::Value = serde_json::from_str(&ImportApi::openapi()).unwrap();
    /// assert_eq!(doc["openapi"], "3.1.0");
    /// assert!(doc["paths"]["/import/{id}"]["get"].is_object());
    /// ```
    pub fn openapi() -> String {
        openapi::json().to_owned()
    }
}

/// Declares the routes once: [`routes`] registers them, [`ROUTES`] lists
/// them for the test that holds the OpenAPI document to the router.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every `(method, path)` that [`routes`] registers.
        #[cfg(test)]
        pub(crate) const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn routes(router: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
            router$(.route($path, $method($handler)))*
        }
    };
}

route_table! {
    get "/status" => handlers::status,
    post "/connect" => handlers::connect,
    post "/callback" => handlers::callback,
    delete "/disconnect" => handlers::disconnect,
    post "/import" => handlers::start_import,
    get "/import/objects" => handlers::object_types,
    // What an import would find, before Start: the org's counts, and the
    // dry run (`Importer::preview`).
    get "/import/counts" => counts::object_counts,
    post "/import/preview" => preview::preview,
    get "/import/history" => handlers::history,
    get "/import/{id}" => handlers::job,
    get "/import/{id}/log" => log::page,
    get "/import/{id}/errors.csv" => log::errors_csv,
    get "/import/{id}/missing-parents.csv" => preview::missing_parents_csv,
    post "/import/{id}/cancel" => handlers::cancel,
    post "/import/{id}/resume" => handlers::resume,
    get "/openapi.json" => openapi::document,
}
