//! [`RestSource`]: pages of records from the REST API's query resource.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;

use super::client::{ApiClient, Get};
use bulk::{BulkCursor, BulkSettings, Position};

mod bulk;
mod count;
mod standard_price;
use super::oauth::SalesforceOAuth;
use crate::error::{ApiErrorCode, Error, Result};
use crate::error::{FieldError, Problem};
use crate::id::TenantId;
use crate::object::SObject;
use crate::record::{Records, SfRecord};
use crate::retry::Backoff;
use crate::source::{Cursor, Page, PageRequest, SalesforceSource};

/// The API version used unless the builder says otherwise.
pub const DEFAULT_API_VERSION: &str = "62.0";

/// Configures a [`RestSource`].
#[derive(Debug)]
pub struct RestSourceBuilder {
    oauth: Arc<SalesforceOAuth>,
    api_version: String,
    backoff: Backoff,
    bulk: BulkSettings,
}

impl RestSourceBuilder {
    /// The REST API version, such as `"62.0"` (default [`DEFAULT_API_VERSION`]).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Attempts for a call that fails on the way or on Salesforce's side
    /// (connection reset, timeout, 5xx), the first included (default 5).
    /// With 1, the source does not retry and the failure reaches the engine
    /// as temporary, for the engine's own retries.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.backoff.max_attempts = attempts;
        self
    }

    /// The first retry's wait, doubling after with jitter (default 500 ms),
    /// and the longest wait (default 30 s).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff.base = base;
        self.backoff.max = max;
        self
    }

    /// Reads an object through Bulk API 2.0 when its query matches more
    /// than `records` (default 50,000; 0: every object, `u64::MAX`: never).
    /// The first REST page tells the count (`totalSize`), so deciding costs
    /// no call.
    pub fn bulk_threshold(mut self, records: u64) -> Self {
        self.bulk.threshold = records;
        self
    }

    /// Records per Bulk API result set, one page (default 50,000): what
    /// memory holds at once while reading by Bulk.
    pub fn bulk_max_records(mut self, records: u64) -> Self {
        self.bulk.max_records = records;
        self
    }

    /// The first wait between polls of a Bulk job (default 500 ms), growing
    /// by half each time up to `max` (default 10 s).
    pub fn bulk_poll(mut self, first: Duration, max: Duration) -> Self {
        self.bulk.poll_first = first;
        self.bulk.poll_max = max;
        self
    }

    /// How long a Bulk job may run before it is aborted and tried once
    /// more, then the object read through REST (default 3 hours).
    pub fn bulk_timeout(mut self, timeout: Duration) -> Self {
        self.bulk.timeout = timeout;
        self
    }

    /// Checks the configuration and builds the source.
    pub fn build(self) -> Result<RestSource> {
        let version = self.api_version.trim().trim_start_matches(['v', 'V']);
        let valid = version.split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty()
                && major.chars().all(|c| c.is_ascii_digit())
                && !minor.is_empty()
                && minor.chars().all(|c| c.is_ascii_digit())
        });
        if !valid {
            return Err(Error::config(format!(
                "not a Salesforce API version: {:?} (try \"{DEFAULT_API_VERSION}\")",
                self.api_version
            )));
        }
        if self.backoff.max_attempts == 0 {
            return Err(Error::config("max_attempts must be at least 1"));
        }
        if self.backoff.base > self.backoff.max {
            return Err(Error::config("the first backoff wait exceeds the longest"));
        }
        if self.bulk.max_records == 0 || self.bulk.poll_first.is_zero() {
            return Err(Error::config(
                "Bulk API result sets need at least one record, and polls a wait",
            ));
        }
        if self.bulk.poll_first > self.bulk.poll_max {
            return Err(Error::config(
                "the first Bulk API poll wait exceeds the longest",
            ));
        }
        Ok(RestSource {
            api: ApiClient {
                oauth: self.oauth,
                backoff: self.backoff,
            },
            data_path: format!("/services/data/v{version}"),
            bulk: self.bulk,
            describes: Mutex::default(),
            standard_price_books: Default::default(),
            counts: count::CountCache::default(),
        })
    }
}

