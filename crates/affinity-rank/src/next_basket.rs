//! The next-basket baselines: personal top frequency (the Reality Check's P-TopFreq, filled
//! with the most popular items) and TIFU-KNN (Hu et al., SIGIR 2020), both reading a shopper's
//! baskets ([`BasketHistory`]).

use crate::error::Result;
use crate::ranker::{exclusions, Ranker};
use crate::repeat::{decayed_frequency, BasketHistory, DecayParams};
use crate::topk::{top_k, Scored};
use affinity_core::InvalidSetting;

/// Each shopper's own items by the number of baskets that held them (the most recent purchase
/// breaks ties), then the most popular items: the Reality Check's P-TopFreq with the rest of
/// the list filled as its GP-TopFreq does.
///
/// ```
/// use affinity_rank::{BasketHistory, PersonalTopFreq};
/// let popular = PersonalTopFreq::new(vec![0.0, 5.0, 9.0]);
/// let shopper = BasketHistory { baskets: vec![vec![0], vec![0, 1]], ..Default::default() };
/// let items: Vec<u32> = popular.recommend(&shopper, 3, &[]).iter().map(|s| s.item).collect();
/// assert_eq!(items, [0, 1, 2]); // twice, once (newer than nothing else), then the popular one
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalTopFreq {
    /// Global counts, scaled below 1 so that they only order what the shopper never bought.
    filler: Vec<f32>,
}

impl PersonalTopFreq {
    /// With `counts`, each item's global popularity (any scale), for the rest of the list.
    pub fn new(counts: Vec<f32>) -> Self {
        let max = counts.iter().copied().fold(0f32, f32::max);
        let scale = if max > 0.0 { 0.5 / max } else { 0.0 };
        PersonalTopFreq {
            filler: counts.iter().map(|c| c * scale).collect(),
        }
    }

    /// Every item's score for `shopper`: baskets holding it plus a recency fraction below 1
    /// for the items bought, the scaled popularity (below 0.5) for the others.
    pub fn scores(&self, shopper: &BasketHistory) -> Vec<f32> {
        let mut scores = self.filler.clone();
        let n = shopper.baskets.len().max(1) as f32;
        let mut counts = vec![0u32; scores.len()];
        let mut last = vec![0usize; scores.len()];
        for (b, basket) in shopper.baskets.iter().enumerate() {
            let mut items = basket.clone();
            items.sort_unstable();
            items.dedup();
            for i in items.into_iter().filter(|&i| (i as usize) < scores.len()) {
                counts[i as usize] += 1;
                last[i as usize] = b;
            }
        }
        for (i, &c) in counts.iter().enumerate().filter(|(_, &c)| c > 0) {
            // At least 1 + 0.5 (above any filler), ties broken towards the newer purchase.
            scores[i] = c as f32 + 0.5 + 0.5 * (last[i] as f32 + 1.0) / (n + 1.0);
        }
        scores
    }

    /// The best `k` items for `shopper`, leaving out `exclude`.
    pub fn recommend(&self, shopper: &BasketHistory, k: usize, exclude: &[u32]) -> Vec<Scored> {
        top_k(&self.scores(shopper), k, exclude)
    }
}

impl Ranker for PersonalTopFreq {
    fn name(&self) -> String {
        "personal top frequency".into()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        rank_shoppers(&item_shoppers(histories), k, exclude, |s| self.scores(s))
    }

    fn rank_baskets(
        &self,
        _histories: &[Vec<u32>],
        shoppers: &[BasketHistory],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        rank_shoppers(shoppers, k, exclude, |s| self.scores(s))
    }
}

/// Shoppers known only by their items: one basket each, no days.
fn item_shoppers(histories: &[Vec<u32>]) -> Vec<BasketHistory> {
    histories
        .iter()
        .map(|h| BasketHistory::from_items(h))
        .collect()
}

/// Each shopper's best `k` items by `score`, leaving out their row of `exclude`.
fn rank_shoppers(
    shoppers: &[BasketHistory],
    k: usize,
    exclude: &[Vec<u32>],
    score: impl Fn(&BasketHistory) -> Vec<f32>,
) -> Result<Vec<Vec<Scored>>> {
    let excluded = exclusions(shoppers, exclude)?;
    Ok(shoppers
        .iter()
        .enumerate()
        .map(|(i, s)| top_k(&score(s), k, excluded(i)))
        .collect())
}

