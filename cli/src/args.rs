//! The command line: flags, their defaults and `--help`, read by clap.
//!
//! [`Cli`] is what clap derives and reads flag by flag; [`Args`] is what the
//! flags mean together (`--dir` folded into `--source files`, `--database-url`
//! only with `--into postgres`), and is what the rest of the command uses.
//! [`Cli::check`] reports a bad combination as a clap error (exit code 2).

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use salesforce_import::{JobId, SObject, TenantId, WriteMode};

/// The tenant imported into when `--tenant` is not given: one fixed name,
/// so that runs without it share their records, jobs and id map.
pub(crate) const DEFAULT_TENANT: &str = "sample";

/// Where the records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// The sample org on a fake Salesforce over loopback HTTP.
    Fake,
    /// Files from a directory, or the bundled sample org.
    Files(Option<PathBuf>),
    /// A Salesforce Data Export: the zip, its unpacked folder, or one CSV.
    Export(PathBuf),
    /// A real org, from environment credentials.
    Salesforce,
}

/// Where the records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetKind {
    /// The in-memory CRM, gone when the command ends.
    #[value(help = "the in-memory CRM, gone when the command ends")]
    Memory,
    /// PostgreSQL: the reference CRM schema and the job store.
    // clap's help is not wrapped (no `wrap_help`): lines broken by hand,
    // continued under the text after "postgres: ".
    #[value(
        alias = "postgresql",
        help = "PostgreSQL at --database-url or $DATABASE_URL: the\n          \
                reference CRM schema and the job store, migrated\n          \
                first; kept between runs (see --tenant, --resume)"
    )]
    Postgres,
}

/// `--resume [JOB]`: which job to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resume {
    /// The tenant's newest job that can be resumed (failed, or left
    /// pending or in progress by a process that stopped).
    Newest,
    /// This job.
    Job(JobId),
}

/// The parsed and checked command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    pub source: SourceKind,
    /// With `--source salesforce`: accept a loopback `http://` instance
    /// and login URL (a local emulator or test double).
    pub allow_loopback: bool,
    pub into: TargetKind,
    /// `None`: `$DATABASE_URL`, read when the target opens.
    pub database_url: Option<String>,
    pub tenant: TenantId,
    /// Continue a job instead of starting one (`--into postgres` only).
    pub resume: Option<Resume>,
    /// `None`: all six (for a new job), the job's own (for `--resume`).
    pub objects: Option<Vec<SObject>>,
    /// `None`: changed (for a new job), the job's own (for `--resume`).
    pub mode: Option<WriteMode>,
    /// Read only what changed since the tenant's last import.
    pub sync: bool,
    pub page_size: usize,
    pub once: bool,
    pub errors_csv: Option<PathBuf>,
    /// Say what the import would do, and write nothing.
    pub dry_run: bool,
    pub missing_parents: Option<PathBuf>,
}

impl Args {
    /// The objects a new job imports.
    pub(crate) fn objects(&self) -> Vec<SObject> {
        self.objects
            .clone()
            .unwrap_or_else(|| SObject::SELECTABLE.to_vec())
    }

    /// The write mode of a new job.
    pub(crate) fn mode(&self) -> WriteMode {
        self.mode.unwrap_or(WriteMode::UpdateChanged)
    }
}

