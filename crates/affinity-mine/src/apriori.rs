//! Apriori: candidates of length k+1 joined from frequent sets of length k, pruned by their
//! subsets, counted against the transactions. Simple and slow; the oracle for FP-growth.

use crate::cap::Cap;
use crate::database::Prepared;
use crate::error::Result;
use crate::sink::ItemsetSink;
use std::collections::{HashMap, HashSet};

pub(crate) fn mine<S: ItemsetSink>(
    prepared: &mut Prepared,
    max_len: usize,
    limit: Option<u64>,
    sink: &mut S,
) -> Result<u64> {
    let labels = &prepared.rank_to_item;
    let cap = Cap::new(limit);
    let emit = |items: &[u32], support: u64, sink: &mut S| -> Result<()> {
        cap.count(1)?;
        let mut original: Vec<u32> = items.iter().map(|&r| labels[r as usize]).collect();
        original.sort_unstable();
        sink.push(&original, support)
    };
    let mut level: Vec<(Vec<u32>, u64)> = prepared
        .rank_support
        .iter()
        .enumerate()
        .map(|(r, &s)| (vec![r as u32], s))
        .collect();
    let mut k = 1;
    while !level.is_empty() {
        for (items, support) in &level {
            emit(items, *support, sink)?;
        }
        if k >= max_len {
            break;
        }
        let frequent: HashSet<&[u32]> = level.iter().map(|(s, _)| s.as_slice()).collect();
        let mut candidates: HashMap<Vec<u32>, u64> = HashMap::new();
        for (a, (left, _)) in level.iter().enumerate() {
            for (right, _) in &level[a + 1..] {
                if left[..k - 1] != right[..k - 1] {
                    break; // the level is sorted: no later set shares this prefix
                }
                let mut candidate = left.clone();
                candidate.push(right[k - 1]);
                let all_subsets_frequent = (0..k + 1).all(|skip| {
                    let subset: Vec<u32> = candidate
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != skip)
                        .map(|(_, &x)| x)
                        .collect();
                    frequent.contains(subset.as_slice())
                });
                if all_subsets_frequent {
                    candidates.insert(candidate, 0);
                }
            }
        }
        for (transaction, weight) in &prepared.transactions {
            if transaction.len() <= k {
                continue;
            }
            for (candidate, count) in candidates.iter_mut() {
                if is_subset(candidate, transaction) {
                    *count += weight;
                }
            }
        }
        level = candidates
            .into_iter()
            .filter(|(_, c)| *c >= prepared.min_count)
            .collect();
        level.sort_unstable();
        k += 1;
    }
    Ok(cap.emitted())
}

/// Both slices ascending.
fn is_subset(small: &[u32], large: &[u32]) -> bool {
    let mut it = large.iter();
    small.iter().all(|x| it.any(|y| y == x))
}
