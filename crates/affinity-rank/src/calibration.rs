//! Exposure-aware re-ranking: lists calibrated to each shopper's own popularity mix
//! (Abdollahpouri, Mansoury, Burke, Mobasher and Malthouse, "User-centered Evaluation of
//! Popularity Bias in Recommender Systems", UMAP 2021). A shopper who buys niche products gets
//! niche products in proportion, instead of the best sellers every list drifts towards.

use crate::error::Result;
use crate::rerank::{best_by, relevance_scale};
use crate::topk::Scored;

/// Head, mid and tail.
pub const GROUPS: usize = 3;

/// Products in three groups by how often they are bought: the **head**, the most bought
/// products that together take the first 20 % of purchases; the **tail**, the least bought that
/// take the last 20 %; the **mid**, the rest.
///
/// ```
/// use affinity_rank::PopularityGroups;
/// // One best seller (50 of 100 purchases), a middle, and a long tail of ones.
/// let mut counts = vec![50, 15, 15];
/// counts.extend([1; 20]);
/// let groups = PopularityGroups::from_counts(&counts);
/// assert_eq!((groups.group(0), groups.group(1), groups.group(22)), (0, 1, 2));
/// assert_eq!(groups.mix(&[0, 1, 22, 21]), [0.25, 0.25, 0.5]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopularityGroups {
    group: Vec<u8>,
}

impl PopularityGroups {
    /// Groups from purchases per product.
    pub fn from_counts(counts: &[u32]) -> Self {
        let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        let mut order: Vec<u32> = (0..counts.len() as u32).collect();
        // Most bought first; ties to the lower id.
        order.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
        let mut group = vec![1u8; counts.len()];
        let fifth = total as f64 * 0.2;
        let mut seen = 0u64;
        for &item in &order {
            if (seen as f64) < fifth {
                group[item as usize] = 0;
            }
            seen += u64::from(counts[item as usize]);
        }
        let mut seen = 0u64;
        for &item in order.iter().rev() {
            if (seen as f64) >= fifth || group[item as usize] == 0 {
                break;
            }
            group[item as usize] = 2;
            seen += u64::from(counts[item as usize]);
        }
        PopularityGroups { group }
    }

    /// The group of `item`: 0 head, 1 mid, 2 tail (an unknown id counts as tail).
    pub fn group(&self, item: u32) -> usize {
        self.group.get(item as usize).map_or(2, |&g| usize::from(g))
    }

    /// The shares of head, mid and tail among `items` (a third each when there are none).
    pub fn mix(&self, items: &[u32]) -> [f32; GROUPS] {
        if items.is_empty() {
            return [1.0 / 3.0; GROUPS];
        }
        let mut shares = [0f32; GROUPS];
        for &i in items {
            shares[self.group(i)] += 1.0;
        }
        shares.map(|s| s / items.len() as f32)
    }
}

/// Jensen-Shannon divergence in bits (0 for equal mixes, at most 1), after mixing a little of
/// the uniform into both so that an empty group does not make it infinite.
fn divergence(p: &[f32; GROUPS], q: &[f32; GROUPS]) -> f32 {
    const SMOOTH: f32 = 0.01;
    let smooth = |x: f32| (1.0 - SMOOTH) * x + SMOOTH / GROUPS as f32;
    let mut js = 0.0;
    for g in 0..GROUPS {
        let (a, b) = (smooth(p[g]), smooth(q[g]));
        let m = 0.5 * (a + b);
        js += 0.5 * (a * (a / m).log2() + b * (b / m).log2());
    }
    js.max(0.0)
}

