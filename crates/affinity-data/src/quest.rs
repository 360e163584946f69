//! Synthetic transactions in the style of IBM's Quest generator (Agrawal & Srikant, "Fast
//! Algorithms for Mining Association Rules", VLDB 1994, section 2.4.3), the generator behind
//! the classic T10I4D100K-style data sets.
//!
//! The model: shoppers buy *potentially large itemsets* ("patterns") together.
//! - There are `patterns` patterns (the paper's |L|, 2000 in its experiments). A pattern's
//!   size is Poisson with mean `pattern_len` (|I|, at least 1). Its items are drawn uniformly
//!   from the `items` items (N), except that a fraction of them is taken from the previous
//!   pattern: the fraction is exponential with mean `correlation` (0.5 in the paper), so that
//!   patterns share items as real ones do.
//! - Each pattern has a weight, exponential with mean 1, normalised to sum to 1: the
//!   probability that a transaction picks it.
//! - Each pattern has a corruption level, normal with mean `corruption_mean` (0.5) and
//!   variance 0.1, clamped to [0, 1): when the pattern goes into a transaction, items are
//!   dropped from it one at a time as long as a uniform number in [0, 1) is below the level.
//! - A transaction's size is Poisson with mean `avg_len` (|T|, at least 1). It is filled with
//!   patterns picked by weight; a pattern that does not fit is put in anyway in half the
//!   cases and kept for the next transaction in the others.
//!
//! Items in a transaction are distinct and ascending; ids run from 0 to `items - 1`. The same
//! parameters and seed give the same transactions on every machine (the generator is
//! [`XorShift`]); memory is the patterns only, whatever the number of transactions.
//!
//! ```
//! use affinity_data::quest::{QuestGenerator, QuestParams};
//! let params = QuestParams { transactions: 1000, ..QuestParams::default() };
//! let baskets: Vec<Vec<u32>> = QuestGenerator::new(&params).unwrap().collect();
//! assert_eq!(baskets.len(), 1000);
//! assert!(baskets.iter().all(|b| b.windows(2).all(|w| w[0] < w[1])));
//! ```

use crate::error::Result;
use crate::synthetic::XorShift;
use affinity_core::InvalidSetting;

/// The parameters of the generator (named as in the paper: |D|, N, |T|, |I|, |L|).
#[derive(Debug, Clone, PartialEq)]
pub struct QuestParams {
    /// Transactions to generate (|D|).
    pub transactions: u64,
    /// Distinct items (N); ids are `0..items`.
    pub items: u32,
    /// Mean transaction size (|T|).
    pub avg_len: f64,
    /// Mean size of the potentially large itemsets (|I|).
    pub pattern_len: f64,
    /// How many potentially large itemsets (|L|).
    pub patterns: u32,
    /// Mean fraction of a pattern's items taken from the previous pattern.
    pub correlation: f64,
    /// Mean corruption level of a pattern (its variance is 0.1).
    pub corruption_mean: f64,
    /// The seed: the same seed, the same transactions.
    pub seed: u64,
}

impl Default for QuestParams {
    /// T10I4D100K with N = 1000 and |L| = 2000, the paper's setting.
    fn default() -> Self {
        QuestParams {
            transactions: 100_000,
            items: 1000,
            avg_len: 10.0,
            pattern_len: 4.0,
            patterns: 2000,
            correlation: 0.5,
            corruption_mean: 0.5,
            seed: 1,
        }
    }
}

/// The largest mean accepted for a Poisson draw (sampled by multiplication: `exp(-mean)` must
/// stay a normal `f64`, and the cost grows with the mean).
const MAX_MEAN: f64 = 500.0;
/// Variance of the corruption level, as in the paper.
const CORRUPTION_VARIANCE: f64 = 0.1;

