//! Records per second through each standard mapper, on a representative
//! record of the bundled sample org.
//!
//! `cargo bench --bench mapping`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use salesforce_import::mapping::{Mappers, Tables};
use salesforce_import::{FileSource, SObject};

fn mappers(c: &mut Criterion) {
    let source = FileSource::sample_org();
    let mappers = Mappers::standard();
    let tables = Tables::default();
    let mut group = c.benchmark_group("map");
    for object in SObject::STANDARD {
        // The record with the most fields: the worst case per record.
        let record = source
            .records(&object)
            .max_by_key(|r| r.field_names().count())
            .expect("the sample org has every object")
            .clone();
        let mapper = mappers.get(&object).expect("standard mapper").clone();
        group.throughput(Throughput::Elements(1));
        group.bench_function(object.as_str(), |b| {
            b.iter(|| black_box(mapper.map(black_box(&record), &tables)))
        });
    }
    group.finish();
}

criterion_group!(benches, mappers);
criterion_main!(benches);
