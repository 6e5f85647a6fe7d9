//! The `salesforce-import` binary, run as a user runs it, against a fake
//! Salesforce started here (`--source salesforce --allow-loopback`) and,
//! when `DATABASE_URL` is set, PostgreSQL (`--into postgres`, `--tenant`,
//! `--mode update`, `--resume`).
//!
//! The PostgreSQL tests print a note and pass when `DATABASE_URL` is not
//! set, unless `SF_IMPORT_REQUIRE_PG=1` (CI), where they fail instead.

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use salesforce_import::SObject;
use salesforce_import_fake::{FakeOrg, FakeSalesforce};
use secrecy::ExposeSecret;

/// The binary, with none of the variables it reads inherited from the
/// environment the tests run in: each test sets its own.
fn cli(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_salesforce-import"));
    for var in [
        "SF_INSTANCE_URL",
        "SF_ACCESS_TOKEN",
        "SF_REFRESH_TOKEN",
        "SF_CLIENT_ID",
        "SF_CLIENT_SECRET",
        "SF_LOGIN_URL",
        "DATABASE_URL",
    ] {
        command.env_remove(var);
    }
    command.args(args);
    command
}

/// Runs `command` to the end off the runtime's threads (the fake keeps
/// answering on them), and returns its exit status and output.
async fn run(mut command: Command) -> Run {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the command's thread")
        .expect("the binary starts");
    Run::from(output)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// One object's row of the summary table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Row {
    read: u64,
    imported: u64,
    updated: u64,
    skipped: u64,
    deleted: u64,
    errors: u64,
}

impl Run {
    fn succeeded(&self) -> bool {
        self.code == Some(0)
    }

    /// From "Records in the CRM (tenant t): 0 before this run, 473 after:
    /// 473 new, ...": (before, after, new).
    fn records(&self) -> (u64, u64, u64) {
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with("Records in the CRM (tenant "))
            .unwrap_or_else(|| panic!("no record counts in the output:\n{self}"));
        let numbers: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        // The tenant names used here end in digits: the last numbers count.
        match numbers[..] {
            [.., before, after, new, _updated, _skipped] if line.contains("updated") => {
                (before, after, new)
            }
            [.., before, after, new, _skipped] => (before, after, new),
            _ => panic!("unreadable record counts: {line}"),
        }
    }

    /// The summary row of `object`.
    fn summary(&self, object: &str) -> Row {
        let row = self
            .stdout
            .lines()
            .find(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(object)
                    && l.split_whitespace().count() == 8
                    && words.all(|w| w == "?" || w.parse::<u64>().is_ok())
            })
            .unwrap_or_else(|| panic!("no summary row for {object}:\n{self}"));
        let n: Vec<u64> = row
            .split_whitespace()
            .skip(1)
            .map(|s| s.parse().unwrap_or(0))
            .collect();
        Row {
            read: n[0],
            imported: n[1],
            updated: n[2],
            skipped: n[3],
            deleted: n[4],
            errors: n[5],
        }
    }

    /// The "Read back from PostgreSQL" block.
    fn read_back(&self) -> String {
        let start = self
            .stdout
            .find("Read back from PostgreSQL")
            .unwrap_or_else(|| panic!("nothing read back:\n{self}"));
        self.stdout[start..].to_owned()
    }
}

/// A tenant no other run uses: this process, this moment, `what`.
fn unique_tenant(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("cli-test-{what}-{}-{nanos}", std::process::id())
}

/// `DATABASE_URL`, or `None` with a note (a failure under
/// `SF_IMPORT_REQUIRE_PG=1`).
fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert_ne!(
                std::env::var("SF_IMPORT_REQUIRE_PG").as_deref(),
                Ok("1"),
                "SF_IMPORT_REQUIRE_PG=1 but DATABASE_URL is not set ({test})"
            );
            eprintln!("note: DATABASE_URL is not set: {test} skipped");
            None
        }
    }
}

