//! Transactions prepared for mining: duplicates handled, items recoded by frequency.

use crate::error::{MineError, Result};
use crate::params::{Duplicates, MiningParams};
use affinity_core::InvalidSetting;

/// Transactions recoded to frequency ranks (0 = most frequent), infrequent items dropped,
/// each sorted ascending, with its weight.
pub(crate) struct Prepared {
    /// Rank to original item id.
    pub rank_to_item: Vec<u32>,
    /// Support of each rank.
    pub rank_support: Vec<u64>,
    /// Recoded transactions (empty ones dropped) and weights.
    pub transactions: Vec<(Vec<u32>, u64)>,
    /// Summary figures.
    pub total_weight: u64,
    pub distinct_items: usize,
    pub min_count: u64,
}

/// How frequent items are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemOrder {
    /// Descending support, ties by id: the order that keeps FP-trees small.
    BySupport,
    /// Ascending id: for callers whose ids already are global frequency ranks (parallel
    /// FP-growth's groups, where the order must be the same in every group).
    ById,
}

/// Counts, recodes and filters. Fails on a rejected duplicate or a bad weight vector.
pub(crate) fn prepare(
    transactions: &[Vec<u32>],
    weights: Option<&[u64]>,
    params: &MiningParams,
    order: ItemOrder,
) -> Result<Prepared> {
    params.check()?;
    if let Some(w) = weights {
        if w.len() != transactions.len() {
            return Err(InvalidSetting::new(
                "weights",
                format!(
                    "{} weights for {} transactions",
                    w.len(),
                    transactions.len()
                ),
            )
            .into());
        }
    }
    let weight = |t: usize| weights.map_or(1, |w| w[t]);
    let max_item = transactions.iter().flatten().copied().max();
    let n_items = max_item.map_or(0, |m| m as usize + 1);
    let mut support = vec![0u64; n_items];
    let mut last_seen = vec![usize::MAX; n_items];
    let mut total_weight = 0u64;
    for (t, transaction) in transactions.iter().enumerate() {
        let w = weight(t);
        total_weight += w;
        for &item in transaction {
            let slot = &mut last_seen[item as usize];
            if *slot == t {
                if params.duplicates == Duplicates::Reject {
                    return Err(MineError::DuplicateItem {
                        transaction: t,
                        item,
                    });
                }
                continue;
            }
            *slot = t;
            support[item as usize] += w;
        }
    }
    let min_count = params.min_support.min_count(total_weight);
    let distinct_items = support.iter().filter(|&&s| s > 0).count();
    let mut frequent: Vec<u32> = (0..n_items as u32)
        .filter(|&i| support[i as usize] >= min_count)
        .collect();
    if order == ItemOrder::BySupport {
        frequent.sort_by_key(|&i| (std::cmp::Reverse(support[i as usize]), i));
    }
    let mut item_to_rank = vec![u32::MAX; n_items];
    for (rank, &item) in frequent.iter().enumerate() {
        item_to_rank[item as usize] = rank as u32;
    }
    let numbers: Vec<usize> = (0..transactions.len()).collect();
    // A transaction of weight 0 or with no frequent item recodes to nothing and is dropped.
    let recode = |&t: &usize| {
        let w = weight(t);
        let mut ranks: Vec<u32> = Vec::new();
        if w > 0 {
            ranks.extend(
                transactions[t]
                    .iter()
                    .map(|&i| item_to_rank[i as usize])
                    .filter(|&r| r != u32::MAX),
            );
            ranks.sort_unstable();
            ranks.dedup();
        }
        (ranks, w)
    };
    let mut recoded = crate::parallel::map(&numbers, params.threads, &recode);
    recoded.retain(|(ranks, _)| !ranks.is_empty());
    Ok(Prepared {
        rank_support: frequent.iter().map(|&i| support[i as usize]).collect(),
        rank_to_item: frequent,
        transactions: recoded,
        total_weight,
        distinct_items,
        min_count,
    })
}
