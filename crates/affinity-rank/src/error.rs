//! The one error type of this crate.

/// What can go wrong when building an index or ranking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
    #[error("invalid setting {name}: {reason}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, RankError>;
