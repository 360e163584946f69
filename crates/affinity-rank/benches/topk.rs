//! Exact top-10 over a random item matrix: batched and one query at a time; then the steps of
//! one recommendation over the same 20,000 items: blending three score sources, bounded
//! selection with exclusions, MMR over 50 candidates, and the co-occurrence baseline.
//!
//! `cargo bench -p affinity-rank`; the whole set with baselines is `scripts/bench.sh`. The
//! full-size comparison with faiss is `benches/rank_vs_faiss.sh` at the workspace root.
#![allow(missing_docs)]

use affinity_rank::{
    blend, mmr, top_k, CooccurrenceWeight, ItemCooccurrence, ItemIndex, Metric, Normalization,
    Source,
};
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
    // A batch of 1,024 queries makes an index's integer codes; after it, batches of 16 or more
    // take the coded first pass. `batch_20k_items` is an index without codes (the matrix
    // product), `batch_coded_20k_items` one with them.
    let first = random(1024, dim, 5);
    for threads in [1, 2] {
        let idx = index.clone().with_threads(threads);
        group.bench_with_input(
            BenchmarkId::new("batch_20k_items", threads),
            &threads,
            |b, _| b.iter(|| idx.search_batch(queries.view(), 10, &[]).unwrap()),
        );
        let coded = index.clone().with_threads(threads);
        coded.search_batch(first.view(), 10, &[]).unwrap();
        group.bench_with_input(
            BenchmarkId::new("batch_coded_20k_items", threads),
            &threads,
            |b, _| b.iter(|| coded.search_batch(queries.view(), 10, &[]).unwrap()),
        );
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_query_20k_items", |b| {
        b.iter(|| index.search(queries.row(0), 10, &[]).unwrap())
    });
    group.finish();
}

/// What one hybrid recommendation does after the embedding scores: throughput in items scored
/// (blend, selection) or in lists (MMR, co-occurrence).
fn rerank(c: &mut Criterion) {
    let items = 20_000;
    let index = ItemIndex::new(random(items, 384, 3), Metric::Cosine).unwrap();
    let embedding = index.scores(random(1, 384, 4).row(0)).unwrap();
    // Rules reach few items; popularity is a log count.
    let rules: Vec<f32> = (0..items)
        .map(|i| if i % 97 == 0 { (i % 7) as f32 } else { 0.0 })
        .collect();
    let popularity: Vec<f32> = (0..items).map(|i| ((items - i) as f32).ln()).collect();
    let sources = [
        Source {
            scores: &embedding,
            weight: 1.0,
        },
        Source {
            scores: &rules,
            weight: 0.3,
        },
        Source {
            scores: &popularity,
            weight: 0.3,
        },
    ];
    let history: Vec<u32> = (0..10).map(|i| i * 1_999).collect();
    let mut group = c.benchmark_group("rerank");
    group.sample_size(10);
    group.throughput(Throughput::Elements(items as u64));
    group.bench_function("blend_3_sources_20k_items", |b| {
        b.iter(|| blend(&sources, Normalization::MinMax).unwrap())
    });
    let blended = blend(&sources, Normalization::MinMax).unwrap();
    group.bench_function("top50_excluding_10_of_20k_items", |b| {
        b.iter(|| top_k(&blended, 50, &history))
    });
    // As the recommender does: 50 candidates, 10 picked, cosine of 384-wide unit vectors.
    let pool = top_k(&blended, 50, &history);
    let vectors = index.vectors();
    let sim = |a: u32, b: u32| vectors.row(a as usize).dot(&vectors.row(b as usize));
    group.throughput(Throughput::Elements(1));
    group.bench_function("mmr_10_of_50_dim384", |b| {
        b.iter(|| mmr(&pool, 10, 0.9, sim).unwrap())
    });
    let cooc = ItemCooccurrence::fit(&baskets(items as u32), items, CooccurrenceWeight::Cosine);
    group.bench_function("cooccurrence_top10_20k_items", |b| {
        b.iter(|| cooc.recommend(&history, &history, 10))
    });
    group.finish();
}

/// 50,000 baskets of 2 to 9 items with a skewed popularity, deterministic.
fn baskets(items: u32) -> Vec<Vec<u32>> {
    affinity_data::synthetic::skewed_baskets(50_000, 9, items)
}

criterion_group! {
    name = benches;
    // 10,000 bootstrap resamples, not 100,000: with 10 samples the intervals hardly move, and
    // the HTML report's densities over every resample then take seconds instead of most of
    // the run.
    config = Criterion::default().nresamples(10_000);
    targets = bench, rerank
}
criterion_main!(benches);
