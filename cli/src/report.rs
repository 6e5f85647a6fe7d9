//! What the user sees: a progress bar per object while the import runs,
//! then the summary table, the error log and the errors as CSV.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use salesforce_import::{
    Error, ImportRequest, Importer, Job, JobStore, LogEntry, ObjectProgress, ProgressEvent, Result,
    Severity, TenantId,
};

/// Runs `request`, drawing one bar per object (counts and rate), and
/// returns the finished job.
pub(crate) async fn import_with_progress(
    importer: &Importer,
    tenant: &TenantId,
    request: ImportRequest,
) -> Result<Job> {
    let plan = importer.plan(&request.objects)?;
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

    let mut handle = importer.start(tenant, request).await?;
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
                    bar.set_message(counts(&progress, bar.elapsed()));
                }
            }
            ProgressEvent::ApiUsage { usage } => api_usage = Some(usage),
            ProgressEvent::ObjectFinished { progress } => {
                if let Some(bar) = bars.get(&progress.object) {
                    let message =
                        format!("{:?}: {}", progress.state, counts(&progress, bar.elapsed()));
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
/// second would mostly measure the event queue: it is left out.
fn counts(p: &ObjectProgress, elapsed: Duration) -> String {
    let counts = format!(
        "{} imported, {} skipped, {} errors",
        p.imported, p.skipped, p.errors
    );
    if elapsed < Duration::from_millis(100) {
        return counts;
    }
    let rate = p.processed() as f64 / elapsed.as_secs_f64();
    format!("{counts}, {rate:.0} records/s")
}

pub(crate) fn print_summary(job: &Job) {
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
    if let (Some(start), Some(end)) = (job.started_at, job.completed_at) {
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
