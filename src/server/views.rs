//! The JSON the router sends: stable shapes, separate from the crate's
//! internal types. Their `ToSchema` derives are the OpenAPI document's
//! schemas, and their doc comments its descriptions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use crate::crm::WriteMode;
use crate::id::{JobId, SfId};
use crate::jobs::{Job, LogEntry, LogPage, ObjectProgress, Severity};
use crate::mapping::Mappers;
use crate::object::SObject;
use crate::status::{JobStatus, ObjectState};
use crate::vault::ConnectionStatus;

/// Whether this tenant has a Salesforce connection, and whose.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Status)]
pub(crate) struct StatusView {
    /// Whether an active connection is stored.
    pub(crate) connected: bool,
    /// The org's instance, e.g. `https://acme.my.salesforce.com`.
    #[schema(format = "uri")]
    pub(crate) instance_url: Option<String>,
    /// The host user who connected it.
    pub(crate) connected_by: Option<String>,
    /// When.
    pub(crate) connected_at: Option<DateTime<Utc>>,
    /// Why a stored connection cannot be used, when one is stored but
    /// unusable: `token_unreadable` (its tokens cannot be decrypted, the
    /// encryption key changed). Connect again, or disconnect to clear it.
    #[schema(example = "token_unreadable")]
    pub(crate) problem: Option<String>,
    /// The problem, for a person to read.
    pub(crate) message: Option<String>,
    /// What the caller may do: a page shows only the actions it allows
    /// (a non-admin gets a read-only view).
    pub(crate) can: CanView,
}

/// What the caller may do. Reading (status, objects, counts, history,
/// jobs, logs, the error file) needs only a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Capabilities)]
pub(crate) struct CanView {
    /// `POST /connect` and `POST /callback`.
    pub(crate) connect: bool,
    /// `DELETE /disconnect`.
    pub(crate) disconnect: bool,
    /// `POST /import` (an import or a sync).
    pub(crate) import: bool,
    /// `POST /import/{id}/cancel`.
    pub(crate) cancel: bool,
    /// `POST /import/{id}/resume`.
    pub(crate) resume: bool,
}

impl CanView {
    /// What `caller` may do: everything for an admin, nothing else for the
    /// others.
    pub(crate) fn of(caller: &Caller) -> CanView {
        CanView {
            connect: caller.admin,
            disconnect: caller.admin,
            import: caller.admin,
            cancel: caller.admin,
            resume: caller.admin,
        }
    }
}

impl StatusView {
    /// The connection as `caller` sees it.
    pub(crate) fn new(s: ConnectionStatus, caller: &Caller) -> StatusView {
        StatusView {
            connected: s.connected,
            instance_url: s.instance_url,
            connected_by: s.connected_by,
            connected_at: s.connected_at,
            problem: None,
            message: None,
            can: CanView::of(caller),
        }
    }

    /// A stored connection whose tokens cannot be decrypted.
    pub(crate) fn token_unreadable(caller: &Caller) -> StatusView {
        StatusView {
            connected: false,
            instance_url: None,
            connected_by: None,
            connected_at: None,
            problem: Some("token_unreadable".to_owned()),
            message: Some(super::error::TOKEN_UNREADABLE.to_owned()),
            can: CanView::of(caller),
        }
    }
}

/// Where to send the admin's browser to connect Salesforce.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Connect)]
pub(crate) struct ConnectView {
    /// Salesforce's login page, with this flow's `state` and PKCE
    /// challenge. Salesforce sends the browser back to the host's callback
    /// page with `code` and `state`, which the page posts to `/callback`.
    #[schema(format = "uri")]
    pub(crate) authorization_url: String,
}

