//! Ranking metrics over one ranked list, and their mean over many users.
//!
//! Conventions: ranks start at 1; relevance is binary; `relevant` may hold duplicates (they
//! count once); NDCG's ideal list puts `min(|relevant|, k)` hits first; MRR uses the first hit
//! anywhere in the list given (pass a list cut at k for MRR@k).

use std::collections::HashSet;

fn hits_within(ranked: &[u32], relevant: &HashSet<u32>, k: usize) -> usize {
    ranked
        .iter()
        .take(k)
        .filter(|i| relevant.contains(i))
        .count()
}

fn set(relevant: &[u32]) -> HashSet<u32> {
    relevant.iter().copied().collect()
}

/// Share of the relevant items found in the top `k`; 0 when nothing is relevant.
///
/// ```
/// assert_eq!(affinity_data::metrics::recall_at(&[5, 1, 9], &[1, 2], 2), 0.5);
/// ```
pub fn recall_at(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    let relevant = set(relevant);
    if relevant.is_empty() {
        return 0.0;
    }
    hits_within(ranked, &relevant, k) as f64 / relevant.len() as f64
}

/// 1 if any relevant item is in the top `k`, else 0.
pub fn hit_rate_at(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    f64::from(u8::from(hits_within(ranked, &set(relevant), k) > 0))
}

/// Share of the top `k` slots that hold a relevant item (a short list still divides by `k`).
pub fn precision_at(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    hits_within(ranked, &set(relevant), k) as f64 / k as f64
}

/// Normalised discounted cumulative gain at `k` with binary gains.
///
/// ```
/// let ndcg = affinity_data::metrics::ndcg_at(&[7, 3], &[3], 10);
/// assert!((ndcg - 1.0 / 3f64.log2()).abs() < 1e-12);
/// ```
pub fn ndcg_at(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    let relevant = set(relevant);
    if relevant.is_empty() || k == 0 {
        return 0.0;
    }
    let discount = |rank: usize| 1.0 / ((rank + 1) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, item)| relevant.contains(item))
        .map(|(i, _)| discount(i + 1))
        .sum();
    let ideal: f64 = (1..=relevant.len().min(k)).map(discount).sum();
    dcg / ideal
}

/// 1 / rank of the first relevant item in the list; 0 when none is there.
pub fn reciprocal_rank(ranked: &[u32], relevant: &[u32]) -> f64 {
    let relevant = set(relevant);
    ranked
        .iter()
        .position(|i| relevant.contains(i))
        .map_or(0.0, |p| 1.0 / (p + 1) as f64)
}

/// Share of the catalog that appears in at least one list.
pub fn catalog_coverage(lists: &[Vec<u32>], n_items: usize) -> f64 {
    if n_items == 0 {
        return 0.0;
    }
    let seen: HashSet<u32> = lists.iter().flatten().copied().collect();
    seen.len() as f64 / n_items as f64
}

/// Mean pairwise cosine distance (1 - cosine similarity) between the items of a list, given
/// a vector per item; 0 for lists shorter than two.
pub fn intra_list_diversity<'a>(list: &[u32], vector: impl Fn(u32) -> &'a [f32]) -> f64 {
    if list.len() < 2 {
        return 0.0;
    }
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let mut total = 0.0;
    let mut pairs = 0usize;
    for (i, &a) in list.iter().enumerate() {
        for &b in &list[i + 1..] {
            let (va, vb) = (vector(a), vector(b));
            let dot: f64 = va
                .iter()
                .zip(vb)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let denom = norm(va) * norm(vb);
            let cosine = if denom > 0.0 { dot / denom } else { 0.0 };
            total += 1.0 - cosine;
            pairs += 1;
        }
    }
    total / pairs as f64
}

/// Mean popularity of the items in a list (popularity as the caller defines it, e.g. the
/// share of training users who interacted with the item); 0 for an empty list.
pub fn popularity_bias(list: &[u32], popularity: &[f64]) -> f64 {
    if list.is_empty() {
        return 0.0;
    }
    list.iter().map(|&i| popularity[i as usize]).sum::<f64>() / list.len() as f64
}

/// Means of the metrics at one cut-off over many users.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct MetricSummary {
    /// The cut-off.
    pub k: usize,
    /// Users evaluated.
    pub users: usize,
    /// Mean Recall@k.
    pub recall: f64,
    /// Mean HR@k.
    pub hit_rate: f64,
    /// Mean Precision@k.
    pub precision: f64,
    /// Mean NDCG@k.
    pub ndcg: f64,
    /// Mean reciprocal rank over the lists as given.
    pub mrr: f64,
    /// Catalog coverage of the top-k lists.
    pub coverage: f64,
    /// Mean intra-list diversity of the top-k lists (when item vectors were given).
    pub diversity: Option<f64>,
    /// Mean popularity of the top-k items (when popularity was given).
    pub popularity: Option<f64>,
}