/// The flags one by one, as clap reads them. The doc comments are the
/// `--help` text: the first line for `-h`, all of it for `--help`.
#[derive(Debug, Parser)]
#[command(
    name = "salesforce-import",
    version,
    about = "Imports Salesforce data into a CRM, with a progress bar per object and a summary.",
    long_about = "Imports Salesforce data into a CRM, with a progress bar per object and a summary;\n\
                  then runs the same import again to show that a re-run creates nothing new\n\
                  (unless --once).",
    // A flag given twice: the last one counts.
    args_override_self = true
)]
pub(crate) struct Cli {
    /// Where the records come from: fake, files, files=DIR, export=PATH or
    /// salesforce
    ///
    /// fake:        the bundled sample org, served by a fake Salesforce on
    ///              loopback and read over HTTP after the OAuth flow
    /// files[=DIR]: sObject Tree / query-result JSON files: the bundled
    ///              sample org, or the files in DIR (or --dir DIR)
    /// export=PATH: a Salesforce Data Export (Setup > Data Export): the
    ///              .zip as downloaded, the folder it unpacks to, or one
    ///              object's CSV (Account.csv); Data Loader CSVs too
    /// salesforce:  a real org, from the environment: SF_INSTANCE_URL and
    ///              SF_ACCESS_TOKEN (e.g. from `sf org display --json`);
    ///              optional SF_REFRESH_TOKEN with SF_CLIENT_ID (and
    ///              SF_CLIENT_SECRET) to refresh, SF_LOGIN_URL;
    ///              https on Salesforce's domains only (see
    ///              --allow-loopback)
    #[arg(
        long,
        value_name = "SOURCE",
        value_parser = parse_source,
        default_value = "fake",
        verbatim_doc_comment
    )]
    source: SourceKind,

    /// The directory for --source files (the same as --source files=DIR)
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// For testing only: with --source salesforce, accept a loopback URL
    ///
    /// SF_INSTANCE_URL and SF_LOGIN_URL may then be http:// or https://
    /// on `127.0.0.1`, `[::1]` or `localhost`, any port: a local Salesforce
    /// emulator or test double. Off by default: only https on
    /// Salesforce's domains is accepted. Never for a real org.
    #[arg(long, verbatim_doc_comment)]
    allow_loopback: bool,

    /// Where the records go
    #[arg(long, value_name = "TARGET", value_enum, default_value_t = TargetKind::Memory)]
    into: TargetKind,

    /// The database for --into postgres [default: $DATABASE_URL]
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,

    /// The tenant to import into, the same on every run
    ///
    /// The tenant's records, import jobs and Salesforce-to-CRM id map are
    /// kept in PostgreSQL between runs: a second run into the same tenant
    /// rewrites what Salesforce changed since (--mode changed), every record
    /// (--mode update) or none (--mode skip), --sync reads only what
    /// changed, and --resume continues its unfinished job.
    #[arg(
        long,
        value_name = "NAME",
        value_parser = parse_tenant,
        default_value = DEFAULT_TENANT,
        verbatim_doc_comment
    )]
    tenant: TenantId,

    /// Continue the tenant's unfinished job: JOB, or the newest one
    ///
    /// Continues job JOB, or without JOB the tenant's newest job that is
    /// FAILED, or PENDING or IN_PROGRESS left by a process that stopped,
    /// from each object's checkpoint, with the objects and mode it was
    /// started with (--objects and --mode, if given, must match them).
    /// Needs --into postgres (the in-memory store starts empty). No
    /// demonstration re-run after it.
    #[arg(
        long,
        value_name = "JOB",
        num_args = 0..=1,
        value_parser = parse_job,
        verbatim_doc_comment
    )]
    resume: Option<Option<JobId>>,

    /// What to import [default: all six]
    ///
    /// A comma-separated list of Account, Contact, Opportunity, Product,
    /// Order and Quote, in any case; Product means Product2. The companions
    /// come along: PricebookEntry with Product2, OrderItem with Order,
    /// QuoteLineItem with Quote.
    // `::std::vec::Vec`: one value that is a list, not a repeated flag.
    // Verbatim: clap's help is not wrapped, so the lines stay as above.
    #[arg(
        long,
        value_name = "Account,Contact,...",
        value_parser = parse_objects,
        verbatim_doc_comment
    )]
    objects: Option<::std::vec::Vec<SObject>>,

    /// Records imported before: rewrite the changed ones, all, or none [default: changed]
    #[arg(long, value_enum)]
    mode: Option<Mode>,

    /// Sync changes: read only what changed since the tenant's last import
    ///
    /// Each object imported before reads only the records Salesforce
    /// changed since (SystemModstamp, less a 10-minute look-back), deleted
    /// records included, and deletes those in the CRM; an object never
    /// imported is read whole. Needs --into postgres to remember the last
    /// import between runs (in memory, the demonstration re-run is the
    /// sync), and a mode that updates (not --mode skip).
    #[arg(long, verbatim_doc_comment)]
    sync: bool,

    /// Records a page
    #[arg(
        long,
        visible_alias = "batch-size",
        value_name = "N",
        value_parser = positive,
        default_value_t = 50
    )]
    page_size: usize,

    /// No demonstration re-run
    #[arg(long)]
    once: bool,

    /// Write every failed record as CSV (object, salesforce_id, field, message)
    #[arg(long, value_name = "PATH")]
    errors_csv: Option<PathBuf>,

    /// Say what the import would do (per object: create, update, skip,
    /// delete, reject; the first rejections) and write nothing
    ///
    /// Reads the source and the id map as the import would; writes no
    /// record, no id-map entry and no job.
    #[arg(long, verbatim_doc_comment)]
    dry_run: bool,

    /// Write the records that failed for want of a required parent as CSV
    /// (object, sf_id, field, parent_object, parent_id, reason)
    ///
    /// reason: not_selected (the parent's object was not imported),
    /// failed (the parent failed itself), not_found (not in the org).
    #[arg(long, value_name = "PATH", verbatim_doc_comment)]
    missing_parents: Option<PathBuf>,
}

