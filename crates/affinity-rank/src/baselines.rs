//! The honest baselines every method is compared with: most popular, and item co-occurrence.
//! Both rank through [`top_k`], like every other ranker of the workspace.

use crate::error::Result;
use crate::topk::{top_k, Scored};
use affinity_core::InvalidSetting;

/// Recommends the items with the most training occurrences.
///
/// ```
/// use affinity_rank::MostPopular;
/// let model = MostPopular::fit(&[vec![0, 1], vec![1, 2], vec![1]], 3);
/// let items: Vec<u32> = model.recommend(&[1], 2).iter().map(|s| s.item).collect();
/// assert_eq!(items, [0, 2]); // 0 and 2 tie; the lower id wins
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MostPopular {
    counts: Vec<f32>,
}

impl MostPopular {
    /// Counts each item's occurrences in `histories` (one list of items per user or basket).
    pub fn fit(histories: &[Vec<u32>], n_items: usize) -> Self {
        let mut counts = vec![0u32; n_items];
        for &item in histories.iter().flatten() {
            counts[item as usize] += 1;
        }
        Self::from_counts(&counts)
    }

    /// From occurrence counts per item, as [`MostPopular::fit`] would count them.
    pub fn from_counts(counts: &[u32]) -> Self {
        MostPopular {
            counts: counts.iter().map(|&c| c as f32).collect(),
        }
    }

    /// The `k` most popular items not in `exclude`.
    pub fn recommend(&self, exclude: &[u32], k: usize) -> Vec<Scored> {
        top_k(&self.counts, k, exclude)
    }

    /// Training count per item.
    pub fn counts(&self) -> &[f32] {
        &self.counts
    }
}

/// How co-occurrence counts are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CooccurrenceWeight {
    /// Raw counts of baskets holding both items.
    Count,
    /// Counts divided by `sqrt(count(a) * count(b))` (cosine on basket incidence), which stops
    /// the most popular items from winning every list.
    #[default]
    Cosine,
}

/// The counts an [`ItemCooccurrence`] is made from, in compressed sparse rows: the neighbours
/// of item `a` are `neighbours[offsets[a]..offsets[a + 1]]` (ascending), each with the number of
/// baskets holding both. Both directions are stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CooccurrenceCounts {
    /// Baskets holding each item.
    pub item_counts: Vec<u32>,
    /// Row starts, `items + 1` entries.
    pub offsets: Vec<u64>,
    /// Neighbour ids, row after row.
    pub neighbours: Vec<u32>,
    /// Baskets holding the item and the neighbour.
    pub pair_counts: Vec<u32>,
}

impl CooccurrenceCounts {
    /// Counts pairs within each basket (items deduplicated per basket).
    pub fn count(baskets: &[Vec<u32>], n_items: usize) -> Self {
        // Inverted lists, then one dense counter per row: memory stays O(items + pairs).
        let mut item_counts = vec![0u32; n_items];
        let mut deduped: Vec<Vec<u32>> = Vec::with_capacity(baskets.len());
        for basket in baskets {
            let mut items = basket.clone();
            items.sort_unstable();
            items.dedup();
            for &i in &items {
                item_counts[i as usize] += 1;
            }
            deduped.push(items);
        }
        let mut holding: Vec<Vec<u32>> = item_counts
            .iter()
            .map(|&c| Vec::with_capacity(c as usize))
            .collect();
        for (b, items) in deduped.iter().enumerate() {
            for &i in items {
                holding[i as usize].push(b as u32);
            }
        }
        let mut counter = vec![0u32; n_items];
        let mut touched: Vec<u32> = Vec::new();
        let mut out = CooccurrenceCounts {
            item_counts,
            offsets: Vec::with_capacity(n_items + 1),
            ..Default::default()
        };
        out.offsets.push(0);
        for (a, baskets_of_a) in holding.iter().enumerate() {
            for &b in baskets_of_a {
                for &other in &deduped[b as usize] {
                    if other as usize != a {
                        if counter[other as usize] == 0 {
                            touched.push(other);
                        }
                        counter[other as usize] += 1;
                    }
                }
            }
            touched.sort_unstable();
            for &other in &touched {
                out.neighbours.push(other);
                out.pair_counts.push(counter[other as usize]);
                counter[other as usize] = 0;
            }
            touched.clear();
            out.offsets.push(out.neighbours.len() as u64);
        }
        out
    }

    /// Items covered.
    pub fn len(&self) -> usize {
        self.item_counts.len()
    }

    /// Where `item`'s row lies in `neighbours` and `pair_counts` (empty for an item not
    /// covered).
    pub fn row(&self, item: u32) -> std::ops::Range<usize> {
        let a = item as usize;
        match (self.offsets.get(a), self.offsets.get(a + 1)) {
            (Some(&from), Some(&to)) if a < self.len() => from as usize..to as usize,
            _ => 0..0,
        }
    }

    /// Whether no item is covered.
    pub fn is_empty(&self) -> bool {
        self.item_counts.is_empty()
    }

