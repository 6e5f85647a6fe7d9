//! The PostgreSQL write path: `PgCrmSink::write_batch` of new accounts, a
//! page of 2 000 in one call (one `INSERT ... UNNEST` in one transaction)
//! against one record per call (what a per-record sink does), in records
//! per second. Needs `DATABASE_URL`; deletes its rows afterwards.
//!
//! `DATABASE_URL=postgres://... cargo bench --features postgres --bench postgres`

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use salesforce_import::crm::{Account, Address, CrmRecord};
use salesforce_import::postgres::{self, PgCrmSink};
use salesforce_import::sink::{CrmSink, WriteBatch, WriteMode, WriteRecord};
use salesforce_import::{SObject, SfId, TenantId};

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

criterion_group!(benches, write_path);
criterion_main!(benches);