/// `--mode`; the variants' comments are their `--help` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// write Salesforce's current values over those it changed since
    Changed,
    /// write Salesforce's current values over every one
    Update,
    /// leave them as they are, changed or not
    Skip,
}

impl From<Mode> for WriteMode {
    fn from(mode: Mode) -> WriteMode {
        match mode {
            Mode::Skip => WriteMode::SkipExisting,
            Mode::Update => WriteMode::Update,
            Mode::Changed => WriteMode::UpdateChanged,
        }
    }
}

impl Cli {
    /// What the flags mean together.
    pub(crate) fn check(self) -> Result<Args, clap::Error> {
        let conflict = |message: &str| Cli::command().error(ErrorKind::ArgumentConflict, message);
        let source = match (self.source, self.dir) {
            (source, None) => source,
            (SourceKind::Files(None), Some(dir)) => SourceKind::Files(Some(dir)),
            (SourceKind::Files(Some(_)), Some(_)) => {
                return Err(conflict(
                    "--dir and --source files=DIR both name the directory: give one",
                ));
            }
            (SourceKind::Export(_), Some(_)) => {
                return Err(conflict(
                    "--dir goes with --source files: give the export's path as --source export=PATH",
                ));
            }
            (_, Some(_)) => return Err(conflict("--dir goes with --source files")),
        };
        if self.database_url.is_some() && self.into != TargetKind::Postgres {
            return Err(conflict("--database-url goes with --into postgres"));
        }
        if self.allow_loopback && source != SourceKind::Salesforce {
            return Err(conflict(
                "--allow-loopback goes with --source salesforce \
                 (--source fake always listens on loopback)",
            ));
        }
        if self.sync && self.mode == Some(Mode::Skip) {
            return Err(conflict(
                "--sync updates what changed: it cannot go with --mode skip",
            ));
        }
        if self.sync && self.resume.is_some() {
            return Err(conflict(
                "--resume continues a job as it was started: leave out --sync",
            ));
        }
        if self.dry_run && self.resume.is_some() {
            return Err(conflict(
                "--dry-run previews a new import: it cannot go with --resume",
            ));
        }
        if self.dry_run && (self.errors_csv.is_some() || self.missing_parents.is_some()) {
            return Err(conflict(
                "--dry-run writes nothing: --errors-csv and --missing-parents go with an import",
            ));
        }
        if self.resume.is_some() && self.into != TargetKind::Postgres {
            return Err(conflict(
                "--resume goes with --into postgres: the in-memory store starts empty \
                 in every run and has no job to resume",
            ));
        }
        Ok(Args {
            source,
            allow_loopback: self.allow_loopback,
            into: self.into,
            database_url: self.database_url,
            tenant: self.tenant,
            resume: self
                .resume
                .map(|job| job.map_or(Resume::Newest, Resume::Job)),
            objects: self.objects,
            mode: self.mode.map(WriteMode::from),
            sync: self.sync,
            page_size: self.page_size,
            once: self.once,
            errors_csv: self.errors_csv,
            dry_run: self.dry_run,
            missing_parents: self.missing_parents,
        })
    }
}

