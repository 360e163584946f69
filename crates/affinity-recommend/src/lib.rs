//! Fitted product recommenders: from events to ranked recommendations that say why.
//!
//! - [`pipeline`]: the steps (split, mine rules, fit, tune on validation, evaluate) and the
//!   fitted [`Recommender`](pipeline::Recommender): rules, co-occurrence, popularity and the
//!   language model blended, re-ranked with MMR, with reasons.
//! - [`bundle`]: a fitted recommender on disk, every file checked when read.
//! - [`fusion`]: several scorers' normalised scores added with weights chosen on validation.
//! - [`report`]: an evaluation as Markdown with charts.
//! - [`model`]: the language model as this crate sees it (the `model` feature).
//!
//! Long steps report to an [`affinity_core::Progress`] given to
//! [`Pipeline::with_progress`](pipeline::Pipeline::with_progress); nothing is drawn here.
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `model` | on | the language model on libtorch (affinity-tune): the encoder inside recommenders and bundles, search, fine-tuning, cached user vectors |
//! | `doc-only` | off | documentation without libtorch (docs.rs) |
//!
//! Without `model` nothing links or loads libtorch, and everything else is there: rules,
//! co-occurrence and popularity rankers, the rules + popularity hybrid, evaluation, reports
//! and bundles (an encoder in one is left unread). [`model::AVAILABLE`] says which build
//! this is.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bundle;
pub mod fusion;
pub mod model;
pub mod pipeline;
pub mod report;
