//! # salesforce-import-fake
//!
//! [`FakeSalesforce`]: a Salesforce org served over loopback HTTP, shaped
//! like the real REST and OAuth APIs, with faults on demand. The
//! `salesforce-import` crate's own HTTP tests, examples and benchmarks run
//! against it; a host can use it to try its import page, or its own
//! Salesforce client, without an org.
//!
//! It lives in its own crate so that the library carries no HTTP server:
//! a host that only runs the conformance suite (`salesforce-import`'s
//! `testkit` feature) compiles no axum or hyper.
//!
//! The fake answers what a REST client of this crate sends:
//!
//! | endpoint | what it does |
//! |---|---|
//! | `GET /services/oauth2/authorize` | approves at once: `302` to `redirect_uri?code=..&state=..` |
//! | `POST /services/oauth2/token` | `authorization_code` (PKCE S256 checked, codes single-use) and `refresh_token` |
//! | `POST /services/oauth2/revoke` | revokes an access token, or a refresh token and its access tokens |
//! | `GET /id/{org}/{user}` | the identity URL of the token response |
//! | `GET /services/data` | the API versions served |
//! | `GET /services/data/vNN.N/query?q=` | the SOQL subset below, paged by `Sforce-Query-Options: batchSize=N`; records in the recycle bin left out |
//! | `GET /services/data/vNN.N/queryAll?q=` | the same with the recycle bin's records (`IsDeleted` true) |
//! | `GET /services/data/vNN.N/query/01g..-N` | the following pages (`nextRecordsUrl`) of either |
//! | `GET /services/data/vNN.N/sobjects[/{Object}/describe]` | describe global, describe |
//! | `GET /services/data/vNN.N/limits` | limits, `DailyApiRequests` counting the calls made |
//! | `POST /services/data/vNN.N/jobs/query` | creates a Bulk API 2.0 query job (`query` or `queryAll`, the SOQL subset below without `COUNT()`), from API 47.0 |
//! | `GET /services/data/vNN.N/jobs/query/750..` | the job's info: `InProgress`, then `JobComplete` (see [`FakeSalesforceBuilder::bulk_polls_to_complete`]) |
//! | `GET /services/data/vNN.N/jobs/query/750../results` | a result set as CSV, `?locator=&maxRecords=`, headers `Sforce-Locator` and `Sforce-NumberOfRecords` |
//! | `PATCH`, `DELETE /services/data/vNN.N/jobs/query/750..` | aborts (`{"state":"Aborted"}`), deletes (`204`) |
//!
//! The SOQL subset is what a keyset-paging or incremental-sync reader
//! sends:
//!
//! ```text
//! SELECT f1, Rel.f2 | COUNT() FROM Object
//!     [WHERE conditions] [ORDER BY f [ASC] {, f [ASC]}] [LIMIT n]
//! ```
//!
//! where a condition compares `Id` or a reference with a quoted id, a
//! datetime field (`SystemModstamp`) with a literal such as
//! `2026-01-01T00:00:00Z` (to the millisecond), or a boolean field with
//! `TRUE`/`FALSE` (`=`, `!=`, `<`, `<=`, `>`, `>=`), conditions joined by
//! `AND` or `OR` with parentheses; `ORDER BY` names `Id`, references or
//! datetime fields (`ORDER BY SystemModstamp, Id`). Which records a query
//! returns is fixed when it starts; its pages show their values as they
//! are when served.
//!
//! A file-backed [`FakeOrg`] can change while served (see
//! [`FakeOrg::update`], [`FakeOrg::delete`] and its logical clock), and
//! [`FakeSalesforce::records_served`] counts the records pages (and Bulk
//! result sets) carried: enough to test an incremental sync record by
//! record.
//!
//! Data endpoints need `Authorization: Bearer <access token>` (else `401
//! INVALID_SESSION_ID`) and carry `Sforce-Limit-Info: api-usage=USED/MAX`.
//! Errors have Salesforce's bodies and codes (`MALFORMED_QUERY`,
//! `INVALID_FIELD`, `INVALID_TYPE`, `NOT_FOUND`, `REQUEST_LIMIT_EXCEEDED`,
//! `invalid_grant`, ...); Bulk API 2.0 requests are data requests too, with
//! the Bulk errors (`412 JOB_NOT_COMPLETE` for results of an unfinished
//! job, `404 NOT_FOUND` for a job deleted or purged, ...).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> salesforce_import::Result<()> {
//! use secrecy::ExposeSecret;
//! use salesforce_import_fake::{Endpoint, FakeOrg, FakeSalesforce};
//!
//! let fake = FakeSalesforce::builder()
//!     .org(FakeOrg::generated(42, 10_000))
//!     .start()
//!     .await?;
//! let (access, _refresh) = fake.issue_tokens();
//! let url = format!("{}/services/data/v60.0/query", fake.url());
//! let page: serde_json::Value = reqwest::Client::new()
//!     .get(&url)
//!     .query(&[("q", "SELECT Id, Name FROM Account ORDER BY Id LIMIT 5")])
//!     .bearer_auth(access.expose_secret())
//!     .send()
//!     .await
//!     .and_then(|r| r.error_for_status())
//!     .map_err(|e| salesforce_import::Error::source("query", e))?
//!     .json()
//!     .await
//!     .map_err(|e| salesforce_import::Error::source("query", e))?;
//! assert_eq!(page["totalSize"], 5);
//! assert_eq!(fake.count(Endpoint::Query), 1);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use salesforce_import::{Connection, SObject};
use salesforce_import::{Error, Result};

