//! The honest baselines every method is compared with: most popular, and item co-occurrence.

use std::collections::{HashMap, HashSet};

/// The `k` best `(item, score)` pairs, skipping `exclude`, best first; ties go to the lower id.
///
/// ```
/// let best = affinity_data::top_k(&[0.5, 0.9, 0.9, 0.1], 2, &[1]);
/// assert_eq!(best, vec![(2, 0.9), (0, 0.5)]);
/// ```
pub fn top_k(scores: &[f32], k: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
    let excluded: HashSet<u32> = exclude.iter().copied().collect();
    let mut candidates: Vec<(u32, f32)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (i as u32, s))
        .filter(|(i, s)| !excluded.contains(i) && !s.is_nan())
        .collect();
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if candidates.len() > k && k > 0 {
        candidates.select_nth_unstable_by(k - 1, order);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(order);
    candidates.truncate(k);
    candidates
}

/// Recommends the items with the most training events.
#[derive(Debug, Clone)]
pub struct MostPopular {
    counts: Vec<f32>,
}

impl MostPopular {
    /// Counts each item's occurrences in `histories` (one list of items per user or basket).
    pub fn fit(histories: &[Vec<u32>], n_items: usize) -> Self {
        let mut counts = vec![0f32; n_items];
        for &item in histories.iter().flatten() {
            counts[item as usize] += 1.0;
        }
        MostPopular { counts }
    }

    /// The `k` most popular items not in `history`.
    pub fn recommend(&self, history: &[u32], k: usize) -> Vec<(u32, f32)> {
        top_k(&self.counts, k, history)
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

/// Recommends items that appeared in the same baskets as the user's items.
///
/// Score of item `j` for a history `H`: the sum over distinct `h` in `H` of `w(h, j)`. Ties
/// (and users whose items never co-occur with anything) fall back to popularity.
///
/// ```
/// use affinity_data::{CooccurrenceWeight, ItemCooccurrence};
/// let baskets = vec![vec![0, 1], vec![0, 1], vec![0, 2], vec![3]];
/// let model = ItemCooccurrence::fit(&baskets, 4, CooccurrenceWeight::Count);
/// assert_eq!(model.recommend(&[0], 1)[0].0, 1);
/// ```
#[derive(Debug, Clone)]
pub struct ItemCooccurrence {
    neighbours: Vec<Vec<(u32, f32)>>,
    popularity: Vec<f32>,
}

impl ItemCooccurrence {
    /// Counts pairs within each basket (items deduplicated per basket).
    pub fn fit(baskets: &[Vec<u32>], n_items: usize, weight: CooccurrenceWeight) -> Self {
        let mut pairs: Vec<HashMap<u32, f32>> = vec![HashMap::new(); n_items];
        let mut counts = vec![0f32; n_items];
        for basket in baskets {
            let mut items = basket.clone();
            items.sort_unstable();
            items.dedup();
            for (i, &a) in items.iter().enumerate() {
                counts[a as usize] += 1.0;
                for &b in &items[i + 1..] {
                    *pairs[a as usize].entry(b).or_default() += 1.0;
                    *pairs[b as usize].entry(a).or_default() += 1.0;
                }
            }
        }
        let neighbours = pairs
            .into_iter()
            .enumerate()
            .map(|(a, row)| {
                let mut row: Vec<(u32, f32)> = row
                    .into_iter()
                    .map(|(b, c)| {
                        let w = match weight {
                            CooccurrenceWeight::Count => c,
                            CooccurrenceWeight::Cosine => {
                                c / (counts[a] * counts[b as usize]).sqrt()
                            }
                        };
                        (b, w)
                    })
                    .collect();
                row.sort_unstable_by_key(|&(b, _)| b);
                row
            })
            .collect();
        let max = counts.iter().copied().fold(1.0, f32::max);
        let popularity = counts.iter().map(|c| c / max).collect();
        ItemCooccurrence {
            neighbours,
            popularity,
        }
    }

    /// Scores of every item for `history` (history items included).
    pub fn scores(&self, history: &[u32]) -> Vec<f32> {
        // Popularity, scaled far below any co-occurrence weight, breaks ties and fills lists.
        let mut scores: Vec<f32> = self.popularity.iter().map(|p| p * 1e-6).collect();
        let distinct: HashSet<u32> = history.iter().copied().collect();
        for &h in &distinct {
            if let Some(row) = self.neighbours.get(h as usize) {
                for &(b, w) in row {
                    scores[b as usize] += w;
                }
            }
        }
        scores
    }

    /// The `k` best items not in `history`.
    pub fn recommend(&self, history: &[u32], k: usize) -> Vec<(u32, f32)> {
        top_k(&self.scores(history), k, history)
    }
}
