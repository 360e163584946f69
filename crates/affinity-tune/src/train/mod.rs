//! The training loop: settings ([`settings`]), one run's epochs ([`run`]), the losses
//! ([`loss`]), validation ([`validation`]) and what the run reports ([`report`]). The
//! checkpoint files are [`crate::checkpoint`]'s; progress goes to a [`Progress`].

mod loss;
mod private;
mod report;
mod run;
mod settings;
mod validation;

use std::collections::BTreeMap;

use affinity_core::{InvalidSetting, Progress};
use tch::Tensor;

use crate::checkpoint::{CheckpointStore, TrainerState};
use crate::encoder::SentenceEncoder;
use crate::error::{Result, TuneError};
use crate::task::TrainingTask;
use loss::uniformity_without_targets;
pub(crate) use report::{batch_done, nan_from_null};
pub use report::{EpochRecord, StopReason, TrainOutcome, TrainReport};
pub(crate) use run::shuffled;
use run::Run;
pub use settings::{Monitor, TargetTower, TrainParams};
pub(crate) use validation::validate;

/// Runs fine-tuning with checked settings.
///
/// ```no_run
/// use affinity_tune::*;
/// let mut encoder = SentenceEncoder::from_dir("models/all-MiniLM-L6-v2".as_ref(), &EncoderOptions::default())?;
/// let task = TrainingTask {
///     objective: Objective::default(),
///     examples: vec![Example {
///         text: "whole milk; butter".into(),
///         target: 1,
///         negative: None,
///         shopper: None,
///     }],
///     validation: vec![],
///     targets: vec!["yogurt".into(), "cream cheese".into()],
///     full_catalog: false,
///     prior: None,
/// };
/// let outcome = Trainer::new(TrainParams { epochs: 1, ..TrainParams::default() })?.fit(&mut encoder, &task)?;
/// println!("best NDCG@10 {}", outcome.report.best().ndcg10);
/// # Ok::<(), TuneError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Trainer {
    params: TrainParams,
}

impl Trainer {
    /// Checks the settings.
    /// Fails on invalid settings, and when asked to resume a run that left no checkpoint
    /// (as Hugging Face's `Trainer` does): both before any model is loaded.
    pub fn new(params: TrainParams) -> Result<Self> {
        params.check()?;
        if let Some(dir) = params.checkpoint_dir.as_ref().filter(|_| params.resume) {
            if !CheckpointStore::new(dir).has_state() {
                return Err(TuneError::NothingToResume { dir: dir.clone() });
            }
        }
        Ok(Trainer { params })
    }

    /// The settings.
    pub fn params(&self) -> &TrainParams {
        &self.params
    }

    /// [`Trainer::fit_observed`], silently.
    pub fn fit(&self, encoder: &mut SentenceEncoder, task: &TrainingTask) -> Result<TrainOutcome> {
        self.fit_observed(encoder, task, &())
    }

    /// Fine-tunes `encoder` on `task`, telling `progress` how it goes: one step, "training",
    /// over every batch of every epoch (those of the run it resumes already done), a status per
    /// batch, and each epoch's validation figures as a note.  On return the encoder
    /// holds the best epoch's weights and the prior's weight validation chose for them (after
    /// a resume whose best epoch came before the interruption: the resumed epoch's, with
    /// `best/` holding the best; after an interruption: the last epoch's). `best/` is written
    /// at the start and again at every better epoch. A NaN or infinite loss ends the run with
    /// [`TuneError::NonFiniteLoss`]; checkpoints already written stay as they were.
    pub fn fit_observed(
        &self,
        encoder: &mut SentenceEncoder,
        task: &TrainingTask,
        progress: &dyn Progress,
    ) -> Result<TrainOutcome> {
        task.validate()?;
        if encoder.precision() == crate::Precision::Int8 {
            return Err(InvalidSetting::new(
                "precision",
                "int8 is for encoding: train in fp32 or bf16, then encode the trained model in int8",
            )
            .into());
        }
        if uniformity_without_targets(self.params.uniformity, task) {
            return Err(InvalidSetting::new(
                "uniformity",
                "applies to the contrastive objective only (it spreads the target vectors)",
            )
            .into());
        }
        if let Some(privacy) = &self.params.privacy {
            return private::fit_private(&self.params, privacy, encoder, task, progress);
        }
        // Until validation chooses one, the model scores with the task's prior weight.
        encoder.set_popularity_prior(task.prior_weight())?;
        let p = &self.params;
        let store = p.checkpoint_dir.as_deref().map(CheckpointStore::new);
        let mut run = Run::new(p, encoder, task)?;
        let resumed = self.resume(store.as_ref(), &mut run)?;
        let fresh = resumed.is_none();
        let mut state = match resumed {
            Some(state) => state,
            None => self.fresh_state(encoder, &run)?,
        };
        // The epoch whose weights `best_weights` holds.
        let mut best_weights_epoch = state.epoch;
        let mut best_weights = snapshot(&run.vars)?;
        if let Some(store) = store.as_ref().filter(|_| fresh) {
            // The starting model is the best so far: written now, so that `best/` exists
            // whatever happens next, an interruption included.
            encoder.set_popularity_prior(state.report.epochs[0].prior_weight)?;
            store.save_best(encoder, run.head.as_ref())?;
        }
        progress.start("training", Some((run.batches * p.epochs) as u64));
        if state.epoch > 0 {
            progress.advance((run.batches * state.epoch) as u64);
        }
        let mut stop = StopReason::Completed;
        // Resumed past the epoch to stop after: nothing to train in this run.
        let first = if p.stop_after.is_some_and(|last| last <= state.epoch) {
            stop = StopReason::Interrupted;
            p.epochs + 1
        } else {
            state.epoch + 1
        };
        for epoch in first..=p.epochs {
            let record = run.train_epoch(encoder, epoch, &mut state, progress)?;
            progress.note(&record.to_string());
            let metric = self.metric(&record);
            let prior_weight = record.prior_weight;
            state.report.epochs.push(record);
            state.epoch = epoch;
            // Without validation queries every epoch counts as the best so far (the last is kept).
            if metric > state.best_metric || task.validation.is_empty() {
                state.best_metric = metric;
                state.best_epoch = epoch;
                state.bad_epochs = 0;
                best_weights = snapshot(&run.vars)?;
                best_weights_epoch = epoch;
                if let Some(store) = &store {
                    // Exported with the prior's weight it was validated with.
                    encoder.set_popularity_prior(prior_weight)?;
                    store.save_best(encoder, run.head.as_ref())?;
                }
            } else {
                state.bad_epochs += 1;
            }
            state.report.best_epoch = state.best_epoch;
            if let Some(store) = &store {
                store.save(&state, &run.vars, &run.optimizer)?;
            }
            if p.stop_after == Some(epoch) && epoch < p.epochs {
                stop = StopReason::Interrupted;
                break;
            }
            if p.patience.is_some_and(|n| state.bad_epochs >= n) {
                stop = StopReason::EarlyStopped;
                break;
            }
        }
        progress.finish();
        // The epoch whose weights the encoder is left with: the last trained when interrupted,
        // else the best this process saw (after a resume whose best epoch came before the
        // interruption that is the resumed epoch; `best/` holds the best).
        let held = match stop {
            StopReason::Interrupted => state.epoch,
            _ => best_weights_epoch,
        };
        if held != state.epoch {
            restore(&run.vars, &best_weights)?;
        }
        if let Some(record) = state.report.epochs.iter().find(|e| e.epoch == held) {
            encoder.set_popularity_prior(record.prior_weight)?;
        }
        // A run resumed from a checkpoint written before `best/` was written at the start.
        if let Some(store) = store
            .as_ref()
            .filter(|s| !s.has_best() && held == state.best_epoch)
        {
            store.save_best(encoder, run.head.as_ref())?;
        }
        state.report.stop = stop;
        state.report.best_epoch = state.best_epoch;
        Ok(TrainOutcome {
            report: state.report,
            head: run.head,
        })
    }

