//! From raw events to evaluated recommendations that say why: load, split, mine rules,
//! fine-tune (or not), embed, rank with rule boosts and MMR, explain, evaluate.
//! Each step is a function of its own; [`Pipeline`] holds the settings they share.

mod config;
mod continual;
pub(crate) mod error;
mod evaluate;
mod fit;
pub(crate) mod fitted;
mod next_basket;
mod prepared;
mod recommender;
pub(crate) mod sequential;
mod trial;
mod update;

pub use config::{PipelineParams, ScoreWeights};
pub use continual::{ContinualParams, ContinualReport, GroupFigures};
pub use error::{PipelineError, Result};
pub use evaluate::{
    evaluate, evaluate_candidates, evaluate_observed, Candidates, EvalProtocol, EvalSet,
    MethodResult, RepeatExplore,
};
pub use fit::FitParams;
pub use fitted::Fitted;
pub use next_basket::{protocol_name, TifuTuning};
pub use prepared::{Pipeline, Prepared};
pub(crate) use recommender::HISTORY_BATCH;
pub use recommender::{
    Blend, Influence, RankingParams, Reason, Recommendation, Recommender, WordInfluence,
    INFLUENCE_ITEMS, INFLUENCE_WORDS,
};
pub use sequential::SequentialSummary;
pub use update::UpdateReport;
