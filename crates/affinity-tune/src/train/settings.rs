//! What a training run is asked to do, checked before it starts.

use std::path::PathBuf;

use affinity_core::InvalidSetting;
use serde::{Deserialize, Serialize};

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

/// Training settings; [`Trainer::new`](crate::Trainer::new) checks them before any work starts.
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
    /// Train with DP-SGD under this budget, one shopper's examples as the unit (see
    /// [`PrivacyParams`](crate::PrivacyParams)): then `batch_size` is the expected number of
    /// shoppers per step, the targets are cached, every epoch runs and the last weights are
    /// kept. Contrastive objective only; every example must name its shopper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<crate::PrivacyParams>,
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
            privacy: None,
        }
    }
}

impl TrainParams {
    /// The first invalid setting; [`Trainer::new`](crate::Trainer::new) calls it.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        let positive = |name, v: usize| {
            if v == 0 {
                Err(InvalidSetting::new(name, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("epochs", self.epochs)?;
        positive("batch_size", self.batch_size)?;
        positive("grad_accum", self.grad_accum)?;
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(InvalidSetting::new(
                "learning_rate",
                format!("{} is not positive", self.learning_rate),
            ));
        }
        if !(0.0..1.0).contains(&self.weight_decay) {
            return Err(InvalidSetting::new("weight_decay", "must lie in [0, 1)"));
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return Err(InvalidSetting::new("warmup_ratio", "must lie in [0, 1]"));
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return Err(InvalidSetting::new("max_grad_norm", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.head_dropout) {
            return Err(InvalidSetting::new("head_dropout", "must lie in [0, 1)"));
        }
        if self.patience == Some(0) {
            return Err(InvalidSetting::new(
                "patience",
                "use None to never stop early, or at least 1",
            ));
        }
        if self.stop_after == Some(0) {
            return Err(InvalidSetting::new("stop_after", "must be at least 1"));
        }
        if let TargetTower::Cached {
            refresh_steps: Some(0),
        } = self.target_tower
        {
            return Err(InvalidSetting::new(
                "target_tower",
                "refresh_steps must be at least 1 (None: once per epoch)",
            ));
        }
        if !(self.uniformity >= 0.0 && self.uniformity.is_finite()) {
            return Err(InvalidSetting::new(
                "uniformity",
                format!("{} is not a finite, non-negative weight", self.uniformity),
            ));
        }
        if self.uniformity > 0.0 && self.target_tower != TargetTower::Trained {
            return Err(InvalidSetting::new(
                "uniformity",
                "needs the trained target tower (cached targets carry no gradient)",
            ));
        }
        if let Some(privacy) = &self.privacy {
            privacy.check()?;
            if self.resume || self.stop_after.is_some() {
                return Err(InvalidSetting::new(
                    "privacy",
                    "a private run is not resumed: its accountant counts one run's steps",
                ));
            }
            if self.uniformity > 0.0 {
                return Err(InvalidSetting::new(
                    "uniformity",
                    "private training caches the targets, which carry no gradient",
                ));
            }
        }
        if (self.resume || self.stop_after.is_some()) && self.checkpoint_dir.is_none() {
            return Err(InvalidSetting::new(
                "checkpoint_dir",
                "resume and stop_after need a checkpoint directory",
            ));
        }
        Ok(())
    }

    /// Whether a run with these settings continues one written with `other`: all must agree
    /// but `resume` and `stop_after`, which only say how each invocation runs.
    pub(super) fn same_run(&self, other: &TrainParams) -> bool {
        *self
            == TrainParams {
                resume: self.resume,
                stop_after: self.stop_after,
                ..other.clone()
            }
    }
}
