//! Private training of the sequential model: DP-SGD with the shopper as the unit (see
//! [`crate::private`]).

use affinity_core::Progress;
use std::time::Instant;

use tch::Tensor;

use super::fit::{batch, checked_loss, SequenceSplit};
use super::SequentialRecommender;
use crate::error::Result;
use crate::optim::AdamW;
use crate::private::{poisson_sample, steps_in_epoch, ClippedSum};
use crate::train::{batch_done, StopReason, TrainReport};
use crate::PrivacyParams;

/// The item side, fixed while private training runs (the text map at the identity, the ID
/// embeddings at zero): its gradient is dense over the whole catalogue for every shopper (a
/// product over it for the map), and each of its coordinates would be one more that the
/// noise covers, most of them for items few shoppers touch. What trains is the reading of
/// histories: the transformer and the repeat penalty.
const FIXED: [&str; 2] = ["item_map.weight", "item_ids.weight"];

impl SequentialRecommender {
    /// [`SequentialRecommender::fit_observed`] under `privacy`: every epoch runs, the last
    /// weights are kept, and the report says what was spent.
    pub(super) fn fit_private(
        &mut self,
        split: &SequenceSplit,
        privacy: &PrivacyParams,
        progress: &dyn Progress,
    ) -> Result<TrainReport> {
        let fixed: Vec<Tensor> = FIXED
            .iter()
            .filter_map(|name| self.net.vars.get(*name))
            .map(Tensor::shallow_clone)
            .collect();
        for t in &fixed {
            let _ = t.set_requires_grad(false);
        }
        let outcome = self.private_epochs(split, privacy, progress);
        for t in &fixed {
            let _ = t.set_requires_grad(true);
        }
        outcome
    }

    fn private_epochs(
        &mut self,
        split: &SequenceSplit,
        privacy: &PrivacyParams,
        progress: &dyn Progress,
    ) -> Result<TrainReport> {
        let p = self.params.clone();
        let n_items = self.net.n_items;
        let shoppers = by_shopper(split, p.max_history);
        let plan = privacy.plan(shoppers.len(), p.batch_size, p.epochs)?;
        progress.note(&format!("private training: {plan}"));
        tch::manual_seed(p.seed as i64);
        let (items, unit_items) = {
            let _guard = tch::no_grad_guard();
            let items = self.net.items()?;
            let unit = super::net::normalize(&items)?;
            (items, unit)
        };
        let trained = self
            .net
            .vars
            .iter()
            .filter(|(n, _)| !FIXED.contains(&n.as_str()))
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect();
        let mut optimizer = AdamW::new(trained, p.weight_decay)?;
        let mut clipped = ClippedSum::new(&self.net.vars, plan.clip_norm)?;
        let expected = plan.sample_rate * shoppers.len() as f64;
        let mut report = TrainReport {
            epochs: vec![self.validation_record(split, 0, f64::NAN, 0.0, 0.0)?],
            step_losses: Vec::new(),
            best_epoch: p.epochs,
            stop: StopReason::Completed,
            privacy: Some(plan.clone()),
        };
        progress.note(&report.epochs[0].to_string());
        progress.start(
            "training the sequential model privately",
            Some(plan.steps as u64),
        );
        let mut steps_done = 0;
        for epoch in 1..=p.epochs {
            let start = Instant::now();
            let steps = steps_in_epoch(plan.steps, epoch, p.epochs);
            let (mut loss_sum, mut seen) = (0.0, 0usize);
            for step in 0..steps {
                for &shopper in &poisson_sample(shoppers.len(), plan.sample_rate)? {
                    let b = batch(&shoppers[shopper], n_items)?;
                    if b.targets.numel() == 0 {
                        continue;
                    }
                    let users = self
                        .net
                        .states_over(&b.ids, true, &items)?
                        .f_flatten(0, 1)?
                        .f_index_select(0, &b.positions)?;
                    let logits = self.net.logits_unit(&users, &unit_items, &b.seen)?;
                    let (loss, value) = checked_loss(&logits, &b.targets, epoch, steps_done + 1)?;
                    loss.f_backward()?;
                    clipped.add_shopper()?;
                    loss_sum += value;
                    seen += 1;
                }
                clipped.step(
                    &mut optimizer,
                    p.learning_rate,
                    plan.noise_multiplier,
                    expected,
                )?;
                steps_done += 1;
                report
                    .step_losses
                    .push((loss_sum / seen.max(1) as f64) as f32);
                batch_done(
                    progress,
                    epoch,
                    (step + 1, steps),
                    loss_sum / seen.max(1) as f64,
                    seen as f64 / start.elapsed().as_secs_f64(),
                );
            }
            let seconds = start.elapsed().as_secs_f64();
            let record = self.validation_record(
                split,
                epoch,
                loss_sum / seen.max(1) as f64,
                seconds,
                seen as f64 / seconds,
            )?;
            progress.note(&record.to_string());
            report.epochs.push(record);
        }
        progress.finish();
        Ok(report)
    }
}

