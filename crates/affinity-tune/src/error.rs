//! The one error type of this crate.

use std::path::PathBuf;

use affinity_core::{InvalidSetting, WriteError};

/// What went wrong while loading, encoding or training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TuneError {
    /// A file could not be read.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `config.json` (or another JSON file) is not what we expect.
    #[error("{}: {detail}", path.display())]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The vocabulary could not be read.
    #[error("{}: tokenizer: {detail}", path.display())]
    Tokenizer {
        /// The vocabulary file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Tensors the model needs are absent from the checkpoint.
    #[error("{}: missing tensors: {}", path.display(), names.join(", "))]
    MissingTensors {
        /// The checkpoint.
        path: PathBuf,
        /// Model names of the absent tensors.
        names: Vec<String>,
    },
    /// A checkpoint tensor has another shape than the model's.
    #[error("{}: tensor {name} has shape {found:?}, the model expects {expected:?}", path.display())]
    ShapeMismatch {
        /// The checkpoint.
        path: PathBuf,
        /// The tensor's name in the checkpoint.
        name: String,
        /// The model's shape.
        expected: Vec<i64>,
        /// The checkpoint's shape.
        found: Vec<i64>,
    },
    /// Asked to resume, but the checkpoint directory holds no run to continue.
    #[error("{}: no checkpoint to resume from (train without --resume to start a run)", dir.display())]
    NothingToResume {
        /// The checkpoint directory.
        dir: PathBuf,
    },
    /// A setting is out of range; nothing was computed.
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
    /// A file or directory could not be written (nothing half-written is left).
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The loss became NaN or infinite; the last checkpoint on disk is intact.
    #[error("loss is {value} at epoch {epoch}, step {step}; training stopped (checkpoints on disk are untouched)")]
    NonFiniteLoss {
        /// Epoch, from 1.
        epoch: usize,
        /// Optimizer step within the run, from 1.
        step: usize,
        /// The loss.
        value: f64,
    },
    /// libtorch reported an error.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// A linear layer could not be coded or run in int8 ([`crate::Precision::Int8`]).
    #[error("int8 {layer}: {detail}")]
    Quantize {
        /// The layer (its Hugging Face module path).
        layer: String,
        /// What went wrong.
        detail: String,
    },
}

/// The value of a scalar `loss`; a NaN or infinite one is [`TuneError::NonFiniteLoss`]
/// naming the epoch and the optimizer step (from 1) it would have fed.
pub(crate) fn finite_loss(loss: &tch::Tensor, epoch: usize, step: usize) -> Result<f64> {
    let value = f64::try_from(loss)?;
    if !value.is_finite() {
        return Err(TuneError::NonFiniteLoss { epoch, step, value });
    }
    Ok(value)
}

impl TuneError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TuneError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, TuneError>;
