//! Settings as Python passes them (strings, signed integers), checked into the core crates'
//! types before any work starts.

use affinity_core::InvalidSetting;
use affinity_mine::{Duplicates, MinSupport, MiningParams, Target};
use affinity_rank::Metric;

use crate::error::Result;

/// The cap on the itemsets `affinity.mine` holds unless told otherwise: the command line's
/// cap on the itemsets it holds for rules. Ten million itemsets take a few hundred megabytes
/// as Arrow columns; past them a run is usually a support set too low, which would otherwise
/// end the process when memory runs out.
pub const DEFAULT_MAX_ITEMSETS: u64 = 10_000_000;

/// `k` of a top-k search over `items` items: from 0 to `items`. Rows are padded where
/// exclusions leave fewer than `k` items; a `k` above the catalogue would only add columns
/// that are padding in every row (and a huge one an allocation that cannot be had).
pub fn top_k(k: i64, items: usize) -> Result<usize> {
    let k = non_negative("k", k)?;
    match usize::try_from(k) {
        Ok(k) if k <= items => Ok(k),
        _ => Err(InvalidSetting::new(
            "k",
            format!("{k} is more than the {items} items of the index"),
        )
        .into()),
    }
}

/// An integer setting that must be at least 1.
pub fn at_least_one(name: &'static str, value: i64) -> Result<u64> {
    u64::try_from(value)
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| InvalidSetting::new(name, format!("{value} must be at least 1")).into())
}

/// An integer setting that must be at least 0.
pub fn non_negative(name: &'static str, value: i64) -> Result<u64> {
    u64::try_from(value)
        .map_err(|_| InvalidSetting::new(name, format!("{value} must be at least 0")).into())
}

/// A count of threads: `None` is every core.
pub fn threads(value: Option<i64>) -> Result<usize> {
    match value {
        Some(t) => Ok(at_least_one("threads", t)? as usize),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// `min_support` (a decimal fraction, read exactly) or `min_count`: exactly one.
pub fn min_support(fraction: Option<&str>, count: Option<i64>) -> Result<MinSupport> {
    match (fraction, count) {
        (Some(text), None) => Ok(MinSupport::fraction(text)?),
        (None, Some(count)) => Ok(MinSupport::Count(at_least_one("min_count", count)?)),
        _ => Err(InvalidSetting::new(
            "min_support",
            "give exactly one of min_support (a fraction) and min_count",
        )
        .into()),
    }
}

/// `frequent`, `closed` or `maximal`.
pub fn target(name: &str) -> Result<Target> {
    match name {
        "frequent" => Ok(Target::Frequent),
        "closed" => Ok(Target::Closed),
        "maximal" => Ok(Target::Maximal),
        other => Err(InvalidSetting::new(
            "target",
            format!("{other:?} is not one of \"frequent\", \"closed\", \"maximal\""),
        )
        .into()),
    }
}

/// `merge` or `reject`.
pub fn duplicates(name: &str) -> Result<Duplicates> {
    match name {
        "merge" => Ok(Duplicates::Merge),
        "reject" => Ok(Duplicates::Reject),
        other => Err(InvalidSetting::new(
            "duplicates",
            format!("{other:?} is not one of \"merge\", \"reject\""),
        )
        .into()),
    }
}

/// `cosine` or `inner_product`.
pub fn metric(name: &str) -> Result<Metric> {
    match name {
        "cosine" => Ok(Metric::Cosine),
        "inner_product" | "dot" => Ok(Metric::InnerProduct),
        other => Err(InvalidSetting::new(
            "metric",
            format!("{other:?} is not one of \"cosine\", \"inner_product\""),
        )
        .into()),
    }
}

/// Mining settings of `affinity.mine`, checked.
#[derive(Debug, Clone)]
pub struct MineParams<'a> {
    /// A decimal fraction, e.g. `"0.07"`.
    pub min_support: Option<&'a str>,
    /// An absolute count.
    pub min_count: Option<i64>,
    /// Longest itemset.
    pub max_len: Option<i64>,
    /// `frequent`, `closed`, `maximal`.
    pub target: &'a str,
    /// Worker threads (`None`: every core).
    pub threads: Option<i64>,
    /// Cap on the itemsets.
    pub max_itemsets: Option<i64>,
    /// `merge` or `reject`.
    pub duplicates: &'a str,
}

impl MineParams<'_> {
    /// The core's parameters, checked.
    pub fn params(&self) -> Result<MiningParams> {
        let mut params = MiningParams::new(min_support(self.min_support, self.min_count)?)
            .target(target(self.target)?)
            .threads(threads(self.threads)?)
            .duplicates(duplicates(self.duplicates)?);
        if let Some(len) = self.max_len {
            params = params.max_len(at_least_one("max_len", len)? as usize);
        }
        if let Some(cap) = self.max_itemsets {
            params = params.max_itemsets(at_least_one("max_itemsets", cap)?);
        }
        params.check()?;
        Ok(params)
    }
}

/// `discover`, `mixed` or `buy-again`.
pub fn mode(name: &str) -> Result<crate::topk::Mode> {
    use crate::topk::Mode;
    match name {
        "discover" => Ok(Mode::Discover),
        "mixed" => Ok(Mode::Mixed),
        "buy-again" | "buy_again" => Ok(Mode::BuyAgain),
        other => Err(InvalidSetting::new(
            "mode",
            format!("{other:?} is not one of \"discover\", \"mixed\", \"buy-again\""),
        )
        .into()),
    }
}
