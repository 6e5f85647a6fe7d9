//! What a phase reports, read from `/proc`, and the tables printed from it.

use std::collections::HashMap;

use salesforce_import::SObject;
use salesforce_import::mapping::Mappers;
use serde::{Deserialize, Serialize};

/// Where one object's time went in one phase. Times are seconds of wall
/// time spent inside each call (busy time).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ObjectTimes {
    pub(crate) object: String,
    pub(crate) records: u64,
    pub(crate) pages: u64,
    /// From the object's start to its end (an import), or its read (fetch).
    pub(crate) wall: f64,
    pub(crate) fetch: f64,
    pub(crate) map: f64,
    pub(crate) resolve: f64,
    pub(crate) write: f64,
    pub(crate) progress: f64,
    pub(crate) relink: f64,
    pub(crate) admin: f64,
    pub(crate) copy: f64,
}

/// What a child reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PhaseReport {
    pub(crate) phase: String,
    pub(crate) records: u64,
    /// The phase's timed part.
    pub(crate) secs: f64,
    /// Work before the timed part (the COPY's read and map, the schema).
    pub(crate) prepare_secs: f64,
    /// COPY of the id map's rows (copy phase).
    pub(crate) idmap_copy_secs: f64,
    /// Peak resident memory of the child (VmHWM), KiB.
    pub(crate) hwm_kb: u64,
    /// CPU time of the child, user and system, over the whole phase
    /// (setup included): steadier than wall time on a shared machine.
    #[serde(default)]
    pub(crate) cpu_secs: f64,
    /// Resident memory held after the import, less before (memory phase).
    pub(crate) held_kb: i64,
    pub(crate) failed: u64,
    pub(crate) status: String,
    pub(crate) objects: Vec<ObjectTimes>,
    /// Calls to the job store that belong to no object (jobs, leases).
    pub(crate) job_admin: f64,
    /// The latency run: the fetch of every object first, then the import.
    pub(crate) fetch_objects: Vec<ObjectTimes>,
    #[serde(default)]
    pub(crate) api_calls: u64,
    #[serde(default)]
    pub(crate) api_by_endpoint: Vec<(String, usize)>,
}

// --------------------------------------------------------------- /proc

pub(crate) fn proc_status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// This process's CPU time so far, user and system, in seconds
/// (`/proc/self/stat` counts it in USER_HZ ticks, 100 a second on Linux).
pub(crate) fn proc_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command name, which is in parentheses.
            let rest = &s[s.rfind(')')? + 2..];
            let mut f = rest.split_whitespace().skip(11);
            let user: u64 = f.next()?.parse().ok()?;
            let system: u64 = f.next()?.parse().ok()?;
            Some((user + system) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0.0, |kb| kb as f64 / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {mem_gb:.0} GB RAM")
}

/// The longest chain of dependent objects (a lookup's target before the
/// object), weighed by each object's fetch time: seconds, and the chain.
pub(crate) fn critical_path(fetch: &[ObjectTimes]) -> (f64, Vec<String>) {
    let mappers = Mappers::standard();
    let mut finish: HashMap<String, (f64, Vec<String>)> = HashMap::new();
    for object in SObject::STANDARD {
        let own = fetch
            .iter()
            .find(|o| o.object == object.as_str())
            .map_or(0.0, |o| o.fetch);
        let before = mappers
            .get(&object)
            .map(|m| {
                m.lookups()
                    .iter()
                    .map(|l| l.target.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t != &object)
            .filter_map(|t| finish.get(t.as_str()).cloned())
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap_or_default();
        let mut chain = before.1;
        chain.push(object.to_string());
        finish.insert(object.to_string(), (before.0 + own, chain));
    }
    finish
        .into_values()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or_default()
}

pub(crate) fn pct(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:>3.0}%", 100.0 * part / whole)
    } else {
        "  -".into()
    }
}

pub(crate) fn breakdown(title: &str, r: &PhaseReport) {
    println!(
        "\n{title}: {:.2} s, {} records, {:?}, {} failed",
        r.secs, r.records, r.status, r.failed
    );
    println!(
        "{:<15} {:>8} {:>6} {:>8} | {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} | {:>8} {:>9}",
        "object",
        "records",
        "pages",
        "wall s",
        "map",
        "resolve_ids",
        "write_batch",
        "record_page",
        "relink",
        "rest",
        "fetch s",
        "rec/s"
    );
    let mut total = ObjectTimes::default();
    let cell = |secs: f64, wall: f64| format!("{secs:>6.2} {}", pct(secs, wall));
    for o in &r.objects {
        let known = o.map + o.resolve + o.write + o.progress + o.relink;
        println!(
            "{:<15} {:>8} {:>6} {:>8.2} | {} {} {} {} {} {} | {:>8.2} {:>9.0}",
            o.object,
            o.records,
            o.pages,
            o.wall,
            cell(o.map, o.wall),
            cell(o.resolve, o.wall),
            cell(o.write, o.wall),
            cell(o.progress, o.wall),
            cell(o.relink, o.wall),
            cell(o.wall - known, o.wall),
            o.fetch,
            o.records as f64 / o.wall.max(1e-9),
        );
        total.records += o.records;
        total.pages += o.pages;
        total.map += o.map;
        total.resolve += o.resolve;
        total.write += o.write;
        total.progress += o.progress + o.admin;
        total.relink += o.relink;
        total.fetch += o.fetch;
    }
    let wall = r.secs;
    let progress = total.progress + r.job_admin;
    let known = total.map + total.resolve + total.write + progress + total.relink;
    println!(
        "{:<15} {:>8} {:>6} {:>8.2} | {} {} {} {} {} {} | {:>8.2} {:>9.0}",
        "overall",
        total.records,
        total.pages,
        wall,
        cell(total.map, wall),
        cell(total.resolve, wall),
        cell(total.write, wall),
        cell(progress, wall),
        cell(total.relink, wall),
        cell(wall - known, wall),
        total.fetch,
        total.records as f64 / wall.max(1e-9),
    );
}

pub(crate) fn num(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "na".to_owned(), |v| format!("{v:.digits$}"))
}
