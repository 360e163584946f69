//! Combining score sources, and re-ranking for diversity.

use crate::error::{RankError, Result};
use crate::topk::Scored;
use affinity_core::InvalidSetting;

/// How a source's scores are brought to a common scale before weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalization {
    /// `(s - min) / (max - min)` over the items scored: 0 for the weakest, 1 for the strongest
    /// (all 0 when the source is constant). Weights then say how much each source can move
    /// an item.
    #[default]
    MinMax,
    /// `(s - mean) / std`.
    ZScore,
    /// As given.
    None,
}

/// One score source in a blend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Source<'a> {
    /// Scores indexed by item id (all sources the same length).
    pub scores: &'a [f32],
    /// Its weight.
    pub weight: f32,
}

/// The weighted sum of normalised sources: `sum_s w_s * norm(scores_s)[i]` for every item.
/// Non-finite scores count as the source's minimum.
///
/// ```
/// use affinity_rank::{blend, Normalization, Source};
/// let embedding = [0.2, 0.9, 0.5];
/// let rules = [0.0, 0.0, 4.0]; // lift of a fired rule, say
/// let mixed = blend(&[Source { scores: &embedding, weight: 0.6 }, Source { scores: &rules, weight: 0.4 }], Normalization::MinMax)?;
/// assert!(mixed[2] > mixed[1]); // 0.6 * 3/7 + 0.4 = 0.657 beats 0.6 * 1
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
pub fn blend(sources: &[Source], normalization: Normalization) -> Result<Vec<f32>> {
    let Some(first) = sources.first() else {
        return Ok(Vec::new());
    };
    let normalized: Vec<Vec<f32>> = sources
        .iter()
        .map(|s| normalize(s.scores, normalization))
        .collect();
    let scaled: Vec<Source> = sources
        .iter()
        .zip(&normalized)
        .map(|(s, n)| Source {
            scores: n,
            weight: s.weight,
        })
        .collect();
    let mut out = vec![0f32; first.scores.len()];
    weighted_sum(&scaled, &mut out)?;
    Ok(out)
}

/// `out[i] = sum_s w_s * scores_s[i]`, in the sources' order, sources of weight 0 skipped:
/// the sum [`blend`] takes after normalising, for callers that normalise once and try many
/// weights (the same sources and weights give the same bits either way).
///
/// ```
/// use affinity_rank::{weighted_sum, Source};
/// let mut out = [0f32; 2];
/// weighted_sum(&[Source { scores: &[1.0, 0.0], weight: 0.5 }, Source { scores: &[0.0, 1.0], weight: 2.0 }], &mut out)?;
/// assert_eq!(out, [0.5, 2.0]);
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
pub fn weighted_sum(sources: &[Source], out: &mut [f32]) -> Result<()> {
    out.fill(0.0);
    for s in sources {
        if s.scores.len() != out.len() {
            return Err(RankError::DimensionMismatch {
                what: "blend source",
                expected: out.len(),
                found: s.scores.len(),
            });
        }
        if !s.weight.is_finite() {
            return Err(
                InvalidSetting::new("weight", format!("{} is not finite", s.weight)).into(),
            );
        }
        if s.weight != 0.0 {
            for (o, &v) in out.iter_mut().zip(s.scores) {
                *o += s.weight * v;
            }
        }
    }
    Ok(())
}

/// One source's scores brought to the common scale [`blend`] weights them on: non-finite
/// scores count as the minimum, and a constant source becomes zeros. Blending sources
/// normalised once with several weights gives exactly what [`blend`] gives for each.
///
/// ```
/// use affinity_rank::{normalize, Normalization};
/// assert_eq!(normalize(&[1.0, 3.0, f32::NAN], Normalization::MinMax), vec![0.0, 1.0, 0.0]);
/// ```
pub fn normalize(scores: &[f32], normalization: Normalization) -> Vec<f32> {
    let finite = scores.iter().copied().filter(|x| x.is_finite());
    let (min, max) = finite
        .clone()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    // Only z-scores need the mean and spread (two more passes, skipped per request otherwise).
    let (mean, std) = if normalization == Normalization::ZScore {
        let count = finite.clone().count().max(1) as f32;
        let mean = finite.clone().sum::<f32>() / count;
        let std = (finite.map(|x| (x - mean) * (x - mean)).sum::<f32>() / count).sqrt();
        (mean, std)
    } else {
        (0.0, 0.0)
    };
    scores
        .iter()
        .map(|&x| {
            let x = if x.is_finite() { x } else { min };
            let v = match normalization {
                Normalization::MinMax if max > min => (x - min) / (max - min),
                Normalization::MinMax => 0.0,
                Normalization::ZScore if std > 0.0 => (x - mean) / std,
                Normalization::ZScore => 0.0,
                Normalization::None => x,
            };
            if v.is_finite() {
                v
            } else {
                0.0
            }
        })
        .collect()
}

