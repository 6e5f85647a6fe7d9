//! What the user sees: a progress bar per object while the import runs,
//! then the summary table, the error log and the errors as CSV.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use salesforce_import::jobs::MissingParents;
use salesforce_import::{
    Error, ImportHandle, ImportRequest, Importer, Job, JobStore, LogEntry, ObjectProgress,
    ObjectState, Preview, ProgressEvent, Result, SObject, Severity, TenantId, WriteMode,
};

/// Runs `request` as a new job, drawing one bar per object (counts and
/// rate), and returns the finished job.
pub(crate) async fn import_with_progress(
    importer: &Importer,
    tenant: &TenantId,
    request: ImportRequest,
) -> Result<Job> {
    let plan = importer.plan(&request.objects)?;
    let handle = importer.start(tenant, request).await?;
    follow(handle, &plan, &[]).await
}

/// Continues `job` (as the store holds it) from its checkpoints: calls
/// `started` once the importer has taken the job over, then draws one bar
/// per object from where each stopped, and returns the finished job.
pub(crate) async fn resume_with_progress(
    importer: &Importer,
    job: &Job,
    started: impl FnOnce(),
) -> Result<Job> {
    let handle = importer.resume(&job.tenant, &job.id).await?;
    started();
    let plan: Vec<SObject> = job.objects.iter().map(|o| o.object.clone()).collect();
    follow(handle, &plan, &job.objects).await
}