mod api;
mod bulk;
mod faults;
mod filter;
mod generated;
mod ids;
mod mutate;
mod oauth;
mod org;
mod render;
mod schema;
mod server;
mod soql;
mod store;

pub use faults::{Endpoint, Failure, Faults, LoggedRequest};
pub use org::FakeOrg;

/// The fake's settings, fixed at start.
#[derive(Debug)]
struct Config {
    client_id: String,
    client_secret: SecretString,
    redirect_uri: String,
    /// Served API versions, oldest first (`"60.0"`).
    versions: Vec<String>,
    min_batch_size: u32,
    daily_api_limit: u64,
    code_lifetime: Duration,
    bulk_polls_to_complete: u32,
}

/// Counters and the request log.
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    api_used: AtomicU64,
    refreshes: AtomicU64,
    code_exchanges: AtomicU64,
    revocations: AtomicU64,
    log: Mutex<Vec<LoggedRequest>>,
    /// Records written into query pages and Bulk result sets, by object.
    served: Mutex<HashMap<String, u64>>,
}

impl Stats {
    fn served(&self, object: &str, records: u64) {
        *self
            .served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(object.to_owned())
            .or_default() += records;
    }

    fn log(&self, entry: LoggedRequest) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }
}

/// What the handlers share.
#[derive(Debug)]
struct Shared {
    org: FakeOrg,
    config: Config,
    base_url: String,
    auth: Mutex<oauth::AuthState>,
    faults: Faults,
    stats: Stats,
    locators: Mutex<HashMap<String, api::Locator>>,
    next_locator: AtomicU64,
    bulk: bulk::Jobs,
}

impl Shared {
    fn lock_auth(&self) -> MutexGuard<'_, oauth::AuthState> {
        self.auth.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a query's state and returns its locator (`01g...`, 18 chars).
    fn open_locator(&self, locator: api::Locator) -> String {
        let n = self.next_locator.fetch_add(1, Ordering::Relaxed);
        let id = generated::id("01g", n);
        self.locators
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), locator);
        id
    }

    fn locator(&self, id: &str) -> Option<api::Locator> {
        let mut locators = self.locators.lock().unwrap_or_else(|e| e.into_inner());
        if self.faults.take_locator_expiry() {
            locators.clear();
        }
        locators.get(id).cloned()
    }
}

/// Builds a [`FakeSalesforce`]. Every setting has a default: the sample
/// org, client id `fake-client-id`, secret `fake-client-secret`, redirect
/// URI `http://localhost/oauth/callback`, API versions 31.0 to 62.0.
#[derive(Debug)]
#[must_use]
pub struct FakeSalesforceBuilder {
    org: Option<FakeOrg>,
    client_id: String,
    client_secret: SecretString,
    redirect_uri: String,
    versions: Vec<String>,
    min_batch_size: u32,
    daily_api_limit: u64,
    code_lifetime: Duration,
    bulk_polls_to_complete: u32,
}

impl Default for FakeSalesforceBuilder {
    fn default() -> Self {
        FakeSalesforceBuilder {
            org: None,
            client_id: "fake-client-id".to_owned(),
            client_secret: SecretString::from("fake-client-secret"),
            redirect_uri: "http://localhost/oauth/callback".to_owned(),
            versions: (31..=62).map(|v| format!("{v}.0")).collect(),
            min_batch_size: 200,
            daily_api_limit: 15_000,
            code_lifetime: Duration::from_secs(15 * 60),
            bulk_polls_to_complete: 2,
        }
    }
}

impl FakeSalesforceBuilder {
    /// The org to serve (default: [`FakeOrg::sample`]).
    pub fn org(mut self, org: FakeOrg) -> Self {
        self.org = Some(org);
        self
    }

    /// The connected app's consumer key.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// The connected app's consumer secret.
    pub fn client_secret(mut self, secret: SecretString) -> Self {
        self.client_secret = secret;
        self
    }

