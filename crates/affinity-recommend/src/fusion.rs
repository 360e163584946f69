//! Score-level fusion: several [`Scorer`]s (the sequential model, item co-occurrence, rules,
//! popularity) each score every item, their scores are min-max normalised per history, and
//! the weighted sum ranks. [`Fusion::tune`] chooses the weights on a validation step, starting
//! from the best single source, so a source that does not help keeps weight 0.
//!
//! ```
//! use affinity_recommend::fusion::Fusion;
//! use affinity_recommend::pipeline::{Candidates, EvalSet};
//! use affinity_rank::{CooccurrenceWeight, ItemCooccurrence, MostPopular};
//! use affinity_rank::{Ranker, Scorer};
//! let baskets = vec![vec![0, 1], vec![0, 1], vec![2, 3], vec![2, 3], vec![3]];
//! let cooc = ItemCooccurrence::fit(&baskets, 4, CooccurrenceWeight::Cosine);
//! let popular = MostPopular::fit(&baskets, 4);
//! let mut fusion = Fusion::new("hybrid", vec![Box::new(popular), Box::new(cooc)])?;
//! // Validation: after 0 comes 1, after 2 comes 3; popularity alone gets the second wrong.
//! let mut validation = EvalSet { n_items: 4, ..EvalSet::default() };
//! validation.histories = vec![vec![0], vec![2]];
//! validation.relevant = vec![vec![1], vec![3]];
//! let tuning = fusion.tune(&validation, 1, Candidates::HistoryExcluded, 1_000)?;
//! assert_eq!(tuning.validation_ndcg, 1.0);
//! assert_eq!(fusion.weights()[0], 0.0); // popularity adds nothing: weight 0
//! let lists = fusion.rank(&[vec![2]], 1, &[vec![2]])?;
//! assert_eq!(lists[0][0].item, 3);
//! # Ok::<(), affinity_recommend::pipeline::PipelineError>(())
//! ```

use affinity_core::InvalidSetting;
use ndarray::{Array2, ArrayView1};
use serde::Serialize;

use affinity_data::metrics::ndcg_at;
use affinity_rank::{
    exclusions, normalize, top_k, weighted_sum, Normalization, Ranker, Scored, Source,
};

/// The scorer interface a fusion adds up (defined beside the rankers, in affinity-rank).
pub use affinity_rank::Scorer;

use crate::pipeline::error::rank_error;
use crate::pipeline::{Candidates, EvalSet, Recommender, Result};

/// The recommender's blended score (its own weights), before MMR: rules alone with
/// `ScoreWeights::RULES`, say.
impl Scorer for Recommender {
    fn name(&self) -> String {
        Ranker::name(self)
    }

    fn scores(&self, histories: &[Vec<u32>]) -> affinity_rank::Result<Array2<f32>> {
        self.blended_scores(histories)
            .map_err(|e| rank_error(Ranker::name(self), e))
    }
}

/// Weights tried for each source while tuning (relative to the best single source's 1).
const GRID: [f32; 12] = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0];

/// How [`Fusion::tune`] chose the weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FusionTuning {
    /// The sources, in the fusion's order.
    pub sources: Vec<String>,
    /// The chosen weight of each.
    pub weights: Vec<f32>,
    /// Validation NDCG@k of each source alone.
    pub single: Vec<f64>,
    /// Validation NDCG@k with the chosen weights (never below the best of `single`).
    pub validation_ndcg: f64,
    /// Validation users scored.
    pub users: usize,
    /// The list length scored.
    pub k: usize,
    /// The candidates the lists were drawn from.
    pub candidates: Candidates,
}

/// Several scorers' normalised scores, weighted and summed; a [`Ranker`].
pub struct Fusion<'a> {
    name: String,
    sources: Vec<Box<dyn Scorer + 'a>>,
    weights: Vec<f32>,
}

impl std::fmt::Debug for Fusion<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fusion")
            .field("name", &self.name)
            .field("sources", &self.source_names())
            .field("weights", &self.weights)
            .finish()
    }
}