/// Draws the bars of a running job until it ends. `before`: the objects'
/// progress when a resumed job starts again (empty for a new job).
async fn follow(
    mut handle: ImportHandle,
    plan: &[SObject],
    before: &[ObjectProgress],
) -> Result<Job> {
    let multi = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{prefix:>15} [{bar:30.cyan/blue}] {pos:>4}/{len:4} {msg}")
            .expect("the template is valid")
            .progress_chars("=> ");
    let bars: HashMap<_, ProgressBar> = plan
        .iter()
        .map(|o| {
            let bar = multi.add(ProgressBar::new(0).with_style(style.clone()));
            bar.set_prefix(o.to_string());
            bar.set_message("waiting");
            (o.clone(), bar)
        })
        .collect();
    for progress in before {
        let Some(bar) = bars.get(&progress.object) else {
            continue;
        };
        bar.set_length(progress.total.unwrap_or(progress.processed()));
        bar.set_position(progress.processed());
        match progress.state {
            // A resumed job does not import these again.
            ObjectState::Done | ObjectState::Unavailable => bar.finish_with_message(format!(
                "{:?} before: {}",
                progress.state,
                counts(progress, 0, Duration::ZERO)
            )),
            _ if progress.checkpoint.is_some() => bar.set_message("waiting to continue"),
            _ => {}
        }
    }

    // Records processed before this run, left out of the rates.
    let earlier: HashMap<SObject, u64> = before
        .iter()
        .map(|p| (p.object.clone(), p.processed()))
        .collect();
    let counts_now = |p: &ObjectProgress, bar: &ProgressBar| {
        counts(
            p,
            earlier.get(&p.object).copied().unwrap_or(0),
            bar.elapsed(),
        )
    };

    let mut events = handle.events();
    let mut api_usage = None;
    while let Some(event) = events.next().await {
        match event {
            ProgressEvent::ObjectStarted { object } => {
                if let Some(bar) = bars.get(&object) {
                    bar.reset_elapsed();
                    bar.set_message("importing");
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
            }
            ProgressEvent::Page { progress } => {
                if let Some(bar) = bars.get(&progress.object) {
                    bar.set_length(progress.total.unwrap_or(progress.processed()));
                    bar.set_position(progress.processed());
                    bar.set_message(counts_now(&progress, bar));
                }
            }
            ProgressEvent::ApiUsage { usage } => api_usage = Some(usage),
            ProgressEvent::ObjectFinished { progress } => {
                if let Some(bar) = bars.get(&progress.object) {
                    let message = format!("{:?}: {}", progress.state, counts_now(&progress, bar));
                    bar.finish_with_message(message);
                }
            }
            _ => {}
        }
    }
    if let Some(usage) = api_usage {
        println!("Salesforce API usage: {usage}");
    }
    handle.wait().await
}

/// "90 imported, 0 skipped, 0 errors, 1520 records/s". The time is
/// measured here, as events arrive, so a rate over less than a tenth of a
/// second would mostly measure the event queue: it is left out. `earlier`:
/// records a resumed job had processed before, not part of the rate.
fn counts(p: &ObjectProgress, earlier: u64, elapsed: Duration) -> String {
    let mut counts = format!("{} imported", p.imported);
    if p.updated > 0 {
        counts.push_str(&format!(", {} updated", p.updated));
    }
    counts.push_str(&format!(", {} skipped", p.skipped));
    if p.deleted > 0 {
        counts.push_str(&format!(", {} deleted", p.deleted));
    }
    counts.push_str(&format!(", {} errors", p.errors));
    if elapsed < Duration::from_millis(100) {
        return counts;
    }
    let rate = p.processed().saturating_sub(earlier) as f64 / elapsed.as_secs_f64();
    format!("{counts}, {rate:.0} records/s")
}

/// What resuming `job` does, object by object: "Resuming job 7 of tenant
/// acme (FAILED, started by ..., mode skip)", then each object's state and
/// where it continues (after its checkpoint, from the start, or not at
/// all).
pub(crate) fn describe_resume(job: &Job) -> String {
    let sync = if job.sync { ", --sync" } else { "" };
    let mode = mode_flag(job.mode);
    let mut text = format!(
        "Resuming job {} of tenant {} ({}, created {} by {}, --mode {mode}{sync}).",
        job.id,
        job.tenant,
        job.status,
        job.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        job.started_by,
    );
    if let Some(message) = &job.message {
        text.push_str(&format!("\nIt stopped with: {message}"));
    }
    for p in &job.objects {
        let from = match (p.state, &p.checkpoint) {
            (ObjectState::Done, _) => "done: not imported again".to_owned(),
            (ObjectState::Unavailable, _) => "not in the org: not tried again".to_owned(),
            (_, Some(id)) => format!("continues after {id}"),
            (_, None) => "from the start".to_owned(),
        };
        text.push_str(&format!(
            "\n  {:<16} {:<10} {:>7} processed  {from}",
            p.object.to_string(),
            format!("{:?}", p.state),
            p.processed(),
        ));
    }
    text
}

/// `resumed`: the job ran before this process (its start time is not
/// this run's, so no rate).
pub(crate) fn print_summary(job: &Job, resumed: bool) {
    let mode = match (job.mode, job.sync) {
        (_, true) => "syncing what changed since the last import",
        (WriteMode::Update, _) => "updating every record imported before",
        (WriteMode::SkipExisting, _) => "skipping records imported before",
        _ => "updating records changed since they were imported",
    };
    println!(
        "\nJob {} ({}) started by {}, {mode}{}",
        job.id,
        job.status,
        job.started_by,
        if resumed { ", resumed" } else { "" }
    );
    println!(
        "{:<16} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>9}",
        "object", "read", "imported", "updated", "skipped", "deleted", "errors", "warnings"
    );
    for p in &job.objects {
        println!(
            "{:<16} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>9}",
            p.object.to_string(),
            p.total.map_or("?".to_owned(), |t| t.to_string()),
            p.imported,
            p.updated,
            p.skipped,
            p.deleted,
            p.errors,
            p.warnings
        );
    }
    println!(
        "{:<16} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>9}",
        "total",
        job.total(),
        job.imported(),
        job.updated(),
        job.skipped(),
        job.deleted(),
        job.errors(),
        job.objects.iter().map(|o| o.warnings).sum::<u64>()
    );
    if let (false, Some(start), Some(end)) = (resumed, job.started_at, job.completed_at) {
        let secs = (end - start).as_seconds_f64();
        let processed: u64 = job.objects.iter().map(ObjectProgress::processed).sum();
        if secs > 0.0 {
            println!(
                "{processed} records in {secs:.2} s: {:.0} records/s",
                processed as f64 / secs
            );
        }
    }
    if let Some(message) = &job.message {
        println!("{message}");
    }
}

/// A preview as a table like the summary's, then its first rejections.
pub(crate) fn print_preview(preview: &Preview) {
    println!(
        "{:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "object", "read", "create", "update", "skip", "delete", "reject"
    );
    let mut total = [0u64; 6];
    for o in &preview.objects {
        if o.unavailable {
            println!("{:<16} not in this org", o.object.to_string());
            continue;
        }
        let row = [o.read, o.create, o.update, o.skip, o.delete, o.reject];
        for (t, n) in total.iter_mut().zip(row) {
            *t += n;
        }
        println!(
            "{:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            o.object.to_string(),
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5]
        );
    }
    println!(
        "{:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "total", total[0], total[1], total[2], total[3], total[4], total[5]
    );
    if !preview.rejections.is_empty() {
        println!(
            "
First records the import would reject:"
        );
        for r in &preview.rejections {
            println!("  {r}");
        }
    }
    println!(
        "
Nothing was written (--dry-run)."
    );
}

