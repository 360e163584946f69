//! The entry points: frequent, closed and maximal itemsets by FP-growth or Apriori.

use crate::database::{prepare, Prepared};
use crate::error::Result;
use crate::params::{MiningParams, Target};
use crate::sink::{Itemset, ItemsetSink};
use std::collections::HashMap;

/// Which algorithm mines the frequent itemsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// FP-growth: fast on dense and sparse data; the default.
    #[default]
    FpGrowth,
    /// Apriori, level by level: the classic, kept as an oracle and for teaching.
    Apriori,
}

/// Figures of one mining run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MiningSummary {
    /// Transactions (weighted).
    pub transactions: u64,
    /// Distinct items in the data.
    pub items: usize,
    /// Items at or above the minimum count.
    pub frequent_items: usize,
    /// The minimum support as a count.
    pub min_count: u64,
    /// Itemsets reported.
    pub itemsets: u64,
}

/// Mines itemsets of `transactions` (item ids; optional integer weights, one per transaction)
/// into `sink`.
///
/// Itemsets stream into the sink as they are found and the cap (`max_itemsets`) applies as
/// they come, so memory stays bounded by the data, not by the output. With
/// [`Algorithm::FpGrowth`], closed and maximal itemsets are mined directly by closure
/// extension (LCM); with [`Algorithm::Apriori`] (the oracle) they are filtered from every
/// frequent set, which are collected for that and count against the cap.
///
/// ```
/// use affinity_mine::{mine_itemsets, Algorithm, CountSink, MiningParams, MinSupport, Target};
/// let tx = vec![vec![1, 2, 3], vec![1, 2], vec![2, 3], vec![1, 2, 3]];
/// let mut count = CountSink::default();
/// let params = MiningParams::new(MinSupport::Count(2));
/// let summary = mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut count).unwrap();
/// assert_eq!((summary.itemsets, count.count), (7, 7));
/// let mut closed: Vec<affinity_mine::Itemset> = Vec::new();
/// mine_itemsets(&tx, None, &params.target(Target::Closed), Algorithm::FpGrowth, &mut closed).unwrap();
/// assert_eq!(closed.len(), 4); // {2}, {1 2}, {2 3}, {1 2 3}
/// ```
pub fn mine_itemsets<S: ItemsetSink>(
    transactions: &[Vec<u32>],
    weights: Option<&[u64]>,
    params: &MiningParams,
    algorithm: Algorithm,
    sink: &mut S,
) -> Result<MiningSummary> {
    let mut prepared = prepare(transactions, weights, params)?;
    let max_len = params.max_len.unwrap_or(usize::MAX);
    let itemsets = match params.target {
        Target::Frequent => run(algorithm, &mut prepared, max_len, params, sink)?,
        target => match algorithm {
            Algorithm::FpGrowth => crate::closed::mine(
                &prepared,
                target,
                max_len,
                params.threads,
                params.max_itemsets,
                sink,
            )?,
            Algorithm::Apriori => {
                // The oracle: every frequent set one level further, then filtered. The cap
                // bounds the sets collected on the way.
                let mut all: Vec<Itemset> = Vec::new();
                run(
                    algorithm,
                    &mut prepared,
                    max_len.saturating_add(1),
                    params,
                    &mut all,
                )?;
                let kept = filter_closed_or_maximal(all, target, max_len);
                for itemset in &kept {
                    sink.push(&itemset.items, itemset.support)?;
                }
                kept.len() as u64
            }
        },
    };
    Ok(MiningSummary {
        transactions: prepared.total_weight,
        items: prepared.distinct_items,
        frequent_items: prepared.rank_to_item.len(),
        min_count: prepared.min_count,
        itemsets,
    })
}

fn run<S: ItemsetSink>(
    algorithm: Algorithm,
    prepared: &mut Prepared,
    max_len: usize,
    params: &MiningParams,
    sink: &mut S,
) -> Result<u64> {
    match algorithm {
        Algorithm::FpGrowth => {
            crate::fpgrowth::mine(prepared, max_len, params.threads, params.max_itemsets, sink)
        }
        Algorithm::Apriori => crate::apriori::mine(prepared, max_len, params.max_itemsets, sink),
    }
}

/// Keeps the closed or maximal sets of length up to `max_len` from all frequent sets (mined
/// to `max_len + 1`), in their original order.
fn filter_closed_or_maximal(all: Vec<Itemset>, target: Target, max_len: usize) -> Vec<Itemset> {
    let support: HashMap<&[u32], u64> = all
        .iter()
        .map(|s| (s.items.as_slice(), s.support))
        .collect();
    let mut dominated: std::collections::HashSet<&[u32]> = Default::default();
    let mut subset = Vec::new();
    for set in &all {
        if set.items.len() < 2 {
            continue;
        }
        for skip in 0..set.items.len() {
            subset.clear();
            subset.extend(
                set.items
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != skip)
                    .map(|(_, &i)| i),
            );
            if let Some((key, &sub_support)) = support.get_key_value(subset.as_slice()) {
                if target == Target::Maximal || sub_support == set.support {
                    dominated.insert(key);
                }
            }
        }
    }
    let keep: Vec<bool> = all
        .iter()
        .map(|s| s.items.len() <= max_len && !dominated.contains(s.items.as_slice()))
        .collect();
    all.into_iter()
        .zip(keep)
        .filter_map(|(s, k)| k.then_some(s))
        .collect()
}
