//! How close private rule counts come to the exact ones: `cargo run --release -p affinity-mine
//! --example private_rules [-- SEEDS [PER_SHOPPER,... [DATA,...]]]` (defaults: 5 seeds,
//! 16, 64 and 256 itemsets per shopper, groceries and retail; `t10` names T10I4D100K, the synthetic
//! set the default per-shopper cap was chosen on).
//!
//! For each data set and ε it releases itemsets with [`private_itemsets`] and compares them
//! with the exact counts by distinct shoppers ([`shopper_itemsets`]) at the same minimum
//! support: how many exact frequent itemsets and rules come out, how many released ones are
//! frequent in truth, and how far the counts and confidences are off. Groceries (shipped,
//! 3,898 members) has shoppers; FIMI retail (read from `../shared/datasets/fimi` when there,
//! skipped otherwise) has none, so each basket is its own shopper.

use std::collections::HashMap;
use std::path::PathBuf;

use affinity_data::{load, read_transactions, BasketRule, Format, LoadOptions, TransactionFile};
use affinity_mine::{
    generate_rules, private_itemsets, shopper_itemsets, PrivateCountParams, Rule, RuleParams,
};

struct Data {
    name: &'static str,
    baskets: Vec<Vec<u32>>,
    owners: Vec<u32>,
    min_support: f64,
    min_confidence: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = args.first().map_or(Ok(5), |s| s.parse())?;
    let caps: Vec<usize> = args
        .get(1)
        .map_or("16,64,256", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let wanted = args.get(2).map_or("groceries,retail", String::as_str);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut sets = Vec::new();
    for name in wanted.split(',') {
        match name {
            "groceries" => sets.push(groceries(&root)?),
            "retail" | "t10" => {
                let file = if name == "retail" {
                    "retail.dat"
                } else {
                    "T10I4D100K.dat"
                };
                let path = root.join("../shared/datasets/fimi").join(file);
                if !path.exists() {
                    eprintln!("{} is missing: skipped", path.display());
                    continue;
                }
                let (tx, _) =
                    read_transactions(&path, TransactionFile::Fimi, &LoadOptions::default())?;
                let owners = (0..tx.baskets.len() as u32).collect();
                sets.push(Data {
                    name: if name == "retail" {
                        "retail (baskets)"
                    } else {
                        "T10I4D100K (baskets)"
                    },
                    baskets: tx.baskets,
                    owners,
                    min_support: 0.005,
                    min_confidence: 0.3,
                });
            }
            other => {
                return Err(format!("unknown data set {other}: groceries, retail or t10").into())
            }
        }
    }

    println!(
        "| data | shoppers | per shopper | ε | noise std | threshold | exact itemsets | released | recall | \
         precision | median support error | exact rules | rules recall | mean confidence error |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for data in &sets {
        let shoppers = {
            let mut o = data.owners.clone();
            o.sort_unstable();
            o.dedup();
            o.len()
        };
        let min_count = (data.min_support * shoppers as f64).ceil() as u64;
        let exact = shopper_itemsets(&data.baskets, &data.owners, 2, min_count)?;
        let rule_params = RuleParams {
            min_confidence: data.min_confidence,
            ..RuleParams::default()
        };
        let exact_rules = generate_rules(&exact, shoppers as u64, &rule_params)?;
        let truth: HashMap<&[u32], u64> = exact
            .iter()
            .map(|s| (s.items.as_slice(), s.support))
            .collect();
        // Every count, frequent or not, to judge the released ones by.
        let all = shopper_itemsets(&data.baskets, &data.owners, 2, 1)?;
        let all: HashMap<&[u32], u64> = all
            .iter()
            .map(|s| (s.items.as_slice(), s.support))
            .collect();
        for (per_shopper, epsilon) in caps.iter().flat_map(|&c| [1.0, 3.0, 8.0].map(|e| (c, e))) {
            let mut sums = [0.0f64; 7];
            let mut spent = None;
            for seed in 0..seeds {
                let params = PrivateCountParams {
                    epsilon,
                    min_support: data.min_support,
                    per_shopper,
                    seed: Some(seed),
                    ..PrivateCountParams::default()
                };
                let release = private_itemsets(&data.baskets, &data.owners, &params)?;
                let found = release
                    .itemsets
                    .iter()
                    .filter(|s| truth.contains_key(s.items.as_slice()))
                    .count();
                // Supports (counts over the total), as rules use them: the counts themselves
                // are weighted, so smaller than the raw ones.
                let mut errors: Vec<f64> = release
                    .itemsets
                    .iter()
                    .map(|s| {
                        let real = all.get(s.items.as_slice()).copied().unwrap_or(0) as f64
                            / shoppers as f64;
                        let released = s.support as f64 / release.total as f64;
                        (released - real).abs() / real.max(1.0 / shoppers as f64)
                    })
                    .collect();
                errors.sort_by(f64::total_cmp);
                let rules = generate_rules(&release.itemsets, release.total, &rule_params)?;
                let (shared, confidence_error) = compare_rules(&exact_rules, &rules);
                sums[0] += release.itemsets.len() as f64;
                sums[1] += found as f64 / exact.len().max(1) as f64;
                sums[2] += found as f64 / release.itemsets.len().max(1) as f64;
                sums[3] += errors.get(errors.len() / 2).copied().unwrap_or(0.0);
                sums[4] += shared as f64 / exact_rules.len().max(1) as f64;
                sums[5] += confidence_error;
                sums[6] += 1.0;
                spent = Some(release.spent);
            }
            let n = sums[6];
            let spent = spent.expect("at least one seed");
            println!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {} | {:.1} | {:.3} | {:.3} | {:.3} | {} | {:.3} | {:.4} |",
                data.name,
                shoppers,
                per_shopper,
                epsilon,
                spent.noise_std,
                spent.threshold,
                exact.len(),
                sums[0] / n,
                sums[1] / n,
                sums[2] / n,
                sums[3] / n,
                exact_rules.len(),
                sums[4] / n,
                sums[5] / n,
            );
        }
    }
    Ok(())
}

/// Exact rules found again, and the mean absolute confidence error over them.
fn compare_rules(exact: &[Rule], released: &[Rule]) -> (usize, f64) {
    let by_sides: HashMap<(&[u32], &[u32]), f64> = released
        .iter()
        .map(|r| {
            (
                (r.antecedent.as_slice(), r.consequent.as_slice()),
                r.confidence,
            )
        })
        .collect();
    let mut shared = 0;
    let mut error = 0.0;
    for rule in exact {
        if let Some(c) = by_sides.get(&(rule.antecedent.as_slice(), rule.consequent.as_slice())) {
            shared += 1;
            error += (c - rule.confidence).abs();
        }
    }
    (
        shared,
        if shared == 0 {
            0.0
        } else {
            error / shared as f64
        },
    )
}

/// The shipped Groceries file: baskets by member and day, members as shoppers.
fn groceries(root: &std::path::Path) -> Result<Data, Box<dyn std::error::Error>> {
    let (groceries, _) = load(
        root.join("data/groceries.csv"),
        &Format::Long(Default::default()),
        &LoadOptions::default(),
    )?;
    let (baskets, owners) = groceries
        .baskets(BasketRule::default())
        .into_iter()
        .map(|b| (b.items, b.user))
        .unzip();
    Ok(Data {
        name: "Groceries (members)",
        baskets,
        owners,
        min_support: 0.02,
        min_confidence: 0.1,
    })
}
