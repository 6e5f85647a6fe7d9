//! The command line: flags, their defaults and `--help`.

use std::path::PathBuf;

use salesforce_import::{SObject, WriteMode};

pub(crate) const HELP: &str = "\
Imports Salesforce data into a CRM, with a progress bar per object and a summary.

usage: import [OPTIONS]

  --source fake|files|salesforce   where the records come from (default fake):
        fake        the bundled sample org, served by a fake Salesforce on
                    loopback and read over HTTP after the OAuth flow
        files[=DIR] sObject Tree / query-result JSON files (default: the
                    bundled sample org); or --dir DIR
        salesforce  a real org, from the environment: SF_INSTANCE_URL and
                    SF_ACCESS_TOKEN (e.g. from `sf org display --json`);
                    optional SF_REFRESH_TOKEN with SF_CLIENT_ID (and
                    SF_CLIENT_SECRET) to refresh, SF_LOGIN_URL
  --dir DIR                        the directory for --source files
  --into memory|postgres           where the records go (default memory)
  --database-url URL               for --into postgres (default $DATABASE_URL)
  --objects Account,Contact,...    what to import (default all six; Product
                                   means Product2; companions come along)
  --mode skip|update               records imported before: skip (default)
                                   or update them
  --page-size N, --batch-size N    records a page (default 50)
  --once                           no demonstration re-run
  --errors-csv PATH                write every failed record as CSV
                                   (object, salesforce_id, field, message)
  -h, --help                       this text
";

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKind {
    Memory,
    Postgres,
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    pub source: SourceKind,
    pub into: TargetKind,
    pub database_url: Option<String>,
    pub objects: Vec<SObject>,
    pub mode: WriteMode,
    pub page_size: usize,
    pub once: bool,
    pub errors_csv: Option<PathBuf>,
    pub help: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            source: SourceKind::Fake,
            into: TargetKind::Memory,
            database_url: None,
            objects: SObject::SELECTABLE.to_vec(),
            mode: WriteMode::SkipExisting,
            page_size: 50,
            once: false,
            errors_csv: None,
            help: false,
        }
    }
}

impl Args {
    /// Parses the arguments after the program name. Long options take
    /// their value as the next argument or after `=`.
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut out = Args::default();
        let mut dir = None;
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg, None),
            };
            let mut value = |what: &str| {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{flag} needs {what}"))
            };
            match flag.as_str() {
                "--source" => {
                    out.source = match value("fake, files or salesforce")?.as_str() {
                        "fake" => SourceKind::Fake,
                        "files" => SourceKind::Files(None),
                        "salesforce" => SourceKind::Salesforce,
                        v => match v.strip_prefix("files=") {
                            Some(d) if !d.is_empty() => SourceKind::Files(Some(d.into())),
                            _ => return Err(format!("--source fake|files|salesforce, not {v:?}")),
                        },
                    }
                }
                "--dir" => dir = Some(PathBuf::from(value("a directory")?)),
                "--into" => {
                    out.into = match value("memory or postgres")?.as_str() {
                        "memory" => TargetKind::Memory,
                        "postgres" | "postgresql" => TargetKind::Postgres,
                        v => return Err(format!("--into memory|postgres, not {v:?}")),
                    }
                }
                "--database-url" => out.database_url = Some(value("a URL")?),
                "--objects" => out.objects = parse_objects(&value("a list: Account,Contact")?)?,
                "--mode" => {
                    out.mode = match value("skip or update")?.as_str() {
                        "skip" => WriteMode::SkipExisting,
                        "update" => WriteMode::Update,
                        v => return Err(format!("--mode skip|update, not {v:?}")),
                    }
                }
                "--page-size" | "--batch-size" => {
                    let v = value("a number")?;
                    out.page_size = v
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("{flag}: not a positive number: {v:?}"))?;
                }
                "--errors-csv" => out.errors_csv = Some(PathBuf::from(value("a file path")?)),
                "--once" if inline.is_none() => out.once = true,
                "-h" | "--help" => out.help = true,
                other => return Err(format!("unknown argument {other:?} (try --help)")),
            }
        }
        if let Some(dir) = dir {
            match out.source {
                SourceKind::Files(None) => out.source = SourceKind::Files(Some(dir)),
                _ => return Err("--dir goes with --source files".into()),
            }
        }
        if out.database_url.is_some() && out.into != TargetKind::Postgres {
            return Err("--database-url goes with --into postgres".into());
        }
        Ok(out)
    }
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
        return Err("--objects needs at least one object".into());
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(args, Args::default());
        assert_eq!(args.source, SourceKind::Fake);
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
    }

    #[test]
    fn files_take_a_directory_inline() {
        let args = parse(&["--source", "files=./org"]).unwrap();
        assert_eq!(args.source, SourceKind::Files(Some("./org".into())));
        let args = parse(&["--source=files=./org"]).unwrap();
        assert_eq!(args.source, SourceKind::Files(Some("./org".into())));
        assert_eq!(
            parse(&["--source=salesforce"]).unwrap().source,
            SourceKind::Salesforce
        );
    }

    #[test]
    fn mistakes_are_explained() {
        for (args, expected) in [
            (&["--page-size", "0"][..], "not a positive number"),
            (&["--page-size"], "--page-size needs a number"),
            (&["--mode", "merge"], "--mode skip|update"),
            (&["--source", "csv"], "--source fake|files|salesforce"),
            (&["--into", "mysql"], "--into memory|postgres"),
            (&["--dir", "x"], "--dir goes with --source files"),
            (
                &["--database-url", "postgres://x"],
                "goes with --into postgres",
            ),
            (&["--objects", " , "], "at least one object"),
            (&["--objects", "Acc-ount"], "Acc-ount"),
            (&["--once=yes"], "unknown argument"),
            (&["--verbose"], "unknown argument \"--verbose\""),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn help_is_a_flag_not_an_exit() {
        assert!(parse(&["--help"]).unwrap().help);
        assert!(parse(&["-h"]).unwrap().help);
    }
}