impl QuestParams {
    /// The first invalid setting.
    ///
    /// ```
    /// use affinity_data::quest::QuestParams;
    /// assert!(QuestParams::default().check().is_ok());
    /// assert!(QuestParams { avg_len: 0.0, ..QuestParams::default() }.check().is_err());
    /// ```
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        let invalid = |name, reason: String| Err(InvalidSetting::new(name, reason));
        if self.transactions == 0 {
            return invalid("transactions", "must be at least 1".into());
        }
        if self.items == 0 || self.items > i32::MAX as u32 {
            return invalid(
                "items",
                format!("must be in 1..={} (ids are int32 in Parquet)", i32::MAX),
            );
        }
        for (name, mean) in [("avg_len", self.avg_len), ("pattern_len", self.pattern_len)] {
            if !(mean > 0.0 && mean <= MAX_MEAN) {
                return invalid(name, format!("must be in (0, {MAX_MEAN}], got {mean}"));
            }
            if mean > f64::from(self.items) / 2.0 {
                return invalid(
                    name,
                    format!(
                        "{mean} is more than half of the {} items: transactions of distinct \
                         items could not reach it",
                        self.items
                    ),
                );
            }
        }
        if self.patterns == 0 || self.patterns > 10_000_000 {
            return invalid("patterns", "must be in 1..=10000000".into());
        }
        if !(0.0..=1.0).contains(&self.correlation) {
            return invalid(
                "correlation",
                format!("must be in [0, 1], got {}", self.correlation),
            );
        }
        if !(0.0..1.0).contains(&self.corruption_mean) {
            return invalid(
                "corruption_mean",
                format!("must be in [0, 1), got {}", self.corruption_mean),
            );
        }
        Ok(())
    }
}

/// One potentially large itemset.
struct Pattern {
    items: Vec<u32>,
    corruption: f64,
}

/// Streams the transactions of [`QuestParams`], one at a time.
pub struct QuestGenerator {
    rng: XorShift,
    patterns: Vec<Pattern>,
    /// Cumulative weights, the last one 1.
    cumulative: Vec<f64>,
    avg_len: f64,
    left: u64,
    /// A pattern that did not fit in the previous transaction.
    carried: Option<usize>,
    /// `stamp[item] == serial` when the item is in the transaction being built.
    stamp: Vec<u64>,
    serial: u64,
    picked: Vec<u32>,
}

impl QuestGenerator {
    /// Checks `params` and draws the patterns.
    pub fn new(params: &QuestParams) -> Result<Self> {
        params.check()?;
        let mut rng = XorShift::new(params.seed ^ 0x9e37_79b9_7f4a_7c15);
        let n = params.items;
        let mut patterns: Vec<Pattern> = Vec::with_capacity(params.patterns as usize);
        let mut stamp = vec![0u64; n as usize];
        for serial in 1..=u64::from(params.patterns) {
            let size = poisson(&mut rng, params.pattern_len).clamp(1, n as usize);
            let mut items = Vec::with_capacity(size);
            if let Some(previous) = patterns.last() {
                let fraction = (exponential(&mut rng) * params.correlation).min(1.0);
                let shared = ((fraction * size as f64).round() as usize).min(previous.items.len());
                // A random `shared` of the previous pattern's items (partial Fisher-Yates).
                let mut from = previous.items.clone();
                for i in 0..shared {
                    let j = i + rng.below((from.len() - i) as u64) as usize;
                    from.swap(i, j);
                    stamp[from[i] as usize] = serial;
                    items.push(from[i]);
                }
            }
            while items.len() < size {
                let item = rng.below(u64::from(n)) as u32;
                if stamp[item as usize] != serial {
                    stamp[item as usize] = serial;
                    items.push(item);
                }
            }
            let corruption = (params.corruption_mean
                + CORRUPTION_VARIANCE.sqrt() * normal(&mut rng))
            .clamp(0.0, 1.0 - f64::EPSILON);
            patterns.push(Pattern { items, corruption });
        }
        let weights: Vec<f64> = (0..params.patterns)
            .map(|_| exponential(&mut rng))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                sum += w / total;
                sum
            })
            .collect();
        stamp.fill(0);
        Ok(QuestGenerator {
            rng,
            patterns,
            cumulative,
            avg_len: params.avg_len,
            left: params.transactions,
            carried: None,
            stamp,
            serial: 0,
            picked: Vec::new(),
        })
    }

    /// Transactions still to come.
    pub fn remaining(&self) -> u64 {
        self.left
    }

    /// Writes the next transaction into `out` (cleared first); `false` after the last one.
    pub fn next_into(&mut self, out: &mut Vec<u32>) -> bool {
        out.clear();
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        self.serial += 1;
        let target = poisson(&mut self.rng, self.avg_len).max(1);
        // Enough tries for any sensible setting; a bound so that no setting loops forever.
        let mut tries = 16 + 8 * target;
        while out.len() < target && tries > 0 {
            tries -= 1;
            let index = match self.carried.take() {
                Some(index) => index,
                None => self.pick(),
            };
            self.corrupted(index);
            let new = self
                .picked
                .iter()
                .filter(|&&i| self.stamp[i as usize] != self.serial)
                .count();
            if out.len() + new > target && !out.is_empty() && self.rng.below(2) == 0 {
                self.carried = Some(index);
                break;
            }
            for &item in &self.picked {
                if self.stamp[item as usize] != self.serial {
                    self.stamp[item as usize] = self.serial;
                    out.push(item);
                }
            }
        }
        out.sort_unstable();
        true
    }

    /// A pattern by weight.
    fn pick(&mut self) -> usize {
        let u = self.rng.uniform();
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.patterns.len() - 1)
    }

    /// The items of pattern `index` left after corruption, into `self.picked`.
    fn corrupted(&mut self, index: usize) {
        let pattern = &self.patterns[index];
        self.picked.clear();
        self.picked.extend_from_slice(&pattern.items);
        while !self.picked.is_empty() && self.rng.uniform() < pattern.corruption {
            let drop = self.rng.below(self.picked.len() as u64) as usize;
            self.picked.swap_remove(drop);
        }
    }
}

