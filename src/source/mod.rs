//! [`SalesforceSource`]: where records come from, one page at a time.
//!
//! Implementations: [`FileSource`] (sObject Tree JSON and REST query-result
//! JSON files, and the bundled [sample org](FileSource::sample_org)); the
//! REST API over HTTP, `RestSource` (feature `http`).
//!
//! # Implementing a source
//!
//! ```
//! use async_trait::async_trait;
//! use salesforce_import::source::{Page, PageRequest, SalesforceSource};
//! use salesforce_import::{Result, SfRecord, SObject, TenantId};
//!
//! /// A source that serves one page of in-memory accounts.
//! #[derive(Debug)]
//! struct Fixed(Vec<SfRecord>);
//!
//! #[async_trait]
//! impl SalesforceSource for Fixed {
//!     async fn fetch_page(&self, _tenant: &TenantId, req: &PageRequest) -> Result<Page> {
//!         if req.object != SObject::ACCOUNT {
//!             return Ok(Page::last(vec![]));
//!         }
//!         // Records must come in Id order, after `req.after` when it is set.
//!         let mut rows: Vec<SfRecord> = self.0.iter()
//!             .filter(|r| req.after.as_ref().is_none_or(|after| r.id().is_ok_and(|id| &id > after)))
//!             .cloned()
//!             .collect();
//!         rows.sort_by_key(|r| r.id().ok());
//!         Ok(Page::last(rows))
//!     }
//! }
//! ```

use std::fmt;

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use crate::error::{FieldError, Result};
use crate::id::{SfId, TenantId};
use crate::object::SObject;
use crate::record::SfRecord;

#[cfg(feature = "export")]
mod export;
mod file;
mod limit;
mod sample;
#[cfg(feature = "export")]
pub use export::ExportSource;
pub use file::FileSource;
pub use limit::{PerOrgLimit, SALESFORCE_CONCURRENT_REQUESTS};

/// An opaque position inside a query, returned by one page and handed back
/// to fetch the next (a REST `nextRecordsUrl`, an offset into a file).
///
/// A [durable](Cursor::durable) cursor stays valid in another process and
/// names the record it continues after itself (a Bulk API job's locator
/// with the last record served): the engine keeps it with the page's
/// checkpoint, and a resumed job continues from it instead of starting the
/// query again.
#[derive(Clone, PartialEq, Eq)]
pub struct Cursor {
    text: String,
    durable: bool,
}

impl Cursor {
    /// Wraps a source's own cursor text, valid in this process only.
    pub fn new(cursor: impl Into<String>) -> Cursor {
        Cursor {
            text: cursor.into(),
            durable: false,
        }
    }

    /// A cursor that a resumed job, in any process, may hand back: the
    /// source answers it with the records after the one it names, or, if
    /// what it points at is gone, reads again from that record.
    ///
    /// ```
    /// use salesforce_import::source::Cursor;
    /// assert!(Cursor::durable("bulk:750x:MTAw:001000000000001AAA:").is_durable());
    /// assert!(!Cursor::new("/services/data/v62.0/query/01g-2000").is_durable());
    /// ```
    pub fn durable(cursor: impl Into<String>) -> Cursor {
        Cursor {
            text: cursor.into(),
            durable: true,
        }
    }

    /// Whether a resumed job may use it.
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// The cursor text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({})", self.text)
    }
}

/// What the engine asks a source for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageRequest {
    /// The object.
    pub object: SObject,
    /// The fields to select (`Id` first), from the object's mapper.
    pub fields: Vec<String>,
    /// Only records whose Id sorts after this one (resume from a
    /// checkpoint); with [`changed_since`](PageRequest::changed_since), after
    /// `(after_modstamp, after)`.
    pub after: Option<SfId>,
    /// A sync read: only records whose `SystemModstamp` is at or after
    /// this instant, in `(SystemModstamp, Id)` order instead of `Id` order.
    pub changed_since: Option<DateTime<Utc>>,
    /// With `changed_since` and `after`: the `SystemModstamp` of the record
    /// `after` names; the read continues after that `(SystemModstamp, Id)`.
    pub after_modstamp: Option<DateTime<Utc>>,
    /// Deleted records too (REST's `queryAll`), with `IsDeleted` true.
    pub include_deleted: bool,
    /// The next page of a query already started; `None` starts the query.
    pub cursor: Option<Cursor>,
    /// The largest number of records wanted in one page.
    pub page_size: usize,
}

impl PageRequest {
    /// The first page of `object`.
    pub fn new(object: SObject, fields: Vec<String>, page_size: usize) -> PageRequest {
        PageRequest {
            object,
            fields,
            after: None,
            changed_since: None,
            after_modstamp: None,
            include_deleted: false,
            cursor: None,
            page_size,
        }
    }

    /// Reads only records changed at or after `since`, in
    /// `(SystemModstamp, Id)` order, deleted ones included: what a sync asks.
    pub fn changed_since(mut self, since: Option<DateTime<Utc>>) -> PageRequest {
        self.changed_since = since;
        self.include_deleted = since.is_some();
        self
    }

    /// In a sync read, continues after `(modstamp, after)`.
    pub fn after_modstamp(mut self, modstamp: Option<DateTime<Utc>>) -> PageRequest {
        self.after_modstamp = modstamp;
        self
    }

