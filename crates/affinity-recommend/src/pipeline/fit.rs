//! Fitting for serving: a recommender on every event, its blend first chosen on each user's
//! validation step, and a sequential history model when asked for.

use affinity_core::InvalidSetting;
use affinity_data::Dataset;

use super::config::ScoreWeights;
use super::error::Result;
use super::evaluate::{Candidates, EvalProtocol};
use super::prepared::{Pipeline, Prepared};
use super::recommender::Recommender;
use super::recommender::{Normalized, RankingParams};
use super::trial::Trial;
use crate::bundle::{Provenance, Tuning};
use crate::model::Encoder;
use affinity_rank::{BasketHistory, RepeatParams, TifuKnn};

/// The calibrations an exposure bound has the tuner try (0 first: on a tie, none).
const CALIBRATIONS: [f32; 7] = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9];

/// What [`Pipeline::fit_with`] does besides fitting.
#[derive(Debug, Clone, Default)]
pub struct FitParams {
    /// Choose the blend weights and MMR lambda on at most this many validation users first.
    pub tune_users: Option<usize>,
    /// Train a sequential history tower with these settings
    /// ([`Recommender::fit_sequential`]); needs a language model for the item text vectors.
    #[cfg(feature = "model")]
    #[cfg_attr(docsrs, doc(cfg(feature = "model")))]
    pub sequential: Option<affinity_tune::SequentialParams>,
}

impl Pipeline {
    /// Fits a recommender on every event of `dataset`, ready to save and serve: rules,
    /// co-occurrence, popularity and histories from all events, items embedded once. With
    /// `tune_users` set, the blend weights and MMR lambda are first chosen on each user's
    /// held-out validation step (the configured hold-out; at most that many users), then the
    /// recommender is fitted on all events with them (the choice is kept in its provenance).
    /// [`Pipeline::fit_with`] also trains a sequential history tower.
    pub fn fit(
        &self,
        dataset: Dataset,
        encoder: Option<Encoder>,
        tune_users: Option<usize>,
    ) -> Result<Recommender> {
        self.fit_with(
            dataset,
            encoder,
            // Every other option is off (there are none without the `model` feature).
            #[allow(clippy::needless_update)]
            &FitParams {
                tune_users,
                ..FitParams::default()
            },
        )
    }

    /// As [`Pipeline::fit`], with [`FitParams`]. With a sequential tower and tuning, the
    /// tower the weights are chosen with is trained on the events before each user's
    /// validation step (so it never saw the items it is scored on there); the one kept is
    /// trained on all events.
    pub fn fit_with(
        &self,
        dataset: Dataset,
        encoder: Option<Encoder>,
        options: &FitParams,
    ) -> Result<Recommender> {
        super::fitted::check_ids(&dataset, "dataset")?;
        #[cfg(feature = "model")]
        if let Some(p) = &options.sequential {
            p.check()?;
            if encoder.is_none() {
                return Err(InvalidSetting::new(
                    "sequential",
                    "the sequential model starts from the item text vectors: fit with a language model",
                ).into());
            }
            if p.privacy.is_some() && options.tune_users.is_some() {
                return Err(InvalidSetting::new(
                    "tune_users",
                    "a private sequential tower is not tuned: weights chosen on the shoppers' validation steps would spend privacy that its accountant does not count",
                ).into());
            }
        }
        let mut ranking = self.ranking();
        let (encoder, vectors, tuning) = match options.tune_users {
            Some(max_users) => {
                let prepared = self.prepare(dataset.clone());
                let rules = self.mine_rules(&prepared)?;
                let mut tuned = self.recommender(&prepared, encoder, rules)?;
                #[cfg(feature = "model")]
                let tuning = self.tune_with(
                    &prepared,
                    &mut tuned,
                    max_users,
                    options.sequential.as_ref(),
                )?;
                #[cfg(not(feature = "model"))]
                let tuning = self.tune_ranking(&prepared, &mut tuned, max_users)?;
                ranking = tuned.ranking_settings().clone();
                let (_, encoder, vectors, _, _) = tuned.into_parts();
                (encoder, vectors, Some(tuning))
            }
            None => (encoder, None, None),
        };
        let prepared = self.prepare_all(dataset);
        let rules = self.mine_rules(&prepared)?;
        let fitted = self.fitted(&prepared, rules);
        let mut recommender = match vectors {
            Some(v) => Recommender::with_vectors(fitted, encoder, Some(v), ranking)?,
            None => Recommender::new_observed(fitted, encoder, ranking, self.progress())?,
        };
        #[cfg(feature = "model")]
        if let Some(p) = &options.sequential {
            recommender.fit_sequential_observed(p.clone(), self.progress())?;
        }
        recommender.set_provenance(Provenance {
            tuning,
            ..Provenance::default()
        });
        Ok(recommender)
    }

