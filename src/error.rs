//! The crate's error type, and the per-record errors and warnings that are
//! data rather than failures.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::id::{JobId, SfId, TenantId};
use crate::object::SObject;

/// A boxed error from a backend, kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop an operation of this crate.
///
/// A bad record is not an `Error`: it is a [`RecordError`] logged against
/// the job while the import goes on. An `Error` is what stops a job, or what
/// a port reports when it cannot do its work at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration given to a builder or a call is not usable.
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong.
        message: Cow<'static, str>,
    },

    /// The tenant already has an import pending or in progress
    /// (one running import per tenant).
    #[error("an import is already running for tenant {tenant} (job {job})")]
    ImportAlreadyRunning {
        /// The tenant.
        tenant: TenantId,
        /// The job that is running.
        job: JobId,
    },

    /// The tenant's running import was interrupted (its process died; the
    /// lease lapsed) and the importer was told to report it rather than
    /// take it over ([`Stranded::Report`](crate::engine::Stranded::Report)):
    /// resume it, or cancel it.
    #[error("the import of tenant {tenant} (job {job}) was interrupted and can be resumed")]
    ImportStranded {
        /// The tenant.
        tenant: TenantId,
        /// The stranded job.
        job: JobId,
    },

    /// No job with this id exists for this tenant.
    #[error("no import job {job} for tenant {tenant}")]
    JobNotFound {
        /// The tenant asked for.
        tenant: TenantId,
        /// The job id asked for.
        job: JobId,
    },

    /// The job cannot be resumed or changed in its current state.
    #[error("job {job} is {status} and cannot be {action}")]
    JobNotResumable {
        /// The job.
        job: JobId,
        /// Its status.
        status: crate::status::JobStatus,
        /// What was attempted.
        action: &'static str,
    },

    /// The job's lease is no longer this process's: it expired and another
    /// process took the job over (or the job ended). Nothing was changed;
    /// the new owner goes on with the job.
    #[error("job {job} was taken over by another worker (its lease lapsed)")]
    LeaseLost {
        /// The job.
        job: JobId,
    },

    /// The tenant has no active Salesforce connection.
    #[error("tenant {tenant} is not connected to Salesforce")]
    NotConnected {
        /// The tenant.
        tenant: TenantId,
    },

    /// The org does not have this object (Orders or Quotes not enabled, or
    /// the user cannot see it). The engine ends that object as
    /// unavailable and goes on with the others.
    #[error("{object} is not available in this Salesforce org")]
    ObjectNotAvailable {
        /// The object.
        object: SObject,
    },

    /// Salesforce refused the call because the org's API allowance is used
    /// up (`REQUEST_LIMIT_EXCEEDED`). The job stops and keeps its
    /// checkpoints, so it can be resumed later.
    #[error("Salesforce API request limit reached: {message}")]
    RateLimited {
        /// Salesforce's message.
        message: String,
        /// When to try again, if Salesforce said.
        retry_after: Option<Duration>,
    },

    /// The Salesforce session expired and could not be refreshed.
    #[error("Salesforce session expired or was revoked")]
    SessionExpired,

    /// The Salesforce source failed (bad response, unreadable file).
    /// Temporary or not as the source said ([`Error::source`] is
    /// temporary; [`Error::permanent`] makes it permanent).
    #[error("Salesforce source failed: {message}")]
    Source {
        /// What was being done.
        message: Cow<'static, str>,
        /// Whether trying again later may succeed.
        temporary: bool,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },

    /// A store (sink, job store, vault) could not do its work. Temporary
    /// (a lost connection, a timeout, a serialization failure) or permanent
    /// (a constraint, a permission, a value that cannot be decoded), as the
    /// store classified it.
    #[error("{store} failed: {message}")]
    Store {
        /// Which store (`"crm sink"`, `"job store"`, `"token vault"`).
        store: &'static str,
        /// What was being done.
        message: Cow<'static, str>,
        /// Whether trying again later may succeed.
        temporary: bool,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },

    // --- Salesforce REST API and OAuth (feature `http`) ---
    /// Salesforce could not be reached or failed on its side: connection
    /// refused or reset, timeout, or an HTTP 5xx. Temporary.
    #[error("{request}: Salesforce did not answer: {problem}")]
    Unreachable {
        /// The request, for a person to read (`query Account (SELECT ...)`).
        request: String,
        /// What happened (`HTTP 503`, `connection failed`).
        problem: Cow<'static, str>,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },

    /// Salesforce refused the request with an error of its own
    /// (`MALFORMED_QUERY`, `INVALID_FIELD`, ...). Not temporary.
    #[error("{request}: Salesforce answered HTTP {status} {code}: {message}")]
    Api {
        /// The request, for a person to read (`query Account (SELECT ...)`).
        request: String,
        /// The HTTP status.
        status: u16,
        /// Salesforce's `errorCode`.
        code: ApiErrorCode,
        /// Salesforce's `message`.
        message: String,
    },

    /// Salesforce's answer could not be read: an HTML page where JSON was
    /// expected, or JSON cut short. Not temporary.
    #[error("{request}: unreadable answer from Salesforce: {problem}")]
    BadResponse {
        /// The request, for a person to read (`query Account (SELECT ...)`).
        request: String,
        /// What is wrong with the answer.
        problem: Cow<'static, str>,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },

    /// A Salesforce instance or login URL is not on the allow-list, so no
    /// token or code is sent to it.
    #[error("{url} is not an allowed Salesforce host: {reason}")]
    HostNotAllowed {
        /// The URL refused.
        url: String,
        /// Why.
        reason: &'static str,
    },

    /// An OAuth callback's `state` is unknown, already used, expired, or
    /// was issued to another tenant or user.
    #[error("OAuth state rejected: {reason}")]
    OAuthState {
        /// Why.
        reason: &'static str,
    },

    /// A step of the OAuth flow failed (code exchange, refresh, revoke).
    #[error("Salesforce OAuth {step} failed: {message}")]
    OAuth {
        /// The step that failed.
        step: OAuthStep,
        /// What went wrong; never a token, code or secret.
        message: Cow<'static, str>,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },

    /// A stored token could not be decrypted with any of the configured
    /// keys: the key is wrong (or was rotated out too early), or the stored
    /// value was altered. Never carries the token.
    #[error(
        "a stored Salesforce token could not be decrypted: wrong key, or the stored value was altered"
    )]
    TokenDecryption,

    /// A port does not offer an optional operation (a [`CrmSink`](crate::CrmSink)
    /// without deletions, say). The engine logs it once per object and goes
    /// on.
    #[error("{operation} is not supported by this {port}")]
    Unsupported {
        /// The port: `"crm sink"`, `"source"`.
        port: &'static str,
        /// The operation: `"deleting records"`.
        operation: &'static str,
    },

    /// A temporary failure kept happening until the attempts ran out.
    #[error("gave up after {attempts} attempts")]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// A [`Error::Config`] with this message.
    pub fn config(message: impl Into<Cow<'static, str>>) -> Error {
        Error::Config {
            message: message.into(),
        }
    }

    /// A temporary [`Error::Store`] for a host's own backend: one that may
    /// pass if the call is tried again (a lost connection, a timeout, a
    /// lock). For one that will not (a constraint, a permission, bad data),
    /// add [`permanent`](Error::permanent), and the job stops at once
    /// instead of retrying.
    ///
    /// ```
    /// use salesforce_import::{Error, ErrorKind};
    /// let io = std::io::Error::other("connection reset");
    /// assert_eq!(Error::store("crm sink", "writing a page", io).kind(), ErrorKind::Temporary);
    /// let denied = std::io::Error::other("permission denied for table crm_accounts");
    /// let err = Error::store("crm sink", "writing a page", denied).permanent();
    /// assert_eq!(err.kind(), ErrorKind::Permanent);
    /// ```
    pub fn store(
        store: &'static str,
        message: impl Into<Cow<'static, str>>,
        source: impl Into<BoxError>,
    ) -> Error {
        Error::Store {
            store,
            message: message.into(),
            temporary: true,
            source: Some(source.into()),
        }
    }

    /// A temporary [`Error::Source`] for a host's own source; add
    /// [`permanent`](Error::permanent) for one that will not pass.
    pub fn source(message: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Error {
        Error::Source {
            message: message.into(),
            temporary: true,
            source: Some(source.into()),
        }
    }

    /// The same error, marked as one that trying again will not fix. Only
    /// [`Error::Store`] and [`Error::Source`] carry the mark; every other
    /// variant's kind is fixed, and stays as it is.
    #[must_use]
    pub fn permanent(mut self) -> Error {
        if let Error::Store { temporary, .. } | Error::Source { temporary, .. } = &mut self {
            *temporary = false;
        }
        self
    }

    /// What a caller should do about this error: retry it, wait for the
    /// API allowance, or stop and say why.
    ///
    /// ```
    /// use salesforce_import::{Error, ErrorKind};
    /// let limited = Error::RateLimited { message: "TotalRequests Limit exceeded.".into(), retry_after: None };
    /// assert_eq!(limited.kind(), ErrorKind::RateLimited);
    /// assert_eq!(Error::config("page size 0").kind(), ErrorKind::Permanent);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store { temporary, .. } | Error::Source { temporary, .. } => {
                if *temporary {
                    ErrorKind::Temporary
                } else {
                    ErrorKind::Permanent
                }
            }
            Error::Unreachable { .. } => ErrorKind::Temporary,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            _ => ErrorKind::Permanent,
        }
    }

    /// Whether trying the same call again later may succeed
    /// (`kind() == ErrorKind::Temporary`). The engine retries these with
    /// backoff; everything else stops the job at once.
    pub fn is_temporary(&self) -> bool {
        self.kind() == ErrorKind::Temporary
    }
}

