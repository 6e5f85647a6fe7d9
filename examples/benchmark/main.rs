//! One command that measures an import end to end against its physical
//! floors, on a generated org served by the fake Salesforce over loopback.
//!
//! ```text
//! export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo run --release --features http,postgres --example benchmark -- --records 1000000
//! ```
//!
//! Flags: `--records N` (default 100,000; about N records over the nine
//! objects, in the proportions of `FakeOrg::generated`), `--page-size`
//! (2,000), `--latency-ms` (300, for the latency run), `--runs` (1: the
//! median of that many runs of each timed phase), `--seed-records` (5,000:
//! the org the per-record baseline runs on), `--skip a,b` (phases to leave
//! out: `fetch`, `copy`, `pg`, `mem`, `seed`, `small`, `latency`).
//!
//! The org is served by this process; every phase runs in a child process
//! of the same binary (so each phase's peak resident memory, `VmHWM`, is
//! its own, and the fake's memory is in none of them):
//!
//! - `fetch`: every object read through `RestSource`, page by page, parsed
//!   and dropped: the source's floor.
//! - `copy`: the same records read and mapped (not timed), then `COPY ...
//!   FROM STDIN` (text format, one statement per table) into the reference
//!   CRM tables, with their indexes and constraints, in a fresh schema: the
//!   database's floor. The id map's rows are copied after, timed apart.
//! - `pg`: the import into `PgCrmSink` and `PgJobStore` in a fresh schema.
//! - `mem`: the import into `InMemorySink` and `InMemoryJobStore`.
//! - `seed`: the seed plan's algorithm, one id-map lookup and one `INSERT`
//!   (the CRM row and its id mapping) per record, on a smaller org; its
//!   per-record rate does not depend on the org's size, so it is compared
//!   as a rate.
//! - `small`: the `pg` import of an org a tenth the size (peak memory).
//! - `latency`: the fake adds `--latency-ms` to every response; the fetch
//!   of every object, then the import into memory.
//!
//! `BENCH_WRAP=heaptrack` (any program that takes a command line) runs
//! each phase's process under that program: a heap profile of one phase.
//!
//! Where the import's time goes comes from wrappers around the source, the
//! sink, the job store and the mappers that time every call (the engine has
//! no timings of its own). The table ends with one line:
//! `RESULT records=N import_s=X fetch_s=Y copy_s=Z floor_ratio=R seed_ratio=S
//! mem_rate=M mem_bytes_per_record=B rss_mb=A rss_small_mb=A0 api_calls=C
//! api_min=D latency_ratio=L`.

use crate::parent::run_parent;
use crate::phases::run_child;

mod org;
mod parent;
mod phases;
mod report;
mod rows;
mod timing;

pub(crate) const PHASES: [&str; 7] = ["fetch", "copy", "pg", "mem", "seed", "small", "latency"];
/// The line a child prints its report on.
pub(crate) const REPORT: &str = "BENCH_REPORT ";

// ---------------------------------------------------------------- arguments

#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) records: u64,
    pub(crate) page_size: usize,
    pub(crate) latency_ms: u64,
    pub(crate) runs: usize,
    pub(crate) seed_records: u64,
    /// `ImporterBuilder::pages_in_flight` (0: the default).
    pub(crate) pages_in_flight: usize,
    /// `ImporterBuilder::objects_in_flight` (0: the default).
    pub(crate) objects_in_flight: usize,
    /// `ImporterBuilder::id_cache` (none: the default).
    pub(crate) id_cache: Option<usize>,
    pub(crate) skip: Vec<String>,
}

impl Args {
    pub(crate) fn parse() -> Args {
        let argv: Vec<String> = std::env::args().collect();
        let value = |name: &str| {
            argv.iter()
                .position(|a| a == name)
                .and_then(|i| argv.get(i + 1))
                .cloned()
        };
        let number = |name: &str, default: u64| {
            value(name)
                .map(|v| v.replace(['_', ','], "").parse().expect("a number"))
                .unwrap_or(default)
        };
        let skip: Vec<String> = value("--skip")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default();
        for s in &skip {
            assert!(
                PHASES.contains(&s.as_str()),
                "--skip {s}: one of {PHASES:?}"
            );
        }
        Args {
            records: number("--records", 100_000),
            page_size: number("--page-size", 2_000) as usize,
            latency_ms: number("--latency-ms", 300),
            runs: number("--runs", 1).max(1) as usize,
            seed_records: number("--seed-records", 5_000),
            pages_in_flight: number("--pages-in-flight", 0) as usize,
            objects_in_flight: number("--objects-in-flight", 0) as usize,
            id_cache: value("--id-cache").map(|_| number("--id-cache", 0) as usize),
            skip,
        }
    }

    pub(crate) fn runs(&self, phase: &str) -> bool {
        !self.skip.iter().any(|s| s == phase)
    }
}

/// `FakeOrg::generated(_, size)` has about four records per account.
pub(crate) fn size_for(records: u64) -> u64 {
    (records / 4).max(10)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match std::env::var("BENCH_PHASE") {
        Ok(phase) => run_child(&phase, &args).await,
        Err(_) => run_parent(args).await,
    }
}
