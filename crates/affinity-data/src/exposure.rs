//! Exposure and fairness of top-k lists: the beyond-accuracy figures as the recommender
//! libraries define them, exposure by product group and accuracy by shopper group.
//!
//! Every function reads the top-k lists of all users (`lists[u]` = user `u`'s list, already
//! cut at k, as [`crate::metrics::Evaluator::lists`] keeps them) and, where popularity is
//! needed, the training interactions per item (`counts[i]` for item `i`, the counts the rankers
//! were fitted on). Where a library's definition is followed, the rustdoc names the library,
//! its function and the formula. The two libraries differ in the log base of their entropies:
//! RecBole's `ShannonEntropy` uses the natural log (nats), Microsoft Recommenders'
//! `novelty` and `distributional_coverage` use log2 (bits); each figure follows its own
//! library under that library's name.
//!
//! Degenerate inputs (no lists, no slots, no training counts) give 0 rather than NaN, so the
//! figures always serialize as numbers.
//!
//! ```
//! use affinity_data::exposure::ExposureReport;
//! // Three users, k = 2, over four items; item 0 was bought 6 times in training, 1 three
//! // times, 2 once, 3 never.
//! let lists = vec![vec![0, 1], vec![0, 2], vec![0, 1]];
//! let report = ExposureReport::compute(&lists, &[6.0, 3.0, 1.0, 0.0], 4, None);
//! assert_eq!(report.slots, 6);
//! assert_eq!(report.item_coverage, 0.75);
//! assert!(report.gini_index > 0.0 && report.gini_index < 1.0);
//! ```

use std::collections::BTreeMap;

/// Share of the catalogue recommended to anyone: RecBole's `ItemCoverage`
/// (`recbole.evaluator.metrics.ItemCoverage.get_coverage`):
/// `|U_u R(u)| / |I|`, with `|I|` = `n_items`, the whole catalogue. 0 for an empty catalogue.
///
/// ```
/// use affinity_data::exposure::item_coverage;
/// assert_eq!(item_coverage(&[vec![0, 1], vec![1, 2]], 6), 0.5);
/// ```
pub fn item_coverage(lists: &[Vec<u32>], n_items: usize) -> f64 {
    crate::metrics::catalog_coverage(lists, n_items)
}

/// Microsoft Recommenders' `catalog_coverage`
/// (`recommenders.evaluation.python_evaluation.catalog_coverage`, after Shani and
/// Gunawardana): distinct items recommended / distinct items in the training data (items with
/// `counts[i] > 0`). Unlike [`item_coverage`] the denominator leaves out items never bought in
/// training, and the figure can exceed 1 when lists hold such items. 0 when no item was bought.
///
/// ```
/// use affinity_data::exposure::training_catalog_coverage;
/// // Three items were bought in training; two distinct items recommended.
/// assert!((training_catalog_coverage(&[vec![0, 1], vec![1]], &[2.0, 1.0, 4.0, 0.0]) - 2.0 / 3.0).abs() < 1e-12);
/// ```
pub fn training_catalog_coverage(lists: &[Vec<u32>], counts: &[f64]) -> f64 {
    let trained = counts.iter().filter(|&&c| c > 0.0).count();
    if trained == 0 {
        return 0.0;
    }
    distinct(lists) as f64 / trained as f64
}

