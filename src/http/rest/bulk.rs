//! Bulk API 2.0 query jobs for [`RestSource`](super::RestSource): create,
//! poll with backoff, read the CSV result sets by locator, delete.
//!
//! # How a read goes
//!
//! The first page of an object comes through the REST query, whose
//! `totalSize` says how many records match: above the threshold, the rest
//! is read by a Bulk job (`WHERE` after the last record of that page); with
//! a threshold of 0, the object is read by Bulk from the start. The job's
//! query is the REST one (`ORDER BY Id`, or `ORDER BY SystemModstamp, Id` in
//! a sync), so pages still come in keyset order and a job's checkpoints mean
//! what they mean for REST. Salesforce does not chunk an ordered query: on
//! an object too large for one unchunked query, the job fails or times out
//! and the object falls back to REST.
//!
//! Each page is one result set (`maxRecords`, default 50,000): only it is
//! in memory, parsed by a real CSV reader. The cursor between pages names
//! the job, the locator, and the last record served; when a result set
//! cannot be read (the job expired, `412`), a new job continues after that
//! record. A job that fails, is aborted or is still running at the timeout
//! is tried once more, then the object is read through REST from where it
//! stands, with the reason as a warning of the object in the job log. An
//! object Bulk API refuses falls back at once. Every job is deleted once
//! read (or given up): after its last result set, the source answers one
//! more, empty page whose fetch deletes it, so that a job stopped before it
//! wrote the last set still finds the job. The cursors are
//! [durable](crate::source::Cursor::durable): the engine keeps them with
//! each checkpoint, and a resumed job continues from the job's locator
//! while the job exists (a new job after the position otherwise).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::RestSource;
use crate::error::{Error, ErrorKind, FieldError, Problem, Result};
use crate::http::client::Get;
use crate::id::{SfId, TenantId};
use crate::record::SfRecord;
use crate::source::{Cursor, Page, PageRequest};

mod results;
use results::csv_records;

/// How the Bulk API is used: see [`RestSourceBuilder`](super::RestSourceBuilder).
#[derive(Debug, Clone)]
pub(crate) struct BulkSettings {
    /// Above this many matching records, read by Bulk (0: always;
    /// `u64::MAX`: never).
    pub(crate) threshold: u64,
    /// Records per result set.
    pub(crate) max_records: u64,
    /// The first wait between polls, growing by half up to `poll_max`.
    pub(crate) poll_first: Duration,
    pub(crate) poll_max: Duration,
    /// How long a job may take to complete.
    pub(crate) timeout: Duration,
}

impl Default for BulkSettings {
    fn default() -> Self {
        BulkSettings {
            threshold: 50_000,
            max_records: 50_000,
            poll_first: Duration::from_millis(500),
            poll_max: Duration::from_secs(10),
            timeout: Duration::from_secs(3 * 3_600),
        }
    }
}

/// Where a read stands: after this record (its `SystemModstamp` too, in a
/// sync read).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Position {
    pub(crate) after: Option<SfId>,
    pub(crate) after_modstamp: Option<DateTime<Utc>>,
}

impl Position {
    /// The last record of `records`, else `start`.
    fn after_page(records: &[SfRecord], start: &Position) -> Position {
        match records.last().and_then(|r| r.id().ok()) {
            Some(id) => Position {
                after: Some(id),
                after_modstamp: records.last().and_then(SfRecord::modstamp),
            },
            None => start.clone(),
        }
    }

    /// `request`, continuing from here.
    pub(crate) fn apply(&self, request: &PageRequest) -> PageRequest {
        request
            .clone()
            .cursor(None)
            .after(self.after.clone().or(request.after.clone()))
            .after_modstamp(if self.after.is_some() {
                self.after_modstamp
            } else {
                request.after_modstamp
            })
    }

    fn encode(&self) -> String {
        format!(
            "{}:{}",
            self.after.as_ref().map_or("", SfId::as_str),
            self.after_modstamp
                .map_or(String::new(), |t| t.timestamp_millis().to_string())
        )
    }

    fn decode(id: &str, stamp: &str) -> Option<Position> {
        Some(Position {
            after: if id.is_empty() {
                None
            } else {
                Some(SfId::parse(id).ok()?)
            },
            after_modstamp: if stamp.is_empty() {
                None
            } else {
                Some(DateTime::from_timestamp_millis(stamp.parse().ok()?)?)
            },
        })
    }
}

