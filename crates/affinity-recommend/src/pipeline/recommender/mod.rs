//! Ranking with reasons: embedding similarity, rule boosts, popularity, MMR.

use affinity_core::{InvalidSetting, Progress};
use std::sync::{Mutex, MutexGuard, OnceLock};

use affinity_data::HistoryText;
use affinity_mine::{Rule, RuleIndex};
use affinity_rank::{
    BasketHistory, ItemIndex, Metric, Ranker, RepeatParams, Scored, TifuKnn, TifuParams,
};
use ndarray::{Array2, ArrayView2};

use super::config::ScoreWeights;
use super::error::{rank_error, PipelineError, Result};
use super::evaluate::Candidates;
use super::fitted::Fitted;
use super::sequential::{SequentialSummary, SequentialTower};
use crate::model::{self, Encoder};

/// How the hybrid ranks: blend weights, MMR, and how a history becomes text.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingParams {
    /// Hybrid weights.
    pub weights: ScoreWeights,
    /// MMR lambda (1: off).
    pub mmr_lambda: f32,
    /// Candidates MMR chooses from.
    pub mmr_candidates: usize,
    /// History text settings.
    pub history: HistoryText,
    /// The language model's popularity prior: its score for an item is `cosine +
    /// popularity_prior x ln(1 + buyers)` (buyers: the users who bought it), at the weight the
    /// trainer chose on the validation step for a model trained with
    /// [`Pipeline::training_task`]'s prior. 0: the cosine alone (a zero-shot model). The
    /// sequential tower ignores it.
    ///
    /// [`Pipeline::training_task`]: crate::pipeline::Pipeline::training_task
    pub popularity_prior: f32,
    /// Which items [`Recommender::recommend`] and the server offer unless asked otherwise.
    pub candidates: Candidates,
    /// How what a shopper buys again is scored (the source [`ScoreWeights::repeat`] weighs).
    pub repeat: RepeatParams,
    /// TIFU-KNN's settings (the source [`ScoreWeights::tifu`] weighs).
    pub tifu: TifuParams,
    /// Exposure-aware re-ranking in [0, 1]: each list calibrated to the shopper's own mix of
    /// head, mid and tail products ([`affinity_rank::calibrate`]) with this weight, in place of
    /// MMR. 0: off.
    pub calibration: f32,
}

/// Histories ranked together (encoded in one call, scored against every item at once).
pub(crate) const HISTORY_BATCH: usize = 1024;

/// A ready recommender: the fitted events, rules and co-occurrence, item vectors embedded
/// once, and the encoder for new histories. Save it with [`Recommender::save`] and load it with
/// [`Recommender::load`] (a bundle directory).
///
/// ```no_run
/// # fn demo(r: &affinity_recommend::pipeline::Recommender) -> affinity_recommend::pipeline::Result<()> {
/// for rec in r.recommend(&[3, 17], 5)? {
///     println!("{} {:.3} {:?}", rec.name, rec.score, rec.reasons);
/// }
/// # Ok(()) }
/// ```
pub struct Recommender {
    pub(crate) fitted: Fitted,
    /// Behind a lock: libtorch tensors may move between threads but not be shared, and the
    /// rest of the recommender is shared by every request of a server.
    encoder: Option<Mutex<Encoder>>,
    index: ItemIndex,
    has_vectors: bool,
    /// Each known user's history vector, when cached ([`Recommender::cache_user_vectors`]).
    user_vectors: Option<Array2<f32>>,
    /// History vectors by history text, when enabled
    /// ([`Recommender::cache_history_vectors`]).
    history_cache: Option<Mutex<TextCache>>,
    /// The sequence-aware history tower, when fitted ([`Recommender::fit_sequential`]): it
    /// replaces the language model for history vectors.
    pub(crate) sequential: Option<SequentialTower>,
    rule_index: RuleIndex,
    popularity: Vec<f32>,
    popularity_rank: Vec<usize>,
    /// Head, mid and tail by purchases, for exposure-aware re-ranking.
    pub(crate) groups: affinity_rank::PopularityGroups,
    /// `ln(1 + buyers)` per item: the language model's prior ([`RankingParams::popularity_prior`]).
    pub(crate) prior: Vec<f32>,
    /// Each item's usual cosine with the catalogue, on its first use
    /// ([`Recommender::typical`]).
    typical: Vec<OnceLock<Typical>>,
    pub(crate) ranking: RankingParams,
    pub(crate) provenance: crate::bundle::Provenance,
    /// TIFU-KNN over every user's baskets, when its source has a weight (fitted again from
    /// the baskets whenever its settings change, so an update is a refit).
    tifu: Option<TifuKnn>,
}

