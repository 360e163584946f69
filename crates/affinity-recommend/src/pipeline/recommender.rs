//! Ranking with reasons: embedding similarity, rule boosts, popularity, MMR.

use affinity_core::{InvalidSetting, Progress};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use affinity_data::HistoryText;
use affinity_mine::{Rule, RuleIndex};
use affinity_rank::{
    blend, exclusions, inner_product, mmr, normalize, top_k, weighted_sum, ItemIndex, Metric,
    Normalization, Ranker, Scored, Source,
};
use ndarray::{Array2, ArrayView2, Axis};

use super::config::ScoreWeights;
use super::error::{rank_error, PipelineError, Result};
use super::fitted::Fitted;
use super::sequential::{SequentialSummary, SequentialTower};
use crate::model::{self, Encoder};

/// Why an item was recommended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Reason {
    /// A mined rule fired on the history: `antecedent -> item`.
    Rule {
        /// Items of the history that made it fire.
        antecedent: Vec<String>,
        /// P(item | antecedent) in the training baskets.
        confidence: f64,
        /// Confidence over the item's base rate.
        lift: f64,
    },
    /// A product in the history that this one is unusually similar to: the history product
    /// with the most distinctive similarity, given only where the cosine stands out from both
    /// products' usual similarity to the catalogue (so a product similar to everything, or a
    /// collapsed embedding space, gives no such reason).
    SimilarTo {
        /// That product.
        item: String,
        /// Cosine of the two product embeddings.
        similarity: f32,
        /// The recommended product's mean cosine with the catalogue, for comparison.
        typical: f32,
    },
    /// Among the most bought products (what remains when nothing else speaks for it).
    Popular {
        /// Its rank by training purchases, from 1.
        rank: usize,
    },
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// Item id.
    pub item: u32,
    /// Item name.
    pub name: String,
    /// The blended score it was ranked by.
    pub score: f32,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
}

/// How the hybrid ranks: blend weights, MMR, and how a history becomes text.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
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
    /// `ln(1 + buyers)` per item: the language model's prior ([`Ranking::popularity_prior`]).
    pub(crate) prior: Vec<f32>,
    /// Each item's usual cosine with the catalogue, on its first use
    /// ([`Recommender::typical`]).
    typical: Vec<OnceLock<Typical>>,
    pub(crate) ranking: Ranking,
    pub(crate) provenance: crate::bundle::Provenance,
}

/// A popularity prior's weight must be finite and not negative.
pub(crate) fn check_popularity_prior(prior: f32) -> Result<()> {
    match prior.is_finite() && prior >= 0.0 {
        true => Ok(()),
        false => Err(InvalidSetting::new(
            "popularity_prior",
            format!("{prior} is not a finite, non-negative number"),
        )
        .into()),
    }
}

/// An item's cosine with a sample of the catalogue: mean and standard deviation.
#[derive(Debug, Clone, Copy)]
struct Typical {
    mean: f32,
    std: f32,
}

