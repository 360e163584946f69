//! `affinity bench rank`: exact top-k throughput on random vectors.

use std::time::Instant;

use affinity_rank::{ItemIndex, Metric};
use ndarray::Array2;

#[derive(Debug, clap::Args)]
pub struct RankBenchArgs {
    /// Items in the index.
    #[arg(long, default_value_t = 100_000)]
    pub items: usize,
    /// Vector width.
    #[arg(long, default_value_t = 384)]
    pub dim: usize,
    /// Queries, searched as one batch.
    #[arg(long, default_value_t = 10_000)]
    pub queries: usize,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Queries timed one at a time.
    #[arg(long, default_value_t = 200)]
    pub single: usize,
    /// Print one JSON line.
    #[arg(long)]
    pub json: bool,
}

/// Uniform in [-1, 1), from a xorshift stream: the same data for every run and for the
/// comparison script, which draws its own.
fn random(rows: usize, dim: usize, seed: u64) -> Array2<f32> {
    let mut state = seed.max(1);
    Array2::from_shape_fn((rows, dim), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    })
}

pub fn run(args: RankBenchArgs) -> anyhow::Result<()> {
    let index = ItemIndex::new(random(args.items, args.dim, 1), Metric::InnerProduct)?
        .with_threads(args.threads);
    let queries = random(args.queries, args.dim, 2);
    let start = Instant::now();
    let results = index.search_batch(queries.view(), args.k, &[])?;
    let batch_seconds = start.elapsed().as_secs_f64();
    assert_eq!(results.len(), args.queries);
    let single = args.single.min(args.queries);
    let start = Instant::now();
    for i in 0..single {
        index.search(queries.row(i), args.k, &[])?;
    }
    let single_seconds = start.elapsed().as_secs_f64();
    let batch_qps = args.queries as f64 / batch_seconds;
    let single_qps = single as f64 / single_seconds;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"batch_qps": batch_qps, "single_qps": single_qps, "items": args.items,
                "dim": args.dim, "queries": args.queries, "k": args.k, "threads": args.threads,
                "kernels": affinity_rank::kernels()})
        );
    } else {
        println!(
            "exact top-{} over {} x {} f32: batch of {} queries {:.0} queries/s ({:.2} s); one at a time {:.0} queries/s ({})",
            args.k, args.items, args.dim, args.queries, batch_qps, batch_seconds, single_qps,
            affinity_rank::kernels()
        );
    }
    Ok(())
}