    /// The connected app's callback URL: authorize and token requests must
    /// name exactly this one.
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = redirect_uri.into();
        self
    }

    /// The API versions served (`["58.0", "59.0", "60.0"]`); a request
    /// for another gets `404 NOT_FOUND`.
    pub fn api_versions<I, S>(mut self, versions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.versions = versions.into_iter().map(Into::into).collect();
        self
    }

    /// The smallest page a `batchSize` may ask for. Salesforce clamps
    /// `batchSize` to 200..=2000 (the default here too); tests of paging
    /// over a small org lower it, e.g. to 1.
    pub fn min_batch_size(mut self, min: u32) -> Self {
        self.min_batch_size = min;
        self
    }

    /// The org's daily API allowance (`DailyApiRequests.Max`, default
    /// 15 000): once used up, data calls get `403 REQUEST_LIMIT_EXCEEDED`.
    pub fn daily_api_limit(mut self, max: u64) -> Self {
        self.daily_api_limit = max;
        self
    }

    /// How long an authorization code can be exchanged (default 15 minutes).
    pub fn code_lifetime(mut self, lifetime: Duration) -> Self {
        self.code_lifetime = lifetime;
        self
    }

    /// Binds 127.0.0.1 on a free port and starts serving on the current
    /// tokio runtime. The server stops when the [`FakeSalesforce`] is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an unusable setting (no API version, a
    /// redirect URI that is not a URL, a minimum batch size of 0 or over
    /// 2000); [`Error::Source`] when no port can be bound.
    pub async fn start(self) -> Result<FakeSalesforce> {
        if self.versions.is_empty() {
            return Err(Error::config(
                "the fake must serve at least one API version",
            ));
        }
        if let Some(bad) = self.versions.iter().find(|v| {
            let (major, minor) = v.split_once('.').unwrap_or(("", ""));
            major.is_empty() || !major.chars().all(|c| c.is_ascii_digit()) || minor != "0"
        }) {
            return Err(Error::config(format!(
                "API version {bad:?} is not of the form NN.0"
            )));
        }
        if url::Url::parse(&self.redirect_uri).is_err() {
            return Err(Error::config("the redirect URI must be an absolute URL"));
        }
        if !(1..=2000).contains(&self.min_batch_size) {
            return Err(Error::config("min_batch_size must be within 1..=2000"));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::source("binding the fake Salesforce to 127.0.0.1", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::source("reading the fake Salesforce's address", e))?;
        let base_url = format!("http://{addr}");
        let faults = Faults::new();
        let shared = Arc::new(Shared {
            org: self.org.unwrap_or_else(FakeOrg::sample),
            config: Config {
                client_id: self.client_id,
                client_secret: self.client_secret,
                redirect_uri: self.redirect_uri,
                versions: self.versions,
                min_batch_size: self.min_batch_size,
                daily_api_limit: self.daily_api_limit,
                code_lifetime: self.code_lifetime,
                bulk_polls_to_complete: self.bulk_polls_to_complete,
            },
            base_url: base_url.clone(),
            auth: Mutex::default(),
            faults: faults.clone(),
            stats: Stats::default(),
            locators: Mutex::default(),
            next_locator: AtomicU64::new(0),
            bulk: bulk::Jobs::default(),
        });
        let task = server::spawn(listener, server::router(shared.clone()));
        Ok(FakeSalesforce {
            shared,
            base_url,
            faults,
            task: Some(task),
        })
    }
}

/// What the fake's authorization endpoint redirected to the callback with.
///
/// `Debug` hides both values: the code is a credential until exchanged.
#[derive(Clone)]
#[non_exhaustive]
pub struct Approval {
    /// The authorization code, single-use.
    pub code: String,
    /// The `state` of the authorization URL, echoed.
    pub state: String,
}

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Approval { code: [REDACTED], state: [REDACTED] }")
    }
}

/// A fake Salesforce org on `http://127.0.0.1:<free port>`: OAuth, query
/// with paging, describe and limits as the real API shapes them, and
/// [`Faults`] on demand. See the [module docs](self).
///
/// The server runs on the tokio runtime that started it (current-thread or
/// multi-thread) and stops when this value is dropped.
#[derive(Debug)]
pub struct FakeSalesforce {
    shared: Arc<Shared>,
    base_url: String,
    faults: Faults,
    /// The accept loop; `None` once shut down.
    task: Option<JoinHandle<()>>,
}

