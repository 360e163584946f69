//! The steps before ranking: split, baskets, rules, training examples.

#[cfg(feature = "model")]
use affinity_core::InvalidSetting;
use std::sync::Arc;

use affinity_core::Progress;
use affinity_data::{items_by_user, leave_one_out, Dataset, Interaction, Split};
use affinity_mine::{generate_rules, mine_at_most, rule_shoppers, Algorithm, Itemset, Rule};
use affinity_rank::BasketHistory;
#[cfg(feature = "model")]
use affinity_tune::{
    next_item_examples, next_item_queries, steps_by_user, Example, Objective, SequenceParams,
    TrainingTask, ValidationQuery,
};

use super::config::{PipelineParams, ScoreWeights};
use super::error::Result;
use super::fitted::{derive, Derived, Fitted, Ids};
use super::recommender::{RankingParams, Recommender};
use crate::model::Encoder;

/// A dataset split and arranged for every later step. Fitting (rules, popularity, the model)
/// sees `train` and `valid`; `test` is only ever scored.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The whole dataset (ids, names, texts).
    pub dataset: Dataset,
    /// The split.
    pub split: Split,
    /// Item names by id.
    pub names: Vec<String>,
    /// Item texts (title and more where the data has them) by id.
    pub texts: Vec<String>,
    /// Per user: items before the test step (train then valid), in time order.
    pub histories: Vec<Vec<u32>>,
    /// Per user: the held-out test items.
    pub test: Vec<Vec<u32>>,
    /// Baskets of train and valid events, for mining and co-occurrence.
    pub baskets: Vec<Vec<u32>>,
    /// Per basket of `baskets`: its shopper (how many distinct shoppers stand behind a rule).
    pub basket_users: Vec<u32>,
    /// Purchases per item in train and valid.
    pub counts: Vec<u32>,
    /// Per user: baskets of train and valid, oldest first, with their days; `now` is the day
    /// of the held-out step.
    pub shoppers: Vec<BasketHistory>,
}