/// What to do about an [`Error`]: the answer of [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Trying the same call again later may succeed: a lost connection, a
    /// timeout, an HTTP 5xx, a serialization failure or deadlock. The
    /// engine retries these with backoff, up to its attempts.
    Temporary,
    /// Salesforce's API allowance is used up (`REQUEST_LIMIT_EXCEEDED`).
    /// Retrying now only spends more of it: the job stops with its
    /// checkpoints, to be resumed once the allowance is back.
    RateLimited,
    /// The call will fail the same way again: a constraint, a permission, a
    /// value that cannot be decoded, a refused request. The job stops at
    /// once, with the cause in the error's `source()` chain.
    Permanent,
}

/// Salesforce's `errorCode` of a refused REST request, read once where the
/// answer arrives so that nothing matches it as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorCode {
    /// `INVALID_SESSION_ID`: the access token expired or was revoked.
    InvalidSessionId,
    /// `REQUEST_LIMIT_EXCEEDED`: the org's API allowance is used up.
    RequestLimitExceeded,
    /// `NOT_FOUND`: no such resource (an object the org does not have).
    NotFound,
    /// `INVALID_TYPE`: no such object, or hidden from the user.
    InvalidType,
    /// `INVALID_FIELD`: no such field, or hidden from the user.
    InvalidField,
    /// `MALFORMED_QUERY`: the SOQL could not be parsed.
    MalformedQuery,
    /// Any other code, as Salesforce wrote it.
    Other(Box<str>),
}

