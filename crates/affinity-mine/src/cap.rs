//! The cap on itemsets reported (`max_itemsets`), shared by every miner and by the threads of
//! one run.

use crate::error::{MineError, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// Itemsets reported so far against the cap; without a cap, against `u64::MAX`, so that a
/// count that cannot be represented is an error rather than a wrap.
pub(crate) struct Cap {
    limit: u64,
    emitted: AtomicU64,
}

impl Cap {
    pub fn new(limit: Option<u64>) -> Self {
        Cap {
            limit: limit.unwrap_or(u64::MAX),
            emitted: AtomicU64::new(0),
        }
    }

    /// Whether a cap was set (without one, only a count past `u64::MAX` fails).
    pub fn is_bounded(&self) -> bool {
        self.limit != u64::MAX
    }

    /// The error for a run that passes the cap.
    pub fn exceeded(&self) -> MineError {
        MineError::TooManyItemsets { limit: self.limit }
    }

    /// Counts `n` more itemsets; fails (counting none) when they would pass the cap.
    pub fn count(&self, n: u64) -> Result<()> {
        self.emitted
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                total.checked_add(n).filter(|&t| t <= self.limit)
            })
            .map(|_| ())
            .map_err(|_| self.exceeded())
    }

    /// Fails when `n` more itemsets would pass the cap, without counting them.
    pub fn check_room(&self, n: u64) -> Result<()> {
        match self.emitted.load(Ordering::Relaxed).checked_add(n) {
            Some(total) if total <= self.limit => Ok(()),
            _ => Err(self.exceeded()),
        }
    }

    /// Itemsets counted.
    pub fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }
}
