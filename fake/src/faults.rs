//! Faults on demand, and the request log tests assert on.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use salesforce_import::SObject;

/// What goes wrong with a request chosen by a fault rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// `503 Service Unavailable` with an HTML maintenance page, as a
    /// Salesforce instance sends during maintenance.
    ServiceUnavailable,
    /// `500` with `[{"errorCode":"UNKNOWN_EXCEPTION", ...}]`.
    ServerError,
    /// The TCP connection is closed after the request is read, without a
    /// response: the client sees an incomplete message.
    ConnectionReset,
    /// The real response, with its JSON body cut in half (the
    /// `Content-Length` matches the cut body, so only parsing fails).
    TruncatedBody,
    /// `200` with an HTML page instead of JSON (a proxy's or a login page).
    HtmlBody,
}

/// What a request was for: the fake's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET /services/oauth2/authorize`.
    Authorize,
    /// `POST /services/oauth2/token`.
    Token,
    /// `POST /services/oauth2/revoke`.
    Revoke,
    /// `GET /id/{org}/{user}`: the identity URL.
    Identity,
    /// `GET /services/data`: the API versions.
    Versions,
    /// `GET .../query?q=` or `.../queryAll?q=`: a query's first page.
    Query,
    /// `GET .../query/01g...-N`: a following page (`nextRecordsUrl`).
    QueryMore,
    /// `GET .../sobjects`: describe global.
    DescribeGlobal,
    /// `GET .../sobjects/{Object}/describe`.
    Describe,
    /// `GET .../limits`.
    Limits,
    /// `.../jobs/query[/{id}[/results]]`: a Bulk API 2.0 query job
    /// created (`POST`), polled (`GET`), aborted (`PATCH`), deleted
    /// (`DELETE`), or its results read (`GET .../results`).
    BulkQuery,
    /// Anything else.
    Other,
}

impl Endpoint {
    /// Whether this is a REST API call (`/services/data/vNN.N/...`): one
    /// that needs a bearer token and counts against the API allowance.
    pub fn is_data(self) -> bool {
        matches!(
            self,
            Endpoint::Query
                | Endpoint::QueryMore
                | Endpoint::DescribeGlobal
                | Endpoint::Describe
                | Endpoint::Limits
                | Endpoint::BulkQuery
        )
    }

    /// Classifies a request path.
    pub(crate) fn of(path: &str) -> Endpoint {
        let path = path.trim_end_matches('/');
        if path == "/services/oauth2/authorize" {
            return Endpoint::Authorize;
        }
        if path == "/services/oauth2/token" {
            return Endpoint::Token;
        }
        if path == "/services/oauth2/revoke" {
            return Endpoint::Revoke;
        }
        if path.starts_with("/id/") {
            return Endpoint::Identity;
        }
        if path == "/services/data" {
            return Endpoint::Versions;
        }
        let Some(rest) = path.strip_prefix("/services/data/") else {
            return Endpoint::Other;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [_, "query" | "queryAll"] => Endpoint::Query,
            [_, "query" | "queryAll", _] => Endpoint::QueryMore,
            [_, "sobjects"] => Endpoint::DescribeGlobal,
            [_, "sobjects", _, "describe"] => Endpoint::Describe,
            [_, "limits"] => Endpoint::Limits,
            [_, "jobs", "query", ..] => Endpoint::BulkQuery,
            _ => Endpoint::Other,
        }
    }
}

/// One request the fake received, for tests to assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// Its number, from 1, in the order requests arrived.
    pub number: u64,
    /// `GET`, `POST`.
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// What it was for.
    pub endpoint: Endpoint,
    /// The SOQL text of a query (`?q=`), decoded, or of a Bulk API 2.0
    /// query job created (the `query` of its JSON body).
    pub soql: Option<String>,
    /// The batch size asked in `Sforce-Query-Options: batchSize=N`.
    pub batch_size: Option<u32>,
    /// The status sent; `None` when the connection was reset instead.
    pub status: Option<u16>,
    /// The injected failure, if one was.
    pub failure: Option<Failure>,
}

#[derive(Debug)]
enum When {
    /// The next `n` matching requests.
    Next(u64),
    /// The request with this number.
    Nth(u64),
}

#[derive(Debug)]
struct Rule {
    when: When,
    endpoint: Option<Endpoint>,
    failure: Failure,
}

