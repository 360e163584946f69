//! Edge cases where the popular tools go quietly wrong, and settings that must fail early.

use affinity_mine::{
    generate_rules, mine_at_most, mine_itemsets, Algorithm, Consequents, CountSink, Duplicates,
    Itemset, MinSupport, MineError, MiningParams, RuleIndex, RuleParams, Target,
};

fn mine(tx: &[Vec<u32>], params: &MiningParams) -> Vec<Itemset> {
    let mut found = Vec::new();
    mine_itemsets(tx, None, params, Algorithm::FpGrowth, &mut found).unwrap();
    found.sort();
    found
}

fn set(items: &[u32], support: u64) -> Itemset {
    Itemset {
        items: items.to_vec(),
        support,
    }
}

#[test]
fn items_in_every_transaction_are_kept() {
    // pyfim 6.28 drops itemsets made only of items present in every transaction.
    let tx = vec![vec![0, 1], vec![0, 1, 2], vec![0, 1, 2]];
    let found = mine(&tx, &MiningParams::new(MinSupport::Count(2)));
    assert!(found.contains(&set(&[0], 3)));
    assert!(found.contains(&set(&[0, 1], 3)));
    assert_eq!(found.len(), 7);
}

#[test]
fn identical_and_single_transactions_and_single_paths() {
    let same = vec![vec![3, 1, 2]; 4];
    let found = mine(&same, &MiningParams::new(MinSupport::Count(4)));
    assert_eq!(found.len(), 7);
    assert!(found.iter().all(|s| s.support == 4));
    let one = vec![vec![5, 6]];
    assert_eq!(
        mine(&one, &MiningParams::new(MinSupport::Count(1))).len(),
        3
    );
    // Single path of length 20: 2^20 - 1 itemsets, counted without listing them.
    let long = vec![(0..20).collect::<Vec<u32>>(); 2];
    let mut count = CountSink::default();
    mine_itemsets(
        &long,
        None,
        &MiningParams::new(MinSupport::Count(2)),
        Algorithm::FpGrowth,
        &mut count,
    )
    .unwrap();
    assert_eq!(count.count, (1 << 20) - 1);
    let mut count = CountSink::default();
    let params = MiningParams::new(MinSupport::Count(2)).max_len(2);
    mine_itemsets(&long, None, &params, Algorithm::FpGrowth, &mut count).unwrap();
    assert_eq!(count.count, 20 + 190);
}

#[test]
fn duplicates_merge_or_reject() {
    let tx = vec![vec![1, 1, 2], vec![1, 2]];
    let found = mine(&tx, &MiningParams::new(MinSupport::Count(2)));
    assert_eq!(found, vec![set(&[1], 2), set(&[1, 2], 2), set(&[2], 2)]);
    let params = MiningParams::new(MinSupport::Count(2)).duplicates(Duplicates::Reject);
    let err = mine_itemsets(
        &tx,
        None,
        &params,
        Algorithm::FpGrowth,
        &mut CountSink::default(),
    );
    assert!(matches!(
        err,
        Err(MineError::DuplicateItem {
            transaction: 0,
            item: 1
        })
    ));
}

#[test]
fn empty_transactions_count_towards_fractions() {
    // 4 transactions, 2 empty: {7} has support 2 = 50 %.
    let tx = vec![vec![7], vec![], vec![7], vec![]];
    let params = MiningParams::new(MinSupport::fraction("0.5").unwrap());
    let mut found = Vec::new();
    let summary = mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut found).unwrap();
    assert_eq!(
        (summary.transactions, summary.min_count, found.len()),
        (4, 2, 1)
    );
    let params = MiningParams::new(MinSupport::fraction("0.51").unwrap());
    assert!(mine(&tx, &params).is_empty());
}

#[test]
fn min_count_above_transactions_and_min_count_one() {
    let tx = vec![vec![0, 1], vec![1, 2]];
    assert!(mine(&tx, &MiningParams::new(MinSupport::Count(3))).is_empty());
    assert_eq!(mine(&tx, &MiningParams::new(MinSupport::Count(1))).len(), 5);
}