    /// Fails unless the rows are well formed: offsets ascending within the arrays, neighbours
    /// in range and ascending per row, and no pair counted more often than either item.
    pub fn check(&self) -> Result<()> {
        let bad = |reason: String| Err(InvalidSetting::new("cooccurrence", reason).into());
        let n = self.item_counts.len();
        if self.offsets.len() != n + 1 || self.offsets[0] != 0 {
            return bad(format!("{} row offsets for {n} items", self.offsets.len()));
        }
        if self.neighbours.len() != self.pair_counts.len()
            || self.offsets[n] != self.neighbours.len() as u64
        {
            return bad("neighbours, counts and offsets disagree in length".into());
        }
        for a in 0..n {
            let (from, to) = (self.offsets[a], self.offsets[a + 1]);
            if from > to {
                return bad(format!("row {a} ends before it starts"));
            }
            let row = &self.neighbours[from as usize..to as usize];
            let counts = &self.pair_counts[from as usize..to as usize];
            if row.windows(2).any(|w| w[0] >= w[1]) || row.iter().any(|&b| b as usize >= n) {
                return bad(format!("row {a} is not ascending within 0..{n}"));
            }
            if row.iter().zip(counts).any(|(&b, &c)| {
                c == 0 || c > self.item_counts[a] || c > self.item_counts[b as usize]
            }) {
                return bad(format!("row {a} has a pair count above an item count"));
            }
        }
        Ok(())
    }
}

/// Recommends items that appeared in the same baskets as the user's items.
///
/// Score of item `j` for a history `H`: the sum over distinct `h` in `H` of `w(h, j)`. Ties
/// (and users whose items never co-occur with anything) fall back to popularity.
///
/// ```
/// use affinity_rank::{CooccurrenceWeight, ItemCooccurrence};
/// let baskets = vec![vec![0, 1], vec![0, 1], vec![0, 2], vec![3]];
/// let model = ItemCooccurrence::fit(&baskets, 4, CooccurrenceWeight::Count);
/// assert_eq!(model.recommend(&[0], &[0], 1)[0].item, 1);
/// ```
#[derive(Debug, Clone)]
pub struct ItemCooccurrence {
    counts: CooccurrenceCounts,
    weighting: CooccurrenceWeight,
    weights: Vec<f32>,
    popularity: Vec<f32>,
}

impl ItemCooccurrence {
    /// Counts pairs within each basket (items deduplicated per basket).
    pub fn fit(baskets: &[Vec<u32>], n_items: usize, weighting: CooccurrenceWeight) -> Self {
        Self::from_counts(CooccurrenceCounts::count(baskets, n_items), weighting)
            .expect("counted rows are well formed")
    }

    /// From stored counts (checked: see [`CooccurrenceCounts::check`]).
    pub fn from_counts(counts: CooccurrenceCounts, weighting: CooccurrenceWeight) -> Result<Self> {
        counts.check()?;
        let n = counts.len();
        let mut weights = Vec::with_capacity(counts.neighbours.len());
        for a in 0..n {
            let row = counts.row(a as u32);
            for (&b, &c) in counts.neighbours[row.clone()]
                .iter()
                .zip(&counts.pair_counts[row])
            {
                weights.push(match weighting {
                    CooccurrenceWeight::Count => c as f32,
                    CooccurrenceWeight::Cosine => {
                        let (ca, cb) = (counts.item_counts[a], counts.item_counts[b as usize]);
                        c as f32 / (ca as f32 * cb as f32).sqrt()
                    }
                });
            }
        }
        let max = counts
            .item_counts
            .iter()
            .map(|&c| c as f32)
            .fold(1.0, f32::max);
        let popularity = counts.item_counts.iter().map(|&c| c as f32 / max).collect();
        Ok(ItemCooccurrence {
            counts,
            weighting,
            weights,
            popularity,
        })
    }

    /// The counts it was made from.
    pub fn counts(&self) -> &CooccurrenceCounts {
        &self.counts
    }

    /// How counts are weighted.
    pub fn weighting(&self) -> CooccurrenceWeight {
        self.weighting
    }

    /// Scores of every item for `history` (history items included).
    pub fn scores(&self, history: &[u32]) -> Vec<f32> {
        // Popularity, scaled far below any co-occurrence weight, breaks ties and fills lists.
        let mut scores: Vec<f32> = self.popularity.iter().map(|p| p * 1e-6).collect();
        let mut distinct = history.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for h in distinct {
            let row = self.counts.row(h);
            for (&b, &w) in self.counts.neighbours[row.clone()]
                .iter()
                .zip(&self.weights[row])
            {
                scores[b as usize] += w;
            }
        }
        scores
    }

    /// The `k` best items for `history`, none of `exclude`.
    pub fn recommend(&self, history: &[u32], exclude: &[u32], k: usize) -> Vec<Scored> {
        top_k(&self.scores(history), k, exclude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_both_directions_sorted() {
        let c = CooccurrenceCounts::count(&[vec![2, 0, 2], vec![0, 1], vec![1, 0, 2]], 4);
        assert_eq!(c.item_counts, [3, 2, 2, 0]);
        assert_eq!(c.offsets, [0, 2, 4, 6, 6]);
        assert_eq!(c.neighbours, [1, 2, 0, 2, 0, 1]);
        assert_eq!(c.pair_counts, [2, 2, 2, 1, 2, 1]);
        c.check().unwrap();
        let mut broken = c.clone();
        broken.pair_counts[0] = 9;
        assert!(broken.check().is_err());
        let mut broken = c;
        broken.offsets.pop();
        assert!(broken.check().is_err());
    }
}
