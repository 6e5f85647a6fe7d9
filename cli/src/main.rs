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
//! cargo run -p salesforce-import-cli -- --into postgres --database-url postgres://... --tenant acme --once
//! cargo run -p salesforce-import-cli -- --into postgres --tenant acme --resume   # after a stopped run
//! cargo run -p salesforce-import-cli -- --source salesforce --errors-csv errors.csv   # SF_* in the environment
//! ```

mod args;
mod report;
mod source;
mod target;

use std::collections::BTreeSet;
use std::process::ExitCode;

use clap::Parser;
use salesforce_import::{
    Error, ImportRequest, Importer, Job, JobStatus, JobStore, SObject, TenantId, WriteMode,
};

use crate::args::{Args, Cli, Resume, TargetKind};
use crate::report::{
    describe_resume, error_log, import_with_progress, print_log, print_summary,
    resume_with_progress,
};
use crate::source::Source;
use crate::target::Target;

#[tokio::main]
async fn main() -> ExitCode {
    // Usage mistakes exit with code 2; --help and --version with 0.
    let args = Cli::parse().check().unwrap_or_else(|e| e.exit());
    let resuming = args.resume.is_some();
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            if let Some(hint) = hint(&e, resuming) {
                eprintln!("{hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// What to do about `e`, when there is something to say.
fn hint(e: &Error, resuming: bool) -> Option<String> {
    match e {
        Error::ImportAlreadyRunning { job, .. } if resuming => Some(format!(
            "Job {job} is held by another import process that is still running (or \
             whose lease has not expired yet). Wait for it to finish, or for its lease \
             to expire if that process was stopped, then run with --resume again."
        )),
        Error::ImportAlreadyRunning { job, .. } => Some(format!(
            "One import at a time per tenant. If the process running job {job} was \
             stopped (killed, crashed), continue that job with --resume {job} instead \
             of starting a new one; or import into another --tenant."
        )),
        _ => None,
    }
}

/// Why there is no job to resume, or what a resumed job would not do.
struct Refusal(String);

async fn run(args: Args) -> salesforce_import::Result<ExitCode> {
    let target = Target::open(&args).await?;
    let tenant = &target.tenant;
    // The job to continue, found before the source opens (an OAuth flow,
    // a fake org started for nothing otherwise).
    let resumed = match &args.resume {
        None => None,
        Some(which) => match job_to_resume(target.jobs.as_ref(), tenant, which).await? {
            Ok(job) => Some(job),
            Err(Refusal(message)) => {
                eprintln!("error: {message}");
                return Ok(ExitCode::FAILURE);
            }
        },
    };
    let source = Source::open(&args.source, args.allow_loopback, tenant).await?;
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
    let request = ImportRequest::new("sample@example.com", args.objects())
        .mode(args.mode())
        .sync(args.sync);

    if args.dry_run {
        println!(
            "What importing {} into {} (tenant {tenant}) would do{}:\n",
            source.description,
            target.name,
            if args.sync { ", syncing" } else { "" }
        );
        let preview = importer.preview(tenant, &request, 20).await?;
        report::print_preview(&preview);
        return Ok(ExitCode::SUCCESS);
    }

    let before = target.count_all().await?;
    let job = match &resumed {
        Some(job) => {
            if let Err(Refusal(message)) = same_objects_and_mode(&importer, &args, job) {
                eprintln!("error: {message}");
                return Ok(ExitCode::from(2));
            }
            resume_with_progress(&importer, job, || {
                println!("{}", describe_resume(job));
                println!(
                    "Reading {} into {}, {} records a page.\n",
                    source.description, target.name, args.page_size
                );
            })
            .await?
        }
        None => {
            println!(
                "Importing {} into {} (tenant {tenant}), {} records a page{}.\n",
                source.description,
                target.name,
                args.page_size,
                match (args.sync, args.mode()) {
                    (true, _) => ", syncing what changed since the last import",
                    (_, WriteMode::Update) => ", updating every record imported before",
                    (_, WriteMode::SkipExisting) => ", skipping records imported before",
                    _ => "",
                }
            );
            import_with_progress(&importer, tenant, request.clone()).await?
        }
    };
    print_summary(&job, resumed.is_some());
    let after = target.count_all().await?;
    print_new_records(tenant, before, after, &job, resumed.is_none());
    let log = error_log(target.jobs.as_ref(), &job).await?;
    print_log(&log);
    if let Some(path) = &args.errors_csv {
        let rows = report::write_errors_csv_file(path, &log)?;
        println!("\n{rows} failed records written to {}.", path.display());
    }
    let missing = importer.missing_parents(tenant, &job.id).await?;
    match &args.missing_parents {
        Some(path) => {
            report::write_missing_parents_file(path, &missing)?;
            println!(
                "\n{} records whose required parent was missing written to {}.",
                missing.records(),
                path.display()
            );
        }
        None if !missing.is_empty() => println!(
            "\n{} records failed because a required parent was missing \
             (--missing-parents FILE lists them with the parent and why).",
            missing.records()
        ),
        None => {}
    }
    let mut failed = matches!(job.status, JobStatus::Failed | JobStatus::Cancelled);
    if job.status == JobStatus::Failed && args.into == TargetKind::Postgres {
        println!(
            "\nThe job stopped; continue it from its checkpoints with \
             --into postgres --tenant {tenant} --resume {}.",
            job.id
        );
    }

    // A resume is the continuation of a run, not a demonstration.
    if !args.once && !failed && resumed.is_none() {
        println!(
            "\nRunning the same import again into the same store: records Salesforce \
             changed since are rewritten, the others skipped (records without a \
             SystemModstamp, as in files, count as changed)...\n"
        );
        let before = target.count_all().await?;
        let again = import_with_progress(&importer, tenant, request).await?;
        print_summary(&again, false);
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

/// "Records in the CRM (tenant acme): 473 before this run, 473 after: 0
/// new." `counts_are_this_runs`: the job's counts are this run's alone
/// (not a resumed job's, which include earlier runs), so that the records
/// written over can be told from the new ones.
fn print_new_records(
    tenant: &TenantId,
    before: u64,
    after: u64,
    job: &Job,
    counts_are_this_runs: bool,
) {
    let new = after.saturating_sub(before);
    let mut changes = String::new();
    if counts_are_this_runs {
        changes.push_str(&format!(", {} updated", job.updated()));
        if job.deleted() > 0 {
            changes.push_str(&format!(", {} deleted", job.deleted()));
        }
    }
    println!(
        "\nRecords in the CRM (tenant {tenant}): {before} before this run, {after} after: \
         {new} new{changes}, {} skipped.",
        job.skipped()
    );
}

/// `--resume JOB` or `--resume`: the job, or why there is none to resume.
async fn job_to_resume(
    jobs: &dyn JobStore,
    tenant: &TenantId,
    which: &Resume,
) -> salesforce_import::Result<Result<Job, Refusal>> {
    let resumable = |s: JobStatus| matches!(s, JobStatus::Failed) || s.is_running();
    match which {
        Resume::Job(id) => {
            let job = jobs.job(tenant, id).await?;
            Ok(if resumable(job.status) {
                Ok(job)
            } else {
                Err(Refusal(format!(
                    "job {id} of tenant {tenant} is {}: nothing to resume (only a FAILED \
                     job, or one left PENDING or IN_PROGRESS by a process that stopped, \
                     can be resumed)",
                    job.status
                )))
            })
        }
        Resume::Newest => {
            let history = jobs.history(tenant, 100).await?;
            Ok(match history.iter().find(|j| resumable(j.status)) {
                Some(job) => Ok(job.clone()),
                None => Err(Refusal(match history.first() {
                    None => format!(
                        "nothing to resume: tenant {tenant} has no import job; \
                         run without --resume to start one"
                    ),
                    Some(newest) => format!(
                        "nothing to resume: tenant {tenant} has no FAILED, PENDING or \
                         IN_PROGRESS job (its newest, job {}, is {}); run without \
                         --resume to start a new import",
                        newest.id, newest.status
                    ),
                })),
            })
        }
    }
}

/// A resumed job imports the objects and uses the mode it was created
/// with: `--objects` and `--mode`, when given, must say the same.
fn same_objects_and_mode(importer: &Importer, args: &Args, job: &Job) -> Result<(), Refusal> {
    let objects: BTreeSet<String> = job.objects.iter().map(|o| o.object.to_string()).collect();
    let asked = match &args.objects {
        Some(list) => {
            let plan: Vec<SObject> = importer.plan(list).map_err(|e| Refusal(e.to_string()))?;
            Some(
                plan.iter()
                    .map(ToString::to_string)
                    .collect::<BTreeSet<_>>(),
            )
        }
        None => None,
    };
    let other_objects = asked.is_some_and(|asked| asked != objects);
    let other_mode = args.mode.is_some_and(|mode| mode != job.mode);
    if !other_objects && !other_mode {
        return Ok(());
    }
    let mode = report::mode_flag(job.mode);
    Err(Refusal(format!(
        "job {} imports {} with --mode {mode}, and a resumed job keeps its objects and \
         mode: leave out {}, or run without --resume to start a new import",
        job.id,
        job.objects
            .iter()
            .map(|o| o.object.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        match (other_objects, other_mode) {
            (true, true) => "--objects and --mode",
            (true, false) => "--objects",
            _ => "--mode",
        }
    )))
}