/// One import job, as `POST /import`, `GET /import/{id}` and the history
/// show it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Job)]
pub(crate) struct JobView {
    /// The job's id.
    #[schema(value_type = String)]
    pub(crate) id: JobId,
    /// Where the job is.
    pub(crate) status: JobStatusView,
    /// The host user who started it.
    pub(crate) started_by: String,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
    /// When it began to run.
    pub(crate) started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub(crate) completed_at: Option<DateTime<Utc>>,
    /// What it does with records imported before.
    pub(crate) mode: ModeView,
    /// A sync: it read only what changed since the last import, deletions
    /// included.
    pub(crate) sync: bool,
    /// Why it failed or was cancelled.
    pub(crate) message: Option<String>,
    /// Running, but the process that ran it is gone (a crash or a deploy:
    /// its lease lapsed). A server takes it over at its next start or
    /// recovery, or `POST /import/{id}/resume` does now.
    pub(crate) interrupted: bool,
    /// Records created, all objects together.
    pub(crate) imported: u64,
    /// Records imported before and rewritten (changed in Salesforce since).
    pub(crate) updated: u64,
    /// Records imported before and left alone.
    pub(crate) skipped: u64,
    /// Records deleted in Salesforce and in the CRM.
    pub(crate) deleted: u64,
    /// Records that failed (see the error log).
    pub(crate) errors: u64,
    /// Records imported with a repaired value.
    pub(crate) warnings: u64,
    /// Each object, in import order.
    pub(crate) objects: Vec<ObjectView>,
    /// The first 1,000 lines of the error log: only in `GET /import/{id}`.
    /// `GET /import/{id}/log` pages through all of it,
    /// `GET /import/{id}/errors.csv` downloads all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub(crate) error_log: Option<Vec<LogView>>,
    /// Whether `error_log` was cut (more lines follow): only in
    /// `GET /import/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub(crate) error_log_truncated: Option<bool>,
    /// When `error_log` was cut: the `after` of `GET /import/{id}/log`
    /// that reads on from its last line (absent when it was not cut).
    /// Only in `GET /import/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false, minimum = 0)]
    pub(crate) error_log_next: Option<u64>,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = JobStatus)]
pub(crate) enum JobStatusView {
    /// Created, not started.
    Pending,
    /// Running (or interrupted by a crash, and resumable).
    InProgress,
    /// Every record imported or skipped.
    Completed,
    /// Finished; some records failed.
    CompletedWithErrors,
    /// Stopped by an error (see `message`).
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl From<JobStatus> for JobStatusView {
    fn from(s: JobStatus) -> JobStatusView {
        match s {
            JobStatus::Pending => JobStatusView::Pending,
            JobStatus::InProgress => JobStatusView::InProgress,
            JobStatus::Completed => JobStatusView::Completed,
            JobStatus::CompletedWithErrors => JobStatusView::CompletedWithErrors,
            JobStatus::Failed => JobStatusView::Failed,
            JobStatus::Cancelled => JobStatusView::Cancelled,
        }
    }
}

/// Where one object of a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = ObjectState)]
pub(crate) enum ObjectStateView {
    /// Not started.
    Pending,
    /// Being imported.
    Importing,
    /// Finished.
    Done,
    /// Stopped by an error.
    Failed,
    /// The org does not have this object.
    Unavailable,
    /// Stopped on request.
    Cancelled,
}

impl From<ObjectState> for ObjectStateView {
    fn from(s: ObjectState) -> ObjectStateView {
        match s {
            ObjectState::Pending => ObjectStateView::Pending,
            ObjectState::Importing => ObjectStateView::Importing,
            ObjectState::Done => ObjectStateView::Done,
            ObjectState::Failed => ObjectStateView::Failed,
            ObjectState::Unavailable => ObjectStateView::Unavailable,
            ObjectState::Cancelled => ObjectStateView::Cancelled,
        }
    }
}

/// What an import does with records imported before: `update_changed`
/// rewrites those Salesforce changed since, `update` rewrites every one,
/// `skip_existing` leaves them alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Mode)]
pub(crate) enum ModeView {
    /// Leave records imported before alone, changed or not.
    SkipExisting,
    /// Rewrite every one with Salesforce's current values.
    Update,
    /// Rewrite those Salesforce changed since (the default).
    UpdateChanged,
}

impl From<WriteMode> for ModeView {
    fn from(m: WriteMode) -> ModeView {
        match m {
            WriteMode::SkipExisting => ModeView::SkipExisting,
            WriteMode::Update => ModeView::Update,
            WriteMode::UpdateChanged => ModeView::UpdateChanged,
        }
    }
}

impl From<ModeView> for WriteMode {
    fn from(m: ModeView) -> WriteMode {
        match m {
            ModeView::SkipExisting => WriteMode::SkipExisting,
            ModeView::Update => WriteMode::Update,
            ModeView::UpdateChanged => WriteMode::UpdateChanged,
        }
    }
}

/// Whether an error-log line stopped its record or only changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = Severity)]
pub(crate) enum SeverityView {
    /// The record was not imported.
    Error,
    /// The record was imported with a repaired value.
    Warning,
}

impl From<Severity> for SeverityView {
    fn from(s: Severity) -> SeverityView {
        match s {
            Severity::Error => SeverityView::Error,
            Severity::Warning => SeverityView::Warning,
        }
    }
}

impl JobView {
    pub(crate) fn new(job: Job) -> JobView {
        let message = job
            .message
            .as_ref()
            .map(|m| super::error::scrub_tenant(m.clone(), &job.tenant));
        JobView {
            interrupted: job.is_stranded(Utc::now()),
            imported: job.imported(),
            updated: job.updated(),
            skipped: job.skipped(),
            deleted: job.deleted(),
            sync: job.sync,
            errors: job.errors(),
            warnings: job.objects.iter().map(|o| o.warnings).sum(),
            id: job.id,
            status: job.status.into(),
            started_by: job.started_by,
            created_at: job.created_at,
            started_at: job.started_at,
            completed_at: job.completed_at,
            mode: job.mode.into(),
            message,
            objects: job.objects.into_iter().map(ObjectView::from).collect(),
            error_log: None,
            error_log_truncated: None,
            error_log_next: None,
        }
    }

