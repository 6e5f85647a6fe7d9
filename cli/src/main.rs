//! Imports Salesforce data into a CRM from the command line, with a
//! progress bar per object, a summary table and the error log; then runs
//! the same import again to show that a re-run creates nothing new.
//!
//! By default the bundled sample org is served by a fake Salesforce on
//! loopback, connected through the OAuth flow and read through the REST
//! source, into the in-memory CRM. `--help` lists the options.
//!
//! ```text
//! cargo run -p salesforce-import-cli                   # everything, over HTTP
//! cargo run -p salesforce-import-cli -- --source files --page-size 25 --objects Account,Contact --once
//! cargo run -p salesforce-import-cli -- --into postgres --database-url postgres://... --once
//! cargo run -p salesforce-import-cli -- --source salesforce --errors-csv errors.csv   # SF_* in the environment
//! ```

mod args;
mod report;
mod source;
mod target;

use std::process::ExitCode;

use clap::Parser;
use salesforce_import::{ImportRequest, Importer, JobStatus, WriteMode};

use crate::args::{Args, Cli};
use crate::report::{error_log, import_with_progress, print_log, print_summary};
use crate::source::Source;
use crate::target::Target;

#[tokio::main]
async fn main() -> ExitCode {
    // Usage mistakes exit with code 2; --help and --version with 0.
    let args = Cli::parse().check().unwrap_or_else(|e| e.exit());
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> salesforce_import::Result<ExitCode> {
    let target = Target::open(&args).await?;
    let tenant = &target.tenant;
    let source = Source::open(&args.source, tenant).await?;
    let mut builder = Importer::builder(
        source.source.clone(),
        target.sink.clone(),
        target.jobs.clone(),
    )
    .page_size(args.page_size);
    if let Some(vault) = &source.vault {
        builder = builder.vault(vault.clone());
    }
    let importer = builder.build()?;
    let request =
        ImportRequest::new("sample@example.com", args.objects.iter().cloned()).mode(args.mode);

    println!(
        "Importing {} into {}, {} records a page{}.\n",
        source.description,
        target.name,
        args.page_size,
        match args.mode {
            WriteMode::Update => ", updating records imported before",
            _ => "",
        }
    );
    let job = import_with_progress(&importer, tenant, request.clone()).await?;
    print_summary(&job);
    let log = error_log(target.jobs.as_ref(), &job).await?;
    print_log(&log);
    if let Some(path) = &args.errors_csv {
        let rows = report::write_errors_csv_file(path, &log)?;
        println!("\n{rows} failed records written to {}.", path.display());
    }
    let mut failed = matches!(job.status, JobStatus::Failed | JobStatus::Cancelled);

    if !args.once && !failed {
        println!("\nRunning the same import again into the same store...\n");
        let before = target.count_all().await?;
        let again = import_with_progress(&importer, tenant, request).await?;
        print_summary(&again);
        let after = target.count_all().await?;
        println!(
            "\nRecords in the CRM: {before} before the re-run, {after} after: {} new.",
            after.saturating_sub(before)
        );
        failed = matches!(again.status, JobStatus::Failed | JobStatus::Cancelled);
    }
    target.print_counts().await?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
