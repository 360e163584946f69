//! A product's page: its partners by lift (what to cross-sell with it), what shoppers bought
//! before it, and its neighbourhood as a graph. All of it from the bundle's basket counts and
//! shopper histories, none from the language model (similar products come from the ranker).

use affinity_rank::{BasketHistory, CooccurrenceCounts};
use serde::Serialize;

/// A product bought in the same baskets as another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Partner {
    /// Its id.
    #[serde(skip)]
    pub id: u32,
    /// Baskets holding both.
    pub baskets: u32,
    /// Share of all baskets holding both.
    pub support: f64,
    /// P(partner | product): of the product's baskets, the share holding the partner.
    pub confidence: f64,
    /// P(product | partner).
    pub confidence_back: f64,
    /// P(both) / (P(product) P(partner)): above 1, bought together more than chance says.
    pub lift: f64,
}

/// Pair counts of one product against `other`, as the partner measures.
fn measure(counts: &CooccurrenceCounts, baskets: usize, a: u32, b: u32, both: u32) -> Partner {
    let n = baskets.max(1) as f64;
    let (ca, cb) = (
        counts.item_counts[a as usize].max(1) as f64,
        counts.item_counts[b as usize].max(1) as f64,
    );
    let both_f = both as f64;
    Partner {
        id: b,
        baskets: both,
        support: both_f / n,
        confidence: both_f / ca,
        confidence_back: both_f / cb,
        lift: both_f * n / (ca * cb),
    }
}

/// The baskets holding both `a` and `b`.
fn shared(counts: &CooccurrenceCounts, a: u32, b: u32) -> u32 {
    let row = counts.row(a);
    counts.neighbours[row.clone()]
        .binary_search(&b)
        .map_or(0, |j| counts.pair_counts[row.start + j])
}

/// `item`'s partners with at least `min_baskets` shared baskets, by lift (then shared baskets,
/// then the lower id), at most `limit`. A floor on shared baskets keeps two rare products that
/// met once from topping the list with a huge lift.
pub(crate) fn partners(
    counts: &CooccurrenceCounts,
    baskets: usize,
    item: u32,
    min_baskets: u32,
    limit: usize,
) -> Vec<Partner> {
    let row = counts.row(item);
    let mut found: Vec<Partner> = counts.neighbours[row.clone()]
        .iter()
        .zip(&counts.pair_counts[row])
        .filter(|(_, &both)| both >= min_baskets)
        .map(|(&b, &both)| measure(counts, baskets, item, b, both))
        .collect();
    found.sort_by(|x, y| {
        y.lift
            .total_cmp(&x.lift)
            .then(y.baskets.cmp(&x.baskets))
            .then(x.id.cmp(&y.id))
    });
    found.truncate(limit);
    found
}

/// A product shoppers bought in an earlier basket than their first with `item`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Before {
    /// Its id.
    #[serde(skip)]
    pub id: u32,
    /// Shoppers who bought it before their first basket with `item`.
    pub shoppers: u32,
    /// Their share of the shoppers with a basket before their first with `item`.
    pub share: f64,
    /// That share over the share of all shoppers who ever bought it: above 1, it leads to
    /// `item` more often than its popularity alone says.
    pub lift: f64,
}

/// What shoppers bought before first buying `item`: per product, the shoppers who had bought it
/// in an earlier basket, among those with any earlier basket. Kept when at least `min_shoppers`
/// did; by lift over its base rate, then shoppers, then the lower id.
pub(crate) fn bought_before(
    shoppers: &[BasketHistory],
    buyers: &[u32],
    item: u32,
    min_shoppers: u32,
    limit: usize,
) -> (u32, Vec<Before>) {
    let n_items = buyers.len();
    let mut count = vec![0u32; n_items];
    let mut seen = vec![u32::MAX; n_items];
    let mut eligible = 0u32;
    for (s, shopper) in shoppers.iter().enumerate() {
        let Some(first) = shopper.baskets.iter().position(|b| b.contains(&item)) else {
            continue;
        };
        if first == 0 {
            continue;
        }
        eligible += 1;
        for basket in &shopper.baskets[..first] {
            for &i in basket {
                if i != item && seen[i as usize] != s as u32 {
                    seen[i as usize] = s as u32;
                    count[i as usize] += 1;
                }
            }
        }
    }
    let everyone = shoppers.len().max(1) as f64;
    let mut found: Vec<Before> = count
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c >= min_shoppers.max(1))
        .map(|(i, &c)| {
            let share = c as f64 / eligible.max(1) as f64;
            let base = buyers[i].max(1) as f64 / everyone;
            Before {
                id: i as u32,
                shoppers: c,
                share,
                lift: share / base,
            }
        })
        .collect();
    found.sort_by(|x, y| {
        y.lift
            .total_cmp(&x.lift)
            .then(y.shoppers.cmp(&x.shoppers))
            .then(x.id.cmp(&y.id))
    });
    found.truncate(limit);
    (eligible, found)
}