/// TIFU-KNN's settings: the decay of a shopper's baskets, the neighbours and the mix.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TifuParams {
    /// How a shopper's baskets become a vector.
    pub decay: DecayParams,
    /// Nearest shoppers (by Euclidean distance between vectors) whose mean is mixed in.
    pub neighbors: usize,
    /// The shopper's own vector's share: `alpha x own + (1 - alpha) x neighbours' mean`.
    pub alpha: f32,
}

impl Default for TifuParams {
    /// The published defaults (300 neighbours, alpha 0.7, within 0.9, group 0.7, 7 groups).
    fn default() -> Self {
        TifuParams {
            decay: DecayParams::default(),
            neighbors: 300,
            alpha: 0.7,
        }
    }
}

impl TifuParams {
    /// The decay checked, at least one neighbour, alpha in [0, 1].
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        self.decay.check()?;
        if self.neighbors == 0 {
            return Err(InvalidSetting::new("neighbors", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(InvalidSetting::new(
                "alpha",
                format!("{} is outside [0, 1]", self.alpha),
            ));
        }
        Ok(())
    }
}

/// TIFU-KNN as its authors wrote it: every shopper's time-decayed item frequency
/// ([`decayed_frequency`]); a shopper's scores are `alpha` times their own vector plus
/// `1 - alpha` times the mean vector of the `neighbors` training shoppers nearest to it in
/// Euclidean distance (the shopper itself among them when it is a training shopper, as in the
/// reference code; ties to the lower index).
///
/// ```
/// use affinity_rank::{TifuKnn, TifuParams};
/// // Two shoppers buy 0 then 1; a third buys 2 only.
/// let train = vec![vec![vec![0], vec![1]], vec![vec![0], vec![1]], vec![vec![2]]];
/// let params = TifuParams { neighbors: 2, ..TifuParams::default() };
/// let model = TifuKnn::fit(&train, 3, params)?;
/// let scores = model.scores(&[vec![0]]);
/// assert!(scores[1] > scores[2]); // the neighbours who bought 0 went on to 1
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TifuKnn {
    params: TifuParams,
    n_items: usize,
    vectors: Vec<Vec<(u32, f32)>>,
    squared_norms: Vec<f64>,
    /// Per item, the training shoppers whose vector holds it, with the value.
    postings: Vec<Vec<(u32, f32)>>,
}

impl TifuKnn {
    /// Every training shopper's vector, from their baskets (oldest first).
    pub fn fit(shoppers: &[Vec<Vec<u32>>], n_items: usize, params: TifuParams) -> Result<Self> {
        params.check()?;
        let vectors: Vec<Vec<(u32, f32)>> = shoppers
            .iter()
            .map(|b| decayed_frequency(b, &params.decay))
            .collect();
        let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_items];
        for (u, v) in vectors.iter().enumerate() {
            for &(item, value) in v {
                let Some(list) = postings.get_mut(item as usize) else {
                    return Err(crate::RankError::ItemOutOfRange { item, len: n_items });
                };
                list.push((u as u32, value));
            }
        }
        let squared_norms = vectors.iter().map(|v| squared_norm(v)).collect();
        Ok(TifuKnn {
            params,
            n_items,
            vectors,
            squared_norms,
            postings,
        })
    }

    /// The settings.
    pub fn params(&self) -> &TifuParams {
        &self.params
    }

    /// Every item's score for a shopper with `baskets` (oldest first); all 0 for no baskets.
    pub fn scores(&self, baskets: &[Vec<u32>]) -> Vec<f32> {
        let mut out = vec![0f32; self.n_items];
        let own: Vec<(u32, f32)> = decayed_frequency(baskets, &self.params.decay)
            .into_iter()
            .filter(|&(i, _)| (i as usize) < self.n_items)
            .collect();
        if own.is_empty() {
            return out;
        }
        let neighbors = self.nearest(&own);
        let p = self.params;
        for &(item, value) in &own {
            out[item as usize] += p.alpha * value;
        }
        if !neighbors.is_empty() {
            let share = (1.0 - p.alpha) / neighbors.len() as f32;
            for &u in &neighbors {
                for &(item, value) in &self.vectors[u as usize] {
                    out[item as usize] += share * value;
                }
            }
        }
        out
    }

