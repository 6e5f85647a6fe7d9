//! The missing-parent report: after a job, the records that failed because
//! a required parent was not found, grouped by that parent and why it was
//! missing.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io;

use serde::Serialize;

use super::Job;
use super::log::{LogEntry, Severity};
use crate::error::Problem;
use crate::id::SfId;
use crate::object::SObject;

/// Why a required parent was not in the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MissingReason {
    /// The parent's object was not selected for the job, and no earlier
    /// import brought the parent in.
    NotSelected,
    /// The parent was read in this job and failed itself (its own entry in
    /// the log says why).
    Failed,
    /// The parent's object was imported, but the parent was not among its
    /// records: not in the org (deleted, or not visible to the connected
    /// user), or, in a sync, a record that an earlier job did not import.
    NotFound,
}

impl MissingReason {
    /// The reason as the report's CSV writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MissingReason::NotSelected => "not_selected",
            MissingReason::Failed => "failed",
            MissingReason::NotFound => "not_found",
        }
    }
}

impl fmt::Display for MissingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One missing parent and the records of one object that needed it
/// through one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MissingParent {
    /// The object of the records that failed.
    pub object: SObject,
    /// The lookup field naming the parent (`AccountId`).
    pub field: String,
    /// The parent's object.
    pub parent_object: SObject,
    /// The parent's Salesforce id.
    pub parent_id: SfId,
    /// Why the parent was not there.
    pub reason: MissingReason,
    /// The records that failed for want of it, in log order.
    pub records: Vec<SfId>,
}

/// Every record of a job that failed for want of a required parent,
/// grouped by object, field, parent and reason.
///
/// Built from the job's log ([`MissingParents::from_log`]), usually
/// through [`Importer::missing_parents`](crate::Importer::missing_parents).
///
/// ```
/// use salesforce_import::jobs::{Job, MissingParents, MissingReason, NewJob};
/// use salesforce_import::{JobId, LogEntry, Problem, RecordError, SObject, SfId, TenantId, WriteMode};
///
/// let new = NewJob::new(TenantId::new("acme"), "ada", vec![SObject::CONTACT],
///     WriteMode::Update, chrono::Utc::now());
/// let job = Job::new(JobId::new("1"), &new);
/// let account = SfId::parse("001000000000001AAA").unwrap();
/// let contact = SfId::parse("003000000000001AAA").unwrap();
/// let log = [LogEntry::error(&RecordError::new(
///     SObject::CONTACT,
///     Some(contact.clone()),
///     "AccountId",
///     Problem::UnresolvedLookup { target: SObject::ACCOUNT, sf_id: account.clone() },
/// ))];
/// let report = MissingParents::from_log(&job, log);
/// assert_eq!(report.groups()[0].reason, MissingReason::NotSelected);
/// assert_eq!(report.groups()[0].records, [contact]);
///
/// let mut csv = Vec::new();
/// report.write_csv(&mut csv).unwrap();
/// assert_eq!(
///     String::from_utf8(csv).unwrap(),
///     "object,sf_id,field,parent_object,parent_id,reason\n\
///      Contact,003000000000001AAA,AccountId,Account,001000000000001AAA,not_selected\n"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MissingParents {
    groups: Vec<MissingParent>,
}

type GroupKey = (SObject, String, SObject, SfId, MissingReason);

impl MissingParents {
    /// The report for `job` from its whole log, oldest entry first.
    pub fn from_log(job: &Job, log: impl IntoIterator<Item = LogEntry>) -> MissingParents {
        let mut collector = Collector::default();
        collector.extend(log);
        collector.finish(job)
    }
}

/// Reads a job's log a page at a time, keeping only what the report needs
/// (the ids of failed records and the unresolved references).
#[derive(Debug, Default)]
pub(crate) struct Collector {
    failed: HashSet<(SObject, SfId)>,
    unresolved: Vec<(SObject, String, SObject, SfId, SfId)>,
}

impl Collector {
    pub(crate) fn extend(&mut self, log: impl IntoIterator<Item = LogEntry>) {
        for entry in log {
            if entry.severity != Severity::Error {
                continue;
            }
            if let (Problem::UnresolvedLookup { target, sf_id }, Some(child)) =
                (&entry.problem, &entry.sf_id)
            {
                self.unresolved.push((
                    entry.object.clone(),
                    entry.field.clone(),
                    target.clone(),
                    sf_id.clone(),
                    child.clone(),
                ));
            }
            if let Some(id) = entry.sf_id {
                self.failed.insert((entry.object, id));
            }
        }
    }

    pub(crate) fn finish(self, job: &Job) -> MissingParents {
        let Collector { failed, unresolved } = self;
        let selected: HashSet<&SObject> = job.objects.iter().map(|o| &o.object).collect();
        let mut groups: BTreeMap<GroupKey, Vec<SfId>> = BTreeMap::new();
        for (object, field, parent_object, parent_id, child) in unresolved {
            let reason = if !selected.contains(&parent_object) {
                MissingReason::NotSelected
            } else if failed.contains(&(parent_object.clone(), parent_id.clone())) {
                MissingReason::Failed
            } else {
                MissingReason::NotFound
            };
            groups
                .entry((object, field, parent_object, parent_id, reason))
                .or_default()
                .push(child);
        }
        // In the job's object order, then field, parent and reason.
        let order = |o: &SObject| job.objects.iter().position(|p| &p.object == o);
        let mut groups: Vec<MissingParent> = groups
            .into_iter()
            .map(
                |((object, field, parent_object, parent_id, reason), records)| MissingParent {
                    object,
                    field,
                    parent_object,
                    parent_id,
                    reason,
                    records,
                },
            )
            .collect();
        groups.sort_by_key(|g| order(&g.object));
        MissingParents { groups }
    }
}

