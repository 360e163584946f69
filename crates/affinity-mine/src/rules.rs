//! Association rules from frequent itemsets, their interest measures, filters, export, and an
//! index that finds the rules a basket fires.

use crate::error::{MineError, Result};
use crate::sink::Itemset;
use std::collections::{HashMap, HashSet};
use std::io::Write;

/// A rule `antecedent -> consequent` with its counts and measures.
///
/// `support` is the support of the whole rule (antecedent and consequent together), as arules,
/// mlxtend and Spark define it. Probabilities are over the (weighted) transactions.
///
/// In JSON an infinite conviction is `null` (JSON has no infinity) and reads back as infinity.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    /// Items on the left, ascending.
    pub antecedent: Vec<u32>,
    /// Items on the right, ascending.
    pub consequent: Vec<u32>,
    /// P(antecedent)
    pub antecedent_support: f64,
    /// P(consequent)
    pub consequent_support: f64,
    /// P(antecedent and consequent)
    pub support: f64,
    /// P(consequent | antecedent)
    pub confidence: f64,
    /// confidence / P(consequent)
    pub lift: f64,
    /// P(A and C) - P(A) P(C)
    pub leverage: f64,
    /// (1 - P(C)) / (1 - confidence); infinite when confidence is 1.
    #[serde(deserialize_with = "infinite_from_null")]
    pub conviction: f64,
    /// Zhang's metric in [-1, 1].
    pub zhangs_metric: f64,
    /// P(A and C) / P(A or C)
    pub jaccard: f64,
    /// Certainty factor: (confidence - P(C)) / (1 - P(C)) when positive, else / P(C).
    pub certainty: f64,
    /// Mean of P(C | A) and P(A | C).
    pub kulczynski: f64,
    /// Transactions (weighted) holding the whole rule.
    pub count: u64,
}

/// `null` (how serde_json writes a non-finite float) as +infinity.
fn infinite_from_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// The measure columns of columnar rule tables (Parquet, Arrow): Spark FPGrowth's three
/// (`confidence`, `lift`, `support`) first, then affinity's others; [`Rule::measures`] gives
/// the values in this order.
pub const MEASURE_COLUMNS: [&str; 11] = [
    "confidence",
    "lift",
    "support",
    "antecedent_support",
    "consequent_support",
    "leverage",
    "conviction",
    "zhangs_metric",
    "jaccard",
    "certainty",
    "kulczynski",
];

impl Rule {
    /// The measures in [`MEASURE_COLUMNS`] order.
    pub fn measures(&self) -> [f64; MEASURE_COLUMNS.len()] {
        [
            self.confidence,
            self.lift,
            self.support,
            self.antecedent_support,
            self.consequent_support,
            self.leverage,
            self.conviction,
            self.zhangs_metric,
            self.jaccard,
            self.certainty,
            self.kulczynski,
        ]
    }

    fn new(antecedent: Vec<u32>, consequent: Vec<u32>, counts: [u64; 3], total: u64) -> Self {
        let n = total as f64;
        let (pa, pc, pac) = (
            counts[0] as f64 / n,
            counts[1] as f64 / n,
            counts[2] as f64 / n,
        );
        let confidence = pac / pa;
        let leverage = pac - pa * pc;
        let zhang_denominator = (pac * (1.0 - pa)).max(pa * (pc - pac));
        Rule {
            antecedent,
            consequent,
            antecedent_support: pa,
            consequent_support: pc,
            support: pac,
            confidence,
            lift: confidence / pc,
            leverage,
            conviction: if confidence >= 1.0 {
                f64::INFINITY
            } else {
                (1.0 - pc) / (1.0 - confidence)
            },
            zhangs_metric: if zhang_denominator > 0.0 {
                leverage / zhang_denominator
            } else {
                0.0
            },
            jaccard: pac / (pa + pc - pac),
            certainty: if confidence > pc {
                (confidence - pc) / (1.0 - pc)
            } else if confidence < pc {
                (confidence - pc) / pc
            } else {
                0.0
            },
            kulczynski: 0.5 * (pac / pa + pac / pc),
            count: counts[2],
        }
    }
}

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
    /// Stop with [`MineError::TooManyRules`] past this many rules (`None`: no cap).
    pub max_rules: Option<u64>,
}