#[derive(Debug, Default)]
struct Plan {
    rules: Vec<Rule>,
    expire_tokens_after: Option<u64>,
    rate_limit_after: Option<u64>,
    rate_limited: bool,
    expire_locators: bool,
    latency: Duration,
    bulk_fail: u64,
    bulk_stick: u64,
    bulk_precondition_failed: u64,
    /// Lower-case object names.
    bulk_refused: BTreeSet<String>,
}

/// How a Bulk API 2.0 query job created now ends, as the fault plan says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BulkFate {
    /// `JobComplete` once polled enough.
    Complete,
    /// `Failed`, with an `errorMessage`, once polled enough.
    Fail,
    /// `InProgress` for ever (until aborted).
    Stick,
}

/// The fault plan of a running [`FakeSalesforce`](super::FakeSalesforce),
/// armed at run time: a test can arm a fault between two steps. Clones
/// share the plan; every method is thread-safe.
///
/// Requests are numbered from 1 in the order they arrive (every endpoint
/// counts; see [`FakeSalesforce::requests`](super::FakeSalesforce::requests)).
///
/// ```no_run
/// # async fn f(fake: salesforce_import_fake::FakeSalesforce) {
/// use std::time::Duration;
/// use salesforce_import_fake::{Endpoint, Failure};
///
/// let faults = fake.faults();
/// faults.fail_next(1, Failure::ServiceUnavailable);           // the very next request
/// faults.fail_next_on(Endpoint::QueryMore, 1, Failure::ConnectionReset);
/// faults.expire_tokens_after(3);                               // the 4th data call gets 401
/// faults.rate_limit_after(10);                                 // 403 REQUEST_LIMIT_EXCEEDED from the 11th
/// faults.expire_query_locators();                            // nextRecordsUrl stops working
/// faults.bulk_fail_next_jobs(1);                               // the next Bulk query job fails
/// faults.bulk_results_precondition_failed(2);                  // 412 for the next 2 results reads
/// faults.set_latency(Duration::from_millis(5));
/// faults.clear();
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Faults {
    plan: Arc<Mutex<Plan>>,
    /// Bumped by [`Faults::bulk_expire_jobs`]: jobs created under an older
    /// epoch are gone. Not part of the plan: an expiry has happened, there
    /// is nothing left to clear.
    bulk_epoch: Arc<AtomicU64>,
}

