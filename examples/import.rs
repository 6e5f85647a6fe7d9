//! Imports the bundled sample org into the in-memory CRM, with a progress
//! bar per object and a summary; then runs the same import again to show
//! that a re-run creates nothing new.
//!
//! With the `testkit` feature the org is served by a fake Salesforce on
//! loopback, connected through the OAuth flow and read through the REST
//! source; `--source files` (or no `testkit`) reads the files directly.
//!
//! ```text
//! cargo run --example import --features testkit   # everything, over HTTP
//! cargo run --example import -- --source files --page-size 25 --objects Account,Contact --once
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use salesforce_import::{
    FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink, Job, JobStore,
    ProgressEvent, SObject, SalesforceSource, Severity, TenantId, TokenVault,
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
    let tenant = TenantId::new("sample-tenant");
    let source = build_source(args.source, &tenant).await?;
    let sink = Arc::new(InMemorySink::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let mut builder = Importer::builder(source.source.clone(), sink.clone(), jobs.clone())
        .page_size(args.page_size);
    if let Some(vault) = &source.vault {
        builder = builder.vault(vault.clone());
    }
    let importer = builder.build()?;

    println!(
        "Importing the bundled sample org ({} records) {} into the in-memory CRM, {} records a page.\n",
        source.records, source.how, args.page_size
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

/// The source to import from, and what keeps it running.
struct Source {
    source: Arc<dyn SalesforceSource>,
    /// The vault holding the tenant's connection, when the source needs one.
    vault: Option<Arc<dyn TokenVault>>,
    records: usize,
    how: String,
    /// The fake org's server, stopped when dropped.
    _server: Option<Box<dyn std::any::Any + Send>>,
}

async fn build_source(kind: SourceKind, tenant: &TenantId) -> salesforce_import::Result<Source> {
    match kind {
        SourceKind::Files => {
            let files = FileSource::sample_org();
            Ok(Source {
                records: SObject::STANDARD.iter().map(|o| files.count(o)).sum(),
                source: Arc::new(files),
                vault: None,
                how: "from its files".to_owned(),
                _server: None,
            })
        }
        #[cfg(feature = "testkit")]
        SourceKind::Fake => fake::source(tenant).await,
        #[cfg(not(feature = "testkit"))]
        SourceKind::Fake => {
            let _ = tenant;
            Err(salesforce_import::Error::config(
                "--source fake needs --features testkit",
            ))
        }
    }
}

/// The sample org served by the test kit's fake Salesforce on loopback,
/// connected through the OAuth flow and read through the REST source.
#[cfg(feature = "testkit")]
mod fake {
    use std::sync::Arc;

    use salesforce_import::http::{HostPolicy, LoginHost, RestSource, SalesforceOAuth};
    use salesforce_import::testkit::fake::{FakeOrg, FakeSalesforce};
    use salesforce_import::{Error, InMemoryTokenVault, Result, SObject, TenantId};

    use super::Source;

    pub(super) async fn source(tenant: &TenantId) -> Result<Source> {
        let fake = FakeSalesforce::builder()
            .org(FakeOrg::sample())
            .min_batch_size(1)
            .start()
            .await?;
        let vault = Arc::new(InMemoryTokenVault::new());
        let oauth = Arc::new(
            SalesforceOAuth::builder(
                fake.client_id(),
                fake.client_secret().clone(),
                fake.redirect_uri(),
            )
            .login_host(LoginHost::url(fake.login_url()))
            // The fake listens on 127.0.0.1: allowed here only.
            .host_policy(HostPolicy::salesforce().allow_loopback())
            .build(vault.clone())?,
        );

        // Connect as an admin would: open the authorization URL (the fake
        // approves at once) and hand the callback's code and state back.
        let user = "sample@example.com";
        let auth = oauth.authorize(tenant, user).await?;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::source("building the browser stand-in", e))?;
        let approval = browser
            .get(&auth.url)
            .send()
            .await
            .map_err(|e| Error::source("opening the authorization URL", e.without_url()))?;
        let callback = approval
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url::Url::parse(l).ok())
            .ok_or_else(|| Error::config("the fake did not redirect to the callback"))?;
        let param = |name: &str| {
            callback
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let status = oauth
            .complete(tenant, user, &param("code"), &param("state"))
            .await?;
        println!(
            "Connected to the fake org at {} (OAuth web-server flow with PKCE).",
            status.instance_url.unwrap_or_default()
        );

        let rest = RestSource::builder(oauth)
            .api_version(fake.api_version())
            .build()?;
        Ok(Source {
            records: SObject::STANDARD
                .iter()
                .map(|o| fake.org().count(o) as usize)
                .sum(),
            source: Arc::new(rest),
            vault: Some(vault),
            how: format!("over HTTP from a fake Salesforce at {}", fake.url()),
            _server: Some(Box::new(fake)),
        })
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
    let mut api_usage = None;
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
            ProgressEvent::ApiUsage { usage } => api_usage = Some(usage),
            ProgressEvent::ObjectFinished { progress } => {
                bars[&progress.object].finish_with_message(format!(
                    "{:?}: {} imported, {} skipped, {} errors",
                    progress.state, progress.imported, progress.skipped, progress.errors
                ));
            }
            _ => {}
        }
    }
    if let Some(usage) = api_usage {
        println!("Salesforce API usage: {usage}");
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
