//! The exact maximality test against the root database (occurrence lists, or bitsets with
//! weight planes on dense data).

use super::db::Db;
use super::BITSET_BUDGET;

/// The root database with occurrence lists, to test maximality exactly: conditional
/// databases only know lower bounds for the items before a set's core.
pub(super) struct Exact<'a> {
    pub(super) root: &'a Db,
    pub(super) occurrences: &'a [Vec<u32>],
    /// Per root item, its transactions as a bitset (`words` words each), when that fits in
    /// [`BITSET_BUDGET`]: dense data, where occurrence lists are long.
    pub(super) bits: Option<Vec<u64>>,
    pub(super) words: usize,
    /// Mean items per root transaction (at least 1).
    pub(super) mean_length: usize,
    /// Bit planes of the root transactions' weights: plane `k` holds the transactions whose
    /// weight has bit `k` set, so a weighted count is a sum of shifted popcounts.
    pub(super) planes: Vec<Vec<u64>>,
    /// Item key to root-local id (`NONE` for items in every transaction).
    pub(super) root_local: &'a [u32],
}

impl<'a> Exact<'a> {
    /// `occurrences`: the root items' transactions ([`Miner::deliver`] from item 0).
    pub(super) fn new(root: &'a Db, occurrences: &'a [Vec<u32>], root_local: &'a [u32]) -> Self {
        let words = root.len().div_ceil(64);
        let dense = root.labels.len().saturating_mul(words).saturating_mul(8) <= BITSET_BUDGET;
        let bits = dense.then(|| {
            let mut bits = vec![0u64; root.labels.len() * words];
            for (item, list) in occurrences.iter().enumerate() {
                for &t in list {
                    bits[item * words + t as usize / 64] |= 1 << (t % 64);
                }
            }
            bits
        });
        Exact {
            root,
            planes: weight_planes(&root.weight, words),
            mean_length: (root.items.len() / root.len().max(1)).max(1),
            occurrences,
            bits,
            words,
            root_local,
        }
    }

    /// The bitset form of [`Miner::is_maximal`]: intersect the members' transactions, then
    /// count every other item within them.
    pub(super) fn is_maximal_dense(
        &self,
        bits: &[u64],
        members: &[u32],
        before: u32,
        min: u64,
        tids: &mut Vec<u64>,
    ) -> bool {
        let Some((&first, rest)) = members.split_first() else {
            return self.root.labels.is_empty();
        };
        let words = self.words;
        tids.clear();
        tids.extend_from_slice(&bits[first as usize * words..][..words]);
        for &m in rest {
            for (a, b) in tids.iter_mut().zip(&bits[m as usize * words..][..words]) {
                *a &= b;
            }
        }
        // The members' transactions split by weight bit.
        let weighted: Vec<Vec<u64>> = self
            .planes
            .iter()
            .map(|plane| tids.iter().zip(plane).map(|(a, b)| a & b).collect())
            .collect();
        let mut next_member = 0;
        for item in 0..before {
            if members.get(next_member) == Some(&item) {
                next_member += 1;
                continue;
            }
            let column = &bits[item as usize * words..][..words];
            let count: u64 = weighted
                .iter()
                .enumerate()
                .map(|(k, plane)| {
                    let ones: u32 = plane
                        .iter()
                        .zip(column)
                        .map(|(a, b)| (a & b).count_ones())
                        .sum();
                    u64::from(ones) << k
                })
                .sum();
            if count >= min {
                return false;
            }
        }
        true
    }
}

pub(super) fn weight_planes(weights: &[u64], words: usize) -> Vec<Vec<u64>> {
    let top = weights.iter().copied().max().unwrap_or(0);
    let planes = (u64::BITS - top.leading_zeros()) as usize;
    (0..planes)
        .map(|k| {
            let mut plane = vec![0u64; words];
            for (t, &w) in weights.iter().enumerate() {
                if w >> k & 1 == 1 {
                    plane[t / 64] |= 1 << (t % 64);
                }
            }
            plane
        })
        .collect()
}

/// Whether sorted `small` is contained in sorted `large`.
pub(super) fn is_subset(small: &[u32], large: &[u32]) -> bool {
    let mut k = 0;
    small.iter().all(|&x| {
        while k < large.len() && large[k] < x {
            k += 1;
        }
        k < large.len() && large[k] == x
    })
}