/// An edge of a product's neighbourhood: two products bought together, weighted by lift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Edge {
    /// Index into the graph's nodes.
    pub source: usize,
    /// Index into the graph's nodes.
    pub target: usize,
    /// Baskets holding both.
    pub baskets: u32,
    /// Their lift.
    pub lift: f64,
}

/// The edges among `nodes`: every pair sharing at least `min_baskets` baskets with a lift
/// above 1 (bought together more than chance says).
pub(crate) fn neighbourhood(
    counts: &CooccurrenceCounts,
    baskets: usize,
    nodes: &[u32],
    min_baskets: u32,
) -> Vec<Edge> {
    let mut edges = Vec::new();
    for (x, &a) in nodes.iter().enumerate() {
        for (y, &b) in nodes.iter().enumerate().skip(x + 1) {
            let both = shared(counts, a, b);
            if both < min_baskets.max(1) {
                continue;
            }
            let pair = measure(counts, baskets, a, b, both);
            if pair.lift > 1.0 {
                edges.push(Edge {
                    source: x,
                    target: y,
                    baskets: both,
                    lift: pair.lift,
                });
            }
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight baskets over five products: 0 and 1 go together, 2 is everywhere, 3 once with 0.
    fn baskets() -> Vec<Vec<u32>> {
        vec![
            vec![0, 1, 2],
            vec![0, 1, 2],
            vec![0, 1],
            vec![2],
            vec![2, 4],
            vec![2, 4],
            vec![0, 3],
            vec![1, 2],
        ]
    }

    #[test]
    fn partners_are_measured_as_rules_would_be_and_floored() {
        let counts = CooccurrenceCounts::count(&baskets(), 5);
        let found = partners(&counts, 8, 0, 1, 10);
        // Item 0 is in 4 baskets; with 1 in 3 (of 1's 4); with 2 in 2 (of 6); with 3 in 1 (of 1).
        let ids: Vec<u32> = found.iter().map(|p| p.id).collect();
        assert_eq!(ids, vec![3, 1, 2]);
        let one = &found[1];
        assert_eq!(one.baskets, 3);
        assert!((one.support - 3.0 / 8.0).abs() < 1e-12);
        assert!((one.confidence - 3.0 / 4.0).abs() < 1e-12);
        assert!((one.confidence_back - 3.0 / 4.0).abs() < 1e-12);
        assert!((one.lift - 3.0 * 8.0 / 16.0).abs() < 1e-12);
        // The floor drops the pair seen once.
        let floored: Vec<u32> = partners(&counts, 8, 0, 2, 10)
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(floored, vec![1, 2]);
        assert!(partners(&counts, 8, 99, 1, 10).is_empty());
    }

    #[test]
    fn bought_before_counts_each_shopper_once_before_their_first_basket_with_it() {
        let history = |baskets: Vec<Vec<u32>>| BasketHistory {
            days: (0..baskets.len()).map(|d| d as f64).collect(),
            baskets,
            now: None,
        };
        let shoppers = vec![
            history(vec![vec![1], vec![1, 2], vec![0]]),
            history(vec![vec![2], vec![0], vec![1]]),
            history(vec![vec![0, 1]]),
            history(vec![vec![3]]),
        ];
        let buyers = vec![3, 3, 2, 1];
        let (eligible, found) = bought_before(&shoppers, &buyers, 0, 1, 10);
        assert_eq!(eligible, 2);
        let got: Vec<(u32, u32)> = found.iter().map(|b| (b.id, b.shoppers)).collect();
        // 2: both eligible shoppers (share 1, base 2/4: lift 2); 1: one of them (1/2 over 3/4).
        assert_eq!(got, vec![(2, 2), (1, 1)]);
        assert!((found[0].lift - 2.0).abs() < 1e-12);
        assert!((found[1].lift - (0.5 / 0.75)).abs() < 1e-12);
    }

    #[test]
    fn the_neighbourhood_keeps_pairs_above_chance() {
        let counts = CooccurrenceCounts::count(&baskets(), 5);
        let edges = neighbourhood(&counts, 8, &[0, 1, 2, 4], 1);
        let pairs: Vec<(usize, usize)> = edges.iter().map(|e| (e.source, e.target)).collect();
        // 0-1 lift 1.5; 0-2 lift 2*8/(4*6) < 1; 1-2 lift 3*8/24 = 1 (not above); 2-4 lift 2*8/12.
        assert_eq!(pairs, vec![(0, 1), (2, 3)]);
    }
}
