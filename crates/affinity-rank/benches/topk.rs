//! Exact top-10 over a random item matrix: batched and one query at a time.
//! The full-size comparison with faiss is `benches/rank_vs_faiss.py` at the workspace root.
#![allow(missing_docs)]

use affinity_rank::{ItemIndex, Metric};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;

fn random(rows: usize, dim: usize, seed: u64) -> Array2<f32> {
    let mut state = seed;
    Array2::from_shape_fn((rows, dim), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2001) as f32 / 1000.0 - 1.0
    })
}

fn bench(c: &mut Criterion) {
    let dim = 384;
    let items = 20_000;
    let index = ItemIndex::new(random(items, dim, 1), Metric::InnerProduct).unwrap();
    let queries = random(512, dim, 2);
    let mut group = c.benchmark_group("top10");
    group.sample_size(10);
    group.throughput(Throughput::Elements(queries.nrows() as u64));
    for threads in [1, 2] {
        let idx = index.clone().with_threads(threads);
        group.bench_with_input(
            BenchmarkId::new("batch_20k_items", threads),
            &threads,
            |b, _| b.iter(|| idx.search_batch(queries.view(), 10, &[]).unwrap()),
        );
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_query_20k_items", |b| {
        b.iter(|| index.search(queries.row(0), 10, &[]).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
