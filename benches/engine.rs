//! A whole import of the bundled sample org (473 records, nine objects) over
//! the in-memory backends, at two page sizes: the engine's own overhead per
//! record and per page.
//!
//! `cargo bench --bench engine`

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use salesforce_import::{
    FileSource, ImportRequest, Importer, InMemoryJobStore, InMemorySink, SObject, TenantId,
};

fn engine(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let source = Arc::new(FileSource::sample_org());
    let records: usize = SObject::STANDARD.iter().map(|o| source.count(o)).sum();
    let selected = SObject::SELECTABLE.to_vec();
    let mut group = c.benchmark_group("import_sample_org");
    group.throughput(Throughput::Elements(records as u64));
    for page_size in [25, 500] {
        group.bench_with_input(
            BenchmarkId::from_parameter(page_size),
            &page_size,
            |b, &page_size| {
                b.to_async(&rt).iter(|| {
                    let source = source.clone();
                    let selected = selected.clone();
                    async move {
                        let importer = Importer::builder(
                            source,
                            Arc::new(InMemorySink::new()),
                            Arc::new(InMemoryJobStore::new()),
                        )
                        .page_size(page_size)
                        .build()
                        .expect("valid configuration");
                        importer
                            .run(
                                &TenantId::new("bench"),
                                ImportRequest::new("bench", selected),
                            )
                            .await
                            .expect("the import runs")
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