/// TIFU-KNN over `fitted`'s users with `ranking`'s settings, where its source has a weight.
fn tifu_model(fitted: &Fitted, ranking: &RankingParams) -> Result<Option<TifuKnn>> {
    if ranking.weights.tifu <= 0.0 {
        return Ok(None);
    }
    let baskets: Vec<Vec<Vec<u32>>> = fitted.shoppers.iter().map(|s| s.baskets.clone()).collect();
    Ok(Some(TifuKnn::fit(
        &baskets,
        fitted.n_items(),
        ranking.tifu,
    )?))
}

/// A popularity prior's weight must be finite and not negative.
fn check_popularity_prior(prior: f32) -> std::result::Result<(), InvalidSetting> {
    match prior.is_finite() && prior >= 0.0 {
        true => Ok(()),
        false => Err(InvalidSetting::new(
            "popularity_prior",
            format!("{prior} is not a finite, non-negative number"),
        )),
    }
}

impl RankingParams {
    /// The first setting that cannot work: a weight that is negative or not finite, an MMR
    /// lambda outside [0, 1], no MMR candidates, no history items, a bad popularity prior.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        if self
            .weights
            .all()
            .iter()
            .any(|x| !x.is_finite() || *x < 0.0)
        {
            return Err(InvalidSetting::new(
                "weights",
                "weights must be finite and >= 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.mmr_lambda) {
            return Err(InvalidSetting::new(
                "mmr_lambda",
                format!("{} is outside [0, 1]", self.mmr_lambda),
            ));
        }
        if self.mmr_candidates == 0 {
            return Err(InvalidSetting::new("mmr_candidates", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.calibration) {
            return Err(InvalidSetting::new(
                "calibration",
                format!("{} is outside [0, 1]", self.calibration),
            ));
        }
        if self.history.max_items == 0 {
            return Err(InvalidSetting::new(
                "history.max_items",
                "must be at least 1",
            ));
        }
        check_popularity_prior(self.popularity_prior)?;
        self.repeat.check()?;
        self.tifu.check()
    }
}

impl std::fmt::Debug for Recommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recommender")
            .field("items", &self.len())
            .field("users", &self.fitted.n_users())
            .field("rules", &self.fitted.rules.len())
            .field("ranking", &self.ranking)
            .finish()
    }
}

impl Recommender {
    /// Embeds every item with `encoder` (or, without one, ranks by rules and popularity only).
    /// A model trained with a popularity prior scores with it: the encoder's prior replaces
    /// `ranking.popularity_prior`.
    pub fn new(fitted: Fitted, encoder: Option<Encoder>, ranking: RankingParams) -> Result<Self> {
        Self::new_observed(fitted, encoder, ranking, &())
    }

    /// [`Recommender::new`], telling `progress` how the embedding of the products goes.
    pub fn new_observed(
        fitted: Fitted,
        encoder: Option<Encoder>,
        mut ranking: RankingParams,
        progress: &dyn Progress,
    ) -> Result<Self> {
        let vectors = match &encoder {
            Some(e) => {
                ranking.popularity_prior = model::popularity_prior(e);
                Some(model::embed_observed(
                    e,
                    &fitted.texts,
                    "embedding products",
                    progress,
                )?)
            }
            None => None,
        };
        Self::with_vectors(fitted, encoder, vectors, ranking)
    }