impl ApiErrorCode {
    /// The code for Salesforce's text (`"INVALID_TYPE"`).
    pub fn parse(code: &str) -> ApiErrorCode {
        match code {
            "INVALID_SESSION_ID" => ApiErrorCode::InvalidSessionId,
            "REQUEST_LIMIT_EXCEEDED" => ApiErrorCode::RequestLimitExceeded,
            "NOT_FOUND" => ApiErrorCode::NotFound,
            "INVALID_TYPE" => ApiErrorCode::InvalidType,
            "INVALID_FIELD" => ApiErrorCode::InvalidField,
            "MALFORMED_QUERY" => ApiErrorCode::MalformedQuery,
            other => ApiErrorCode::Other(other.into()),
        }
    }

    /// Salesforce's text for the code.
    pub fn as_str(&self) -> &str {
        match self {
            ApiErrorCode::InvalidSessionId => "INVALID_SESSION_ID",
            ApiErrorCode::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            ApiErrorCode::NotFound => "NOT_FOUND",
            ApiErrorCode::InvalidType => "INVALID_TYPE",
            ApiErrorCode::InvalidField => "INVALID_FIELD",
            ApiErrorCode::MalformedQuery => "MALFORMED_QUERY",
            ApiErrorCode::Other(code) => code,
        }
    }
}

