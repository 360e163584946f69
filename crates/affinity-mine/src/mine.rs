//! The entry points: frequent, closed and maximal itemsets by FP-growth or Apriori.

use crate::database::{prepare, Prepared};
use crate::error::Result;
use crate::params::{MinSupport, MiningParams, Target};
use crate::sink::{CountSink, Itemset, ItemsetSink};
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

/// What [`mine_at_most`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BoundedMining {
    /// Figures of the run that filled the sink (its `min_count` is the one used).
    pub summary: MiningSummary,
    /// The minimum count the parameters asked for; below `summary.min_count` when it had to
    /// be raised to stay within the limit.
    pub requested_min_count: u64,
}

impl BoundedMining {
    /// Whether the minimum count was raised.
    pub fn raised(&self) -> bool {
        self.summary.min_count > self.requested_min_count
    }
}

/// Mines at most `limit` itemsets into `sink`: where `params` would give more, the minimum
/// count is raised to the smallest one that gives at most `limit`, which keeps the sets of
/// highest support. Memory and time stay bounded by `limit` whatever the data: each trial
/// only counts, and stops at the limit.
///
/// ```
/// use affinity_mine::{mine_at_most, Algorithm, Itemset, MinSupport, MiningParams};
/// // 16 items bought together 3 times, and 0 and 1 once more: 65,535 sets at count 1.
/// let mut tx = vec![(0..16).collect::<Vec<u32>>(); 3];
/// tx.push(vec![0, 1]);
/// let mut kept: Vec<Itemset> = Vec::new();
/// let params = MiningParams::new(MinSupport::Count(1));
/// let run = mine_at_most(&tx, None, &params, Algorithm::FpGrowth, 10, &mut kept)?;
/// assert!(run.raised());
/// assert_eq!(run.summary.min_count, 4);
/// assert_eq!(kept.len(), 3); // {0} {1} {0 1}
/// # Ok::<(), affinity_mine::MineError>(())
/// ```
pub fn mine_at_most<S: ItemsetSink>(
    transactions: &[Vec<u32>],
    weights: Option<&[u64]>,
    params: &MiningParams,
    algorithm: Algorithm,
    limit: u64,
    sink: &mut S,
) -> Result<BoundedMining> {
    if limit == 0 {
        return Err(crate::MineError::InvalidSetting {
            name: "limit",
            reason: "must be at least 1".into(),
        });
    }
    let total: u64 = match weights {
        Some(w) => w.iter().sum(),
        None => transactions.len() as u64,
    };
    let requested_min_count = params.min_support.min_count(total);
    let at = |min_count: u64| MiningParams {
        min_support: MinSupport::Count(min_count),
        max_itemsets: Some(limit),
        ..params.clone()
    };
    let fits = |min_count: u64| -> Result<bool> {
        let mut count = CountSink::default();
        match mine_itemsets(transactions, weights, &at(min_count), algorithm, &mut count) {
            Ok(_) => Ok(true),
            Err(crate::MineError::TooManyItemsets { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    };
    let mut min_count = requested_min_count;
    if !fits(min_count)? {
        // Invariant: `low` gives too many, `high` fits (above the total, nothing is frequent).
        let (mut low, mut high) = (min_count, total + 1);
        // Galloping up first: the answer is usually a little above the request, and trials
        // near it (which mine up to the limit) are the costly ones.
        let mut step = 1;
        while low + step < high {
            if fits(low + step)? {
                high = low + step;
                break;
            }
            low += step;
            step *= 2;
        }
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if fits(mid)? {
                high = mid;
            } else {
                low = mid;
            }
        }
        min_count = high;
    }
    let summary = mine_itemsets(transactions, weights, &at(min_count), algorithm, sink)?;
    Ok(BoundedMining {
        summary,
        requested_min_count,
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
