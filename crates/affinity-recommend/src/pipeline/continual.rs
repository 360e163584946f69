//! Continual learning after an update: a few steps of fine-tuning on the new events with a
//! replay sample of old ones, and the validation figure on old and on new users before and
//! after, so that forgetting shows.

#[cfg(feature = "model")]
use std::time::Instant;

use affinity_core::InvalidSetting;

#[cfg(feature = "model")]
use affinity_data::metrics::ndcg_at;
#[cfg(feature = "model")]
use affinity_tune::{Example, Objective, TrainParams, Trainer, TrainingTask};

use super::error::Result;
#[cfg(feature = "model")]
use super::{config::ScoreWeights, recommender::Recommender};
#[cfg(feature = "model")]
use crate::model::to_array;
#[cfg(feature = "model")]
use affinity_rank::Ranker;

/// Settings of [`Recommender::fine_tune_recent`]; checked before any work.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinualParams {
    /// Optimizer steps.
    pub steps: usize,
    /// Pairs per step.
    pub batch_size: usize,
    /// Peak learning rate (linear warm-up over the first tenth, then decay).
    pub learning_rate: f64,
    /// Old (history, next item) pairs replayed per new pair, against forgetting.
    pub replay: f64,
    /// Validation users per group (old users, users with new events), at most half of each.
    pub validation_users: usize,
    /// Seed for sampling and training.
    pub seed: u64,
}

impl Default for ContinualParams {
    fn default() -> Self {
        ContinualParams {
            steps: 20,
            batch_size: 32,
            learning_rate: 2e-5,
            replay: 1.0,
            validation_users: 500,
            seed: 17,
        }
    }
}

impl ContinualParams {
    /// Fails on settings that cannot work.
    pub fn check(&self) -> Result<()> {
        if self.steps == 0 || self.batch_size == 0 || self.validation_users == 0 {
            return Err(InvalidSetting::new(
                "continual",
                "steps, batch_size and validation_users must be at least 1",
            )
            .into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(InvalidSetting::new("learning_rate", "must be a positive number").into());
        }
        if !(self.replay >= 0.0 && self.replay.is_finite()) {
            return Err(InvalidSetting::new("replay", "must be a finite number >= 0").into());
        }
        Ok(())
    }
}

/// What continual fine-tuning did, with NDCG@10 of the language model alone (each user's last
/// event held out, never trained on) before and after.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContinualReport {
    /// Pairs from the new events.
    pub new_pairs: usize,
    /// Old pairs replayed.
    pub replay_pairs: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Validation users without new events.
    pub old_users: GroupFigures,
    /// Validation users with new events.
    pub new_users: GroupFigures,
    /// Seconds, re-embedding the catalogue included.
    pub seconds: f64,
}

/// NDCG@10 of one validation group before and after (none for a group without users).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupFigures {
    /// Users scored.
    pub users: usize,
    /// NDCG@10 before fine-tuning.
    pub before: Option<f64>,
    /// NDCG@10 after.
    pub after: Option<f64>,
}

/// A deterministic shuffle (splitmix64-driven Fisher-Yates).
#[cfg(feature = "model")]
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        items.swap(i, (next() % (i as u64 + 1)) as usize);
    }
}

/// NDCG@10 of the embedding model on (history, held-out item) queries.
#[cfg(feature = "model")]
fn model_ndcg(recommender: &Recommender, queries: &[(Vec<u32>, u32)]) -> Result<Option<f64>> {
    if queries.is_empty() {
        return Ok(None);
    }
    let histories: Vec<Vec<u32>> = queries.iter().map(|q| q.0.clone()).collect();
    let model = recommender.blend("model", ScoreWeights::EMBEDDING, 1.0);
    let lists = model.rank(&histories, 10, &histories)?;
    let total: f64 = lists
        .iter()
        .zip(queries)
        .map(|(list, q)| {
            let ids: Vec<u32> = list.iter().map(|s| s.item).collect();
            ndcg_at(&ids, &[q.1], 10)
        })
        .sum();
    Ok(Some(total / queries.len() as f64))
}