/// The job's whole error log, oldest first.
pub(crate) async fn error_log(jobs: &dyn JobStore, job: &Job) -> Result<Vec<LogEntry>> {
    const PAGE: usize = 1_000;
    let mut log = Vec::new();
    loop {
        let page = jobs
            .error_log(&job.tenant, &job.id, log.len(), PAGE)
            .await?;
        let last = page.len() < PAGE;
        log.extend(page);
        if last {
            return Ok(log);
        }
    }
}

pub(crate) fn print_log(log: &[LogEntry]) {
    if log.is_empty() {
        return;
    }
    println!("\nError log:");
    for entry in log {
        let tag = match entry.severity {
            Severity::Error => "error  ",
            _ => "warning",
        };
        println!("  {tag} {entry}");
    }
}

/// Writes the log's errors (records not imported) to `path` as CSV and
/// returns how many.
pub(crate) fn write_errors_csv_file(path: &Path, log: &[LogEntry]) -> Result<usize> {
    let failed = |e| Error::source(format!("writing {}", path.display()), e);
    let mut out = io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    let rows = write_errors_csv(&mut out, log).map_err(failed)?;
    out.flush().map_err(failed)?;
    Ok(rows)
}

/// The missing-parent report as CSV at `path`.
pub(crate) fn write_missing_parents_file(path: &Path, report: &MissingParents) -> Result<()> {
    let failed = |e| Error::source(format!("writing {}", path.display()), e);
    let mut out = io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    report.write_csv(&mut out).map_err(failed)?;
    out.flush().map_err(failed)
}

/// The log's errors as CSV (RFC 4180: a header, CRLF line ends, fields
/// quoted when they hold a comma, quote or line break).
pub(crate) fn write_errors_csv(out: &mut impl Write, log: &[LogEntry]) -> io::Result<usize> {
    write_row(out, ["object", "salesforce_id", "field", "message"])?;
    let mut rows = 0;
    for e in log.iter().filter(|e| e.severity == Severity::Error) {
        let id = e
            .sf_id
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default();
        write_row(out, [e.object.as_str(), &id, &e.field, &e.message])?;
        rows += 1;
    }
    Ok(rows)
}