impl MissingParents {
    /// The groups: per object (in the job's order), field, parent and
    /// reason.
    pub fn groups(&self) -> &[MissingParent] {
        &self.groups
    }

    /// Whether no record failed for want of a parent.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// How many records failed for want of a parent.
    pub fn records(&self) -> usize {
        self.groups.iter().map(|g| g.records.len()).sum()
    }

    /// Writes the report as CSV (RFC 4180, a header line, then one line per
    /// record: `object,sf_id,field,parent_object,parent_id,reason`, grouped
    /// as [`groups`](MissingParents::groups) are).
    pub fn write_csv(&self, mut out: impl io::Write) -> io::Result<()> {
        writeln!(out, "object,sf_id,field,parent_object,parent_id,reason")?;
        for g in &self.groups {
            for record in &g.records {
                let cells = [
                    g.object.as_str(),
                    record.as_str(),
                    g.field.as_str(),
                    g.parent_object.as_str(),
                    g.parent_id.as_str(),
                    g.reason.as_str(),
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
        Ok(())
    }
}

/// One CSV cell: quoted when it holds a comma, a quote or a line break, and
/// kept from being read as a formula by a spreadsheet.
fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::WriteMode;
    use crate::error::{FieldError, RecordError};
    use crate::id::{JobId, TenantId};
    use crate::jobs::NewJob;

    fn id(prefix: &str, n: u32) -> SfId {
        SfId::parse(&format!("{prefix}{n:012}")).unwrap()
    }

    fn missing(
        object: SObject,
        child: SfId,
        field: &str,
        target: SObject,
        parent: SfId,
    ) -> LogEntry {
        LogEntry::error(&RecordError::new(
            object,
            Some(child),
            field.to_owned(),
            Problem::UnresolvedLookup {
                target,
                sf_id: parent,
            },
        ))
    }

    #[test]
    fn reasons_groups_and_csv() {
        let new = NewJob::new(
            TenantId::new("t"),
            "ada",
            vec![SObject::ACCOUNT, SObject::CONTACT, SObject::ORDER],
            WriteMode::Update,
            chrono::Utc::now(),
        );
        let job = Job::new(JobId::new("1"), &new);
        let (a1, a2) = (id("001", 1), id("001", 2));
        let (c1, c2, c3) = (id("003", 1), id("003", 2), id("003", 3));
        let o1 = id("801", 1);
        let log = vec![
            // a1 failed itself; a2 was never read.
            LogEntry::error(&RecordError::new(
                SObject::ACCOUNT,
                Some(a1.clone()),
                "Name",
                Problem::Missing,
            )),
            missing(
                SObject::CONTACT,
                c1.clone(),
                "AccountId",
                SObject::ACCOUNT,
                a1.clone(),
            ),
            missing(
                SObject::CONTACT,
                c2.clone(),
                "AccountId",
                SObject::ACCOUNT,
                a2.clone(),
            ),
            missing(
                SObject::CONTACT,
                c3.clone(),
                "AccountId",
                SObject::ACCOUNT,
                a1.clone(),
            ),
            // Contract was not selected.
            missing(
                SObject::ORDER,
                o1.clone(),
                "ContractId",
                SObject::new("Contract"),
                id("800", 1),
            ),
            // A warning (optional lookup) is not a missing required parent.
            LogEntry::warning(
                SObject::CONTACT,
                Some(c2.clone()),
                FieldError::new(
                    "ReportsToId",
                    Problem::UnresolvedLookup {
                        target: SObject::CONTACT,
                        sf_id: c3.clone(),
                    },
                ),
            ),
        ];
        let report = MissingParents::from_log(&job, log);
        assert_eq!(report.records(), 4);
        let groups: Vec<_> = report
            .groups()
            .iter()
            .map(|g| {
                (
                    g.object.as_str(),
                    g.parent_id.clone(),
                    g.reason,
                    g.records.clone(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            [
                (
                    "Contact",
                    a1.clone(),
                    MissingReason::Failed,
                    vec![c1.clone(), c3.clone()]
                ),
                (
                    "Contact",
                    a2.clone(),
                    MissingReason::NotFound,
                    vec![c2.clone()]
                ),
                (
                    "Order",
                    id("800", 1),
                    MissingReason::NotSelected,
                    vec![o1.clone()]
                ),
            ]
        );
        let mut csv = Vec::new();
        report.write_csv(&mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[1],
            format!("Contact,{c1},AccountId,Account,{a1},failed")
        );
        assert_eq!(
            lines[4],
            format!(
                "Order,{o1},ContractId,Contract,{},not_selected",
                id("800", 1)
            )
        );
    }

    #[test]
    fn cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("Name"), "Name");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("-1,2"), "\"'-1,2\"");
    }
}
