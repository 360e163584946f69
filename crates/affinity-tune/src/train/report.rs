//! What a training run reports: a record per epoch, the losses, why it stopped.

use affinity_core::Progress;
use serde::{Deserialize, Serialize};

use crate::head::ClassifierHead;

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
    /// The privacy the run spent, when it was trained with DP-SGD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<crate::PrivacySpent>,
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

/// serde_json writes NaN as `null`; read it back as NaN.
pub(crate) fn nan_from_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl std::fmt::Display for EpochRecord {
    /// The line a progress report notes after each epoch: every figure of the record.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "epoch {}: loss {:.4}, validation NDCG@10 {:.4}, Recall@10 {:.4}, prior weight {:.4} \
             ({:.1} s, {:.1} examples/s, {:.1} s encoding targets)",
            self.epoch,
            self.train_loss,
            self.ndcg10,
            self.recall10,
            self.prior_weight,
            self.seconds,
            self.examples_per_second,
            self.target_seconds
        )
    }
}

/// Tells `progress` that batch `(batch, batches)` of `epoch` is done: one unit, and a status
/// with the epoch's mean loss so far and its examples per second.
pub(crate) fn batch_done(
    progress: &dyn Progress,
    epoch: usize,
    (batch, batches): (usize, usize),
    mean_loss: f64,
    examples_per_second: f64,
) {
    progress.advance(1);
    progress.status(&format!(
        "epoch {epoch} batch {batch}/{batches}: loss {mean_loss:.4}, {examples_per_second:.1} examples/s"
    ));
}