impl fmt::Display for ApiErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The step of the OAuth 2.0 flow an [`Error::OAuth`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthStep {
    /// Trading the callback's authorization code for tokens.
    CodeExchange,
    /// Getting a new access token with the refresh token.
    TokenRefresh,
    /// Revoking the tokens on disconnect.
    Revoke,
    /// Reading the user's identity URL.
    Identity,
}

impl fmt::Display for OAuthStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OAuthStep::CodeExchange => "code exchange",
            OAuthStep::TokenRefresh => "token refresh",
            OAuthStep::Revoke => "revoke",
            OAuthStep::Identity => "identity",
        })
    }
}

/// What is wrong with one field of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A required value is missing or blank.
    Missing,
    /// The value is not of the expected kind.
    Invalid {
        /// What was expected (`"a date"`, `"a number"`).
        expected: Cow<'static, str>,
        /// The value found, cut to 60 characters.
        found: Box<str>,
    },
    /// The number does not fit the CRM's column.
    OutOfRange {
        /// The value found.
        found: Box<str>,
    },
    /// The text is longer than the CRM allows; a warning when cut to fit.
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// A picklist or country value the tables do not know.
    UnknownValue {
        /// The value found.
        found: Box<str>,
        /// What was used instead, if anything.
        used: Option<Box<str>>,
    },
    /// The record refers to a record that was not imported.
    UnresolvedLookup {
        /// The object referred to.
        target: SObject,
        /// The Salesforce id referred to.
        sf_id: SfId,
    },
    /// The field does not exist in this org, or the connected user cannot
    /// see it: it was left out of the query.
    NotInOrg,
    /// The CRM refused the record.
    Rejected {
        /// The CRM's reason.
        reason: Box<str>,
    },
    /// Records changed in Salesforce since they were imported were left as
    /// they were, in [`WriteMode::SkipExisting`](crate::WriteMode::SkipExisting).
    StaleKept {
        /// How many, in one page.
        records: u64,
    },
    /// Records deleted in Salesforce were kept: the CRM sink does not
    /// support deletions (logged once per object).
    DeletionNotSupported,
    /// The text held NUL characters, which no CRM text column holds: they
    /// were removed.
    NulRemoved {
        /// How many.
        count: usize,
    },
    /// Text held an unpaired UTF-16 surrogate: replaced by U+FFFD.
    LoneSurrogate,
    /// The CRM stored the value under another one (an account name taken
    /// by another record gets its Salesforce id appended).
    Renamed {
        /// The value given, cut to 60 characters.
        given: Box<str>,
        /// What was stored instead.
        stored: Box<str>,
    },
    /// A date field held a date and time: the time (and offset) was
    /// dropped and only the date kept.
    TimeDropped {
        /// The value found.
        found: Box<str>,
        /// The date used.
        used: Box<str>,
    },
    /// The object was read through the REST API instead of Bulk API 2.0.
    BulkFallback {
        /// Why: the job failed, timed out, or Bulk API refused the object.
        reason: Box<str>,
    },
    /// The field is not in the record (not in this org, or not in the
    /// file): its documented alternative gave the value (`GrandTotal` from
    /// `TotalPrice`, `Pricebook2.IsStandard` from the standard price
    /// book's id).
    Fallback {
        /// What was used instead.
        used: Box<str>,
    },
}

