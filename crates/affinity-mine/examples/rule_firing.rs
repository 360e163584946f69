//! Which rules a shopper's history fires: `RuleIndex::fired` against the scan it replaced
//! (every rule whose first antecedent item is in the history, each checked), side by side in
//! one run on 5,000 generated baskets of about 35 items out of 300; and the strongest rule
//! per predicted item (what a recommender scores with): `RuleIndex::strongest_by_item`
//! against reading every fired rule.
//!
//! `cargo run --release -p affinity-mine --example rule_firing`

use affinity_mine::{
    generate_rules, mine_itemsets, Algorithm, MinSupport, MiningParams, RuleIndex, RuleParams,
};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

fn main() -> Result<(), affinity_mine::MineError> {
    let mut rng = affinity_data::synthetic::XorShift::new(11);
    let baskets: Vec<Vec<u32>> = (0..5000)
        .map(|_| {
            let mut basket: Vec<u32> = (0..40)
                .map(|_| {
                    let u = rng.unit();
                    (u * u * 300.0) as u32
                })
                .collect();
            basket.sort_unstable();
            basket.dedup();
            basket
        })
        .collect();
    let mut sets = Vec::new();
    let params = MiningParams::new(MinSupport::fraction("0.02")?).max_len(3);
    mine_itemsets(&baskets, None, &params, Algorithm::FpGrowth, &mut sets)?;
    let rules = generate_rules(&sets, baskets.len() as u64, &RuleParams::default())?;
    let histories = &baskets[..1000];

    let mut by_first: HashMap<u32, Vec<usize>> = HashMap::new();
    for (id, rule) in rules.iter().enumerate() {
        by_first.entry(rule.antecedent[0]).or_default().push(id);
    }
    let started = Instant::now();
    let mut scanned = 0;
    for history in histories {
        let items: HashSet<u32> = history.iter().copied().collect();
        scanned += items
            .iter()
            .filter_map(|i| by_first.get(i))
            .flatten()
            .filter(|&&r| rules[r].antecedent.iter().all(|i| items.contains(i)))
            .count();
    }
    let scan = started.elapsed().as_secs_f64();

    let index = RuleIndex::new(&rules);
    let started = Instant::now();
    let fired: usize = histories.iter().map(|h| index.fired(h).len()).sum();
    let indexed = started.elapsed().as_secs_f64();
    assert_eq!(scanned, fired, "both find the same rules");
    let mean = histories.iter().map(Vec::len).sum::<usize>() / histories.len();
    println!(
        "{} itemsets, {} rules; 1,000 histories of about {mean} items fire {fired} rules",
        sets.len(),
        rules.len()
    );
    println!(
        "scan {scan:.3} s, RuleIndex::fired {indexed:.3} s: {:.1}x",
        scan / indexed
    );

    // Scoring: the strongest fired rule per consequent item.
    let started = Instant::now();
    let mut per_rule = Vec::new();
    for history in histories {
        let mut best: HashMap<u32, usize> = HashMap::new();
        for r in index.fired(history) {
            let rule = &rules[r];
            for &item in &rule.consequent {
                let better = best.get(&item).is_none_or(|&b| {
                    (rule.confidence, rule.lift) > (rules[b].confidence, rules[b].lift)
                });
                if better {
                    best.insert(item, r);
                }
            }
        }
        let mut best: Vec<(u32, usize)> = best.into_iter().collect();
        best.sort_unstable();
        per_rule.push(best);
    }
    let reading = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let strongest: Vec<Vec<(u32, usize)>> = histories
        .iter()
        .map(|h| index.strongest_by_item(h))
        .collect();
    let grouped = started.elapsed().as_secs_f64();
    assert_eq!(per_rule, strongest, "both pick the same rules");
    println!(
        "strongest rule per item: reading each fired rule {reading:.3} s, \
         RuleIndex::strongest_by_item {grouped:.3} s: {:.1}x",
        reading / grouped
    );
    Ok(())
}
