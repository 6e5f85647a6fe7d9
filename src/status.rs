//! The states an import job, and each object in it, go through.
//!
//! Below the error type (which names a job's status when it refuses an
//! action) and the job store (which keeps them).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum JobStatus {
    /// Created, not started.
    Pending,
    /// Running (or interrupted by a crash, and resumable).
    InProgress,
    /// Every record imported or skipped.
    Completed,
    /// Finished; some records failed (see the error log).
    CompletedWithErrors,
    /// Stopped by an error (see the job's message); resumable.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl JobStatus {
    /// `PENDING`, `IN_PROGRESS`, ...: the code stored and shown in APIs.
    pub fn code(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Completed => "COMPLETED",
            JobStatus::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
        }
    }

    /// Pending or in progress: counts against one running import per tenant.
    pub fn is_running(self) -> bool {
        matches!(self, JobStatus::Pending | JobStatus::InProgress)
    }

    /// Whether the job is over for good: completed (with or without
    /// errors) or cancelled. A failed job is not final: it can be resumed.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::CompletedWithErrors | JobStatus::Cancelled
        )
    }

    /// Parses a [`code`](JobStatus::code).
    pub fn from_code(code: &str) -> Option<JobStatus> {
        [
            JobStatus::Pending,
            JobStatus::InProgress,
            JobStatus::Completed,
            JobStatus::CompletedWithErrors,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where one object of a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ObjectState {
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