impl Iterator for QuestGenerator {
    type Item = Vec<u32>;

    fn next(&mut self) -> Option<Vec<u32>> {
        let mut out = Vec::new();
        self.next_into(&mut out).then_some(out)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

/// Poisson with mean `mean` (at most [`MAX_MEAN`]), by Knuth's multiplication method.
fn poisson(rng: &mut XorShift, mean: f64) -> usize {
    // Split large means: a sum of Poissons is Poisson, and exp(-mean) stays well away from 0.
    let mut left = mean;
    let mut count = 0;
    while left > 0.0 {
        let part = left.min(30.0);
        left -= part;
        let limit = (-part).exp();
        let mut product = rng.uniform();
        while product > limit {
            count += 1;
            product *= rng.uniform();
        }
    }
    count
}

/// Exponential with mean 1.
fn exponential(rng: &mut XorShift) -> f64 {
    -(1.0 - rng.uniform()).ln()
}

/// Standard normal (Box-Muller).
fn normal(rng: &mut XorShift) -> f64 {
    let (u, v) = (1.0 - rng.uniform(), rng.uniform());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_their_means() {
        let mut rng = XorShift::new(3);
        let n = 200_000;
        for mean in [0.5, 4.0, 10.0, 75.0] {
            let got = (0..n).map(|_| poisson(&mut rng, mean)).sum::<usize>() as f64 / n as f64;
            assert!((got / mean - 1.0).abs() < 0.02, "poisson {mean}: {got}");
        }
        let got = (0..n).map(|_| exponential(&mut rng)).sum::<f64>() / n as f64;
        assert!((got - 1.0).abs() < 0.02, "exponential: {got}");
        let draws: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
    }

    #[test]
    fn patterns_share_items_with_the_previous_one() {
        let params = QuestParams {
            patterns: 400,
            ..QuestParams::default()
        };
        let generator = QuestGenerator::new(&params).unwrap();
        let shared: usize = generator
            .patterns
            .windows(2)
            .map(|w| w[1].items.iter().filter(|i| w[0].items.contains(i)).count())
            .sum();
        let total: usize = generator.patterns.iter().map(|p| p.items.len()).sum();
        // About `correlation` of the items come from the previous pattern (by chance alone,
        // 4 of 1000 items would be shared a few times in a thousand).
        let fraction = shared as f64 / total as f64;
        assert!((0.25..0.6).contains(&fraction), "{fraction}");
        let mean_len = total as f64 / 400.0;
        assert!((3.6..4.6).contains(&mean_len), "{mean_len}");
    }
}
