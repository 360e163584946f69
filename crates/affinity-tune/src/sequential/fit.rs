//! Training: every prefix of a shopper's training items predicts the next one, with softmax
//! over the whole catalogue; early stopping on the validation items.

use affinity_core::{InvalidSetting, Progress};
use std::time::Instant;

use tch::{Kind, Tensor};

use super::net::padded;
use super::SequentialRecommender;
use crate::error::{finite_loss, Result};
use crate::optim::AdamW;
use crate::train::{batch_done, restore, shuffled, snapshot, EpochRecord, StopReason, TrainReport};

/// Training sequences and validation queries, split so that no validation item is ever a
/// training target (as UniSRec and Recformer do: train on the first n-1 known items, validate
/// on the n-th).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SequenceSplit {
    /// Item sequences, oldest first; each prefix predicts the item after it.
    pub train: Vec<Vec<u32>>,
    /// (history, next item) queries for early stopping.
    pub validation: Vec<(Vec<u32>, u32)>,
    /// The shopper of each training sequence (private training clips each shopper's
    /// sequences together); empty: each sequence is a shopper of its own.
    pub shoppers: Vec<usize>,
}

impl SequenceSplit {
    /// From each user's known history (oldest first, test items already removed): the last
    /// item is the validation target and the items before it the training sequence; only the
    /// last `max_history + 1` items of a sequence are trained on.
    pub fn from_histories(histories: &[Vec<u32>], max_history: usize) -> Self {
        let mut split = SequenceSplit::default();
        for (shopper, h) in histories.iter().enumerate().filter(|(_, h)| h.len() >= 2) {
            let (known, target) = h.split_at(h.len() - 1);
            split.validation.push((known.to_vec(), target[0]));
            if known.len() >= 2 {
                split
                    .train
                    .push(known[known.len().saturating_sub(max_history + 1)..].to_vec());
                split.shoppers.push(shopper);
            }
        }
        split
    }

    /// Like [`SequenceSplit::from_histories`], but every training item is a target once: each
    /// known history is cut into windows of `max_history + 1` items (the newest window full,
    /// consecutive windows sharing one item), so a model that reads `max_history` items trains
    /// on all the pairs, not only the newest `max_history`.
    pub fn windows(histories: &[Vec<u32>], max_history: usize) -> Self {
        let newest = Self::from_histories(histories, usize::MAX - 1);
        let step = max_history.max(1);
        let (mut train, mut shoppers) = (Vec::new(), Vec::new());
        for (known, &shopper) in newest.train.iter().zip(&newest.shoppers) {
            let mut end = known.len();
            while end >= 2 {
                let start = end.saturating_sub(step + 1);
                train.push(known[start..end].to_vec());
                shoppers.push(shopper);
                end = start + 1;
            }
        }
        SequenceSplit {
            train,
            validation: newest.validation,
            shoppers,
        }
    }

    /// Number of (prefix, next item) training pairs.
    pub fn pairs(&self) -> usize {
        self.train.iter().map(|s| s.len().saturating_sub(1)).sum()
    }
}

/// One batch: inputs, the flat positions that have a target, the targets, and which
/// (position, item) pairs are already in that position's history.
pub(super) struct Batch {
    pub ids: Tensor,
    pub positions: Tensor,
    pub targets: Tensor,
    pub seen: Vec<(i64, i64)>,
}

/// The mean cross-entropy of `logits` against `targets` and its value; a NaN or infinite loss
/// is an error naming the epoch and the optimizer step.
pub(super) fn checked_loss(
    logits: &Tensor,
    targets: &Tensor,
    epoch: usize,
    step: usize,
) -> Result<(Tensor, f64)> {
    let loss =
        logits.f_cross_entropy_loss::<Tensor>(targets, None, tch::Reduction::Mean, -100, 0.0)?;
    let value = finite_loss(&loss, epoch, step)?;
    Ok((loss, value))
}

pub(super) fn batch(seqs: &[&[u32]], n_items: i64) -> Result<Batch> {
    let inputs: Vec<&[u32]> = seqs.iter().map(|s| &s[..s.len() - 1]).collect();
    let ids = padded(&inputs, n_items)?;
    let len = ids.size()[1];
    let (mut positions, mut targets, mut seen) = (Vec::new(), Vec::new(), Vec::new());
    for (row, s) in seqs.iter().enumerate() {
        let offset = len - (s.len() as i64 - 1);
        for t in 0..s.len() - 1 {
            let target = i64::from(s[t + 1]);
            if target >= n_items {
                continue;
            }
            let p = positions.len() as i64;
            positions.push(row as i64 * len + offset + t as i64);
            targets.push(target);
            seen.extend(
                s[..=t]
                    .iter()
                    .map(|&i| (p, i64::from(i)))
                    .filter(|&(_, i)| i < n_items),
            );
        }
    }
    Ok(Batch {
        ids,
        positions: Tensor::from_slice(&positions),
        targets: Tensor::from_slice(&targets),
        seen,
    })
}

impl SequentialRecommender {
    /// Trains on `split.train` until validation NDCG@10 (all items ranked) stops improving for
    /// `patience` epochs, and keeps the best epoch's weights (the starting ones when no epoch
    /// beat them: the report's `best_epoch` is then 0). Without validation queries it runs
    /// every epoch and keeps the last. With [`SequentialParams::privacy`](super::SequentialParams::privacy)
    /// it trains with DP-SGD instead: every epoch, the last weights, and the privacy spent
    /// in the report.
    pub fn fit(&mut self, split: &SequenceSplit) -> Result<TrainReport> {
        self.fit_observed(split, &())
    }

