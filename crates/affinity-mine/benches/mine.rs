//! FP-growth on the FIMI benchmark sets (from `../shared/datasets/fimi`, skipped with a message
//! when absent) and on a generated basket set, count-only and with itemsets collected, 1 and 2
//! threads; closed and maximal itemsets; rule generation from the frequent itemsets and rule
//! firing for baskets. Throughput in transactions, itemsets or baskets per second.
//!
//! `cargo bench -p affinity-mine`; the whole set with baselines is `scripts/bench.sh`, and the
//! side-by-side comparison with pyfim is `benches/mine_vs_pyfim.py` at the top of the workspace.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use affinity_mine::{
    generate_rules, mine_itemsets, Algorithm, Consequents, CountSink, Itemset, MinSupport,
    MiningParams, RuleIndex, RuleParams, Target,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::PathBuf;

fn fimi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/fimi")
}

fn fimi(name: &str) -> Option<Vec<Vec<u32>>> {
    let path = fimi_dir().join(name);
    path.is_file().then(|| {
        let options = affinity_data::LoadOptions::default();
        affinity_data::read_transactions(&path, affinity_data::TransactionFile::Fimi, &options)
            .expect("a FIMI benchmark set")
            .0
            .baskets
    })
}

/// 20,000 baskets over 500 items with a skewed popularity, deterministic.
fn generated() -> Vec<Vec<u32>> {
    affinity_data::synthetic::skewed_baskets(20_000, 13, 500)
}

fn bench(c: &mut Criterion) {
    let mut cases: Vec<(String, Vec<Vec<u32>>, &str)> =
        vec![("generated@0.005".into(), generated(), "0.005")];
    for (file, support) in [
        ("retail.dat", "0.001"),
        ("retail.dat", "0.0001"),
        ("chess.dat", "0.6"),
        ("chess.dat", "0.5"),
        ("mushroom.dat", "0.1"),
        ("T10I4D100K.dat", "0.001"),
    ] {
        match fimi(file) {
            Some(tx) => cases.push((format!("{file}@{support}"), tx, support)),
            None => eprintln!(
                "fpgrowth: {} not found, {file}@{support} skipped",
                fimi_dir().join(file).display()
            ),
        }
    }
    let mut group = c.benchmark_group("fpgrowth");
    group.sample_size(10);
    for (name, tx, support) in &cases {
        group.throughput(Throughput::Elements(tx.len() as u64));
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

/// Closed and maximal itemsets: filtered from the frequent ones held in memory, so slower than
/// plain mining; one thread.
fn closed_maximal(c: &mut Criterion) {
    let tx = generated();
    let mut group = c.benchmark_group("closed_maximal");
    group.sample_size(10);
    group.throughput(Throughput::Elements(tx.len() as u64));
    let min = MinSupport::fraction("0.005").unwrap();
    for (name, target) in [("closed", Target::Closed), ("maximal", Target::Maximal)] {
        let params = MiningParams::new(min).target(target);
        group.bench_function(format!("generated@0.005/{name}"), |b| {
            b.iter(|| {
                let mut sink: Vec<Itemset> = Vec::new();
                mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut sink).unwrap();
                sink.len()
            })
        });
    }
    group.finish();
}

/// Rules from the frequent itemsets of the generated set (itemsets per second), and the rules
/// each basket fires, as a recommendation does per history (baskets per second).
fn rules(c: &mut Criterion) {
    let tx = generated();
    let mut itemsets: Vec<Itemset> = Vec::new();
    let params = MiningParams::new(MinSupport::fraction("0.001").unwrap()).max_len(3);
    let summary = mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut itemsets).unwrap();
    let mut group = c.benchmark_group("rules");
    group.sample_size(10);
    group.throughput(Throughput::Elements(itemsets.len() as u64));
    for (name, consequents) in [("single", Consequents::Single), ("any", Consequents::Any)] {
        let rule_params = RuleParams {
            min_confidence: 0.05,
            consequents,
            ..RuleParams::default()
        };
        group.bench_function(format!("generate/generated@0.001/{name}"), |b| {
            b.iter(|| generate_rules(&itemsets, summary.transactions, &rule_params).unwrap())
        });
    }
    let rules = generate_rules(
        &itemsets,
        summary.transactions,
        &RuleParams {
            min_confidence: 0.05,
            ..RuleParams::default()
        },
    )
    .unwrap();
    let index = RuleIndex::new(&rules);
    group.throughput(Throughput::Elements(tx.len() as u64));
    group.bench_function("fired/generated@0.001", |b| {
        b.iter(|| {
            tx.iter()
                .map(|basket| index.fired(basket).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // 10,000 bootstrap resamples, not 100,000: with 10 samples the intervals hardly move, and
    // the HTML report's densities over every resample then take seconds instead of most of
    // the run.
    config = Criterion::default().nresamples(10_000);
    targets = bench, closed_maximal, rules
}
criterion_main!(benches);