impl FakeSalesforce {
    /// A builder with the defaults.
    pub fn builder() -> FakeSalesforceBuilder {
        FakeSalesforceBuilder::default()
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// The `instance_url` the token endpoint returns: the fake itself.
    pub fn instance_url(&self) -> &str {
        &self.base_url
    }

    /// Where the OAuth endpoints are (`/services/oauth2/...` below it):
    /// the fake itself, standing in for `https://login.salesforce.com`.
    pub fn login_url(&self) -> &str {
        &self.base_url
    }

    /// The newest API version served (`"62.0"` by default).
    pub fn api_version(&self) -> &str {
        self.shared
            .config
            .versions
            .iter()
            .max_by_key(|v| v.split('.').next().and_then(|m| m.parse::<u32>().ok()))
            .expect("start() refuses an empty version list")
    }

    /// The connected app's consumer key.
    pub fn client_id(&self) -> &str {
        &self.shared.config.client_id
    }

    /// The connected app's consumer secret.
    pub fn client_secret(&self) -> &SecretString {
        &self.shared.config.client_secret
    }

    /// The connected app's callback URL.
    pub fn redirect_uri(&self) -> &str {
        &self.shared.config.redirect_uri
    }

    /// The org being served.
    pub fn org(&self) -> &FakeOrg {
        &self.shared.org
    }

    /// The fault plan, to arm faults while the fake runs.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Issues an (access, refresh) token pair as if a user had connected,
    /// so that tests need not go through the browser flow.
    pub fn issue_tokens(&self) -> (SecretString, SecretString) {
        let (access, refresh) = self.shared.lock_auth().issue(None);
        (SecretString::from(access), SecretString::from(refresh))
    }

    /// A ready [`Connection`] to this org with fresh tokens.
    pub fn connection(&self, connected_by: &str) -> Connection {
        let (access, refresh) = self.issue_tokens();
        let mut c = Connection::new(
            self.instance_url(),
            access,
            Some(refresh),
            connected_by,
            Utc::now(),
        );
        c.identity_url = Some(format!(
            "{}/id/{}/{}",
            self.base_url,
            oauth::ORG_ID,
            oauth::USER_ID
        ));
        c
    }

    /// Does what the user's browser does with an authorization URL: opens
    /// it (the fake approves at once) and follows nothing, returning the
    /// `code` and `state` the redirect to the callback carries.
    ///
    /// An authorization the fake refuses (wrong client id or callback URL,
    /// no PKCE challenge) is an [`Error::Source`]
    /// naming the error it redirected with or the status it answered.
    pub async fn approve(&self, authorization_url: &str) -> Result<Approval> {
        let failed = |what: String| Error::Source {
            temporary: false,
            message: format!("the fake org did not approve: {what}").into(),
            source: None,
        };
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::source("building an HTTP client", e))?;
        let response = browser
            .get(authorization_url)
            .send()
            .await
            .map_err(|e| Error::source("opening the authorization URL", e.without_url()))?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url::Url::parse(l).ok())
            .ok_or_else(|| failed(format!("HTTP {} without a redirect", response.status())))?;
        let param = |name: &str| {
            location
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(error) = param("error") {
            return Err(failed(error));
        }
        match (param("code"), param("state")) {
            (Some(code), Some(state)) => Ok(Approval { code, state }),
            _ => Err(failed("the redirect has no code or state".into())),
        }
    }

    /// Whether an access token is currently accepted.
    pub fn is_token_live(&self, access_token: &str) -> bool {
        self.shared.lock_auth().access_is_live(access_token)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared
            .stats
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many requests went to `endpoint`.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.shared
            .stats
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .count()
    }

    /// The SOQL of every query received (REST `?q=`, Bulk API 2.0 jobs
    /// created), in order.
    pub fn queries(&self) -> Vec<String> {
        self.requests().into_iter().filter_map(|r| r.soql).collect()
    }

    /// How many records the query and queryAll pages and the Bulk API 2.0
    /// result sets served so far carried, every object together (a
    /// `COUNT()` carries none).
    pub fn records_served(&self) -> u64 {
        self.lock_served().values().sum()
    }

    /// How many records of `object` the query and queryAll pages and the
    /// Bulk API 2.0 result sets served so far carried: what a test of an
    /// incremental sync asserts on.
    pub fn records_served_of(&self, object: &SObject) -> u64 {
        self.lock_served()
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(object.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    fn lock_served(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.shared
            .stats
            .served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// How many refresh-token grants succeeded.
    pub fn refreshes(&self) -> u64 {
        self.shared.stats.refreshes.load(Ordering::Relaxed)
    }

    /// How many authorization codes were exchanged for tokens.
    pub fn code_exchanges(&self) -> u64 {
        self.shared.stats.code_exchanges.load(Ordering::Relaxed)
    }

    /// How many tokens were revoked.
    pub fn revocations(&self) -> u64 {
        self.shared.stats.revocations.load(Ordering::Relaxed)
    }

    /// How many API calls counted against the daily allowance.
    pub fn api_usage(&self) -> u64 {
        self.shared.stats.api_used.load(Ordering::Relaxed)
    }

    /// Stops the server and waits until it has stopped: the port is
    /// closed and every open connection dropped.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // The task was aborted: its result is the cancellation.
            let _ = task.await;
        }
    }
}

impl Drop for FakeSalesforce {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