impl<'a> Fusion<'a> {
    /// Every source at weight 1 (tune or set them before relying on the lists).
    pub fn new(name: impl Into<String>, sources: Vec<Box<dyn Scorer + 'a>>) -> Result<Self> {
        if sources.is_empty() {
            return Err(
                InvalidSetting::new("sources", "a fusion needs at least one scorer").into(),
            );
        }
        Ok(Fusion {
            name: name.into(),
            weights: vec![1.0; sources.len()],
            sources,
        })
    }

    /// The same fusion with `weights` (one per source, finite, not negative, not all 0).
    pub fn with_weights(mut self, weights: &[f32]) -> Result<Self> {
        self.set_weights(weights)?;
        Ok(self)
    }

    /// Sets the weights, checked as in [`Fusion::with_weights`].
    pub fn set_weights(&mut self, weights: &[f32]) -> Result<()> {
        if weights.len() != self.sources.len() {
            return Err(InvalidSetting::new(
                "weights",
                format!(
                    "{} weights for {} sources",
                    weights.len(),
                    self.sources.len()
                ),
            )
            .into());
        }
        if let Some(w) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(InvalidSetting::new(
                "weights",
                format!("{w} is not a finite weight of 0 or more"),
            )
            .into());
        }
        if weights.iter().all(|&w| w == 0.0) {
            return Err(InvalidSetting::new("weights", "every weight is 0").into());
        }
        self.weights = weights.to_vec();
        Ok(())
    }

    /// The weight of each source.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The name of each source.
    pub fn source_names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.name()).collect()
    }

    /// Each source's scores for `histories`, min-max normalised per history.
    fn normalized(&self, histories: &[Vec<u32>]) -> Result<Vec<Array2<f32>>> {
        let mut out: Vec<Array2<f32>> = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            let mut scores = source.scores(histories)?;
            if scores.nrows() != histories.len() {
                return Err(InvalidSetting::new(
                    "sources",
                    format!(
                        "{} scored {} histories of {}",
                        source.name(),
                        scores.nrows(),
                        histories.len()
                    ),
                )
                .into());
            }
            if let Some(first) = out.first().filter(|f| f.ncols() != scores.ncols()) {
                return Err(InvalidSetting::new(
                    "sources",
                    format!(
                        "{} scores {} items, {} scores {}",
                        source.name(),
                        scores.ncols(),
                        self.sources[0].name(),
                        first.ncols()
                    ),
                )
                .into());
            }
            for mut row in scores.rows_mut() {
                let n = normalize(&row.to_vec(), Normalization::MinMax);
                row.assign(&ArrayView1::from(&n[..]));
            }
            out.push(scores);
        }
        Ok(out)
    }

    /// Chooses the weights by NDCG@k on `validation` (at most `max_users` of its users, evenly
    /// spread), lists drawn from `candidates`: the best single source at weight 1, then each
    /// other source's weight from a grid, in rounds until none improves. Keeps and returns
    /// the choice.
    pub fn tune(
        &mut self,
        validation: &EvalSet,
        k: usize,
        candidates: Candidates,
        max_users: usize,
    ) -> Result<FusionTuning> {
        if validation.is_empty() {
            return Err(InvalidSetting::new("validation", "no validation users to tune on").into());
        }
        if k == 0 || max_users == 0 {
            return Err(InvalidSetting::new("k", "k and max_users must be at least 1").into());
        }
        let n = validation.len();
        let picked: Vec<usize> = (0..n.min(max_users))
            .map(|i| i * n / n.min(max_users))
            .collect();
        let histories: Vec<Vec<u32>> = picked
            .iter()
            .map(|&i| validation.histories[i].clone())
            .collect();
        let normalized = self.normalized(&histories)?;
        let width = normalized[0].ncols();
        let score = |weights: &[f32]| -> f64 {
            let mut combined = vec![0f32; width];
            let mut total = 0.0;
            for (row, &i) in picked.iter().enumerate() {
                combine(&normalized, row, weights, &mut combined);
                let exclude = candidates.excluded(&validation.histories[i], width);
                let list: Vec<u32> = top_k(&combined, k, &exclude)
                    .into_iter()
                    .map(|s| s.item)
                    .collect();
                total += ndcg_at(&list, &validation.relevant[i], k);
            }
            total / picked.len() as f64
        };
        let sources = self.sources.len();
        let single: Vec<f64> = (0..sources)
            .map(|s| {
                let mut w = vec![0.0; sources];
                w[s] = 1.0;
                score(&w)
            })
            .collect();
        let anchor = (0..sources)
            .max_by(|&a, &b| single[a].total_cmp(&single[b]).then(b.cmp(&a)))
            .expect("at least one source");
        let mut weights = vec![0.0; sources];
        weights[anchor] = 1.0;
        let mut best = single[anchor];
        for _round in 0..4 {
            let mut improved = false;
            for s in (0..sources).filter(|&s| s != anchor) {
                for g in GRID {
                    let mut trial = weights.clone();
                    trial[s] = g;
                    let v = score(&trial);
                    if v > best + 1e-9 {
                        (best, weights, improved) = (v, trial, true);
                    }
                }
            }
            if !improved {
                break;
            }
        }
        self.weights = weights.clone();
        Ok(FusionTuning {
            sources: self.source_names(),
            weights,
            single,
            validation_ndcg: best,
            users: picked.len(),
            k,
            candidates,
        })
    }
}