/// Each shopper's training sequences (their newest `max_history + 1` items), shoppers in
/// order of first appearance; a split without shoppers makes each sequence one.
fn by_shopper(split: &SequenceSplit, max_history: usize) -> Vec<Vec<&[u32]>> {
    let mut index = std::collections::HashMap::new();
    let mut groups: Vec<Vec<&[u32]>> = Vec::new();
    for (i, s) in split.train.iter().enumerate() {
        let s = &s[s.len().saturating_sub(max_history + 1)..];
        if s.len() < 2 {
            continue;
        }
        let owner = split.shoppers.get(i).copied().unwrap_or(usize::MAX - i);
        let at = *index.entry(owner).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(s);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SequentialParams;
    use tch::{Device, Kind};

    fn text() -> Tensor {
        tch::manual_seed(1);
        Tensor::randn([12, 8], (Kind::Float, Device::Cpu))
    }

    fn params(privacy: Option<PrivacyParams>) -> SequentialParams {
        SequentialParams {
            hidden: 8,
            layers: 1,
            heads: 2,
            dropout: 0.0,
            batch_size: 4,
            epochs: 2,
            privacy,
            ..SequentialParams::default()
        }
    }

    #[test]
    fn windows_of_one_shopper_are_one_unit() {
        let split = SequenceSplit::windows(&[(0..9).collect(), vec![1, 2, 3], vec![4]], 2);
        // Eight known items in windows of three (0-1, 1-2-3, 3-4-5, 5-6-7), and 1-2.
        assert_eq!(split.train.len(), 5);
        let groups = by_shopper(&split, 2);
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [4, 1]);
        // Without shoppers, each sequence is its own.
        let alone = SequenceSplit {
            shoppers: Vec::new(),
            ..split
        };
        assert_eq!(by_shopper(&alone, 2).len(), 5);
    }

    /// The clipped sum of the per-shopper gradients, with and without one shopper whose
    /// history is long and repetitive (its unclipped gradient is the largest): with no noise,
    /// the two sums differ by at most the clipping norm.
    #[test]
    fn one_shopper_moves_the_summed_gradient_by_at_most_the_clipping_norm() {
        let clip = 0.05;
        let model = SequentialRecommender::new(&text(), params(None)).unwrap();
        let outlier: Vec<u32> = (0..40).map(|i| [3, 7][i % 2]).collect();
        let others: Vec<Vec<u32>> = (0..6u32).map(|s| vec![s, s + 1, s + 2, s + 3]).collect();
        let summed = |histories: &[Vec<u32>]| -> (Vec<f64>, f64) {
            let split = SequenceSplit::windows(histories, 3);
            let mut sum = ClippedSum::new(&model.net.vars, clip).unwrap();
            let mut largest: f64 = 0.0;
            for group in by_shopper(&split, 3) {
                let b = batch(&group, model.net.n_items).unwrap();
                let (users, items) = model.net.states(&b.ids, false).unwrap();
                let users = users.flatten(0, 1).index_select(0, &b.positions);
                model
                    .net
                    .logits(&users, &items, &b.seen)
                    .unwrap()
                    .cross_entropy_for_logits(&b.targets)
                    .backward();
                largest = largest.max(sum.add_shopper().unwrap());
            }
            let mean = sum.noisy_mean(0.0, 1.0).unwrap();
            let flat: Vec<f64> = mean
                .values()
                .flat_map(|t| Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap())
                .collect();
            (flat, largest)
        };
        let mut with = others.clone();
        with.push(outlier);
        let (a, largest) = summed(&with);
        let (b, _) = summed(&others);
        let moved = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            largest > 10.0 * clip,
            "the outlier's gradient {largest} is not clipped here"
        );
        assert!(
            moved <= clip * (1.0 + 1e-4),
            "one shopper moved the sum by {moved}"
        );
        assert!(moved > clip * 0.5, "the outlier counted for {moved}");
    }

    #[test]
    fn private_training_runs_every_epoch_and_reports_its_budget() {
        let histories: Vec<Vec<u32>> = (0..40u32)
            .map(|s| (0..6).map(|i| (s + i) % 12).collect())
            .collect();
        let split = SequenceSplit::windows(&histories, 3);
        let privacy = PrivacyParams {
            epsilon: 2.0,
            ..PrivacyParams::default()
        };
        let mut model = SequentialRecommender::new(&text(), params(Some(privacy))).unwrap();
        let map_before = model.net.vars[FIXED[0]].copy();
        let report = model.fit(&split).unwrap();
        let spent = report.privacy.clone().unwrap();
        assert_eq!(spent.shoppers, 40);
        assert_eq!(spent.steps, 20);
        assert!(
            spent.epsilon <= 2.0 && spent.noise_multiplier > 0.0,
            "{spent}"
        );
        assert_eq!(report.epochs.len(), 3);
        assert_eq!(report.best_epoch, 2);
        assert_eq!(report.step_losses.len(), 20);
        // The item side stayed as it was, and is trainable again afterwards.
        assert!(model.net.vars[FIXED[0]].equal(&map_before));
        let ids = &model.net.vars[FIXED[1]];
        assert_eq!(f64::try_from(ids.abs().sum(Kind::Double)).unwrap(), 0.0);
        assert!(FIXED.iter().all(|n| model.net.vars[*n].requires_grad()));
        // The noise moved the other weights.
        assert!(
            f64::try_from(model.net.vars["output.weight"].abs().sum(Kind::Double)).unwrap() > 0.0
        );
    }
}
