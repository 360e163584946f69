//! Checked mining parameters: invalid settings fail before any work starts.

use crate::error::Result;
use affinity_core::InvalidSetting;

/// Minimum support, as an absolute count or as an exact decimal fraction of the transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinSupport {
    /// At least this many transactions (weighted).
    Count(u64),
    /// At least `numerator / denominator` of the (weighted) transactions, rounded up exactly.
    Fraction {
        /// Numerator.
        numerator: u64,
        /// Denominator (a power of ten when parsed from a decimal).
        denominator: u64,
    },
}

impl MinSupport {
    /// Parses a decimal fraction in (0, 1] exactly, e.g. `"0.001"`.
    ///
    /// ```
    /// use affinity_mine::MinSupport;
    /// let s = MinSupport::fraction("0.001").unwrap();
    /// assert_eq!(s.min_count(88_162), 89);
    /// assert!(MinSupport::fraction("1.5").is_err());
    /// ```
    pub fn fraction(text: &str) -> Result<Self> {
        let bad =
            |reason: &str| InvalidSetting::new("min_support", format!("{text:?}: {reason}")).into();
        let text = text.trim();
        let (mantissa, exponent) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().map_err(|_| bad("bad exponent"))?),
            None => (text, 0),
        };
        let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole
                .bytes()
                .chain(frac.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(bad("not a decimal number"));
        }
        let digits = format!("{whole}{frac}");
        let digits = digits.trim_start_matches('0');
        let scale = frac.len() as i32 - exponent;
        let numerator: u128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| bad("too many digits"))?
        };
        let (mut numerator, mut denominator) = if scale >= 0 {
            let den = 10u128
                .checked_pow(scale as u32)
                .ok_or_else(|| bad("too many digits"))?;
            (numerator, den)
        } else {
            let factor = 10u128
                .checked_pow((-scale) as u32)
                .ok_or_else(|| bad("too large"))?;
            (numerator.saturating_mul(factor), 1)
        };
        if numerator == 0 || numerator > denominator {
            return Err(bad("must be in (0, 1]"));
        }
        while numerator % 10 == 0 && denominator % 10 == 0 {
            numerator /= 10;
            denominator /= 10;
        }
        let numerator = u64::try_from(numerator).map_err(|_| bad("too many digits"))?;
        let denominator = u64::try_from(denominator).map_err(|_| bad("too many digits"))?;
        Ok(MinSupport::Fraction {
            numerator,
            denominator,
        })
    }

    /// A fraction from an `f64`, read through its shortest decimal form (`0.1` is exactly
    /// one tenth, not the binary double nearest to it).
    pub fn from_f64(fraction: f64) -> Result<Self> {
        if !fraction.is_finite() {
            return Err(
                InvalidSetting::new("min_support", format!("{fraction} is not finite")).into(),
            );
        }
        Self::fraction(&format!("{fraction:?}"))
    }

    /// The minimum count over `total` (weighted) transactions: `ceil(total * fraction)` in
    /// integer arithmetic, and never below 1.
    pub fn min_count(&self, total: u64) -> u64 {
        match *self {
            MinSupport::Count(c) => c.max(1),
            MinSupport::Fraction {
                numerator,
                denominator,
            } => {
                let product = u128::from(total) * u128::from(numerator);
                let count = product.div_ceil(u128::from(denominator));
                (count as u64).max(1)
            }
        }
    }
}

/// Which itemsets to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// Every frequent itemset.
    #[default]
    Frequent,
    /// Frequent itemsets with no superset of equal support.
    Closed,
    /// Frequent itemsets with no frequent superset.
    Maximal,
}

/// What to do with an item listed twice in one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duplicates {
    /// Count it once (arules, mlxtend, pyfim).
    #[default]
    Merge,
    /// Fail with [`MineError::DuplicateItem`](crate::MineError::DuplicateItem) (as Spark does).
    Reject,
}

/// Mining settings. Build with [`MiningParams::new`] and the setters; [`MiningParams::check`]
/// runs when mining starts.
///
/// ```
/// use affinity_mine::{MiningParams, MinSupport, Target};
/// let params = MiningParams::new(MinSupport::Count(2)).target(Target::Closed).max_len(3).threads(2);
/// assert!(params.check().is_ok());
/// assert!(MiningParams::new(MinSupport::Count(2)).max_len(0).check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiningParams {
    /// Minimum support.
    pub min_support: MinSupport,
    /// Which itemsets.
    pub target: Target,
    /// Longest itemset reported (`None`: no limit).
    pub max_len: Option<usize>,
    /// Worker threads (1: the calling thread only).
    pub threads: usize,
    /// Duplicate items in a transaction.
    pub duplicates: Duplicates,
    /// Stop with an error after this many itemsets (`None`: no cap).
    pub max_itemsets: Option<u64>,
}

impl MiningParams {
    /// Frequent itemsets at `min_support`, any length, one thread, duplicates merged, no cap.
    pub fn new(min_support: MinSupport) -> Self {
        MiningParams {
            min_support,
            target: Target::Frequent,
            max_len: None,
            threads: 1,
            duplicates: Duplicates::Merge,
            max_itemsets: None,
        }
    }

    /// Sets the target.
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// Sets the longest itemset.
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = Some(max_len);
        self
    }

    /// Sets the thread count.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Sets the duplicate policy.
    pub fn duplicates(mut self, duplicates: Duplicates) -> Self {
        self.duplicates = duplicates;
        self
    }

    /// Sets the cap on the number of itemsets.
    pub fn max_itemsets(mut self, max_itemsets: u64) -> Self {
        self.max_itemsets = Some(max_itemsets);
        self
    }

    /// Fails on settings that cannot work.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let invalid = |name, reason: &str| Err(InvalidSetting::new(name, reason));
        match self.min_support {
            MinSupport::Count(0) => return invalid("min_support", "a count must be at least 1"),
            MinSupport::Fraction {
                numerator,
                denominator,
            } if numerator == 0 || numerator > denominator || denominator == 0 => {
                return invalid("min_support", "a fraction must be in (0, 1]")
            }
            _ => {}
        }
        if self.max_len == Some(0) {
            return invalid("max_len", "must be at least 1");
        }
        if self.threads == 0 {
            return invalid("threads", "must be at least 1");
        }
        if self.max_itemsets == Some(0) {
            return invalid("max_itemsets", "must be at least 1");
        }
        Ok(())
    }
}