/// What a cursor of this module says.
#[derive(Debug, PartialEq)]
pub(crate) enum BulkCursor {
    /// Start a job after this position (the REST first page was large).
    Start(Position),
    /// Every result set of `job` was served: delete it. (Not at once: a
    /// job stopped before it wrote the last set resumes from the locator.)
    Done { job: String },
    /// Read the next result set of `job` at `locator`.
    Results {
        job: String,
        locator: String,
        position: Position,
    },
}

impl BulkCursor {
    pub(crate) fn parse(cursor: &Cursor) -> Option<BulkCursor> {
        let text = cursor.as_str();
        if let Some(rest) = text.strip_prefix("bulk-start:") {
            let (id, stamp) = rest.split_once(':')?;
            return Some(BulkCursor::Start(Position::decode(id, stamp)?));
        }
        if let Some(job) = text.strip_prefix("bulk-done:") {
            let ok = !job.is_empty() && job.chars().all(|c| c.is_ascii_alphanumeric());
            return ok.then(|| BulkCursor::Done {
                job: job.to_owned(),
            });
        }
        let rest = text.strip_prefix("bulk:")?;
        let mut parts = rest.splitn(4, ':');
        let (job, locator, id, stamp) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        // A locator goes in the query string only (encoded): any visible
        // ASCII will do. A job id goes in the path: letters and digits.
        let locator_ok = locator.chars().all(|c| c.is_ascii_graphic());
        if job.is_empty() || !job.chars().all(|c| c.is_ascii_alphanumeric()) || !locator_ok {
            return None;
        }
        Some(BulkCursor::Results {
            job: job.to_owned(),
            locator: locator.to_owned(),
            position: Position::decode(id, stamp)?,
        })
    }

    pub(crate) fn start(position: &Position) -> Cursor {
        Cursor::durable(format!("bulk-start:{}", position.encode()))
    }

    fn done(job: &str) -> Cursor {
        Cursor::durable(format!("bulk-done:{job}"))
    }

    fn results(job: &str, locator: &str, position: &Position) -> Cursor {
        Cursor::durable(format!("bulk:{job}:{locator}:{}", position.encode()))
    }
}

#[derive(Debug, Deserialize)]
struct JobInfo {
    id: String,
    state: String,
    #[serde(rename = "errorMessage", default)]
    error_message: Option<String>,
}

/// Why a job gave no results.
enum JobEnd {
    /// Bulk API will not read this object (or query): REST at once.
    Refused(String),
    /// It failed, was aborted, ran past the timeout, or its results could
    /// not be read: try once more.
    Failed(String),
    /// Neither another job nor REST would do better (the API allowance is
    /// spent, the connection is gone): the read stops with this error.
    Stop(Error),
}

impl JobEnd {
    /// A failure of a call about a job: `Stop` for what no other job
    /// would get past, else `Failed` with `context`.
    fn of(e: Error, context: impl FnOnce(&Error) -> String) -> JobEnd {
        let stops = e.kind() == ErrorKind::RateLimited
            || matches!(
                e,
                Error::NotConnected { .. }
                    | Error::SessionExpired
                    | Error::TokenDecryption
                    | Error::HostNotAllowed { .. }
                    | Error::OAuth { .. }
            );
        if stops {
            JobEnd::Stop(e)
        } else {
            JobEnd::Failed(context(&e))
        }
    }
}

impl RestSource {
    fn jobs_path(&self) -> String {
        format!("{}/jobs/query", self.data_path())
    }

    /// Reads `request` from `position` by a new Bulk job: its first result
    /// set. `retried`: this is the second job for the read.
    pub(crate) async fn bulk_read(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
        fields: &[String],
        position: Position,
        retried: bool,
    ) -> Result<Page> {
        let object = &request.object;
        let soql = self.soql(&position.apply(request), fields);
        let job = match self.bulk_job(tenant, request, &soql).await {
            Ok(job) => job,
            Err(JobEnd::Stop(e)) => return Err(e),
            Err(JobEnd::Failed(reason)) if !retried => {
                tracing::warn!(object = %object, %reason, "Bulk API job failed; trying once more");
                return Box::pin(self.bulk_read(tenant, request, fields, position, true)).await;
            }
            Err(JobEnd::Failed(reason) | JobEnd::Refused(reason)) => {
                return self
                    .fall_back(tenant, request, fields, &position, reason)
                    .await;
            }
        };
        match self
            .bulk_results(tenant, request, &job, "", &position)
            .await
        {
            Ok(page) => Ok(page),
            Err(JobEnd::Stop(e)) => Err(e),
            Err(JobEnd::Failed(reason) | JobEnd::Refused(reason)) if !retried => {
                tracing::warn!(object = %object, %reason, "Bulk API results unreadable; a new job");
                Box::pin(self.bulk_read(tenant, request, fields, position, true)).await
            }
            Err(JobEnd::Failed(reason) | JobEnd::Refused(reason)) => {
                self.fall_back(tenant, request, fields, &position, reason)
                    .await
            }
        }
    }