/// `--source fake|files|files=DIR|export=PATH|salesforce`.
fn parse_source(value: &str) -> Result<SourceKind, String> {
    match value {
        "fake" => Ok(SourceKind::Fake),
        "files" => Ok(SourceKind::Files(None)),
        "salesforce" => Ok(SourceKind::Salesforce),
        "export" | "export=" => Err(
            "export needs the Data Export's path: export=PATH (a .zip, a folder or a .csv)"
                .to_owned(),
        ),
        v => {
            if let Some(path) = v.strip_prefix("export=") {
                return Ok(SourceKind::Export(path.into()));
            }
            v.strip_prefix("files=")
                .filter(|dir| !dir.is_empty())
                .map(|dir| SourceKind::Files(Some(dir.into())))
                .ok_or_else(|| {
                    "expected fake, files, files=DIR, export=PATH or salesforce".to_owned()
                })
        }
    }
}

/// `--tenant NAME`: not empty, no spaces or control characters.
fn parse_tenant(value: &str) -> Result<TenantId, String> {
    if value.is_empty() {
        return Err("a tenant name is needed".to_owned());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("no spaces or control characters in a tenant name".to_owned());
    }
    if value.chars().count() > 200 {
        return Err("at most 200 characters".to_owned());
    }
    Ok(TenantId::new(value))
}

/// `--resume JOB`: a job id as the job store shows it (a number for
/// PostgreSQL; the store says whether it knows it).
fn parse_job(value: &str) -> Result<JobId, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("a job id is needed (or leave the value out: the newest job)".to_owned());
    }
    Ok(JobId::new(value))
}

/// `--page-size N`: a whole number above zero.
fn positive(value: &str) -> Result<usize, String> {
    value
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| "not a positive number".to_owned())
}