    /// Whether the position `(modstamp, id)` comes after this request's
    /// start: what a source filters with. In a sync read, records without a
    /// stamp sort first.
    ///
    /// ```
    /// use salesforce_import::source::PageRequest;
    /// use salesforce_import::{SObject, SfId};
    /// let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    /// let id = |s: &str| SfId::parse(s).unwrap();
    /// let r = PageRequest::new(SObject::ACCOUNT, vec!["Id".into()], 10)
    ///     .changed_since(Some(t("2026-01-01T00:00:00Z")))
    ///     .after(Some(id("001000000000005AAA")))
    ///     .after_modstamp(Some(t("2026-01-02T00:00:00Z")));
    /// assert!(!r.wants(Some(t("2025-12-31T23:59:59Z")), &id("001000000000009AAA")));
    /// assert!(!r.wants(Some(t("2026-01-02T00:00:00Z")), &id("001000000000005AAA")));
    /// assert!(r.wants(Some(t("2026-01-02T00:00:00Z")), &id("001000000000006AAA")));
    /// assert!(r.wants(Some(t("2026-01-03T00:00:00Z")), &id("001000000000001AAA")));
    /// ```
    pub fn wants(&self, modstamp: Option<DateTime<Utc>>, id: &SfId) -> bool {
        match self.changed_since {
            None => self.after.as_ref().is_none_or(|after| id > after),
            Some(since) => {
                if modstamp.is_none_or(|m| m < since) {
                    return false;
                }
                match &self.after {
                    None => true,
                    Some(after) => (modstamp, id) > (self.after_modstamp, after),
                }
            }
        }
    }

    /// Starts after this id.
    pub fn after(mut self, after: Option<SfId>) -> PageRequest {
        self.after = after;
        self
    }

    /// Continues from this cursor.
    pub fn cursor(mut self, cursor: Option<Cursor>) -> PageRequest {
        self.cursor = cursor;
        self
    }
}

/// One page of records, in ascending Id order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Page {
    /// The records.
    pub records: Vec<SfRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
    /// How many records the whole query matches, if the source knows
    /// (REST's `totalSize`).
    pub total_size: Option<u64>,
    /// The org's API usage after this page, if the source knows (REST's
    /// `Sforce-Limit-Info` header).
    pub api_usage: Option<ApiUsage>,
    /// Problems with the query rather than with a record, such as a
    /// selected field the org does not have; the engine logs them as
    /// warnings of the object.
    pub warnings: Vec<FieldError>,
}

/// How much of its daily API allowance the org has used, as Salesforce
/// reports it in the `Sforce-Limit-Info: api-usage=used/max` header.
///
/// ```
/// use salesforce_import::source::ApiUsage;
/// let usage = ApiUsage::new(1_500, 15_000);
/// assert_eq!(usage.to_string(), "1500/15000 API requests used (10%)");
/// assert_eq!(usage.remaining(), 13_500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ApiUsage {
    /// Requests made in the last 24 hours.
    pub used: u64,
    /// The org's allowance for 24 hours.
    pub max: u64,
}

impl ApiUsage {
    /// `used` out of `max`.
    pub fn new(used: u64, max: u64) -> ApiUsage {
        ApiUsage { used, max }
    }

    /// Requests left.
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }

    /// The share used, in percent (0 when `max` is 0).
    pub fn percent(&self) -> u64 {
        (self.used * 100).checked_div(self.max).unwrap_or(0)
    }
}

impl fmt::Display for ApiUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} API requests used ({}%)",
            self.used,
            self.max,
            self.percent()
        )
    }
}

impl Page {
    /// A page that is followed by another.
    pub fn new(records: Vec<SfRecord>, next: Option<Cursor>, total_size: Option<u64>) -> Page {
        Page {
            records,
            next,
            total_size,
            api_usage: None,
            warnings: Vec::new(),
        }
    }

    /// The last (or only) page.
    pub fn last(records: Vec<SfRecord>) -> Page {
        let total = records.len() as u64;
        Page {
            records,
            next: None,
            total_size: Some(total),
            api_usage: None,
            warnings: Vec::new(),
        }
    }

    /// With the org's API usage.
    pub fn with_api_usage(mut self, usage: Option<ApiUsage>) -> Page {
        self.api_usage = usage;
        self
    }

    /// With problems of the query (fields left out), logged as warnings.
    pub fn with_warnings(mut self, warnings: Vec<FieldError>) -> Page {
        self.warnings = warnings;
        self
    }
}

/// Where Salesforce records come from.
///
/// Contract:
/// - records of one object come in ascending `Id` order, so that a job can
///   resume after the last Id it stored (query locators expire, keyset
///   resume does not);
/// - with `after` set, only records whose Id sorts after it;
/// - with [`changed_since`](PageRequest::changed_since) set, only records
///   whose `SystemModstamp` is at or after it, in `(SystemModstamp, Id)`
///   order, after `(after_modstamp, after)` when set
///   ([`PageRequest::wants`] says which), each with its `SystemModstamp`;
/// - with `include_deleted`, records in the recycle bin too, with
///   `IsDeleted` true; without it, none of them;
/// - a page holds at most `page_size` records; only the page in hand is in
///   memory;
/// - an object the org does not have is [`Error::ObjectNotAvailable`](crate::Error::ObjectNotAvailable).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SalesforceSource: fmt::Debug + Send + Sync + 'static {
    /// Fetches one page.
    async fn fetch_page(&self, tenant: &TenantId, request: &PageRequest) -> Result<Page>;

    /// How many live records of `object` the org holds, when the source can
    /// tell cheaply (`SELECT COUNT()` for the REST API, the loaded records
    /// for files); `None` when it cannot. Shown beside each object before an
    /// import starts; never used to decide what to import.
    ///
    /// The default answers `None`.
    async fn count_records(&self, tenant: &TenantId, object: &SObject) -> Result<Option<u64>> {
        let _ = (tenant, object);
        Ok(None)
    }
}
