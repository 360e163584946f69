//! Exact top-k similarity ranking with exclusions, score blending and MMR. No libtorch.
//!
//! - [`ItemIndex`]: exact top-k by inner product or cosine over an `ndarray` item matrix, one
//!   query or blocked batches, with per-query exclusions applied during selection, and item to
//!   item similarity.
//! - [`blend`]: a weighted sum of normalised score sources (embedding, rules, popularity).
//! - [`mmr`]: maximal marginal relevance re-ranking for diversity.
//! - [`MostPopular`] and [`ItemCooccurrence`]: the baselines every method is compared with,
//!   and [`ItemTransitions`], their order-aware sibling for sequential data.
//! - [`RepeatModel`]: what a shopper buys again (time-decayed personal frequency, repurchase
//!   intervals, repeat rates), and the next-basket baselines [`PersonalTopFreq`] and
//!   [`TifuKnn`], which read a shopper's baskets ([`BasketHistory`]).
//! - [`int8`]: linear layers in 8-bit integers (the encoder's `--quantize int8`), on the same
//!   instruction sets as the kernels here.
//! - [`top_k`]: the one bounded selection all of them (and the whole workspace) rank through.
//! - [`Ranker`] and [`Scorer`]: the interfaces every method implements (the baselines here,
//!   the models and the hybrid recommender in their own crates).
//!
//! Ties are broken by the lower item id everywhere, so results are deterministic.

mod baselines;
mod calibration;
mod coded;
mod error;
mod index;
pub mod int8;
mod kernel;
mod next_basket;
pub mod ranker;
mod repeat;
mod rerank;
mod topk;
mod transitions;

pub use affinity_core::InvalidSetting;
pub use baselines::{CooccurrenceCounts, CooccurrenceWeight, ItemCooccurrence, MostPopular};
pub use calibration::{calibrate, PopularityGroups};
pub use error::{RankError, Result};
pub use index::{ItemIndex, Metric};
pub use kernel::{inner_product, kernels};
pub use next_basket::{PersonalTopFreq, TifuKnn, TifuParams};
pub use ranker::{exclusions, rank_each, rank_scores, score_rows, Named, Ranker, Scorer};
pub use repeat::{
    decayed_frequency, repeat_share, BasketHistory, DecayParams, RepeatModel, RepeatParams,
    RepeatSignal,
};
pub use rerank::{blend, mmr, normalize, weighted_sum, Normalization, Source};
pub use topk::{top_k, Scored};
pub use transitions::{ItemTransitions, TransitionParams};