fn distinct(lists: &[Vec<u32>]) -> usize {
    lists
        .iter()
        .flatten()
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// How often each item appears across all lists (only items that appear), and the number of
/// slots filled.
fn slot_counts(lists: &[Vec<u32>]) -> (BTreeMap<u32, usize>, usize) {
    let mut counts = BTreeMap::new();
    let mut slots = 0;
    for &item in lists.iter().flatten() {
        *counts.entry(item).or_insert(0) += 1;
        slots += 1;
    }
    (counts, slots)
}

/// Inequality of the exposure the catalogue gets: RecBole's `GiniIndex`
/// (`recbole.evaluator.metrics.GiniIndex.get_gini`):
/// `sum_{i=1}^{n} (2i - n - 1) P(i) / (n * sum_i P(i))`, where `P(i)` is how often item `i`
/// appears in the lists, the items sorted so that `P(1) <= ... <= P(n)`, and `n = n_items`:
/// items never recommended count, with `P = 0`, at the low end. 0 when every item is
/// recommended equally often, `(n - 1) / n` when a single item takes every slot. RecBole
/// divides by `users * k` (its lists are always full); here by the slots actually filled,
/// which is the formula's `sum_i P(i)` and the same for full lists. 0 without slots.
///
/// ```
/// use affinity_data::exposure::gini_index;
/// assert_eq!(gini_index(&[vec![0, 1], vec![1, 0]], 2), 0.0);
/// assert_eq!(gini_index(&[vec![3], vec![3]], 4), 0.75);
/// ```
pub fn gini_index(lists: &[Vec<u32>], n_items: usize) -> f64 {
    let (counts, slots) = slot_counts(lists);
    // Items recommended but outside the catalogue still count as items.
    let n = n_items.max(counts.len());
    if slots == 0 || n == 0 {
        return 0.0;
    }
    let mut sorted: Vec<usize> = counts.into_values().collect();
    sorted.sort_unstable();
    // The recommended items take the top ranks n - m + 1 ..= n; the others weigh 0.
    let first = n - sorted.len() + 1;
    let sum: f64 = sorted
        .iter()
        .enumerate()
        .map(|(j, &p)| (2.0 * (first + j) as f64 - n as f64 - 1.0) * p as f64)
        .sum();
    sum / (n as f64 * slots as f64)
}

/// Entropy of the distribution of slots over items, in nats, as RecBole's `ShannonEntropy`
/// defines it (`recbole.evaluator.metrics.ShannonEntropy`, docstring formula):
/// `-sum_i p(i) ln p(i)` with `p(i)` = the share of all slots that hold item `i`. From 0 (one
/// item everywhere) to `ln(distinct items)`. RecBole's code (`get_entropy`) then divides the
/// sum by the number of distinct items recommended; that figure is
/// [`recbole_entropy_per_item`]. 0 without slots.
///
/// ```
/// use affinity_data::exposure::shannon_entropy;
/// // Two items, each in half of the slots: ln 2.
/// assert!((shannon_entropy(&[vec![0], vec![1]]) - 2f64.ln()).abs() < 1e-12);
/// ```
pub fn shannon_entropy(lists: &[Vec<u32>]) -> f64 {
    entropy(lists, f64::ln)
}

/// What RecBole's `ShannonEntropy.get_entropy` returns: [`shannon_entropy`] (natural log)
/// divided by the number of distinct items recommended. Kept for comparison with RecBole's
/// printed figures; it falls as more distinct items are recommended, so it is not read as
/// a diversity figure here. 0 without slots.
///
/// ```
/// use affinity_data::exposure::recbole_entropy_per_item;
/// assert!((recbole_entropy_per_item(&[vec![0], vec![1]]) - 2f64.ln() / 2.0).abs() < 1e-12);
/// ```
pub fn recbole_entropy_per_item(lists: &[Vec<u32>]) -> f64 {
    let items = distinct(lists);
    if items == 0 {
        return 0.0;
    }
    shannon_entropy(lists) / items as f64
}

/// Microsoft Recommenders' `distributional_coverage`
/// (`recommenders.evaluation.python_evaluation.distributional_coverage`, Shani and
/// Gunawardana's formula 21): `-sum_i p(i) log2 p(i)` with `p(i)` = the share of all slots that
/// hold item `i`; the same as [`shannon_entropy`] in bits instead of nats. 0 without slots.
///
/// ```
/// use affinity_data::exposure::distributional_coverage;
/// assert!((distributional_coverage(&[vec![0, 1], vec![2, 3]]) - 2.0).abs() < 1e-12);
/// ```
pub fn distributional_coverage(lists: &[Vec<u32>]) -> f64 {
    entropy(lists, f64::log2)
}

fn entropy(lists: &[Vec<u32>], log: fn(f64) -> f64) -> f64 {
    let (counts, slots) = slot_counts(lists);
    if slots == 0 {
        return 0.0;
    }
    let h: f64 = counts
        .values()
        .map(|&c| {
            let p = c as f64 / slots as f64;
            -p * log(p)
        })
        .sum();
    // -0.0 when one item takes every slot (and `max` may keep a -0.0).
    if h > 0.0 {
        h
    } else {
        0.0
    }
}

/// Mean training popularity of the recommended items: RecBole's `AveragePopularity`
/// (`recbole.evaluator.metrics.AveragePopularity`):
/// `1/|U| sum_u (sum_{i in R(u)} phi(i)) / |R(u)|`, with `phi(i)` = `counts[i]`, the item's
/// interactions in training (0 for an id outside `counts`). Users with an empty list are left
/// out (RecBole's lists are never empty); 0 when every list is empty.
///
/// ```
/// use affinity_data::exposure::average_popularity;
/// assert_eq!(average_popularity(&[vec![0, 1], vec![2]], &[4.0, 2.0, 1.0]), (3.0 + 1.0) / 2.0);
/// ```
pub fn average_popularity(lists: &[Vec<u32>], counts: &[f64]) -> f64 {
    mean_over_lists(lists, |i| counts.get(i as usize).copied().unwrap_or(0.0))
}

/// The mean over non-empty lists of the mean of `value` over the list's items.
fn mean_over_lists(lists: &[Vec<u32>], value: impl Fn(u32) -> f64) -> f64 {
    let mut sum = 0.0;
    let mut users = 0usize;
    for list in lists.iter().filter(|l| !l.is_empty()) {
        sum += list.iter().map(|&i| value(i)).sum::<f64>() / list.len() as f64;
        users += 1;
    }
    if users == 0 {
        0.0
    } else {
        sum / users as f64
    }
}

/// RecBole's default `tail_ratio`: the least popular 10 % of the items seen in training.
pub const RECBOLE_TAIL_RATIO: f64 = 0.1;

/// The long-tail items as RecBole's `TailPercentage.get_tail` chooses them, as a flag per item
/// (`n_items` flags). Only items with training interactions (`counts[i] > 0`) are candidates:
/// RecBole's `data.count_items` holds only the items seen in training, so items never bought
/// are not in the tail. With `tail_ratio` in (0, 1]: the candidates sorted by (count, id)
/// ascending, the first `max(floor(candidates * tail_ratio), 1)`; with `tail_ratio > 1`:
/// every candidate with `count <= tail_ratio`; a ratio `<= 0` (or NaN) means RecBole's default
/// 0.1.
///
/// ```
/// use affinity_data::exposure::recbole_tail_items;
/// // Four items seen in training, 10 %: floor(0.4) = 0, so the single least popular one.
/// assert_eq!(recbole_tail_items(&[5.0, 1.0, 3.0, 2.0, 0.0], 5, 0.1), [false, true, false, false, false]);
/// ```
pub fn recbole_tail_items(counts: &[f64], n_items: usize, tail_ratio: f64) -> Vec<bool> {
    let ratio = if tail_ratio > 0.0 {
        tail_ratio
    } else {
        RECBOLE_TAIL_RATIO
    };
    let n = n_items.max(counts.len());
    let mut tail = vec![false; n];
    let seen: Vec<(usize, f64)> = counts
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, c)| c > 0.0)
        .collect();
    if ratio > 1.0 {
        for (i, c) in seen {
            tail[i] = c <= ratio;
        }
        return tail;
    }
    let mut order = seen;
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let cut = ((order.len() as f64 * ratio) as usize)
        .max(1)
        .min(order.len());
    for &(i, _) in &order[..cut] {
        tail[i] = true;
    }
    tail
}

