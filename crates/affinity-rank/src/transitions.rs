//! Item-to-item transitions in time order ("after X, people buy Y"): the order-aware sibling
//! of item co-occurrence, and a strong baseline on sequential data.

use affinity_core::InvalidSetting;
use std::collections::HashMap;

use crate::error::{RankError, Result};
use crate::topk::{top_k, Scored};

/// How transitions are counted and how a history is scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransitionParams {
    /// Items ahead of each item that count as following it, the `d`-th with weight `1/d`.
    pub window: usize,
    /// The most recent history items that score, newest first.
    pub recent: usize,
    /// Weight of each history item relative to the next newer one (in `(0, 1]`).
    pub decay: f32,
}

impl Default for TransitionParams {
    fn default() -> Self {
        TransitionParams {
            window: 3,
            recent: 5,
            decay: 0.5,
        }
    }
}

impl TransitionParams {
    /// Fails on a setting out of range, before any work.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        let bad = |name, reason: &str| Err(InvalidSetting::new(name, reason));
        if self.window == 0 {
            return bad("window", "must be at least 1");
        }
        if self.recent == 0 {
            return bad("recent", "must be at least 1");
        }
        if !(self.decay > 0.0 && self.decay <= 1.0) {
            return bad("decay", "must be in (0, 1]");
        }
        Ok(())
    }
}

/// For each item, the items that follow it in users' sequences, as conditional frequencies;
/// a history scores each item by what follows its most recent items. Items no transition
/// reaches fall back to popularity.
///
/// ```
/// use affinity_rank::{ItemTransitions, TransitionParams};
/// // 0 is followed by 1, and 1 by 2: after [0] comes 1, after [0, 1] comes 2.
/// let sequences = vec![vec![0, 1, 2], vec![0, 1, 2], vec![3, 0, 1]];
/// let model = ItemTransitions::fit(&sequences, 4, TransitionParams::default())?;
/// assert_eq!(model.recommend(&[0], &[0], 1)[0].item, 1);
/// assert_eq!(model.recommend(&[0, 1], &[0, 1], 1)[0].item, 2);
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ItemTransitions {
    params: TransitionParams,
    /// Row `a` of the transition table is `next[offsets[a]..offsets[a + 1]]`.
    offsets: Vec<usize>,
    next: Vec<u32>,
    /// P(next | a), by the window's weights.
    weights: Vec<f32>,
    /// Occurrences scaled to at most 1, for ties and cold histories.
    popularity: Vec<f32>,
}

impl ItemTransitions {
    /// Counts transitions within each sequence (items in time order). An item id at or above
    /// `n_items` is an error naming the sequence.
    pub fn fit(sequences: &[Vec<u32>], n_items: usize, params: TransitionParams) -> Result<Self> {
        params.check()?;
        let mut rows: Vec<HashMap<u32, f32>> = vec![HashMap::new(); n_items];
        let mut counts = vec![0u32; n_items];
        for sequence in sequences {
            if let Some(&item) = sequence.iter().find(|&&i| i as usize >= n_items) {
                return Err(RankError::ItemOutOfRange { item, len: n_items });
            }
            for (t, &a) in sequence.iter().enumerate() {
                counts[a as usize] += 1;
                for (d, &b) in sequence[t + 1..].iter().take(params.window).enumerate() {
                    if b != a {
                        *rows[a as usize].entry(b).or_default() += 1.0 / (d + 1) as f32;
                    }
                }
            }
        }
        let mut offsets = Vec::with_capacity(n_items + 1);
        let (mut next, mut weights) = (Vec::new(), Vec::new());
        offsets.push(0);
        for row in rows {
            let total: f32 = row.values().sum();
            let mut row: Vec<(u32, f32)> = row.into_iter().collect();
            row.sort_unstable_by_key(|&(b, _)| b);
            for (b, w) in row {
                next.push(b);
                weights.push(w / total);
            }
            offsets.push(next.len());
        }
        let max = counts.iter().copied().max().unwrap_or(0).max(1) as f32;
        Ok(ItemTransitions {
            params,
            offsets,
            next,
            weights,
            popularity: counts.iter().map(|&c| c as f32 / max).collect(),
        })
    }

    /// Items in the catalogue.
    pub fn len(&self) -> usize {
        self.popularity.len()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.popularity.is_empty()
    }

    /// The settings it was fitted with.
    pub fn params(&self) -> TransitionParams {
        self.params
    }

    /// Scores of every item for `history` (oldest first; history items included): the
    /// transitions out of its `recent` newest items, each `decay` times the next newer one's
    /// weight. Ids outside the catalogue are skipped.
    pub fn scores(&self, history: &[u32]) -> Vec<f32> {
        // Popularity, scaled far below any transition weight, breaks ties and fills lists.
        let mut scores: Vec<f32> = self.popularity.iter().map(|p| p * 1e-6).collect();
        let mut weight = 1.0f32;
        for &a in history.iter().rev().take(self.params.recent) {
            let a = a as usize;
            if a < self.len() {
                let (from, to) = (self.offsets[a], self.offsets[a + 1]);
                for (&b, &w) in self.next[from..to].iter().zip(&self.weights[from..to]) {
                    scores[b as usize] += weight * w;
                }
            }
            weight *= self.params.decay;
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
    fn rows_are_conditional_frequencies_within_the_window() {
        let params = TransitionParams {
            window: 2,
            ..TransitionParams::default()
        };
        let model = ItemTransitions::fit(&[vec![0, 1, 2, 3], vec![0, 2]], 4, params).unwrap();
        // After 0: 1 (1), 2 (1/2 + 1): 0.4 and 0.6.
        let s = model.scores(&[0]);
        assert!(
            (s[1] - 0.4).abs() < 1e-5 && (s[2] - 0.6).abs() < 1e-5,
            "{s:?}"
        );
        // 3 is beyond the window of 0.
        assert!(s[3] < 1e-5);
        // Older items count `decay` times less: [1, 0] is mostly "after 0".
        let s = model.scores(&[1, 0]);
        assert!(s[2] > s[3]);
    }

    #[test]
    fn bad_input_and_settings_are_errors() {
        let err = ItemTransitions::fit(&[vec![0, 5]], 3, TransitionParams::default());
        assert!(matches!(
            err.unwrap_err(),
            RankError::ItemOutOfRange { item: 5, len: 3 }
        ));
        for params in [
            TransitionParams {
                window: 0,
                ..TransitionParams::default()
            },
            TransitionParams {
                decay: 0.0,
                ..TransitionParams::default()
            },
            TransitionParams {
                recent: 0,
                ..TransitionParams::default()
            },
        ] {
            assert!(ItemTransitions::fit(&[], 3, params).is_err());
        }
    }

    #[test]
    fn cold_histories_fall_back_to_popularity() {
        let model = ItemTransitions::fit(&[vec![2, 2, 2], vec![1]], 3, TransitionParams::default())
            .unwrap();
        assert_eq!(model.recommend(&[], &[], 2)[0].item, 2);
        assert_eq!(model.recommend(&[9], &[], 1)[0].item, 2);
    }
}