async fn fake() -> FakeSalesforce {
    FakeSalesforce::builder()
        .org(FakeOrg::sample())
        .min_batch_size(1)
        .start()
        .await
        .expect("the fake starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_org_is_imported_with_allow_loopback_only() {
    let fake = fake().await;
    let (access, _refresh) = fake.issue_tokens();
    let token = access.expose_secret().to_owned();
    let accounts = fake.org().count(&SObject::ACCOUNT);
    assert!(accounts > 0);

    let mut command = cli(&[
        "--source",
        "salesforce",
        "--allow-loopback",
        "--once",
        "--objects",
        "Account",
    ]);
    command
        .env("SF_INSTANCE_URL", fake.url())
        .env("SF_ACCESS_TOKEN", &token);
    let out = run(command).await;
    assert!(out.succeeded(), "{out}");
    assert!(
        out.stdout
            .contains(&format!("the Salesforce org at {}", fake.url())),
        "{out}"
    );
    assert_eq!(
        out.summary("Account"),
        Row {
            read: accounts,
            imported: accounts,
            ..Row::default()
        },
        "{out}"
    );
    assert_eq!(out.records(), (0, accounts, accounts), "{out}");
    assert!(out.stderr.contains("--allow-loopback"), "{out}");
    assert!(
        !out.stdout.contains(&token) && !out.stderr.contains(&token),
        "{out}"
    );
    let requests = fake.requests().len();
    assert!(requests > 0);

    // The same without the flag: refused before any request, saying why.
    let mut command = cli(&["--source", "salesforce", "--once", "--objects", "Account"]);
    command
        .env("SF_INSTANCE_URL", fake.url())
        .env("SF_ACCESS_TOKEN", &token);
    let out = run(command).await;
    assert_eq!(out.code, Some(1), "{out}");
    for needle in [
        "SF_INSTANCE_URL",
        fake.url(),
        "only https is allowed",
        "loopback",
        "--allow-loopback",
    ] {
        assert!(out.stderr.contains(needle), "no {needle:?}: {out}");
    }
    assert!(!out.stderr.contains(&token), "{out}");
    assert_eq!(fake.requests().len(), requests, "a request was sent");

    // A loopback login URL is refused the same way.
    let mut command = cli(&["--source", "salesforce", "--once"]);
    command
        .env("SF_INSTANCE_URL", "https://acme.my.salesforce.com")
        .env("SF_LOGIN_URL", fake.login_url())
        .env("SF_ACCESS_TOKEN", &token);
    let out = run(command).await;
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("SF_LOGIN_URL") && out.stderr.contains("--allow-loopback"),
        "{out}"
    );

    // The flag is only for --source salesforce: a usage mistake.
    let out = run(cli(&["--source", "files", "--allow-loopback"])).await;
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.stderr
            .contains("--allow-loopback goes with --source salesforce"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_into_the_same_tenant_updates_instead_of_duplicating() {
    let Some(url) =
        database_url("a_second_run_into_the_same_tenant_updates_instead_of_duplicating")
    else {
        return;
    };
    let tenant = unique_tenant("update");
    let files = |extra: &[&str]| {
        let mut args = vec![
            "--source", "files", "--into", "postgres", "--tenant", &tenant, "--once",
        ];
        args.extend_from_slice(extra);
        let mut command = cli(&args);
        command.env("DATABASE_URL", &url);
        command
    };

    let first = run(files(&[])).await;
    assert!(first.succeeded(), "{first}");
    let (before, created, new) = first.records();
    assert_eq!((before, new), (0, created), "{first}");
    assert!(created > 0, "{first}");
    assert!(
        first.stdout.contains(&format!("(tenant {tenant})")),
        "{first}"
    );
    let Row {
        read: in_org,
        imported,
        ..
    } = first.summary("Account");
    assert_eq!(imported, in_org, "{first}");

    let update = run(files(&["--mode", "update"])).await;
    assert!(update.succeeded(), "{update}");
    assert_eq!(update.records(), (created, created, 0), "{update}");
    assert!(
        update
            .stdout
            .contains("updating every record imported before"),
        "{update}"
    );
    // Every account written over, none created.
    assert_eq!(
        update.summary("Account"),
        Row {
            read: in_org,
            updated: in_org,
            ..Row::default()
        },
        "{update}"
    );
    assert!(
        update.stdout.contains(&format!("0 new, {created} updated")),
        "{update}"
    );
    assert_eq!(update.read_back(), first.read_back());

    // --mode skip leaves them.
    let skip = run(files(&["--mode", "skip"])).await;
    assert!(skip.succeeded(), "{skip}");
    assert_eq!(skip.records(), (created, created, 0), "{skip}");
    assert_eq!(
        skip.summary("Account"),
        Row {
            read: in_org,
            skipped: in_org,
            ..Row::default()
        },
        "{skip}"
    );

    // The default rewrites what changed: files carry no SystemModstamp, so
    // every record counts as changed, and is written over itself.
    let changed = run(files(&[])).await;
    assert!(changed.succeeded(), "{changed}");
    assert_eq!(changed.records(), (created, created, 0), "{changed}");
    assert_eq!(changed.summary("Account").updated, in_org, "{changed}");
    assert_eq!(changed.read_back(), first.read_back());

    // Every job finished: nothing to resume.
    let out = run(files(&["--resume"])).await;
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "nothing to resume: tenant {tenant} has no FAILED, PENDING or IN_PROGRESS job"
        )) && out.stderr.contains("is COMPLETED"),
        "{out}"
    );
    assert!(!out.stdout.contains("Resuming"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_says_when_there_is_nothing_to_resume() {
    // Refused with the in-memory store whatever the database.
    let out = run(cli(&["--source", "files", "--resume"])).await;
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.stderr
            .contains("--resume goes with --into postgres: the in-memory store starts empty"),
        "{out}"
    );

    let Some(url) = database_url("resume_says_when_there_is_nothing_to_resume") else {
        return;
    };
    let tenant = unique_tenant("nothing");
    let postgres = |extra: &[&str]| {
        let mut args = vec![
            "--source", "files", "--into", "postgres", "--tenant", &tenant,
        ];
        args.extend_from_slice(extra);
        let mut command = cli(&args);
        command.env("DATABASE_URL", &url);
        command
    };

    let out = run(postgres(&["--resume"])).await;
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "nothing to resume: tenant {tenant} has no import job"
        )),
        "{out}"
    );

    let out = run(postgres(&["--resume", "987654321"])).await;
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains(&format!("no import job 987654321 for tenant {tenant}")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_is_resumed_from_its_checkpoints() {
    let Some(url) = database_url("a_failed_import_is_resumed_from_its_checkpoints") else {
        return;
    };
    let fake = fake().await;
    let (access, _refresh) = fake.issue_tokens();
    let token = access.expose_secret().to_owned();
    let tenant = unique_tenant("resume");
    let salesforce = |extra: &[&str]| {
        let mut args = vec![
            "--source",
            "salesforce",
            "--allow-loopback",
            "--into",
            "postgres",
            "--tenant",
            &tenant,
            "--page-size",
            "10",
            "--once",
        ];
        args.extend_from_slice(extra);
        let mut command = cli(&args);
        command
            .env("DATABASE_URL", &url)
            .env("SF_INSTANCE_URL", fake.url())
            .env("SF_ACCESS_TOKEN", &token);
        command
    };

    // The org's API allowance runs out part way: the job fails, resumable.
    fake.faults().rate_limit_after(12);
    let failed = run(salesforce(&[])).await;
    assert_eq!(failed.code, Some(1), "{failed}");
    assert!(failed.stdout.contains("(FAILED)"), "{failed}");
    assert!(
        failed.stdout.contains("REQUEST_LIMIT_EXCEEDED") || failed.stdout.contains("request limit"),
        "{failed}"
    );
    let job = failed
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Job ")?.split_whitespace().next())
        .unwrap_or_else(|| panic!("no job id:\n{failed}"))
        .to_owned();
    assert!(
        failed.stdout.contains(&format!("--resume {job}")),
        "{failed}"
    );
    let (_, partial, _) = failed.records();

    // The allowance is back: the job continues where it stopped.
    fake.faults().clear_rate_limit();
    let resumed = run(salesforce(&["--resume"])).await;
    assert!(resumed.succeeded(), "{resumed}");
    assert!(
        resumed.stdout.contains(&format!(
            "Resuming job {job} of tenant {tenant} (FAILED, created "
        )),
        "{resumed}"
    );
    assert!(
        resumed.stdout.contains("continues after ") || resumed.stdout.contains("from the start"),
        "{resumed}"
    );
    // COMPLETED_WITH_ERRORS: the sample org has a few bad records.
    assert!(
        resumed.stdout.contains(&format!("Job {job} (COMPLETED")),
        "{resumed}"
    );
    let (before, total, _) = resumed.records();
    assert_eq!(before, partial, "{resumed}");
    // Every record of the org in the CRM once, but the bad ones: the
    // counts of the two runs add up, nothing was written twice.
    let read_back = resumed.read_back();
    let mut sum = 0;
    for object in SObject::STANDARD {
        let name = object.as_str();
        let held: u64 = read_back
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} read back:\n{resumed}"));
        let Row {
            read: in_org,
            imported,
            updated,
            skipped,
            errors,
            ..
        } = resumed.summary(name);
        assert_eq!(in_org, fake.org().count(&object), "{name}:\n{resumed}");
        assert_eq!(
            imported + updated + skipped + errors,
            in_org,
            "{name}:\n{resumed}"
        );
        assert_eq!(held, in_org - errors, "{name}:\n{resumed}");
        sum += held;
    }
    assert_eq!(sum, total, "{resumed}");

    // The job is done: nothing more to resume, by id or newest.
    let out = run(salesforce(&["--resume", &job])).await;
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains(&format!("job {job} of tenant {tenant} is COMPLETED")),
        "{out}"
    );
    // And a run in update mode writes over what the two runs imported.
    let update = run(salesforce(&["--mode", "update"])).await;
    assert!(update.succeeded(), "{update}");
    assert_eq!(update.records(), (total, total, 0), "{update}");
}