/// Accumulates per-user metrics at cut-off `k`.
///
/// ```
/// use affinity_data::metrics::Evaluator;
/// let mut eval = Evaluator::new(2, 10);
/// eval.add(&[3, 4, 5], &[4]);
/// eval.add(&[1, 0, 3], &[9]);
/// let summary = eval.summary();
/// assert_eq!(summary.hit_rate, 0.5);
/// assert_eq!(summary.coverage, 0.4);
/// ```
#[derive(Debug, Clone)]
pub struct Evaluator {
    k: usize,
    n_items: usize,
    sums: [f64; 5],
    users: usize,
    lists: Vec<Vec<u32>>,
    ndcg: Vec<f64>,
    recall: Vec<f64>,
}

impl Evaluator {
    /// An evaluator at cut-off `k` over a catalog of `n_items`.
    pub fn new(k: usize, n_items: usize) -> Self {
        Evaluator {
            k,
            n_items,
            sums: [0.0; 5],
            users: 0,
            lists: Vec::new(),
            ndcg: Vec::new(),
            recall: Vec::new(),
        }
    }

    /// Adds one user's ranked list and relevant items.
    pub fn add(&mut self, ranked: &[u32], relevant: &[u32]) {
        let k = self.k;
        let values = [
            recall_at(ranked, relevant, k),
            hit_rate_at(ranked, relevant, k),
            precision_at(ranked, relevant, k),
            ndcg_at(ranked, relevant, k),
            reciprocal_rank(ranked, relevant),
        ];
        for (sum, v) in self.sums.iter_mut().zip(values) {
            *sum += v;
        }
        self.users += 1;
        self.ndcg.push(values[3]);
        self.recall.push(values[0]);
        self.lists.push(ranked.iter().take(k).copied().collect());
    }

    /// The means so far, without diversity or popularity.
    pub fn summary(&self) -> MetricSummary {
        let n = self.users.max(1) as f64;
        MetricSummary {
            k: self.k,
            users: self.users,
            recall: self.sums[0] / n,
            hit_rate: self.sums[1] / n,
            precision: self.sums[2] / n,
            ndcg: self.sums[3] / n,
            mrr: self.sums[4] / n,
            coverage: catalog_coverage(&self.lists, self.n_items),
            diversity: None,
            popularity: None,
        }
    }

    /// The means with diversity from item vectors and popularity bias.
    pub fn summary_with<'a>(
        &self,
        vector: impl Fn(u32) -> &'a [f32],
        popularity: &[f64],
    ) -> MetricSummary {
        let n = self.lists.len().max(1) as f64;
        let diversity = self
            .lists
            .iter()
            .map(|l| intra_list_diversity(l, &vector))
            .sum::<f64>()
            / n;
        let pop = self
            .lists
            .iter()
            .map(|l| popularity_bias(l, popularity))
            .sum::<f64>()
            / n;
        MetricSummary {
            diversity: Some(diversity),
            popularity: Some(pop),
            ..self.summary()
        }
    }

    /// The top-k lists added so far.
    pub fn lists(&self) -> &[Vec<u32>] {
        &self.lists
    }

    /// NDCG@k of each user added so far, in order (for paired significance tests).
    pub fn per_user_ndcg(&self) -> &[f64] {
        &self.ndcg
    }

    /// Recall@k of each user added so far, in order.
    pub fn per_user_recall(&self) -> &[f64] {
        &self.recall
    }
}

/// The mean of a paired difference and its 95 % percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairedDifference {
    /// Mean of `a - b` over the pairs.
    pub mean: f64,
    /// 2.5th percentile of the resampled means.
    pub low: f64,
    /// 97.5th percentile of the resampled means.
    pub high: f64,
}

/// `+0.0050 [+0.0010, +0.0089] win`: the mean, the interval and the verdict.
impl std::fmt::Display for PairedDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:+.4} [{:+.4}, {:+.4}] {}",
            self.mean,
            self.low,
            self.high,
            self.verdict()
        )
    }
}

impl PairedDifference {
    /// "win", "loss" or "tie": whether the interval excludes zero, and on which side.
    pub fn verdict(&self) -> &'static str {
        if self.low > 0.0 {
            "win"
        } else if self.high < 0.0 {
            "loss"
        } else {
            "tie"
        }
    }
}

