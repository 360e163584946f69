//! Scoring ranked lists against the held-out items, for any [`Ranker`].

use std::time::Instant;

use affinity_data::exposure::{accuracy_by_history, ExposureReport, ShopperGroup};
use affinity_data::metrics::{
    ndcg_at, paired_bootstrap, recall_at, Evaluator, MetricSummary, PairedDifference,
};
use affinity_mine::Rule;
use affinity_rank::{CooccurrenceWeight, ItemCooccurrence, MostPopular};

use super::error::Result;
use super::prepared::Prepared;
use affinity_core::Progress;
use affinity_rank::{BasketHistory, Named, Ranker};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Candidates {
    /// Never the user's own history (what a shop serves to discover; what every ranker did
    /// before repeat purchases were modelled).
    #[default]
    #[serde(rename = "discover")]
    HistoryExcluded,
    /// The whole catalogue, history included: the next-basket protocol, where what a shopper
    /// buys again counts (and RecBole's full ranking for sequential models, the protocol of
    /// the published rows on Amazon Scientific).
    #[serde(rename = "mixed")]
    AllItems,
    /// Only what the user bought before: a "buy again" list.
    #[serde(rename = "buy-again")]
    RepeatsOnly,
}

impl Candidates {
    /// What a list for `history` may not hold, over a catalogue of `n_items`: the history
    /// itself, nothing, or everything else.
    pub fn excluded(self, history: &[u32], n_items: usize) -> std::borrow::Cow<'_, [u32]> {
        match self {
            Candidates::HistoryExcluded => history.into(),
            Candidates::AllItems => (&[][..]).into(),
            Candidates::RepeatsOnly => {
                let mut bought = vec![false; n_items];
                for &i in history.iter().filter(|&&i| (i as usize) < n_items) {
                    bought[i as usize] = true;
                }
                (0..n_items as u32)
                    .filter(|&i| !bought[i as usize])
                    .collect::<Vec<u32>>()
                    .into()
            }
        }
    }

    /// [`Candidates::excluded`] for a batch of histories.
    pub fn excluded_all(self, histories: &[Vec<u32>], n_items: usize) -> Vec<Vec<u32>> {
        match self {
            // Nothing excluded: an empty list of lists, as the rankers take it.
            Candidates::AllItems => Vec::new(),
            _ => histories
                .iter()
                .map(|h| self.excluded(h, n_items).into_owned())
                .collect(),
        }
    }

    /// The name used on the command line, in the server and in files.
    pub fn name(self) -> &'static str {
        match self {
            Candidates::HistoryExcluded => "discover",
            Candidates::AllItems => "mixed",
            Candidates::RepeatsOnly => "buy-again",
        }
    }

    /// From [`Candidates::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Candidates::HistoryExcluded,
            Candidates::AllItems,
            Candidates::RepeatsOnly,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }

    /// Which held-out items count when tuning or evaluating for these candidates: the new
    /// ones where the history is excluded (nothing else could be hit), every one otherwise.
    pub fn protocol(self) -> EvalProtocol {
        match self {
            Candidates::HistoryExcluded => EvalProtocol::NewItems,
            _ => EvalProtocol::AllItems,
        }
    }

    pub(crate) fn is_default(&self) -> bool {
        *self == Candidates::default()
    }
}

/// One method's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodResult {
    /// The method.
    pub name: String,
    /// Means over the test users.
    pub summary: MetricSummary,
    /// The same lists scored on the repeat and the explore part of the truth apart.
    pub repeat_explore: RepeatExplore,
    /// Exposure and fairness of the top-k lists: coverage, Gini, entropy, popularity, tail
    /// share and novelty as RecBole and Microsoft Recommenders define them, and the share of
    /// slots per product group (see `affinity_data::exposure`).
    pub exposure: ExposureReport,
    /// NDCG@k and Recall@k by the test users' history length (interactions before the test
    /// step; `affinity_data::exposure::HISTORY_BUCKETS`).
    pub by_history: Vec<ShopperGroup>,
    /// Seconds to rank every test user.
    pub seconds: f64,
    /// NDCG@k of each test user, in the order of the [`EvalSet`] (for paired significance
    /// tests between methods).
    #[serde(skip)]
    pub per_user_ndcg: Vec<f64>,
    /// Recall@k of each test user, in the same order.
    #[serde(skip)]
    pub per_user_recall: Vec<f64>,
}