    fn metric(&self, r: &EpochRecord) -> f64 {
        self.params.monitor.pick(r.ndcg10, r.recall10)
    }

    /// The state of the run to continue, with its weights and optimizer moments loaded into
    /// `run`; `None` when not resuming.
    fn resume(
        &self,
        store: Option<&CheckpointStore>,
        run: &mut Run,
    ) -> Result<Option<TrainerState>> {
        let Some(store) = store.filter(|_| self.params.resume) else {
            return Ok(None);
        };
        let mut state = store.read_state()?;
        if !state.params.same_run(&self.params) {
            return Err(TuneError::BadConfig {
                path: store.state_path(),
                detail: "the checkpoint was written with other training settings; resuming would not continue the same run".into(),
            });
        }
        let digest = run.task.prior_digest();
        match &state.prior_digest {
            Some(d) if *d != digest => {
                return Err(TuneError::BadConfig {
                    path: store.state_path(),
                    detail: "the checkpoint was trained with another popularity prior (or none); resuming would not continue the same run".into(),
                })
            }
            Some(_) => {}
            // Written before the weight was chosen on validation: its epochs were scored at
            // the trained weight.
            None => {
                for e in &mut state.report.epochs {
                    e.prior_weight = run.task.prior_weight();
                }
            }
        }
        store.load(&state, &run.vars, &mut run.optimizer)?;
        Ok(Some(state))
    }

    /// The state before the first epoch, with the untrained model's validation figures.
    fn fresh_state(&self, encoder: &SentenceEncoder, run: &Run) -> Result<TrainerState> {
        let v = validate(encoder, run.head.as_ref(), run.task, self.params.monitor)?;
        let zero = EpochRecord {
            epoch: 0,
            train_loss: f64::NAN,
            ndcg10: v.ndcg10,
            recall10: v.recall10,
            prior_weight: v.prior_weight,
            seconds: 0.0,
            examples_per_second: 0.0,
            target_seconds: 0.0,
        };
        Ok(TrainerState {
            epoch: 0,
            optimizer_step: 0,
            best_epoch: 0,
            best_metric: self.metric(&zero),
            bad_epochs: 0,
            report: TrainReport {
                privacy: None,
                epochs: vec![zero],
                step_losses: vec![],
                best_epoch: 0,
                stop: StopReason::Completed,
            },
            params: self.params.clone(),
            prior_digest: Some(run.task.prior_digest()),
        })
    }
}

pub(crate) fn snapshot(params: &BTreeMap<String, Tensor>) -> Result<BTreeMap<String, Tensor>> {
    let _guard = tch::no_grad_guard();
    params
        .iter()
        .map(|(n, t)| {
            let mut copy = t.f_zeros_like()?;
            copy.f_copy_(t)?;
            Ok((n.clone(), copy))
        })
        .collect()
}

pub(crate) fn restore(
    params: &BTreeMap<String, Tensor>,
    saved: &BTreeMap<String, Tensor>,
) -> Result<()> {
    let _guard = tch::no_grad_guard();
    for (n, t) in params {
        t.shallow_clone().f_copy_(&saved[n])?;
    }
    Ok(())
}