fn cut(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

impl Problem {
    /// A [`Problem::Renamed`], cutting the value given to 60 characters.
    pub fn renamed(given: &str, stored: &str) -> Problem {
        Problem::Renamed {
            given: cut(given, 60).into(),
            stored: stored.into(),
        }
    }

    /// An [`Problem::Invalid`], cutting the value found to 60 characters.
    pub fn invalid(expected: impl Into<Cow<'static, str>>, found: &str) -> Problem {
        Problem::Invalid {
            expected: expected.into(),
            found: cut(found, 60).into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("required value is missing"),
            Problem::Invalid { expected, found } => {
                write!(f, "expected {expected}, found {found:?}")
            }
            Problem::OutOfRange { found } => write!(f, "number {found} is out of range"),
            Problem::TooLong { max } => write!(f, "longer than {max} characters, cut to fit"),
            Problem::UnknownValue {
                found,
                used: Some(used),
            } => {
                write!(f, "unknown value {found:?}, used {used:?}")
            }
            Problem::UnknownValue { found, used: None } => {
                write!(f, "unknown value {found:?}, left empty")
            }
            Problem::UnresolvedLookup { target, sf_id } => {
                write!(f, "refers to {target} {sf_id}, which was not imported")
            }
            Problem::StaleKept { records } => write!(
                f,
                "{records} records changed in Salesforce since they were imported were left as they were (write mode skip_existing)"
            ),
            Problem::DeletionNotSupported => f.write_str(
                "records deleted in Salesforce are kept in the CRM: its sink does not support deletions",
            ),
            Problem::NulRemoved { count } => {
                write!(f, "held {count} NUL character(s), which the CRM cannot store: removed")
            }
            Problem::LoneSurrogate => {
                f.write_str("held an unpaired UTF-16 surrogate: replaced by U+FFFD")
            }
            Problem::Renamed { given, stored } => write!(
                f,
                "the value {given:?} was taken by another record: stored as {stored:?}"
            ),
            Problem::TimeDropped { found, used } => write!(
                f,
                "held a date and time {found:?}: the time and offset were dropped, used the date {used}"
            ),
            Problem::BulkFallback { reason } => {
                write!(f, "read through the REST API instead of Bulk API 2.0: {reason}")
            }
            Problem::Fallback { used } => write!(f, "not available: {used} used instead"),
            Problem::NotInOrg => f.write_str(
                "not in this Salesforce org (or hidden from the connected user): not imported",
            ),
            Problem::Rejected { reason } => write!(f, "rejected by the CRM: {reason}"),
        }
    }
}

/// A problem with one field, before it is tied to a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {problem}")]
pub struct FieldError {
    /// The Salesforce field (`CloseDate`, `Account.Name`).
    pub field: Cow<'static, str>,
    /// What is wrong.
    pub problem: Problem,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<Cow<'static, str>>, problem: Problem) -> FieldError {
        FieldError {
            field: field.into(),
            problem,
        }
    }
}

/// The name of a Salesforce field in a [`RecordError`]: text that compares
/// with `&str` (`err.field == "CloseDate"`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldName(Box<str>);

impl FieldName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for FieldName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for FieldName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Cow<'static, str>> for FieldName {
    fn from(c: Cow<'static, str>) -> Self {
        FieldName(c.into_owned().into_boxed_str())
    }
}

impl From<&str> for FieldName {
    fn from(s: &str) -> Self {
        FieldName(s.into())
    }
}

impl From<String> for FieldName {
    fn from(s: String) -> Self {
        FieldName(s.into_boxed_str())
    }
}

impl PartialEq<str> for FieldName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for FieldName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<FieldName> for &str {
    fn eq(&self, other: &FieldName) -> bool {
        *self == &*other.0
    }
}

/// One record that could not be imported, naming the object, the
/// Salesforce id and the field. The job logs it and goes on.
///
/// ```
/// use salesforce_import::{Problem, RecordError, SObject, SfId};
/// let err = RecordError::new(
///     SObject::OPPORTUNITY,
///     Some(SfId::parse("0065g00000XyZ12").unwrap()),
///     "CloseDate",
///     Problem::invalid("a date", "2024-02-30"),
/// );
/// assert_eq!(
///     err.to_string(),
///     "Opportunity 0065g00000XyZ12AAF: field CloseDate: expected a date, found \"2024-02-30\""
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{object} {}: field {field}: {problem}", DisplayId(.sf_id))]
pub struct RecordError {
    /// The Salesforce object.
    pub object: SObject,
    /// The record's id; `None` when the record had no valid `Id`.
    pub sf_id: Option<SfId>,
    /// The Salesforce field at fault (`Id` when the id itself is bad).
    pub field: FieldName,
    /// What is wrong.
    pub problem: Problem,
    /// The underlying cause, if any.
    #[source]
    pub source: Option<BoxError>,
}

pub(crate) struct DisplayId<'a>(pub(crate) &'a Option<SfId>);

