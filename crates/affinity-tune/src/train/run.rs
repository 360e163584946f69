//! One run's state and its epochs: batches, the optimizer's steps, the target cache.

use std::collections::BTreeMap;
use std::time::Instant;

use affinity_core::{InvalidSetting, Progress};
use affinity_data::synthetic::SplitMix64;
use tch::Tensor;

use super::loss::batch_loss;
use super::report::{batch_done, EpochRecord};
use super::settings::{TargetTower, TrainParams};
use super::validation::validate;
use crate::checkpoint::TrainerState;
use crate::encoder::SentenceEncoder;
use crate::error::{finite_loss, Result};
use crate::head::ClassifierHead;
use crate::optim::{AdamW, LinearSchedule};
use crate::task::{Objective, TrainingTask};

/// What one run trains with: the head, the variables, the optimizer and its schedule.
pub(super) struct Run<'a> {
    pub(super) params: &'a TrainParams,
    pub(super) task: &'a TrainingTask,
    pub(super) head: Option<ClassifierHead>,
    /// The encoder's trainable variables and the head's.
    pub(super) vars: BTreeMap<String, Tensor>,
    pub(super) optimizer: AdamW,
    pub(super) schedule: LinearSchedule,
    /// Batches per epoch.
    pub(super) batches: usize,
    /// Token length of each example's query, when batching by length.
    pub(super) lengths: Vec<usize>,
    /// Every target's vector, with a cached target tower.
    pub(super) cached: Option<Tensor>,
    /// Seconds this epoch spent encoding targets for the cache.
    pub(super) target_seconds: f64,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        params: &'a TrainParams,
        encoder: &SentenceEncoder,
        task: &'a TrainingTask,
    ) -> Result<Self> {
        // Checked before the head, the optimizer and the lengths are built.
        let classifying = matches!(task.objective, Objective::Classification { .. });
        if classifying && params.target_tower != TargetTower::Trained {
            return Err(InvalidSetting::new(
                "target_tower",
                "a cached target tower needs the contrastive objective",
            )
            .into());
        }
        tch::manual_seed(params.seed as i64);
        let head = match task.objective {
            Objective::Classification { num_classes } => Some(ClassifierHead::new(
                encoder.dim(),
                num_classes,
                params.head_dropout,
                encoder.device(),
            )),
            Objective::Contrastive { .. } => None,
        };
        let mut vars = encoder.trainable();
        if let Some(h) = &head {
            vars.extend(h.variables());
        }
        let optimizer = AdamW::new(
            vars.iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect(),
            params.weight_decay,
        )?;
        let batches = task.examples.len().div_ceil(params.batch_size);
        let total = batches.div_ceil(params.grad_accum) * params.epochs;
        let schedule = LinearSchedule {
            peak: params.learning_rate,
            warmup: (params.warmup_ratio * total as f64).ceil() as usize,
            total,
        };
        let lengths = if params.length_buckets {
            let tokenizer = encoder.tokenizer();
            task.examples
                .iter()
                .map(|e| tokenizer.ids(&e.text).len())
                .collect()
        } else {
            Vec::new()
        };
        Ok(Run {
            params,
            task,
            head,
            vars,
            optimizer,
            schedule,
            batches,
            lengths,
            cached: None,
            target_seconds: 0.0,
        })
    }

    /// This epoch's batches: consecutive runs of the shuffled order, or with length buckets
    /// the same windows sorted by length, cut into batches, and the batches shuffled.
    fn epoch_batches(&self, epoch: usize) -> Vec<Vec<usize>> {
        let p = self.params;
        let order = shuffled(self.task.examples.len(), p.seed, epoch);
        if self.lengths.is_empty() {
            return order.chunks(p.batch_size).map(<[usize]>::to_vec).collect();
        }
        let mut batches = length_buckets(&order, &self.lengths, p.batch_size);
        let mixed = shuffled(batches.len(), p.seed ^ 0x0B0C_4E75, epoch);
        mixed
            .into_iter()
            .map(|i| std::mem::take(&mut batches[i]))
            .collect()
    }

    /// Encodes every target without gradients, for a cached target tower.
    fn refresh_targets(&mut self, encoder: &SentenceEncoder) -> Result<()> {
        if let TargetTower::Cached { .. } = self.params.target_tower {
            let started = Instant::now();
            self.cached = Some(
                encoder
                    .embed(&self.task.targets)?
                    .f_to_device(encoder.device())?,
            );
            self.target_seconds += started.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// Trains one epoch (steps and their losses go into `state`) and validates.
    pub(super) fn train_epoch(
        &mut self,
        encoder: &SentenceEncoder,
        epoch: usize,
        state: &mut TrainerState,
        progress: &dyn Progress,
    ) -> Result<EpochRecord> {
        let p = self.params;
        let task = self.task;
        let started = Instant::now();
        // Seeds derived from (seed, epoch): a resumed run replays the same epochs.
        tch::manual_seed((p.seed.wrapping_mul(1_000_003) ^ epoch as u64) as i64);
        let batches = self.epoch_batches(epoch);
        self.target_seconds = 0.0;
        self.refresh_targets(encoder)?;
        let mut loss_sum = 0.0;
        let mut loss_count = 0usize;
        let mut step_loss = 0.0;
        for (i, chunk) in batches.iter().enumerate() {
            let loss = batch_loss(
                encoder,
                self.head.as_ref(),
                task,
                chunk,
                self.cached.as_ref(),
                p.uniformity,
            )?;
            let value = finite_loss(&loss, epoch, state.optimizer_step + 1)?;
            loss.f_div_scalar(p.grad_accum as f64)?.backward();
            loss_sum += value;
            loss_count += 1;
            step_loss += value / p.grad_accum as f64;
            if (i + 1) % p.grad_accum == 0 || i + 1 == self.batches {
                self.optimizer.clip_grad_norm(p.max_grad_norm)?;
                state.optimizer_step += 1;
                self.optimizer
                    .step(self.schedule.rate(state.optimizer_step))?;
                state.report.step_losses.push(step_loss as f32);
                step_loss = 0.0;
                if let TargetTower::Cached {
                    refresh_steps: Some(n),
                } = p.target_tower
                {
                    if state.optimizer_step.is_multiple_of(n) {
                        self.refresh_targets(encoder)?;
                    }
                }
            }
            batch_done(
                progress,
                epoch,
                (i + 1, self.batches),
                loss_sum / loss_count as f64,
                (loss_count * p.batch_size) as f64 / started.elapsed().as_secs_f64(),
            );
        }
        let seconds = started.elapsed().as_secs_f64();
        let v = validate(encoder, self.head.as_ref(), task, p.monitor)?;
        Ok(EpochRecord {
            epoch,
            train_loss: loss_sum / loss_count.max(1) as f64,
            ndcg10: v.ndcg10,
            recall10: v.recall10,
            prior_weight: v.prior_weight,
            seconds,
            examples_per_second: task.examples.len() as f64 / seconds,
            target_seconds: self.target_seconds,
        })
    }
}

/// Batches of `order` in windows of 64 batches, each window sorted by `lengths` (longest
/// first; stable, so equal lengths keep their shuffled order). Only the last window can end
/// in a short batch, so there are as many batches as without buckets.
pub(super) fn length_buckets(order: &[usize], lengths: &[usize], batch: usize) -> Vec<Vec<usize>> {
    let mut batches = Vec::with_capacity(order.len().div_ceil(batch));
    for window in order.chunks(batch * 64) {
        let mut window = window.to_vec();
        window.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        batches.extend(window.chunks(batch).map(<[usize]>::to_vec));
    }
    batches
}

/// A permutation of `0..n` from (seed, epoch), with SplitMix64 and Fisher-Yates.
pub(crate) fn shuffled(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_are_permutations_and_repeat() {
        let a = shuffled(100, 7, 1);
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_eq!(a, shuffled(100, 7, 1));
        assert_ne!(a, shuffled(100, 7, 2));
    }

    #[test]
    fn length_buckets_keep_every_example_once_and_pad_less() {
        let n = 1000;
        let lengths: Vec<usize> = (0..n).map(|i| 5 + (i * 37) % 120).collect();
        let order = shuffled(n, 3, 1);
        let buckets = length_buckets(&order, &lengths, 8);
        assert_eq!(buckets.len(), n.div_ceil(8));
        let mut seen: Vec<usize> = buckets.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        // Only the very last batch may be short.
        assert!(buckets[..buckets.len() - 1].iter().all(|b| b.len() == 8));
        let padded = |batches: &[Vec<usize>]| -> usize {
            batches
                .iter()
                .map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap())
                .sum()
        };
        let plain: Vec<Vec<usize>> = order.chunks(8).map(<[usize]>::to_vec).collect();
        let (bucketed, random) = (padded(&buckets), padded(&plain));
        let real: usize = lengths.iter().sum();
        assert!(
            bucketed < real + real / 10,
            "{bucketed} vs {real} real tokens"
        );
        assert!(random > real + real / 4, "{random} vs {real} real tokens");
    }
}
