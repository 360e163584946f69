//! Pretrained BERT encoders on libtorch, fine-tuned on shoppers and products.
//!
//! - [`SentenceEncoder`] loads any Hugging Face BERT directory (all-MiniLM-L6-v2 by default)
//!   and embeds texts as sentence-transformers does (mean pooling, L2 normalisation).
//! - [`Trainer`] fine-tunes it: contrastive two-tower training on (history, next product) pairs,
//!   or a classification head over products or categories; LoRA optional. It reports how it
//!   goes to a [`Progress`] (the `affinity` binary draws bars; `()` is silent).

pub mod bench;
mod bert;
mod checkpoint;
mod config;
mod device;
mod encoder;
mod error;
mod export;
mod head;
mod int8;
mod layers;
mod optim;
mod private;
mod sequences;
mod sequential;
mod task;
mod tokenizer;
mod train;
mod weights;

pub use affinity_core::privacy::{PrivacyParams, PrivacySpent};
pub use affinity_core::{InvalidSetting, Progress};
pub use bert::BertModel;
pub use config::{BertConfig, Pooling};
pub use device::{cuda_available, load_cuda, DeviceChoice};
pub use encoder::{EncoderOptions, SentenceEncoder};
pub use error::{Result, TuneError};
pub use head::ClassifierHead;
pub use layers::{cpu_has_native_bf16, LoraParams, Precision};
pub use optim::LinearSchedule;
pub use sequences::{next_item_examples, next_item_queries, steps_by_user, SequenceParams, Steps};
pub use sequential::{SequenceSplit, SequentialParams, SequentialRecommender};
pub use task::{Example, HistoryText, Objective, TrainingTask, ValidationQuery};
/// The `tch` crate this one is built on, for callers that need tensors directly.
pub use tch;
pub use tokenizer::{random_batch, TokenBatch, WordPiece};
pub use train::{
    EpochRecord, Monitor, StopReason, TargetTower, TrainOutcome, TrainParams, TrainReport, Trainer,
};
pub use weights::WeightsReport;