/// Catalogue items an item's usual similarity is measured against (evenly spaced).
const TYPICAL_SAMPLE: usize = 256;
/// A similarity reason needs a cosine this many standard deviations above both products'
/// mean similarity to the catalogue...
const DISTINCTIVE_SD: f32 = 2.0;
/// ...and at least this far above it in absolute terms (a collapsed space has tiny spreads).
const DISTINCTIVE_GAP: f32 = 0.05;

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
    pub fn new(fitted: Fitted, encoder: Option<Encoder>, ranking: Ranking) -> Result<Self> {
        Self::new_observed(fitted, encoder, ranking, &())
    }

    /// [`Recommender::new`], telling `progress` how the embedding of the products goes.
    pub fn new_observed(
        fitted: Fitted,
        encoder: Option<Encoder>,
        mut ranking: Ranking,
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
        ranking: Ranking,
    ) -> Result<Self> {
        check_popularity_prior(ranking.popularity_prior)?;
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
        Ok(Recommender {
            prior,
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
        Ranking,
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

    /// Changes the blend and MMR settings (item vectors stay).
    pub fn set_ranking(&mut self, weights: ScoreWeights, mmr_lambda: f32) {
        self.ranking.weights = weights;
        self.ranking.mmr_lambda = mmr_lambda;
    }

    /// Sets the language model's popularity prior ([`Ranking::popularity_prior`]): finite,
    /// not negative.
    pub fn set_popularity_prior(&mut self, prior: f32) -> Result<()> {
        check_popularity_prior(prior)?;
        self.ranking.popularity_prior = prior;
        Ok(())
    }

    /// The blend weights and MMR lambda in use.
    pub fn ranking(&self) -> (ScoreWeights, f32) {
        (self.ranking.weights, self.ranking.mmr_lambda)
    }

    /// All ranking settings.
    pub fn ranking_settings(&self) -> &Ranking {
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

    /// History vectors, one row per history (zero rows when there is no encoder, no history
    /// or no weight on the embedding).
    fn embed_histories(&self, histories: &[Vec<u32>], weight: f32) -> Result<Array2<f32>> {
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

    /// Blended scores of every item for one history, given its vector.
    fn scores(
        &self,
        history: &[u32],
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
        let mut sources = Vec::with_capacity(4);
        for (scores, weight) in [
            (&embedding[..], w.embedding),
            (&rule_scores[..], w.rules),
            (&self.popularity[..], w.popularity),
            (&cooccurrence[..], w.cooccurrence),
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
    fn model_scores<'s>(&self, cosines: &'s [f32]) -> std::borrow::Cow<'s, [f32]> {
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
    fn rule_scores(&self, history: &[u32]) -> (Vec<f32>, HashMap<u32, usize>) {
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
    pub(crate) fn normalized(&self, history: &[u32], embedding: &[f32]) -> Normalized {
        Normalized {
            embedding: normalize(&self.model_scores(embedding), Normalization::MinMax),
            rules: normalize(&self.rule_scores(history).0, Normalization::MinMax),
            cooccurrence: normalize(
                &self.fitted.cooccurrence.scores(history),
                Normalization::MinMax,
            ),
        }
    }

    /// The popularity source normalised, shared by every history.
    pub(crate) fn normalized_popularity(&self) -> Vec<f32> {
        normalize(&self.popularity, Normalization::MinMax)
    }

    pub(crate) fn select(
        &self,
        scores: &[f32],
        exclude: &[u32],
        k: usize,
        lambda: f32,
    ) -> Result<Vec<Scored>> {
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

    fn embedding_scores_with(&self, histories: &[Vec<u32>], weight: f32) -> Result<Array2<f32>> {
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
                let (scores, _) = self.scores(h, row.as_slice().expect("contiguous"), weights)?;
                out.row_mut(c * HISTORY_BATCH + j)
                    .assign(&ndarray::ArrayView1::from(&scores[..]));
            }
        }
        Ok(out)
    }

    /// One ranked list from precomputed embedding scores, with the given weights and lambda.
    pub(crate) fn rank_with(
        &self,
        history: &[u32],
        exclude: &[u32],
        embedding: &[f32],
        k: usize,
        weights: ScoreWeights,
        lambda: f32,
    ) -> Result<Vec<Scored>> {
        let (scores, _) = self.scores(history, embedding, weights)?;
        self.select(&scores, exclude, k, lambda)
    }

    fn rank_lists(
        &self,
        histories: &[Vec<u32>],
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
                let ex = excluded(c * HISTORY_BATCH + j);
                out.push(self.rank_with(h, ex, row, k, weights, lambda)?);
            }
        }
        Ok(out)
    }

    /// The top `k` new items for a history (item ids, oldest first), with reasons. An empty
    /// history is a cold start: popular items, saying so.
    pub fn recommend(&self, history: &[u32], k: usize) -> Result<Vec<Recommendation>> {
        self.recommend_excluding(history, history, k)
    }

    /// As [`Recommender::recommend`], leaving out `exclude` instead of the history.
    pub fn recommend_excluding(
        &self,
        history: &[u32],
        exclude: &[u32],
        k: usize,
    ) -> Result<Vec<Recommendation>> {
        self.check(history)?;
        let user = self.embed_histories(&[history.to_vec()], self.ranking.weights.embedding)?;
        self.recommend_from_vector(history, exclude, user.row(0), k)
    }

    /// History vectors, one row each (zeros for an empty history, or without a model or
    /// embedding weight): read by the sequential model when the recommender has one, else the
    /// history texts encoded by the language model. What [`Recommender::recommend`] does
    /// first, exposed so that a server can encode the histories of concurrent requests together.
    pub fn history_vectors(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        for h in histories {
            self.check(h)?;
        }
        self.embed_histories(histories, self.ranking.weights.embedding)
    }

    /// As [`Recommender::recommend_excluding`], with the history's vector already computed
    /// ([`Recommender::history_vectors`]).
    pub fn recommend_from_vector(
        &self,
        history: &[u32],
        exclude: &[u32],
        vector: ndarray::ArrayView1<f32>,
        k: usize,
    ) -> Result<Vec<Recommendation>> {
        let sims = self.similarities(vector.insert_axis(Axis(0)))?;
        self.recommend_from_similarities(history, exclude, sims.row(0), k)
    }

    /// The cosine of each of `vectors` (history vectors, one per row) with every item,
    /// `[rows, items]`, in one pass over the item vectors ([`ItemIndex::similarities`]): each
    /// row's figures are the same whatever else is in the batch (the server batches the
    /// requests that arrive together).
    pub fn similarities(&self, vectors: ArrayView2<f32>) -> Result<Array2<f32>> {
        Ok(self.history_index().similarities(vectors)?)
    }

    /// As [`Recommender::recommend_from_vector`], with the vector's similarities to every
    /// item already computed ([`Recommender::similarities`]).
    pub fn recommend_from_similarities(
        &self,
        history: &[u32],
        exclude: &[u32],
        similarities: ndarray::ArrayView1<f32>,
        k: usize,
    ) -> Result<Vec<Recommendation>> {
        self.check(history)?;
        if similarities.len() != self.len() {
            return Err(InvalidSetting::new(
                "similarities",
                format!("{} values for {} items", similarities.len(), self.len()),
            )
            .into());
        }
        let sims = similarities.as_standard_layout();
        let (scores, best_rule) = self.scores(
            history,
            sims.as_slice().expect("contiguous"),
            self.ranking.weights,
        )?;
        let picked = self.select(&scores, exclude, k, self.ranking.mmr_lambda)?;
        Ok(picked
            .into_iter()
            .map(|s| Recommendation {
                item: s.item,
                name: self.names()[s.item as usize].clone(),
                score: s.score,
                reasons: self.reasons(history, s.item, best_rule.get(&s.item).copied()),
            })
            .collect())
    }

    /// Recommendations for a known user (their whole fitted history), or a cold start with
    /// popular items for a user the recommender has not seen. With cached user vectors
    /// ([`Recommender::cache_user_vectors`]) the language model is not run.
    pub fn recommend_user(&self, user: &str, k: usize) -> Result<Vec<Recommendation>> {
        let history = self.fitted.history(user).unwrap_or(&[]);
        match self.user_vector(user) {
            Some(vector) => self.recommend_from_vector(history, history, vector, k),
            None => self.recommend(history, k),
        }
    }

    /// Encodes every known user's history once and keeps the vectors, so that requests by
    /// user id skip the language model (the cost moves to fitting: one encoding per user).
    /// Saved with the bundle and kept current by [`Recommender::update`].
    ///
    /// ```no_run
    /// # fn demo(mut r: affinity_recommend::pipeline::Recommender) -> affinity_recommend::pipeline::Result<()> {
    /// r.cache_user_vectors()?;
    /// let recs = r.recommend_user("1808", 5)?; // no encoding now
    /// # Ok(()) }
    /// ```
    pub fn cache_user_vectors(&mut self) -> Result<()> {
        if !self.reads_histories() {
            return Err(InvalidSetting::new(
                "encoder",
                "user vectors need a language model or a sequential model to read the histories",
            )
            .into());
        }
        let all: Vec<usize> = (0..self.fitted.n_users()).collect();
        self.user_vectors = Some(self.encode_users(&all)?);
        Ok(())
    }

    /// Keeps the vectors of up to `capacity` history texts, so that a history met again is not
    /// encoded again (evaluating several rankers on the same histories encodes them once);
    /// 0 turns the cache off. The vectors belong to the encoder as it is now: clear the cache
    /// (`cache_history_vectors(0)`) after changing the encoder through
    /// [`Recommender::encoder`].
    pub fn cache_history_vectors(&mut self, capacity: usize) {
        self.history_cache = (capacity > 0).then(|| {
            Mutex::new(TextCache {
                capacity,
                vectors: HashMap::new(),
            })
        });
    }

    /// The cached history vector of a known user.
    pub fn user_vector(&self, user: &str) -> Option<ndarray::ArrayView1<'_, f32>> {
        let u = self.fitted.users.get(user)?;
        self.user_vectors.as_ref().map(|v| v.row(u as usize))
    }

    /// Every cached user vector, one row per user id, when cached.
    pub fn user_vectors(&self) -> Option<ArrayView2<'_, f32>> {
        self.user_vectors.as_ref().map(|v| v.view())
    }

    /// Sets cached user vectors computed before (one row per user, as wide as the items').
    pub(crate) fn set_user_vectors(&mut self, vectors: Option<Array2<f32>>) -> Result<()> {
        if let Some(v) = &vectors {
            let (users, dim) = (self.fitted.n_users(), self.history_index().dim());
            if !self.has_vectors || v.dim() != (users, dim) {
                return Err(InvalidSetting::new(
                    "user vectors",
                    format!(
                        "{} x {}, expected {users} users x width {dim} (and item vectors)",
                        v.nrows(),
                        v.ncols()
                    ),
                )
                .into());
            }
        }
        self.user_vectors = vectors;
        Ok(())
    }

    /// Takes the cached user vectors out (an update refreshes the stale rows).
    pub(crate) fn take_user_vectors(&mut self) -> Option<Array2<f32>> {
        self.user_vectors.take()
    }

    /// The history vectors of users `users` (ids), encoded in one pass.
    pub(crate) fn encode_users(&self, users: &[usize]) -> Result<Array2<f32>> {
        let histories: Vec<Vec<u32>> = users
            .iter()
            .map(|&u| self.fitted.histories[u].clone())
            .collect();
        self.embed_histories(&histories, self.ranking.weights.embedding)
    }

    fn reasons(&self, history: &[u32], item: u32, rule: Option<usize>) -> Vec<Reason> {
        let mut reasons = Vec::new();
        if let Some(r) = rule {
            let rule = &self.fitted.rules[r];
            reasons.push(Reason::Rule {
                antecedent: rule
                    .antecedent
                    .iter()
                    .map(|&i| self.names()[i as usize].clone())
                    .collect(),
                confidence: rule.confidence,
                lift: rule.lift,
            });
        }
        if self.has_vectors {
            if let Some(reason) = self.similarity_reason(history, item) {
                reasons.push(reason);
            }
        }
        if reasons.is_empty() || self.popularity_rank[item as usize] <= 10 {
            reasons.push(Reason::Popular {
                rank: self.popularity_rank[item as usize],
            });
        }
        reasons
    }

    /// The history product whose similarity to `item` stands out most from both products'
    /// usual similarity to the catalogue, if any stands out enough.
    fn similarity_reason(&self, history: &[u32], item: u32) -> Option<Reason> {
        let vectors = self.index.vectors();
        let row = |i: u32| vectors.row(i as usize).to_slice().expect("standard layout");
        let target = row(item);
        let usual = self.typical(item);
        let margin =
            |t: Typical, s: f32| (s - t.mean) / (DISTINCTIVE_SD * t.std).max(DISTINCTIVE_GAP);
        let (h, similarity, stand_out) = history
            .iter()
            .filter(|&&h| h != item && (h as usize) < self.len())
            .map(|&h| {
                let s = inner_product(row(h), target);
                (h, s, margin(usual, s).min(margin(self.typical(h), s)))
            })
            .max_by(|a, b| a.2.total_cmp(&b.2).then(b.0.cmp(&a.0)))?;
        (stand_out >= 1.0).then(|| Reason::SimilarTo {
            item: self.names()[h as usize].clone(),
            similarity,
            typical: usual.mean,
        })
    }

    /// An item's mean and spread of cosine with an evenly spaced sample of the catalogue
    /// (itself left out), computed on first use: 256 dot products, so loading stays fast.
    fn typical(&self, item: u32) -> Typical {
        *self.typical[item as usize].get_or_init(|| {
            let vectors = self.index.vectors();
            let n = vectors.nrows();
            let m = n.min(TYPICAL_SAMPLE);
            let row = |i: usize| vectors.row(i).to_slice().expect("standard layout");
            let sims: Vec<f32> = (0..m)
                .map(|j| j * n / m)
                .filter(|&j| j != item as usize)
                .map(|j| inner_product(row(j), row(item as usize)))
                .collect();
            let count = sims.len().max(1) as f32;
            let mean = sims.iter().sum::<f32>() / count;
            let var = sims.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / count;
            Typical {
                mean,
                std: var.sqrt(),
            }
        })
    }

    /// Products for a free-text query, by cosine of the embeddings.
    pub fn search(&self, text: &str, k: usize) -> Result<Vec<Recommendation>> {
        let encoder = self
            .encoder()
            .ok_or_else(|| InvalidSetting::new("encoder", "search needs a language model"))?;
        if text.trim().is_empty() {
            return Err(InvalidSetting::new("query", "the query is empty").into());
        }
        let q = model::embed(&encoder, &[text])?;
        drop(encoder);
        let found = self.index.search(q.row(0), k, &[])?;
        Ok(self.plain(found))
    }

    /// Products most similar to `item`.
    pub fn similar(&self, item: u32, k: usize) -> Result<Vec<Recommendation>> {
        if !self.has_vectors {
            return Err(
                InvalidSetting::new("encoder", "similar items need a language model").into(),
            );
        }
        self.check(&[item])?;
        Ok(self.plain(self.index.similar(item, k)?))
    }

    fn plain(&self, found: Vec<Scored>) -> Vec<Recommendation> {
        found
            .into_iter()
            .map(|s| Recommendation {
                item: s.item,
                name: self.names()[s.item as usize].clone(),
                score: s.score,
                reasons: vec![],
            })
            .collect()
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
        self.rank_lists(
            histories,
            k,
            exclude,
            self.ranking.weights,
            self.ranking.mmr_lambda,
        )
        .map_err(|e| rank_error(Ranker::name(self), e))
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
        self.recommender
            .rank_lists(histories, k, exclude, self.weights, self.mmr_lambda)
            .map_err(|e| rank_error(self.name.clone(), e))
    }
}

/// One history's score sources, normalised as [`blend`] normalises them.
pub(crate) struct Normalized {
    embedding: Vec<f32>,
    rules: Vec<f32>,
    cooccurrence: Vec<f32>,
}

impl Normalized {
    /// The weighted sum, added in [`blend`]'s order so that the result is bit-identical.
    pub(crate) fn blend(&self, popularity: &[f32], w: ScoreWeights) -> Vec<f32> {
        let mut out = vec![0f32; popularity.len()];
        let sources = [
            (&self.embedding[..], w.embedding),
            (&self.rules[..], w.rules),
            (popularity, w.popularity),
            (&self.cooccurrence[..], w.cooccurrence),
        ]
        .map(|(scores, weight)| Source { scores, weight });
        weighted_sum(&sources, &mut out).expect("one score per item, weights checked finite");
        out
    }
}

/// Vectors by text, at most `capacity` of them (emptied when full: the simplest bound, and
/// a repeated pass over the same texts refills it at once).
struct TextCache {
    capacity: usize,
    vectors: HashMap<String, Vec<f32>>,
}

impl TextCache {
    /// Rows for `texts`, encoding only those not cached (each once).
    fn embed(
        &mut self,
        texts: &[String],
        dim: usize,
        encode: impl FnOnce(&[String]) -> Result<Array2<f32>>,
    ) -> Result<Array2<f32>> {
        let mut missing: Vec<String> = texts
            .iter()
            .filter(|t| !self.vectors.contains_key(*t))
            .cloned()
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let mut fresh = HashMap::new();
        if !missing.is_empty() {
            let encoded = encode(&missing)?;
            if encoded.nrows() != missing.len() {
                return Err(InvalidSetting::new(
                    "encoder",
                    format!("{} vectors for {} texts", encoded.nrows(), missing.len()),
                )
                .into());
            }
            fresh = missing
                .into_iter()
                .zip(encoded.rows())
                .map(|(t, row)| (t, row.to_vec()))
                .collect();
        }
        let mut out = Array2::zeros((texts.len(), dim));
        for (text, mut row) in texts.iter().zip(out.rows_mut()) {
            let v = fresh.get(text).or_else(|| self.vectors.get(text));
            row.assign(&ndarray::ArrayView1::from(v.expect("encoded above")));
        }
        if self.vectors.len() + fresh.len() > self.capacity {
            self.vectors.clear();
        }
        if fresh.len() <= self.capacity {
            self.vectors.extend(fresh);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Pipeline, PipelineConfig};
    use affinity_data::synthetic::XorShift;
    use affinity_data::{load, Format, LoadOptions as DataOptions, LongCsv};

    /// A rules-only recommender over generated baskets with strong pairs.
    fn recommender() -> Recommender {
        let mut rng = XorShift::new(3);
        let mut csv = String::from("user,item,timestamp\n");
        for user in 0..80 {
            for day in 0..3 {
                let first = rng.below(12);
                for item in [first, (first + 1) % 12, rng.below(12)] {
                    csv += &format!("u{user},i{item},{}\n", 86_400 * (day + 1));
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.csv");
        std::fs::write(&path, csv).unwrap();
        let format = Format::Long(LongCsv::default());
        let (data, _) = load(&path, &format, &DataOptions::default()).unwrap();
        let config = PipelineConfig::builder().min_support(0.01).build().unwrap();
        Pipeline::new(config)
            .unwrap()
            .fit(data, None, None)
            .unwrap()
    }

    /// The fixture's catalogue with the given item vectors (rows normalised here).
    fn with_vectors(rows: Vec<[f32; 7]>) -> Recommender {
        let r = recommender();
        let mut v = Array2::from_shape_vec((rows.len(), 7), rows.concat()).unwrap();
        for mut row in v.rows_mut() {
            let norm = row.dot(&row).sqrt();
            row /= norm;
        }
        Recommender::with_vectors(r.fitted.clone(), None, Some(v), r.ranking.clone()).unwrap()
    }

    fn similar_to(r: &Recommender, history: &[u32], item: u32) -> Option<String> {
        r.reasons(history, item, None)
            .into_iter()
            .find_map(|x| match x {
                Reason::SimilarTo { item, .. } => Some(item),
                _ => None,
            })
    }

    #[test]
    fn similarity_reasons_only_where_the_similarity_stands_out() {
        // Items in pairs along their own axis (0-1, 2-3, ... 8-9), 10 alone, 11 a hub close
        // to every pair.
        let mut rows = Vec::new();
        for i in 0..10 {
            let mut row = [0.0f32; 7];
            row[i / 2] = 1.0;
            row[6] = 0.05 * (i % 2) as f32;
            rows.push(row);
        }
        rows.push([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        rows.push([1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        let r = with_vectors(rows);
        assert_eq!(r.len(), 12);
        // 1 is the partner of 0: said, whatever else the history holds.
        assert_eq!(similar_to(&r, &[0, 11], 1), Some(r.names()[0].clone()));
        assert_eq!(similar_to(&r, &[11, 0, 4], 1), Some(r.names()[0].clone()));
        // The hub is as close to 1 as to everything else: not a reason.
        assert_eq!(similar_to(&r, &[11], 1), None);
        // Nothing in common: no reason either.
        assert_eq!(similar_to(&r, &[10, 4], 1), None);

        // A collapsed space (every product nearly the same vector): no similarity reasons.
        let collapsed: Vec<[f32; 7]> = (0..12)
            .map(|i| {
                let mut row = [1.0f32; 7];
                row[i % 7] += 0.01 * (i as f32);
                row
            })
            .collect();
        let r = with_vectors(collapsed);
        for item in 0..12u32 {
            let history: Vec<u32> = (0..12).filter(|&h| h != item).collect();
            assert_eq!(similar_to(&r, &history, item), None, "item {item}");
        }
    }

    #[test]
    fn sources_normalised_once_blend_exactly_as_scoring_does() {
        let r = recommender();
        assert!(!r.fitted.rules.is_empty());
        let popularity = r.normalized_popularity();
        let mut rng = XorShift::new(9);
        for trial in 0..20 {
            let history: Vec<u32> = (0..1 + trial % 4).map(|_| rng.below(12) as u32).collect();
            let embedding: Vec<f32> = (0..r.len()).map(|_| rng.unit() as f32 - 0.5).collect();
            let normalized = r.normalized(&history, &embedding);
            for (rules, popularity_weight, cooccurrence) in [
                (0.0, 0.0, 0.0),
                (0.3, 0.0, 0.3),
                (1.0, 4.0, 0.0),
                (0.0, 0.1, 1.0),
            ] {
                let w = ScoreWeights {
                    embedding: 1.0,
                    rules,
                    popularity: popularity_weight,
                    cooccurrence,
                };
                let (expected, _) = r.scores(&history, &embedding, w).unwrap();
                let found = normalized.blend(&popularity, w);
                let same = expected
                    .iter()
                    .zip(&found)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "weights {w:?}: {expected:?} vs {found:?}");
            }
        }
    }

    #[test]
    fn the_text_cache_encodes_each_text_once_and_stays_bounded() {
        let mut cache = TextCache {
            capacity: 3,
            vectors: HashMap::new(),
        };
        let calls = std::cell::RefCell::new(Vec::new());
        let encode = |texts: &[String]| {
            calls.borrow_mut().push(texts.to_vec());
            let rows: Vec<f32> = texts.iter().flat_map(|t| [t.len() as f32, 1.0]).collect();
            Ok(Array2::from_shape_vec((texts.len(), 2), rows).unwrap())
        };
        let texts = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let first = cache.embed(&texts(&["a", "bb", "a"]), 2, encode).unwrap();
        assert_eq!(first.column(0).to_vec(), [1.0, 2.0, 1.0]);
        let again = cache.embed(&texts(&["bb", "a"]), 2, encode).unwrap();
        assert_eq!(again.column(0).to_vec(), [2.0, 1.0]);
        cache.embed(&texts(&["ccc", "dddd"]), 2, encode).unwrap();
        assert!(cache.vectors.len() <= 3);
        assert_eq!(
            calls.into_inner(),
            vec![texts(&["a", "bb"]), texts(&["ccc", "dddd"])]
        );
        // An encoder that returns too few rows is an error, not a panic.
        let short = |_: &[String]| Ok(Array2::zeros((0, 2)));
        assert!(cache.embed(&texts(&["e"]), 2, short).is_err());
    }

    /// A model trained with a popularity prior scores `cosine + prior x ln(1 + buyers)`: the
    /// prior moves popular items up exactly that much, and a bundle keeps it.
    #[test]
    fn the_popularity_prior_adds_log_counts_to_the_cosine_and_is_saved() {
        let rows: Vec<[f32; 7]> = (0..12)
            .map(|i| {
                let mut row = [0.1f32; 7];
                row[i % 7] = 1.0 + (i / 7) as f32;
                row
            })
            .collect();
        let mut r = with_vectors(rows);
        r.set_ranking(ScoreWeights::EMBEDDING, 1.0);
        let user = ndarray::Array1::from(vec![0.2f32, 0.9, 0.1, 0.4, 0.0, 0.3, 0.2]);
        let cosines = r.similarities(user.view().insert_axis(Axis(0))).unwrap();
        let top = |r: &Recommender| {
            r.recommend_from_vector(&[], &[], user.view(), 12)
                .unwrap()
                .iter()
                .map(|x| x.item)
                .collect::<Vec<_>>()
        };
        let by = |score: &dyn Fn(usize) -> f32| {
            let mut order: Vec<u32> = (0..12).collect();
            order.sort_by(|&a, &b| score(b as usize).total_cmp(&score(a as usize)));
            order
        };
        let buyers: Vec<usize> = (0..12u32)
            .map(|i| r.fitted.histories.iter().filter(|h| h.contains(&i)).count())
            .collect();
        assert_eq!(top(&r), by(&|i| cosines[[0, i]]));
        assert!(r.set_popularity_prior(-0.1).is_err());
        r.set_popularity_prior(0.5).unwrap();
        let expected = by(&|i| cosines[[0, i]] + 0.5 * (1.0 + buyers[i] as f32).ln());
        assert_ne!(
            expected,
            by(&|i| cosines[[0, i]]),
            "the prior must matter here"
        );
        assert_eq!(top(&r), expected);

        let dir = tempfile::tempdir().unwrap();
        r.save(dir.path(), &Default::default()).unwrap();
        let loaded = Recommender::load(dir.path(), &Default::default()).unwrap();
        assert_eq!(loaded.ranking_settings().popularity_prior, 0.5);
        assert_eq!(top(&loaded), expected);
    }
}