/// Picks `k` of `candidates` greedily: each step takes the candidate with the best
/// `(1 - lambda) * relevance - lambda * JS(target, mix of the list with it)`, relevance being the
/// score min-max normalised over the candidates. `lambda` 0 keeps the order by score; 1 matches
/// the mix whatever the scores. Ties go to the higher score, then the lower id.
///
/// ```
/// use affinity_rank::{calibrate, PopularityGroups, Scored};
/// let groups = PopularityGroups::from_counts(&[90, 5, 5, 1, 1]);
/// let c = |item, score| Scored { item, score };
/// let candidates = [c(0, 1.0), c(1, 0.9), c(3, 0.2), c(4, 0.1)];
/// // A shopper whose history is all tail: tail products come up, the best seller goes down.
/// let picked = calibrate(&candidates, 2, 0.8, &groups, [0.0, 0.0, 1.0])?;
/// assert!(picked.iter().all(|s| groups.group(s.item) == 2));
/// // lambda 0: by score.
/// let plain = calibrate(&candidates, 2, 0.0, &groups, [0.0, 0.0, 1.0])?;
/// assert_eq!(plain.iter().map(|s| s.item).collect::<Vec<_>>(), vec![0, 1]);
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
pub fn calibrate(
    candidates: &[Scored],
    k: usize,
    lambda: f32,
    groups: &PopularityGroups,
    target: [f32; GROUPS],
) -> Result<Vec<Scored>> {
    let relevance = relevance_scale(candidates, lambda)?;
    let mut left: Vec<Scored> = candidates.to_vec();
    let mut picked: Vec<Scored> = Vec::with_capacity(k.min(left.len()));
    let mut counts = [0f32; GROUPS];
    while picked.len() < k && !left.is_empty() {
        let n = picked.len() as f32 + 1.0;
        let best = best_by(&left, |_, c| {
            let mut with = counts;
            with[groups.group(c.item)] += 1.0;
            let mix = with.map(|x| x / n);
            (1.0 - lambda) * relevance(c.score) - lambda * divergence(&target, &mix)
        });
        let chosen = left.swap_remove(best);
        counts[groups.group(chosen.item)] += 1.0;
        picked.push(chosen);
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_split_purchases_into_fifths() {
        // 100 purchases: 30 + 20 | 10 x 4 | 5 x 2.
        let counts = [30, 20, 10, 10, 10, 10, 5, 5];
        let g = PopularityGroups::from_counts(&counts);
        let groups: Vec<usize> = (0..8).map(|i| g.group(i)).collect();
        // The head takes items until 20 purchases are reached (item 0, 30 of them); the tail
        // takes the least bought until 20 (5 + 5 + 10, the last crossing the line).
        assert_eq!(groups, vec![0, 1, 1, 1, 1, 2, 2, 2]);
        assert_eq!(g.group(99), 2);
        assert_eq!(g.mix(&[]), [1.0 / 3.0; 3]);
    }

    #[test]
    fn divergence_is_zero_for_equal_mixes_and_bounded() {
        let a = [0.2, 0.6, 0.2];
        assert!(divergence(&a, &a).abs() < 1e-6);
        let far = divergence(&[1.0, 0.0, 0.0], &[0.0, 0.0, 1.0]);
        assert!(far > 0.8 && far <= 1.0, "{far}");
        assert!(divergence(&a, &[0.3, 0.5, 0.2]) < divergence(&a, &[0.6, 0.2, 0.2]));
    }

    #[test]
    fn the_list_moves_towards_the_target_as_lambda_grows() {
        // Head 0-2, mid 3-21, tail 22-49.
        let mut counts = vec![100u32; 10];
        counts.extend(vec![10u32; 40]);
        let groups = PopularityGroups::from_counts(&counts);
        // Relevance falls with the id: the head first.
        let candidates: Vec<Scored> = (0..50u32)
            .map(|i| Scored {
                item: i,
                score: 1.0 - i as f32 / 50.0,
            })
            .collect();
        let target = [0.2, 0.3, 0.5];
        let tail_share = |lambda: f32| {
            let list = calibrate(&candidates, 10, lambda, &groups, target).unwrap();
            let items: Vec<u32> = list.iter().map(|s| s.item).collect();
            groups.mix(&items)[2]
        };
        let shares: Vec<f32> = [0.0, 0.5, 0.9, 0.99, 1.0]
            .into_iter()
            .map(tail_share)
            .collect();
        // By score alone no tail product makes the list; the target's half at the far end.
        assert_eq!(shares[0], 0.0);
        assert!(shares.windows(2).all(|w| w[0] <= w[1]), "{shares:?}");
        assert!(shares[2] > 0.0, "{shares:?}");
        assert_eq!(shares[4], 0.5, "{shares:?}");
        assert!(calibrate(&candidates, 10, 1.5, &groups, target).is_err());
    }
}