fn write_row<const N: usize>(out: &mut impl Write, fields: [&str; N]) -> io::Result<()> {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if field.contains([',', '"', '\n', '\r']) {
            write!(out, "\"{}\"", field.replace('"', "\"\""))?;
        } else {
            out.write_all(field.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}

/// The `--mode` value of a write mode.
pub(crate) fn mode_flag(mode: WriteMode) -> &'static str {
    match mode {
        WriteMode::Update => "update",
        WriteMode::SkipExisting => "skip",
        _ => "changed",
    }
}

#[cfg(test)]
mod tests {
    use salesforce_import::{Problem, SObject, SfId};

    use super::*;

    fn csv(log: &[LogEntry]) -> (usize, String) {
        let mut out = Vec::new();
        let rows = write_errors_csv(&mut out, log).unwrap();
        (rows, String::from_utf8(out).unwrap())
    }

    #[test]
    fn errors_are_written_warnings_left_out() {
        let id: SfId = "0035g0000000163AAA".parse().unwrap();
        let log = [
            LogEntry::new(
                Severity::Error,
                SObject::CONTACT,
                Some(id),
                "LastName",
                Problem::Missing,
            ),
            LogEntry::new(
                Severity::Warning,
                SObject::ACCOUNT,
                None,
                "Phone",
                Problem::TooLong { max: 20 },
            ),
            LogEntry::new(
                Severity::Error,
                SObject::OPPORTUNITY,
                Some("0065g00000000V3AAI".parse().unwrap()),
                "CloseDate",
                Problem::Invalid {
                    expected: "a date (YYYY-MM-DD)".into(),
                    found: "2024-02-30".into(),
                },
            ),
        ];
        let (rows, text) = csv(&log);
        assert_eq!(rows, 2);
        assert_eq!(
            text,
            "object,salesforce_id,field,message\r\n\
             Contact,0035g0000000163AAA,LastName,required value is missing\r\n\
             Opportunity,0065g00000000V3AAI,CloseDate,\
             \"expected a date (YYYY-MM-DD), found \"\"2024-02-30\"\"\"\r\n"
        );
    }

    #[test]
    fn fields_with_commas_quotes_or_line_breaks_are_quoted() {
        let mut out = Vec::new();
        write_row(&mut out, ["plain", "a,b", "say \"hi\"", "two\nlines", ""]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
    }

    #[test]
    fn a_resume_says_where_each_object_continues() {
        use salesforce_import::jobs::NewJob;
        use salesforce_import::{JobId, JobStatus};

        let new = NewJob::new(
            TenantId::new("acme"),
            "ada@example.com",
            vec![
                SObject::ACCOUNT,
                SObject::CONTACT,
                SObject::ORDER,
                SObject::QUOTE,
            ],
            WriteMode::Update,
            chrono::Utc::now(),
        );
        let mut job = Job::new(JobId::new("7"), &new);
        job.status = JobStatus::Failed;
        job.message = Some("Contact: Salesforce API request limit reached".into());
        job.objects[0].state = ObjectState::Done;
        job.objects[0].imported = 90;
        job.objects[1].state = ObjectState::Failed;
        job.objects[1].imported = 40;
        job.objects[1].checkpoint = Some("0035g0000000163AAA".parse().unwrap());
        job.objects[2].state = ObjectState::Unavailable;
        let text = describe_resume(&job);
        assert!(
            text.starts_with("Resuming job 7 of tenant acme (FAILED, created "),
            "{text}"
        );
        assert!(
            text.contains("by ada@example.com, --mode update)"),
            "{text}"
        );
        assert!(
            text.contains("It stopped with: Contact: Salesforce API"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].contains("Account") && lines[0].contains("Done"));
        assert!(lines[0].contains("90 processed") && lines[0].ends_with("not imported again"));
        assert!(
            lines[1].contains("Failed") && lines[1].ends_with("continues after 0035g0000000163AAA")
        );
        assert!(lines[2].contains("Unavailable") && lines[2].ends_with("not tried again"));
        assert!(lines[3].contains("Pending") && lines[3].ends_with("from the start"));
    }

    #[test]
    fn an_empty_log_gives_the_header_alone() {
        assert_eq!(
            csv(&[]),
            (0, "object,salesforce_id,field,message\r\n".into())
        );
    }

    #[test]
    fn a_record_without_an_id_leaves_the_column_empty() {
        let log = [LogEntry::new(
            Severity::Error,
            SObject::ORDER,
            None,
            "Id",
            Problem::Missing,
        )];
        assert!(
            csv(&log)
                .1
                .ends_with("Order,,Id,required value is missing\r\n")
        );
    }
}
