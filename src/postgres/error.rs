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
        // `ExecuteMigration` is what a failing migration script gives.
        sqlx::migrate::MigrateError::Execute(e)
        | sqlx::migrate::MigrateError::ExecuteMigration(e, _) => is_temporary(e),
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

#[cfg(test)]
mod tests {
    //! Every sqlx error path, produced for real (a closed port, a held
    //! pool, a server error raised with its SQLSTATE, a constraint hit),
    //! classified by [`store_error`], [`migrate_error`] or [`RowExt::col`],
    //! then run through [`Backoff::run`] to show whether it is retried.
    //! Without `DATABASE_URL` the cases that need a server are skipped,
    //! unless `SF_IMPORT_REQUIRE_PG=1`.

    use std::future::Future;
    use std::str::FromStr;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use sqlx::migrate::{MigrateError, Migrator};
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
    use tokio::sync::Mutex;

    use super::*;
    use crate::error::ErrorKind::{self, Permanent, Temporary};
    use crate::retry::Backoff;

    const STORE: &str = "test store";

    const BACKOFF: Backoff = Backoff {
        max_attempts: 3,
        base: Duration::from_millis(1),
        max: Duration::from_millis(1),
    };

    fn url() -> Option<String> {
        let url = std::env::var("DATABASE_URL").ok();
        if url.is_none() {
            assert!(
                std::env::var("SF_IMPORT_REQUIRE_PG").as_deref() != Ok("1"),
                "SF_IMPORT_REQUIRE_PG=1 but DATABASE_URL is not set"
            );
            eprintln!("skipped: no DATABASE_URL");
        }
        url
    }

    /// A pool on `DATABASE_URL`, or `None` (after saying so) without one.
    async fn pool() -> Option<(String, PgPool)> {
        let url = url()?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connecting to DATABASE_URL: {e}"));
        Some((url, pool))
    }

    /// A number no other test (of this process or another) uses.
    fn unique() -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        format!(
            "{}_{nanos}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The error and its sources, each as displayed.
    fn chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut out = vec![err.to_string()];
        let mut source = err.source();
        while let Some(s) = source {
            out.push(s.to_string());
            source = s.source();
        }
        out
    }

    /// The sqlx error a store error wraps.
    fn sqlx_of(err: &Error) -> &sqlx::Error {
        std::error::Error::source(err)
            .and_then(|s| s.downcast_ref::<sqlx::Error>())
            .unwrap_or_else(|| panic!("no sqlx error under {err:?}"))
    }

    /// The SQLSTATE of the database error a store error wraps.
    fn code_of(err: &Error) -> String {
        match sqlx_of(err) {
            sqlx::Error::Database(d) => d.code().expect("a SQLSTATE").into_owned(),
            other => panic!("not a database error: {other:?}"),
        }
    }

    /// Runs `op` once: it must fail with an error of kind `want` whose
    /// source chain (below the store's own line) holds `cause`, the
    /// database's or sqlx's own text. Then runs it through
    /// [`Backoff::run`], counting calls: a temporary error is tried three
    /// times and ends in [`Error::RetriesExhausted`]; a permanent one is
    /// tried once and comes back as it is, the cause still in its chain.
    /// Returns the first error for checks of its own.
    async fn classify<T, F, Fut>(case: &str, want: ErrorKind, cause: &str, op: F) -> Error
    where
        T: fmt::Debug,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let first = op().await.expect_err(case);
        assert_eq!(first.kind(), want, "{case}: {first:?}");
        assert_eq!(first.is_temporary(), want == Temporary, "{case}");
        let below = &chain(&first)[1..];
        assert!(
            below.iter().any(|s| s.contains(cause)),
            "{case}: {cause:?} is not in the source chain {below:?}"
        );

