//! affinity: product association analysis on e-commerce data.
//!
//! The facade re-exports the workspace crates and wires them into a pipeline
//! ([`pipeline`]).

pub mod bundle;
pub mod output;
pub mod pipeline;
pub mod ranker;
pub mod report;
pub mod serve;

pub use affinity_data as data;
pub use affinity_mine as mine;
pub use affinity_rank as rank;
pub use affinity_tune as tune;