impl RuleParams {
    /// Fails on settings that cannot work.
    pub fn check(&self) -> Result<()> {
        let invalid = |name, reason: String| Err(MineError::InvalidSetting { name, reason });
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
    let support: HashMap<&[u32], u64> = itemsets
        .iter()
        .map(|s| (s.items.as_slice(), s.support))
        .collect();
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
        support
            .get(items)
            .copied()
            .ok_or_else(|| MineError::InvalidSetting {
                name: "itemsets",
                reason: format!("subset {items:?} is missing: pass all frequent itemsets"),
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

/// The mlxtend column names, in mlxtend's order (less `representativity`).
pub const RULE_COLUMNS: [&str; 13] = [
    "antecedents",
    "consequents",
    "antecedent support",
    "consequent support",
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
    "zhangs_metric",
    "jaccard",
    "certainty",
    "kulczynski",
];

fn item_names(items: &[u32], names: Option<&[String]>) -> Vec<String> {
    items
        .iter()
        .map(|&i| names.map_or_else(|| i.to_string(), |n| n[i as usize].clone()))
        .collect()
}

/// `text` as one CSV field, quoted when it holds a separator, a quote or a line break.
pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Writes rules as CSV with mlxtend's columns; item lists are JSON arrays (`["whole milk",
/// "rolls/buns"]`, then CSV-quoted), so that any name, commas and quotes included, reads back
/// exactly (`json.loads` in Python, `serde_json` in Rust).
pub fn write_rules_csv(
    out: &mut impl Write,
    rules: &[Rule],
    names: Option<&[String]>,
) -> Result<()> {
    writeln!(out, "{}", RULE_COLUMNS.join(","))?;
    for r in rules {
        let set = |items: &[u32]| {
            csv_field(&serde_json::to_string(&item_names(items, names)).expect("strings"))
        };
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            set(&r.antecedent),
            set(&r.consequent),
            r.antecedent_support,
            r.consequent_support,
            r.support,
            r.confidence,
            r.lift,
            r.leverage,
            if r.conviction.is_infinite() {
                "inf".to_owned()
            } else {
                r.conviction.to_string()
            },
            r.zhangs_metric,
            r.jaccard,
            r.certainty,
            r.kulczynski
        )?;
    }
    Ok(())
}

/// Writes rules as a JSON array of objects with mlxtend's keys; item lists are arrays of
/// names (or ids), an infinite conviction is `null`.
pub fn write_rules_json(
    out: &mut impl Write,
    rules: &[Rule],
    names: Option<&[String]>,
) -> Result<()> {
    let finite = |x: f64| {
        if x.is_finite() {
            serde_json::json!(x)
        } else {
            serde_json::Value::Null
        }
    };
    let rows: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| {
            let values = [
                serde_json::json!(item_names(&r.antecedent, names)),
                serde_json::json!(item_names(&r.consequent, names)),
                finite(r.antecedent_support),
                finite(r.consequent_support),
                finite(r.support),
                finite(r.confidence),
                finite(r.lift),
                finite(r.leverage),
                finite(r.conviction),
                finite(r.zhangs_metric),
                finite(r.jaccard),
                finite(r.certainty),
                finite(r.kulczynski),
            ];
            let map: serde_json::Map<String, serde_json::Value> = RULE_COLUMNS
                .iter()
                .map(|c| c.to_string())
                .zip(values)
                .collect();
            serde_json::Value::Object(map)
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &rows).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// Finds the rules whose antecedent a basket contains.
///
/// ```
/// use affinity_mine::{generate_rules, mine_itemsets, Algorithm, MinSupport, MiningParams, RuleIndex, RuleParams};
/// let tx = vec![vec![0, 1, 2], vec![0, 1, 2], vec![0, 1], vec![3]];
/// let mut sets = Vec::new();
/// mine_itemsets(&tx, None, &MiningParams::new(MinSupport::Count(2)), Algorithm::FpGrowth, &mut sets).unwrap();
/// let rules = generate_rules(&sets, 4, &RuleParams::default()).unwrap();
/// let index = RuleIndex::new(&rules);
/// let fired = index.fired(&[2]);
/// assert!(fired.iter().all(|&r| rules[r].antecedent == vec![2]));
/// assert_eq!(fired.len(), 2); // 2 -> 0 and 2 -> 1
/// ```
#[derive(Debug, Clone, Default)]
pub struct RuleIndex {
    /// Rules grouped by antecedent: the antecedent and its entries' range in `entries`.
    groups: Vec<(Vec<u32>, std::ops::Range<usize>)>,
    /// One per consequent item of each rule, grouped as `groups` says, so that scoring a
    /// basket reads contiguous memory instead of chasing every fired rule's allocations.
    entries: Vec<Entry>,
    /// Group ids by the first (smallest) item of their antecedent.
    by_first_item: HashMap<u32, Vec<usize>>,
    /// Group ids by their whole antecedent.
    by_antecedent: HashMap<Vec<u32>, usize>,
    /// The longest antecedent.
    longest: usize,
    /// One past the largest consequent item.
    items: usize,
}

/// A rule's consequent item with what ranks the rule.
#[derive(Debug, Clone, Copy)]
struct Entry {
    rule: usize,
    item: u32,
    confidence: f64,
    lift: f64,
}

impl Entry {
    /// Higher confidence, then higher lift, then the lower rule id.
    fn beats(&self, other: &Entry) -> bool {
        match (self.confidence, self.lift).partial_cmp(&(other.confidence, other.lift)) {
            Some(std::cmp::Ordering::Greater) => true,
            Some(std::cmp::Ordering::Equal) => self.rule < other.rule,
            _ => false,
        }
    }
}

impl RuleIndex {
    /// Indexes `rules` by antecedent.
    pub fn new(rules: &[Rule]) -> Self {
        let mut order: Vec<usize> = (0..rules.len())
            .filter(|&r| !rules[r].antecedent.is_empty())
            .collect();
        order.sort_by(|&a, &b| rules[a].antecedent.cmp(&rules[b].antecedent));
        let mut index = RuleIndex::default();
        for r in order {
            let rule = &rules[r];
            let same = index
                .groups
                .last()
                .is_some_and(|(antecedent, _)| *antecedent == rule.antecedent);
            if !same {
                let id = index.groups.len();
                let at = index.entries.len();
                index.groups.push((rule.antecedent.clone(), at..at));
                index.by_antecedent.insert(rule.antecedent.clone(), id);
                index
                    .by_first_item
                    .entry(rule.antecedent[0])
                    .or_default()
                    .push(id);
                index.longest = index.longest.max(rule.antecedent.len());
            }
            for &item in &rule.consequent {
                index.entries.push(Entry {
                    rule: r,
                    item,
                    confidence: rule.confidence,
                    lift: rule.lift,
                });
                index.items = index.items.max(item as usize + 1);
            }
            let end = index.entries.len();
            index.groups.last_mut().expect("pushed above").1.end = end;
        }
        index
    }

    /// Ids of the rules whose antecedent is contained in `basket`, ascending.
    pub fn fired(&self, basket: &[u32]) -> Vec<usize> {
        let mut fired: Vec<usize> = self
            .fired_groups(basket)
            .into_iter()
            .flat_map(|g| {
                self.entries[self.groups[g].1.clone()]
                    .iter()
                    .map(|e| e.rule)
            })
            .collect();
        fired.sort_unstable();
        fired.dedup();
        fired
    }

    /// For every item that a fired rule predicts (has in its consequent), the strongest such
    /// rule: highest confidence, then lift, then lowest id. Ascending by item. What a
    /// recommender scores a basket with, without reading each fired rule.
    ///
    /// ```
    /// use affinity_mine::{generate_rules, mine_itemsets, Algorithm, MinSupport, MiningParams, RuleIndex, RuleParams};
    /// let tx = vec![vec![0, 1, 2], vec![0, 1, 2], vec![0, 1], vec![3]];
    /// let mut sets = Vec::new();
    /// mine_itemsets(&tx, None, &MiningParams::new(MinSupport::Count(2)), Algorithm::FpGrowth, &mut sets).unwrap();
    /// let rules = generate_rules(&sets, 4, &RuleParams::default()).unwrap();
    /// let strongest = RuleIndex::new(&rules).strongest_by_item(&[2]);
    /// assert_eq!(strongest.iter().map(|&(item, _)| item).collect::<Vec<_>>(), [0, 1]);
    /// assert!(strongest.iter().all(|&(_, r)| rules[r].confidence == 1.0)); // 2 comes with 0 and 1
    /// ```
    pub fn strongest_by_item(&self, basket: &[u32]) -> Vec<(u32, usize)> {
        const NONE: usize = usize::MAX;
        let mut best = vec![NONE; self.items];
        for g in self.fired_groups(basket) {
            for (e, entry) in self.entries[self.groups[g].1.clone()].iter().enumerate() {
                let slot = &mut best[entry.item as usize];
                if *slot == NONE || entry.beats(&self.entries[*slot]) {
                    *slot = self.groups[g].1.start + e;
                }
            }
        }
        best.iter()
            .enumerate()
            .filter(|(_, &e)| e != NONE)
            .map(|(item, &e)| (item as u32, self.entries[e].rule))
            .collect()
    }

    /// Groups whose antecedent is contained in `basket`, in no particular order.
    ///
    /// Whichever is less work: looking up every subset of the basket up to the longest
    /// antecedent (short antecedents, many groups per item), or checking each group that
    /// starts with one of the basket's items.
    fn fired_groups(&self, basket: &[u32]) -> Vec<usize> {
        let mut items: Vec<u32> = basket.to_vec();
        items.sort_unstable();
        items.dedup();
        let candidates: usize = items
            .iter()
            .filter_map(|i| self.by_first_item.get(i))
            .map(Vec::len)
            .sum();
        let lookups = crate::fpgrowth::subsets_up_to(items.len(), self.longest);
        if lookups.is_some_and(|l| l < candidates as u64) {
            let mut fired = Vec::new();
            let mut subset = Vec::with_capacity(self.longest);
            self.lookup_subsets(&items, 0, &mut subset, &mut fired);
            fired
        } else {
            let present: HashSet<u32> = items.iter().copied().collect();
            items
                .iter()
                .filter_map(|i| self.by_first_item.get(i))
                .flatten()
                .copied()
                .filter(|&g| self.groups[g].0.iter().all(|i| present.contains(i)))
                .collect()
        }
    }

    /// Adds the groups of every subset of `items[from..]` extending `subset` (ascending).
    fn lookup_subsets(
        &self,
        items: &[u32],
        from: usize,
        subset: &mut Vec<u32>,
        fired: &mut Vec<usize>,
    ) {
        for k in from..items.len() {
            subset.push(items[k]);
            if let Some(&group) = self.by_antecedent.get(subset.as_slice()) {
                fired.push(group);
            }
            if subset.len() < self.longest {
                self.lookup_subsets(items, k + 1, subset, fired);
            }
            subset.pop();
        }
    }
}
