//! Database errors as the crate's [`Error::Store`], temporary or permanent
//! by what they are, and row decoding that returns an error instead of
//! panicking.
//!
//! Temporary (the engine retries): the connection was lost or refused
//! (`Io`, SQLSTATE class 08), the pool had no connection in time
//! (`PoolTimedOut`), the connection's worker died, the server is shutting
//! down or not yet up (57P01–57P03), a serialization failure or deadlock
//! (40001, 40P01), a lock not available (55P03), a cancelled statement
//! (57014, a `statement_timeout`), too many connections or out of memory
//! (53300, 53200).
//!
//! Permanent (the job stops at once, with the database's message in the
//! cause chain): everything else, among them constraint violations (class
//! 23), a permission or row-level security denial (42501), undefined
//! tables or columns and other schema drift (class 42), bad data (class
//! 22), a value that cannot be decoded, a missing column, a closed pool, a
//! TLS or configuration error.

use std::borrow::Cow;
use std::fmt;

use sqlx::postgres::PgRow;
use sqlx::{ColumnIndex, Decode, Postgres, Row, Type};

use crate::error::{Error, Result};

/// Wraps a database error as [`Error::Store`], classified.
pub(crate) fn db(
    store: &'static str,
    what: impl Into<Cow<'static, str>>,
) -> impl FnOnce(sqlx::Error) -> Error {
    let what = what.into();
    move |e| store_error(store, what, e)
}

/// A database error as [`Error::Store`], temporary when trying again may
/// succeed ([`is_temporary`]).
pub(crate) fn store_error(
    store: &'static str,
    what: impl Into<Cow<'static, str>>,
    err: sqlx::Error,
) -> Error {
    Error::Store {
        store,
        message: what.into(),
        temporary: is_temporary(&err),
        source: Some(Box::new(err)),
    }
}

/// A migration's error as [`Error::Store`]: a failed statement is
/// classified as any other; a missing, changed or dirty migration is
/// permanent.
pub(crate) fn migrate_error(what: &'static str, err: sqlx::migrate::MigrateError) -> Error {
    let temporary = match &err {
        sqlx::migrate::MigrateError::Execute(e) => is_temporary(e),
        _ => false,
    };
    Error::Store {
        store: "postgres",
        message: what.into(),
        temporary,
        source: Some(Box::new(err)),
    }
}

/// Whether trying the same statement again later may succeed.
pub(crate) fn is_temporary(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| temporary_sqlstate(&code)),
        _ => false,
    }
}

/// The SQLSTATEs that name a passing condition rather than the statement
/// or the data (PostgreSQL's appendix A, "Error Codes").
fn temporary_sqlstate(code: &str) -> bool {
    code.starts_with("08") // connection_exception and its subclasses
        || matches!(
            code,
            "40001" // serialization_failure
                | "40P01" // deadlock_detected
                | "55P03" // lock_not_available
                | "57014" // query_canceled (statement_timeout)
                | "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now
                | "53200" // out_of_memory
                | "53300" // too_many_connections
        )
}

/// Reading a row's columns without panicking.
pub(crate) trait RowExt {
    /// Reads one column. A column that is missing or holds what the Rust
    /// type cannot decode (a schema that drifted from the migrations) is a
    /// permanent [`Error::Store`] naming the column, never a panic.
    fn col<'r, T, I>(&'r self, store: &'static str, index: I) -> Result<T>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
        I: ColumnIndex<PgRow> + fmt::Display + Copy;
}

impl RowExt for PgRow {
    fn col<'r, T, I>(&'r self, store: &'static str, index: I) -> Result<T>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
        I: ColumnIndex<PgRow> + fmt::Display + Copy,
    {
        self.try_get(index).map_err(|e| Error::Store {
            store,
            message: format!("reading column {index}").into(),
            temporary: false,
            source: Some(Box::new(e)),
        })
    }
}