#[test]
fn fractions_are_exact_on_the_threshold() {
    // 0.1 * 30 is 3.0000000000000004 in floating point: ceil gives 4 and loses sets with count 3.
    assert_eq!(MinSupport::fraction("0.1").unwrap().min_count(30), 3);
    assert_eq!(MinSupport::from_f64(0.1).unwrap().min_count(30), 3);
    assert_eq!(MinSupport::fraction("0.1").unwrap().min_count(31), 4);
    assert_eq!(MinSupport::fraction("1").unwrap().min_count(9), 9);
    assert_eq!(MinSupport::fraction("1e-3").unwrap().min_count(88_162), 89);
    assert_eq!(MinSupport::fraction(".5").unwrap().min_count(3), 2);
    for bad in ["0", "1.01", "-0.1", "abc", "", ".", "1e"] {
        assert!(MinSupport::fraction(bad).is_err(), "{bad}");
    }
}

#[test]
fn invalid_settings_fail_before_mining() {
    let tx = vec![vec![0]];
    for params in [
        MiningParams::new(MinSupport::Count(0)),
        MiningParams::new(MinSupport::Count(1)).threads(0),
        MiningParams::new(MinSupport::Count(1)).max_len(0),
        MiningParams::new(MinSupport::Count(1)).max_itemsets(0),
    ] {
        let err = mine_itemsets(
            &tx,
            None,
            &params,
            Algorithm::FpGrowth,
            &mut CountSink::default(),
        );
        assert!(
            matches!(err, Err(MineError::InvalidSetting(_))),
            "{params:?}"
        );
    }
    let err = mine_itemsets(
        &tx,
        Some(&[1, 2]),
        &MiningParams::new(MinSupport::Count(1)),
        Algorithm::FpGrowth,
        &mut CountSink::default(),
    );
    assert!(matches!(
        err,
        Err(MineError::InvalidSetting(affinity_mine::InvalidSetting {
            name: "weights",
            ..
        }))
    ));
    let bad_rules = RuleParams {
        min_confidence: 1.5,
        ..RuleParams::default()
    };
    assert!(generate_rules(&[], 1, &bad_rules).is_err());
}

#[test]
fn the_cap_stops_with_a_typed_error() {
    let tx = vec![(0..16).collect::<Vec<u32>>(); 3];
    for threads in [1, 2] {
        for target in [Target::Frequent, Target::Closed] {
            let params = MiningParams::new(MinSupport::Count(1))
                .max_itemsets(1000)
                .threads(threads)
                .target(target);
            let mut sink: Vec<Itemset> = Vec::new();
            let result = mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut sink);
            if target == Target::Frequent {
                assert!(matches!(
                    result,
                    Err(MineError::TooManyItemsets { limit: 1000 })
                ));
            } else {
                assert_eq!(result.unwrap().itemsets, 1); // one closed set: all 16 items
            }
        }
    }
}

/// A 100,000-item transaction: the cap fires before work that grows with the square of its
/// length (69 s before), listing its subsets does not recurse once per item (that overflowed
/// the stack), and closed and maximal mining find the one set.
#[test]
fn a_long_transaction_hits_the_cap_first_and_does_not_overflow_the_stack() {
    let wide = vec![(0..100_000u32).collect::<Vec<u32>>()];
    for target in [Target::Frequent, Target::Closed, Target::Maximal] {
        let params = MiningParams::new(MinSupport::Count(1))
            .target(target)
            .max_itemsets(1_000_000);
        let counted = mine_itemsets(
            &wide,
            None,
            &params,
            Algorithm::FpGrowth,
            &mut CountSink::default(),
        );
        let mut found: Vec<Itemset> = Vec::new();
        let listed = mine_itemsets(&wide, None, &params, Algorithm::FpGrowth, &mut found);
        if target == Target::Frequent {
            for result in [counted, listed] {
                assert!(matches!(
                    result,
                    Err(MineError::TooManyItemsets { limit: 1_000_000 })
                ));
            }
        } else {
            assert_eq!(counted.unwrap().itemsets, 1);
            assert_eq!(listed.unwrap().itemsets, 1);
            assert_eq!(found[0].items, wide[0]);
        }
    }
    // Without a cap the count says it cannot be represented instead of wrapping around.
    let params = MiningParams::new(MinSupport::Count(1));
    let result = mine_itemsets(
        &wide,
        None,
        &params,
        Algorithm::FpGrowth,
        &mut CountSink::default(),
    );
    assert!(matches!(
        result,
        Err(MineError::TooManyItemsets { limit: u64::MAX })
    ));
}