/// A [`SalesforceSource`] over the REST API, for tenants connected through
/// [`SalesforceOAuth`].
///
/// For each object it asks `describe` which fields the org has, leaves out
/// the selected fields the org lacks (logged as warnings of the object),
/// and queries `SELECT <fields> FROM <object> [WHERE Id > '<checkpoint>']
/// ORDER BY Id`, following `nextRecordsUrl` until `done`. An object the org
/// does not have (Orders or Quotes not enabled) is
/// [`Error::ObjectNotAvailable`], which ends that object only.
///
/// - The page size goes in the `Sforce-Query-Options: batchSize=` header
///   (capped at 2,000; Salesforce treats it as a hint and may round values
///   below 200 up). Only the page in hand is in memory.
/// - On `401 INVALID_SESSION_ID` the token is refreshed once (one refresh
///   shared by concurrent requests), stored in the vault, and the request
///   retried.
/// - Connection failures, timeouts and 5xx are retried with backoff and
///   jitter up to [`max_attempts`](RestSourceBuilder::max_attempts); the
///   engine does not retry them again.
/// - `REQUEST_LIMIT_EXCEEDED` is [`Error::RateLimited`]: the job stops and
///   keeps its checkpoints, to be resumed later.
/// - Salesforce's other errors are [`Error::Api`], an HTML page or cut JSON
///   [`Error::BadResponse`]; both name the request (object and SOQL).
/// - `Sforce-Limit-Info` is reported in [`Page::api_usage`] and, by the
///   engine, in [`ProgressEvent::ApiUsage`](crate::ProgressEvent::ApiUsage).
/// - A sync read ([`PageRequest::changed_since`]) asks `WHERE
///   SystemModstamp >= ...` in `(SystemModstamp, Id)` order, through
///   `queryAll` so that deleted records come too.
/// - **Bulk API 2.0** for large objects: when the first page's `totalSize`
///   is above [`bulk_threshold`](RestSourceBuilder::bulk_threshold)
///   (default 50,000), the rest of the object is read by a Bulk query job
///   (`query` or `queryAll`, CSV), a result set of
///   [`bulk_max_records`](RestSourceBuilder::bulk_max_records) per page,
///   parsed by the `csv` crate into the same records REST gives. A failed,
///   aborted or timed-out job is tried once more, then the object goes on
///   through REST with the reason logged as a warning; an object Bulk API
///   refuses goes on through REST at once; every job is deleted once read.
///   1,005,000 records take 71 calls this way against 516 through REST
///   (`cargo run --release --features http --example lifecycle`).
/// - `describe` answers are kept for ten minutes: one per object per job.
/// - [`count_records`](SalesforceSource::count_records) is `SELECT COUNT()
///   FROM <object>` (live records, not the recycle bin), kept a minute per
///   tenant and object.
///
/// ```no_run
/// # async fn demo(oauth: std::sync::Arc<salesforce_import::http::SalesforceOAuth>) -> salesforce_import::Result<()> {
/// use std::sync::Arc;
/// use salesforce_import::http::RestSource;
/// use salesforce_import::{Importer, InMemoryJobStore, InMemorySink};
///
/// let source = RestSource::builder(oauth.clone()).api_version("62.0").build()?;
/// let importer = Importer::builder(Arc::new(source), Arc::new(InMemorySink::new()),
///     Arc::new(InMemoryJobStore::new()))
///     .vault(oauth.vault().clone())
///     .build()?;
/// # Ok(()) }
/// ```
pub struct RestSource {
    api: ApiClient,
    /// `/services/data/v62.0`: every call of the source, Bulk's included,
    /// uses this one version.
    data_path: String,
    bulk: BulkSettings,
    /// Describe answers, kept a while: one describe per object per job,
    /// not one per read.
    describes: Mutex<DescribeCache>,
    /// `SELECT COUNT()` answers, kept a minute.
    counts: count::CountCache,
    /// The standard price book's id, by tenant, when a price book entry's
    /// `Pricebook2.IsStandard` cannot be read.
    standard_price_books: standard_price::StandardPriceBooks,
}

