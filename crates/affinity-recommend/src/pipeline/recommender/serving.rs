//! What a shop asks for: recommendations for a history, a user or a vector, search by text,
//! and similar products.

use super::{Recommendation, Recommender};
use crate::model;
use crate::pipeline::error::Result;
use affinity_core::InvalidSetting;
use affinity_rank::Scored;
use ndarray::{Array2, ArrayView2, Axis};

impl Recommender {
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
