//! Scoring: every item's blended score for a history (the language model or sequential
//! tower, rules, popularity and co-occurrence, each normalised), and the ranked lists with MMR.

use super::{Recommender, HISTORY_BATCH};
use crate::model;
use crate::pipeline::config::ScoreWeights;
use crate::pipeline::error::Result;
use affinity_rank::{
    blend, calibrate, exclusions, inner_product, mmr, normalize, top_k, weighted_sum,
    BasketHistory, Normalization, Scored, Source,
};
use ndarray::{Array2, Axis};
use std::collections::HashMap;

/// Candidates exposure-aware re-ranking chooses from.
const CALIBRATION_POOL: usize = 500;

impl Recommender {
    /// History vectors, one row per history (zero rows when there is no encoder, no history
    /// or no weight on the embedding).
    pub(super) fn embed_histories(
        &self,
        histories: &[Vec<u32>],
        weight: f32,
    ) -> Result<Array2<f32>> {
        let dim = self.history_index().dim();
        if let Some(tower) = &self.sequential {
            let vectors = match weight > 0.0 {
                true => tower.embed(histories)?,
                false => None,
            };
            return Ok(vectors.unwrap_or_else(|| Array2::zeros((histories.len(), dim))));
        }
        let Some(encoder) = self.encoder().filter(|_| weight > 0.0) else {
            return Ok(Array2::zeros((histories.len(), dim)));
        };
        let texts: Vec<String> = histories.iter().map(|h| self.history_text(h)).collect();
        let mut out = match &self.history_cache {
            None => model::embed(&encoder, &texts)?,
            Some(cache) => {
                let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                cache.embed(&texts, dim, |missing| model::embed(&encoder, missing))?
            }
        };
        for (h, mut row) in histories.iter().zip(out.rows_mut()) {
            if h.is_empty() {
                row.fill(0.0);
            }
        }
        Ok(out)
    }

    /// What `history` (or `shopper`, its baskets when known) buys again, and the weight that
    /// source gets for this shopper (the configured one, gated per shopper when asked).
    pub(super) fn repeat_source(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        weight: f32,
    ) -> (Vec<f32>, f32) {
        if weight <= 0.0 {
            return (Vec::new(), 0.0);
        }
        let flat;
        let shopper = match shopper {
            Some(s) => s,
            None => {
                flat = BasketHistory::from_items(history);
                &flat
            }
        };
        let (model, params) = (&self.fitted.repeat, &self.ranking.repeat);
        (
            model.scores(shopper, params),
            weight * model.gate(shopper, params),
        )
    }

    /// TIFU-KNN's score of every item for `history` (or `shopper`'s baskets), all 0 where it
    /// has no model (no weight).
    pub(super) fn tifu_scores(&self, history: &[u32], shopper: Option<&BasketHistory>) -> Vec<f32> {
        let Some(model) = &self.tifu else {
            return vec![0.0; self.len()];
        };
        match shopper {
            Some(s) => model.scores(&s.baskets),
            None => model.scores(&BasketHistory::from_items(history).baskets),
        }
    }

    /// Blended scores of every item for one history, given its vector.
    pub(super) fn scores(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        embedding: &[f32],
        w: ScoreWeights,
    ) -> Result<(Vec<f32>, HashMap<u32, usize>)> {
        let (rule_scores, best_rule) = self.rule_scores(history);
        let cooccurrence = if w.cooccurrence > 0.0 {
            self.fitted.cooccurrence.scores(history)
        } else {
            Vec::new()
        };
        let embedding = self.model_scores(embedding);
        let (repeat, repeat_weight) = self.repeat_source(history, shopper, w.repeat);
        let tifu = match w.tifu > 0.0 {
            true => self.tifu_scores(history, shopper),
            false => Vec::new(),
        };
        let mut sources = Vec::with_capacity(6);
        for (scores, weight) in [
            (&embedding[..], w.embedding),
            (&rule_scores[..], w.rules),
            (&self.popularity[..], w.popularity),
            (&cooccurrence[..], w.cooccurrence),
            (&repeat[..], repeat_weight),
            (&tifu[..], w.tifu),
        ] {
            if weight > 0.0 {
                sources.push(Source { scores, weight });
            }
        }
        let blended = if sources.is_empty() {
            vec![0.0; self.len()]
        } else {
            blend(&sources, Normalization::MinMax)?
        };
        Ok((blended, best_rule))
    }

