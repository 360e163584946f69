//! FP-growth, Apriori and brute force agree on random databases; closed and maximal sets match
//! their definitions; support is anti-monotone; thread count changes nothing.

use affinity_mine::{
    generate_rules, mine_group, mine_itemsets, Algorithm, Consequents, Itemset, MinSupport,
    MiningParams, RuleParams, Target,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn support_of(tx: &[Vec<u32>], weights: &[u64], items: &[u32]) -> u64 {
    tx.iter()
        .zip(weights)
        .filter(|(t, _)| items.iter().all(|i| t.contains(i)))
        .map(|(_, w)| w)
        .sum()
}

/// Every non-empty subset of the items present, with its support.
fn brute_force(
    tx: &[Vec<u32>],
    weights: &[u64],
    min: u64,
    max_len: usize,
) -> BTreeMap<Vec<u32>, u64> {
    let mut items: Vec<u32> = tx.iter().flatten().copied().collect();
    items.sort_unstable();
    items.dedup();
    let mut out = BTreeMap::new();
    for mask in 1u32..(1 << items.len()) {
        let set: Vec<u32> = (0..items.len())
            .filter(|k| mask >> k & 1 == 1)
            .map(|k| items[k])
            .collect();
        if set.len() > max_len {
            continue;
        }
        let s = support_of(tx, weights, &set);
        if s >= min {
            out.insert(set, s);
        }
    }
    out
}

fn mine(
    tx: &[Vec<u32>],
    weights: &[u64],
    params: &MiningParams,
    algorithm: Algorithm,
) -> BTreeMap<Vec<u32>, u64> {
    let mut found: Vec<Itemset> = Vec::new();
    let summary = mine_itemsets(tx, Some(weights), params, algorithm, &mut found).unwrap();
    assert_eq!(summary.itemsets, found.len() as u64);
    let map: BTreeMap<Vec<u32>, u64> = found.iter().map(|s| (s.items.clone(), s.support)).collect();
    assert_eq!(map.len(), found.len(), "an itemset was reported twice");
    map
}

fn database() -> impl Strategy<Value = (Vec<Vec<u32>>, Vec<u64>)> {
    prop::collection::vec((prop::collection::vec(0u32..9, 0..7), 1u64..3), 1..25)
        .prop_map(|rows| rows.into_iter().unzip())
}

/// Every rule (any consequent size) of every itemset of the database.
fn every_rule(tx: &[Vec<u32>], w: &[u64]) -> Vec<affinity_mine::Rule> {
    let found = mine(
        tx,
        w,
        &MiningParams::new(MinSupport::Count(1)),
        Algorithm::FpGrowth,
    );
    let sets: Vec<Itemset> = found
        .iter()
        .map(|(s, &support)| Itemset {
            items: s.clone(),
            support,
        })
        .collect();
    let params = RuleParams {
        consequents: Consequents::Any,
        ..RuleParams::default()
    };
    generate_rules(&sets, w.iter().sum(), &params).unwrap()
}

/// Parallel FP-growth as Spark lays it out: items ranked by global support, each transaction
/// sent to each group once, cut after its last item of that group; the groups' outputs mapped
/// back to item ids and merged.
fn parallel_fp_growth(
    tx: &[Vec<u32>],
    weights: &[u64],
    min: u64,
    max_len: usize,
    groups: u32,
) -> BTreeMap<Vec<u32>, u64> {
    let mut support: BTreeMap<u32, u64> = BTreeMap::new();
    for (t, &w) in tx.iter().zip(weights) {
        let mut items = t.clone();
        items.sort_unstable();
        items.dedup();
        for i in items {
            *support.entry(i).or_default() += w;
        }
    }
    let mut ranked: Vec<u32> = support
        .keys()
        .copied()
        .filter(|i| support[i] >= min)
        .collect();
    ranked.sort_by_key(|i| (std::cmp::Reverse(support[i]), *i));
    let rank: BTreeMap<u32, u32> = ranked
        .iter()
        .enumerate()
        .map(|(r, &i)| (i, r as u32))
        .collect();
    let mut merged = BTreeMap::new();
    for group in 0..groups {
        let (mut share, mut share_weights) = (Vec::new(), Vec::new());
        for (t, &w) in tx.iter().zip(weights) {
            let mut ranks: Vec<u32> = t.iter().filter_map(|i| rank.get(i).copied()).collect();
            ranks.sort_unstable();
            ranks.dedup();
            if let Some(last) = ranks.iter().rposition(|r| r % groups == group) {
                share.push(ranks[..=last].to_vec());
                share_weights.push(w);
            }
        }
        let params = MiningParams::new(MinSupport::Count(min)).max_len(max_len);
        let mut found: Vec<Itemset> = Vec::new();
        let owns = |r: u32| r % groups == group;
        mine_group(&share, Some(&share_weights), &params, &owns, &mut found).unwrap();
        for set in found {
            assert!(
                owns(*set.items.last().unwrap()),
                "group {group} reported {:?}",
                set.items
            );
            let mut items: Vec<u32> = set.items.iter().map(|&r| ranked[r as usize]).collect();
            items.sort_unstable();
            assert!(
                merged.insert(items, set.support).is_none(),
                "an itemset was reported by two groups"
            );
        }
    }
    merged
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn fpgrowth_apriori_and_brute_force_agree((tx, w) in database(), min in 1u64..6, max_len in 1usize..6, threads in 1usize..4) {
        let expected = brute_force(&tx, &w, min, max_len);
        let params = MiningParams::new(MinSupport::Count(min)).max_len(max_len);
        prop_assert_eq!(&mine(&tx, &w, &params, Algorithm::Apriori), &expected);
        prop_assert_eq!(&mine(&tx, &w, &params.clone().threads(threads), Algorithm::FpGrowth), &expected);
    }

    #[test]
    fn parallel_fp_growth_groups_together_find_every_itemset_once((tx, w) in database(), min in 1u64..5, max_len in 1usize..6, groups in 1u32..5) {
        prop_assert_eq!(parallel_fp_growth(&tx, &w, min, max_len, groups), brute_force(&tx, &w, min, max_len));
    }

    #[test]
    fn output_order_does_not_depend_on_threads((tx, w) in database(), min in 1u64..4) {
        let params = MiningParams::new(MinSupport::Count(min));
        let mut one: Vec<Itemset> = Vec::new();
        let mut three: Vec<Itemset> = Vec::new();
        mine_itemsets(&tx, Some(&w), &params, Algorithm::FpGrowth, &mut one).unwrap();
        mine_itemsets(&tx, Some(&w), &params.threads(3), Algorithm::FpGrowth, &mut three).unwrap();
        prop_assert_eq!(one, three);
    }

    #[test]
    fn closed_and_maximal_match_their_definitions((tx, w) in database(), min in 1u64..5, threads in 1usize..3) {
        let all = brute_force(&tx, &w, min, usize::MAX);
        let extensions = |set: &Vec<u32>| -> Vec<u64> {
            all.iter()
                .filter(|(s, _)| s.len() == set.len() + 1 && set.iter().all(|i| s.contains(i)))
                .map(|(_, &x)| x)
                .collect()
        };
        let closed: BTreeMap<Vec<u32>, u64> = all.iter()
            .filter(|(s, sup)| extensions(s).iter().all(|x| x < *sup))
            .map(|(s, sup)| (s.clone(), *sup)).collect();
        let maximal: BTreeMap<Vec<u32>, u64> = all.iter()
            .filter(|(s, _)| extensions(s).is_empty())
            .map(|(s, sup)| (s.clone(), *sup)).collect();
        for algorithm in [Algorithm::FpGrowth, Algorithm::Apriori] {
            let params = MiningParams::new(MinSupport::Count(min)).threads(threads);
            prop_assert_eq!(&mine(&tx, &w, &params.clone().target(Target::Closed), algorithm), &closed);
            prop_assert_eq!(&mine(&tx, &w, &params.target(Target::Maximal), algorithm), &maximal);
        }
    }

    #[test]
    fn closed_and_maximal_up_to_a_length_agree_with_the_filtering_oracle((tx, w) in database(), min in 1u64..4, max_len in 1usize..5, threads in 1usize..3) {
        for target in [Target::Closed, Target::Maximal] {
            let params = MiningParams::new(MinSupport::Count(min)).max_len(max_len).target(target);
            let oracle = mine(&tx, &w, &params, Algorithm::Apriori);
            prop_assert!(oracle.keys().all(|s| s.len() <= max_len));
            prop_assert_eq!(&mine(&tx, &w, &params.threads(threads), Algorithm::FpGrowth), &oracle);
        }
    }

    #[test]
    fn the_rule_index_finds_exactly_the_rules_a_basket_fires((tx, w) in database(), basket in prop::collection::vec(0u32..9, 0..9)) {
        let rules = every_rule(&tx, &w);
        let expected: Vec<usize> = (0..rules.len())
            .filter(|&r| rules[r].antecedent.iter().all(|i| basket.contains(i)))
            .collect();
        prop_assert_eq!(affinity_mine::RuleIndex::new(&rules).fired(&basket), expected);
    }

    #[test]
    fn the_strongest_rule_per_item_is_the_best_fired_one((tx, w) in database(), basket in prop::collection::vec(0u32..9, 0..9)) {
        let rules = every_rule(&tx, &w);
        // Brute force: every fired rule, each consequent item, the first of the strongest.
        let mut expected = std::collections::BTreeMap::<u32, usize>::new();
        for (r, rule) in rules.iter().enumerate() {
            if rule.antecedent.is_empty() || !rule.antecedent.iter().all(|i| basket.contains(i)) {
                continue;
            }
            for &item in &rule.consequent {
                let better = expected.get(&item).is_none_or(|&b| {
                    (rule.confidence, rule.lift) > (rules[b].confidence, rules[b].lift)
                });
                if better {
                    expected.insert(item, r);
                }
            }
        }
        let found = affinity_mine::RuleIndex::new(&rules).strongest_by_item(&basket);
        prop_assert_eq!(found, expected.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn support_is_anti_monotone_and_rules_are_sane((tx, w) in database(), min in 1u64..4) {
        let found = mine(&tx, &w, &MiningParams::new(MinSupport::Count(min)), Algorithm::FpGrowth);
        for (set, support) in &found {
            for skip in 0..set.len() {
                let mut sub = set.clone();
                sub.remove(skip);
                if !sub.is_empty() {
                    prop_assert!(found[&sub] >= *support);
                }
            }
        }
        let sets: Vec<Itemset> = found.iter().map(|(s, &support)| Itemset { items: s.clone(), support }).collect();
        let total: u64 = w.iter().sum();
        let rules = generate_rules(&sets, total, &RuleParams { consequents: Consequents::Any, ..RuleParams::default() }).unwrap();
        for r in &rules {
            prop_assert!((0.0..=1.0 + 1e-12).contains(&r.confidence));
            prop_assert!(r.support <= r.antecedent_support.min(r.consequent_support) + 1e-12);
            prop_assert!((-1.0 - 1e-12..=1.0 + 1e-12).contains(&r.zhangs_metric));
            let expected = support_of(&tx, &w, &[r.antecedent.clone(), r.consequent.clone()].concat());
            prop_assert_eq!(r.count, expected);
        }
    }
}
