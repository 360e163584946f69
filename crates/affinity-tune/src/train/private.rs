//! Private fine-tuning: DP-SGD with the shopper as the unit (see [`crate::private`]).
//!
//! A shopper's loss must depend on that shopper's data alone, so that clipping it bounds what
//! they can move. In-batch negatives would mix shoppers, and the popularity prior is a count
//! over all of them; so a private step scores each history against the whole catalogue
//! encoded without gradients at the start of each epoch (the catalogue's text is public, and
//! encoding it with the current weights is post-processing), and trains without the prior.

use std::collections::HashMap;
use std::time::Instant;

use affinity_core::{InvalidSetting, Progress};

use super::loss::batch_loss;
use super::report::{batch_done, EpochRecord, StopReason, TrainOutcome, TrainReport};
use super::settings::TrainParams;
use super::validation::validate;
use crate::checkpoint::CheckpointStore;
use crate::encoder::SentenceEncoder;
use crate::error::{finite_loss, Result};
use crate::optim::AdamW;
use crate::private::{poisson_sample, steps_in_epoch, ClippedSum};
use crate::task::{Objective, TrainingTask};
use crate::PrivacyParams;

/// Trains `encoder` on `task` under `privacy`: every epoch runs and the last weights are kept
/// (choosing an epoch on the validation step would read shoppers' data that the accountant
/// does not count); the popularity prior's weight is left at 0.
pub(super) fn fit_private(
    params: &TrainParams,
    privacy: &PrivacyParams,
    encoder: &mut SentenceEncoder,
    task: &TrainingTask,
    progress: &dyn Progress,
) -> Result<TrainOutcome> {
    if !matches!(task.objective, Objective::Contrastive { .. }) {
        return Err(InvalidSetting::new(
            "privacy",
            "private training needs the contrastive objective",
        )
        .into());
    }
    let shoppers = by_shopper(task)?;
    // The catalogue scored in full, without the prior: see the module's comment.
    let task = TrainingTask {
        full_catalog: true,
        prior: None,
        ..task.clone()
    };
    let plan = privacy.plan(shoppers.len(), params.batch_size, params.epochs)?;
    progress.note(&format!("private training: {plan}"));
    tch::manual_seed(params.seed as i64);
    encoder.set_popularity_prior(0.0)?;
    let vars = encoder.trainable();
    let mut optimizer = AdamW::new(
        vars.iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect(),
        params.weight_decay,
    )?;
    let mut clipped = ClippedSum::new(&vars, plan.clip_norm)?;
    let expected = plan.sample_rate * shoppers.len() as f64;
    let record = |epoch, loss, seconds: f64, seen: usize, encoder: &SentenceEncoder| {
        validate(encoder, None, &task, params.monitor).map(|v| EpochRecord {
            epoch,
            train_loss: loss,
            ndcg10: v.ndcg10,
            recall10: v.recall10,
            prior_weight: 0.0,
            seconds,
            examples_per_second: if seconds > 0.0 {
                seen as f64 / seconds
            } else {
                0.0
            },
            target_seconds: 0.0,
        })
    };
    let mut report = TrainReport {
        epochs: vec![record(0, f64::NAN, 0.0, 0, encoder)?],
        step_losses: Vec::new(),
        best_epoch: params.epochs,
        stop: StopReason::Completed,
        privacy: Some(plan.clone()),
    };
    progress.note(&report.epochs[0].to_string());
    progress.start("fine-tuning privately", Some(plan.steps as u64));
    let mut steps_done = 0;
    for epoch in 1..=params.epochs {
        let started = Instant::now();
        let targets_started = Instant::now();
        let cached = encoder
            .embed(&task.targets)?
            .f_to_device(encoder.device())?;
        let target_seconds = targets_started.elapsed().as_secs_f64();
        let steps = steps_in_epoch(plan.steps, epoch, params.epochs);
        let (mut loss_sum, mut seen, mut examples) = (0.0, 0usize, 0usize);
        for step in 0..steps {
            let (mut step_sum, mut step_seen) = (0.0, 0usize);
            for &shopper in &poisson_sample(shoppers.len(), plan.sample_rate)? {
                let chunk = &shoppers[shopper];
                let loss = batch_loss(encoder, None, &task, chunk, Some(&cached), 0.0)?;
                let value = finite_loss(&loss, epoch, steps_done + 1)?;
                loss.f_backward()?;
                clipped.add_shopper()?;
                step_sum += value;
                step_seen += 1;
                examples += chunk.len();
            }
            clipped.step(
                &mut optimizer,
                params.learning_rate,
                plan.noise_multiplier,
                expected,
            )?;
            steps_done += 1;
            loss_sum += step_sum;
            seen += step_seen;
            report
                .step_losses
                .push((step_sum / step_seen.max(1) as f64) as f32);
            batch_done(
                progress,
                epoch,
                (step + 1, steps),
                loss_sum / seen.max(1) as f64,
                examples as f64 / started.elapsed().as_secs_f64(),
            );
        }
        let seconds = started.elapsed().as_secs_f64();
        let mut r = record(
            epoch,
            loss_sum / seen.max(1) as f64,
            seconds,
            examples,
            encoder,
        )?;
        r.target_seconds = target_seconds;
        progress.note(&r.to_string());
        report.epochs.push(r);
    }
    progress.finish();
    if let Some(dir) = &params.checkpoint_dir {
        CheckpointStore::new(dir).save_best(encoder, None)?;
    }
    Ok(TrainOutcome { report, head: None })
}

/// Each shopper's examples (indices into `task.examples`), shoppers in order of first
/// appearance. Every example must name its shopper: one left alone would be a unit smaller
/// than the shopper the guarantee is stated for.
fn by_shopper(task: &TrainingTask) -> Result<Vec<Vec<usize>>> {
    let mut index: HashMap<u32, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, e) in task.examples.iter().enumerate() {
        let Some(shopper) = e.shopper else {
            return Err(InvalidSetting::new(
                "examples",
                format!("example {i} names no shopper; private training clips each shopper's examples together"),
            )
            .into());
        };
        let at = *index.entry(shopper).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(i);
    }
    Ok(groups)
}
