//! FP-growth (1 and 2 threads) against Apriori, the oracle, on small decoded databases; for
//! frequent sets also against brute force. Then `mine_at_most` stays within its limit.
//!
//! Input: a settings byte (bits 0-1 target, bit 2 weighted, bit 3 reject duplicates, bit 4
//! fractional support), a support byte, a fraction byte, a max_len byte (0: none), a limit
//! byte, then the database (see `Database::decode`).
#![no_main]

use affinity_fuzz::{Bytes, Database, ITEMS};
use affinity_mine::{
    mine_at_most, mine_itemsets, Algorithm, CountSink, Duplicates, Itemset, MinSupport,
    MiningParams, MiningSummary, Target,
};
use libfuzzer_sys::fuzz_target;

fn mine(
    db: &Database,
    params: &MiningParams,
    algorithm: Algorithm,
) -> Result<(MiningSummary, Vec<Itemset>), String> {
    let mut found: Vec<Itemset> = Vec::new();
    let summary = mine_itemsets(
        &db.transactions,
        db.weights(),
        params,
        algorithm,
        &mut found,
    )
    .map_err(|e| e.to_string())?;
    assert_eq!(
        summary.itemsets,
        found.len() as u64,
        "{algorithm:?}: summary count"
    );
    for set in &found {
        assert!(!set.items.is_empty(), "{algorithm:?}: empty itemset");
        assert!(
            set.items.windows(2).all(|w| w[0] < w[1]),
            "{algorithm:?}: items not ascending"
        );
        if let Some(max) = params.max_len {
            assert!(set.items.len() <= max, "{algorithm:?}: longer than max_len");
        }
        assert!(
            set.support >= summary.min_count,
            "{algorithm:?}: below min_count"
        );
    }
    Ok((summary, found))
}

/// Sorted, and checked for repeats.
fn as_set(found: &[Itemset]) -> Vec<Itemset> {
    let mut sorted = found.to_vec();
    sorted.sort();
    let before = sorted.len();
    sorted.dedup_by(|a, b| a.items == b.items);
    assert_eq!(before, sorted.len(), "an itemset was reported twice");
    sorted
}

/// Every frequent set by enumeration of all subsets of the items.
fn brute_force(db: &Database, min_count: u64, max_len: usize) -> Vec<Itemset> {
    let weights: Vec<u64> = match &db.weights {
        Some(w) => w.clone(),
        None => vec![1; db.transactions.len()],
    };
    let masks: Vec<u32> = db
        .transactions
        .iter()
        .map(|t| t.iter().fold(0, |m, &i| m | 1 << i))
        .collect();
    let mut out = Vec::new();
    for set in 1u32..1 << ITEMS {
        if set.count_ones() as usize > max_len {
            continue;
        }
        let support: u64 = masks
            .iter()
            .zip(&weights)
            .filter(|(m, _)| *m & set == set)
            .map(|(_, w)| w)
            .sum();
        if support >= min_count {
            let items = (0..ITEMS).filter(|i| set >> i & 1 == 1).collect();
            out.push(Itemset { items, support });
        }
    }
    out.sort();
    out
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes::new(data);
    let settings = bytes.byte();
    let target = [
        Target::Frequent,
        Target::Closed,
        Target::Maximal,
        Target::Frequent,
    ][usize::from(settings & 3)];
    let count = u64::from(bytes.byte() % 8) + 1;
    let fraction = bytes.byte();
    let min_support = if settings & 0x10 != 0 {
        let denominator = u64::from(fraction % 20) + 1;
        let numerator = u64::from(fraction / 20) % denominator + 1;
        MinSupport::Fraction {
            numerator,
            denominator,
        }
    } else {
        MinSupport::Count(count)
    };
    let max_len = usize::from(bytes.byte() % 7);
    let limit = u64::from(bytes.byte() % 16) + 1;
    let db = Database::decode(&mut bytes, settings & 4 != 0);

    let mut params = MiningParams::new(min_support).target(target);
    if max_len > 0 {
        params = params.max_len(max_len);
    }
    if settings & 8 != 0 {
        params = params.duplicates(Duplicates::Reject);
    }

    let apriori = mine(&db, &params, Algorithm::Apriori);
    let fp1 = mine(&db, &params, Algorithm::FpGrowth);
    let fp2 = mine(&db, &params.clone().threads(2), Algorithm::FpGrowth);
    let rejected = params.duplicates == Duplicates::Reject && db.has_duplicates();
    let (apriori, fp1, fp2) = match (apriori, fp1, fp2) {
        (Ok(a), Ok(b), Ok(c)) if !rejected => (a, b, c),
        (Err(_), Err(_), Err(_)) if rejected => return,
        (a, b, c) => panic!(
            "outcomes differ (duplicates rejected: {rejected}):\n apriori {:?}\n fp-growth {:?}\n fp-growth x2 {:?}",
            a.map(|r| r.0),
            b.map(|r| r.0),
            c.map(|r| r.0)
        ),
    };
    assert_eq!(apriori.0, fp1.0, "summaries differ (apriori, fp-growth)");
    assert_eq!(fp1.0, fp2.0, "summaries differ (1 thread, 2 threads)");
    let expected = as_set(&apriori.1);
    assert_eq!(expected, as_set(&fp1.1), "fp-growth differs from apriori");
    assert_eq!(fp1.1, fp2.1, "output order depends on the thread count");
    if target == Target::Frequent {
        let longest = if max_len == 0 { usize::MAX } else { max_len };
        let brute = brute_force(&db, apriori.0.min_count, longest);
        assert_eq!(expected, brute, "apriori differs from brute force");
    }

    // Bounded mining: at most `limit` sets, exactly those of a plain run at the raised count,
    // and the count is the smallest that fits.
    let mut kept: Vec<Itemset> = Vec::new();
    let bounded = mine_at_most(
        &db.transactions,
        db.weights(),
        &params,
        Algorithm::FpGrowth,
        limit,
        &mut kept,
    )
    .expect("mine_at_most failed where mine_itemsets did not");
    assert!(
        kept.len() as u64 <= limit,
        "{} sets over the limit {limit}",
        kept.len()
    );
    assert_eq!(bounded.summary.itemsets, kept.len() as u64);
    assert_eq!(bounded.requested_min_count, apriori.0.min_count);
    let at = MiningParams {
        min_support: MinSupport::Count(bounded.summary.min_count),
        ..params.clone()
    };
    let plain = mine(&db, &at, Algorithm::FpGrowth).expect("plain run at the raised count");
    assert_eq!(
        as_set(&kept),
        as_set(&plain.1),
        "bounded run differs from a plain one"
    );
    if bounded.raised() {
        let below = MiningParams {
            min_support: MinSupport::Count(bounded.summary.min_count - 1),
            ..params.clone()
        };
        let mut count = CountSink::default();
        mine_itemsets(
            &db.transactions,
            db.weights(),
            &below,
            Algorithm::FpGrowth,
            &mut count,
        )
        .expect("run below the raised count");
        assert!(count.count > limit, "the count was raised more than needed");
    }
});