/// The pipeline's steps, sharing one [`PipelineParams`].
///
/// ```no_run
/// use affinity_recommend::pipeline::{Pipeline, PipelineParams};
/// let (dataset, _) = affinity_data::load(std::path::Path::new("data/groceries.csv"), &affinity_data::Format::Long(Default::default()), &Default::default())?;
/// let pipeline = Pipeline::new(PipelineParams::default())?;
/// let prepared = pipeline.prepare(dataset);
/// let rules = pipeline.mine_rules(&prepared)?;
/// let recommender = pipeline.recommender(&prepared, None, rules)?;
/// let recs = recommender.recommend(&prepared.histories[0], 10)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Pipeline {
    params: PipelineParams,
    progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Checks the settings. The pipeline reports nothing until given a progress report
    /// ([`Pipeline::with_progress`]).
    pub fn new(params: PipelineParams) -> Result<Self> {
        params.check()?;
        Ok(Pipeline {
            params,
            progress: Arc::new(()),
        })
    }

    /// The same pipeline telling `progress` how its long steps go (embedding the products,
    /// training a sequential model, evaluating each method).
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Where the long steps report.
    pub fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }

    /// The settings.
    pub fn params(&self) -> &PipelineParams {
        &self.params
    }

    /// Splits per user (leave-one-out as configured) and arranges histories and baskets.
    pub fn prepare(&self, dataset: Dataset) -> Prepared {
        let split = leave_one_out(&dataset, self.params.hold_out);
        self.arrange(dataset, split)
    }

    /// Arranges every event as history (nothing held out): for serving recommendations.
    pub fn prepare_all(&self, dataset: Dataset) -> Prepared {
        let split = Split {
            train: dataset.interactions.clone(),
            ..Split::default()
        };
        self.arrange(dataset, split)
    }

    /// The validation step as a split of its own: fitted on `prepared`'s training events only,
    /// with the validation events held out as its test. Rules, baselines and weights fitted
    /// on it and scored with [`EvalSet::from_prepared`](super::EvalSet::from_prepared) never
    /// see the validation items, let alone the test items.
    pub fn validation_step(&self, prepared: &Prepared) -> Prepared {
        let split = Split {
            train: prepared.split.train.clone(),
            valid: Vec::new(),
            test: prepared.split.valid.clone(),
        };
        self.arrange(prepared.dataset.clone(), split)
    }

    /// Histories, baskets and counts from the fitting part (train and valid) of `split`.
    fn arrange(&self, dataset: Dataset, split: Split) -> Prepared {
        let n_users = dataset.users.len();
        let n_items = dataset.items.len();
        let names: Vec<String> = (0..n_items as u32)
            .map(|i| dataset.items.name(i).to_string())
            .collect();
        let texts = dataset.catalog.texts(&dataset.items);
        let seen: Vec<_> = split.train.iter().chain(&split.valid).copied().collect();
        let Derived {
            histories,
            counts,
            baskets,
            basket_users,
            mut shoppers,
        } = derive(&seen, n_users, n_items, self.params.basket_rule);
        let test = items_by_user(&split.test, n_users);
        // A held-out step is asked for on the day of its first event.
        for e in &split.test {
            let day = e.timestamp as f64 / 86_400.0;
            let now = &mut shoppers[e.user as usize].now;
            *now = Some(now.map_or(day, |d| d.min(day)));
        }
        Prepared {
            dataset,
            split,
            names,
            texts,
            histories,
            test,
            baskets,
            basket_users,
            counts,
            shoppers,
        }
    }

    /// Association rules on the fitting baskets (FP-growth, single consequents).
    pub fn mine_rules(&self, prepared: &Prepared) -> Result<Vec<Rule>> {
        self.mine_baskets(&prepared.baskets, &prepared.basket_users)
    }

    /// Association rules on `baskets` with the configured thresholds; `owners[b]` is the
    /// shopper of `baskets[b]`, needed only where [`PipelineParams::min_rule_shoppers`] asks
    /// that each rule rest on several shoppers (it may be empty otherwise).
    pub fn mine_baskets(&self, baskets: &[Vec<u32>], owners: &[u32]) -> Result<Vec<Rule>> {
        let c = &self.params;
        if c.min_rule_shoppers > 1 && owners.len() != baskets.len() {
            return Err(affinity_core::InvalidSetting::new(
                "min_rule_shoppers",
                format!(
                    "needs the shopper of each basket: {} baskets, {} owners",
                    baskets.len(),
                    owners.len()
                ),
            )
            .into());
        }
        let params = c.mining_params()?;
        let mut itemsets: Vec<Itemset> = Vec::new();
        let run = mine_at_most(
            baskets,
            None,
            &params,
            Algorithm::FpGrowth,
            c.max_itemsets,
            &mut itemsets,
        )?;
        if run.raised() {
            tracing::warn!(
                requested_min_count = run.requested_min_count,
                min_count = run.summary.min_count,
                itemsets = run.summary.itemsets,
                "min support {} would give more than {} itemsets: mined at a min count of {} \
                 (support {:.6}) instead of {}, keeping the strongest",
                c.min_support,
                c.max_itemsets,
                run.summary.min_count,
                run.summary.min_count as f64 / baskets.len().max(1) as f64,
                run.requested_min_count,
            );
        }
        let mut rules = generate_rules(&itemsets, baskets.len() as u64, &c.rule_params())?;
        if c.min_rule_shoppers > 1 {
            let shoppers = rule_shoppers(&rules, baskets, owners);
            let before = rules.len();
            let mut kept = shoppers.iter().map(|&n| n >= c.min_rule_shoppers);
            rules.retain(|_| kept.next().unwrap_or(false));
            tracing::info!(
                dropped = before - rules.len(),
                kept = rules.len(),
                "rules resting on fewer than {} shoppers dropped",
                c.min_rule_shoppers
            );
        }
        Ok(rules)
    }

    /// Product classification: each product's title (or text) against its category, every
    /// fifth product held out for validation. Needs products in at least two categories.
    #[cfg(feature = "model")]
    #[cfg_attr(docsrs, doc(cfg(feature = "model")))]
    pub fn category_task(dataset: &Dataset) -> Result<TrainingTask> {
        let texts = dataset.catalog.texts(&dataset.items);
        let mut classes: Vec<String> = Vec::new();
        let mut examples = Vec::new();
        let mut validation = Vec::new();
        for item in 0..dataset.items.len() as u32 {
            let entry = dataset.catalog.get(item);
            let Some(category) = entry.category.filter(|c| !c.is_empty()) else {
                continue;
            };
            let class = match classes.iter().position(|c| *c == category) {
                Some(c) => c,
                None => {
                    classes.push(category);
                    classes.len() - 1
                }
            } as u32;
            let text = entry.title.unwrap_or_else(|| texts[item as usize].clone());
            if item % 5 == 4 {
                validation.push(ValidationQuery {
                    text,
                    target: class,
                    exclude: vec![],
                });
            } else {
                examples.push(Example {
                    text,
                    target: class,
                    negative: None,
                    shopper: None,
                });
            }
        }
        if classes.len() < 2 {
            return Err(InvalidSetting::new(
                "objective",
                "category classification needs products in at least two categories",
            )
            .into());
        }
        Ok(TrainingTask {
            objective: Objective::Classification {
                num_classes: classes.len(),
            },
            examples,
            validation,
            targets: classes,
            full_catalog: false,
            prior: None,
        })
    }

    /// Contrastive fine-tuning examples from the training steps, validation queries from the
    /// validation step (new items only, history items excluded, as in evaluation).
    #[cfg(feature = "model")]
    #[cfg_attr(docsrs, doc(cfg(feature = "model")))]
    pub fn training_task(
        &self,
        prepared: &Prepared,
        max_examples: Option<usize>,
        max_validation: usize,
        seed: u64,
    ) -> TrainingTask {
        let n_users = prepared.dataset.users.len();
        let seq = SequenceParams {
            history: self.params.history.clone(),
            max_examples,
            seed,
            ..SequenceParams::default()
        };
        let steps = steps_by_user(&prepared.split.train, n_users);
        let examples = next_item_examples(&steps, &prepared.texts, &seq);
        let train_hist = items_by_user(&prepared.split.train, n_users);
        let valid = items_by_user(&prepared.split.valid, n_users);
        let validation = next_item_queries(
            &train_hist,
            &valid,
            &prepared.texts,
            &seq,
            Some(max_validation),
        );
        // The popularity prior from the training steps only (the validation step is scored).
        let prior = super::fitted::log_buyers(&train_hist, prepared.texts.len());
        TrainingTask {
            objective: Objective::Contrastive { scale: 20.0 },
            examples,
            validation,
            targets: prepared.texts.clone(),
            // A full softmax while the catalogue is small enough to encode at every step.
            full_catalog: prepared.texts.len() <= 512,
            prior: Some(prior),
        }
    }

    /// The model-free part of a recommender fitted on the fitting part (train and valid) of
    /// `prepared`, with `rules` mined from it.
    pub fn fitted(&self, prepared: &Prepared, rules: Vec<Rule>) -> Fitted {
        let split = &prepared.split;
        let events: Vec<Interaction> = split.train.iter().chain(&split.valid).copied().collect();
        let ds = &prepared.dataset;
        let ids = Ids {
            items: ds.items.clone(),
            catalog: ds.catalog.clone(),
            users: ds.users.clone(),
            orders: ds.orders.clone(),
        };
        Fitted::assemble(
            ids,
            events,
            self.params.clone(),
            Derived {
                histories: prepared.histories.clone(),
                counts: prepared.counts.clone(),
                baskets: prepared.baskets.clone(),
                basket_users: prepared.basket_users.clone(),
                shoppers: prepared
                    .shoppers
                    .iter()
                    .map(|s| BasketHistory {
                        now: None,
                        ..s.clone()
                    })
                    .collect(),
            },
            rules,
        )
    }

    /// The configured ranking settings.
    pub fn ranking(&self) -> RankingParams {
        self.ranking_with(self.params.weights, self.params.mmr_lambda)
    }

    fn ranking_with(&self, weights: ScoreWeights, mmr_lambda: f32) -> RankingParams {
        RankingParams {
            weights,
            mmr_lambda,
            ..self.params.ranking_params()
        }
    }

    /// A recommender over the catalogue with the configured weights and MMR.
    pub fn recommender(
        &self,
        prepared: &Prepared,
        encoder: Option<Encoder>,
        rules: Vec<Rule>,
    ) -> Result<Recommender> {
        self.recommender_with(
            prepared,
            encoder,
            rules,
            self.params.weights,
            self.params.mmr_lambda,
        )
    }

    /// A recommender with other weights and MMR lambda than the configured ones.
    pub fn recommender_with(
        &self,
        prepared: &Prepared,
        encoder: Option<Encoder>,
        rules: Vec<Rule>,
        weights: ScoreWeights,
        mmr_lambda: f32,
    ) -> Result<Recommender> {
        Recommender::new_observed(
            self.fitted(prepared, rules),
            encoder,
            self.ranking_with(weights, mmr_lambda),
            self.progress(),
        )
    }
}