    /// With the first page of its log, and whether (and where) it was cut.
    pub(crate) fn with_log(mut self, log: LogPage) -> JobView {
        self.error_log = Some(log.lines.into_iter().map(LogView::from).collect());
        self.error_log_truncated = Some(log.next.is_some());
        self.error_log_next = log.next;
        self
    }
}

/// One object of a job.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = JobObject)]
pub(crate) struct ObjectView {
    /// The Salesforce API name: `Account`, `Contact`, `Opportunity`,
    /// `Product2`, `Order`, `Quote` (line items and prices are imported
    /// with their parent).
    #[schema(value_type = String, example = "Account")]
    pub(crate) object_type: SObject,
    /// The name an admin reads: `Accounts`, `Products`, ...
    pub(crate) label: &'static str,
    /// Where it is.
    pub(crate) state: ObjectStateView,
    /// How many records Salesforce reported, once known.
    pub(crate) total: Option<u64>,
    /// Records created.
    pub(crate) imported: u64,
    /// Records imported before and rewritten.
    pub(crate) updated: u64,
    /// Records imported before and left alone.
    pub(crate) skipped: u64,
    /// Records deleted.
    pub(crate) deleted: u64,
    /// Records that failed.
    pub(crate) errors: u64,
    /// Records imported with a repaired value.
    pub(crate) warnings: u64,
}

impl From<ObjectProgress> for ObjectView {
    fn from(p: ObjectProgress) -> ObjectView {
        ObjectView {
            label: label(&p.object),
            object_type: p.object,
            state: p.state.into(),
            total: p.total,
            imported: p.imported,
            updated: p.updated,
            skipped: p.skipped,
            deleted: p.deleted,
            errors: p.errors,
            warnings: p.warnings,
        }
    }
}

/// One line of a job's error log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LogLine)]
pub(crate) struct LogView {
    /// Whether the record was stopped or only repaired.
    pub(crate) severity: SeverityView,
    /// The record's Salesforce API name.
    #[schema(value_type = String, example = "Contact")]
    pub(crate) object_type: SObject,
    /// The name an admin reads.
    pub(crate) label: &'static str,
    /// The record's Salesforce id, when the line is about one record.
    #[schema(value_type = Option<String>, example = "0035e00000AbCdEAAV")]
    pub(crate) sf_id: Option<SfId>,
    /// The field at fault, or empty.
    pub(crate) field: String,
    /// What happened.
    pub(crate) message: String,
}

impl From<LogEntry> for LogView {
    fn from(e: LogEntry) -> LogView {
        LogView {
            severity: e.severity.into(),
            label: label(&e.object),
            object_type: e.object,
            sf_id: e.sf_id,
            field: e.field,
            message: e.message,
        }
    }
}

/// An object an admin can choose to import, with what it needs.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ObjectType)]
pub(crate) struct ObjectTypeView {
    /// The Salesforce API name, as `POST /import` takes it.
    #[schema(value_type = ObjectTypeName)]
    pub(crate) object_type: SObject,
    /// The name an admin reads: `Accounts`, `Products`, ...
    pub(crate) label: &'static str,
    /// Objects whose records this one refers to (its own line items'
    /// references included), among the selectable ones.
    #[schema(value_type = Vec<ObjectTypeName>)]
    pub(crate) requires: Vec<SObject>,
    /// What to tell the admin, e.g. "Contacts need Accounts"; null when
    /// it needs nothing.
    pub(crate) hint: Option<String>,
}

impl ObjectTypeView {
    pub(crate) fn all(mappers: &Mappers) -> Vec<ObjectTypeView> {
        SObject::SELECTABLE
            .iter()
            .map(|object| {
                let mut requires = Vec::new();
                let own = mappers.iter().filter(|m| {
                    m.object() == *object || m.imported_with().as_ref() == Some(object)
                });
                for mapper in own {
                    for lookup in mapper.lookups() {
                        let target = selectable(&lookup.target);
                        let is_own = target == *object
                            || mappers
                                .get(&lookup.target)
                                .is_some_and(|m| m.imported_with().as_ref() == Some(object));
                        if !is_own && !requires.contains(&target) {
                            requires.push(target);
                        }
                    }
                }
                requires.sort_by_key(|o| SObject::SELECTABLE.iter().position(|s| s == o));
                let hint = (!requires.is_empty()).then(|| {
                    let names: Vec<&str> = requires.iter().map(label).collect();
                    format!("{} need {}", label(object), join(&names))
                });
                ObjectTypeView {
                    object_type: object.clone(),
                    label: label(object),
                    requires,
                    hint,
                }
            })
            .collect()
    }
}

/// An object an admin can choose to import, by its Salesforce API name.
/// (`POST /import` also takes the labels, `Products`, and any case.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[allow(
    dead_code,
    reason = "a schema only; the tests hold it to SObject::SELECTABLE"
)]
pub(crate) enum ObjectTypeName {
    /// Accounts.
    Account,
    /// Contacts.
    Contact,
    /// Opportunities, with their contact roles.
    Opportunity,
    /// Products, with their standard prices.
    Product2,
    /// Orders, with their lines.
    Order,
    /// Quotes, with their lines.
    Quote,
}