    /// The training shoppers nearest to `own` (Euclidean), at most `neighbors` of them.
    fn nearest(&self, own: &[(u32, f32)]) -> Vec<u32> {
        let users = self.vectors.len();
        let mut dot = vec![0f64; users];
        for &(item, value) in own {
            for &(u, v) in &self.postings[item as usize] {
                dot[u as usize] += f64::from(value) * f64::from(v);
            }
        }
        let own_norm = squared_norm(own);
        let mut by_distance: Vec<(f64, u32)> = (0..users)
            .map(|u| (own_norm + self.squared_norms[u] - 2.0 * dot[u], u as u32))
            .collect();
        let k = self.params.neighbors.min(users);
        if k < users {
            by_distance.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            by_distance.truncate(k);
        }
        by_distance.into_iter().map(|(_, u)| u).collect()
    }
}

fn squared_norm(v: &[(u32, f32)]) -> f64 {
    v.iter().map(|&(_, x)| f64::from(x) * f64::from(x)).sum()
}

impl Ranker for TifuKnn {
    fn name(&self) -> String {
        "TIFU-KNN".into()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        rank_shoppers(&item_shoppers(histories), k, exclude, |s| {
            self.scores(&s.baskets)
        })
    }

    fn rank_baskets(
        &self,
        _histories: &[Vec<u32>],
        shoppers: &[BasketHistory],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        rank_shoppers(shoppers, k, exclude, |s| self.scores(&s.baskets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The neighbours by brute force over dense vectors, as the reference code finds them.
    #[test]
    fn neighbours_and_scores_match_a_dense_computation() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let n_items = 12;
        let shoppers: Vec<Vec<Vec<u32>>> = (0..30)
            .map(|_| {
                (0..1 + next(9))
                    .map(|_| {
                        (0..1 + next(4))
                            .map(|_| next(n_items as u64) as u32)
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let params = TifuParams {
            neighbors: 5,
            alpha: 0.6,
            decay: DecayParams {
                within: 0.8,
                group: 0.6,
                groups: 3,
            },
        };
        let model = TifuKnn::fit(&shoppers, n_items, params).unwrap();
        let dense = |b: &[Vec<u32>]| {
            let mut v = vec![0f64; n_items];
            for (i, x) in decayed_frequency(b, &params.decay) {
                v[i as usize] = f64::from(x);
            }
            v
        };
        let all: Vec<Vec<f64>> = shoppers.iter().map(|b| dense(b)).collect();
        for query in &shoppers[..6] {
            let q = dense(query);
            let mut d: Vec<(f64, usize)> = all
                .iter()
                .enumerate()
                .map(|(u, v)| (q.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum(), u))
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut expected = vec![0f64; n_items];
            for (i, x) in q.iter().enumerate() {
                expected[i] += 0.6 * x;
            }
            for &(_, u) in &d[..5] {
                for (i, x) in all[u].iter().enumerate() {
                    expected[i] += 0.4 / 5.0 * x;
                }
            }
            let got = model.scores(query);
            for (a, b) in got.iter().zip(&expected) {
                assert!((f64::from(*a) - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
        assert!(model.scores(&[]).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn personal_frequency_comes_first_then_popularity() {
        let model = PersonalTopFreq::new(vec![10.0, 0.0, 3.0, 7.0]);
        let shopper = BasketHistory {
            baskets: vec![vec![2], vec![1], vec![2, 1], vec![1]],
            ..BasketHistory::default()
        };
        let items: Vec<u32> = model
            .recommend(&shopper, 4, &[])
            .iter()
            .map(|s| s.item)
            .collect();
        assert_eq!(items, [1, 2, 0, 3]);
        // Equal counts: the newer purchase first.
        let tie = BasketHistory {
            baskets: vec![vec![3], vec![2]],
            ..BasketHistory::default()
        };
        let items: Vec<u32> = model
            .recommend(&tie, 2, &[])
            .iter()
            .map(|s| s.item)
            .collect();
        assert_eq!(items, [2, 3]);
    }
}