    /// Chooses the blend weights and MMR lambda of `recommender` by NDCG@k on the validation
    /// step (histories from the training steps only, so the test step is never looked at):
    /// first the rule, popularity and co-occurrence weights with the embedding's at its
    /// configured weight or 0 (a model that does not help drops out), then lambda. Rules, co-occurrence and popularity are refitted on the training steps for the
    /// choice ([`Pipeline::validation_step`]), so no source has seen the items it is scored on.
    /// Returns how it was chosen (with the validation NDCG@k reached); the recommender keeps
    /// the winning setting. A recommender with a sequential tower is tuned with a tower of the
    /// same settings trained on the training steps only, for the same reason.
    pub fn tune_ranking(
        &self,
        prepared: &Prepared,
        recommender: &mut Recommender,
        max_users: usize,
    ) -> Result<Tuning> {
        #[cfg(feature = "model")]
        {
            let sequential = recommender.sequential_params();
            self.tune_with(prepared, recommender, max_users, sequential.as_ref())
        }
        #[cfg(not(feature = "model"))]
        self.tune_with(prepared, recommender, max_users)
    }

    /// [`Pipeline::tune_ranking`], the embedding source read by a sequential tower of these
    /// settings (trained for the choice) where given.
    fn tune_with(
        &self,
        prepared: &Prepared,
        recommender: &mut Recommender,
        max_users: usize,
        #[cfg(feature = "model")] sequential: Option<&affinity_tune::SequentialParams>,
    ) -> Result<Tuning> {
        let valid = self.validation_step(prepared);
        let candidates = self.params().candidates;
        let protocol = candidates.protocol();
        let n_items = valid.names.len();
        // Per validation user: the history, the items that count, what the list may not
        // hold, and the baskets (with the validation step's day).
        let users: Vec<ValidationUser> = valid
            .histories
            .iter()
            .zip(&valid.test)
            .zip(&valid.shoppers)
            .filter_map(|((h, v), shopper)| {
                let rel: Vec<u32> = match protocol {
                    EvalProtocol::NewItems => {
                        v.iter().copied().filter(|i| !h.contains(i)).collect()
                    }
                    EvalProtocol::AllItems => v.clone(),
                };
                let exclude = candidates.excluded(h, n_items).into_owned();
                (!h.is_empty() && !rel.is_empty()).then(|| ValidationUser {
                    history: h.clone(),
                    relevant: rel,
                    exclude,
                    shopper,
                })
            })
            .take(max_users.max(1))
            .collect();
        if users.is_empty() {
            return Err(InvalidSetting::new(
                "validation",
                format!(
                    "no user has a validation step with {} items",
                    match protocol {
                        EvalProtocol::NewItems => "new",
                        EvalProtocol::AllItems => "any",
                    }
                ),
            )
            .into());
        }
        // The language model needs no fitting: the recommender's own encoder scores the
        // histories. A sequential tower does: one is trained on the training steps.
        let rules = self.mine_rules(&valid)?;
        #[allow(unused_mut)]
        let mut fitted_on_training = Recommender::with_vectors(
            self.fitted(&valid, rules),
            None,
            recommender.item_vectors().map(|v| v.to_owned()),
            recommender.ranking_settings().clone(),
        )?;
        let histories: Vec<Vec<u32>> = users.iter().map(|u| u.history.clone()).collect();
        #[cfg(feature = "model")]
        let sims = match sequential {
            Some(p) => {
                fitted_on_training.fit_sequential_observed(p.clone(), self.progress())?;
                fitted_on_training.embedding_scores(&histories)?
            }
            None => recommender.embedding_scores(&histories)?,
        };
        #[cfg(not(feature = "model"))]
        let sims = recommender.embedding_scores(&histories)?;
        let k = self.params().k;
        // The sources are normalised once per user; each setting tried only re-weights them.
        let popularity = fitted_on_training.normalized_popularity();
        let mut sources: Vec<_> = users
            .iter()
            .zip(sims.axis_iter(ndarray::Axis(0)))
            .map(|(u, row)| {
                let row = row.as_slice().expect("contiguous");
                fitted_on_training.normalized(&u.history, Some(u.shopper), row)
            })
            .collect();
        // Where lists may hold what shoppers bought before, the settings are chosen on half
        // the validation users and confirmed on the other half (below); otherwise chosen on
        // all of them, as they always were.
        let confirming = candidates != Candidates::HistoryExcluded && users.len() >= 2;
        let (choose, confirm): (Vec<usize>, Vec<usize>) = match confirming {
            true => (0..users.len()).partition(|i| i % 2 == 0),
            false => ((0..users.len()).collect(), Vec::new()),
        };
        // Each user's list and its NDCG@k.
        let per_user = |sources: &[Normalized],
                        w: ScoreWeights,
                        lambda: f32,
                        calibration: f32,
                        on: &[usize]|
         -> Result<(Vec<f64>, Vec<Vec<u32>>)> {
            let mut ndcg = Vec::with_capacity(on.len());
            let mut lists = Vec::with_capacity(on.len());
            for &i in on {
                let u = &users[i];
                let list: Vec<u32> = fitted_on_training
                    .select_calibrated(
                        &sources[i].blend(&popularity, w),
                        &u.history,
                        &u.exclude,
                        k,
                        lambda,
                        calibration,
                    )?
                    .into_iter()
                    .map(|s| s.item)
                    .collect();
                ndcg.push(affinity_data::metrics::ndcg_at(&list, &u.relevant, k));
                lists.push(list);
            }
            Ok((ndcg, lists))
        };
        let score = |sources: &[Normalized],
                     w: ScoreWeights,
                     lambda: f32,
                     calibration: f32|
         -> Result<Trial> {
            let (ndcg, lists) = per_user(sources, w, lambda, calibration, &choose)?;
            Ok(Trial {
                ndcg: ndcg.iter().sum::<f64>() / choose.len() as f64,
                gini: affinity_data::exposure::gini_index(&lists, n_items),
            })
        };
        let max_gini = self.params().max_gini;
        // The user's calibration, unless an exposure bound has the tuner choose it (below).
        let mut calibration = recommender.ranking_settings().calibration;
        // Without a model or a tower the embedding source is all zeros: a weight on it would
        // only let a blend of nothing (every score 0, the list in id order) compete.
        #[cfg(feature = "model")]
        let embeds = sequential.is_some() || recommender.reads_histories();
        #[cfg(not(feature = "model"))]
        let embeds = recommender.reads_histories();
        let base = ScoreWeights {
            repeat: 0.0,
            embedding: match embeds {
                true => self.params().weights.embedding,
                false => 0.0,
            },
            ..self.params().weights
        };
        let mut best = (score(&sources, base, 1.0, calibration)?, base, 1.0f32);
        // The weights of the sources that are not about repeats, on a grid (the repeat weight
        // held where it is). The embedding's weight is its configured one or 0: a model that
        // does not help on validation drops out (tried first, so that on a tie the cheaper
        // blend, which runs no model, is kept), and every source alone is in the grid, so the
        // choice is never below the best single source on validation.
        let grid = |sources: &[Normalized],
                    best: &mut (Trial, ScoreWeights, f32),
                    calibration: f32|
         -> Result<()> {
            let (repeat, tifu) = (best.1.repeat, best.1.tifu);
            let embeddings = match embeds {
                true => &[0.0, base.embedding.max(f32::EPSILON)][..],
                false => &[0.0][..],
            };
            for &embedding in embeddings {
                for rules in [0.0, 0.1, 0.3, 0.6, 1.0] {
                    for popularity in [0.0, 0.1, 0.3, 0.6, 1.0, 2.0, 4.0] {
                        for cooccurrence in [0.0, 0.3, 1.0, 3.0] {
                            let w = ScoreWeights {
                                embedding,
                                rules,
                                popularity,
                                cooccurrence,
                                repeat,
                                tifu,
                            };
                            if w.all().iter().sum::<f32>() == 0.0 {
                                continue;
                            }
                            let v = score(sources, w, 1.0, calibration)?;
                            if v.beats(&best.0, max_gini) {
                                *best = (v, w, 1.0);
                            }
                        }
                    }
                }
            }
            Ok(())
        };
        grid(&sources, &mut best, calibration)?;
        // What shoppers buy again counts only where lists may hold it. Its weight and how it is
        // scored (the timing of repurchases, the items' repeat rates, a per-shopper gate) are
        // chosen next, with TIFU-KNN's weight (its settings chosen on the same validation step
        // first), 0 kept on a tie, so that data without repeats keeps the blend above; then the
        // other weights once more around them.
        let mut repeat_params = fitted_on_training.ranking_settings().repeat;
        let mut tifu_params = fitted_on_training.ranking_settings().tifu;
        if candidates != Candidates::HistoryExcluded {
            let (_, tifu_tuning) = self.tifu_knn(prepared, max_users)?;
            tifu_params = tifu_tuning.params;
            let training: Vec<Vec<Vec<u32>>> =
                valid.shoppers.iter().map(|s| s.baskets.clone()).collect();
            let tifu = TifuKnn::fit(&training, n_items, tifu_params)?;
            for (source, u) in sources.iter_mut().zip(&users) {
                source.set_tifu(&tifu.scores(&u.shopper.baskets));
            }
            let model = &fitted_on_training.fitted().repeat;
            let weights = [0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0];
            let mut chosen = (best.0, best.1, repeat_params);
            for timing in [0.0, 1.0] {
                for rate in [0.0, 1.0] {
                    for gate in [false, true] {
                        let p = RepeatParams {
                            timing,
                            rate,
                            gate,
                            ..repeat_params
                        };
                        for (source, u) in sources.iter_mut().zip(&users) {
                            source.set_repeat(
                                &model.scores(u.shopper, &p),
                                model.gate(u.shopper, &p),
                            );
                        }
                        for repeat in weights {
                            for tifu in weights {
                                let w = ScoreWeights {
                                    repeat,
                                    tifu,
                                    ..best.1
                                };
                                if repeat + tifu == 0.0 || (repeat == 0.0 && p != repeat_params) {
                                    // Nothing new to try: the blend above, or a repeat
                                    // scoring that no weight reads.
                                    continue;
                                }
                                let v = score(&sources, w, 1.0, calibration)?;
                                if v.beats(&chosen.0, max_gini) {
                                    chosen = (v, w, p);
                                }
                            }
                        }
                    }
                }
            }
            repeat_params = chosen.2;
            for (source, u) in sources.iter_mut().zip(&users) {
                source.set_repeat(
                    &model.scores(u.shopper, &repeat_params),
                    model.gate(u.shopper, &repeat_params),
                );
            }
            if chosen.1 != best.1 {
                best = (chosen.0, chosen.1, 1.0);
                grid(&sources, &mut best, calibration)?;
            }
        }
        // Under an exposure bound the tuner also chooses how far lists are calibrated to each
        // shopper's own popularity mix (the blend's popularity weight alone moves the Gini
        // index too, and the grid above already tried it); then the weights once more at the
        // calibration chosen. Calibration takes MMR's place, so lambda is tried only without.
        if max_gini.is_some() {
            let before = calibration;
            for c in CALIBRATIONS {
                let v = score(&sources, best.1, 1.0, c)?;
                if v.beats(&best.0, max_gini) {
                    best = (v, best.1, 1.0);
                    calibration = c;
                }
            }
            if calibration != before {
                grid(&sources, &mut best, calibration)?;
            }
        }
        if calibration == 0.0 {
            for lambda in [0.95, 0.9, 0.8, 0.7] {
                let v = score(&sources, best.1, lambda, 0.0)?;
                if v.beats(&best.0, max_gini) {
                    best = (v, best.1, lambda);
                }
            }
        }
        if confirming {
            // A blend must earn its sources: where it does not beat the best source alone on
            // the validation users it was not chosen on, with an interval above zero (paired
            // bootstrap, 95 %), the source alone is kept. Where shoppers buy mostly what they
            // bought before, or mostly what everyone buys, one source often carries the list,
            // and a blend chosen among hundreds for a small gain on the users it was chosen on
            // gives the gain back on others.
            let mut single = (
                Trial {
                    ndcg: f64::NEG_INFINITY,
                    gini: f64::INFINITY,
                },
                best.1,
            );
            for (i, weight) in best.1.all().into_iter().enumerate() {
                let mut only = [0f32; 6];
                only[i] = match i {
                    0 => base.embedding,
                    _ => 1.0,
                };
                if only[i] == 0.0 || (weight == 0.0 && i >= 4) {
                    // No model; or repeat and TIFU-KNN scorings no weight reads.
                    continue;
                }
                let w = ScoreWeights {
                    embedding: only[0],
                    rules: only[1],
                    popularity: only[2],
                    cooccurrence: only[3],
                    repeat: only[4],
                    tifu: only[5],
                };
                let v = score(&sources, w, 1.0, calibration)?;
                if v.beats(&single.0, max_gini) {
                    single = (v, w);
                }
            }
            let (blend, _) = per_user(&sources, best.1, best.2, calibration, &confirm)?;
            let (alone, _) = per_user(&sources, single.1, 1.0, calibration, &confirm)?;
            let earned = affinity_data::metrics::paired_bootstrap(&blend, &alone, 2_000, 7)
                .is_some_and(|d| d.low > 0.0);
            // Under a bound, a source alone that breaks it does not replace a blend within it.
            let single_within = match max_gini {
                Some(bound) => single.0.gini <= bound || best.0.gini > bound,
                None => true,
            };
            if !earned && single_within {
                best = (single.0, single.1, 1.0);
            }
        }
        recommender.set_ranking_params(RankingParams {
            weights: best.1,
            mmr_lambda: best.2,
            repeat: repeat_params,
            tifu: tifu_params,
            calibration,
            ..recommender.ranking_settings().clone()
        })?;
        Ok(Tuning {
            hold_out: self.params().hold_out,
            k,
            users: users.len(),
            validation_ndcg: best.0.ndcg,
            validation_gini: Some(best.0.gini),
            max_gini,
        })
    }
}

/// One user of the validation step, as tuning scores them.
struct ValidationUser<'a> {
    /// Items before the validation step, oldest first.
    history: Vec<u32>,
    /// The validation items that count.
    relevant: Vec<u32>,
    /// What the list may not hold.
    exclude: Vec<u32>,
    /// Their baskets, with the validation step's day.
    shopper: &'a BasketHistory,
}
