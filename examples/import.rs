//! Imports the bundled sample org into the in-memory CRM, with a progress
//! bar per object and a summary; then runs the same import again to show
//! that a re-run creates nothing new.
//!
//! ```text
//! cargo run --example import                      # everything
//! cargo run --example import -- --page-size 25 --objects Account,Contact --once
//! # into PostgreSQL (DATABASE_URL or --database-url), counts read back from it:
//! cargo run --example import --features postgres -- --into postgres
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use salesforce_import::{
    CrmSink, FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink, Job, JobStore,
    ProgressEvent, SObject, Severity, TenantId,
};

struct Args {
    page_size: usize,
    objects: Vec<SObject>,
    once: bool,
    into: String,
    database_url: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        page_size: 50,
        objects: SObject::SELECTABLE.to_vec(),
        once: false,
        into: "memory".to_owned(),
        database_url: std::env::var("DATABASE_URL").ok(),
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
            "--into" => args.into = it.next().ok_or("--into needs memory or postgres")?,
            "--database-url" => {
                args.database_url = Some(it.next().ok_or("--database-url needs a URL")?)
            }
            "-h" | "--help" => {
                println!(
                    "usage: import [--page-size N] [--objects Account,Contact,...] [--once] \
                     [--into memory|postgres] [--database-url URL]"
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
    let target = Target::open(&args).await?;
    let (sink, jobs) = (target.sink.clone(), target.jobs.clone());
    let importer = Importer::builder(source.clone(), sink.clone(), jobs.clone())
        .page_size(args.page_size)
        .build()?;
    let tenant = target.tenant.clone();

    println!(
        "Importing the bundled sample org ({} records) into {}, {} records a page.\n",
        target.name,
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
        let before = target.count_all().await?;
        let again = import_with_progress(&importer, &tenant, &args.objects).await?;
        print_summary(&again);
        let after = target.count_all().await?;
        println!(
            "\nRecords in the CRM: {before} before the re-run, {after} after: {} new.",
            after - before
        );
    }
    target.print_counts().await
}

/// Where the import goes: the in-memory CRM, or PostgreSQL (the reference
/// CRM schema and the job store, migrated first; a fresh tenant per run).
struct Target {
    name: &'static str,
    tenant: TenantId,
    sink: Arc<dyn CrmSink>,
    jobs: Arc<dyn JobStore>,
    memory: Option<Arc<InMemorySink>>,
    #[cfg(feature = "postgres")]
    postgres: Option<Arc<salesforce_import::postgres::PgCrmSink>>,
}

impl Target {
    async fn open(args: &Args) -> salesforce_import::Result<Target> {
        match args.into.as_str() {
            "memory" => {
                let sink = Arc::new(InMemorySink::new());
                Ok(Target {
                    name: "the in-memory CRM",
                    tenant: TenantId::new("sample-tenant"),
                    sink: sink.clone(),
                    jobs: Arc::new(InMemoryJobStore::new()),
                    memory: Some(sink),
                    #[cfg(feature = "postgres")]
                    postgres: None,
                })
            }
            #[cfg(feature = "postgres")]
            "postgres" => {
                use salesforce_import::postgres::{self, PgCrmSink, PgJobStore};
                let url = args.database_url.as_deref().ok_or_else(|| {
                    salesforce_import::Error::config(
                        "--into postgres needs DATABASE_URL or --database-url",
                    )
                })?;
                let pool = sqlx::PgPool::connect(url)
                    .await
                    .map_err(|e| salesforce_import::Error::store("postgres", "connecting", e))?;
                postgres::migrate(&pool).await?;
                postgres::migrate_crm(&pool).await?;
                let sink = Arc::new(PgCrmSink::new(pool.clone()));
                let started = chrono::Utc::now().format("%Y%m%d-%H%M%S%.3f");
                Ok(Target {
                    name: "PostgreSQL",
                    tenant: TenantId::new(format!("sample-{started}")),
                    sink: sink.clone(),
                    jobs: Arc::new(PgJobStore::new(pool)),
                    memory: None,
                    postgres: Some(sink),
                })
            }
            #[cfg(not(feature = "postgres"))]
            "postgres" => Err(salesforce_import::Error::config(
                "--into postgres needs the example built with --features postgres",
            )),
            other => Err(salesforce_import::Error::config(format!(
                "--into {other}: expected memory or postgres"
            ))),
        }
    }

    /// Records of `object` in the CRM, as the CRM itself counts them.
    async fn count(&self, object: &SObject) -> salesforce_import::Result<u64> {
        if let Some(m) = &self.memory {
            return Ok(m.count(&self.tenant, object) as u64);
        }
        #[cfg(feature = "postgres")]
        if let Some(pg) = &self.postgres {
            return Ok(pg.count(&self.tenant, object).await?.unwrap_or(0));
        }
        Ok(0)
    }

    async fn count_all(&self) -> salesforce_import::Result<u64> {
        let mut n = 0;
        for o in &SObject::STANDARD {
            n += self.count(o).await?;
        }
        Ok(n)
    }

    async fn print_counts(&self) -> salesforce_import::Result<()> {
        println!("\nRead back from {} (tenant {}):", self.name, self.tenant);
        for o in &SObject::STANDARD {
            println!("  {:<16} {:>5}", o.to_string(), self.count(o).await?);
        }
        Ok(())
    }
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