impl MethodResult {
    /// NDCG@k of this method minus `other`'s, paired over the same test users, with its 95 %
    /// interval (2,000 bootstrap resamples, fixed seed, so reruns agree); `None` unless both
    /// scored the same number of users.
    pub fn ndcg_difference(&self, other: &MethodResult) -> Option<PairedDifference> {
        paired_bootstrap(&self.per_user_ndcg, &other.per_user_ndcg, 2_000, 7)
    }

    /// As [`MethodResult::ndcg_difference`], for Recall@k.
    pub fn recall_difference(&self, other: &MethodResult) -> Option<PairedDifference> {
        paired_bootstrap(&self.per_user_recall, &other.per_user_recall, 2_000, 7)
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
    /// Per test user, when known: their baskets with days and the day of the held-out step,
    /// which next-basket rankers read ([`Ranker::rank_baskets`]); empty: only the histories.
    pub shoppers: Vec<BasketHistory>,
    /// Per item, its product group (the category of the item text) for the exposure by
    /// group; empty: the catalogue has no groups.
    pub item_groups: Vec<Option<String>>,
}

impl EvalSet {
    /// Test users of a prepared split: every user with a history and at least one relevant
    /// held-out item under `protocol`.
    pub fn from_prepared(prepared: &Prepared, protocol: EvalProtocol) -> Self {
        let mut set = EvalSet {
            n_items: prepared.names.len(),
            popularity: prepared.counts.iter().map(|&c| f64::from(c)).collect(),
            item_groups: item_categories(&prepared.dataset.catalog, prepared.names.len()),
            ..EvalSet::default()
        };
        for (u, items) in prepared.test.iter().enumerate() {
            if set.push(&prepared.histories[u], items, protocol) {
                set.shoppers.push(prepared.shoppers[u].clone());
            }
        }
        set
    }

