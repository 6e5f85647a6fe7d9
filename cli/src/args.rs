//! The command line: flags, their defaults and `--help`, read by clap.
//!
//! [`Cli`] is what clap derives and reads flag by flag; [`Args`] is what the
//! flags mean together (`--dir` folded into `--source files`, `--database-url`
//! only with `--into postgres`), and is what the rest of the command uses.
//! [`Cli::check`] reports a bad combination as a clap error (exit code 2).

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use salesforce_import::{SObject, WriteMode};

/// Where the records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// The sample org on a fake Salesforce over loopback HTTP.
    Fake,
    /// Files from a directory, or the bundled sample org.
    Files(Option<PathBuf>),
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
                first; a fresh tenant per run"
    )]
    Postgres,
}

/// The parsed and checked command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    pub source: SourceKind,
    pub into: TargetKind,
    /// `None`: `$DATABASE_URL`, read when the target opens.
    pub database_url: Option<String>,
    pub objects: Vec<SObject>,
    pub mode: WriteMode,
    pub page_size: usize,
    pub once: bool,
    pub errors_csv: Option<PathBuf>,
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
    /// Where the records come from: fake, files, files=DIR or salesforce
    ///
    /// fake:        the bundled sample org, served by a fake Salesforce on
    ///              loopback and read over HTTP after the OAuth flow
    /// files[=DIR]: sObject Tree / query-result JSON files: the bundled
    ///              sample org, or the files in DIR (or --dir DIR)
    /// salesforce:  a real org, from the environment: SF_INSTANCE_URL and
    ///              SF_ACCESS_TOKEN (e.g. from `sf org display --json`);
    ///              optional SF_REFRESH_TOKEN with SF_CLIENT_ID (and
    ///              SF_CLIENT_SECRET) to refresh, SF_LOGIN_URL
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

    /// Where the records go
    #[arg(long, value_name = "TARGET", value_enum, default_value_t = TargetKind::Memory)]
    into: TargetKind,

    /// The database for --into postgres [default: $DATABASE_URL]
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,

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

    /// Records imported before: skip them or update them
    #[arg(long, value_enum, default_value_t = Mode::Skip)]
    mode: Mode,

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
}

/// `--mode`; the variants' comments are their `--help` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// leave them as they are
    Skip,
    /// write Salesforce's current values over them
    Update,
}

impl From<Mode> for WriteMode {
    fn from(mode: Mode) -> WriteMode {
        match mode {
            Mode::Skip => WriteMode::SkipExisting,
            Mode::Update => WriteMode::Update,
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
            (_, Some(_)) => return Err(conflict("--dir goes with --source files")),
        };
        if self.database_url.is_some() && self.into != TargetKind::Postgres {
            return Err(conflict("--database-url goes with --into postgres"));
        }
        Ok(Args {
            source,
            into: self.into,
            database_url: self.database_url,
            objects: self.objects.unwrap_or_else(|| SObject::SELECTABLE.to_vec()),
            mode: self.mode.into(),
            page_size: self.page_size,
            once: self.once,
            errors_csv: self.errors_csv,
        })
    }
}

/// `--source fake|files|files=DIR|salesforce`.
fn parse_source(value: &str) -> Result<SourceKind, String> {
    match value {
        "fake" => Ok(SourceKind::Fake),
        "files" => Ok(SourceKind::Files(None)),
        "salesforce" => Ok(SourceKind::Salesforce),
        v => v
            .strip_prefix("files=")
            .filter(|dir| !dir.is_empty())
            .map(|dir| SourceKind::Files(Some(dir.into())))
            .ok_or_else(|| "expected fake, files, files=DIR or salesforce".to_owned()),
    }
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
                into: TargetKind::Memory,
                database_url: None,
                objects: SObject::SELECTABLE.to_vec(),
                mode: WriteMode::SkipExisting,
                page_size: 50,
                once: false,
                errors_csv: None,
            }
        );
        assert_eq!(args.objects.len(), 6);
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
        assert_eq!(
            args.objects,
            [SObject::ACCOUNT, SObject::CONTACT, SObject::PRODUCT2]
        );
        assert_eq!(args.mode, WriteMode::Update);
        assert_eq!(args.page_size, 200);
        assert!(args.once);
        assert_eq!(args.errors_csv, Some(PathBuf::from("/tmp/e.csv")));

        let args = parse(&["--page-size", "7", "--mode=skip", "--into", "postgresql"]).unwrap();
        assert_eq!(args.page_size, 7);
        assert_eq!(args.mode, WriteMode::SkipExisting);
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
                "invalid value 'csv' for '--source <SOURCE>': expected fake, files, files=DIR or salesforce",
            ),
            (
                &["--source", "files="],
                ErrorKind::ValueValidation,
                "expected fake, files, files=DIR or salesforce",
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
            "--page-size <N>",
            "--batch-size",
            "--once",
            "--errors-csv <PATH>",
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
        ] {
            assert!(short.contains(flag), "-h lacks {flag}:\n{short}");
        }
    }
}