/// `--source export=PATH`: an unpacked Data Export (one CSV per object,
/// out of Id order, with a byte-order mark and quoted commas and line
/// breaks), then the same export as one object's CSV; objects without a
/// file are reported as not available, and a path that is no export fails
/// naming it.
#[tokio::test]
async fn a_data_export_folder_or_csv_is_imported() {
    let dir = std::env::temp_dir().join(unique_tenant("export"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Account.csv"),
        "\u{feff}\"Id\",\"Name\",\"Description\",\"IsDeleted\",\"SystemModstamp\"\n\
         \"001000000000002AAA\",\"Globex, Inc.\",\"two\nlines\",\"false\",\"2024-01-31 10:00:00\"\n\
         \"001000000000003AAA\",\"Gone\",\"\",\"true\",\"2024-01-31T10:00:00.000Z\"\n\
         \"001000000000001AAA\",\"Acme\",\"\",\"false\",\"2024-01-31T10:00:00.000Z\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Contact.csv"),
        "Id,LastName,AccountId,IsDeleted,SystemModstamp\n\
         003000000000001AAA,Lovelace,001000000000001AAA,false,2024-01-31T10:00:00.000Z\n",
    )
    .unwrap();

    let source = format!("export={}", dir.display());
    let out = run(cli(&["--source", &source, "--once"])).await;
    assert!(out.succeeded(), "{out}");
    assert!(out.stdout.contains("Data Export"), "{out}");
    let account = out.summary("Account");
    assert_eq!(
        (account.read, account.imported, account.errors),
        (2, 2, 0),
        "the deleted row is not read: {out}"
    );
    let contact = out.summary("Contact");
    assert_eq!(
        (contact.read, contact.imported, contact.errors),
        (1, 1, 0),
        "{out}"
    );
    assert_eq!(out.records(), (0, 3, 3), "{out}");
    let unavailable = out
        .stdout
        .lines()
        .find(|l| l.starts_with("not available"))
        .unwrap_or_else(|| panic!("no unavailable objects listed:\n{out}"));
    for object in ["Opportunity", "Quote", "Order"] {
        assert!(unavailable.contains(object), "{unavailable}");
    }
    assert!(!unavailable.contains("Account"), "{unavailable}");

    // One object's CSV, as Data Loader exports it.
    let csv = format!("export={}", dir.join("Account.csv").display());
    let out = run(cli(&["--source", &csv, "--once", "--objects", "Account"])).await;
    assert!(out.succeeded(), "{out}");
    assert_eq!(out.summary("Account").imported, 2, "{out}");

    // Not an export.
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "hello").unwrap();
    let out = run(cli(&[
        "--source",
        &format!("export={}", notes.display()),
        "--once",
    ]))
    .await;
    assert!(!out.succeeded(), "{out}");
    assert!(out.stderr.contains("notes.txt"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
