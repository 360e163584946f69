//! The one error type of this crate, and how each kind becomes a Python exception.

use affinity_core::InvalidSetting;
use affinity_mine::MineError;
use affinity_rank::RankError;
use pyo3::exceptions::{PyMemoryError, PyOSError, PyValueError};
use pyo3::PyErr;

pyo3::create_exception!(
    affinity,
    CapExceeded,
    PyMemoryError,
    "A cap (`max_itemsets`, `max_rules`) was reached: raise the minimum support, set a max length, or raise the cap."
);

/// What can go wrong between Python and the core crates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PyBindError {
    /// A setting is invalid; nothing was computed.
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
    /// An input is not of a type these bindings read.
    #[error("{argument}: {reason}")]
    BadInput {
        /// The argument.
        argument: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A row of an input holds a value that cannot be used.
    #[error("{argument} row {row}: {reason}")]
    BadRow {
        /// The argument.
        argument: &'static str,
        /// 0-based row (across all chunks).
        row: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An item is listed twice in one transaction and duplicates are rejected. Same message
    /// as [`MineError::DuplicateItem`], with the caller's item instead of the internal id.
    #[error("transaction {transaction} lists item {item} more than once")]
    DuplicateItem {
        /// 0-based index of the transaction.
        transaction: usize,
        /// The item, as the caller wrote it.
        item: String,
    },
    /// The miner failed.
    #[error(transparent)]
    Mine(#[from] MineError),
    /// The ranker failed.
    #[error(transparent)]
    Rank(#[from] RankError),
    /// An allocation the input asks for failed: raised as `MemoryError`, never an abort.
    #[error("ran out of memory {doing}: {advice}")]
    OutOfMemory {
        /// What the memory was for.
        doing: String,
        /// How to ask for less.
        advice: &'static str,
    },
    /// Building an Arrow array failed (an internal limit such as 32-bit offsets).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// Results of this crate.
pub type Result<T, E = PyBindError> = std::result::Result<T, E>;

impl From<PyBindError> for PyErr {
    fn from(error: PyBindError) -> PyErr {
        let message = error.to_string();
        match error {
            PyBindError::Mine(MineError::TooManyItemsets { .. })
            | PyBindError::Mine(MineError::TooManyRules { .. }) => CapExceeded::new_err(message),
            // The core's advice names the command line's flag: Python's keywords instead.
            PyBindError::Mine(MineError::OutOfMemory { what, held }) => {
                PyMemoryError::new_err(format!(
                    "ran out of memory holding {held} {what}: raise the minimum support, set \
                     max_len, or lower {}",
                    if what == "rules" {
                        "max_rules"
                    } else {
                        "max_itemsets"
                    }
                ))
            }
            PyBindError::OutOfMemory { .. } => PyMemoryError::new_err(message),
            PyBindError::Mine(MineError::Write(_)) => PyOSError::new_err(message),
            _ => PyValueError::new_err(message),
        }
    }
}

/// `len` copies of `value`, or [`PyBindError::OutOfMemory`] (never an abort) when that much
/// memory cannot be had; `doing` says what for.
pub fn filled<T: Clone>(
    len: Option<usize>,
    value: T,
    doing: impl FnOnce() -> String,
    advice: &'static str,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    match len {
        Some(len) if out.try_reserve_exact(len).is_ok() => {
            out.resize(len, value);
            Ok(out)
        }
        _ => Err(PyBindError::OutOfMemory {
            doing: doing(),
            advice,
        }),
    }
}
