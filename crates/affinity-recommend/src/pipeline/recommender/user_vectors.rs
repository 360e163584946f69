//! History vectors kept between requests: each known user's (saved in bundles) and, while
//! evaluating, those of the histories already seen.

use super::Recommender;
use crate::pipeline::error::Result;
use affinity_core::InvalidSetting;
use ndarray::{Array2, ArrayView2};
use std::collections::HashMap;
use std::sync::Mutex;

impl Recommender {
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
}

/// Vectors by text, at most `capacity` of them (emptied when full: the simplest bound, and
/// a repeated pass over the same texts refills it at once).
pub(super) struct TextCache {
    pub(super) capacity: usize,
    pub(super) vectors: HashMap<String, Vec<f32>>,
}

impl TextCache {
    /// Rows for `texts`, encoding only those not cached (each once).
    pub(super) fn embed(
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
