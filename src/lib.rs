//! affinity: product association analysis on e-commerce data.
//!
//! This crate is the facade: it re-exports the workspace's crates under one name, and builds
//! the `affinity` command line. Each part is a crate of its own, usable alone:
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`data`] | affinity-data | ids, events, item text, loaders, k-core, splits, metrics |
//! | [`mine`] | affinity-mine | frequent, closed and maximal itemsets; association rules |
//! | [`rank`], [`ranker`] | affinity-rank | exact top-k, blending, MMR, baselines; the [`Ranker`](ranker::Ranker) and [`Scorer`](ranker::Scorer) traits |
//! | [`tune`] | affinity-tune | BERT on libtorch: encoding, fine-tuning, the sequential model (`model` feature) |
//! | [`pipeline`], [`bundle`], [`fusion`], [`report`], [`model`] | affinity-recommend | the fitted recommender, bundles, score fusion, evaluation reports |
//! | [`serve`] | affinity-serve | the HTTP server (`serve` feature) |
//! | [`InvalidSetting`], [`Progress`], [`files`] | affinity-core | what every crate shares |
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `model` | on | the language model on libtorch: [`tune`](crate#features), the encoder inside recommenders and bundles, search, fine-tuning, cached user vectors |
//! | `cli` | on | the `affinity` binary (`data` and `mine` without libtorch; hands the rest on) and `affinity-model` (every command), and `serve` |
//! | `serve` | with `cli` | [`serve`]: real-time recommendations over HTTP |
//! | `jemalloc` | off | jemalloc as the binary's malloc, for long-running servers |
//! | `doc-only` | off | documentation without libtorch (docs.rs) |
//!
//! A library user who wants no binary writes `default-features = false, features =
//! ["model"]` and compiles no clap, tokio, axum or progress bars. Without `model` nothing
//! links or loads libtorch, and everything else is there: data, mining, rules, co-occurrence
//! and popularity rankers, the rules + popularity hybrid, evaluation, reports, serving, and
//! bundles (an encoder in one is left unread). [`model::AVAILABLE`] says which build this is.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use affinity_core::{files, InvalidSetting, Progress, WriteError};
pub use affinity_data as data;
pub use affinity_mine as mine;
pub use affinity_rank as rank;
pub use affinity_rank::ranker;
pub use affinity_recommend::{bundle, fusion, model, pipeline, report};
#[cfg(feature = "serve")]
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub use affinity_serve as serve;
#[cfg(feature = "model")]
#[cfg_attr(docsrs, doc(cfg(feature = "model")))]
pub use affinity_tune as tune;

/// The README's Rust examples, compiled (and those not marked `no_run` run) as doctests, so
/// that they keep up with the code.
#[cfg(all(doctest, feature = "model"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
