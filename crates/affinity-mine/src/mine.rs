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
/// Frequent itemsets stream into the sink as they are found. Closed and maximal itemsets are
/// filtered from the frequent ones, which are held in memory for that.
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
        target => {
            // A set is closed (maximal) when no one-item extension has the same support (is
            // frequent); mining one level further decides that for sets up to max_len.
            let mut all: Vec<Itemset> = Vec::new();
            let no_cap = MiningParams {
                max_itemsets: None,
                ..params.clone()
            };
            run(
                algorithm,
                &mut prepared,
                max_len.saturating_add(1),
                &no_cap,
                &mut all,
            )?;
            let kept = filter_closed_or_maximal(all, target, max_len);
            if let Some(limit) = params.max_itemsets {
                if kept.len() as u64 > limit {
                    return Err(crate::MineError::TooManyItemsets { limit });
                }
            }
            for itemset in &kept {
                sink.push(&itemset.items, itemset.support)?;
            }
            kept.len() as u64
        }
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
