//! Rules from frequent itemsets, with the settings that filter them.

use std::collections::{HashMap, HashSet};

use affinity_core::InvalidSetting;

use super::Rule;
use crate::error::{MineError, Result};
use crate::sink::Itemset;

/// Which consequents to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consequents {
    /// One item (Spark, arules' default).
    #[default]
    Single,
    /// Any non-empty proper subset (mlxtend).
    Any,
}

/// Rule settings; checked before any rule is made.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleParams {
    /// Keep rules with at least this confidence, in [0, 1].
    pub min_confidence: f64,
    /// Keep rules with at least this lift (when set, > 0).
    pub min_lift: Option<f64>,
    /// Consequent size.
    pub consequents: Consequents,
    /// Items that may only appear in antecedents.
    pub antecedent_only: Vec<u32>,
    /// Items that may only appear in consequents.
    pub consequent_only: Vec<u32>,
    /// Drop rules with any item whose support is above this fraction (the shopping bag).
    pub max_item_support: Option<f64>,
    /// Stop with [`MineError::TooManyRules`](crate::MineError::TooManyRules) past this many rules (`None`: no cap).
    pub max_rules: Option<u64>,
}

impl RuleParams {
    /// Fails on settings that cannot work.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let invalid = |name, reason: String| Err(InvalidSetting::new(name, reason));
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return invalid(
                "min_confidence",
                format!("{} is outside [0, 1]", self.min_confidence),
            );
        }
        if let Some(lift) = self.min_lift {
            if !(lift.is_finite() && lift >= 0.0) {
                return invalid("min_lift", format!("{lift} must be a finite number >= 0"));
            }
        }
        if let Some(s) = self.max_item_support {
            if !(s > 0.0 && s <= 1.0) {
                return invalid("max_item_support", format!("{s} is outside (0, 1]"));
            }
        }
        if self.max_rules == Some(0) {
            return invalid("max_rules", "must be at least 1".into());
        }
        if let Some(both) = self
            .antecedent_only
            .iter()
            .find(|i| self.consequent_only.contains(i))
        {
            return invalid(
                "antecedent_only",
                format!("item {both} is also in consequent_only"),
            );
        }
        Ok(())
    }
}

/// Generates rules from `itemsets` (all frequent itemsets, as mined with target `Frequent`)
/// over `total` (weighted) transactions, sorted by confidence, then lift, descending.
///
/// ```
/// use affinity_mine::{generate_rules, mine_itemsets, Algorithm, MinSupport, MiningParams, RuleParams};
/// let tx = vec![vec![0, 1], vec![0, 1], vec![0], vec![2]];
/// let mut sets = Vec::new();
/// mine_itemsets(&tx, None, &MiningParams::new(MinSupport::Count(2)), Algorithm::FpGrowth, &mut sets).unwrap();
/// let rules = generate_rules(&sets, 4, &RuleParams { min_confidence: 0.9, ..Default::default() }).unwrap();
/// assert_eq!((rules[0].antecedent.clone(), rules[0].consequent.clone()), (vec![1], vec![0]));
/// assert_eq!(rules[0].confidence, 1.0);
/// ```
pub fn generate_rules(itemsets: &[Itemset], total: u64, params: &RuleParams) -> Result<Vec<Rule>> {
    params.check()?;
    if total == 0 {
        return Ok(Vec::new());
    }
    let out_of_memory = |what, held| MineError::OutOfMemory { what, held };
    // The index of every itemset's support: a slice and a count per entry, about twice over
    // for the table's room (a failed allocation would abort, so it is checked first).
    let index_bytes = itemsets.len() as u64 * 2 * (std::mem::size_of::<(&[u32], u64)>() as u64 + 1);
    if !affinity_core::memory::fits(index_bytes) {
        return Err(out_of_memory("itemsets", itemsets.len()));
    }
    let mut support: HashMap<&[u32], u64> = HashMap::new();
    support
        .try_reserve(itemsets.len())
        .map_err(|_| out_of_memory("itemsets", itemsets.len()))?;
    support.extend(itemsets.iter().map(|s| (s.items.as_slice(), s.support)));
    let ubiquitous: HashSet<u32> = match params.max_item_support {
        None => HashSet::new(),
        Some(limit) => itemsets
            .iter()
            .filter(|s| s.items.len() == 1 && s.support as f64 / total as f64 > limit)
            .map(|s| s.items[0])
            .collect(),
    };
    let antecedent_only: HashSet<u32> = params.antecedent_only.iter().copied().collect();
    let consequent_only: HashSet<u32> = params.consequent_only.iter().copied().collect();
    let lookup = |items: &[u32]| -> Result<u64> {
        support.get(items).copied().ok_or_else(|| {
            InvalidSetting::new(
                "itemsets",
                format!("subset {items:?} is missing: pass all frequent itemsets"),
            )
            .into()
        })
    };
    let mut rules = Vec::new();
    for set in itemsets.iter().filter(|s| s.items.len() >= 2) {
        if set.items.iter().any(|i| ubiquitous.contains(i)) {
            continue;
        }
        let n = set.items.len();
        let too_many = || MineError::TooManyRules {
            limit: params.max_rules.unwrap_or(u64::MAX),
        };
        // Consequents as bit masks over the set's items; a single item is any length.
        let splits: Box<dyn Iterator<Item = Split>> = match params.consequents {
            Consequents::Single => Box::new((0..n).map(Split::One)),
            // 2^n - 2 rules from one set: more than any cap, and than a mask can hold.
            Consequents::Any if n < 64 => Box::new((1..(1u64 << n) - 1).map(Split::Mask)),
            Consequents::Any => return Err(too_many()),
        };
        for split in splits {
            let (mut antecedent, mut consequent) = (Vec::new(), Vec::new());
            for (k, &item) in set.items.iter().enumerate() {
                let right = match split {
                    Split::One(one) => k == one,
                    Split::Mask(mask) => mask >> k & 1 == 1,
                };
                if right {
                    consequent.push(item);
                } else {
                    antecedent.push(item);
                }
            }
            if antecedent.iter().any(|i| consequent_only.contains(i))
                || consequent.iter().any(|i| antecedent_only.contains(i))
            {
                continue;
            }
            let counts = [lookup(&antecedent)?, lookup(&consequent)?, set.support];
            let rule = Rule::new(antecedent, consequent, counts, total);
            if rule.confidence >= params.min_confidence
                && params.min_lift.is_none_or(|l| rule.lift >= l)
            {
                if params
                    .max_rules
                    .is_some_and(|cap| rules.len() as u64 >= cap)
                {
                    return Err(too_many());
                }
                if rules.len() == rules.capacity() {
                    // Doubling: the vector and each rule's two item lists.
                    let each = std::mem::size_of::<Rule>() as u64 + 4 * n as u64 + 32;
                    let grown = (rules.capacity() as u64 * 2).max(4);
                    if !affinity_core::memory::fits(grown.saturating_mul(each)) {
                        return Err(out_of_memory("rules", rules.len()));
                    }
                }
                rules
                    .try_reserve(1)
                    .map_err(|_| out_of_memory("rules", rules.len()))?;
                rules.push(rule);
            }
        }
    }
    rules.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.lift.total_cmp(&a.lift))
            .then_with(|| a.antecedent.cmp(&b.antecedent))
            .then_with(|| a.consequent.cmp(&b.consequent))
    });
    Ok(rules)
}

/// Which items of a set form a rule's consequent.
#[derive(Clone, Copy)]
enum Split {
    One(usize),
    Mask(u64),
}