    /// The language model's score of every item from its cosines: plus the popularity prior
    /// it was trained with, if any (not for the sequential tower, trained without one).
    pub(super) fn model_scores<'s>(&self, cosines: &'s [f32]) -> std::borrow::Cow<'s, [f32]> {
        let prior = self.ranking.popularity_prior;
        // No history vector (an empty history, no model): nothing for the prior to add to.
        if prior == 0.0 || self.sequential.is_some() || cosines.iter().all(|&c| c == 0.0) {
            return cosines.into();
        }
        cosines
            .iter()
            .zip(&self.prior)
            .map(|(c, p)| c + prior * p)
            .collect::<Vec<f32>>()
            .into()
    }

    /// Per item, the confidence of the strongest rule the history fires for it (0 where none
    /// does), and that rule.
    pub(super) fn rule_scores(&self, history: &[u32]) -> (Vec<f32>, HashMap<u32, usize>) {
        let n = self.len();
        let rules = &self.fitted.rules;
        let mut scores = vec![0f32; n];
        let mut best_rule: HashMap<u32, usize> = HashMap::new();
        if !rules.is_empty() {
            for (item, r) in self.rule_index.strongest_by_item(history) {
                if (item as usize) < n {
                    best_rule.insert(item, r);
                    scores[item as usize] = rules[r].confidence as f32;
                }
            }
        }
        (scores, best_rule)
    }

    /// The score sources of one history normalised once, so that many weightings can be
    /// tried on them ([`Normalized::blend`] equals [`Recommender::rank_with`]'s scores).
    pub(crate) fn normalized(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        embedding: &[f32],
    ) -> Normalized {
        // Scored at weight 1 to learn the shopper's gate; the weight is applied in the blend.
        let (repeat, gate) = self.repeat_source(history, shopper, 1.0);
        Normalized {
            embedding: normalize(&self.model_scores(embedding), Normalization::MinMax),
            rules: normalize(&self.rule_scores(history).0, Normalization::MinMax),
            cooccurrence: normalize(
                &self.fitted.cooccurrence.scores(history),
                Normalization::MinMax,
            ),
            repeat: normalize(&repeat, Normalization::MinMax),
            gate,
            tifu: normalize(&self.tifu_scores(history, shopper), Normalization::MinMax),
        }
    }

    /// The popularity source normalised, shared by every history.
    pub(crate) fn normalized_popularity(&self) -> Vec<f32> {
        normalize(&self.popularity, Normalization::MinMax)
    }

    /// The list: the top `k` by `scores`, then re-ranked among the top candidates either for
    /// exposure (calibrated to the mix of head, mid and tail products in `history`, when
    /// [`RankingParams::calibration`](super::RankingParams::calibration) is on) or for
    /// diversity (MMR with `lambda`, where there are item vectors).
    pub(crate) fn select(
        &self,
        scores: &[f32],
        history: &[u32],
        exclude: &[u32],
        k: usize,
        lambda: f32,
    ) -> Result<Vec<Scored>> {
        self.select_calibrated(
            scores,
            history,
            exclude,
            k,
            lambda,
            self.ranking.calibration,
        )
    }

    /// [`Self::select`] with `calibration` in place of the configured one (tuning tries
    /// several on the same recommender).
    pub(crate) fn select_calibrated(
        &self,
        scores: &[f32],
        history: &[u32],
        exclude: &[u32],
        k: usize,
        lambda: f32,
        calibration: f32,
    ) -> Result<Vec<Scored>> {
        if calibration > 0.0 {
            // A wider pool than MMR's: the few dozen best-scored products of a blend with any
            // popularity in it are nearly all best sellers, and calibration is there to reach
            // past them (with MMR's 50 it moved the Gini index by under 0.01 on either dataset).
            let pool = top_k(
                scores,
                CALIBRATION_POOL.max(self.ranking.mmr_candidates).max(k),
                exclude,
            );
            let target = self.groups.mix(history);
            return Ok(calibrate(&pool, k, calibration, &self.groups, target)?);
        }
        if lambda >= 1.0 || !self.has_vectors {
            return Ok(top_k(scores, k, exclude));
        }
        let pool = top_k(scores, self.ranking.mmr_candidates.max(k), exclude);
        let vectors = self.index.vectors();
        let row = |i: u32| vectors.row(i as usize).to_slice().expect("standard layout");
        let sim = |a: u32, b: u32| inner_product(row(a), row(b));
        Ok(mmr(&pool, k, lambda, sim)?)
    }

    /// Cosine of each history's embedding with every item, `[histories, items]` (zeros when
    /// the embedding weight is 0 or there is no encoder).
    pub fn embedding_scores(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        self.embedding_scores_with(histories, self.ranking.weights.embedding)
    }

    pub(super) fn embedding_scores_with(
        &self,
        histories: &[Vec<u32>],
        weight: f32,
    ) -> Result<Array2<f32>> {
        for h in histories {
            self.check(h)?;
        }
        let users = self.embed_histories(histories, weight)?;
        Ok(users
            .dot(&self.history_index().vectors().t())
            .as_standard_layout()
            .into_owned())
    }

    /// Every item's blended score (this recommender's weights) for each history,
    /// `[histories, items]`: the scores its lists are ranked by before MMR.
    pub(crate) fn blended_scores(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        let weights = self.ranking.weights;
        let mut out = Array2::zeros((histories.len(), self.len()));
        for (c, chunk) in histories.chunks(HISTORY_BATCH).enumerate() {
            let sims = self.embedding_scores_with(chunk, weights.embedding)?;
            for (j, (h, row)) in chunk.iter().zip(sims.axis_iter(Axis(0))).enumerate() {
                let (scores, _) =
                    self.scores(h, None, row.as_slice().expect("contiguous"), weights)?;
                out.row_mut(c * HISTORY_BATCH + j)
                    .assign(&ndarray::ArrayView1::from(&scores[..]));
            }
        }
        Ok(out)
    }

    /// One ranked list from precomputed embedding scores, with the given weights and lambda.
    #[allow(clippy::too_many_arguments)] // one list's every input; called in a loop
    pub(crate) fn rank_with(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        exclude: &[u32],
        embedding: &[f32],
        k: usize,
        weights: ScoreWeights,
        lambda: f32,
    ) -> Result<Vec<Scored>> {
        let (scores, _) = self.scores(history, shopper, embedding, weights)?;
        self.select(&scores, history, exclude, k, lambda)
    }

    /// Ranked lists for `histories` (with `shoppers`, their baskets, where known).
    pub(super) fn rank_lists(
        &self,
        histories: &[Vec<u32>],
        shoppers: Option<&[BasketHistory]>,
        k: usize,
        exclude: &[Vec<u32>],
        weights: ScoreWeights,
        lambda: f32,
    ) -> Result<Vec<Vec<Scored>>> {
        let excluded = exclusions(histories, exclude)?;
        let mut out = Vec::with_capacity(histories.len());
        for (c, chunk) in histories.chunks(HISTORY_BATCH).enumerate() {
            let sims = self.embedding_scores_with(chunk, weights.embedding)?;
            for (j, (h, row)) in chunk.iter().zip(sims.axis_iter(Axis(0))).enumerate() {
                let row = row.as_slice().expect("contiguous");
                let i = c * HISTORY_BATCH + j;
                let shopper = shoppers.map(|s| &s[i]);
                out.push(self.rank_with(h, shopper, excluded(i), row, k, weights, lambda)?);
            }
        }
        Ok(out)
    }
}