/// The selectable object a record refers to: a price book entry stands for
/// its product.
fn selectable(object: &SObject) -> SObject {
    if *object == SObject::PRICEBOOK_ENTRY {
        SObject::PRODUCT2
    } else {
        object.clone()
    }
}

fn join(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The name an admin reads for an object.
pub(crate) fn label(object: &SObject) -> &'static str {
    match object.as_str() {
        "Product2" => "Products",
        "PricebookEntry" => "Prices",
        "Account" => "Accounts",
        "Contact" => "Contacts",
        "Opportunity" => "Opportunities",
        "Order" => "Orders",
        "OrderItem" => "Order lines",
        "Quote" => "Quotes",
        "QuoteLineItem" => "Quote lines",
        _ => "Custom records",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_what_each_object_needs() {
        let views = ObjectTypeView::all(&Mappers::standard());
        let hint = |o: SObject| {
            views
                .iter()
                .find(|v| v.object_type == o)
                .and_then(|v| v.hint.clone())
        };
        assert_eq!(views.len(), 6);
        assert_eq!(hint(SObject::ACCOUNT), None);
        assert_eq!(hint(SObject::PRODUCT2), None);
        assert_eq!(hint(SObject::CONTACT).unwrap(), "Contacts need Accounts");
        assert_eq!(
            hint(SObject::OPPORTUNITY).unwrap(),
            "Opportunities need Accounts and Contacts"
        );
        assert_eq!(
            hint(SObject::ORDER).unwrap(),
            "Orders need Accounts, Contacts, Opportunities and Products"
        );
        assert_eq!(
            hint(SObject::QUOTE).unwrap(),
            "Quotes need Accounts, Contacts, Opportunities and Products"
        );
    }
}