/// Describe answers by tenant and object, with when they were read.
type DescribeCache = HashMap<(TenantId, SObject), (Instant, Arc<Describe>)>;

/// How long a describe answer is kept.
const DESCRIBE_TTL: Duration = Duration::from_secs(600);

impl fmt::Debug for RestSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestSource")
            .field("api", &self.data_path)
            .field("max_attempts", &self.api.backoff.max_attempts)
            .field("bulk_threshold", &self.bulk.threshold)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct QueryResult {
    #[serde(rename = "totalSize")]
    total_size: u64,
    done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    next_records_url: Option<String>,
    /// Read in one pass: the page's body is in memory.
    records: Records,
}

#[derive(Debug, Deserialize)]
struct Describe {
    fields: Vec<DescribeField>,
}

#[derive(Debug, Deserialize)]
struct DescribeField {
    name: String,
    #[serde(rename = "relationshipName", default)]
    relationship_name: Option<String>,
    #[serde(rename = "referenceTo", default)]
    reference_to: Vec<String>,
}

/// Whether `name` is a safe SOQL identifier (or dotted path of them).
fn is_identifier(name: &str, dotted: bool) -> bool {
    !name.is_empty()
        && name.split('.').count() <= if dotted { 5 } else { 1 }
        && name.split('.').all(|part| {
            part.starts_with(|c: char| c.is_ascii_alphabetic())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

impl RestSource {
    /// Starts configuring a source that authenticates through `oauth`
    /// (its vault, host policy and HTTP client).
    pub fn builder(oauth: Arc<SalesforceOAuth>) -> RestSourceBuilder {
        RestSourceBuilder {
            oauth,
            api_version: DEFAULT_API_VERSION.to_owned(),
            backoff: Backoff {
                max_attempts: 5,
                base: Duration::from_millis(500),
                max: Duration::from_secs(30),
            },
            bulk: BulkSettings::default(),
        }
    }

    pub(crate) fn data_path(&self) -> &str {
        &self.data_path
    }

    pub(crate) fn api(&self) -> &ApiClient {
        &self.api
    }

    pub(crate) fn bulk(&self) -> &BulkSettings {
        &self.bulk
    }

    /// The object's describe, from the cache while it is fresh.
    async fn describe(&self, tenant: &TenantId, object: &SObject) -> Result<Arc<Describe>> {
        let key = (tenant.clone(), object.clone());
        if let Some((at, d)) = self.lock_describes().get(&key)
            && at.elapsed() < DESCRIBE_TTL
        {
            return Ok(d.clone());
        }
        let path = format!("{}/sobjects/{}/describe", self.data_path, object);
        let name = format!("describe {object}");
        let described = match self
            .api
            .get::<Describe>(tenant, &Get::new(&path, &name))
            .await
        {
            Ok(answer) => Arc::new(answer.body),
            Err(Error::Api {
                code: ApiErrorCode::NotFound | ApiErrorCode::InvalidType,
                ..
            }) => {
                return Err(Error::ObjectNotAvailable {
                    object: object.clone(),
                });
            }
            Err(e) => return Err(e),
        };
        self.lock_describes()
            .insert(key, (Instant::now(), described.clone()));
        Ok(described)
    }

    fn lock_describes(&self) -> std::sync::MutexGuard<'_, DescribeCache> {
        self.describes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fields of `request` the org has, and a warning for each it lacks.
    pub(crate) async fn available_fields(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
    ) -> Result<(Vec<String>, Vec<FieldError>)> {
        let object = &request.object;
        let described = self.describe(tenant, object).await?;
        let has_field = |f: &str| {
            described
                .fields
                .iter()
                .any(|d| d.name.eq_ignore_ascii_case(f))
        };
        let relationship = |r: &str| {
            described.fields.iter().find(|d| {
                d.relationship_name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(r))
            })
        };
        let mut keep = vec!["Id".to_owned()];
        let mut dropped = Vec::new();
        for field in &request.fields {
            if field.eq_ignore_ascii_case("Id") {
                continue;
            }
            let present = match field.split_once('.') {
                // `Pricebook2.IsStandard`: the relationship, and the field
                // on the object it points to (described once too).
                Some((name, rest)) => match relationship(name) {
                    None => false,
                    Some(d) => self.target_has_field(tenant, &d.reference_to, rest).await?,
                },
                None => has_field(field),
            };
            if present {
                keep.push(field.clone());
            } else {
                tracing::warn!(object = %object, field = %field, "field not in this org; left out of the query");
                dropped.push(FieldError::new(field.clone(), Problem::NotInOrg));
            }
        }
        Ok((keep, dropped))
    }

    pub(crate) fn soql(&self, request: &PageRequest, fields: &[String]) -> String {
        let mut soql = format!("SELECT {} FROM {}", fields.join(", "), request.object);
        // An SfId is letters and digits only, a datetime literal digits and
        // punctuation: nothing to escape.
        match request.changed_since {
            None => {
                if let Some(after) = &request.after {
                    soql.push_str(&format!(" WHERE Id > '{after}'"));
                }
                soql.push_str(" ORDER BY Id");
            }
            Some(since) => {
                soql.push_str(&format!(
                    " WHERE SystemModstamp >= {}",
                    soql_datetime(since)
                ));
                if let Some(after) = &request.after {
                    match request.after_modstamp {
                        Some(stamp) => {
                            let stamp = soql_datetime(stamp);
                            soql.push_str(&format!(
                                " AND (SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{after}'))"
                            ));
                        }
                        None => soql.push_str(&format!(" AND Id > '{after}'")),
                    }
                }
                soql.push_str(" ORDER BY SystemModstamp, Id");
            }
        }
        soql
    }

    async fn first_page(&self, tenant: &TenantId, request: &PageRequest) -> Result<Page> {
        let (fields, warnings) = self.available_fields(tenant, request).await?;
        let start = Position {
            after: request.after.clone(),
            after_modstamp: request.after_modstamp,
        };
        let page = if self.bulk.threshold == 0 {
            self.bulk_read(tenant, request, &fields, start, false)
                .await?
        } else {
            let mut page = self.rest_page(tenant, request, &fields).await?;
            if page.next.is_some() && page.total_size.is_some_and(|t| t > self.bulk.threshold) {
                let last = page.records.last();
                let position = Position {
                    after: last.and_then(|r| r.id().ok()),
                    after_modstamp: last.and_then(SfRecord::modstamp),
                };
                tracing::info!(object = %request.object, total = page.total_size, "reading the rest through Bulk API 2.0");
                page.next = Some(BulkCursor::start(&position));
            }
            page
        };
        let mut all = warnings;
        all.extend(page.warnings.iter().cloned());
        Ok(page.with_warnings(all))
    }

    /// One page of the REST query from where `request` starts.
    pub(crate) async fn rest_page(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
        fields: &[String],
    ) -> Result<Page> {
        let object = &request.object;
        let soql = self.soql(request, fields);
        let name = format!("query {object} ({soql})");
        // queryAll returns the recycle bin's rows too, with IsDeleted.
        let resource = if request.include_deleted {
            "queryAll"
        } else {
            "query"
        };
        let path = format!("{}/{resource}", self.data_path);
        let get = Get {
            query: &[("q", &soql)],
            headers: batch_size(request.page_size),
            ..Get::new(&path, &name)
        };
        self.query(tenant, object, &get).await
    }

    async fn query(&self, tenant: &TenantId, object: &SObject, get: &Get<'_>) -> Result<Page> {
        let answer = match self.api.get::<QueryResult>(tenant, get).await {
            Ok(answer) => answer,
            Err(Error::Api {
                code: ApiErrorCode::InvalidType,
                ..
            }) => {
                return Err(Error::ObjectNotAvailable {
                    object: object.clone(),
                });
            }
            Err(e) => return Err(e),
        };
        let result = answer.body;
        let next = match (result.done, result.next_records_url) {
            (true, _) => None,
            (false, Some(url)) => Some(Cursor::new(checked_next_url(get.name, &url)?)),
            (false, None) => {
                return Err(Error::BadResponse {
                    request: get.name.to_owned(),
                    problem: "done is false but there is no nextRecordsUrl".into(),
                    source: None,
                });
            }
        };
        Ok(Page::new(result.records.0, next, Some(result.total_size)).with_api_usage(answer.usage))
    }
}

/// A SOQL datetime literal, to the second (Salesforce keeps datetimes to
/// the second): `2026-01-31T17:03:00Z`.
fn soql_datetime(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `Sforce-Query-Options: batchSize=N`, capped at Salesforce's 2,000.
fn batch_size(page_size: usize) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = format!("batchSize={}", page_size.clamp(1, 2_000));
    headers.insert(
        "sforce-query-options",
        HeaderValue::try_from(value).expect("digits make a valid header value"),
    );
    headers
}

/// A `nextRecordsUrl` must be a path of the data API on the same host:
/// the token is never sent anywhere else.
fn checked_next_url<'a>(request: &str, url: &'a str) -> Result<&'a str> {
    let ok = url.starts_with("/services/data/")
        && !url.contains("..")
        && url
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
    if ok {
        Ok(url)
    } else {
        Err(Error::BadResponse {
            request: request.to_owned(),
            problem: Cow::Owned(format!(
                "nextRecordsUrl is not a query path of this instance: {:?}",
                url.chars().take(120).collect::<String>()
            )),
            source: None,
        })
    }
}