/// Rule generation stops at its cap with a typed error instead of growing without bound,
/// and a set too long for consequent masks is refused rather than wrapped around.
#[test]
fn rules_stop_at_their_cap() {
    let tx = vec![(0..12).collect::<Vec<u32>>(); 3];
    let mut sets: Vec<Itemset> = Vec::new();
    let params = MiningParams::new(MinSupport::Count(1));
    mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut sets).unwrap();
    for consequents in [Consequents::Single, Consequents::Any] {
        let capped = RuleParams {
            consequents,
            max_rules: Some(100),
            ..RuleParams::default()
        };
        assert!(matches!(
            generate_rules(&sets, 3, &capped),
            Err(MineError::TooManyRules { limit: 100 })
        ));
    }
    let long = vec![Itemset {
        items: (0..70).collect(),
        support: 1,
    }];
    let any = RuleParams {
        consequents: Consequents::Any,
        ..RuleParams::default()
    };
    assert!(matches!(
        generate_rules(&long, 1, &any),
        Err(MineError::TooManyRules { .. })
    ));
    let zero = RuleParams {
        max_rules: Some(0),
        ..RuleParams::default()
    };
    assert!(generate_rules(&[], 1, &zero).is_err());
}

/// The pipeline's way to stay bounded: the minimum count rises until at most N sets remain,
/// and those are exactly the sets at or above it.
#[test]
fn mining_at_most_n_raises_the_threshold_to_keep_the_strongest() {
    // A dense block that explodes at low support, and a few strong pairs.
    let mut tx: Vec<Vec<u32>> = vec![(0..24).collect(); 2];
    for k in 0..30u32 {
        tx.push(vec![100 + k % 3, 103 + k % 2]);
    }
    let params = MiningParams::new(MinSupport::Count(1)).max_len(3);
    let mut kept: Vec<Itemset> = Vec::new();
    let run = mine_at_most(&tx, None, &params, Algorithm::FpGrowth, 50, &mut kept).unwrap();
    assert!(run.raised());
    assert_eq!(run.requested_min_count, 1);
    assert!(kept.len() <= 50 && !kept.is_empty());
    let mut all: Vec<Itemset> = Vec::new();
    let exact = MiningParams::new(MinSupport::Count(run.summary.min_count)).max_len(3);
    mine_itemsets(&tx, None, &exact, Algorithm::FpGrowth, &mut all).unwrap();
    assert_eq!(kept, all);
    // One lower and there would have been too many.
    let lower = exact.clone().max_itemsets(50);
    let lower = MiningParams {
        min_support: MinSupport::Count(run.summary.min_count - 1),
        ..lower
    };
    assert!(matches!(
        mine_itemsets(
            &tx,
            None,
            &lower,
            Algorithm::FpGrowth,
            &mut CountSink::default()
        ),
        Err(MineError::TooManyItemsets { .. })
    ));
    // Within the limit nothing changes.
    let mut few: Vec<Itemset> = Vec::new();
    let run = mine_at_most(
        &tx,
        None,
        &params,
        Algorithm::FpGrowth,
        10_000_000,
        &mut few,
    )
    .unwrap();
    assert!(!run.raised());
}

/// Closed and maximal sets stream and the cap applies as they are found: before, every
/// frequent set was collected first (a million here) and the cap applied afterwards.
#[test]
fn closed_and_maximal_stop_at_the_cap_as_they_are_found() {
    // 20 transactions, each missing one item: every one of the 2^20 - 1 sets is closed.
    let leave_one_out: Vec<Vec<u32>> = (0..20u32)
        .map(|skip| (0..20).filter(|&i| i != skip).collect())
        .collect();
    // Every 8-of-16 set once: 12,870 maximal sets at min count 1.
    let eight_of_sixteen: Vec<Vec<u32>> = (0u32..1 << 16)
        .filter(|m| m.count_ones() == 8)
        .map(|m| (0..16).filter(|i| m >> i & 1 == 1).collect())
        .collect();
    for (tx, target) in [
        (leave_one_out, Target::Closed),
        (eight_of_sixteen, Target::Maximal),
    ] {
        for threads in [1, 2] {
            let params = MiningParams::new(MinSupport::Count(1))
                .target(target)
                .threads(threads)
                .max_itemsets(1000);
            let mut found: Vec<Itemset> = Vec::new();
            let result = mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut found);
            assert!(
                matches!(result, Err(MineError::TooManyItemsets { limit: 1000 })),
                "{target:?}: {result:?}"
            );
            assert!(found.len() <= 1000, "{target:?}: {} kept", found.len());
        }
    }
}

