//! The training loop: schedule, batches, loss, AdamW, validation and early stopping. The
//! checkpoint files are [`crate::checkpoint`]'s, the reporting an observer's.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use affinity_data::synthetic::SplitMix64;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::checkpoint::{CheckpointStore, TrainerState};
use crate::encoder::SentenceEncoder;
use crate::error::{Result, TuneError};
use crate::head::ClassifierHead;
use crate::observer::{BatchProgress, TrainObserver};
use crate::optim::{AdamW, LinearSchedule};
use crate::task::{Objective, TrainingTask};

/// The validation metric that picks the best epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Monitor {
    /// NDCG@10.
    #[default]
    Ndcg10,
    /// Recall@10.
    Recall10,
}

impl Monitor {
    /// The monitored one of two figures.
    pub(crate) fn pick(self, ndcg10: f64, recall10: f64) -> f64 {
        match self {
            Monitor::Ndcg10 => ndcg10,
            Monitor::Recall10 => recall10,
        }
    }
}

/// Training settings; [`Trainer::new`] checks them before any work starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Passes over the examples.
    pub epochs: usize,
    /// Examples per forward pass.
    pub batch_size: usize,
    /// Forward passes per optimizer step.
    pub grad_accum: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Decoupled weight decay (not on biases and LayerNorm).
    pub weight_decay: f64,
    /// Share of the steps spent warming up.
    pub warmup_ratio: f64,
    /// Global gradient-norm ceiling.
    pub max_grad_norm: f64,
    /// Seed for shuffling, dropout and new weights; CPU runs repeat exactly.
    pub seed: u64,
    /// Epochs without improvement before stopping; `None` never stops early. Without
    /// validation queries there is no early stopping and the last epoch is kept.
    pub patience: Option<usize>,
    /// The metric for early stopping and the best checkpoint.
    pub monitor: Monitor,
    /// Dropout of a classification head.
    pub head_dropout: f64,
    /// Where checkpoints go; `None` keeps the best weights in memory only.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the latest checkpoint in `checkpoint_dir`; there must be one.
    pub resume: bool,
    /// End this run after that epoch as if interrupted (a later run resumes).
    pub stop_after: Option<usize>,
    /// Batch queries of similar token length together, so that less of a batch is padding:
    /// the shuffled examples are sorted by length within windows of 64 batches, then the
    /// batches are shuffled. (Negatives in a batch then share a length; off by default.)
    #[serde(default)]
    pub length_buckets: bool,
    /// How contrastive targets are encoded during training.
    #[serde(default)]
    pub target_tower: TargetTower,
    /// Weight of a uniformity term on the targets a step encodes (Wang & Isola 2020: the log
    /// of the mean `exp(-2 |a - b|^2)` over pairs of distinct targets), which keeps the
    /// product vectors spread over the sphere instead of gathered in one direction. 0 (the
    /// default): off. Needs the trained target tower.
    #[serde(default)]
    pub uniformity: f64,
}

/// How the target (product) side of contrastive training is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TargetTower {
    /// Through the model with gradients at every step, as sentence-transformers does.
    #[default]
    Trained,
    /// Every target encoded once without gradients at the start of each epoch (and again
    /// every `refresh_steps` optimizer steps when set): a step runs the model on its queries
    /// only, and both sides still share the model's weights.
    Cached {
        /// Optimizer steps between refreshes within an epoch.
        refresh_steps: Option<usize>,
    },
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 3,
            batch_size: 32,
            grad_accum: 1,
            learning_rate: 5e-5,
            weight_decay: 0.01,
            warmup_ratio: 0.1,
            max_grad_norm: 1.0,
            seed: 42,
            patience: Some(2),
            monitor: Monitor::Ndcg10,
            head_dropout: 0.1,
            checkpoint_dir: None,
            resume: false,
            stop_after: None,
            length_buckets: false,
            target_tower: TargetTower::Trained,
            uniformity: 0.0,
        }
    }
}