/// Mean share of a list's slots that hold tail items: RecBole's `TailPercentage`
/// (`recbole.evaluator.metrics.TailPercentage`):
/// `1/|U| sum_u (sum_{i in R(u)} [i in T]) / |R(u)|`, with `T` the flagged items (for
/// RecBole's own tail, [`recbole_tail_items`]). Users with an empty list are left out; 0 when
/// every list is empty.
///
/// ```
/// use affinity_data::exposure::tail_percentage;
/// let tail = [false, true, true];
/// assert_eq!(tail_percentage(&[vec![0, 1], vec![2, 1]], &tail), (0.5 + 1.0) / 2.0);
/// ```
pub fn tail_percentage(lists: &[Vec<u32>], is_tail: &[bool]) -> f64 {
    mean_over_lists(lists, |i| {
        f64::from(u8::from(is_tail.get(i as usize).copied().unwrap_or(false)))
    })
}

/// Microsoft Recommenders' `novelty` (`recommenders.evaluation.python_evaluation.novelty`
/// with `historical_item_novelty`, after Castells, Vargas and Wang, ECIR 2011): each item's
/// novelty is `-log2(counts[i] / sum_j counts[j])` (bits), and the figure is its mean over all
/// slots: `sum_i c(i) nov(i) / slots`, `c(i)` the slots holding `i`. As in the library (an
/// inner join on the training items), an item never bought in training adds 0 to the sum but
/// its slots still count. 0 without slots or training counts.
///
/// ```
/// use affinity_data::exposure::novelty;
/// // Item 0 has half of the training interactions (1 bit), item 1 a quarter (2 bits).
/// assert_eq!(novelty(&[vec![0], vec![1]], &[2.0, 1.0, 1.0]), 1.5);
/// ```
pub fn novelty(lists: &[Vec<u32>], counts: &[f64]) -> f64 {
    let total: f64 = counts.iter().filter(|c| **c > 0.0).sum();
    let (slot_counts, slots) = slot_counts(lists);
    if slots == 0 || total <= 0.0 {
        return 0.0;
    }
    let sum: f64 = slot_counts
        .iter()
        .filter_map(|(&i, &c)| {
            let n = counts.get(i as usize).copied().unwrap_or(0.0);
            (n > 0.0).then(|| c as f64 * -(n / total).log2())
        })
        .sum();
    sum / slots as f64
}

