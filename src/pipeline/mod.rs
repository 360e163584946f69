//! From raw events to evaluated recommendations that say why: load, split, mine rules,
//! fine-tune (or not), embed, rank with rule boosts and MMR, explain, evaluate.
//! Each step is a function of its own; [`Pipeline`] holds the settings they share.

mod config;
mod error;
mod evaluate;
mod prepared;
mod recommender;

pub use config::{PipelineConfig, ScoreWeights};
pub use error::{PipelineError, Result};
pub use evaluate::{evaluate, EvalProtocol, MethodResult, RankFn};
pub use prepared::{Pipeline, Prepared};
pub use recommender::{Reason, Recommendation, Recommender};