impl Faults {
    /// An empty plan (one per fake).
    pub(crate) fn new() -> Faults {
        Faults {
            plan: Arc::default(),
            bulk_epoch: Arc::default(),
        }
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        // A panic while holding the lock leaves no half-made change.
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `n` requests (any endpoint) fail this way.
    pub fn fail_next(&self, n: u64, failure: Failure) {
        self.push(When::Next(n), None, failure);
    }

    /// The next `n` requests to `endpoint` fail this way.
    pub fn fail_next_on(&self, endpoint: Endpoint, n: u64, failure: Failure) {
        self.push(When::Next(n), Some(endpoint), failure);
    }

    /// The request numbered `number` (from 1, counting every request since
    /// the fake started) fails this way.
    pub fn fail_request(&self, number: u64, failure: Failure) {
        self.push(When::Nth(number), None, failure);
    }

    fn push(&self, when: When, endpoint: Option<Endpoint>, failure: Failure) {
        self.plan().rules.push(Rule {
            when,
            endpoint,
            failure,
        });
    }

    /// After `n` more data requests (`/services/data/vNN.N/...`), every
    /// access token issued so far expires: the next data request gets
    /// `401 INVALID_SESSION_ID` until the client refreshes. `0` expires
    /// them at the next data request.
    pub fn expire_tokens_after(&self, n: u64) {
        self.plan().expire_tokens_after = Some(n);
    }

    /// After `n` more data requests, every data request gets `403
    /// REQUEST_LIMIT_EXCEEDED` until [`clear_rate_limit`](Faults::clear_rate_limit).
    pub fn rate_limit_after(&self, n: u64) {
        let mut plan = self.plan();
        plan.rate_limit_after = Some(n);
        plan.rate_limited = false;
    }

    /// Ends the rate limit set by [`rate_limit_after`](Faults::rate_limit_after).
    pub fn clear_rate_limit(&self) {
        let mut plan = self.plan();
        plan.rate_limit_after = None;
        plan.rate_limited = false;
    }

    /// Expires every query locator opened so far, as Salesforce does after
    /// 15 minutes of inactivity or when a user has too many open: the next
    /// `nextRecordsUrl` of those queries gets `400 INVALID_QUERY_LOCATOR`,
    /// and the client must start again (with `WHERE Id > '<last id>'`).
    pub fn expire_query_locators(&self) {
        self.plan().expire_locators = true;
    }

    /// Adds this delay before every response.
    pub fn set_latency(&self, latency: Duration) {
        self.plan().latency = latency;
    }

    /// The next `n` Bulk API 2.0 query jobs created end in state `Failed`
    /// (with an `errorMessage`) instead of `JobComplete`, when they would
    /// have completed; their results answer `412` like any unfinished
    /// job's. Replaces an earlier count; `0` disarms.
    pub fn bulk_fail_next_jobs(&self, n: u64) {
        self.plan().bulk_fail = n;
    }

    /// The next `n` Bulk API 2.0 query jobs created stay `InProgress` for
    /// ever (a client must give up, abort and delete them). Takes
    /// precedence over [`bulk_fail_next_jobs`](Faults::bulk_fail_next_jobs)
    /// for a job both would pick. Replaces an earlier count.
    pub fn bulk_stick_next_jobs(&self, n: u64) {
        self.plan().bulk_stick = n;
    }

    /// The next `n` requests for a Bulk API 2.0 query job's results answer
    /// `412 Precondition Failed` with `[{"errorCode":"JOB_NOT_COMPLETE",
    /// ...}]`, the answer Salesforce documents for results asked of a job
    /// that is not `JobComplete`, whatever the job's state: a client
    /// should wait and ask again. Replaces an earlier count.
    pub fn bulk_results_precondition_failed(&self, n: u64) {
        self.plan().bulk_precondition_failed = n;
    }

    /// Every Bulk API 2.0 query job that exists now vanishes, as when
    /// Salesforce purges jobs (7 days after they finish): polling it, its
    /// results, aborting or deleting it answer `404 NOT_FOUND`. Jobs
    /// created afterwards are not affected; [`clear`](Faults::clear) does
    /// not bring them back.
    pub fn bulk_expire_jobs(&self) {
        self.bulk_epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// Creating a Bulk API 2.0 query job on `object` answers `400
    /// INVALIDJOB` (`Entity '<object>' is not supported by the Bulk API.`),
    /// as Salesforce does for an object Bulk API does not support; REST
    /// queries of it still work.
    pub fn bulk_refuse_object(&self, object: SObject) {
        self.plan()
            .bulk_refused
            .insert(object.as_str().to_ascii_lowercase());
    }

    /// Removes every fault: failure rules, pending expiry, rate limit,
    /// latency, the Bulk job and results faults and refused objects.
    pub fn clear(&self) {
        *self.plan() = Plan::default();
    }

    /// How the Bulk query job created now ends (counts a job down).
    pub(crate) fn take_bulk_fate(&self) -> BulkFate {
        let mut plan = self.plan();
        if plan.bulk_stick > 0 {
            plan.bulk_stick -= 1;
            BulkFate::Stick
        } else if plan.bulk_fail > 0 {
            plan.bulk_fail -= 1;
            BulkFate::Fail
        } else {
            BulkFate::Complete
        }
    }

    /// Whether this results request answers 412 (counts one down).
    pub(crate) fn take_bulk_precondition_failed(&self) -> bool {
        let mut plan = self.plan();
        let armed = plan.bulk_precondition_failed > 0;
        if armed {
            plan.bulk_precondition_failed -= 1;
        }
        armed
    }

    /// Whether Bulk jobs on this object are refused.
    pub(crate) fn bulk_refuses(&self, object: &str) -> bool {
        self.plan()
            .bulk_refused
            .contains(&object.to_ascii_lowercase())
    }

    /// The current Bulk job epoch (see [`Faults::bulk_expire_jobs`]).
    pub(crate) fn bulk_epoch(&self) -> u64 {
        self.bulk_epoch.load(Ordering::Relaxed)
    }

    /// Whether the open query locators expire now (once per arming).
    pub(crate) fn take_locator_expiry(&self) -> bool {
        std::mem::take(&mut self.plan().expire_locators)
    }

    pub(crate) fn latency(&self) -> Duration {
        self.plan().latency
    }

    /// The failure for this request, if a rule picks it (the first rule
    /// that matches; a `Next` rule counts down).
    pub(crate) fn failure_for(&self, number: u64, endpoint: Endpoint) -> Option<Failure> {
        let mut plan = self.plan();
        let index = plan.rules.iter().position(|r| {
            r.endpoint.is_none_or(|e| e == endpoint)
                && match r.when {
                    When::Next(n) => n > 0,
                    When::Nth(k) => k == number,
                }
        })?;
        let rule = &mut plan.rules[index];
        let failure = rule.failure;
        let spent = match &mut rule.when {
            When::Next(n) => {
                *n -= 1;
                *n == 0
            }
            When::Nth(_) => true,
        };
        if spent {
            plan.rules.remove(index);
        }
        Some(failure)
    }

    /// Counts a data request against a pending expiry; true when the
    /// tokens expire now.
    pub(crate) fn tokens_expire_now(&self) -> bool {
        let mut plan = self.plan();
        match plan.expire_tokens_after {
            Some(0) => {
                plan.expire_tokens_after = None;
                true
            }
            Some(n) => {
                plan.expire_tokens_after = Some(n - 1);
                false
            }
            None => false,
        }
    }

    /// Counts an authenticated data request against the rate limit; true
    /// when it must be refused.
    pub(crate) fn rate_limited_now(&self) -> bool {
        let mut plan = self.plan();
        if plan.rate_limited {
            return true;
        }
        match plan.rate_limit_after {
            Some(0) => {
                plan.rate_limited = true;
                true
            }
            Some(n) => {
                plan.rate_limit_after = Some(n - 1);
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        let cases = [
            ("/services/oauth2/token", Endpoint::Token),
            ("/services/data", Endpoint::Versions),
            ("/services/data/", Endpoint::Versions),
            ("/services/data/v60.0/query", Endpoint::Query),
            ("/services/data/v60.0/queryAll", Endpoint::Query),
            (
                "/services/data/v60.0/query/01g5g0000000001AAA-2000",
                Endpoint::QueryMore,
            ),
            ("/services/data/v60.0/sobjects", Endpoint::DescribeGlobal),
            (
                "/services/data/v60.0/sobjects/Account/describe",
                Endpoint::Describe,
            ),
            ("/services/data/v60.0/limits", Endpoint::Limits),
            ("/services/data/v60.0/jobs/query", Endpoint::BulkQuery),
            (
                "/services/data/v60.0/jobs/query/7505g0000000001AAA",
                Endpoint::BulkQuery,
            ),
            (
                "/services/data/v60.0/jobs/query/7505g0000000001AAA/results",
                Endpoint::BulkQuery,
            ),
            ("/services/data/v60.0/jobs/ingest", Endpoint::Other),
            ("/services/data/v60.0/sobjects/Account", Endpoint::Other),
            ("/id/00D/005", Endpoint::Identity),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::of(path), want, "{path}");
        }
    }

    #[test]
    fn rules_count_down_and_match_endpoints() {
        let f = Faults::new();
        f.fail_next_on(Endpoint::Query, 2, Failure::ServerError);
        f.fail_request(3, Failure::HtmlBody);
        assert_eq!(f.failure_for(1, Endpoint::Token), None);
        assert_eq!(
            f.failure_for(2, Endpoint::Query),
            Some(Failure::ServerError)
        );
        assert_eq!(
            f.failure_for(3, Endpoint::Query),
            Some(Failure::ServerError)
        );
        assert_eq!(f.failure_for(3, Endpoint::Token), Some(Failure::HtmlBody));
        assert_eq!(f.failure_for(4, Endpoint::Query), None);
    }

    #[test]
    fn expiry_and_rate_limit_count_data_requests() {
        let f = Faults::new();
        f.expire_tokens_after(2);
        assert!(!f.tokens_expire_now());
        assert!(!f.tokens_expire_now());
        assert!(f.tokens_expire_now());
        assert!(!f.tokens_expire_now());

        f.rate_limit_after(1);
        assert!(!f.rate_limited_now());
        assert!(f.rate_limited_now());
        assert!(f.rate_limited_now());
        f.clear_rate_limit();
        assert!(!f.rate_limited_now());
    }

    #[test]
    fn bulk_faults_count_down_and_clear() {
        let f = Faults::new();
        f.bulk_fail_next_jobs(1);
        f.bulk_stick_next_jobs(1);
        assert_eq!(f.take_bulk_fate(), BulkFate::Stick);
        assert_eq!(f.take_bulk_fate(), BulkFate::Fail);
        assert_eq!(f.take_bulk_fate(), BulkFate::Complete);
        f.bulk_results_precondition_failed(1);
        assert!(f.take_bulk_precondition_failed());
        assert!(!f.take_bulk_precondition_failed());
        f.bulk_refuse_object(SObject::ACCOUNT);
        assert!(f.bulk_refuses("account"));
        f.bulk_expire_jobs();
        f.clear();
        assert!(!f.bulk_refuses("Account"));
        assert_eq!(f.bulk_epoch(), 1, "an expiry is not undone");
    }
}