    /// With item vectors computed before (rows of norm 1, one per item, as wide as the
    /// encoder's output), ranked as `ranking` says (its popularity prior included).
    pub fn with_vectors(
        mut fitted: Fitted,
        encoder: Option<Encoder>,
        vectors: Option<Array2<f32>>,
        ranking: RankingParams,
    ) -> Result<Self> {
        ranking.check()?;
        let n = fitted.n_items();
        if let Some(v) = &vectors {
            if v.nrows() != n {
                return Err(InvalidSetting::new(
                    "vectors",
                    format!("{} rows for {n} items", v.nrows()),
                )
                .into());
            }
            if let Some(e) = &encoder {
                if v.ncols() != model::dim(e) {
                    return Err(InvalidSetting::new(
                        "vectors",
                        format!("width {}, the encoder's is {}", v.ncols(), model::dim(e)),
                    )
                    .into());
                }
            }
        } else if encoder.is_some() {
            return Err(InvalidSetting::new("vectors", "an encoder needs item vectors").into());
        }
        if ranking.mmr_candidates == 0 || ranking.history.max_items == 0 {
            return Err(InvalidSetting::new(
                "ranking",
                "mmr_candidates and history.max_items must be at least 1",
            )
            .into());
        }
        let has_vectors = vectors.is_some();
        let index = ItemIndex::new(
            vectors.unwrap_or_else(|| Array2::zeros((n, 1))),
            Metric::Cosine,
        )?;
        let popularity: Vec<f32> = fitted
            .counts
            .iter()
            .map(|&c| (1.0 + c as f32).ln())
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| fitted.counts[b].cmp(&fitted.counts[a]).then(a.cmp(&b)));
        let mut popularity_rank = vec![0; n];
        for (r, &i) in order.iter().enumerate() {
            popularity_rank[i] = r + 1;
        }
        fitted.rules.retain(|r| r.consequent.len() == 1);
        let prior = super::fitted::log_buyers(&fitted.histories, n);
        let tifu = tifu_model(&fitted, &ranking)?;
        let groups = affinity_rank::PopularityGroups::from_counts(&fitted.counts);
        Ok(Recommender {
            groups,
            prior,
            tifu,
            rule_index: RuleIndex::new(&fitted.rules),
            fitted,
            encoder: encoder.map(Mutex::new),
            index,
            has_vectors,
            user_vectors: None,
            history_cache: None,
            sequential: None,
            popularity,
            popularity_rank,
            typical: (0..n).map(|_| OnceLock::new()).collect(),
            ranking,
            provenance: Default::default(),
        })
    }

    /// Takes it apart: the fitted data, the encoder, the item vectors, the ranking and the
    /// provenance (to build an updated recommender from).
    pub(crate) fn into_parts(
        self,
    ) -> (
        Fitted,
        Option<Encoder>,
        Option<Array2<f32>>,
        RankingParams,
        crate::bundle::Provenance,
    ) {
        let vectors = self.has_vectors.then(|| self.index.vectors().to_owned());
        (
            self.fitted,
            self.encoder.map(|e| {
                e.into_inner()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
            }),
            vectors,
            self.ranking,
            self.provenance,
        )
    }

