//! How many distinct shoppers stand behind each rule. Support counts baskets, so one shopper
//! who buys the same pair every week can make a rule of it alone; a rule released from
//! pseudonymised data should rest on several people, not reveal one person's habit.

use super::Rule;

/// Per rule: the distinct owners of the baskets holding all its items (antecedent and
/// consequent). `owners[b]` is the shopper of `baskets[b]`.
///
/// ```
/// use affinity_mine::{
///     generate_rules, mine_itemsets, rule_shoppers, Algorithm, Itemset, MinSupport, MiningParams,
///     RuleParams,
/// };
/// // Shopper 0 buys bread and jam every week; shoppers 1 and 2 buy bread and milk once each.
/// let baskets = vec![vec![0, 1], vec![0, 1], vec![0, 1], vec![0, 2], vec![0, 2]];
/// let owners = [0, 0, 0, 1, 2];
/// let params = MiningParams::new(MinSupport::Count(2));
/// let mut itemsets: Vec<Itemset> = Vec::new();
/// mine_itemsets(&baskets, None, &params, Algorithm::FpGrowth, &mut itemsets)?;
/// let rules = generate_rules(&itemsets, 5, &RuleParams::default())?;
/// let shoppers = rule_shoppers(&rules, &baskets, &owners);
/// assert!(rules.len() >= 2);
/// for (rule, n) in rules.iter().zip(&shoppers) {
///     let jam = rule.antecedent.contains(&1) || rule.consequent.contains(&1);
///     assert_eq!(*n, if jam { 1 } else { 2 });
/// }
/// # Ok::<(), affinity_mine::MineError>(())
/// ```
pub fn rule_shoppers(rules: &[Rule], baskets: &[Vec<u32>], owners: &[u32]) -> Vec<u32> {
    // Inverted lists: the baskets holding each item, ascending (baskets may repeat an item).
    let n_items = rules
        .iter()
        .flat_map(|r| r.antecedent.iter().chain(&r.consequent))
        .map(|&i| i as usize + 1)
        .max()
        .unwrap_or(0);
    let mut holding: Vec<Vec<u32>> = vec![Vec::new(); n_items];
    for (b, basket) in baskets.iter().enumerate() {
        for &i in basket {
            if let Some(list) = holding.get_mut(i as usize) {
                if list.last() != Some(&(b as u32)) {
                    list.push(b as u32);
                }
            }
        }
    }
    let mut seen: Vec<u32> = Vec::new();
    let mut stamp = 0u32;
    rules
        .iter()
        .map(|rule| {
            let mut items: Vec<u32> = rule
                .antecedent
                .iter()
                .chain(&rule.consequent)
                .copied()
                .collect();
            // The rarest item's baskets first: the rest are checked by search.
            items.sort_by_key(|&i| holding[i as usize].len());
            let Some((&first, rest)) = items.split_first() else {
                return 0;
            };
            stamp += 1;
            let mut distinct = 0;
            for &b in &holding[first as usize] {
                if !rest
                    .iter()
                    .all(|&i| holding[i as usize].binary_search(&b).is_ok())
                {
                    continue;
                }
                let Some(&owner) = owners.get(b as usize) else {
                    continue;
                };
                let owner = owner as usize;
                if seen.len() <= owner {
                    seen.resize(owner + 1, 0);
                }
                if seen[owner] != stamp {
                    seen[owner] = stamp;
                    distinct += 1;
                }
            }
            distinct
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(a: &[u32], c: &[u32]) -> Rule {
        Rule {
            antecedent: a.to_vec(),
            consequent: c.to_vec(),
            antecedent_support: 0.0,
            consequent_support: 0.0,
            support: 0.0,
            confidence: 0.0,
            lift: 0.0,
            leverage: 0.0,
            conviction: 0.0,
            zhangs_metric: 0.0,
            jaccard: 0.0,
            certainty: 0.0,
            kulczynski: 0.0,
            count: 0,
        }
    }

    #[test]
    fn counts_distinct_owners_of_the_baskets_holding_every_item() {
        let baskets = vec![
            vec![0, 1, 2],
            vec![0, 1],
            vec![1, 0, 0],
            vec![0, 2],
            vec![2, 1],
            vec![3],
        ];
        let owners = [7, 7, 3, 3, 9, 1];
        let rules = vec![
            rule(&[0], &[1]),
            rule(&[0, 1], &[2]),
            rule(&[2], &[1]),
            rule(&[3], &[0]),
            rule(&[0], &[2]),
        ];
        // {0,1}: baskets 0, 1 (owner 7) and 2 (owner 3); {0,1,2}: basket 0; {1,2}: baskets 0
        // (7) and 4 (9); {0,3}: none; {0,2}: baskets 0 (7) and 3 (3).
        assert_eq!(
            rule_shoppers(&rules, &baskets, &owners),
            vec![2, 1, 2, 0, 2]
        );
        assert!(rule_shoppers(&[], &baskets, &owners).is_empty());
    }
}
