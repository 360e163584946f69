//! Scoring ranked lists against the held-out items, for any [`Ranker`].

use std::time::Instant;

use affinity_data::metrics::{paired_bootstrap, Evaluator, MetricSummary, PairedDifference};
use affinity_mine::Rule;
use affinity_rank::{CooccurrenceWeight, ItemCooccurrence, MostPopular};

use super::error::Result;
use super::prepared::Prepared;
use affinity_core::Progress;
use affinity_rank::{Named, Ranker};

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

/// Which items a ranked list may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Candidates {
    /// Never the user's own history (what a shop serves).
    #[default]
    HistoryExcluded,
    /// The whole catalogue, history included: RecBole's full ranking for sequential models,
    /// the protocol of the published rows on Amazon Scientific.
    AllItems,
}

impl Candidates {
    /// What a list for `history` may not hold: the history itself, or nothing. Works on one
    /// history's items or on a batch of histories alike.
    pub fn excluded<T>(self, history: &[T]) -> &[T] {
        match self {
            Candidates::HistoryExcluded => history,
            Candidates::AllItems => &[],
        }
    }
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
    /// NDCG@k of each test user, in the order of the [`EvalSet`] (for paired significance
    /// tests between methods).
    #[serde(skip)]
    pub per_user_ndcg: Vec<f64>,
}

impl MethodResult {
    /// NDCG@k of this method minus `other`'s, paired over the same test users, with its 95 %
    /// interval (2,000 bootstrap resamples, fixed seed, so reruns agree); `None` unless both
    /// scored the same number of users.
    pub fn ndcg_difference(&self, other: &MethodResult) -> Option<PairedDifference> {
        paired_bootstrap(&self.per_user_ndcg, &other.per_user_ndcg, 2_000, 7)
    }
}

/// The users a comparison ranks: their histories and the items that count as hits.
#[derive(Debug, Clone, Default)]
pub struct EvalSet {
    /// Per test user: what the rankers see, oldest first.
    pub histories: Vec<Vec<u32>>,
    /// Per test user: the held-out items that count. Ids at or above the catalogue size stand
    /// for items the rankers cannot know (they count, and can never be hit).
    pub relevant: Vec<Vec<u32>>,
    /// Items in the catalogue.
    pub n_items: usize,
    /// Training events per item, for the popularity-bias figure.
    pub popularity: Vec<f64>,
}

impl EvalSet {
    /// Test users of a prepared split: every user with a history and at least one relevant
    /// held-out item under `protocol`.
    pub fn from_prepared(prepared: &Prepared, protocol: EvalProtocol) -> Self {
        let mut set = EvalSet {
            n_items: prepared.names.len(),
            popularity: prepared.counts.iter().map(|&c| f64::from(c)).collect(),
            ..EvalSet::default()
        };
        for (u, items) in prepared.test.iter().enumerate() {
            set.push(&prepared.histories[u], items, protocol);
        }
        set
    }

    /// Adds one user when the history is not empty and an item is relevant under `protocol`.
    pub fn push(&mut self, history: &[u32], held_out: &[u32], protocol: EvalProtocol) {
        let relevant: Vec<u32> = match protocol {
            EvalProtocol::NewItems => held_out
                .iter()
                .copied()
                .filter(|i| !history.contains(i))
                .collect(),
            EvalProtocol::AllItems => held_out.to_vec(),
        };
        if !relevant.is_empty() && !history.is_empty() {
            self.histories.push(history.to_vec());
            self.relevant.push(relevant);
        }
    }

    /// Test users.
    pub fn len(&self) -> usize {
        self.histories.len()
    }

    /// Whether no user is tested.
    pub fn is_empty(&self) -> bool {
        self.histories.is_empty()
    }
}

/// Ranks every user of `set` with `ranker` (already-bought items excluded) and scores the top
/// `k`. Diversity is measured with `vectors` when given (the same for every method, so figures
/// compare).
pub fn evaluate(
    ranker: &dyn Ranker,
    set: &EvalSet,
    k: usize,
    vectors: Option<ndarray::ArrayView2<f32>>,
) -> Result<MethodResult> {
    evaluate_candidates(ranker, set, k, vectors, Candidates::HistoryExcluded)
}

/// [`evaluate`] with the candidates chosen: `Candidates::AllItems` lets lists hold items of
/// the user's history (RecBole's protocol).
pub fn evaluate_candidates(
    ranker: &dyn Ranker,
    set: &EvalSet,
    k: usize,
    vectors: Option<ndarray::ArrayView2<f32>>,
    candidates: Candidates,
) -> Result<MethodResult> {
    evaluate_observed(ranker, set, k, vectors, candidates, &())
}

/// [`evaluate_candidates`] as a step of `progress` named after the ranker, over the users.
pub fn evaluate_observed(
    ranker: &dyn Ranker,
    set: &EvalSet,
    k: usize,
    vectors: Option<ndarray::ArrayView2<f32>>,
    candidates: Candidates,
    progress: &dyn Progress,
) -> Result<MethodResult> {
    let start = Instant::now();
    progress.start(&ranker.name(), Some(set.histories.len() as u64));
    let mut lists = Vec::with_capacity(set.histories.len());
    // In steps of the recommender's own batches of histories, for the progress report; every
    // ranker treats users independently, so the lists are the same as in one call.
    for histories in set.histories.chunks(super::recommender::HISTORY_BATCH) {
        lists.extend(ranker.rank(histories, k, candidates.excluded(histories))?);
        progress.advance(histories.len() as u64);
    }
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let mut eval = Evaluator::new(k, set.n_items);
    for (list, rel) in lists.iter().zip(&set.relevant) {
        let ids: Vec<u32> = list.iter().map(|s| s.item).collect();
        eval.add(&ids, rel);
    }
    let summary = match vectors {
        Some(v) => eval.summary_with(
            |i| v.row(i as usize).to_slice().expect("standard layout"),
            &set.popularity,
        ),
        None => eval.summary(),
    };
    Ok(MethodResult {
        name: ranker.name(),
        summary,
        seconds,
        per_user_ndcg: eval.per_user_ndcg().to_vec(),
    })
}

impl super::Pipeline {
    /// The baselines every method is compared with, at the configured k: most popular and item
    /// co-occurrence (cosine) fitted on `fit` (the fitting baskets, or whole histories where a
    /// user's purchases form one basket), and `rules` alone, with lists drawn from `candidates`.
    pub fn evaluate_baselines(
        &self,
        prepared: &Prepared,
        fit: &[Vec<u32>],
        rules: Vec<Rule>,
        set: &EvalSet,
        vectors: Option<ndarray::ArrayView2<f32>>,
        candidates: Candidates,
    ) -> Result<Vec<MethodResult>> {
        let k = self.params().k;
        let n = prepared.names.len();
        let popular = MostPopular::fit(fit, n);
        let cooc = ItemCooccurrence::fit(fit, n, CooccurrenceWeight::Cosine);
        let rules_only =
            self.recommender_with(prepared, None, rules, super::ScoreWeights::RULES, 1.0)?;
        let rules_alone = Named {
            name: "rules alone".into(),
            inner: &rules_only,
        };
        [&popular as &dyn Ranker, &cooc, &rules_alone]
            .into_iter()
            .map(|ranker| evaluate_observed(ranker, set, k, vectors, candidates, self.progress()))
            .collect()
    }
}
