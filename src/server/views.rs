//! The JSON the router sends: stable shapes, separate from the crate's
//! internal types.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::mapping::Mappers;
use crate::vault::ConnectionStatus;
use crate::{Job, JobId, JobStatus, LogEntry, ObjectProgress, ObjectState, SObject, SfId};

/// `GET status`.
#[derive(Debug, Serialize)]
pub(crate) struct StatusView {
    pub(crate) connected: bool,
    pub(crate) instance_url: Option<String>,
    pub(crate) connected_by: Option<String>,
    pub(crate) connected_at: Option<DateTime<Utc>>,
}

impl From<ConnectionStatus> for StatusView {
    fn from(s: ConnectionStatus) -> StatusView {
        StatusView {
            connected: s.connected,
            instance_url: s.instance_url,
            connected_by: s.connected_by,
            connected_at: s.connected_at,
        }
    }
}

/// `POST connect`.
#[derive(Debug, Serialize)]
pub(crate) struct ConnectView {
    pub(crate) authorization_url: String,
}

/// One job, as `GET import/{id}`, `POST import` and the history show it.
#[derive(Debug, Serialize)]
pub(crate) struct JobView {
    pub(crate) id: JobId,
    pub(crate) status: JobStatus,
    pub(crate) started_by: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) completed_at: Option<DateTime<Utc>>,
    pub(crate) mode: &'static str,
    pub(crate) message: Option<String>,
    pub(crate) imported: u64,
    pub(crate) skipped: u64,
    pub(crate) errors: u64,
    pub(crate) warnings: u64,
    pub(crate) objects: Vec<ObjectView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_log: Option<Vec<LogView>>,
}

impl JobView {
    pub(crate) fn new(job: Job) -> JobView {
        JobView {
            imported: job.imported(),
            skipped: job.skipped(),
            errors: job.errors(),
            warnings: job.objects.iter().map(|o| o.warnings).sum(),
            id: job.id,
            status: job.status,
            started_by: job.started_by,
            created_at: job.created_at,
            started_at: job.started_at,
            completed_at: job.completed_at,
            mode: match job.mode {
                crate::WriteMode::Update => "update",
                _ => "skip_existing",
            },
            message: job.message,
            objects: job.objects.into_iter().map(ObjectView::from).collect(),
            error_log: None,
        }
    }

    pub(crate) fn with_log(mut self, log: Vec<LogEntry>) -> JobView {
        self.error_log = Some(log.into_iter().map(LogView::from).collect());
        self
    }
}

/// One object of a job.
#[derive(Debug, Serialize)]
pub(crate) struct ObjectView {
    pub(crate) object_type: SObject,
    pub(crate) label: &'static str,
    pub(crate) state: ObjectState,
    pub(crate) total: Option<u64>,
    pub(crate) imported: u64,
    pub(crate) skipped: u64,
    pub(crate) errors: u64,
    pub(crate) warnings: u64,
}

impl From<ObjectProgress> for ObjectView {
    fn from(p: ObjectProgress) -> ObjectView {
        ObjectView {
            label: label(&p.object),
            object_type: p.object,
            state: p.state,
            total: p.total,
            imported: p.imported,
            skipped: p.skipped,
            errors: p.errors,
            warnings: p.warnings,
        }
    }
}

/// One line of a job's error log.
#[derive(Debug, Serialize)]
pub(crate) struct LogView {
    pub(crate) severity: &'static str,
    pub(crate) object_type: SObject,
    pub(crate) label: &'static str,
    pub(crate) sf_id: Option<SfId>,
    pub(crate) field: String,
    pub(crate) message: String,
}

impl From<LogEntry> for LogView {
    fn from(e: LogEntry) -> LogView {
        LogView {
            severity: match e.severity {
                crate::Severity::Error => "ERROR",
                _ => "WARNING",
            },
            label: label(&e.object),
            object_type: e.object,
            sf_id: e.sf_id,
            field: e.field,
            message: e.message,
        }
    }
}

/// `GET import/objects`: what an admin can choose, with what each needs.
#[derive(Debug, Serialize)]
pub(crate) struct ObjectTypeView {
    pub(crate) object_type: SObject,
    pub(crate) label: &'static str,
    /// Objects whose records this one refers to (its own line items'
    /// references included), among the selectable ones.
    pub(crate) requires: Vec<SObject>,
    /// "Contacts need Accounts".
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
