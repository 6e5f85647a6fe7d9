//! A job's log: one entry per record that failed (error) or was imported
//! with a repaired value (warning), naming the object, the record and the
//! field.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{DisplayId, FieldError, Problem, RecordError};
use crate::id::SfId;
use crate::object::SObject;

/// Whether a log entry stopped a record or only changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Severity {
    /// The record was not imported.
    Error,
    /// The record was imported with a repaired value.
    Warning,
}

/// One entry of a job's error log: `{object, sf_id, field, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogEntry {
    /// Error (not imported) or warning (imported, repaired).
    pub severity: Severity,
    /// The Salesforce object.
    pub object: SObject,
    /// The record's Salesforce id, if it had a valid one.
    pub sf_id: Option<SfId>,
    /// The field at fault.
    pub field: String,
    /// What was wrong, for a person to read.
    pub message: String,
    /// The machine-readable problem.
    pub problem: Problem,
}

impl LogEntry {
    /// An entry, as a store outside this crate reads it back.
    pub fn new(
        severity: Severity,
        object: SObject,
        sf_id: Option<SfId>,
        field: impl Into<String>,
        problem: Problem,
    ) -> LogEntry {
        LogEntry {
            severity,
            object,
            sf_id,
            field: field.into(),
            message: problem.to_string(),
            problem,
        }
    }

    /// An error entry for a record that was not imported.
    pub fn error(err: &RecordError) -> LogEntry {
        LogEntry {
            severity: Severity::Error,
            object: err.object.clone(),
            sf_id: err.sf_id.clone(),
            field: err.field.to_string(),
            message: err.problem.to_string(),
            problem: err.problem.clone(),
        }
    }

    /// A warning entry for a record imported with a repaired value.
    pub fn warning(object: SObject, sf_id: Option<SfId>, field: FieldError) -> LogEntry {
        LogEntry {
            severity: Severity::Warning,
            object,
            sf_id,
            message: field.problem.to_string(),
            field: field.field.into_owned(),
            problem: field.problem,
        }
    }
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sf_id.is_none() && self.problem == Problem::NotInOrg {
            // About the object's field, not one record.
            return write!(f, "{}: field {}: {}", self.object, self.field, self.message);
        }
        write!(
            f,
            "{} {}: field {}: {}",
            self.object,
            DisplayId(&self.sf_id),
            self.field,
            self.message
        )
    }
}