#[async_trait]
impl SalesforceSource for RestSource {
    async fn count_records(&self, tenant: &TenantId, object: &SObject) -> Result<Option<u64>> {
        if !is_identifier(object.as_str(), false) {
            return Err(Error::config(format!(
                "not a Salesforce object name: {object:?}"
            )));
        }
        self.count(tenant, object).await.map(Some)
    }

    async fn fetch_page(&self, tenant: &TenantId, request: &PageRequest) -> Result<Page> {
        let object = &request.object;
        if !is_identifier(object.as_str(), false) {
            return Err(Error::config(format!(
                "not a Salesforce object name: {object:?}"
            )));
        }
        if let Some(bad) = request.fields.iter().find(|f| !is_identifier(f, true)) {
            return Err(Error::config(format!("not a field of {object}: {bad:?}")));
        }
        let page = match &request.cursor {
            None => self.first_page(tenant, request).await,
            Some(cursor) if cursor.as_str().starts_with("bulk") => {
                match BulkCursor::parse(cursor) {
                    Some(BulkCursor::Start(position)) => {
                        let (fields, _) = self.available_fields(tenant, request).await?;
                        self.bulk_read(tenant, request, &fields, position, false)
                            .await
                    }
                    Some(BulkCursor::Done { job }) => Ok(self.bulk_done(tenant, &job).await),
                    Some(BulkCursor::Results {
                        job,
                        locator,
                        position,
                    }) => {
                        self.bulk_next(tenant, request, &job, &locator, position)
                            .await
                    }
                    None => Err(Error::config(format!(
                        "not a cursor of this source: {cursor:?}"
                    ))),
                }
            }
            Some(cursor) => {
                let name = format!("query {object} (next page)");
                let get = Get {
                    headers: batch_size(request.page_size),
                    ..Get::new(cursor.as_str(), &name)
                };
                self.query(tenant, object, &get).await
            }
        }?;
        self.fill_is_standard(tenant, request, page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["Account", "Invoice__c", "Pricebook2.IsStandard", "Id"] {
            assert!(is_identifier(ok, true), "{ok}");
        }
        for bad in [
            "",
            "Id, Name",
            "Name FROM User --",
            "1x",
            "A.B.C.D.E.F",
            "a'b",
        ] {
            assert!(!is_identifier(bad, true), "{bad}");
        }
        assert!(!is_identifier("Pricebook2.IsStandard", false));
    }

    #[test]
    fn next_urls_stay_on_the_instance() {
        assert!(
            checked_next_url("q", "/services/data/v62.0/query/01gD0000002HU6KIAW-2000").is_ok()
        );
        for bad in [
            "https://evil.example/services/data/v62.0/query/x",
            "//evil.example/services/data/",
            "/services/data/../../oauth2/token",
            "/services/oauth2/token",
            "/services/data/v62.0/query/x?y=z",
        ] {
            assert!(checked_next_url("q", bad).is_err(), "{bad}");
        }
    }
}