/// One history's score sources, normalised as [`blend`] normalises them.
pub(crate) struct Normalized {
    embedding: Vec<f32>,
    rules: Vec<f32>,
    cooccurrence: Vec<f32>,
    repeat: Vec<f32>,
    /// The shopper's gate on the repeat weight.
    gate: f32,
    tifu: Vec<f32>,
}

impl Normalized {
    /// Replaces the TIFU-KNN source (normalised here).
    pub(crate) fn set_tifu(&mut self, tifu: &[f32]) {
        self.tifu = normalize(tifu, Normalization::MinMax);
    }

    /// Replaces the repeat source (normalised here) and the shopper's gate on its weight.
    pub(crate) fn set_repeat(&mut self, repeat: &[f32], gate: f32) {
        self.repeat = normalize(repeat, Normalization::MinMax);
        self.gate = gate;
    }

    /// The weighted sum, added in [`blend`]'s order so that the result is bit-identical.
    pub(crate) fn blend(&self, popularity: &[f32], w: ScoreWeights) -> Vec<f32> {
        let mut out = vec![0f32; popularity.len()];
        let sources = [
            (&self.embedding[..], w.embedding),
            (&self.rules[..], w.rules),
            (popularity, w.popularity),
            (&self.cooccurrence[..], w.cooccurrence),
            (&self.repeat[..], w.repeat * self.gate),
            (&self.tifu[..], w.tifu),
        ]
        .map(|(scores, weight)| Source { scores, weight })
        // An empty repeat source (weight 0) adds nothing; weighted_sum wants full rows.
        .into_iter()
        .filter(|s| s.weight != 0.0)
        .collect::<Vec<_>>();
        weighted_sum(&sources, &mut out).expect("one score per item, weights checked finite");
        out
    }
}
