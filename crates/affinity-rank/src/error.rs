//! The one error type of this crate.

use std::sync::Arc;

use affinity_core::InvalidSetting;

/// What can go wrong when building an index or ranking.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RankError {
    /// A vector has another width than the index.
    #[error("{what} has dimension {found}, the index has {expected}")]
    DimensionMismatch {
        /// Which input.
        what: &'static str,
        /// The index's width.
        expected: usize,
        /// The input's width.
        found: usize,
    },
    /// A vector holds NaN or an infinity.
    #[error("{what} row {row} holds a NaN or infinite value")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// The row.
        row: usize,
    },
    /// An item id is not in the index.
    #[error("item {item} is out of range (the index has {len} items)")]
    ItemOutOfRange {
        /// The id.
        item: u32,
        /// Items in the index.
        len: usize,
    },
    /// A setting is out of range; nothing was computed.
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
    /// A ranker failed for a reason of its own (a model that could not run): its error.
    #[error("{ranker} could not rank: {source}")]
    Failed {
        /// The ranker's name.
        ranker: String,
        /// What went wrong.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

impl RankError {
    /// `ranker` failed with `error` (an error of the ranker's own crate).
    pub fn failed(
        ranker: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        RankError::Failed {
            ranker: ranker.into(),
            source: Arc::new(error),
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, RankError>;
