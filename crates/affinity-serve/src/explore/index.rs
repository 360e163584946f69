//! What the explorer precomputes once per served bundle: lowercase item text for searches,
//! popularity ranks, and which rules hold each item on either side.

use std::sync::OnceLock;

use affinity_mine::Rule;

/// Sort orders a rules table offers: every sortable metric, each way.
pub(crate) const SORT_ORDERS: usize = 14;

/// The explorer's view of one bundle.
#[derive(Debug)]
pub(crate) struct Explorer {
    /// Per item: its name and text, lowercase, for substring searches.
    haystacks: Vec<String>,
    /// Items by events, most first (ties: the lower id).
    popular: Vec<u32>,
    /// Per item: its place in `popular`, from 1.
    rank: Vec<u32>,
    /// Per item: the rules whose antecedent holds it, by id.
    antecedent_of: Vec<Vec<u32>>,
    /// Per item: the rules whose consequent holds it, by id.
    consequent_of: Vec<Vec<u32>>,
    /// Per item: the shoppers who bought it.
    pub buyers: Vec<u32>,
    /// Rule ids in each sort order the table offers, built on first use: a filter then only
    /// walks one list instead of sorting every rule it keeps.
    sorted: Vec<OnceLock<Vec<u32>>>,
}

impl Explorer {
    /// Indexes items (`names`, `texts`, event `counts`, the shoppers who bought each:
    /// `buyers`) and `rules`.
    pub fn new(
        names: &[String],
        texts: &[String],
        counts: &[u32],
        buyers: Vec<u32>,
        rules: &[Rule],
    ) -> Self {
        let n = names.len();
        let haystacks = names
            .iter()
            .zip(texts)
            .map(|(name, text)| format!("{name}\n{text}").to_lowercase())
            .collect();
        let mut popular: Vec<u32> = (0..n as u32).collect();
        popular.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
        let mut rank = vec![0u32; n];
        for (place, &item) in popular.iter().enumerate() {
            rank[item as usize] = place as u32 + 1;
        }
        let mut antecedent_of = vec![Vec::new(); n];
        let mut consequent_of = vec![Vec::new(); n];
        for (id, rule) in rules.iter().enumerate() {
            for &i in &rule.antecedent {
                antecedent_of[i as usize].push(id as u32);
            }
            for &i in &rule.consequent {
                consequent_of[i as usize].push(id as u32);
            }
        }
        Explorer {
            haystacks,
            popular,
            rank,
            antecedent_of,
            consequent_of,
            buyers,
            sorted: (0..SORT_ORDERS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The rule ids in sort order `slot` (`0..SORT_ORDERS`), made by `build` the first time.
    pub fn sorted(&self, slot: usize, build: impl FnOnce() -> Vec<u32>) -> &[u32] {
        self.sorted[slot].get_or_init(build)
    }

    /// Per item: whether its name or text holds `text` (any case).
    pub fn items_containing(&self, text: &str) -> Vec<bool> {
        let needle = text.to_lowercase();
        self.haystacks.iter().map(|h| h.contains(&needle)).collect()
    }

    /// Items whose name or text holds `text`, best first: a name that is the text, then one
    /// that starts with it, then the rest; most bought first within each. Empty text: the most
    /// bought.
    pub fn search(&self, text: &str, names: &[String], limit: usize) -> Vec<u32> {
        let needle = text.trim().to_lowercase();
        if needle.is_empty() {
            return self.popular.iter().copied().take(limit).collect();
        }
        let mut found: Vec<(u8, u32)> = self
            .popular
            .iter()
            .filter(|&&i| self.haystacks[i as usize].contains(&needle))
            .map(|&i| {
                let name = names[i as usize].to_lowercase();
                let class = if name == needle {
                    0
                } else if name.starts_with(&needle) {
                    1
                } else {
                    2
                };
                (class, i)
            })
            .collect();
        // Stable: popularity order stays within a class.
        found.sort_by_key(|&(class, _)| class);
        found.into_iter().take(limit).map(|(_, i)| i).collect()
    }

    /// The most bought items.
    pub fn popular(&self, limit: usize) -> &[u32] {
        &self.popular[..limit.min(self.popular.len())]
    }

    /// An item's place by events, from 1.
    pub fn rank(&self, item: u32) -> u32 {
        self.rank[item as usize]
    }

    /// The rules whose antecedent holds `item`.
    pub fn with_antecedent(&self, item: u32) -> &[u32] {
        &self.antecedent_of[item as usize]
    }

    /// The rules whose consequent holds `item`.
    pub fn with_consequent(&self, item: u32) -> &[u32] {
        &self.consequent_of[item as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_puts_exact_then_prefix_then_popular() {
        let names: Vec<String> = ["soda", "club soda", "sodapop", "milk"]
            .map(String::from)
            .to_vec();
        let texts = names.clone();
        let explorer = Explorer::new(&names, &texts, &[1, 9, 5, 7], vec![0; 4], &[]);
        assert_eq!(explorer.search("SODA", &names, 10), vec![0, 2, 1]);
        assert_eq!(explorer.search("", &names, 2), vec![1, 3]);
        assert_eq!(explorer.search("tea", &names, 10), Vec::<u32>::new());
        assert_eq!(explorer.rank(1), 1);
        assert_eq!(explorer.rank(0), 4);
    }
}
