//! A worker process of the import queue (feature `apalis`).
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --example worker --features apalis -- [--enqueue-sample TENANT]... [--concurrency N] [--queue NAME]
//! ```
//!
//! Migrates the job store, the reference CRM tables and the queue, queues
//! an import of the bundled sample org for each `--enqueue-sample TENANT`
//! (into `PgCrmSink` / `PgJobStore`), then takes imports off the queue until
//! Ctrl-C. Start several in separate terminals to share the queue: kill one
//! in the middle of an import, and another takes the import over from its
//! last page.

use std::sync::Arc;
use std::time::Duration;

use salesforce_import::postgres::{self, PgCrmSink, PgJobStore};
use salesforce_import::source::PerOrgLimit;
use salesforce_import::workers::{DEFAULT_QUEUE, ImportQueue, Worker};
use salesforce_import::{FileSource, ImportRequest, Importer, JobStore, SObject, TenantId};

struct Args {
    enqueue: Vec<String>,
    concurrency: usize,
    queue: String,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        enqueue: Vec::new(),
        concurrency: 2,
        queue: DEFAULT_QUEUE.to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--enqueue-sample" => args.enqueue.push(value()?),
            "--concurrency" => {
                args.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--queue" => args.queue = value()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args().map_err(|e| {
        format!("{e}\nusage: worker [--enqueue-sample TENANT]... [--concurrency N] [--queue NAME]")
    })?;
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await?;
    postgres::migrate(&pool).await?;
    postgres::migrate_crm(&pool).await?;
    ImportQueue::setup(&pool).await?;
    println!("migrated the job store, the CRM tables and the queue");

    let jobs = Arc::new(PgJobStore::new(pool.clone()));
    // At most 25 concurrent Salesforce requests per org from this process.
    let source = PerOrgLimit::new(Arc::new(FileSource::sample_org()));
    let importer = Arc::new(
        Importer::builder(
            Arc::new(source),
            Arc::new(PgCrmSink::new(pool.clone())),
            jobs.clone(),
        )
        .page_size(50)
        .build()?,
    );

    let queue = ImportQueue::new(pool.clone()).named(&args.queue);
    for tenant in &args.enqueue {
        let tenant = TenantId::new(tenant.as_str());
        let request = ImportRequest::new("worker example", SObject::SELECTABLE);
        match queue.enqueue(&importer, &tenant, request).await {
            Ok(job) => {
                println!(
                    "queued job {} for tenant {tenant} on {}",
                    job.id,
                    queue.name()
                );
                // Report the job's end, whichever process runs it.
                let jobs = jobs.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        match jobs.job(&tenant, &job.id).await {
                            Ok(j) if j.status.is_final() => {
                                println!(
                                    "job {} of {tenant}: {:?}, {} imported, {} skipped, {} failed",
                                    j.id,
                                    j.status,
                                    j.imported(),
                                    j.skipped(),
                                    j.errors()
                                );
                                return;
                            }
                            Ok(_) => {}
                            Err(e) => {
                                println!("reading job {}: {e}", job.id);
                                return;
                            }
                        }
                    }
                });
            }
            Err(e) => println!("not queued for {tenant}: {e}"),
        }
    }

    println!(
        "worker on queue {} with concurrency {}: Ctrl-C to stop",
        queue.name(),
        args.concurrency
    );
    Worker::on(queue, importer)
        .concurrency(args.concurrency)
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
            println!("Ctrl-C: finishing the jobs in hand");
        })
        .await?;
    println!("worker stopped");
    Ok(())
}