    /// Items in the catalogue.
    pub fn len(&self) -> usize {
        self.fitted.n_items()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item names by id.
    pub fn names(&self) -> &[String] {
        self.fitted.names()
    }

    /// The id of a product name.
    pub fn item_id(&self, name: &str) -> Option<u32> {
        self.fitted.items.get(name)
    }

    /// What was fitted: ids, texts, events, histories, counts, co-occurrence, rules.
    pub fn fitted(&self) -> &Fitted {
        &self.fitted
    }

    /// The language model, when there is one (locked while the guard lives).
    pub fn encoder(&self) -> Option<MutexGuard<'_, Encoder>> {
        self.encoder
            .as_ref()
            .map(|e| e.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Whether there is a language model.
    pub fn has_encoder(&self) -> bool {
        self.encoder.is_some()
    }

    /// Whether histories can be turned into vectors here: by the sequential model when the
    /// recommender has one (and it was loaded), else by the language model.
    pub fn reads_histories(&self) -> bool {
        match &self.sequential {
            Some(s) => s.loaded(),
            None => self.has_encoder(),
        }
    }

    /// How the sequential history tower was trained, when there is one.
    pub fn sequential(&self) -> Option<&SequentialSummary> {
        self.sequential.as_ref().map(|s| &s.summary)
    }

    /// The item vectors history vectors are compared with: the sequential model's when there
    /// is one, else the text vectors.
    pub fn history_item_vectors(&self) -> Option<ArrayView2<'_, f32>> {
        match &self.sequential {
            Some(s) => Some(s.item_vectors()),
            None => self.item_vectors(),
        }
    }

    fn history_index(&self) -> &ItemIndex {
        self.sequential.as_ref().map_or(&self.index, |s| s.items())
    }

    /// The item embeddings (rows of norm 1), when there is a model.
    pub fn item_vectors(&self) -> Option<ArrayView2<'_, f32>> {
        self.has_vectors.then(|| self.index.vectors())
    }

    /// The rules in use (single consequent).
    pub fn rules(&self) -> &[Rule] {
        &self.fitted.rules
    }

    /// Changes the blend and MMR settings (item vectors stay), checked as
    /// [`RankingParams::check`] checks them: nothing changes when they cannot work.
    pub fn set_ranking(&mut self, weights: ScoreWeights, mmr_lambda: f32) -> Result<()> {
        self.set_ranking_params(RankingParams {
            weights,
            mmr_lambda,
            ..self.ranking.clone()
        })
    }

    /// Sets the language model's popularity prior ([`RankingParams::popularity_prior`]): finite,
    /// not negative.
    pub fn set_popularity_prior(&mut self, prior: f32) -> Result<()> {
        self.set_ranking_params(RankingParams {
            popularity_prior: prior,
            ..self.ranking.clone()
        })
    }

    /// Replaces every ranking setting, checked first ([`RankingParams::check`]).
    pub fn set_ranking_params(&mut self, ranking: RankingParams) -> Result<()> {
        ranking.check()?;
        let same_tifu = ranking.tifu == self.ranking.tifu && self.tifu.is_some();
        if ranking.weights.tifu <= 0.0 {
            self.tifu = None;
        } else if !same_tifu {
            self.tifu = tifu_model(&self.fitted, &ranking)?;
        }
        self.ranking = ranking;
        Ok(())
    }

    /// The blend weights and MMR lambda in use.
    pub fn ranking(&self) -> (ScoreWeights, f32) {
        (self.ranking.weights, self.ranking.mmr_lambda)
    }

