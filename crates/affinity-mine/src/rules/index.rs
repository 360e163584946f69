//! The rules a basket fires, found without scanning every rule.

use std::collections::{HashMap, HashSet};

use super::Rule;

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