/// The short head by the Pareto convention (Abdollahpouri et al.): the most popular items,
/// by training count descending (ties by id ascending), taken until they hold at least
/// `share` of all training interactions; a flag per item (`n_items` flags). Every other item,
/// never-bought ones included, is the tail. Nothing is head when nothing was bought.
///
/// ```
/// use affinity_data::exposure::head_items;
/// // 10 interactions: item 2 alone holds 6 >= 20 % of them.
/// assert_eq!(head_items(&[1.0, 3.0, 6.0, 0.0], 4, 0.2), [false, false, true, false]);
/// ```
pub fn head_items(counts: &[f64], n_items: usize, share: f64) -> Vec<bool> {
    let n = n_items.max(counts.len());
    let mut head = vec![false; n];
    let total: f64 = counts.iter().filter(|c| **c > 0.0).sum();
    if total <= 0.0 {
        return head;
    }
    let mut order: Vec<(usize, f64)> = counts
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, c)| c > 0.0)
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut held = 0.0;
    for (i, c) in order {
        if held >= share * total {
            break;
        }
        head[i] = true;
        held += c;
    }
    head
}

/// Share of the training interactions in the head: the head of [`head_items`] holds at least
/// this much.
pub const HEAD_SHARE: f64 = 0.2;

/// One group of products and the exposure it gets.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupExposure {
    /// The group ("head", "tail", or a category).
    pub group: String,
    /// Items in the group.
    pub items: usize,
    /// The group's share of the catalogue (`items / n_items`).
    pub catalog_share: f64,
    /// The group's share of the training interactions.
    pub training_share: f64,
    /// The group's share of all recommendation slots.
    pub slot_share: f64,
}

/// Exposure of each group: `group[i]` names item `i`'s group (`None`: no group; such items
/// count in no row). Rows in order of first appearance of the group among the items; shares
/// are of the whole catalogue, all training interactions and all slots (0 where those are 0).
///
/// ```
/// use affinity_data::exposure::group_exposure;
/// let group = [Some("a"), Some("b"), Some("b"), None];
/// let rows = group_exposure(&[vec![0, 1], vec![0, 3]], &[4.0, 4.0, 0.0, 2.0], &group);
/// assert_eq!((rows[0].group.as_str(), rows[0].items, rows[0].slot_share), ("a", 1, 0.5));
/// assert_eq!((rows[1].catalog_share, rows[1].training_share, rows[1].slot_share), (0.5, 0.4, 0.25));
/// ```
pub fn group_exposure<S: AsRef<str>>(
    lists: &[Vec<u32>],
    counts: &[f64],
    group: &[Option<S>],
) -> Vec<GroupExposure> {
    let mut names: Vec<&str> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = Default::default();
    let mut of_item: Vec<Option<usize>> = Vec::with_capacity(group.len());
    for g in group {
        of_item.push(g.as_ref().map(|g| {
            let g = g.as_ref();
            *index.entry(g).or_insert_with(|| {
                names.push(g);
                names.len() - 1
            })
        }));
    }
    let mut items = vec![0usize; names.len()];
    let mut trained = vec![0.0; names.len()];
    for (i, g) in of_item.iter().enumerate() {
        if let Some(g) = *g {
            items[g] += 1;
            trained[g] += counts.get(i).copied().unwrap_or(0.0).max(0.0);
        }
    }
    let mut slots = vec![0usize; names.len()];
    let mut all_slots = 0usize;
    for &i in lists.iter().flatten() {
        all_slots += 1;
        if let Some(Some(g)) = of_item.get(i as usize) {
            slots[*g] += 1;
        }
    }
    let total: f64 = counts.iter().filter(|c| **c > 0.0).sum();
    let share = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
    names
        .iter()
        .enumerate()
        .map(|(g, name)| GroupExposure {
            group: (*name).to_owned(),
            items: items[g],
            catalog_share: share(items[g] as f64, group.len() as f64),
            training_share: share(trained[g], total),
            slot_share: share(slots[g] as f64, all_slots as f64),
        })
        .collect()
}

