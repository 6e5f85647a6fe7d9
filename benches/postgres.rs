//! The PostgreSQL write path: `PgCrmSink::write_batch` of new accounts, a
//! page of 2 000 in one call (one `INSERT ... UNNEST` in one transaction)
//! against one record per call (what a per-record sink does), in records
//! per second; and what the lease costs each page: `PgJobStore::record_page`
//! of a 2 000-record page fenced by the job's lease against the same page
//! unfenced. Needs `DATABASE_URL`; deletes its rows afterwards.
//!
//! `DATABASE_URL=postgres://... cargo bench --features postgres --bench postgres`

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use salesforce_import::crm::{Account, Address, CrmRecord};
use salesforce_import::jobs::{IdMapping, JobStore, NewJob, PageRecord};
use salesforce_import::postgres::{self, PgCrmSink, PgJobStore};
use salesforce_import::sink::{CrmSink, WriteBatch, WriteMode, WriteRecord};
use salesforce_import::{CrmId, SObject, SfId, TenantId};

static TENANT: AtomicU64 = AtomicU64::new(0);

/// A fresh tenant per iteration, so every write creates its rows.
fn tenant() -> TenantId {
    let n = TENANT.fetch_add(1, Ordering::Relaxed);
    TenantId::new(format!("bench-{}-{n}", std::process::id()))
}

fn accounts(n: u64) -> Vec<WriteRecord> {
    (1..=n)
        .map(|i| {
            let id = SfId::parse(&format!("001{i:012}")).expect("a valid id");
            let mut a = Account::default();
            a.name = format!("Account {i}");
            a.phone = Some("+1 415 555 0100".into());
            a.industry = Some("Manufacturing".into());
            a.annual_revenue = Some(rust_decimal::Decimal::new(125_000_000, 2));
            let mut address = Address::default();
            address.city = Some("San Francisco".into());
            address.country = Some("US".into());
            a.address = address;
            WriteRecord::new(id, CrmRecord::Account(a), None)
        })
        .collect()
}

fn write_path(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skipped: the postgres bench needs DATABASE_URL");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let sink = rt.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        postgres::migrate_crm(&pool).await.expect("migrate");
        PgCrmSink::new(pool)
    });

    let mut group = c.benchmark_group("pg_write_accounts");
    group.sample_size(10);
    let page = WriteBatch::new(SObject::ACCOUNT, WriteMode::SkipExisting, accounts(2_000));
    group.throughput(Throughput::Elements(2_000));
    group.bench_function(BenchmarkId::new("batched_page", 2_000), |b| {
        b.to_async(&rt).iter(|| async {
            let out = sink.write_batch(&tenant(), &page).await.expect("write");
            assert!(out.iter().all(Result::is_ok));
        })
    });
    // One record per call: fewer records per iteration, same unit (records/s).
    let singles: Vec<WriteBatch> = accounts(200)
        .into_iter()
        .map(|r| WriteBatch::new(SObject::ACCOUNT, WriteMode::SkipExisting, vec![r]))
        .collect();
    group.throughput(Throughput::Elements(200));
    group.bench_function(BenchmarkId::new("one_record_per_call", 200), |b| {
        b.to_async(&rt).iter(|| async {
            let t = tenant();
            for single in &singles {
                sink.write_batch(&t, single).await.expect("write");
            }
        })
    });
    group.finish();

    rt.block_on(async {
        sqlx::query("DELETE FROM crm_accounts WHERE tenant_id LIKE $1")
            .bind(format!("bench-{}-%", std::process::id()))
            .execute(sink.pool())
            .await
            .expect("clean up");
    });
}

/// `record_page` of one 2 000-record page (counts, checkpoint, 2 000 id
/// mappings), with and without the lease: the fence is one `SELECT ... FOR
/// SHARE` of the job's row in the page's transaction.
fn lease_fence(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skipped: the postgres bench needs DATABASE_URL");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let jobs = rt.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        postgres::migrate(&pool).await.expect("migrate");
        PgJobStore::new(pool)
    });
    let page = |n: u64| {
        let mut p = PageRecord::default();
        p.imported = 2_000;
        p.mappings = (1..=2_000u64)
            .map(|i| {
                let id = SfId::parse(&format!("001{:06}{i:06}", n % 1_000_000)).expect("an id");
                (id, IdMapping::new(CrmId::new(format!("crm-{i}")), None))
            })
            .collect();
        p.checkpoint = p.mappings.last().map(|(id, _)| id.clone());
        p
    };
    let new_job = |t: &TenantId| {
        let now = chrono::Utc::now();
        NewJob::new(
            t.clone(),
            "bench",
            vec![SObject::ACCOUNT],
            WriteMode::SkipExisting,
            now,
        )
        .leased_to("bench", now + chrono::Duration::hours(1))
    };
    let mut group = c.benchmark_group("pg_record_page");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2_000));
    let counter = AtomicU64::new(0);
    for fenced in [false, true] {
        let name = if fenced {
            "fenced_by_lease"
        } else {
            "unfenced"
        };
        group.bench_function(BenchmarkId::new(name, 2_000), |b| {
            b.to_async(&rt).iter(|| async {
                let t = tenant();
                let job = jobs.create_job(&new_job(&t)).await.expect("create");
                let lease = job.lease.clone().expect("leased");
                let p = page(counter.fetch_add(1, Ordering::Relaxed));
                let fence = fenced.then_some(&lease);
                jobs.record_page(&t, &job.id, &SObject::ACCOUNT, &p, fence)
                    .await
                    .expect("record");
            })
        });
    }
    group.finish();
    rt.block_on(async {
        for table in [
            "sf_import_id_map",
            "sf_import_job_objects",
            "sf_import_jobs",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE tenant_id LIKE $1"
            )))
            .bind(format!("bench-{}-%", std::process::id()))
            .execute(jobs.pool())
            .await
            .expect("clean up");
        }
    });
}

criterion_group!(benches, write_path, lease_fence);
criterion_main!(benches);
