//! The one error type of this crate.

use affinity_core::{InvalidSetting, WriteError};

/// What can go wrong while mining.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MineError {
    /// A setting is invalid; nothing was mined.
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
    /// A transaction lists an item twice and duplicates are rejected.
    #[error("transaction {transaction} lists item {item} more than once")]
    DuplicateItem {
        /// 0-based index of the transaction.
        transaction: usize,
        /// The item.
        item: u32,
    },
    /// More itemsets than the configured cap.
    #[error(
        "more than {limit} itemsets: raise the minimum support, set a max length, or raise the cap"
    )]
    TooManyItemsets {
        /// The cap.
        limit: u64,
    },
    /// More rules than the configured cap.
    #[error(
        "more than {limit} rules: raise the minimum support or confidence, set a max length, or raise the cap"
    )]
    TooManyRules {
        /// The cap.
        limit: u64,
    },
    /// Memory ran out while holding what was found (an allocation failed: the address space
    /// or the machine is smaller than the cap allows); nothing was written.
    #[error(
        "ran out of memory holding {held} {what}: raise the minimum support, set a max length, or lower the cap (--max-itemsets)"
    )]
    OutOfMemory {
        /// What was being held: "itemsets" or "rules".
        what: &'static str,
        /// How many were held when it ran out.
        held: usize,
    },
    /// Writing the output failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = MineError> = std::result::Result<T, E>;