        let calls = AtomicU32::new(0);
        let err = BACKOFF
            .run("x", || {
                calls.fetch_add(1, Ordering::SeqCst);
                op()
            })
            .await
            .expect_err(case);
        let calls = calls.load(Ordering::SeqCst);
        let text = chain(&err);
        match want {
            Temporary => {
                assert_eq!(calls, 3, "{case}: a temporary error is retried");
                assert!(
                    matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
                    "{case}: {err:?}"
                );
            }
            _ => {
                assert_eq!(calls, 1, "{case}: a permanent error is not retried");
                assert!(
                    matches!(
                        err,
                        Error::Store {
                            temporary: false,
                            ..
                        }
                    ),
                    "{case}: returned as it is: {err:?}"
                );
            }
        }
        assert!(
            text[1..].iter().any(|s| s.contains(cause)),
            "{case}: after the retries {cause:?} is not in {text:?}"
        );
        first
    }

    #[tokio::test]
    async fn connection_refused_is_temporary() {
        // A loopback port that was open a moment ago and is closed now.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("its address").port()
        };
        let url = format!("postgres://postgres@127.0.0.1:{port}/test");
        let err = classify("connection refused", Temporary, "refused", || async {
            PgConnection::connect(&url)
                .await
                .map(drop)
                .map_err(db(STORE, "connecting"))
        })
        .await;
        assert!(matches!(sqlx_of(&err), sqlx::Error::Io(_)), "{err:?}");
    }

    #[tokio::test]
    async fn configuration_error_is_permanent() {
        let err = classify(
            "unparsable URL",
            Permanent,
            "invalid port number",
            || async {
                PgConnection::connect("postgres://postgres@127.0.0.1:notaport/test")
                    .await
                    .map(drop)
                    .map_err(db(STORE, "connecting"))
            },
        )
        .await;
        assert!(
            matches!(sqlx_of(&err), sqlx::Error::Configuration(_)),
            "{err:?}"
        );
        // The same from parsing the options alone.
        let parsed = PgConnectOptions::from_str("postgres://postgres@127.0.0.1:notaport/test")
            .expect_err("not a port");
        assert!(matches!(parsed, sqlx::Error::Configuration(_)));
        assert_eq!(store_error(STORE, "x", parsed).kind(), Permanent);
    }

    #[tokio::test]
    async fn pool_timed_out_is_temporary() {
        let Some((url, _)) = pool().await else {
            return;
        };
        // Long enough to open the one connection on a loaded machine; the
        // second acquire waits it out.
        let small = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(2))
            .connect(&url)
            .await
            .expect("connect");
        let held = small.acquire().await.expect("the only connection");
        let err = classify("pool timed out", Temporary, "pool timed out", || async {
            sqlx::query("SELECT 1")
                .execute(&small)
                .await
                .map(drop)
                .map_err(db(STORE, "querying"))
        })
        .await;
        assert!(
            matches!(sqlx_of(&err), sqlx::Error::PoolTimedOut),
            "{err:?}"
        );
        drop(held);
        small.close().await;
    }

    /// Server errors raised with each SQLSTATE the classification names
    /// (a genuine `ErrorResponse` carrying that code), and two it does not.
    #[tokio::test]
    async fn raised_sqlstates_are_classified() {
        let Some((_, pool)) = pool().await else {
            return;
        };
        let cases = [
            ("40001", Temporary), // serialization_failure
            ("40P01", Temporary), // deadlock_detected
            ("55P03", Temporary), // lock_not_available
            ("57014", Temporary), // query_canceled
            ("57P01", Temporary), // admin_shutdown
            ("57P02", Temporary), // crash_shutdown
            ("57P03", Temporary), // cannot_connect_now
            ("53200", Temporary), // out_of_memory
            ("53300", Temporary), // too_many_connections
            ("08000", Temporary), // connection_exception
            ("08006", Temporary), // connection_failure
            ("42501", Permanent), // insufficient_privilege
            ("XX000", Permanent), // internal_error
        ];
        for (code, want) in cases {
            let message = format!("boom {code}");
            let sql =
                format!("DO $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = '{code}'; END $$");
            let err = classify(code, want, &message, || async {
                sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                    .execute(&pool)
                    .await
                    .map(drop)
                    .map_err(db(STORE, "raising"))
            })
            .await;
            assert_eq!(code_of(&err), code);
        }
    }

    /// `statement_timeout` cancelling a statement: 57014 for real.
    #[tokio::test]
    async fn statement_timeout_is_temporary() {
        let Some((url, _)) = pool().await else {
            return;
        };
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        sqlx::query("SET statement_timeout = 50")
            .execute(&mut conn)
            .await
            .expect("SET");
        let conn = Mutex::new(conn);
        let err = classify(
            "statement timeout",
            Temporary,
            "canceling statement due to statement timeout",
            || async {
                sqlx::query("SELECT pg_sleep(1)")
                    .execute(&mut *conn.lock().await)
                    .await
                    .map(drop)
                    .map_err(db(STORE, "sleeping"))
            },
        )
        .await;
        assert_eq!(code_of(&err), "57014");
        conn.into_inner().close().await.expect("close");
    }

    /// `lock_timeout` on a lock another session holds: 55P03 for real.
    #[tokio::test]
    async fn lock_timeout_is_temporary() {
        let Some((url, pool)) = pool().await else {
            return;
        };
        let key: i64 = 727_300_000 + i64::from(std::process::id());
        let mut holder = pool.acquire().await.expect("acquire");
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut *holder)
            .await
            .expect("lock");
        let mut waiter = PgConnection::connect(&url).await.expect("connect");
        sqlx::query("SET lock_timeout = 50")
            .execute(&mut waiter)
            .await
            .expect("SET");
        let waiter = Mutex::new(waiter);
        let err = classify(
            "lock timeout",
            Temporary,
            "canceling statement due to lock timeout",
            || async {
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(key)
                    .execute(&mut *waiter.lock().await)
                    .await
                    .map(drop)
                    .map_err(db(STORE, "locking"))
            },
        )
        .await;
        assert_eq!(code_of(&err), "55P03");
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut *holder)
            .await
            .expect("unlock");
        waiter.into_inner().close().await.expect("close");
    }

    /// A backend terminated by `pg_terminate_backend` (what a server
    /// shutdown or a failover does to a session): 57P01 or a lost
    /// connection, temporary either way.
    #[tokio::test]
    async fn terminated_backend_is_temporary() {
        let Some((url, pool)) = pool().await else {
            return;
        };
        let err = classify("terminated backend", Temporary, "", || async {
            let mut conn = PgConnection::connect(&url).await.expect("connect");
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut conn)
                .await
                .expect("pid");
            let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
                .bind(pid)
                .fetch_one(&pool)
                .await
                .expect("terminate");
            assert!(killed);
            sqlx::query("SELECT 1")
                .execute(&mut conn)
                .await
                .map(drop)
                .map_err(db(STORE, "querying"))
        })
        .await;
        match sqlx_of(&err) {
            sqlx::Error::Database(d) => assert_eq!(d.code().as_deref(), Some("57P01")),
            sqlx::Error::Io(_) => {}
            other => panic!("unexpected: {other:?}"),
        }
    }

    /// Connecting as a role over its connection limit: 53300 for real.
    #[tokio::test]
    async fn too_many_connections_is_temporary() {
        let Some((url, pool)) = pool().await else {
            return;
        };
        let may: bool = sqlx::query_scalar(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&pool)
        .await
        .expect("the current role");
        if !may {
            eprintln!("skipped: DATABASE_URL's role cannot create a role");
            return;
        }
        // Made once per cluster, under a lock: parallel runs find it.
        const ROLE: &str = "sf_import_connection_limit_0";
        let mut tx = pool.begin().await.expect("begin");
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SELECT pg_advisory_xact_lock(727276);
             DO $$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                     CREATE ROLE {ROLE} LOGIN NOSUPERUSER CONNECTION LIMIT 0;
                 END IF;
             END $$;"
        )))
        .execute(&mut *tx)
        .await
        .expect("the role");
        tx.commit().await.expect("commit");
        let options = PgConnectOptions::from_str(&url)
            .expect("DATABASE_URL parses")
            .username(ROLE);
        let err = classify(
            "connection limit",
            Temporary,
            "too many connections for role",
            || async {
                PgConnection::connect_with(&options)
                    .await
                    .map(drop)
                    .map_err(db(STORE, "connecting"))
            },
        )
        .await;
        assert_eq!(code_of(&err), "53300");
    }

    /// Constraint violations, a missing table and bad input, for real.
    #[tokio::test]
    async fn data_and_schema_errors_are_permanent() {
        let Some((url, pool)) = pool().await else {
            return;
        };
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        sqlx::raw_sql(
            "CREATE TEMP TABLE errs (k int PRIMARY KEY, n text NOT NULL, c int CHECK (c > 0));
             INSERT INTO errs VALUES (1, 'one', 1);",
        )
        .execute(&mut conn)
        .await
        .expect("the table");
        let conn = Mutex::new(conn);
        let cases: [(&str, &str, &str); 3] = [
            (
                "INSERT INTO errs VALUES (1, 'again', 1)",
                "23505",
                "duplicate key value violates unique constraint \"errs_pkey\"",
            ),
            (
                "INSERT INTO errs VALUES (2, NULL, 1)",
                "23502",
                "null value in column \"n\"",
            ),
            (
                "INSERT INTO errs VALUES (3, 'three', 0)",
                "23514",
                "violates check constraint \"errs_c_check\"",
            ),
        ];
        for (sql, code, message) in cases {
            let err = classify(code, Permanent, message, || async {
                sqlx::query(sql)
                    .execute(&mut *conn.lock().await)
                    .await
                    .map(drop)
                    .map_err(db(STORE, "inserting"))
            })
            .await;
            assert_eq!(code_of(&err), code);
        }
        conn.into_inner().close().await.expect("close");

        let cases: [(&str, &str, &str); 2] = [
            (
                "SELECT * FROM sf_import_no_such_table",
                "42P01",
                "relation \"sf_import_no_such_table\" does not exist",
            ),
            (
                "SELECT 'x'::int",
                "22P02",
                "invalid input syntax for type integer",
            ),
        ];
        for (sql, code, message) in cases {
            let err = classify(code, Permanent, message, || async {
                sqlx::query(sql)
                    .execute(&pool)
                    .await
                    .map(drop)
                    .map_err(db(STORE, "querying"))
            })
            .await;
            assert_eq!(code_of(&err), code);
        }
    }

    /// What sqlx reports itself: a value of another type, a missing
    /// column, no row, a closed pool.
    #[tokio::test]
    async fn decoding_and_client_errors_are_permanent() {
        let Some((url, pool)) = pool().await else {
            return;
        };
        let read = |column: &'static str| {
            let pool = &pool;
            move || async move {
                let row = sqlx::query("SELECT 'not a number'::text AS drifted")
                    .fetch_one(pool)
                    .await
                    .expect("a row");
                row.col::<i64, _>(STORE, column)
            }
        };
        let err = classify("decode", Permanent, "mismatched types", read("drifted")).await;
        assert!(
            err.to_string().contains("drifted"),
            "the error names the column: {err}"
        );
        assert!(matches!(
            sqlx_of(&err),
            sqlx::Error::ColumnDecode { index, .. } if index.contains("drifted")
        ));

        let err = classify("missing column", Permanent, "nope", read("nope")).await;
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(matches!(sqlx_of(&err), sqlx::Error::ColumnNotFound(c) if c == "nope"));

        let err = classify("row not found", Permanent, "no rows returned", || async {
            sqlx::query("SELECT 1 WHERE false")
                .fetch_one(&pool)
                .await
                .map(drop)
                .map_err(db(STORE, "reading"))
        })
        .await;
        assert!(matches!(sqlx_of(&err), sqlx::Error::RowNotFound));

        let closed = PgPool::connect(&url).await.expect("connect");
        closed.close().await;
        let err = classify("closed pool", Permanent, "closed pool", || async {
            sqlx::query("SELECT 1")
                .execute(&closed)
                .await
                .map(drop)
                .map_err(db(STORE, "querying"))
        })
        .await;
        assert!(matches!(sqlx_of(&err), sqlx::Error::PoolClosed));
    }

    /// A migration's error: a failed statement as any other (temporary or
    /// not by its SQLSTATE), whether sqlx reports it as `Execute` or as
    /// `ExecuteMigration`; a missing migration permanent.
    #[tokio::test]
    async fn migration_errors_are_classified() {
        let err = classify(
            "version missing",
            Permanent,
            "migration 1 was previously applied but is missing",
            || async { Err::<(), _>(migrate_error("migrating", MigrateError::VersionMissing(1))) },
        )
        .await;
        assert!(matches!(
            err,
            Error::Store {
                store: "postgres",
                ..
            }
        ));

        let Some((url, pool)) = pool().await else {
            return;
        };
        let raise = |code: &'static str| {
            let pool = &pool;
            move || async move {
                let e = sqlx::raw_sql(AssertSqlSafe(format!(
                    "DO $$ BEGIN RAISE EXCEPTION 'boom {code}' USING ERRCODE = '{code}'; END $$"
                )))
                .execute(pool)
                .await
                .expect_err("raised");
                Err::<(), _>(migrate_error("migrating", MigrateError::Execute(e)))
            }
        };
        classify("Execute 40001", Temporary, "boom 40001", raise("40001")).await;
        classify("Execute 42501", Permanent, "boom 42501", raise("42501")).await;

        // Real migrations failing, in a schema of their own (the
        // migrations table included), dropped at the end.
        let schema = format!("migrate_err_{}", unique());
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&pool)
            .await
            .expect("schema");
        let scoped = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(
                PgConnectOptions::from_str(&url)
                    .expect("DATABASE_URL parses")
                    .options([("search_path", schema.as_str())]),
            )
            .await
            .expect("connect");
        let dir = std::env::temp_dir().join(format!("sf_import_{schema}"));
        let cases = [
            (
                "temporary",
                "DO $$ BEGIN RAISE EXCEPTION 'migration boom' USING ERRCODE = '40001'; END $$;",
                Temporary,
                "migration boom",
            ),
            (
                "permanent",
                "SELECT * FROM sf_import_no_such_table;",
                Permanent,
                "relation \"sf_import_no_such_table\" does not exist",
            ),
        ];
        // The checks run to the end or a panic; the schema is dropped either way.
        let checked = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
            for (name, sql, want, cause) in cases {
                let set = dir.join(name);
                std::fs::create_dir_all(&set).expect("a migrations directory");
                std::fs::write(set.join("1_fails.sql"), sql).expect("a migration");
                let mut m = Migrator::new(set.clone()).await.expect("the migrations");
                m.dangerous_set_table_name("_sf_import_test_migrations");
                // sqlx's migrator keeps its session advisory lock (one per
                // database, shared with every other migrator) when a migration
                // fails: the retry on another pooled connection would wait for
                // it forever, and so would other test runs' migrations.
                m.set_locking(false);
                let err = classify(name, want, cause, || async {
                    m.run(&scoped)
                        .await
                        .map_err(|e| migrate_error("migrating", e))
                })
                .await;
                let Error::Store {
                    source: Some(source),
                    ..
                } = &err
                else {
                    panic!("{err:?}");
                };
                assert!(
                    matches!(
                        source.downcast_ref::<MigrateError>(),
                        Some(MigrateError::ExecuteMigration(_, 1))
                    ),
                    "{source:?}"
                );
            }
        }))
        .await;
        scoped.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&pool)
            .await
            .expect("drop schema");
        if let Err(panic) = checked {
            std::panic::resume_unwind(panic);
        }
    }
}
