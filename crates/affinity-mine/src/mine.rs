//! The entry points: frequent, closed and maximal itemsets by FP-growth or Apriori.

use crate::database::{prepare, ItemOrder, Prepared};
use crate::error::Result;
use crate::params::{MinSupport, MiningParams, Target};
use crate::sink::{CountSink, Itemset, ItemsetSink};
use affinity_core::InvalidSetting;
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
    let mut prepared = prepare(transactions, weights, params, ItemOrder::BySupport)?;
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
    Ok(MiningSummary::of(&prepared, itemsets))
}

/// The local step of parallel FP-growth (Li et al., RecSys 2008; what Spark MLlib runs): mines
/// one group's share of the frequent itemsets.
///
/// Items must be **global frequency ranks** (0 = the most frequent item of the whole data),
/// and `transactions` the group's conditional transactions: each original transaction, ranked
/// and sorted, cut after its last item that the group owns. Every frequent itemset of the whole
/// data then has exactly one group that owns its largest rank, and that group sees every
/// transaction containing it, so the groups' outputs together are the frequent itemsets of the
/// whole data with their exact counts, each reported once. The tree here keeps the global order
/// (ascending rank) rather than re-ranking by the group's own counts, so that "largest item" is
/// the same in every group; only `Target::Frequent` is supported (closed and maximal sets are
/// not decided by one group).
///
/// ```
/// use affinity_mine::{mine_group, mine_itemsets, Algorithm, Itemset, MinSupport, MiningParams};
/// let data = vec![vec![0, 1, 2], vec![0, 1], vec![0, 2], vec![1, 2]];
/// let params = MiningParams::new(MinSupport::Count(2));
/// let (groups, mut union) = (2, Vec::<Itemset>::new());
/// for group in 0..groups {
///     // Each transaction cut after its last item of this group.
///     let share: Vec<Vec<u32>> = data.iter().filter_map(|t| {
///         let last = t.iter().rposition(|&r| r % groups == group)?;
///         Some(t[..=last].to_vec())
///     }).collect();
///     mine_group(&share, None, &params, &|r| r % groups == group, &mut union)?;
/// }
/// let mut whole: Vec<Itemset> = Vec::new();
/// mine_itemsets(&data, None, &params, Algorithm::FpGrowth, &mut whole)?;
/// union.sort_by(|a, b| a.items.cmp(&b.items));
/// whole.sort_by(|a, b| a.items.cmp(&b.items));
/// assert_eq!(union, whole);
/// # Ok::<(), affinity_mine::MineError>(())
/// ```
pub fn mine_group<S: ItemsetSink>(
    transactions: &[Vec<u32>],
    weights: Option<&[u64]>,
    params: &MiningParams,
    owns: &(dyn Fn(u32) -> bool + Sync),
    sink: &mut S,
) -> Result<MiningSummary> {
    if params.target != Target::Frequent {
        return Err(InvalidSetting::new("target", "a group mines frequent itemsets only").into());
    }
    if matches!(params.min_support, MinSupport::Fraction { .. }) {
        // A fraction would be taken of the group's transactions, not the whole data's.
        return Err(InvalidSetting::new(
            "min_support",
            "a group needs the whole data's minimum as a count",
        )
        .into());
    }
    let mut prepared = prepare(transactions, weights, params, ItemOrder::ById)?;
    let itemsets = crate::fpgrowth::mine(
        &mut prepared,
        params.max_len.unwrap_or(usize::MAX),
        params.threads,
        params.max_itemsets,
        Some(owns),
        sink,
    )?;
    Ok(MiningSummary::of(&prepared, itemsets))
}

impl MiningSummary {
    fn of(prepared: &Prepared, itemsets: u64) -> Self {
        MiningSummary {
            transactions: prepared.total_weight,
            items: prepared.distinct_items,
            frequent_items: prepared.rank_to_item.len(),
            min_count: prepared.min_count,
            itemsets,
        }
    }
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
        return Err(InvalidSetting::new("limit", "must be at least 1").into());
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
        Algorithm::FpGrowth => crate::fpgrowth::mine(
            prepared,
            max_len,
            params.threads,
            params.max_itemsets,
            None,
            sink,
        ),
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
