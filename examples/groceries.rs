//! The main job, end to end on the shipped Groceries data.
//!
//! Run it with `bash scripts/main.sh` (or `cargo run --release --example groceries` once the
//! clone is bootstrapped). It grows with each piece of the library; today: the data, a
//! leakage-free split, and the baselines every later method must beat.

use affinity_data::metrics::Evaluator;
use affinity_data::{
    dataset_stats, items_by_user, leave_one_out, load, BasketRule, CooccurrenceWeight, Format,
    HoldOut, ItemCooccurrence, LoadOptions, LongCsv, MostPopular, TimeFormat,
};
use std::collections::HashSet;
use std::path::PathBuf;

const K: usize = 10;

fn main() -> anyhow::Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/groceries.csv"));
    let format = Format::Long(LongCsv {
        time_format: TimeFormat::DayMonthYear,
        ..LongCsv::default()
    });
    let (dataset, report) = load(&path, &format, &LoadOptions::default())?;
    let stats = dataset_stats(&dataset, &report, 5);
    println!(
        "{}: {} rows, {} duplicates dropped, {} users, {} items, {} baskets",
        path.display(),
        stats.rows_read,
        stats.duplicates_dropped,
        stats.users,
        stats.items,
        stats.baskets
    );

    // Each member's last shopping day is the test basket, the one before it validation.
    let split = leave_one_out(&dataset, HoldOut::LastTimestamp);
    let n_users = dataset.users.len();
    let n_items = dataset.items.len();
    let history = items_by_user(&split.train, n_users);
    let test = items_by_user(&split.test, n_users);
    let train_set = affinity_data::Dataset {
        interactions: split.train.clone(),
        ..dataset.clone()
    };
    let baskets = train_set.transactions(BasketRule::default());
    println!(
        "split: {} train events, {} validation, {} test; {} training baskets",
        split.train.len(),
        split.valid.len(),
        split.test.len(),
        baskets.len()
    );

    let popular = MostPopular::fit(&baskets, n_items);
    let cooccurrence = ItemCooccurrence::fit(&baskets, n_items, CooccurrenceWeight::Cosine);
    let mut evaluators = [Evaluator::new(K, n_items), Evaluator::new(K, n_items)];
    for (user, bought) in test.iter().enumerate() {
        // Relevant: items of the test basket the member had not bought before (already-bought
        // items are excluded from every list, so repeats cannot be recommended).
        let seen: HashSet<u32> = history[user].iter().copied().collect();
        let relevant: Vec<u32> = bought
            .iter()
            .copied()
            .filter(|i| !seen.contains(i))
            .collect();
        if relevant.is_empty() {
            continue;
        }
        let lists = [
            popular.recommend(&history[user], K),
            cooccurrence.recommend(&history[user], K),
        ];
        for (eval, list) in evaluators.iter_mut().zip(lists) {
            let ranked: Vec<u32> = list.into_iter().map(|(item, _)| item).collect();
            eval.add(&ranked, &relevant);
        }
    }
    println!(
        "\n{:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "method", "Recall@10", "NDCG@10", "HR@10", "MRR", "coverage"
    );
    for (name, eval) in ["most popular", "item co-occurrence"]
        .iter()
        .zip(&evaluators)
    {
        let s = eval.summary();
        println!(
            "{name:<22} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
            s.recall, s.ndcg, s.hit_rate, s.mrr, s.coverage
        );
    }
    println!(
        "({} test users with at least one new item)",
        evaluators[0].summary().users
    );
    Ok(())
}
