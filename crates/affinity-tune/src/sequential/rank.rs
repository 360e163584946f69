//! The sequential model as one of the workspace's rankers and scorers, so that evaluation and
//! fusion treat it as they treat the baselines.

use affinity_rank::{rank_scores, RankError, Ranker, Scored, Scorer};
use ndarray::Array2;

use super::SequentialRecommender;

/// What the model is called in tables.
const NAME: &str = "sequential model";

/// The model alone: its scores over the whole catalogue, best first.
impl Ranker for SequentialRecommender {
    fn name(&self) -> String {
        NAME.into()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> affinity_rank::Result<Vec<Vec<Scored>>> {
        let scores = Scorer::scores(self, histories)?;
        rank_scores(&scores, histories, k, exclude)
    }
}

/// The model's scores: cosine / temperature with its repeat penalty.
impl Scorer for SequentialRecommender {
    fn name(&self) -> String {
        NAME.into()
    }

    fn scores(&self, histories: &[Vec<u32>]) -> affinity_rank::Result<Array2<f32>> {
        let failed = |e: crate::TuneError| RankError::failed(NAME, e);
        let scores = SequentialRecommender::scores(self, histories).map_err(failed)?;
        let flat = scores
            .f_flatten(0, -1)
            .and_then(|t| Vec::<f32>::try_from(&t))
            .map_err(|e| failed(e.into()))?;
        Array2::from_shape_vec((histories.len(), self.n_items()), flat).map_err(|_| {
            RankError::DimensionMismatch {
                what: "sequential scores",
                expected: histories.len() * self.n_items(),
                found: 0,
            }
        })
    }
}