#[test]
fn rules_by_hand_and_filters() {
    // 10 transactions: A=0 in 5, B=1 in 4, A&B in 3; C=2 (the bag) in all 10.
    let mut tx: Vec<Vec<u32>> = vec![vec![0, 1, 2]; 3];
    tx.extend(vec![vec![0, 2]; 2]);
    tx.push(vec![1, 2]);
    tx.extend(vec![vec![2]; 4]);
    let mut sets = Vec::new();
    mine_itemsets(
        &tx,
        None,
        &MiningParams::new(MinSupport::Count(1)),
        Algorithm::FpGrowth,
        &mut sets,
    )
    .unwrap();
    let params = RuleParams {
        max_item_support: Some(0.9),
        ..RuleParams::default()
    };
    let rules = generate_rules(&sets, 10, &params).unwrap();
    assert_eq!(rules.len(), 2, "rules with the bag are dropped");
    let ab = rules.iter().find(|r| r.antecedent == [0]).unwrap();
    let (pa, pb, pab) = (0.5, 0.4, 0.3);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(ab.support, pab) && close(ab.confidence, 0.6) && close(ab.lift, 0.6 / pb));
    assert!(close(ab.leverage, pab - pa * pb));
    assert!(close(ab.conviction, (1.0 - pb) / (1.0 - 0.6)));
    assert!(close(
        ab.zhangs_metric,
        (pab - pa * pb) / f64::max(pab * (1.0 - pa), pa * (pb - pab))
    ));
    assert!(close(ab.jaccard, pab / (pa + pb - pab)));
    assert!(close(ab.certainty, (0.6 - pb) / (1.0 - pb)));
    assert!(close(ab.kulczynski, 0.5 * (0.6 + 0.75)));
    let strict = RuleParams {
        min_confidence: 0.7,
        min_lift: Some(1.0),
        max_item_support: Some(0.9),
        ..RuleParams::default()
    };
    let kept = generate_rules(&sets, 10, &strict).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].antecedent, [1]);
    let only = RuleParams {
        antecedent_only: vec![1],
        max_item_support: Some(0.9),
        ..RuleParams::default()
    };
    let kept = generate_rules(&sets, 10, &only).unwrap();
    assert!(kept.iter().all(|r| !r.consequent.contains(&1)));
    let index = RuleIndex::new(&rules);
    assert_eq!(index.fired(&[2, 0]).len(), 1);
    assert!(index.fired(&[2]).is_empty());
}

#[test]
fn a_group_refuses_a_fraction_and_closed_sets() {
    use affinity_mine::{mine_group, Itemset, MinSupport, MineError, MiningParams, Target};
    let tx = vec![vec![0, 1], vec![0, 1]];
    let owns = |_: u32| true;
    let mut out: Vec<Itemset> = Vec::new();
    let fraction = MiningParams::new(MinSupport::fraction("0.5").unwrap());
    let err = mine_group(&tx, None, &fraction, &owns, &mut out).unwrap_err();
    assert!(
        matches!(
            err,
            MineError::InvalidSetting(affinity_mine::InvalidSetting {
                name: "min_support",
                ..
            })
        ),
        "{err}"
    );
    let closed = MiningParams::new(MinSupport::Count(1)).target(Target::Closed);
    let err = mine_group(&tx, None, &closed, &owns, &mut out).unwrap_err();
    assert!(
        matches!(
            err,
            MineError::InvalidSetting(affinity_mine::InvalidSetting { name: "target", .. })
        ),
        "{err}"
    );
    assert!(out.is_empty());
}