    /// The sources the blend in use weights (above 0), by name: "model" (or "sequential
    /// tower") where histories can be read, "rules", "popularity", "co-occurrence", "repeat",
    /// "TIFU-KNN". What a table calls a tuned hybrid.
    pub fn sources(&self) -> Vec<&'static str> {
        let w = self.ranking.weights;
        let model = if self.reads_histories() {
            w.embedding
        } else {
            0.0
        };
        let model_name = match self.sequential.is_some() {
            true => "sequential tower",
            false => "model",
        };
        [
            (model, model_name),
            (w.rules, "rules"),
            (w.popularity, "popularity"),
            (w.cooccurrence, "co-occurrence"),
            (w.repeat, "repeat"),
            (w.tifu, "TIFU-KNN"),
        ]
        .into_iter()
        .filter(|(weight, _)| *weight > 0.0)
        .map(|(_, name)| name)
        .collect()
    }

    /// All ranking settings.
    pub fn ranking_settings(&self) -> &RankingParams {
        &self.ranking
    }

    /// Where it came from: tuning and data sources (kept in a saved bundle's manifest).
    pub fn provenance(&self) -> &crate::bundle::Provenance {
        &self.provenance
    }

    /// Replaces the provenance record.
    pub fn set_provenance(&mut self, provenance: crate::bundle::Provenance) {
        self.provenance = provenance;
    }

    /// A ranker that blends this recommender's sources with other weights and lambda: the
    /// embedding model alone is `ScoreWeights::EMBEDDING` with lambda 1, rules alone
    /// `ScoreWeights::RULES`.
    pub fn blend(
        &self,
        name: impl Into<String>,
        weights: ScoreWeights,
        mmr_lambda: f32,
    ) -> Blend<'_> {
        Blend {
            recommender: self,
            name: name.into(),
            weights,
            mmr_lambda,
        }
    }

    /// Whether it ranks what shoppers buy again: a repeat weight, repeat settings or default
    /// candidates other than discover (a bundle of it is format version 4).
    pub fn ranks_repeats(&self) -> bool {
        let config = &self.fitted.config;
        self.ranking.weights.repeat > 0.0
            || self.ranking.candidates != Candidates::HistoryExcluded
            || config.candidates != Candidates::HistoryExcluded
            || self.ranking.weights.tifu > 0.0
            || self.ranking.repeat != RepeatParams::default()
    }

    /// The text the encoder reads for a history (oldest first).
    pub fn history_text(&self, history: &[u32]) -> String {
        self.ranking.history.build(
            history
                .iter()
                .rev()
                .map(|&i| self.fitted.texts[i as usize].as_str()),
        )
    }

    fn check(&self, history: &[u32]) -> Result<()> {
        match history.iter().find(|&&i| i as usize >= self.len()) {
            Some(i) => Err(PipelineError::UnknownItem(i.to_string())),
            None => Ok(()),
        }
    }
}

impl Ranker for Recommender {
    fn name(&self) -> String {
        "hybrid".into()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> affinity_rank::Result<Vec<Vec<Scored>>> {
        self.blend("hybrid", self.ranking.weights, self.ranking.mmr_lambda)
            .rank(histories, k, exclude)
    }

    fn rank_baskets(
        &self,
        histories: &[Vec<u32>],
        shoppers: &[BasketHistory],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> affinity_rank::Result<Vec<Vec<Scored>>> {
        self.blend("hybrid", self.ranking.weights, self.ranking.mmr_lambda)
            .rank_baskets(histories, shoppers, k, exclude)
    }
}

/// A recommender's sources blended with other weights: see [`Recommender::blend`].
#[derive(Debug)]
pub struct Blend<'a> {
    recommender: &'a Recommender,
    name: String,
    weights: ScoreWeights,
    mmr_lambda: f32,
}

impl Blend<'_> {
    fn lists(
        &self,
        histories: &[Vec<u32>],
        shoppers: Option<&[BasketHistory]>,
        k: usize,
        exclude: &[Vec<u32>],
    ) -> affinity_rank::Result<Vec<Vec<Scored>>> {
        self.recommender
            .rank_lists(
                histories,
                shoppers,
                k,
                exclude,
                self.weights,
                self.mmr_lambda,
            )
            .map_err(|e| rank_error(self.name.clone(), e))
    }
}

impl Ranker for Blend<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> affinity_rank::Result<Vec<Vec<Scored>>> {
        self.lists(histories, None, k, exclude)
    }

    /// With their baskets and days, what shoppers buy again is scored from them; the other
    /// sources read the histories as [`Ranker::rank`] does.
    fn rank_baskets(
        &self,
        histories: &[Vec<u32>],
        shoppers: &[BasketHistory],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> affinity_rank::Result<Vec<Vec<Scored>>> {
        if shoppers.len() != histories.len() {
            return Err(affinity_rank::RankError::DimensionMismatch {
                what: "shoppers",
                expected: histories.len(),
                found: shoppers.len(),
            });
        }
        self.lists(histories, Some(shoppers), k, exclude)
    }
}

mod influence;
mod reasons;
mod scoring;
mod serving;
mod user_vectors;
mod words;

pub use influence::{Influence, INFLUENCE_ITEMS};
use reasons::Typical;
pub use reasons::{Reason, Recommendation};
pub(crate) use scoring::Normalized;
use user_vectors::TextCache;
pub use words::{WordInfluence, INFLUENCE_WORDS};
#[cfg(test)]
mod tests;
