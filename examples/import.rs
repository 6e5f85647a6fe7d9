//! Imports the bundled sample org into the in-memory CRM, with a progress
//! bar per object and a summary; then runs the same import again to show
//! that a re-run creates nothing new.
//!
//! ```text
//! cargo run --example import                      # everything
//! cargo run --example import -- --page-size 25 --objects Account,Contact --once
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use salesforce_import::{
    FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink, Job, JobStore,
    ProgressEvent, SObject, Severity, TenantId,
};

/// Where the records come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    /// A fake Salesforce org on loopback, through the REST source (needs
    /// the `testkit` feature).
    Fake,
    /// The bundled files, read directly.
    Files,
}

struct Args {
    source: SourceKind,
    page_size: usize,
    objects: Vec<SObject>,
    once: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        source: if cfg!(feature = "testkit") {
            SourceKind::Fake
        } else {
            SourceKind::Files
        },
        page_size: 50,
        objects: SObject::SELECTABLE.to_vec(),
        once: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--page-size" => {
                let v = it.next().ok_or("--page-size needs a number")?;
                args.page_size = v.parse().map_err(|_| format!("not a page size: {v}"))?;
            }
            "--objects" => {
                let v = it.next().ok_or("--objects needs a comma-separated list")?;
                args.objects = v
                    .split(',')
                    .map(|s| s.trim().parse::<SObject>().map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?;
            }
            "--once" => args.once = true,
            "--source" => {
                args.source = match it.next().as_deref() {
                    Some("fake") if cfg!(feature = "testkit") => SourceKind::Fake,
                    Some("fake") => return Err("--source fake needs --features testkit".into()),
                    Some("files") => SourceKind::Files,
                    other => return Err(format!("--source fake|files, not {other:?}")),
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: import [--source fake|files] [--page-size N] [--objects Account,Contact,...] [--once]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("error: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            eprintln!("  caused by: {s}");
            source = s.source();
        }
        std::process::exit(1);
    }
}

async fn run(args: Args) -> salesforce_import::Result<()> {
    let source = Arc::new(FileSource::sample_org());
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let importer = Importer::builder(source.clone(), sink.clone(), jobs.clone())
        .page_size(args.page_size)
        .build()?;
    let tenant = TenantId::new("sample-tenant");

    println!(
        "Importing the bundled sample org ({} records) into the in-memory CRM, {} records a page.\n",
        SObject::STANDARD
            .iter()
            .map(|o| source.count(o))
            .sum::<usize>(),
        args.page_size
    );
    let job = import_with_progress(&importer, &tenant, &args.objects).await?;
    print_summary(&job);
    print_log(jobs.as_ref(), &job).await?;

    if !args.once {
        println!("\nRunning the same import again into the same store...\n");
        let before: usize = SObject::STANDARD
            .iter()
            .map(|o| sink.count(&tenant, o))
            .sum();
        let again = import_with_progress(&importer, &tenant, &args.objects).await?;
        print_summary(&again);
        let after: usize = SObject::STANDARD
            .iter()
            .map(|o| sink.count(&tenant, o))
            .sum();
        println!(
            "\nRecords in the CRM: {before} before the re-run, {after} after: {} new.",
            after - before
        );
    }
    Ok(())
}

async fn import_with_progress(
    importer: &Importer,
    tenant: &TenantId,
    objects: &[SObject],
) -> salesforce_import::Result<Job> {
    let plan = importer.plan(objects)?;
    let multi = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{prefix:>15} [{bar:30.cyan/blue}] {pos:>4}/{len:4} {msg}")
            .expect("the template is valid")
            .progress_chars("=> ");
    let bars: HashMap<SObject, ProgressBar> = plan
        .iter()
        .map(|o| {
            let bar = multi.add(ProgressBar::new(0).with_style(style.clone()));
            bar.set_prefix(o.to_string());
            bar.set_message("waiting");
            (o.clone(), bar)
        })
        .collect();

    let mut handle = importer
        .start(
            tenant,
            ImportRequest::new("sample@example.com", objects.iter().cloned()),
        )
        .await?;
    let mut events = handle.events();
    while let Some(event) = events.next().await {
        match event {
            ProgressEvent::ObjectStarted { object } => {
                bars[&object].set_message("importing");
                bars[&object].enable_steady_tick(Duration::from_millis(120));
            }
            ProgressEvent::Page { progress } => {
                let bar = &bars[&progress.object];
                bar.set_length(progress.total.unwrap_or(progress.processed()));
                bar.set_position(progress.processed());
                bar.set_message(format!(
                    "{} imported, {} skipped, {} errors",
                    progress.imported, progress.skipped, progress.errors
                ));
            }
            ProgressEvent::ObjectFinished { progress } => {
                bars[&progress.object].finish_with_message(format!(
                    "{:?}: {} imported, {} skipped, {} errors",
                    progress.state, progress.imported, progress.skipped, progress.errors
                ));
            }
            _ => {}
        }
    }
    handle.wait().await
}

fn print_summary(job: &Job) {
    println!(
        "\nJob {} ({}) started by {}",
        job.id, job.status, job.started_by
    );
    println!(
        "{:<16} {:>8} {:>9} {:>8} {:>7} {:>9}",
        "object", "in org", "imported", "skipped", "errors", "warnings"
    );
    for p in &job.objects {
        println!(
            "{:<16} {:>8} {:>9} {:>8} {:>7} {:>9}",
            p.object.to_string(),
            p.total.map_or("?".to_owned(), |t| t.to_string()),
            p.imported,
            p.skipped,
            p.errors,
            p.warnings
        );
    }
    println!(
        "{:<16} {:>8} {:>9} {:>8} {:>7}",
        "total",
        job.total(),
        job.imported(),
        job.skipped(),
        job.errors()
    );
    if let Some(message) = &job.message {
        println!("{message}");
    }
}

async fn print_log(jobs: &dyn JobStore, job: &Job) -> salesforce_import::Result<()> {
    let log = jobs.error_log(&job.tenant, &job.id, 0, 1_000).await?;
    if log.is_empty() {
        return Ok(());
    }
    println!("\nError log:");
    for entry in log {
        let tag = match entry.severity {
            Severity::Error => "error  ",
            _ => "warning",
        };
        println!("  {tag} {entry}");
    }
    Ok(())
}