/// The beyond-accuracy figures of one method's top-k lists.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExposureReport {
    /// Users with a list.
    pub users: usize,
    /// Recommendation slots filled (the sum of the lists' lengths).
    pub slots: usize,
    /// RecBole `ItemCoverage`: distinct items recommended / catalogue ([`item_coverage`]).
    pub item_coverage: f64,
    /// Microsoft Recommenders `catalog_coverage`: distinct items recommended / distinct items
    /// in training ([`training_catalog_coverage`]).
    pub training_catalog_coverage: f64,
    /// RecBole `GiniIndex` over the catalogue ([`gini_index`]); lower is more even.
    pub gini_index: f64,
    /// RecBole `ShannonEntropy` as its formula says, in nats ([`shannon_entropy`]).
    pub shannon_entropy: f64,
    /// What RecBole's `ShannonEntropy.get_entropy` code returns: the entropy divided by the
    /// distinct items recommended ([`recbole_entropy_per_item`]).
    pub recbole_entropy_per_item: f64,
    /// RecBole `AveragePopularity`: mean training interactions of a recommended item
    /// ([`average_popularity`]).
    pub average_popularity: f64,
    /// RecBole `TailPercentage` with `tail_ratio` = [`ExposureReport::tail_ratio`]
    /// ([`tail_percentage`] over [`recbole_tail_items`]).
    pub tail_percentage: f64,
    /// The `tail_ratio` of `tail_percentage`.
    pub tail_ratio: f64,
    /// Microsoft Recommenders `novelty`, in bits ([`novelty`]).
    pub novelty: f64,
    /// Microsoft Recommenders `distributional_coverage`, in bits ([`distributional_coverage`]).
    pub distributional_coverage: f64,
    /// Exposure of the short head ([`head_items`] at [`HEAD_SHARE`]) and of the rest: rows
    /// "head" and "tail".
    pub popularity_groups: Vec<GroupExposure>,
    /// Exposure per product group (category) where the catalogue has groups; empty otherwise.
    pub item_groups: Vec<GroupExposure>,
}

impl ExposureReport {
    /// Every figure for `lists` over a catalogue of `n_items`, with training interactions per
    /// item `counts` and, optionally, a group per item (`groups[i]`; a `None` item is in no
    /// group). RecBole's tail ratio is its default, [`RECBOLE_TAIL_RATIO`].
    pub fn compute(
        lists: &[Vec<u32>],
        counts: &[f64],
        n_items: usize,
        groups: Option<&[Option<String>]>,
    ) -> Self {
        let tail = recbole_tail_items(counts, n_items, RECBOLE_TAIL_RATIO);
        let head = head_items(counts, n_items, HEAD_SHARE);
        let head_group: Vec<Option<&str>> = head
            .iter()
            .map(|&h| Some(if h { "head" } else { "tail" }))
            .collect();
        let mut popularity_groups = group_exposure(lists, counts, &head_group);
        // Always "head" then "tail", whichever item comes first.
        popularity_groups.sort_by_key(|g| g.group != "head");
        ExposureReport {
            users: lists.len(),
            slots: lists.iter().map(Vec::len).sum(),
            item_coverage: item_coverage(lists, n_items),
            training_catalog_coverage: training_catalog_coverage(lists, counts),
            gini_index: gini_index(lists, n_items),
            shannon_entropy: shannon_entropy(lists),
            recbole_entropy_per_item: recbole_entropy_per_item(lists),
            average_popularity: average_popularity(lists, counts),
            tail_percentage: tail_percentage(lists, &tail),
            tail_ratio: RECBOLE_TAIL_RATIO,
            novelty: novelty(lists, counts),
            distributional_coverage: distributional_coverage(lists),
            popularity_groups,
            item_groups: groups.map_or_else(Vec::new, |g| group_exposure(lists, counts, g)),
        }
    }

    /// The share of slots on the short head (0 when there are none).
    pub fn head_slot_share(&self) -> f64 {
        self.popularity_groups
            .iter()
            .find(|g| g.group == "head")
            .map_or(0.0, |g| g.slot_share)
    }
}