    /// The next result set of a job; a new job from `position` when the
    /// job cannot be read any more.
    pub(crate) async fn bulk_next(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
        job: &str,
        locator: &str,
        position: Position,
    ) -> Result<Page> {
        match self
            .bulk_results(tenant, request, job, locator, &position)
            .await
        {
            Ok(page) => Ok(page),
            Err(JobEnd::Stop(e)) => Err(e),
            Err(JobEnd::Failed(reason) | JobEnd::Refused(reason)) => {
                tracing::warn!(object = %request.object, %reason, "Bulk API results unreadable; a new job");
                let (fields, _) = self.available_fields(tenant, request).await?;
                self.bulk_read(tenant, request, &fields, position, false)
                    .await
            }
        }
    }

    /// The rest of the read through REST, saying why.
    async fn fall_back(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
        fields: &[String],
        position: &Position,
        reason: String,
    ) -> Result<Page> {
        tracing::warn!(object = %request.object, %reason, "reading through the REST API instead of Bulk API 2.0");
        let page = self
            .rest_page(tenant, &position.apply(request), fields)
            .await?;
        let mut warnings = page.warnings.clone();
        warnings.push(FieldError::new(
            "(Bulk API)",
            Problem::BulkFallback {
                reason: reason.into(),
            },
        ));
        Ok(page.with_warnings(warnings))
    }