    /// [`SequentialRecommender::fit`], telling `progress` how it goes: the starting model's
    /// validation figures as a note, then one step, "training the sequential model", over
    /// every batch, a status per batch and each epoch's figures as a note.
    pub fn fit_observed(
        &mut self,
        split: &SequenceSplit,
        progress: &dyn Progress,
    ) -> Result<TrainReport> {
        let p = self.params.clone();
        let n_items = self.net.n_items;
        if let Some(bad) = split
            .validation
            .iter()
            .find(|(_, target)| i64::from(*target) >= n_items)
        {
            return Err(InvalidSetting::new(
                "validation",
                format!("target {} is outside the {n_items} items", bad.1),
            )
            .into());
        }
        if let Some(privacy) = &p.privacy {
            return self.fit_private(split, privacy, progress);
        }
        tch::manual_seed(p.seed as i64);
        let seqs: Vec<&[u32]> = split
            .train
            .iter()
            .map(|s| &s[s.len().saturating_sub(p.max_history + 1)..])
            .filter(|s| s.len() >= 2)
            .collect();
        let n_batches = seqs.len().div_ceil(p.batch_size);
        let mut optimizer = AdamW::new(
            self.net
                .vars
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect(),
            p.weight_decay,
        )?;
        let mut report = TrainReport {
            epochs: vec![self.validation_record(split, 0, f64::NAN, 0.0, 0.0)?],
            step_losses: Vec::new(),
            best_epoch: 0,
            stop: StopReason::Completed,
            privacy: None,
        };
        progress.note(&report.epochs[0].to_string());
        progress.start(
            "training the sequential model",
            Some((n_batches * p.epochs) as u64),
        );
        let mut best = (report.epochs[0].ndcg10, snapshot(&self.net.vars)?);
        for epoch in 1..=p.epochs {
            let start = Instant::now();
            let batches = length_buckets(&seqs, p.batch_size, p.seed, epoch);
            let (mut loss_sum, mut done) = (0.0, 0usize);
            for (i, members) in batches.iter().enumerate() {
                let chosen: Vec<&[u32]> = members.iter().map(|&j| seqs[j]).collect();
                let b = batch(&chosen, n_items)?;
                if b.targets.numel() == 0 {
                    continue;
                }
                let (users, items) = self.net.states(&b.ids, true)?;
                let users = users.f_flatten(0, 1)?.f_index_select(0, &b.positions)?;
                let logits = self.net.logits(&users, &items, &b.seen)?;
                let (loss, value) = checked_loss(&logits, &b.targets, epoch, optimizer.step + 1)?;
                loss.f_backward()?;
                optimizer.clip_grad_norm(5.0)?;
                optimizer.step(p.learning_rate)?;
                report.step_losses.push(value as f32);
                loss_sum += value;
                done += chosen.len();
                batch_done(
                    progress,
                    epoch,
                    (i + 1, batches.len()),
                    loss_sum / (i + 1) as f64,
                    done as f64 / start.elapsed().as_secs_f64(),
                );
            }
            let seconds = start.elapsed().as_secs_f64();
            let record = self.validation_record(
                split,
                epoch,
                loss_sum / batches.len().max(1) as f64,
                seconds,
                done as f64 / seconds,
            )?;
            progress.note(&record.to_string());
            // Without validation queries every epoch counts as better: all epochs run and the
            // last is kept.
            let better = record.ndcg10 > best.0 || split.validation.is_empty();
            report.epochs.push(record);
            if better {
                best = (report.epochs[epoch].ndcg10, snapshot(&self.net.vars)?);
                report.best_epoch = epoch;
            } else if epoch - report.best_epoch >= p.patience {
                report.stop = StopReason::EarlyStopped;
                break;
            }
        }
        restore(&self.net.vars, &best.1)?;
        progress.finish();
        Ok(report)
    }

    pub(super) fn validation_record(
        &self,
        split: &SequenceSplit,
        epoch: usize,
        train_loss: f64,
        seconds: f64,
        examples_per_second: f64,
    ) -> Result<EpochRecord> {
        let (mut ndcg, mut recall) = (0.0, 0.0);
        for chunk in split.validation.chunks(512) {
            let histories: Vec<Vec<u32>> = chunk.iter().map(|(h, _)| h.clone()).collect();
            let scores = self.scores(&histories)?;
            for (row, (_, target)) in chunk.iter().enumerate() {
                let values =
                    Vec::<f32>::try_from(scores.f_get(row as i64)?.f_to_kind(Kind::Float)?)?;
                let ranked: Vec<u32> = affinity_rank::top_k(&values, 10, &[])
                    .into_iter()
                    .map(|s| s.item)
                    .collect();
                ndcg += affinity_data::metrics::ndcg_at(&ranked, &[*target], 10);
                recall += affinity_data::metrics::recall_at(&ranked, &[*target], 10);
            }
        }
        let n = split.validation.len().max(1) as f64;
        let none = split.validation.is_empty();
        Ok(EpochRecord {
            epoch,
            train_loss,
            ndcg10: if none { f64::NAN } else { ndcg / n },
            recall10: if none { f64::NAN } else { recall / n },
            seconds,
            examples_per_second,
            target_seconds: 0.0,
            prior_weight: 0.0,
        })
    }
}

/// Batches of sequences of similar length (sorted by length with a seeded jitter, so batches
/// differ between epochs), in a shuffled order: padding to the longest of a random batch would
/// multiply the work on short-history data several times.
fn length_buckets(seqs: &[&[u32]], size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let jitter = shuffled(seqs.len(), seed, epoch);
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| (seqs[i].len(), jitter[i]));
    let batches: Vec<Vec<usize>> = order.chunks(size).map(<[usize]>::to_vec).collect();
    shuffled(batches.len(), seed.wrapping_add(1), epoch)
        .into_iter()
        .map(|i| batches[i].clone())
        .collect()
}