/// History-length buckets of [`accuracy_by_history`]: (lowest, highest) interactions before
/// the test step, the last open. Roughly doubling widths, so that each bucket spans a similar
/// relative change in how much is known about the shopper, and the shortest histories (one or
/// two interactions, where co-occurrence has least to go on) stand apart.
pub const HISTORY_BUCKETS: [(usize, Option<usize>); 5] = [
    (1, Some(2)),
    (3, Some(5)),
    (6, Some(10)),
    (11, Some(20)),
    (21, None),
];

/// Accuracy of one group of shoppers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShopperGroup {
    /// The group, e.g. "3-5" or "21+" interactions before the test step.
    pub group: String,
    /// Shoppers in the group.
    pub users: usize,
    /// Mean NDCG@k over them (`None` for an empty group).
    pub ndcg: Option<f64>,
    /// Mean Recall@k over them (`None` for an empty group).
    pub recall: Option<f64>,
}

/// Mean NDCG@k and Recall@k per history-length bucket ([`HISTORY_BUCKETS`]): `history_len[u]`,
/// `ndcg[u]` and `recall[u]` are user `u`'s history length and figures. Every bucket is
/// returned, empty ones with `None`; histories of length 0 fall in no bucket.
///
/// ```
/// use affinity_data::exposure::accuracy_by_history;
/// let groups = accuracy_by_history(&[1, 2, 4], &[1.0, 0.0, 0.5], &[1.0, 0.0, 1.0]);
/// assert_eq!((groups[0].group.as_str(), groups[0].users, groups[0].ndcg), ("1-2", 2, Some(0.5)));
/// assert_eq!((groups[1].users, groups[1].recall, groups[2].ndcg), (1, Some(1.0), None));
/// ```
pub fn accuracy_by_history(
    history_len: &[usize],
    ndcg: &[f64],
    recall: &[f64],
) -> Vec<ShopperGroup> {
    HISTORY_BUCKETS
        .iter()
        .map(|&(low, high)| {
            let inside = |len: usize| len >= low && high.is_none_or(|h| len <= h);
            let (mut users, mut n, mut r) = (0usize, 0.0, 0.0);
            for ((&len, &nd), &re) in history_len.iter().zip(ndcg).zip(recall) {
                if inside(len) {
                    users += 1;
                    n += nd;
                    r += re;
                }
            }
            let mean = |sum: f64| (users > 0).then(|| sum / users as f64);
            ShopperGroup {
                group: match high {
                    Some(h) => format!("{low}-{h}"),
                    None => format!("{low}+"),
                },
                users,
                ndcg: mean(n),
                recall: mean(r),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    /// The worked case of most tests: three users, k = 2, five items.
    /// Slots: item 0 three times, item 1 twice, item 2 once; items 3 and 4 never (6 slots).
    fn lists() -> Vec<Vec<u32>> {
        vec![vec![0, 1], vec![0, 2], vec![0, 1]]
    }

    /// Training interactions: 0 -> 5, 1 -> 3, 2 -> 1, 3 -> 1, 4 -> 0 (10 in all; 4 items seen).
    const COUNTS: [f64; 5] = [5.0, 3.0, 1.0, 1.0, 0.0];

    #[test]
    fn coverage_by_hand() {
        // RecBole: 3 distinct of 5 items. Microsoft: 3 distinct of the 4 seen in training.
        assert!(close(item_coverage(&lists(), 5), 0.6));
        assert!(close(training_catalog_coverage(&lists(), &COUNTS), 0.75));
        assert_eq!(item_coverage(&[], 5), 0.0);
        assert_eq!(training_catalog_coverage(&lists(), &[0.0; 5]), 0.0);
    }

    #[test]
    fn gini_by_hand() {
        // P sorted ascending over all 5 items: [0, 0, 1, 2, 3], i = 1..5, n = 5.
        // (2i - n - 1) = [-4, -2, 0, 2, 4]; sum = 0 + 0 + 0 + 4 + 12 = 16; / (5 * 6) = 8/15.
        assert!(close(gini_index(&lists(), 5), 16.0 / 30.0));
        // Only the recommended items (n = 3): [1, 2, 3] with [-2, 0, 2]: 4 / 18.
        assert!(close(gini_index(&lists(), 3), 4.0 / 18.0));
        // Equal exposure of every item: 0. One item in every slot of 4 items: 3/4.
        assert!(close(gini_index(&[vec![0, 1], vec![2, 3]], 4), 0.0));
        assert!(close(gini_index(&[vec![2], vec![2], vec![2]], 4), 0.75));
        // One item in the catalogue: no inequality possible.
        assert_eq!(gini_index(&[vec![0], vec![0]], 1), 0.0);
        assert_eq!(gini_index(&[], 5), 0.0);
        assert_eq!(gini_index(&[vec![], vec![]], 5), 0.0);
    }

    #[test]
    fn entropies_by_hand() {
        // p = [3/6, 2/6, 1/6]: H = -(1/2 ln 1/2 + 1/3 ln 1/3 + 1/6 ln 1/6)
        //   = 0.5 ln 2 + (1/3) ln 3 + (1/6) ln 6 = 1.011404... nats.
        let nats = 0.5 * 2f64.ln() + 3f64.ln() / 3.0 + 6f64.ln() / 6.0;
        assert!(close(shannon_entropy(&lists()), nats));
        assert!((nats - 1.011_404).abs() < 1e-6);
        // RecBole's code divides by the 3 distinct items.
        assert!(close(recbole_entropy_per_item(&lists()), nats / 3.0));
        // Microsoft's distributional coverage: the same in bits.
        assert!(close(distributional_coverage(&lists()), nats / 2f64.ln()));
        // One item everywhere: 0 (not -0); nothing recommended: 0.
        assert_eq!(
            shannon_entropy(&[vec![1], vec![1]]).to_bits(),
            0f64.to_bits()
        );
        assert_eq!(distributional_coverage(&[]), 0.0);
        assert_eq!(recbole_entropy_per_item(&[vec![]]), 0.0);
        // Four items equally: ln 4 nats, 2 bits.
        let even = [vec![0, 1], vec![2, 3]];
        assert!(close(shannon_entropy(&even), 4f64.ln()));
        assert!(close(distributional_coverage(&even), 2.0));
    }

    #[test]
    fn average_popularity_by_hand() {
        // Per user: (5 + 3) / 2 = 4, (5 + 1) / 2 = 3, 4; mean 11/3.
        assert!(close(average_popularity(&lists(), &COUNTS), 11.0 / 3.0));
        // An empty list is left out; an id beyond the counts weighs 0.
        assert!(close(
            average_popularity(&[vec![0], vec![], vec![9]], &COUNTS),
            2.5
        ));
        assert_eq!(average_popularity(&[], &COUNTS), 0.0);
    }

    #[test]
    fn recbole_tail_by_hand() {
        // Seen: 0 (5), 1 (3), 2 (1), 3 (1); sorted by (count, id): 2, 3, 1, 0.
        // ratio 0.1: floor(0.4) = 0 -> max 1: item 2 only; item 4 (never bought) is not tail.
        let tail = recbole_tail_items(&COUNTS, 5, 0.1);
        assert_eq!(tail, [false, false, true, false, false]);
        // ratio 0.5: floor(2) = 2: items 2 and 3.
        assert_eq!(
            recbole_tail_items(&COUNTS, 5, 0.5),
            [false, false, true, true, false]
        );
        // ratio 3 (> 1): a count threshold: items with 1..=3 interactions.
        assert_eq!(
            recbole_tail_items(&COUNTS, 5, 3.0),
            [false, true, true, true, false]
        );
        // ratio 0: RecBole's default 0.1.
        assert_eq!(recbole_tail_items(&COUNTS, 5, 0.0), tail);
        // TailPercentage: user 2 has one tail item in two slots: (0 + 1/2 + 0) / 3.
        assert!(close(tail_percentage(&lists(), &tail), 0.5 / 3.0));
        // With the 0.5 tail the same; with the count threshold 3, items 1 and 2 are tail:
        // (1/2 + 1/2 + 1/2) / 3.
        let wide = recbole_tail_items(&COUNTS, 5, 3.0);
        assert!(close(tail_percentage(&lists(), &wide), 0.5));
        // All items equally popular: the cut falls by id.
        assert_eq!(
            recbole_tail_items(&[2.0, 2.0, 2.0], 3, 0.5),
            [true, false, false]
        );
        assert_eq!(recbole_tail_items(&[0.0, 0.0], 2, 0.1), [false, false]);
        assert_eq!(tail_percentage(&[], &tail), 0.0);
    }

    #[test]
    fn novelty_by_hand() {
        // nov(i) = -log2(count / 10): item 0: log2(2) = 1; item 1: log2(10/3); item 2: log2(10).
        // Slots: 3 x item 0, 2 x item 1, 1 x item 2; / 6.
        let want = (3.0 * 1.0 + 2.0 * (10f64 / 3.0).log2() + 10f64.log2()) / 6.0;
        assert!(close(novelty(&lists(), &COUNTS), want));
        // Item 4 was never bought: its slot adds 0 but counts: (1 + 0) / 2.
        assert!(close(novelty(&[vec![0], vec![4]], &COUNTS), 0.5));
        // All items equally popular (4 of them): every slot log2(4) = 2 bits.
        assert!(close(novelty(&[vec![0, 3]], &[1.0; 4]), 2.0));
        assert_eq!(novelty(&[], &COUNTS), 0.0);
        assert_eq!(novelty(&lists(), &[0.0; 5]), 0.0);
    }

    #[test]
    fn head_by_hand() {
        // 20 % of 10 interactions = 2: item 0 (5) alone reaches it.
        assert_eq!(
            head_items(&COUNTS, 5, 0.2),
            [true, false, false, false, false]
        );
        // 60 % = 6: item 0 (5) is short, item 1 (3) makes 8.
        assert_eq!(
            head_items(&COUNTS, 5, 0.6),
            [true, true, false, false, false]
        );
        // Equal popularity: 20 % of 5 = 1, the first by id.
        assert_eq!(
            head_items(&[1.0; 5], 5, 0.2),
            [true, false, false, false, false]
        );
        assert_eq!(head_items(&[0.0; 3], 3, 0.2), [false; 3]);
    }

    #[test]
    fn report_by_hand() {
        let r = ExposureReport::compute(&lists(), &COUNTS, 5, None);
        assert_eq!((r.users, r.slots), (3, 6));
        // Head = item 0: 1 of 5 items, 5 of 10 interactions, 3 of 6 slots.
        let head = &r.popularity_groups[0];
        assert_eq!(head.group, "head");
        assert!(close(head.catalog_share, 0.2) && close(head.training_share, 0.5));
        assert!(close(head.slot_share, 0.5) && close(r.head_slot_share(), 0.5));
        let tail = &r.popularity_groups[1];
        assert_eq!((tail.group.as_str(), tail.items), ("tail", 4));
        assert!(close(tail.slot_share, 0.5) && close(tail.training_share, 0.5));
        assert!(close(r.gini_index, 16.0 / 30.0));
        assert!(r.item_groups.is_empty());
        // Groups: {0, 1} "a", {2} "b", 3 and 4 none.
        let groups: Vec<Option<String>> = ["a", "a", "b"]
            .iter()
            .map(|g| Some(g.to_string()))
            .chain([None, None])
            .collect();
        let r = ExposureReport::compute(&lists(), &COUNTS, 5, Some(&groups));
        let a = &r.item_groups[0];
        assert_eq!((a.group.as_str(), a.items), ("a", 2));
        assert!(close(a.catalog_share, 0.4) && close(a.training_share, 0.8));
        assert!(close(a.slot_share, 5.0 / 6.0));
        assert!(close(r.item_groups[1].slot_share, 1.0 / 6.0));
        // Nothing recommended: every figure 0, none NaN (they serialize as numbers).
        let empty = ExposureReport::compute(&[], &COUNTS, 5, None);
        assert_eq!(empty.slots, 0);
        for v in [
            empty.item_coverage,
            empty.training_catalog_coverage,
            empty.gini_index,
            empty.shannon_entropy,
            empty.recbole_entropy_per_item,
            empty.average_popularity,
            empty.tail_percentage,
            empty.novelty,
            empty.distributional_coverage,
        ] {
            assert_eq!(v, 0.0);
        }
        assert!(empty.popularity_groups.iter().all(|g| g.slot_share == 0.0));
        assert_eq!(empty.head_slot_share(), 0.0);
    }

    #[test]
    fn accuracy_by_history_by_hand() {
        // Lengths 1, 2, 3, 7, 30 and 0 (no bucket).
        let len = [1, 2, 3, 7, 30, 0];
        let ndcg = [0.2, 0.4, 1.0, 0.5, 0.1, 9.0];
        let recall = [1.0, 0.0, 1.0, 1.0, 0.0, 9.0];
        let g = accuracy_by_history(&len, &ndcg, &recall);
        let names: Vec<&str> = g.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["1-2", "3-5", "6-10", "11-20", "21+"]);
        assert_eq!(g.iter().map(|g| g.users).sum::<usize>(), 5);
        assert!(close(g[0].ndcg.unwrap(), 0.3) && close(g[0].recall.unwrap(), 0.5));
        assert_eq!((g[1].ndcg, g[2].ndcg), (Some(1.0), Some(0.5)));
        assert_eq!((g[3].users, g[3].ndcg, g[3].recall), (0, None, None));
        assert_eq!((g[4].users, g[4].ndcg), (1, Some(0.1)));
    }
}