impl TrainParams {
    /// The first invalid setting as [`TuneError::InvalidSetting`]; [`Trainer::new`] calls it.
    pub fn check(&self) -> Result<()> {
        let positive = |name, v: usize| {
            if v == 0 {
                Err(TuneError::setting(name, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("epochs", self.epochs)?;
        positive("batch_size", self.batch_size)?;
        positive("grad_accum", self.grad_accum)?;
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(TuneError::setting(
                "learning_rate",
                format!("{} is not positive", self.learning_rate),
            ));
        }
        if !(0.0..1.0).contains(&self.weight_decay) {
            return Err(TuneError::setting("weight_decay", "must lie in [0, 1)"));
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return Err(TuneError::setting("warmup_ratio", "must lie in [0, 1]"));
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return Err(TuneError::setting("max_grad_norm", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.head_dropout) {
            return Err(TuneError::setting("head_dropout", "must lie in [0, 1)"));
        }
        if self.patience == Some(0) {
            return Err(TuneError::setting(
                "patience",
                "use None to never stop early, or at least 1",
            ));
        }
        if self.stop_after == Some(0) {
            return Err(TuneError::setting("stop_after", "must be at least 1"));
        }
        if let TargetTower::Cached {
            refresh_steps: Some(0),
        } = self.target_tower
        {
            return Err(TuneError::setting(
                "target_tower",
                "refresh_steps must be at least 1 (None: once per epoch)",
            ));
        }
        if !(self.uniformity >= 0.0 && self.uniformity.is_finite()) {
            return Err(TuneError::setting(
                "uniformity",
                format!("{} is not a finite, non-negative weight", self.uniformity),
            ));
        }
        if self.uniformity > 0.0 && self.target_tower != TargetTower::Trained {
            return Err(TuneError::setting(
                "uniformity",
                "needs the trained target tower (cached targets carry no gradient)",
            ));
        }
        if (self.resume || self.stop_after.is_some()) && self.checkpoint_dir.is_none() {
            return Err(TuneError::setting(
                "checkpoint_dir",
                "resume and stop_after need a checkpoint directory",
            ));
        }
        Ok(())
    }

    /// Whether a run with these settings continues one written with `other`: all must agree
    /// but `resume` and `stop_after`, which only say how each invocation runs.
    fn same_run(&self, other: &TrainParams) -> bool {
        *self
            == TrainParams {
                resume: self.resume,
                stop_after: self.stop_after,
                ..other.clone()
            }
    }
}

/// Validation figures after one epoch (epoch 0: before training).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch, 0 for the model before training.
    pub epoch: usize,
    /// Mean training loss (NaN for epoch 0).
    #[serde(deserialize_with = "nan_from_null")]
    pub train_loss: f64,
    /// Validation NDCG@10.
    #[serde(deserialize_with = "nan_from_null")]
    pub ndcg10: f64,
    /// Validation Recall@10.
    #[serde(deserialize_with = "nan_from_null")]
    pub recall10: f64,
    /// Seconds of training in this epoch.
    pub seconds: f64,
    /// Training examples per second.
    pub examples_per_second: f64,
    /// Of `seconds`, those spent encoding the targets of a cached target tower.
    #[serde(default)]
    pub target_seconds: f64,
    /// The popularity prior's weight chosen on the validation step for this epoch's model
    /// (the figures above are scored with it; 0 without a prior).
    #[serde(default)]
    pub prior_weight: f32,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// All epochs ran.
    Completed,
    /// Validation stopped improving for `patience` epochs.
    EarlyStopped,
    /// `stop_after` was reached; resume to continue.
    Interrupted,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Validation after each epoch; the first entry is the model before training.
    pub epochs: Vec<EpochRecord>,
    /// Training loss of every optimizer step.
    pub step_losses: Vec<f32>,
    /// The epoch whose weights the encoder holds now (0: none beat the untrained model).
    pub best_epoch: usize,
    /// Why the run ended.
    pub stop: StopReason,
}

impl TrainReport {
    /// The record of the best epoch.
    pub fn best(&self) -> &EpochRecord {
        self.epochs
            .iter()
            .find(|e| e.epoch == self.best_epoch)
            .unwrap_or(&self.epochs[0])
    }
}

/// What the run leaves besides the trained encoder.
#[derive(Debug)]
pub struct TrainOutcome {
    /// Figures.
    pub report: TrainReport,
    /// The classification head, for that objective.
    pub head: Option<ClassifierHead>,
}

/// Runs fine-tuning with checked settings.
///
/// ```no_run
/// use affinity_tune::*;
/// let mut encoder = SentenceEncoder::from_dir("models/all-MiniLM-L6-v2".as_ref(), &EncoderOptions::default())?;
/// let task = TrainingTask {
///     objective: Objective::default(),
///     examples: vec![Example { text: "whole milk; butter".into(), target: 1, negative: None }],
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

    /// [`Trainer::fit_with`], silently.
    pub fn fit(&self, encoder: &mut SentenceEncoder, task: &TrainingTask) -> Result<TrainOutcome> {
        self.fit_with(encoder, task, &mut ())
    }

    /// Fine-tunes `encoder` on `task`, telling `observer` how it goes. On return the encoder
    /// holds the best epoch's weights and the prior's weight validation chose for them (after
    /// a resume whose best epoch came before the interruption: the resumed epoch's, with
    /// `best/` holding the best; after an interruption: the last epoch's). `best/` is written
    /// at the start and again at every better epoch. A NaN or infinite loss ends the run with
    /// [`TuneError::NonFiniteLoss`]; checkpoints already written stay as they were.
    pub fn fit_with(
        &self,
        encoder: &mut SentenceEncoder,
        task: &TrainingTask,
        observer: &mut dyn TrainObserver,
    ) -> Result<TrainOutcome> {
        task.validate()?;
        if uniformity_without_targets(self.params.uniformity, task) {
            return Err(TuneError::setting(
                "uniformity",
                "applies to the contrastive objective only (it spreads the target vectors)",
            ));
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
        observer.on_start(
            (run.batches * p.epochs) as u64,
            (run.batches * state.epoch) as u64,
        );
        let mut stop = StopReason::Completed;
        // Resumed past the epoch to stop after: nothing to train in this run.
        let first = if p.stop_after.is_some_and(|last| last <= state.epoch) {
            stop = StopReason::Interrupted;
            p.epochs + 1
        } else {
            state.epoch + 1
        };
        for epoch in first..=p.epochs {
            let record = run.train_epoch(encoder, epoch, &mut state, observer)?;
            observer.on_epoch(&record);
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
        observer.on_finish();
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

/// What one run trains with: the head, the variables, the optimizer and its schedule.
struct Run<'a> {
    params: &'a TrainParams,
    task: &'a TrainingTask,
    head: Option<ClassifierHead>,
    /// The encoder's trainable variables and the head's.
    vars: BTreeMap<String, Tensor>,
    optimizer: AdamW,
    schedule: LinearSchedule,
    /// Batches per epoch.
    batches: usize,
    /// Token length of each example's query, when batching by length.
    lengths: Vec<usize>,
    /// Every target's vector, with a cached target tower.
    cached: Option<Tensor>,
    /// Seconds this epoch spent encoding targets for the cache.
    target_seconds: f64,
}

impl<'a> Run<'a> {
    fn new(
        params: &'a TrainParams,
        encoder: &SentenceEncoder,
        task: &'a TrainingTask,
    ) -> Result<Self> {
        // Checked before the head, the optimizer and the lengths are built.
        let classifying = matches!(task.objective, Objective::Classification { .. });
        if classifying && params.target_tower != TargetTower::Trained {
            return Err(TuneError::setting(
                "target_tower",
                "a cached target tower needs the contrastive objective",
            ));
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
    fn train_epoch(
        &mut self,
        encoder: &SentenceEncoder,
        epoch: usize,
        state: &mut TrainerState,
        observer: &mut dyn TrainObserver,
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
            let value = f64::try_from(&loss)?;
            if !value.is_finite() {
                return Err(TuneError::NonFiniteLoss {
                    epoch,
                    step: state.optimizer_step + 1,
                    value,
                });
            }
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
            observer.on_batch(&BatchProgress {
                epoch,
                batch: i + 1,
                batches: self.batches,
                mean_loss: loss_sum / loss_count as f64,
                examples_per_second: (loss_count * p.batch_size) as f64
                    / started.elapsed().as_secs_f64(),
            });
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

/// serde_json writes NaN as `null`; read it back as NaN.
pub(crate) fn nan_from_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Batches of `order` in windows of 64 batches, each window sorted by `lengths` (longest
/// first; stable, so equal lengths keep their shuffled order). Only the last window can end
/// in a short batch, so there are as many batches as without buckets.
fn length_buckets(order: &[usize], lengths: &[usize], batch: usize) -> Vec<Vec<usize>> {
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

fn batch_loss(
    encoder: &SentenceEncoder,
    head: Option<&ClassifierHead>,
    task: &TrainingTask,
    chunk: &[usize],
    cached: Option<&Tensor>,
    uniformity: f64,
) -> Result<Tensor> {
    let texts: Vec<&str> = chunk
        .iter()
        .map(|&i| task.examples[i].text.as_str())
        .collect();
    let queries = encoder.forward(&encoder.tokenize(&texts), true)?;
    let mut spread = None;
    let (logits, labels) = match (task.objective, head) {
        (Objective::Contrastive { scale }, _) => {
            // Each distinct target (and hard negative) is encoded once.
            let mut slot: HashMap<u32, i64> = HashMap::new();
            let mut distinct: Vec<u32> = Vec::new();
            let mut labels = Vec::with_capacity(chunk.len());
            if task.full_catalog {
                distinct.extend(0..task.targets.len() as u32);
                slot.extend(distinct.iter().map(|&t| (t, t as i64)));
            }
            for &i in chunk {
                let e = &task.examples[i];
                for (t, is_label) in
                    std::iter::once((e.target, true)).chain(e.negative.map(|n| (n, false)))
                {
                    let s = *slot.entry(t).or_insert_with(|| {
                        distinct.push(t);
                        distinct.len() as i64 - 1
                    });
                    if is_label {
                        labels.push(s);
                    }
                }
            }
            let targets = match cached {
                Some(all) => {
                    let rows: Vec<i64> = distinct.iter().map(|&t| t as i64).collect();
                    let rows = Tensor::from_slice(&rows).f_to_device(all.device())?;
                    all.f_index_select(0, &rows)?
                }
                None => {
                    let target_texts: Vec<&str> = distinct
                        .iter()
                        .map(|&t| task.targets[t as usize].as_str())
                        .collect();
                    encoder.forward(&encoder.tokenize(&target_texts), true)?
                }
            };
            if uniformity > 0.0 && cached.is_none() && distinct.len() >= 2 {
                spread = Some(uniformity_loss(&targets)?.f_mul_scalar(uniformity)?);
            }
            let mut logits = queries
                .f_matmul(&targets.f_transpose(0, 1)?)?
                .f_mul_scalar(scale)?;
            if let (Some(prior), true) = (&task.prior, task.full_catalog) {
                let row: Vec<f32> = distinct.iter().map(|&t| prior[t as usize]).collect();
                let row = Tensor::from_slice(&row)
                    .f_to_device(logits.device())?
                    .f_to_kind(logits.kind())?;
                logits = logits.f_add(&row)?;
            }
            (logits, labels)
        }
        (Objective::Classification { .. }, Some(head)) => {
            let logits = head.forward(&queries, true)?;
            let labels: Vec<i64> = chunk
                .iter()
                .map(|&i| task.examples[i].target as i64)
                .collect();
            (logits, labels)
        }
        (Objective::Classification { .. }, None) => {
            unreachable!("a head exists for classification")
        }
    };
    let labels = Tensor::from_slice(&labels).f_to_device(encoder.device())?;
    let loss =
        logits.f_cross_entropy_loss::<Tensor>(&labels, None, tch::Reduction::Mean, -100, 0.0)?;
    match spread {
        Some(term) => Ok(loss.f_add(&term)?),
        None => Ok(loss),
    }
}

/// Whether a uniformity weight is set for a task without target vectors to spread.
fn uniformity_without_targets(uniformity: f64, task: &TrainingTask) -> bool {
    uniformity > 0.0 && !matches!(task.objective, Objective::Contrastive { .. })
}

/// Wang & Isola's uniformity of the rows of `vectors` (normalised here): the log of the mean
/// `exp(-2 |a - b|^2)` over pairs of distinct rows. Lower is more spread out; for unit
/// vectors `|a - b|^2 = 2 - 2 cos`.
fn uniformity_loss(vectors: &Tensor) -> Result<Tensor> {
    let v = vectors.f_to_kind(Kind::Float)?;
    let norm = v
        .f_norm_scalaropt_dim(2, [1i64].as_slice(), true)?
        .f_clamp_min(1e-12)?;
    let v = v.f_div(&norm)?;
    let n = v.size()[0];
    let potential = v
        .f_matmul(&v.f_transpose(0, 1)?)?
        .f_mul_scalar(4.0)?
        .f_sub_scalar(4.0)?
        .f_exp()?;
    // The diagonal (a row with itself) is exp(0) = 1 each.
    let pairs = potential
        .f_sum(Kind::Float)?
        .f_sub_scalar(n as f64)?
        .f_div_scalar((n * (n - 1)) as f64)?;
    Ok(pairs.f_clamp_min(1e-30)?.f_log()?)
}

/// Multiples of the task's prior weight tried on the validation step: the trained weight
/// first (it wins ties), 0 (the cosine alone) and heavier ones down to popularity with the
/// cosine breaking its ties. Menon et al. (2021) tune their logit adjustment the same way.
const PRIOR_MULTIPLES: [f32; 9] = [1.0, 0.0, 0.25, 0.5, 2.0, 4.0, 8.0, 16.0, 64.0];

/// Validation figures of one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Validation {
    pub ndcg10: f64,
    pub recall10: f64,
    /// The popularity prior's weight the figures were scored with (0 without a prior).
    pub prior_weight: f32,
}

/// NDCG@10 and Recall@10 of the validation queries, ranked against all targets. With a
/// prior, the products are scored `cosine + w x prior` as served, with the `w` among
/// [`PRIOR_MULTIPLES`] of the task's weight that scores best by `monitor`.
pub(crate) fn validate(
    encoder: &SentenceEncoder,
    head: Option<&ClassifierHead>,
    task: &TrainingTask,
    monitor: Monitor,
) -> Result<Validation> {
    let trained = task.prior_weight();
    if task.validation.is_empty() {
        return Ok(Validation {
            ndcg10: f64::NAN,
            recall10: f64::NAN,
            prior_weight: trained,
        });
    }
    let _guard = tch::no_grad_guard();
    let texts: Vec<&str> = task.validation.iter().map(|q| q.text.as_str()).collect();
    let queries = encoder.embed(&texts)?;
    let scores = match head {
        Some(h) => h.forward(&queries.f_to_device(encoder.device())?, false)?,
        None => {
            let targets = encoder.embed(&task.targets)?;
            queries.f_matmul(&targets.f_transpose(0, 1)?)?
        }
    };
    let scores = scores.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?;
    let n_targets = scores.size()[1];
    // One copy, scored at every weight below.
    let all = Vec::<f32>::try_from(scores.f_flatten(0, -1)?)?;
    drop(scores);
    let rows: Vec<&[f32]> = all.chunks(n_targets.max(1) as usize).collect();
    // The target itself is never excluded, even when the history holds it.
    let excludes: Vec<Vec<u32>> = task
        .validation
        .iter()
        .map(|q| {
            q.exclude
                .iter()
                .copied()
                .filter(|&x| (x as i64) < n_targets && x != q.target)
                .collect()
        })
        .collect();
    let measure = |weight: f32| {
        let mut ndcg = 0.0;
        let mut recall = 0.0;
        let mut row = vec![0f32; n_targets as usize];
        for (qi, q) in task.validation.iter().enumerate() {
            row.copy_from_slice(rows[qi]);
            if let (Some(prior), true) = (&task.prior, weight > 0.0) {
                row.iter_mut()
                    .zip(prior)
                    .for_each(|(s, p)| *s += weight * p);
            }
            let ranked: Vec<u32> = affinity_rank::top_k(&row, 10, &excludes[qi])
                .into_iter()
                .map(|s| s.item)
                .collect();
            ndcg += affinity_data::metrics::ndcg_at(&ranked, &[q.target], 10);
            recall += affinity_data::metrics::recall_at(&ranked, &[q.target], 10);
        }
        let n = task.validation.len() as f64;
        Validation {
            ndcg10: ndcg / n,
            recall10: recall / n,
            prior_weight: weight,
        }
    };
    if task.prior.is_none() {
        return Ok(measure(0.0));
    }
    Ok(best_prior_weight(trained, monitor, measure))
}

/// The figures of the best of [`PRIOR_MULTIPLES`] of `trained`, by `monitor`; the trained
/// weight wins ties, then the earlier multiple.
fn best_prior_weight(
    trained: f32,
    monitor: Monitor,
    measure: impl Fn(f32) -> Validation,
) -> Validation {
    let key = |v: &Validation| monitor.pick(v.ndcg10, v.recall10);
    let mut best = measure(trained);
    for multiple in &PRIOR_MULTIPLES[1..] {
        let v = measure(trained * multiple);
        if key(&v) > key(&best) {
            best = v;
        }
    }
    best
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_prior_weight_is_the_best_multiple_and_the_trained_one_wins_ties() {
        use super::{best_prior_weight, Monitor, Validation};
        // Figures that peak at `peak` (NDCG) and are flat in Recall.
        let peaked = |peak: f32| {
            move |w: f32| Validation {
                ndcg10: 1.0 - (w - peak).abs() as f64,
                recall10: 0.5,
                prior_weight: w,
            }
        };
        let pick = |peak, monitor| best_prior_weight(0.2, monitor, peaked(peak)).prior_weight;
        assert_eq!(pick(0.8, Monitor::Ndcg10), 0.8);
        assert_eq!(pick(0.0, Monitor::Ndcg10), 0.0);
        assert_eq!(pick(100.0, Monitor::Ndcg10), 0.2 * 64.0);
        assert_eq!(pick(0.2, Monitor::Ndcg10), 0.2);
        // Every weight ties on Recall: the trained one is kept.
        assert_eq!(pick(0.8, Monitor::Recall10), 0.2);
    }

    use super::*;

    #[test]
    fn uniformity_is_lower_for_spread_vectors() {
        let spread = Tensor::from_slice(&[1f32, 0., 0., 1., -1., 0., 0., -1.]).view([4, 2]);
        let gathered =
            Tensor::from_slice(&[1f32, 0., 0.99, 0.1, 0.98, -0.1, 1., 0.05]).view([4, 2]);
        let value = |t: &Tensor| f64::try_from(uniformity_loss(t).unwrap()).unwrap();
        // Spread square: pairs at distance^2 2 (four) and 4 (two).
        let expected = ((4.0 * (-4f64).exp() + 2.0 * (-8f64).exp()) / 6.0).ln();
        assert!(
            (value(&spread) - expected).abs() < 1e-5,
            "{}",
            value(&spread)
        );
        assert!(value(&gathered) > -0.1, "{}", value(&gathered));
        // Scaled rows give the same figure: the rows are normalised first.
        assert!((value(&(spread.shallow_clone() * 3.0)) - expected).abs() < 1e-5);
    }

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
