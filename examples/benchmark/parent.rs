//! The parent: serves the org, runs each phase in a child, and prints the
//! table and the `RESULT` line.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use salesforce_import_fake::{FakeOrg, FakeSalesforce};

use crate::org::fake_env;
use crate::report::{PhaseReport, breakdown, critical_path, machine, num};
use crate::{Args, PHASES, REPORT, size_for};

/// Runs `phase` in a child process against `fake`: its report, with the
/// API calls the fake counted meanwhile.
pub(crate) async fn spawn(phase: &str, fake: &FakeSalesforce) -> PhaseReport {
    eprintln!("  running {phase} ...");
    let before_usage = fake.api_usage();
    let before_log = fake.requests().len();
    let exe = std::env::current_exe().expect("this binary");
    let mut cmd = match std::env::var_os("BENCH_WRAP") {
        Some(wrap) => {
            let mut c = Command::new(wrap);
            c.arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.args(std::env::args().skip(1))
        .env("BENCH_PHASE", phase)
        .stderr(std::process::Stdio::inherit());
    for (k, v) in fake_env(fake) {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("the child's waiter")
        .expect("a child process");
    assert!(out.status.success(), "phase {phase} failed: {}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(REPORT))
        .unwrap_or_else(|| panic!("phase {phase} printed no report"));
    let mut report: PhaseReport = serde_json::from_str(line).expect("a report");
    report.api_calls = fake.api_usage() - before_usage;
    let mut by: Vec<(String, usize)> = Vec::new();
    for r in &fake.requests()[before_log..] {
        let name = format!("{:?}", r.endpoint);
        match by.iter_mut().find(|(n, _)| *n == name) {
            Some((_, n)) => *n += 1,
            None => by.push((name, 1)),
        }
    }
    report.api_by_endpoint = by;
    eprintln!(
        "    {phase}: {:.2} s, {} records",
        report.secs, report.records
    );
    report
}

/// The median run by time, of `runs` runs.
pub(crate) async fn median(phase: &str, fake: &FakeSalesforce, runs: usize) -> PhaseReport {
    let mut all = Vec::new();
    for _ in 0..runs {
        all.push(spawn(phase, fake).await);
    }
    all.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    all.swap_remove(all.len() / 2)
}

pub(crate) async fn start_fake(records: u64) -> FakeSalesforce {
    FakeSalesforce::builder()
        .org(FakeOrg::generated(7, size_for(records)))
        .start()
        .await
        .expect("the fake org")
}

pub(crate) async fn run_parent(args: Args) {
    let profile = if cfg!(debug_assertions) {
        "debug build: use --release for meaningful figures"
    } else {
        "release build"
    };
    println!(
        "benchmark: --records {} --page-size {} --latency-ms {} --runs {} --seed-records {}",
        args.records, args.page_size, args.latency_ms, args.runs, args.seed_records
    );
    println!("machine: {}; {profile}", machine());
    let fake = start_fake(args.records).await;
    let mut reports: HashMap<&str, PhaseReport> = HashMap::new();
    for phase in ["fetch", "copy", "pg", "mem"] {
        if args.runs(phase) {
            reports.insert(phase, median(phase, &fake, args.runs).await);
        }
    }
    if args.runs("seed") {
        let seed_fake = start_fake(args.seed_records).await;
        reports.insert("seed", spawn("seed", &seed_fake).await);
    }
    if args.runs("small") {
        let small_fake = start_fake(args.records / 10).await;
        reports.insert("small", spawn("small", &small_fake).await);
    }
    if args.runs("latency") {
        fake.faults()
            .set_latency(Duration::from_millis(args.latency_ms));
        reports.insert("latency", spawn("latency", &fake).await);
        fake.faults().set_latency(Duration::ZERO);
    }

    // The phases.
    println!(
        "\n{:<44} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9}",
        "phase", "records", "seconds", "records/s", "CPU µs/r", "peak MB", "API calls"
    );
    let label = |p: &str| match p {
        "fetch" => "fetch only (RestSource, parsed, dropped)",
        "copy" => "COPY only of the CRM rows (same tables)",
        "pg" => "import into PostgreSQL",
        "mem" => "import into memory",
        "seed" => "seed-style baseline (per-record SQL)",
        "small" => "import into PostgreSQL, records/10",
        "latency" => "import into memory, latency per call",
        _ => "?",
    };
    for phase in PHASES {
        if let Some(r) = reports.get(phase) {
            println!(
                "{:<44} {:>9} {:>9.2} {:>11.0} {:>9.2} {:>9.1} {:>9}",
                label(phase),
                r.records,
                r.secs,
                r.records as f64 / r.secs.max(1e-9),
                1e6 * r.cpu_secs / r.records.max(1) as f64,
                r.hwm_kb as f64 / 1024.0,
                r.api_calls
            );
        }
    }
    if let Some(c) = reports.get("copy") {
        println!(
            "  (COPY: {:.2} s to read, map and resolve first, not counted; the id map's rows \
             copied after in {:.2} s more)",
            c.prepare_secs, c.idmap_copy_secs
        );
    }
    if let Some(s) = reports.get("seed") {
        println!(
            "  (seed-style: {} records of a smaller org, {} failed; compared as a rate)",
            s.records, s.failed
        );
    }
    if let (Some(f), Some(c)) = (reports.get("fetch"), reports.get("copy")) {
        println!(
            "\n{:<15} {:>8} {:>6} {:>9} {:>9}",
            "object", "records", "pages", "fetch s", "COPY s"
        );
        for o in &f.objects {
            let copy = c.objects.iter().find(|x| x.object == o.object);
            println!(
                "{:<15} {:>8} {:>6} {:>9.2} {:>9}",
                o.object,
                o.records,
                o.pages,
                o.fetch,
                copy.map_or("-".into(), |c| format!("{:.2}", c.copy))
            );
        }
    }
    for (phase, title) in [
        ("pg", "Import into PostgreSQL, where the time goes"),
        ("mem", "Import into memory, where the time goes"),
    ] {
        if let Some(r) = reports.get(phase) {
            breakdown(title, r);
        }
    }
    println!(
        "  busy seconds inside each call and its share of the object's wall time; \
         record_page = progress, checkpoint and id mappings (plus state and lease writes); \
         rest = wall less the columns before it: fetch not hidden by the prefetch, \
         engine work; fetch s = time inside fetch_page, overlapped"
    );

    let import_s = reports.get("pg").map(|r| r.secs);
    let records = reports.get("pg").map(|r| r.records);
    if let Some(pg) = reports.get("pg") {
        let by = pg
            .api_by_endpoint
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "\nAPI calls of the PostgreSQL import: {} ({by})",
            pg.api_calls
        );
    }
    let per_object = reports
        .get("fetch")
        .or(reports.get("pg"))
        .map(|r| r.objects.clone())
        .unwrap_or_default();
    let api_min: u64 = per_object
        .iter()
        .map(|o| o.records.div_ceil(args.page_size as u64))
        .sum();
    let fetch_s = reports.get("fetch").map(|r| r.secs);
    let copy_s = reports.get("copy").map(|r| r.secs);
    let floor = match (fetch_s, copy_s) {
        (Some(f), Some(c)) => Some(f.max(c)),
        (f, c) => f.or(c),
    };
    let floor_ratio = import_s.zip(floor).map(|(i, f)| i / f);
    let seed_rate = reports
        .get("seed")
        .map(|s| s.records as f64 / s.secs.max(1e-9));
    let seed_ratio = import_s
        .zip(records)
        .zip(seed_rate)
        .map(|((i, n), s)| n as f64 / i / s);
    let mem = reports.get("mem");
    let mem_rate = mem.map(|m| m.records as f64 / m.secs);
    let mem_bytes = mem.map(|m| m.held_kb as f64 * 1024.0 / m.records.max(1) as f64);
    let rss_mb = reports.get("pg").map(|r| r.hwm_kb as f64 / 1024.0);
    let rss_small_mb = reports.get("small").map(|r| r.hwm_kb as f64 / 1024.0);
    let api_calls = reports.get("pg").map(|r| r.api_calls as f64);
    let latency_ratio = reports.get("latency").map(|l| {
        let (path, chain) = critical_path(&l.fetch_objects);
        breakdown(
            &format!("Import into memory with {} ms per call", args.latency_ms),
            l,
        );
        println!(
            "latency_ratio = import with latency ({:.2} s) / fetch critical path with latency \
             ({path:.2} s): the longest chain of dependent objects ({}), each weighed by the \
             time to fetch all its pages one after another with the same latency",
            l.secs,
            chain.join(" -> ")
        );
        l.secs / path
    });
    println!(
        "floor_ratio = import_s / max(fetch_s, copy_s); seed_ratio = import rate / seed-style \
         rate; mem_bytes_per_record = resident memory held after the memory import / records; \
         rss = peak resident memory (VmHWM) of the phase's own process; CPU µs/r = the phase \
         process's CPU time (user and system, setup included) per record, without the fake \
         org's or PostgreSQL's"
    );
    println!(
        "\nRESULT records={} import_s={} fetch_s={} copy_s={} floor_ratio={} seed_ratio={} \
         mem_rate={} mem_bytes_per_record={} rss_mb={} rss_small_mb={} api_calls={} api_min={} \
         latency_ratio={}",
        records.map_or("na".into(), |n| n.to_string()),
        num(import_s, 2),
        num(fetch_s, 2),
        num(copy_s, 2),
        num(floor_ratio, 2),
        num(seed_ratio, 1),
        num(mem_rate, 0),
        num(mem_bytes, 0),
        num(rss_mb, 1),
        num(rss_small_mb, 1),
        num(api_calls, 0),
        api_min,
        num(latency_ratio, 2),
    );
}
