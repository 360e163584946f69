//! Exact frequent-itemset and association-rule mining.
//!
//! - [`mine_itemsets`]: frequent, closed or maximal itemsets by FP-growth (default) or
//!   Apriori, streamed into an [`ItemsetSink`] (count only, collect, or write as text), on one
//!   thread or several with the same output.
//! - [`MinSupport::fraction`] turns a decimal fraction into a count exactly
//!   (`ceil(n * p / q)` in integers), so no itemset on the threshold is lost to rounding.
//! - [`generate_rules`]: rules with support, confidence, lift, leverage, conviction, Zhang's
//!   metric, Jaccard, certainty factor and Kulczynski; [`RuleIndex`] finds the rules a basket
//!   fires.
//! - [`private_itemsets`]: itemset counts released with (ε, δ)-differential privacy per
//!   shopper, for rules that give no one shopper away.
//!
//! ```
//! use affinity_mine::{mine_itemsets, Algorithm, MinSupport, MiningParams};
//! let baskets = vec![vec![0, 1], vec![0, 1, 2], vec![1, 2]];
//! let mut found = Vec::new();
//! let summary = mine_itemsets(&baskets, None, &MiningParams::new(MinSupport::fraction("0.6")?),
//!                             Algorithm::FpGrowth, &mut found)?;
//! assert_eq!(summary.min_count, 2);
//! assert_eq!(found.len(), 5); // {0} {1} {2} {0 1} {1 2}
//! # Ok::<(), affinity_mine::MineError>(())
//! ```

mod apriori;
mod cap;
mod closed;
mod database;
mod error;
mod fpgrowth;
mod mine;
mod parallel;
mod params;
mod private;
mod rules;
mod sink;

pub use affinity_core::{InvalidSetting, Progress, WriteError};
pub use error::{MineError, Result};
pub use mine::{mine_at_most, mine_group, mine_itemsets, Algorithm, BoundedMining, MiningSummary};
pub use params::{Duplicates, MinSupport, MiningParams, Target};
pub use private::{
    private_itemsets, shopper_itemsets, PrivateCountParams, PrivateCountsSpent, PrivateItemsets,
    MAX_PER_SHOPPER, MAX_PRIVATE_LEN,
};
pub use rules::{
    generate_rules, rule_shoppers, write_rules_csv, write_rules_json, Consequents, Rule, RuleIndex,
    RuleParams, MEASURE_COLUMNS, RULE_COLUMNS,
};
pub use sink::{
    parse_itemset_line, CountSink, Counted, Itemset, ItemsetFormat, ItemsetSink, ItemsetWriter,
    TextChunk,
};