impl fmt::Display for DisplayId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => fmt::Display::fmt(id, f),
            None => f.write_str("(record without a valid Id)"),
        }
    }
}

impl RecordError {
    /// A record error.
    pub fn new(
        object: SObject,
        sf_id: Option<SfId>,
        field: impl Into<Cow<'static, str>>,
        problem: Problem,
    ) -> RecordError {
        RecordError {
            object,
            sf_id,
            field: FieldName::from(field.into()),
            problem,
            source: None,
        }
    }

    /// Ties a [`FieldError`] to a record.
    pub fn from_field(object: SObject, sf_id: Option<SfId>, err: FieldError) -> RecordError {
        RecordError::new(object, sf_id, err.field, err.problem)
    }

    /// Adds the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> RecordError {
        self.source = Some(source.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_error_without_id_says_so() {
        let err = RecordError::new(SObject::ACCOUNT, None, "Id", Problem::Missing);
        assert_eq!(
            err.to_string(),
            "Account (record without a valid Id): field Id: required value is missing"
        );
    }

    #[test]
    fn long_values_are_cut() {
        let p = Problem::invalid("a number", &"9".repeat(200));
        assert!(p.to_string().len() < 100);
    }

    #[test]
    fn source_chain_is_kept() {
        use std::error::Error as _;
        let io = std::io::Error::other("disk full");
        let err = Error::store("job store", "recording a page", io);
        assert_eq!(err.source().unwrap().to_string(), "disk full");
        assert!(err.is_temporary());
        let err = err.permanent();
        assert_eq!(err.kind(), ErrorKind::Permanent);
        assert_eq!(err.source().unwrap().to_string(), "disk full");
    }

    #[test]
    fn each_variant_has_its_kind() {
        use std::io;
        let cases = [
            (Error::config("x"), ErrorKind::Permanent),
            (
                Error::store("s", "m", io::Error::other("x")),
                ErrorKind::Temporary,
            ),
            (
                Error::source("m", io::Error::other("x")),
                ErrorKind::Temporary,
            ),
            (
                Error::source("m", io::Error::other("x")).permanent(),
                ErrorKind::Permanent,
            ),
            (
                Error::Unreachable {
                    request: "q".into(),
                    problem: "HTTP 503".into(),
                    source: None,
                },
                ErrorKind::Temporary,
            ),
            (
                Error::RateLimited {
                    message: "limit".into(),
                    retry_after: None,
                },
                ErrorKind::RateLimited,
            ),
            (Error::SessionExpired, ErrorKind::Permanent),
            (
                Error::RetriesExhausted {
                    attempts: 5,
                    source: Box::new(Error::store("s", "m", io::Error::other("x"))),
                },
                ErrorKind::Permanent,
            ),
            (Error::TokenDecryption, ErrorKind::Permanent),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind, "{err}");
            assert_eq!(err.is_temporary(), kind == ErrorKind::Temporary, "{err}");
        }
        // A permanent mark does not change a variant whose kind is fixed.
        assert_eq!(
            Error::RateLimited {
                message: "x".into(),
                retry_after: None
            }
            .permanent()
            .kind(),
            ErrorKind::RateLimited
        );
    }

    #[test]
    fn api_codes_round_trip() {
        for code in [
            "INVALID_SESSION_ID",
            "REQUEST_LIMIT_EXCEEDED",
            "NOT_FOUND",
            "INVALID_TYPE",
            "INVALID_FIELD",
            "MALFORMED_QUERY",
            "QUERY_TIMEOUT",
        ] {
            assert_eq!(ApiErrorCode::parse(code).as_str(), code);
        }
        assert_eq!(
            ApiErrorCode::parse("QUERY_TIMEOUT"),
            ApiErrorCode::Other("QUERY_TIMEOUT".into())
        );
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn record_error_stays_small() {
        eprintln!(
            "Problem {} RecordError {}",
            size_of::<super::Problem>(),
            size_of::<super::RecordError>()
        );
        // Below clippy's `result_large_err` threshold, so hosts returning
        // `Result<_, RecordError>` get no lint.
        assert!(size_of::<super::RecordError>() < 128);
    }
}
