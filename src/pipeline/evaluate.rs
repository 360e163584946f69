//! Scoring ranked lists against the held-out items.

use std::time::Instant;

use affinity_data::metrics::{Evaluator, MetricSummary};

use super::error::Result;
use super::prepared::Prepared;

/// A ranking method as evaluation sees it: histories in, top-k item ids out.
pub type RankFn<'a> = dyn Fn(&[Vec<u32>]) -> Result<Vec<Vec<u32>>> + 'a;

/// Which held-out items count as relevant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvalProtocol {
    /// Test items the user had not bought before (already-bought items are excluded from every
    /// list, so repeats could never be hit); users with none are skipped.
    #[default]
    NewItems,
    /// Every test item (for data without repeats, such as Amazon reviews).
    AllItems,
}

/// One method's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodResult {
    /// The method.
    pub name: String,
    /// Means over the test users.
    pub summary: MetricSummary,
    /// Seconds to rank every test user.
    pub seconds: f64,
}

/// Ranks every test user with `rank` (histories in, top-k item ids out) and scores the lists.
/// Diversity is measured with `vectors` (the same for every method, so figures compare).
pub fn evaluate(
    name: &str,
    prepared: &Prepared,
    k: usize,
    protocol: EvalProtocol,
    vectors: ndarray::ArrayView2<f32>,
    rank: impl FnOnce(&[Vec<u32>]) -> Result<Vec<Vec<u32>>>,
) -> Result<MethodResult> {
    let mut users = Vec::new();
    let mut relevant = Vec::new();
    for (u, items) in prepared.test.iter().enumerate() {
        let seen = &prepared.histories[u];
        let rel: Vec<u32> = match protocol {
            EvalProtocol::NewItems => items
                .iter()
                .copied()
                .filter(|i| !seen.contains(i))
                .collect(),
            EvalProtocol::AllItems => items.clone(),
        };
        if !rel.is_empty() && !seen.is_empty() {
            users.push(u);
            relevant.push(rel);
        }
    }
    let histories: Vec<Vec<u32>> = users
        .iter()
        .map(|&u| prepared.histories[u].clone())
        .collect();
    let start = Instant::now();
    let lists = rank(&histories)?;
    let seconds = start.elapsed().as_secs_f64();
    let mut eval = Evaluator::new(k, prepared.names.len());
    for (list, rel) in lists.iter().zip(&relevant) {
        eval.add(list, rel);
    }
    let popularity: Vec<f64> = prepared.counts.iter().map(|&c| f64::from(c)).collect();
    let summary = eval.summary_with(
        |i| vectors.row(i as usize).to_slice().expect("standard layout"),
        &popularity,
    );
    Ok(MethodResult {
        name: name.to_string(),
        summary,
        seconds,
    })
}

impl super::Pipeline {
    /// The baselines every method is compared with, at the configured k: most popular and item
    /// co-occurrence (cosine) fitted on `fit` (the fitting baskets, or whole histories where a
    /// user's purchases form one basket), and `rules` alone.
    pub fn evaluate_baselines(
        &self,
        prepared: &Prepared,
        fit: &[Vec<u32>],
        rules: Vec<affinity_mine::Rule>,
        protocol: EvalProtocol,
        vectors: ndarray::ArrayView2<f32>,
    ) -> Result<Vec<MethodResult>> {
        use affinity_data::{CooccurrenceWeight, ItemCooccurrence, MostPopular};
        let k = self.config().k;
        let n = prepared.names.len();
        let ids = |list: Vec<(u32, f32)>| list.into_iter().map(|(i, _)| i).collect::<Vec<u32>>();
        let popular = MostPopular::fit(fit, n);
        let cooc = ItemCooccurrence::fit(fit, n, CooccurrenceWeight::Cosine);
        let rules_only =
            self.recommender_with(prepared, None, rules, super::ScoreWeights::RULES, 1.0)?;
        Ok(vec![
            evaluate("most popular", prepared, k, protocol, vectors, |hs| {
                Ok(hs.iter().map(|h| ids(popular.recommend(h, k))).collect())
            })?,
            evaluate("item co-occurrence", prepared, k, protocol, vectors, |hs| {
                Ok(hs.iter().map(|h| ids(cooc.recommend(h, k))).collect())
            })?,
            evaluate("rules alone", prepared, k, protocol, vectors, |hs| {
                rules_only.rank_batch(hs, k)
            })?,
        ])
    }
}