    /// Adds one user when the history is not empty and an item is relevant under `protocol`;
    /// says whether it did.
    pub fn push(&mut self, history: &[u32], held_out: &[u32], protocol: EvalProtocol) -> bool {
        let relevant: Vec<u32> = match protocol {
            EvalProtocol::NewItems => held_out
                .iter()
                .copied()
                .filter(|i| !history.contains(i))
                .collect(),
            EvalProtocol::AllItems => held_out.to_vec(),
        };
        let added = !relevant.is_empty() && !history.is_empty();
        if added {
            self.histories.push(history.to_vec());
            self.relevant.push(relevant);
        }
        added
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

/// Each item's category where the catalogue gives one to at least one item; else empty.
fn item_categories(catalog: &affinity_data::Catalog, n_items: usize) -> Vec<Option<String>> {
    let groups: Vec<Option<String>> = (0..n_items as u32)
        .map(|i| {
            catalog
                .get(i)
                .category
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
        })
        .collect();
    match groups.iter().any(Option::is_some) {
        true => groups,
        false => Vec::new(),
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
    let users = set.histories.len();
    progress.start(&ranker.name(), Some(users as u64));
    let with_baskets = set.shoppers.len() == users && users > 0;
    let mut lists = Vec::with_capacity(users);
    // In steps of the recommender's own batches of histories, for the progress report; every
    // ranker treats users independently, so the lists are the same as in one call.
    let batch = super::recommender::HISTORY_BATCH;
    for from in (0..users).step_by(batch) {
        let to = (from + batch).min(users);
        let histories = &set.histories[from..to];
        let exclude = candidates.excluded_all(histories, set.n_items);
        lists.extend(match with_baskets {
            true => ranker.rank_baskets(histories, &set.shoppers[from..to], k, &exclude)?,
            false => ranker.rank(histories, k, &exclude)?,
        });
        progress.advance((to - from) as u64);
    }
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let mut eval = Evaluator::new(k, set.n_items);
    let mut split = SplitCounter::default();
    for ((list, rel), history) in lists.iter().zip(&set.relevant).zip(&set.histories) {
        let ids: Vec<u32> = list.iter().map(|s| s.item).collect();
        eval.add(&ids, rel);
        split.add(&ids, rel, history, k);
    }
    let summary = match vectors {
        Some(v) => eval.summary_with(
            |i| v.row(i as usize).to_slice().expect("standard layout"),
            &set.popularity,
        ),
        None => eval.summary(),
    };
    let groups =
        (set.item_groups.len() == set.n_items && set.n_items > 0).then_some(&set.item_groups[..]);
    let exposure = ExposureReport::compute(eval.lists(), &set.popularity, set.n_items, groups);
    let history_len: Vec<usize> = set.histories.iter().map(Vec::len).collect();
    let by_history =
        accuracy_by_history(&history_len, eval.per_user_ndcg(), eval.per_user_recall());
    Ok(MethodResult {
        name: ranker.name(),
        summary,
        repeat_explore: split.summary(),
        exposure,
        by_history,
        seconds,
        per_user_ndcg: eval.per_user_ndcg().to_vec(),
        per_user_recall: eval.per_user_recall().to_vec(),
    })
}

/// The Reality Check's split of a next-basket evaluation (Li et al., TOIS 2023): the held-out
/// items a user bought before (repeat) and those new to them (explore) scored apart, and how
/// much of the lists and of the truth is repeat. Recall divides the hits by the part's size;
/// NDCG's ideal list holds the part's items. Each part's figures are means over the users
/// whose truth has such items (NaN for none).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct RepeatExplore {
    /// Users whose held-out items include one they bought before.
    pub repeat_users: usize,
    /// Recall@k on those items.
    pub repeat_recall: f64,
    /// NDCG@k on those items.
    pub repeat_ndcg: f64,
    /// Users whose held-out items include one new to them.
    pub explore_users: usize,
    /// Recall@k on the new items.
    pub explore_recall: f64,
    /// NDCG@k on the new items.
    pub explore_ndcg: f64,
    /// Mean share of a list's items that the user bought before.
    pub list_repeat_share: f64,
    /// Mean share of the held-out items that the user bought before.
    pub truth_repeat_share: f64,
}

#[derive(Default)]
struct SplitCounter {
    sums: [f64; 6],
    repeat_users: usize,
    explore_users: usize,
    users: usize,
}

impl SplitCounter {
    fn add(&mut self, list: &[u32], relevant: &[u32], history: &[u32], k: usize) {
        let before: std::collections::HashSet<u32> = history.iter().copied().collect();
        let (repeat, explore): (Vec<u32>, Vec<u32>) =
            relevant.iter().partition(|i| before.contains(i));
        if !repeat.is_empty() {
            self.repeat_users += 1;
            self.sums[0] += recall_at(list, &repeat, k);
            self.sums[1] += ndcg_at(list, &repeat, k);
        }
        if !explore.is_empty() {
            self.explore_users += 1;
            self.sums[2] += recall_at(list, &explore, k);
            self.sums[3] += ndcg_at(list, &explore, k);
        }
        let shown = &list[..list.len().min(k)];
        if !shown.is_empty() {
            self.sums[4] +=
                shown.iter().filter(|i| before.contains(i)).count() as f64 / shown.len() as f64;
        }
        if !relevant.is_empty() {
            self.sums[5] += repeat.len() as f64 / relevant.len() as f64;
        }
        self.users += 1;
    }

    fn summary(&self) -> RepeatExplore {
        let mean = |sum: f64, n: usize| if n == 0 { f64::NAN } else { sum / n as f64 };
        RepeatExplore {
            repeat_users: self.repeat_users,
            repeat_recall: mean(self.sums[0], self.repeat_users),
            repeat_ndcg: mean(self.sums[1], self.repeat_users),
            explore_users: self.explore_users,
            explore_recall: mean(self.sums[2], self.explore_users),
            explore_ndcg: mean(self.sums[3], self.explore_users),
            list_repeat_share: mean(self.sums[4], self.users),
            truth_repeat_share: mean(self.sums[5], self.users),
        }
    }
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
