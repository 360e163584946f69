//! What a shop asks for: recommendations for a history, a user or a vector, search by text,
//! and similar products.

use super::{Recommendation, Recommender};
use crate::model;
use crate::pipeline::config::ScoreWeights;
use crate::pipeline::error::Result;
use crate::pipeline::evaluate::Candidates;
use affinity_core::InvalidSetting;
use affinity_rank::BasketHistory;
use affinity_rank::Scored;
use ndarray::{Array2, ArrayView2, Axis};

impl Recommender {
    /// The top `k` items for a history (item ids, oldest first), with reasons, drawn from the
    /// configured candidates ([`RankingParams::candidates`](super::RankingParams::candidates):
    /// new items unless the recommender was fitted for buying again). An empty history is a
    /// cold start: popular items, saying so.
    pub fn recommend(&self, history: &[u32], k: usize) -> Result<Vec<Recommendation>> {
        self.recommend_for(history, None, self.ranking.candidates, &[], k)
    }

    /// The top `k` items for a history or, where known, the shopper's baskets with their days
    /// (`shopper`, which makes the repeat scores and reasons exact), drawn from `candidates`:
    /// new items (discover), any (mixed: what they buy again competes with the rest), or
    /// only what they bought before (buy again, ranked by the repeat source alone). `exclude`
    /// is left out on top.
    ///
    /// ```no_run
    /// # fn demo(r: &affinity_recommend::pipeline::Recommender) -> affinity_recommend::pipeline::Result<()> {
    /// use affinity_recommend::pipeline::Candidates;
    /// let shopper = r.fitted().shopper("1808", None).expect("a known member");
    /// let history = shopper.items();
    /// for rec in r.recommend_for(&history, Some(&shopper), Candidates::RepeatsOnly, &[], 5)? {
    ///     println!("{} {:?}", rec.name, rec.reasons); // BoughtBefore { every_days, days_since, .. }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn recommend_for(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        candidates: Candidates,
        exclude: &[u32],
        k: usize,
    ) -> Result<Vec<Recommendation>> {
        self.check(history)?;
        let weights = self.weights_for(candidates);
        let user = self.embed_histories(&[history.to_vec()], weights.embedding)?;
        let sims = self.similarities(user.row(0).insert_axis(Axis(0)))?;
        self.recommend_scored(history, shopper, candidates, exclude, sims.row(0), k)
    }

    /// The weights a list of `candidates` is ranked by: buying again by the repeat source
    /// alone, the others by the blend.
    pub(super) fn weights_for(&self, candidates: Candidates) -> ScoreWeights {
        match candidates {
            Candidates::RepeatsOnly => ScoreWeights::REPEAT,
            _ => self.ranking.weights,
        }
    }

    /// As [`Recommender::recommend_for`], with the history vector's similarities to every
    /// item already computed ([`Recommender::similarities`]; a server batches them).
    pub fn recommend_scored(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        candidates: Candidates,
        exclude: &[u32],
        similarities: ndarray::ArrayView1<f32>,
        k: usize,
    ) -> Result<Vec<Recommendation>> {
        let mut excluded = candidates.excluded(history, self.len()).into_owned();
        excluded.extend_from_slice(exclude);
        self.recommend_ranked(
            history,
            shopper,
            &excluded,
            similarities,
            k,
            self.weights_for(candidates),
        )
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
    /// `[rows, items]`, in one pass over the item vectors ([`ItemIndex::similarities`](affinity_rank::ItemIndex::similarities)): each
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
        self.recommend_ranked(
            history,
            None,
            exclude,
            similarities,
            k,
            self.ranking.weights,
        )
    }

    /// The list and its reasons: every other way of asking ends here.
    fn recommend_ranked(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        exclude: &[u32],
        similarities: ndarray::ArrayView1<f32>,
        k: usize,
        weights: ScoreWeights,
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
            shopper,
            sims.as_slice().expect("contiguous"),
            weights,
        )?;
        let picked = self.select(&scores, history, exclude, k, self.ranking.mmr_lambda)?;
        Ok(picked
            .into_iter()
            .map(|s| Recommendation {
                item: s.item,
                name: self.names()[s.item as usize].clone(),
                score: s.score,
                reasons: self.reasons(history, shopper, s.item, best_rule.get(&s.item).copied()),
            })
            .collect())
    }

    /// Recommendations for a known user (their whole fitted history), or a cold start with
    /// popular items for a user the recommender has not seen. With cached user vectors
    /// ([`Recommender::cache_user_vectors`]) the language model is not run.
    pub fn recommend_user(&self, user: &str, k: usize) -> Result<Vec<Recommendation>> {
        self.recommend_user_for(user, self.ranking.candidates, None, k)
    }

    /// As [`Recommender::recommend_user`], drawn from `candidates`, for a list asked on `day`
    /// (days since 1970; `None`: the newest event's day), with the user's baskets and their
    /// days read for what they buy again.
    pub fn recommend_user_for(
        &self,
        user: &str,
        candidates: Candidates,
        day: Option<f64>,
        k: usize,
    ) -> Result<Vec<Recommendation>> {
        let history = self.fitted.history(user).unwrap_or(&[]);
        let shopper = self.fitted.shopper(user, day);
        match self.user_vector(user) {
            Some(vector) => {
                let sims = self.similarities(vector.insert_axis(Axis(0)))?;
                self.recommend_scored(history, shopper.as_ref(), candidates, &[], sims.row(0), k)
            }
            None => self.recommend_for(history, shopper.as_ref(), candidates, &[], k),
        }
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

    pub(super) fn plain(&self, found: Vec<Scored>) -> Vec<Recommendation> {
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