    /// Creates a job and waits until it completes; its id.
    async fn bulk_job(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
        soql: &str,
    ) -> std::result::Result<String, JobEnd> {
        let object = &request.object;
        let path = self.jobs_path();
        let name = format!("create Bulk API query job for {object}");
        let create = Get {
            method: Method::POST,
            body: Some(json!({
                "operation": if request.include_deleted { "queryAll" } else { "query" },
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            })),
            ..Get::new(&path, &name)
        };
        let job = match self.api().get::<JobInfo>(tenant, &create).await {
            Ok(answer) => answer.body,
            Err(Error::Api {
                status, message, ..
            }) if (400..500).contains(&status) => {
                return Err(JobEnd::Refused(format!("job refused: {message}")));
            }
            Err(e) => return Err(JobEnd::of(e, |e| format!("could not create a job: {e}"))),
        };
        if !job.id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(JobEnd::Failed(format!("an unusable job id {:?}", job.id)));
        }
        let info_path = format!("{path}/{}", job.id);
        let name = format!("Bulk API query job {} for {object}", job.id);
        let started = tokio::time::Instant::now();
        let mut wait = self.bulk().poll_first;
        loop {
            let info = match self
                .api()
                .get::<JobInfo>(tenant, &Get::new(&info_path, &name))
                .await
            {
                Ok(answer) => answer.body,
                Err(e) => {
                    let end = JobEnd::of(e, |e| format!("job {} unreadable: {e}", job.id));
                    if matches!(end, JobEnd::Failed(_)) {
                        self.bulk_abort(tenant, &job.id).await;
                    }
                    return Err(end);
                }
            };
            match info.state.as_str() {
                "JobComplete" => return Ok(job.id),
                "Failed" | "Aborted" => {
                    self.bulk_delete(tenant, &job.id).await;
                    return Err(JobEnd::Failed(format!(
                        "job {} {}: {}",
                        job.id,
                        info.state.to_ascii_lowercase(),
                        info.error_message.unwrap_or_default()
                    )));
                }
                _ => {}
            }
            if started.elapsed() + wait > self.bulk().timeout {
                self.bulk_abort(tenant, &job.id).await;
                return Err(JobEnd::Failed(format!(
                    "job {} still {} after {:?}",
                    job.id,
                    info.state,
                    self.bulk().timeout
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 3 / 2).min(self.bulk().poll_max);
        }
    }

    /// One result set, as a page; `Err` with the reason when the job's
    /// results cannot be read (gone, expired, `412`, unreadable CSV).
    async fn bulk_results(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
        job: &str,
        locator: &str,
        position: &Position,
    ) -> std::result::Result<Page, JobEnd> {
        let path = format!("{}/{job}/results", self.jobs_path());
        let name = format!("results of Bulk API query job {job} for {}", request.object);
        let max = self.bulk().max_records.to_string();
        let mut query: Vec<(&str, &str)> = vec![("maxRecords", &max)];
        if !locator.is_empty() {
            query.push(("locator", locator));
        }
        let get = Get {
            query: &query,
            ..Get::new(&path, &name)
        };
        let raw = match self.api().raw(tenant, &get).await {
            Ok(raw) => raw,
            Err(e) => {
                let end = JobEnd::of(e, |e| format!("job {job}: {e}"));
                if matches!(end, JobEnd::Failed(_)) {
                    self.bulk_delete(tenant, job).await;
                }
                return Err(end);
            }
        };
        let records = match csv_records(&request.object, &raw.body) {
            Ok(records) => records,
            Err(e) => {
                self.bulk_delete(tenant, job).await;
                return Err(JobEnd::Failed(format!("job {job}: {e}")));
            }
        };
        let next_locator = raw
            .headers
            .get("sforce-locator")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "null");
        let position = Position::after_page(&records, position);
        let next = match next_locator {
            Some(l) => BulkCursor::results(job, l, &position),
            None => BulkCursor::done(job),
        };
        let next = Some(next);
        Ok(Page::new(records, next, None).with_api_usage(raw.usage))
    }

    /// The end of a job's read: deletes the job, and answers the last
    /// (empty) page.
    pub(crate) async fn bulk_done(&self, tenant: &TenantId, job: &str) -> Page {
        self.bulk_delete(tenant, job).await;
        Page::new(Vec::new(), None, None)
    }

    /// Deletes a job; a failure is logged, not returned (the job expires
    /// on its own after a week).
    async fn bulk_delete(&self, tenant: &TenantId, job: &str) {
        let path = format!("{}/{job}", self.jobs_path());
        let name = format!("delete Bulk API query job {job}");
        let delete = Get {
            method: Method::DELETE,
            ..Get::new(&path, &name)
        };
        if let Err(e) = self.api().raw(tenant, &delete).await {
            tracing::warn!(job, error = %e, "could not delete a Bulk API query job");
        }
    }

    /// Aborts a job that ran too long, then deletes it.
    async fn bulk_abort(&self, tenant: &TenantId, job: &str) {
        let path = format!("{}/{job}", self.jobs_path());
        let name = format!("abort Bulk API query job {job}");
        let abort = Get {
            method: Method::PATCH,
            body: Some(json!({"state": "Aborted"})),
            ..Get::new(&path, &name)
        };
        if let Err(e) = self.api().raw(tenant, &abort).await {
            tracing::warn!(job, error = %e, "could not abort a Bulk API query job");
        }
        self.bulk_delete(tenant, job).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let p = Position {
            after: Some(SfId::parse("001000000000001AAA").unwrap()),
            after_modstamp: DateTime::from_timestamp_millis(1_780_000_000_000),
        };
        assert_eq!(
            BulkCursor::parse(&BulkCursor::start(&p)),
            Some(BulkCursor::Start(p.clone()))
        );
        assert_eq!(
            BulkCursor::parse(&BulkCursor::results("750x", "MTAwMDA", &p)),
            Some(BulkCursor::Results {
                job: "750x".into(),
                locator: "MTAwMDA".into(),
                position: p
            })
        );
        assert_eq!(
            BulkCursor::parse(&BulkCursor::results("750x", "", &Position::default())),
            Some(BulkCursor::Results {
                job: "750x".into(),
                locator: String::new(),
                position: Position::default()
            })
        );
        assert_eq!(
            BulkCursor::parse(&BulkCursor::done("750x")),
            Some(BulkCursor::Done { job: "750x".into() })
        );
        for junk in [
            "bulk-done:",
            "bulk-done:75/0",
            "bulk:",
            "bulk:../x:l::",
            "bulk:75/0x:ab::",
            "bulk:750x:a b::",
            "bulk-start:nope:",
            "/services/data/v62.0/query/01g-2000",
        ] {
            assert_eq!(BulkCursor::parse(&Cursor::new(junk)), None, "{junk}");
        }
    }
}