#[cfg(feature = "model")]
#[cfg_attr(docsrs, doc(cfg(feature = "model")))]
impl Recommender {
    /// Fine-tunes the encoder on the `recent` newest events of the log (those an update just
    /// added) mixed with a replay sample of older ones, then embeds the catalogue again. Each
    /// validation user's last event is held out of training and scored before and after.
    pub fn fine_tune_recent(
        mut self,
        recent: usize,
        params: &ContinualParams,
    ) -> Result<(Recommender, ContinualReport)> {
        params.check()?;
        if !self.has_encoder() {
            return Err(
                InvalidSetting::new("encoder", "fine-tuning needs the bundle's encoder").into(),
            );
        }
        if self.sequential.is_some() {
            return Err(InvalidSetting::new(
                "sequential",
                "this recommender reads histories with its sequential model, not the language model: fit it again (affinity fit --sequential) instead of fine-tuning",
            ).into());
        }
        let started = Instant::now();
        let fitted = self.fitted();
        let n_events = fitted.events.len();
        let first_new = n_events.saturating_sub(recent);
        // Each user's events in time order (ties in log order), as event indices.
        let mut by_user: Vec<Vec<usize>> = vec![Vec::new(); fitted.n_users()];
        for (i, e) in fitted.events.iter().enumerate() {
            by_user[e.user as usize].push(i);
        }
        for seq in &mut by_user {
            seq.sort_by_key(|&i| (fitted.events[i].timestamp, i));
        }
        let item = |i: usize| fitted.events[i].item;

        // Validation: the last event of users with at least two events, by group; at most
        // half of a group, so that most new events stay to be learnt from.
        let mut held_out = vec![false; n_events];
        let mut groups: [Vec<(Vec<u32>, u32)>; 2] = [Vec::new(), Vec::new()];
        let mut users: Vec<usize> = (0..by_user.len())
            .filter(|&u| by_user[u].len() >= 2)
            .collect();
        let touched = |u: usize| by_user[u].iter().any(|&i| i >= first_new);
        let mut sizes = [0usize; 2];
        for &u in &users {
            sizes[usize::from(touched(u))] += 1;
        }
        let cap = sizes.map(|n| (n / 2).min(params.validation_users));
        shuffle(&mut users, params.seed);
        for u in users {
            let seq = &by_user[u];
            let g = usize::from(touched(u));
            let group = &mut groups[g];
            if group.len() < cap[g] {
                let (&last, before) = seq.split_last().expect("two events");
                held_out[last] = true;
                group.push((before.iter().map(|&i| item(i)).collect(), item(last)));
            }
        }

        // Training pairs: (history before the event, the event's item), new and replayed.
        let pair = |u: usize, pos: usize| -> Option<Example> {
            let seq = &by_user[u];
            let i = seq[pos];
            (pos > 0 && !held_out[i]).then(|| {
                let history: Vec<u32> = seq[..pos].iter().map(|&j| item(j)).collect();
                Example {
                    text: self.history_text(&history),
                    target: item(i),
                    negative: None,
                    shopper: Some(u as u32),
                }
            })
        };
        let (mut fresh, mut old) = (Vec::new(), Vec::new());
        for (u, seq) in by_user.iter().enumerate() {
            for (pos, &i) in seq.iter().enumerate() {
                let bucket = if i >= first_new { &mut fresh } else { &mut old };
                bucket.push((u, pos));
            }
        }
        let mut examples: Vec<Example> = fresh.iter().filter_map(|&(u, p)| pair(u, p)).collect();
        if examples.is_empty() {
            return Err(InvalidSetting::new(
                "continual",
                "no new event follows an earlier one of its user: nothing to learn from",
            )
            .into());
        }
        let new_pairs = examples.len();
        shuffle(&mut old, params.seed ^ 1);
        let want_replay = (new_pairs as f64 * params.replay).round() as usize;
        let replay: Vec<Example> = old
            .iter()
            .filter_map(|&(u, p)| pair(u, p))
            .take(want_replay)
            .collect();
        let replay_pairs = replay.len();
        examples.extend(replay);
        shuffle(&mut examples, params.seed ^ 2);
        let total = params.steps * params.batch_size;
        let examples: Vec<Example> = examples.iter().cycle().take(total).cloned().collect();

        // A model served with the popularity prior goes on with it: with a full softmax the
        // logits are `20 x (cosine + w x prior)`, ranked as the served score is, at a training
        // scale of 20 (w was chosen on validation and can be far from 1 / the first run's
        // scale; in-batch logits are `20 x cosine`). Buyers are counted without the held-out
        // events, for training and scoring.
        let weight = self.ranking.popularity_prior;
        let kept: Vec<Vec<u32>> = by_user
            .iter()
            .map(|seq| {
                seq.iter()
                    .filter(|&&i| !held_out[i])
                    .map(|&i| item(i))
                    .collect()
            })
            .collect();
        let kept_prior = super::fitted::log_buyers(&kept, fitted.n_items());
        const SCALE: f32 = 20.0;
        let served_prior =
            (weight > 0.0).then(|| kept_prior.iter().map(|p| SCALE * weight * p).collect());
        let task = TrainingTask {
            objective: Objective::Contrastive {
                scale: SCALE as f64,
            },
            examples,
            validation: vec![],
            targets: fitted.texts.clone(),
            full_catalog: fitted.texts.len() <= 512,
            prior: served_prior,
        };
        self.prior = kept_prior.clone();
        let before = [
            model_ndcg(&self, &groups[0])?,
            model_ndcg(&self, &groups[1])?,
        ];
        let trainer = Trainer::new(TrainParams {
            epochs: 1,
            batch_size: params.batch_size,
            learning_rate: params.learning_rate,
            seed: params.seed,
            patience: None,
            ..TrainParams::default()
        })?;
        let cached_users = self.take_user_vectors().is_some();
        let (fitted, encoder, _, ranking, provenance) = self.into_parts();
        let mut encoder = encoder.expect("checked above");
        // An int8 encoder trains on its fp32 weights and is coded again from the trained ones.
        let served = encoder.precision();
        if served == affinity_tune::Precision::Int8 {
            encoder.set_precision(affinity_tune::Precision::F32)?;
        }
        let outcome = trainer.fit(&mut encoder, &task)?;
        encoder.set_precision(served)?;
        // The trainer leaves 1 / scale (no validation here); the model is served at w.
        encoder.set_popularity_prior(weight)?;
        let vectors = to_array(encoder.embed(&fitted.texts)?)?;
        let mut tuned = Recommender::with_vectors(fitted, Some(encoder), Some(vectors), ranking)?;
        let full_prior = std::mem::replace(&mut tuned.prior, kept_prior);
        if cached_users {
            // A new encoder: every user's vector is stale.
            tuned.cache_user_vectors()?;
        }
        let after = [
            model_ndcg(&tuned, &groups[0])?,
            model_ndcg(&tuned, &groups[1])?,
        ];
        tuned.prior = full_prior;
        let report = ContinualReport {
            new_pairs,
            replay_pairs,
            steps: outcome.report.step_losses.len(),
            old_users: GroupFigures {
                users: groups[0].len(),
                before: before[0],
                after: after[0],
            },
            new_users: GroupFigures {
                users: groups[1].len(),
                before: before[1],
                after: after[1],
            },
            seconds: started.elapsed().as_secs_f64(),
        };
        tuned.provenance = provenance;
        tuned.provenance.fine_tuning.push(report.clone());
        Ok((tuned, report))
    }
}