/// Maximal marginal relevance: picks `k` of `candidates` greedily by
/// `lambda * relevance - (1 - lambda) * max similarity to the items already picked`.
/// `lambda = 1` keeps the relevance order; `lambda = 0` only spreads the list out; 0.7 is a
/// common start. Relevance is min-max normalised over the candidates first so that it shares
/// the similarity's [0, 1]-ish scale. Returned scores are the candidates' own.
///
/// ```
/// use affinity_rank::{mmr, Scored};
/// let c = [Scored { item: 0, score: 1.0 }, Scored { item: 1, score: 0.99 }, Scored { item: 2, score: 0.5 }];
/// // Items 0 and 1 are near duplicates.
/// let sim = |a: u32, b: u32| if a + b == 1 { 0.99 } else { 0.0 };
/// let picked = mmr(&c, 2, 0.5, sim)?;
/// assert_eq!(picked.iter().map(|s| s.item).collect::<Vec<_>>(), vec![0, 2]);
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
pub fn mmr(
    candidates: &[Scored],
    k: usize,
    lambda: f32,
    similarity: impl Fn(u32, u32) -> f32,
) -> Result<Vec<Scored>> {
    let relevance = relevance_scale(candidates, lambda)?;
    let mut left: Vec<Scored> = candidates.to_vec();
    let mut picked: Vec<Scored> = Vec::with_capacity(k.min(left.len()));
    // Highest similarity of each remaining candidate to the picked set.
    let mut max_sim = vec![f32::NEG_INFINITY; left.len()];
    while picked.len() < k && !left.is_empty() {
        let best = best_by(&left, |i, c| {
            let penalty = if picked.is_empty() { 0.0 } else { max_sim[i] };
            lambda * relevance(c.score) - (1.0 - lambda) * penalty
        });
        let chosen = left.swap_remove(best);
        max_sim.swap_remove(best);
        for (i, c) in left.iter().enumerate() {
            max_sim[i] = max_sim[i].max(similarity(c.item, chosen.item));
        }
        picked.push(chosen);
    }
    Ok(picked)
}

/// What a greedy re-ranker (MMR, calibration) weighs against its own criterion: a candidate's
/// score min-max normalised over `candidates` (1 for all when they are equal), once the
/// trade-off `lambda` is checked to lie in [0, 1].
pub(crate) fn relevance_scale(candidates: &[Scored], lambda: f32) -> Result<impl Fn(f32) -> f32> {
    if !(0.0..=1.0).contains(&lambda) {
        return Err(InvalidSetting::new("lambda", format!("{lambda} is outside [0, 1]")).into());
    }
    let (min, max) = candidates
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), c| {
            (a.min(c.score), b.max(c.score))
        });
    Ok(move |s: f32| {
        if max > min {
            (s - min) / (max - min)
        } else {
            1.0
        }
    })
}

/// The position in `left` of the candidate with the highest `value(position, candidate)`; ties
/// go to the higher score, then the lower id (the first of `left` when every value is -inf or
/// NaN).
pub(crate) fn best_by(left: &[Scored], value: impl Fn(usize, &Scored) -> f32) -> usize {
    let mut best = 0;
    let mut best_value = f32::NEG_INFINITY;
    for (i, c) in left.iter().enumerate() {
        let v = value(i, c);
        if v > best_value
            || (v == best_value
                && crate::topk::better((c.score, c.item), (left[best].score, left[best].item)))
        {
            best = i;
            best_value = v;
        }
    }
    best
}
