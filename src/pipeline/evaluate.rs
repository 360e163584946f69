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
