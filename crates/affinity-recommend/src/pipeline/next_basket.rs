//! The next-basket baselines as the pipeline fits them: personal top frequency, and TIFU-KNN
//! with its settings chosen on the validation step (never the test step).

use affinity_rank::{DecayParams, Named, PersonalTopFreq, Ranker, TifuKnn, TifuParams};

use super::error::Result;
use super::evaluate::{evaluate_observed, EvalProtocol, EvalSet, MethodResult};
use super::prepared::{Pipeline, Prepared};
use affinity_core::InvalidSetting;

/// How TIFU-KNN's settings were chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TifuTuning {
    /// The settings chosen.
    pub params: TifuParams,
    /// NDCG@k of the chosen settings on the validation users.
    pub validation_ndcg: f64,
    /// Validation users scored.
    pub users: usize,
    /// Settings tried.
    pub tried: usize,
}

impl std::fmt::Display for TifuTuning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.params;
        write!(
            f,
            "{} neighbours, alpha {}, within-basket decay {}, group decay {}, {} groups \
             (validation NDCG {:.4} on {} users, {} settings tried)",
            p.neighbors,
            p.alpha,
            p.decay.within,
            p.decay.group,
            p.decay.groups,
            self.validation_ndcg,
            self.users,
            self.tried
        )
    }
}

/// The values each setting is searched over (the ranges its authors searched, and a few
/// neighbour counts below them for small data).
const NEIGHBORS: [usize; 8] = [10, 20, 50, 100, 200, 300, 600, 1000];
const ALPHA: [f32; 7] = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
const WITHIN: [f32; 4] = [0.7, 0.8, 0.9, 1.0];
const GROUP: [f32; 6] = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
const GROUPS: [usize; 6] = [1, 3, 5, 7, 10, 15];

impl Pipeline {
    /// The next-basket baselines scored on `set` with the configured candidates: personal
    /// top frequency, and TIFU-KNN with its settings chosen on the validation step of at most
    /// `max_users` users ([`Pipeline::tifu_knn`]). `vectors` measure diversity.
    pub fn evaluate_next_basket_baselines(
        &self,
        prepared: &Prepared,
        set: &EvalSet,
        vectors: Option<ndarray::ArrayView2<f32>>,
        max_users: usize,
    ) -> Result<(Vec<MethodResult>, TifuTuning)> {
        let (k, candidates) = (self.params().k, self.params().candidates);
        let run = |ranker: &dyn Ranker| {
            evaluate_observed(ranker, set, k, vectors, candidates, self.progress())
        };
        let top_freq = run(&self.personal_top_freq(prepared))?;
        let (tifu, tuning) = self.tifu_knn(prepared, max_users)?;
        let tifu = run(&Named {
            name: "TIFU-KNN (tuned)".into(),
            inner: &tifu,
        })?;
        Ok((vec![top_freq, tifu], tuning))
    }

    /// Personal top frequency over the fitting baskets, filled with the items in most baskets.
    pub fn personal_top_freq(&self, prepared: &Prepared) -> PersonalTopFreq {
        let mut counts = vec![0f32; prepared.names.len()];
        for &i in prepared.baskets.iter().flatten() {
            counts[i as usize] += 1.0;
        }
        PersonalTopFreq::new(counts)
    }

    /// TIFU-KNN fitted on every user's fitting baskets, its settings chosen by NDCG@k on the
    /// validation step (at most `max_users` users, lists drawn from the configured candidates,
    /// every held-out item relevant unless the history is excluded): coordinate ascent from
    /// the published defaults over neighbours, alpha, the two decay rates and the groups, in
    /// rounds until no setting improves.
    pub fn tifu_knn(&self, prepared: &Prepared, max_users: usize) -> Result<(TifuKnn, TifuTuning)> {
        let valid = self.validation_step(prepared);
        let n_items = prepared.names.len();
        let candidates = self.params().candidates;
        let mut set = EvalSet {
            n_items,
            ..EvalSet::default()
        };
        for (u, items) in valid.test.iter().enumerate() {
            if set.len() >= max_users.max(1) {
                break;
            }
            if set.push(&valid.histories[u], items, candidates.protocol()) {
                set.shoppers.push(valid.shoppers[u].clone());
            }
        }
        if set.is_empty() {
            return Err(InvalidSetting::new("validation", "no user has a validation step").into());
        }
        let training: Vec<Vec<Vec<u32>>> =
            valid.shoppers.iter().map(|s| s.baskets.clone()).collect();
        let k = self.params().k;
        let mut tried = 0usize;
        let mut score = |p: TifuParams| -> Result<f64> {
            tried += 1;
            let model = TifuKnn::fit(&training, n_items, p)?;
            let exclude = candidates.excluded_all(&set.histories, n_items);
            let lists = model.rank_baskets(&set.histories, &set.shoppers, k, &exclude)?;
            let total: f64 = lists
                .iter()
                .zip(&set.relevant)
                .map(|(list, rel)| {
                    let ids: Vec<u32> = list.iter().map(|s| s.item).collect();
                    affinity_data::metrics::ndcg_at(&ids, rel, k)
                })
                .sum();
            Ok(total / set.len() as f64)
        };
        let users = training.len().max(1);
        let mut best_params = TifuParams {
            neighbors: TifuParams::default().neighbors.min(users),
            ..TifuParams::default()
        };
        let mut best = score(best_params)?;
        // One move per value of each setting, applied to the best settings so far.
        type Move = Box<dyn Fn(TifuParams) -> TifuParams>;
        let mut moves: Vec<Move> = Vec::new();
        for n in NEIGHBORS {
            let neighbors = n.min(users);
            moves.push(Box::new(move |p| TifuParams { neighbors, ..p }));
        }
        for alpha in ALPHA {
            moves.push(Box::new(move |p| TifuParams { alpha, ..p }));
        }
        let decay = |change: Box<dyn Fn(DecayParams) -> DecayParams>| -> Move {
            Box::new(move |p: TifuParams| TifuParams {
                decay: change(p.decay),
                ..p
            })
        };
        for within in WITHIN {
            moves.push(decay(Box::new(move |d| DecayParams { within, ..d })));
        }
        for group in GROUP {
            moves.push(decay(Box::new(move |d| DecayParams { group, ..d })));
        }
        for groups in GROUPS {
            moves.push(decay(Box::new(move |d| DecayParams { groups, ..d })));
        }
        for _round in 0..3 {
            let before = best;
            for change in &moves {
                let p = change(best_params);
                if p == best_params {
                    continue;
                }
                let v = score(p)?;
                if v > best + 1e-9 {
                    (best, best_params) = (v, p);
                }
            }
            if best <= before + 1e-9 {
                break;
            }
        }
        let fitting: Vec<Vec<Vec<u32>>> = prepared
            .shoppers
            .iter()
            .map(|s| s.baskets.clone())
            .collect();
        let model = TifuKnn::fit(&fitting, n_items, best_params)?;
        Ok((
            model,
            TifuTuning {
                params: best_params,
                validation_ndcg: best,
                users: set.len(),
                tried,
            },
        ))
    }
}

/// What `protocol` is called in reports: `new` or `all`, as `affinity evaluate --relevant`
/// names it.
pub fn protocol_name(protocol: EvalProtocol) -> &'static str {
    match protocol {
        EvalProtocol::NewItems => "new",
        EvalProtocol::AllItems => "all",
    }
}