/// `out = sum_s weights[s] * normalized[s][row]`.
fn combine(normalized: &[Array2<f32>], row: usize, weights: &[f32], out: &mut [f32]) {
    let rows: Vec<ndarray::ArrayView1<f32>> = normalized.iter().map(|n| n.row(row)).collect();
    let sources: Vec<Source> = rows
        .iter()
        .zip(weights)
        .map(|(r, &weight)| Source {
            scores: r.as_slice().expect("rows of a standard-layout array"),
            weight,
        })
        .collect();
    weighted_sum(&sources, out).expect("rows of one width and weights checked finite");
}

impl Ranker for Fusion<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> affinity_rank::Result<Vec<Vec<Scored>>> {
        let excluded = exclusions(histories, exclude)?;
        let mut out = Vec::with_capacity(histories.len());
        for (c, chunk) in histories.chunks(crate::pipeline::HISTORY_BATCH).enumerate() {
            let normalized = self
                .normalized(chunk)
                .map_err(|e| rank_error(self.name.clone(), e))?;
            let mut combined = vec![0f32; normalized[0].ncols()];
            for j in 0..chunk.len() {
                combine(&normalized, j, &self.weights, &mut combined);
                let i = c * crate::pipeline::HISTORY_BATCH + j;
                out.push(top_k(&combined, k, excluded(i)));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use affinity_rank::{CooccurrenceWeight, ItemCooccurrence, MostPopular};

    /// Scores looked up by the history's last item: row `table[last]`.
    struct Table(Vec<Vec<f32>>);

    impl Scorer for Table {
        fn name(&self) -> String {
            "table".into()
        }

        fn scores(&self, histories: &[Vec<u32>]) -> affinity_rank::Result<Array2<f32>> {
            affinity_rank::score_rows(histories, |h| self.0[*h.last().unwrap() as usize].clone())
        }
    }

    fn validation(histories: Vec<Vec<u32>>, relevant: Vec<Vec<u32>>) -> EvalSet {
        EvalSet {
            n_items: 6,
            histories,
            relevant,
            ..EvalSet::default()
        }
    }

    #[test]
    fn one_source_ranks_exactly_as_it_does_alone() {
        let baskets = vec![
            vec![0, 1, 2],
            vec![1, 2],
            vec![3, 4],
            vec![0, 4],
            vec![2, 5],
        ];
        let cooc = ItemCooccurrence::fit(&baskets, 6, CooccurrenceWeight::Cosine);
        let fusion = Fusion::new("f", vec![Box::new(&cooc)]).unwrap();
        let histories = vec![vec![0], vec![1, 4], vec![5, 2, 3]];
        for exclude in [&histories[..], &[][..]] {
            let a = fusion.rank(&histories, 4, exclude).unwrap();
            let b = cooc.rank(&histories, 4, exclude).unwrap();
            let items = |l: &Vec<Vec<Scored>>| {
                l.iter()
                    .map(|x| x.iter().map(|s| s.item).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            };
            assert_eq!(items(&a), items(&b));
        }
    }

    #[test]
    fn weights_are_checked() {
        let popular = MostPopular::fit(&[vec![0, 1]], 2);
        let fusion = || Fusion::new("f", vec![Box::new(&popular), Box::new(&popular)]).unwrap();
        assert!(fusion().with_weights(&[1.0]).is_err());
        assert!(fusion().with_weights(&[1.0, -0.1]).is_err());
        assert!(fusion().with_weights(&[f32::NAN, 1.0]).is_err());
        assert!(fusion().with_weights(&[0.0, 0.0]).is_err());
        assert_eq!(
            fusion().with_weights(&[0.0, 2.0]).unwrap().weights(),
            [0.0, 2.0]
        );
        assert!(Fusion::new("f", vec![]).is_err());
    }

    #[test]
    fn sources_of_different_catalogues_are_an_error() {
        let a = MostPopular::fit(&[vec![0, 1]], 2);
        let b = MostPopular::fit(&[vec![0, 1]], 3);
        let fusion = Fusion::new("f", vec![Box::new(&a), Box::new(&b)]).unwrap();
        let err = fusion.rank(&[vec![0]], 1, &[]).unwrap_err().to_string();
        assert!(err.contains("3 items"), "{err}");
    }

    #[test]
    fn tuning_drops_noise_and_combines_complementary_sources() {
        // Item after 0 is 1, after 2 is 3, after 4 is 5. `left` knows the first two and ranks
        // 5 second after 4, `right` knows only the last.
        let mut left = vec![vec![0.0; 6]; 6];
        left[0][1] = 1.0;
        left[2][3] = 1.0;
        left[4] = vec![0.0, 0.9, 0.0, 0.0, 0.0, 0.5];
        let mut right = vec![vec![0.0; 6]; 6];
        right[4][5] = 1.0;
        right[0][2] = 1.0;
        right[2][0] = 1.0;
        // Scores every right answer lowest: it can only hurt.
        let mut noise = vec![vec![1.0; 6]; 6];
        noise[0][1] = 0.0;
        noise[2][3] = 0.0;
        noise[4][5] = 0.0;
        let (left, right, noise) = (Table(left), Table(right), Table(noise));
        let set = validation(
            vec![vec![0], vec![2], vec![4]],
            vec![vec![1], vec![3], vec![5]],
        );
        let mut fusion = Fusion::new(
            "f",
            vec![Box::new(&noise), Box::new(&left), Box::new(&right)],
        )
        .unwrap();
        let t = fusion
            .tune(&set, 1, Candidates::HistoryExcluded, 100)
            .unwrap();
        assert_eq!(t.users, 3);
        assert!(t.single[1] > t.single[0] && t.single[1] > t.single[2]);
        assert_eq!(t.weights[0], 0.0, "noise keeps weight 0: {t:?}");
        assert_eq!(t.weights[1], 1.0);
        assert!(t.weights[2] > 0.0, "{t:?}");
        assert_eq!(t.validation_ndcg, 1.0);
        assert!(t.validation_ndcg > t.single[1]);
        assert_eq!(fusion.weights(), &t.weights[..]);
        let lists = fusion.rank(&set.histories, 1, &set.histories).unwrap();
        let firsts: Vec<u32> = lists.iter().map(|l| l[0].item).collect();
        assert_eq!(firsts, [1, 3, 5]);
    }

    #[test]
    fn tuning_samples_at_most_max_users_and_never_loses_to_the_best_single() {
        let baskets = vec![
            vec![0, 1],
            vec![1, 2],
            vec![2, 3],
            vec![3, 4],
            vec![4, 5],
            vec![5, 0],
        ];
        let cooc = ItemCooccurrence::fit(&baskets, 6, CooccurrenceWeight::Cosine);
        let popular = MostPopular::fit(&baskets, 6);
        let histories: Vec<Vec<u32>> = (0..6).map(|i| vec![i]).collect();
        let relevant: Vec<Vec<u32>> = (0..6).map(|i| vec![(i + 1) % 6]).collect();
        let set = validation(histories, relevant);
        let mut fusion = Fusion::new("f", vec![Box::new(&popular), Box::new(&cooc)]).unwrap();
        let t = fusion.tune(&set, 2, Candidates::AllItems, 4).unwrap();
        assert_eq!(t.users, 4);
        let best = t.single.iter().copied().fold(f64::MIN, f64::max);
        assert!(t.validation_ndcg >= best);
        assert!(fusion
            .tune(&EvalSet::default(), 2, Candidates::AllItems, 4)
            .is_err());
    }
}