/// Paired bootstrap over users: resamples the users `resamples` times (seeded) and returns the
/// mean of `a[i] - b[i]` with its 95 % interval. `a` and `b` are per-user figures of two
/// methods on the same users, in the same order; `None` when the lengths differ or are zero.
///
/// ```
/// use affinity_data::metrics::paired_bootstrap;
/// let a = [0.5, 0.4, 0.6, 0.5, 0.7, 0.5];
/// let b = [0.1, 0.2, 0.1, 0.0, 0.2, 0.1];
/// let d = paired_bootstrap(&a, &b, 1000, 7).unwrap();
/// assert!(d.low > 0.0 && d.verdict() == "win");
/// ```
pub fn paired_bootstrap(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    seed: u64,
) -> Option<PairedDifference> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = diff.len();
    let mean = diff.iter().sum::<f64>() / n as f64;
    let mut rng = crate::synthetic::SplitMix64::new(seed ^ 0x9E37_79B9_7F4A_7C15);
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            (0..n)
                .map(|_| diff[(rng.next_u64() % n as u64) as usize])
                .sum::<f64>()
                / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((means.len() - 1) as f64 * q).round() as usize];
    Some(PairedDifference {
        mean,
        low: at(0.025),
        high: at(0.975),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    #[test]
    fn paired_bootstrap_calls_noise_a_tie_and_a_shift_a_win() {
        // Differences alternate around zero: the interval straddles it.
        let a: Vec<f64> = (0..400)
            .map(|i| if i % 2 == 0 { 1.0 } else { 0.0 })
            .collect();
        let b: Vec<f64> = (0..400)
            .map(|i| if i % 2 == 0 { 0.0 } else { 1.0 })
            .collect();
        let tie = paired_bootstrap(&a, &b, 500, 1).unwrap();
        assert!(tie.mean.abs() < EPS && tie.low < 0.0 && tie.high > 0.0);
        assert_eq!(tie.verdict(), "tie");
        // b shifted down by 0.1 everywhere: every resample sees the same +0.1.
        let worse: Vec<f64> = a.iter().map(|x| x - 0.1).collect();
        let win = paired_bootstrap(&a, &worse, 500, 1).unwrap();
        assert!((win.low - 0.1).abs() < 1e-9 && (win.high - 0.1).abs() < 1e-9);
        assert_eq!(
            paired_bootstrap(&worse, &a, 500, 1).unwrap().verdict(),
            "loss"
        );
        assert_eq!(paired_bootstrap(&a, &b[1..], 500, 1), None);
        assert_eq!(paired_bootstrap(&[], &[], 500, 1), None);
    }

    #[test]
    fn recall_precision_and_hit_rate_by_hand() {
        // Relevant {2, 4, 6}; top-4 = [1, 2, 3, 4]: two hits.
        let ranked = [1, 2, 3, 4, 5, 6];
        let relevant = [2, 4, 6, 4];
        assert!((recall_at(&ranked, &relevant, 4) - 2.0 / 3.0).abs() < EPS);
        assert!((precision_at(&ranked, &relevant, 4) - 0.5).abs() < EPS);
        assert_eq!(hit_rate_at(&ranked, &relevant, 1), 0.0);
        assert_eq!(hit_rate_at(&ranked, &relevant, 2), 1.0);
        assert_eq!(recall_at(&ranked, &[], 4), 0.0);
        assert_eq!(precision_at(&[2], &relevant, 4), 0.25);
    }

    #[test]
    fn ndcg_by_hand() {
        // Hits at ranks 2 and 4 among relevant {2, 4, 6}, k = 4:
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4).
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        let got = ndcg_at(&[1, 2, 3, 4, 5, 6], &[2, 4, 6], 4);
        assert!((got - dcg / idcg).abs() < EPS, "{got}");
        assert!((ndcg_at(&[6, 4, 2], &[2, 4, 6], 3) - 1.0).abs() < EPS);
        assert_eq!(ndcg_at(&[1, 3], &[2], 2), 0.0);
    }

    #[test]
    fn mrr_coverage_diversity_popularity_by_hand() {
        assert_eq!(reciprocal_rank(&[9, 8, 7, 6], &[7, 6]), 1.0 / 3.0);
        assert_eq!(reciprocal_rank(&[9], &[7]), 0.0);
        assert_eq!(catalog_coverage(&[vec![0, 1], vec![1, 2]], 6), 0.5);
        // Orthogonal pair: distance 1; identical pair: 0; opposite: 2. Mean over 3 pairs.
        let vectors = [[1.0f32, 0.0], [0.0, 1.0], [1.0, 0.0]];
        let div = intra_list_diversity(&[0, 1, 2], |i| &vectors[i as usize][..]);
        assert!((div - (1.0 + 0.0 + 1.0) / 3.0).abs() < EPS);
        assert_eq!(popularity_bias(&[0, 2], &[0.5, 0.1, 0.25]), 0.375);
    }

    #[test]
    fn evaluator_means() {
        let mut eval = Evaluator::new(2, 4);
        eval.add(&[0, 1, 2], &[1]);
        eval.add(&[2, 3, 0], &[0]);
        let s = eval.summary();
        assert_eq!(s.users, 2);
        assert!((s.recall - 0.5).abs() < EPS);
        assert!((s.ndcg - 0.5 / 3f64.log2()).abs() < EPS);
        assert!((s.mrr - (0.5 + 1.0 / 3.0) / 2.0).abs() < EPS);
        assert_eq!(s.coverage, 1.0);
    }
}