/// `Account, contact,Product` → the objects, standard names matched
/// without regard to case, `Product` for `Product2`, duplicates dropped.
/// Other names pass through: the importer says whether it knows them.
pub(crate) fn parse_objects(list: &str) -> Result<Vec<SObject>, String> {
    let mut objects: Vec<SObject> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let object = if name.eq_ignore_ascii_case("product") {
            SObject::PRODUCT2
        } else if let Some(o) = SObject::STANDARD
            .iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(name))
        {
            o.clone()
        } else {
            name.parse::<SObject>().map_err(|e| e.to_string())?
        };
        if !objects.contains(&object) {
            objects.push(object);
        }
    }
    if objects.is_empty() {
        return Err("at least one object is needed".into());
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("salesforce-import").chain(args.iter().copied()))
            .and_then(Cli::check)
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(
            args,
            Args {
                source: SourceKind::Fake,
                allow_loopback: false,
                into: TargetKind::Memory,
                database_url: None,
                tenant: TenantId::new("sample"),
                resume: None,
                objects: None,
                mode: None,
                sync: false,
                page_size: 50,
                once: false,
                errors_csv: None,
                dry_run: false,
                missing_parents: None,
            }
        );
        assert_eq!(args.objects(), SObject::SELECTABLE.to_vec());
        assert_eq!(args.objects().len(), 6);
        assert_eq!(args.mode(), WriteMode::UpdateChanged);
        // The same fixed tenant into PostgreSQL: never a timestamp.
        let args = parse(&["--into", "postgres"]).unwrap();
        assert_eq!(args.tenant, TenantId::new(DEFAULT_TENANT));
        assert_eq!(args.resume, None);
    }

    #[test]
    fn every_flag_parses() {
        let args = parse(&[
            "--source",
            "files",
            "--dir",
            "/tmp/org",
            "--into=postgres",
            "--database-url",
            "postgres://db/x",
            "--tenant",
            "acme-prod",
            "--resume",
            "42",
            "--objects",
            "account, Contact,product,Account",
            "--mode",
            "update",
            "--batch-size=200",
            "--once",
            "--errors-csv",
            "/tmp/e.csv",
        ])
        .unwrap();
        assert_eq!(args.source, SourceKind::Files(Some("/tmp/org".into())));
        assert_eq!(args.into, TargetKind::Postgres);
        assert_eq!(args.database_url.as_deref(), Some("postgres://db/x"));
        assert_eq!(args.tenant, TenantId::new("acme-prod"));
        assert_eq!(args.resume, Some(Resume::Job(JobId::new("42"))));
        assert!(!args.allow_loopback);
        assert_eq!(
            args.objects(),
            [SObject::ACCOUNT, SObject::CONTACT, SObject::PRODUCT2]
        );
        assert_eq!(args.mode, Some(WriteMode::Update));
        assert_eq!(args.mode(), WriteMode::Update);
        assert_eq!(args.page_size, 200);
        assert!(args.once);
        assert_eq!(args.errors_csv, Some(PathBuf::from("/tmp/e.csv")));
        assert!(!args.dry_run);
        let args = parse(&["--dry-run", "--sync"]).unwrap();
        assert!(args.dry_run && args.sync);
        let args = parse(&["--missing-parents", "/tmp/m.csv"]).unwrap();
        assert_eq!(args.missing_parents, Some(PathBuf::from("/tmp/m.csv")));
        for wrong in [
            &["--dry-run", "--into", "postgres", "--resume"][..],
            &["--dry-run", "--errors-csv", "e.csv"],
            &["--dry-run", "--missing-parents", "m.csv"],
        ] {
            let err = parse(wrong).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{wrong:?}");
            assert!(err.to_string().contains("--dry-run"), "{err}");
        }
        let args = parse(&["--sync", "--mode", "changed"]).unwrap();
        assert!(args.sync);
        assert_eq!(args.mode(), WriteMode::UpdateChanged);

        let args = parse(&["--page-size", "7", "--mode=skip", "--into", "postgresql"]).unwrap();
        assert_eq!(args.page_size, 7);
        assert_eq!(args.mode, Some(WriteMode::SkipExisting));
        assert_eq!(args.into, TargetKind::Postgres);
        assert_eq!(args.source, SourceKind::Fake);
    }

    #[test]
    fn files_take_a_directory_inline() {
        let args = parse(&["--source", "files=./org"]).unwrap();
        assert_eq!(args.source, SourceKind::Files(Some("./org".into())));
        let args = parse(&["--source=files=./org"]).unwrap();
        assert_eq!(args.source, SourceKind::Files(Some("./org".into())));
        assert_eq!(
            parse(&["--source", "files"]).unwrap().source,
            SourceKind::Files(None)
        );
        assert_eq!(
            parse(&["--source=salesforce"]).unwrap().source,
            SourceKind::Salesforce
        );
    }

    #[test]
    fn export_takes_a_path_inline() {
        for path in ["./WE_00D.zip", "/data/export", "Account.csv", "a=b.zip"] {
            let args = parse(&["--source", &format!("export={path}")]).unwrap();
            assert_eq!(args.source, SourceKind::Export(path.into()), "{path}");
        }
        assert!(parse(&["--source", "export"]).is_err());
    }

    #[test]
    fn resume_takes_an_optional_job() {
        let resume = |args: &[&str]| parse(args).unwrap().resume;
        assert_eq!(
            resume(&["--into", "postgres", "--resume"]),
            Some(Resume::Newest)
        );
        assert_eq!(
            resume(&["--resume", "--into", "postgres"]),
            Some(Resume::Newest)
        );
        assert_eq!(
            resume(&["--into=postgres", "--resume=17"]),
            Some(Resume::Job(JobId::new("17")))
        );
        assert_eq!(
            resume(&["--into", "postgres", "--resume", " 17 "]),
            Some(Resume::Job(JobId::new("17")))
        );
        let args = parse(&["--into", "postgres", "--resume", "--once", "--tenant=acme"]).unwrap();
        assert_eq!(args.resume, Some(Resume::Newest));
        assert!(args.once);
        assert_eq!(args.tenant, TenantId::new("acme"));
        // Given only when asked: a resumed job keeps its own.
        assert_eq!(args.objects, None);
        assert_eq!(args.mode, None);
    }

    #[test]
    fn tenants_are_names() {
        let tenant = |name: &str| parse(&["--tenant", name]).unwrap().tenant;
        assert_eq!(tenant("acme"), TenantId::new("acme"));
        assert_eq!(
            tenant("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
            TenantId::new("7c9e6679-7425-40de-944b-e07fc1f90ae7")
        );
        assert_eq!(tenant("ACME_eu.1"), TenantId::new("ACME_eu.1"));
    }

    #[test]
    fn loopback_is_allowed_only_for_salesforce() {
        let args = parse(&["--source", "salesforce", "--allow-loopback"]).unwrap();
        assert_eq!(args.source, SourceKind::Salesforce);
        assert!(args.allow_loopback);
        assert!(!parse(&["--source", "salesforce"]).unwrap().allow_loopback);
    }

    #[test]
    fn the_last_of_a_repeated_flag_counts() {
        let args = parse(&[
            "--source",
            "salesforce",
            "--source",
            "fake",
            "--page-size=5",
        ]);
        let args = args.unwrap();
        assert_eq!(args.source, SourceKind::Fake);
        assert_eq!(args.page_size, 5);
    }

    #[test]
    fn mistakes_are_explained() {
        for (args, kind, expected) in [
            (
                &["--page-size", "0"][..],
                ErrorKind::ValueValidation,
                "invalid value '0' for '--page-size <N>': not a positive number",
            ),
            (
                &["--batch-size", "many"],
                ErrorKind::ValueValidation,
                "'--page-size <N>': not a positive number",
            ),
            (
                &["--page-size"],
                ErrorKind::InvalidValue,
                "a value is required for '--page-size <N>'",
            ),
            (
                &["--mode", "merge"],
                ErrorKind::InvalidValue,
                "invalid value 'merge' for '--mode <MODE>'",
            ),
            (
                &["--source", "csv"],
                ErrorKind::ValueValidation,
                "invalid value 'csv' for '--source <SOURCE>': expected fake, files, files=DIR, export=PATH or salesforce",
            ),
            (
                &["--source", "files="],
                ErrorKind::ValueValidation,
                "expected fake, files, files=DIR, export=PATH or salesforce",
            ),
            (
                &["--source", "export="],
                ErrorKind::ValueValidation,
                "export needs the Data Export's path: export=PATH",
            ),
            (
                &["--source", "export=x.zip", "--dir", "b"],
                ErrorKind::ArgumentConflict,
                "--dir goes with --source files: give the export's path as --source export=PATH",
            ),
            (
                &["--into", "mysql"],
                ErrorKind::InvalidValue,
                "invalid value 'mysql' for '--into <TARGET>'",
            ),
            (
                &["--dir", "x"],
                ErrorKind::ArgumentConflict,
                "--dir goes with --source files",
            ),
            (
                &["--source", "files=a", "--dir", "b"],
                ErrorKind::ArgumentConflict,
                "--dir and --source files=DIR both name the directory",
            ),
            (
                &["--database-url", "postgres://x"],
                ErrorKind::ArgumentConflict,
                "--database-url goes with --into postgres",
            ),
            (
                &["--resume"],
                ErrorKind::ArgumentConflict,
                "--resume goes with --into postgres: the in-memory store starts empty",
            ),
            (
                &["--into", "memory", "--resume", "3"],
                ErrorKind::ArgumentConflict,
                "--resume goes with --into postgres",
            ),
            (
                &["--into", "postgres", "--resume="],
                ErrorKind::ValueValidation,
                "'--resume [<JOB>]': a job id is needed",
            ),
            (
                &["--sync", "--mode", "skip"],
                ErrorKind::ArgumentConflict,
                "--sync updates what changed: it cannot go with --mode skip",
            ),
            (
                &["--into", "postgres", "--sync", "--resume"],
                ErrorKind::ArgumentConflict,
                "--resume continues a job as it was started: leave out --sync",
            ),
            (
                &["--allow-loopback"],
                ErrorKind::ArgumentConflict,
                "--allow-loopback goes with --source salesforce",
            ),
            (
                &["--source", "files", "--allow-loopback"],
                ErrorKind::ArgumentConflict,
                "--allow-loopback goes with --source salesforce",
            ),
            (
                &["--source", "salesforce", "--allow-loopback=yes"],
                ErrorKind::TooManyValues,
                "unexpected value 'yes' for '--allow-loopback'",
            ),
            (
                &["--tenant", ""],
                ErrorKind::ValueValidation,
                "invalid value '' for '--tenant <NAME>': a tenant name is needed",
            ),
            (
                &["--tenant", "acme corp"],
                ErrorKind::ValueValidation,
                "no spaces or control characters",
            ),
            (
                &["--tenant"],
                ErrorKind::InvalidValue,
                "a value is required for '--tenant <NAME>'",
            ),
            (
                &["--objects", " , "],
                ErrorKind::ValueValidation,
                "'--objects <Account,Contact,...>': at least one object",
            ),
            (
                &["--objects", "Acc-ount"],
                ErrorKind::ValueValidation,
                "Acc-ount",
            ),
            (
                &["--once=yes"],
                ErrorKind::TooManyValues,
                "unexpected value 'yes' for '--once'",
            ),
            (
                &["--verbose"],
                ErrorKind::UnknownArgument,
                "unexpected argument '--verbose'",
            ),
        ] {
            let err = parse(args).unwrap_err();
            let text = err.to_string();
            assert_eq!(err.kind(), kind, "{args:?}: {text}");
            assert!(text.contains(expected), "{args:?}: {text}");
            assert!(text.contains("--help"), "{args:?}: {text}");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn help_and_version_are_not_errors() {
        for flag in ["--help", "-h"] {
            let err = parse(&[flag]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DisplayHelp, "{flag}");
            assert_eq!(err.exit_code(), 0);
        }
        let err = parse(&["--version"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DisplayVersion);
        assert!(err.to_string().contains(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn help_mentions_every_flag() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "--source <SOURCE>",
            "fake",
            "files=DIR",
            "salesforce",
            "--dir <DIR>",
            "--into <TARGET>",
            "memory",
            "postgres",
            "--database-url <URL>",
            "$DATABASE_URL",
            "--objects <Account,Contact,...>",
            "Product means Product2",
            "--mode <MODE>",
            "skip",
            "update",
            "changed",
            "--sync",
            "--page-size <N>",
            "--batch-size",
            "--once",
            "--errors-csv <PATH>",
            "--tenant <NAME>",
            "[default: sample]",
            "--resume [<JOB>]",
            "FAILED",
            "--allow-loopback",
            "For testing only",
            "127.0.0.1",
            "[default: changed]",
            "-h, --help",
            "-V, --version",
            "[default: 50]",
        ] {
            assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
        }
        for var in [
            "SF_INSTANCE_URL",
            "SF_ACCESS_TOKEN",
            "SF_REFRESH_TOKEN",
            "SF_CLIENT_ID",
            "SF_CLIENT_SECRET",
            "SF_LOGIN_URL",
        ] {
            assert!(help.contains(var), "--help lacks {var}:\n{help}");
        }
        // `-h` is the summary: every flag, not every explanation.
        let short = Cli::command().render_help().to_string();
        for flag in [
            "--source",
            "--dir",
            "--into",
            "--objects",
            "--page-size",
            "--once",
            "--tenant",
            "--resume",
            "--allow-loopback",
        ] {
            assert!(short.contains(flag), "-h lacks {flag}:\n{short}");
        }
    }
}
