//! affinity: product association analysis on e-commerce data.
//!
//! The facade re-exports the workspace crates and wires them into a pipeline
//! ([`pipeline`]).
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `model` | on | the language model on libtorch: [`tune`](crate#features) (affinity-tune), the encoder inside recommenders and bundles, search, fine-tuning, cached user vectors |
//!
//! Without `model` nothing links or loads libtorch, and everything else is there: data,
//! mining, rules, co-occurrence and popularity rankers, the rules + popularity hybrid,
//! evaluation, reports, serving, and bundles (an encoder in one is left unread).
//! [`model::AVAILABLE`] says which build this is.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bundle;
pub mod fusion;
pub mod model;
/// Output files written atomically (affinity-cli's, shared with the `affinity-lite` binary).
pub use affinity_cli::output;
/// Progress bars on long steps, off unless turned on (the `affinity` binary does).
pub use affinity_cli::progress;
pub mod pipeline;
pub mod ranker;
pub mod report;
pub mod serve;

pub use affinity_data as data;
pub use affinity_mine as mine;
pub use affinity_rank as rank;
#[cfg(feature = "model")]
#[cfg_attr(docsrs, doc(cfg(feature = "model")))]
pub use affinity_tune as tune;
