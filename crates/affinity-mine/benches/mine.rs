//! FP-growth on the FIMI benchmark sets (from `../shared/datasets/fimi`, skipped when absent)
//! and on a generated basket set, count-only and with itemsets collected, 1 and 2 threads.
//!
//! `cargo bench -p affinity-mine`; the side-by-side comparison with pyfim is
//! `benches/mine_vs_pyfim.sh` at the top of the workspace.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use affinity_mine::{mine_itemsets, Algorithm, CountSink, Itemset, MinSupport, MiningParams};
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;

fn fimi(name: &str) -> Option<Vec<Vec<u32>>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/fimi")
        .join(name);
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .map(|l| {
                l.split_ascii_whitespace()
                    .map(|t| t.parse().unwrap())
                    .collect()
            })
            .collect(),
    )
}

/// 20,000 baskets over 500 items with a skewed popularity, deterministic.
fn generated() -> Vec<Vec<u32>> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..20_000)
        .map(|_| {
            let len = 2 + (next() % 12) as usize;
            (0..len)
                .map(|_| {
                    let u = (next() % 1_000_000) as f64 / 1_000_000.0;
                    (u * u * 500.0) as u32
                })
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut cases: Vec<(String, Vec<Vec<u32>>, &str)> =
        vec![("generated@0.5%".into(), generated(), "0.005")];
    for (file, support) in [
        ("retail.dat", "0.001"),
        ("retail.dat", "0.0001"),
        ("chess.dat", "0.6"),
        ("chess.dat", "0.5"),
        ("mushroom.dat", "0.1"),
        ("T10I4D100K.dat", "0.001"),
    ] {
        if let Some(tx) = fimi(file) {
            cases.push((format!("{file}@{support}"), tx, support));
        }
    }
    let mut group = c.benchmark_group("fpgrowth");
    group.sample_size(10);
    for (name, tx, support) in &cases {
        let min = MinSupport::fraction(support).unwrap();
        for threads in [1, 2] {
            let params = MiningParams::new(min).threads(threads);
            group.bench_function(format!("{name}/count/t{threads}"), |b| {
                b.iter(|| {
                    let mut sink = CountSink::default();
                    mine_itemsets(tx, None, &params, Algorithm::FpGrowth, &mut sink).unwrap();
                    sink.count
                })
            });
            group.bench_function(format!("{name}/collect/t{threads}"), |b| {
                b.iter(|| {
                    let mut sink: Vec<Itemset> = Vec::new();
                    mine_itemsets(tx, None, &params, Algorithm::FpGrowth, &mut sink).unwrap();
                    sink.len()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
