//! One interface for every way of ranking products, and one for every way of scoring them:
//! the baselines here, rules alone, the language model, the sequential model and the hybrid
//! recommender all implement [`Ranker`] (and most [`Scorer`]), so evaluation, the command line
//! and a server treat them alike.

use ndarray::Array2;

use crate::baselines::{ItemCooccurrence, MostPopular};
use crate::error::{RankError, Result};
use crate::repeat::BasketHistory;
use crate::topk::Scored;
use crate::transitions::ItemTransitions;
use affinity_core::InvalidSetting;

/// Histories in, ranked items out.
///
/// `exclude` lists, per history, the items never to return: pass the histories themselves to
/// leave out what was already bought (what a shop serves), or an empty slice to exclude
/// nothing (RecBole's "all items" protocol). Lists are best first, ties to the lower id, and
/// hold `k` items whenever `k` remain. A ranker that fails for a reason of its own (a model
/// that cannot run) says so with [`RankError::failed`].
///
/// ```
/// use affinity_rank::{MostPopular, Ranker};
/// let popular = MostPopular::fit(&[vec![0, 1], vec![1], vec![2, 1]], 3);
/// let histories = vec![vec![1], vec![]];
/// let lists = popular.rank(&histories, 2, &histories)?;
/// assert_eq!(lists[0].iter().map(|s| s.item).collect::<Vec<_>>(), [0, 2]);
/// assert_eq!(lists[1][0].item, 1);
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
pub trait Ranker {
    /// A short name for tables and logs.
    fn name(&self) -> String;

    /// The best `k` items for each history (item ids, oldest first).
    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>>;

    /// As [`Ranker::rank`], with each history's shopper also given as baskets with their
    /// days ([`BasketHistory`], one per history): what next-basket rankers read (the
    /// repeat-aware ones, TIFU-KNN). Others rank the histories, which is the default.
    fn rank_baskets(
        &self,
        histories: &[Vec<u32>],
        shoppers: &[BasketHistory],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        let _ = shoppers;
        self.rank(histories, k, exclude)
    }
}

/// Every item's score for each history: what a fusion of several sources adds up.
pub trait Scorer {
    /// A short name for tables and tuning reports.
    fn name(&self) -> String;

    /// `[histories, items]`, higher is better, on any scale (a fusion normalises per history).
    fn scores(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>>;
}

/// The exclusion list of history `i` (none when `exclude` is empty); a length mismatch is an
/// error rather than a silently unfiltered list.
pub fn exclusions<'a, T>(
    histories: &[T],
    exclude: &'a [Vec<u32>],
) -> Result<impl Fn(usize) -> &'a [u32]> {
    if !exclude.is_empty() && exclude.len() != histories.len() {
        return Err(InvalidSetting::new(
            "exclude",
            format!(
                "{} exclusion lists for {} histories",
                exclude.len(),
                histories.len()
            ),
        )
        .into());
    }
    Ok(move |i: usize| exclude.get(i).map_or(&[][..], Vec::as_slice))
}

/// Each history ranked alone by `rank_one(history, excluded)`, with `exclude` checked as
/// [`exclusions`] checks it: how a ranker that ranks one history at a time ranks many.
pub fn rank_each(
    histories: &[Vec<u32>],
    exclude: &[Vec<u32>],
    rank_one: impl Fn(&[u32], &[u32]) -> Vec<Scored>,
) -> Result<Vec<Vec<Scored>>> {
    let excluded = exclusions(histories, exclude)?;
    Ok(histories
        .iter()
        .enumerate()
        .map(|(i, h)| rank_one(h, excluded(i)))
        .collect())
}

/// The best `k` of each row of `scores` (one row per history), leaving out `exclude`'s items:
/// what a [`Scorer`] ranks as.
pub fn rank_scores(
    scores: &Array2<f32>,
    histories: &[Vec<u32>],
    k: usize,
    exclude: &[Vec<u32>],
) -> Result<Vec<Vec<Scored>>> {
    let excluded = exclusions(histories, exclude)?;
    Ok(scores
        .rows()
        .into_iter()
        .enumerate()
        .map(|(i, row)| match row.as_slice() {
            Some(row) => crate::top_k(row, k, excluded(i)),
            None => crate::top_k(&row.to_vec(), k, excluded(i)),
        })
        .collect())
}

/// One row of scores per history, from a function of one history.
pub fn score_rows(
    histories: &[Vec<u32>],
    score: impl Fn(&[u32]) -> Vec<f32>,
) -> Result<Array2<f32>> {
    let lists: Vec<Vec<f32>> = histories.iter().map(|h| score(h)).collect();
    let width = lists.first().map_or(0, Vec::len);
    if let Some(other) = lists.iter().find(|l| l.len() != width) {
        return Err(RankError::DimensionMismatch {
            what: "score row",
            expected: width,
            found: other.len(),
        });
    }
    let flat: Vec<f32> = lists.into_iter().flatten().collect();
    Ok(Array2::from_shape_vec((histories.len(), width), flat).expect("rows of one width"))
}

impl Ranker for MostPopular {
    fn name(&self) -> String {
        "most popular".into()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        rank_each(histories, exclude, |_, excluded| {
            self.recommend(excluded, k)
        })
    }
}

impl Scorer for MostPopular {
    fn name(&self) -> String {
        Ranker::name(self)
    }

    fn scores(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        score_rows(histories, |_| self.counts().to_vec())
    }
}

impl Ranker for ItemCooccurrence {
    fn name(&self) -> String {
        "item co-occurrence".into()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        rank_each(histories, exclude, |h, excluded| {
            self.recommend(h, excluded, k)
        })
    }
}

impl Scorer for ItemCooccurrence {
    fn name(&self) -> String {
        Ranker::name(self)
    }

    fn scores(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        score_rows(histories, |h| ItemCooccurrence::scores(self, h))
    }
}

impl Ranker for ItemTransitions {
    fn name(&self) -> String {
        "item transitions".into()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        rank_each(histories, exclude, |h, excluded| {
            self.recommend(h, excluded, k)
        })
    }
}

impl Scorer for ItemTransitions {
    fn name(&self) -> String {
        Ranker::name(self)
    }

    fn scores(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        score_rows(histories, |h| ItemTransitions::scores(self, h))
    }
}

/// A ranker or scorer under another name (for tables that compare variants of one method).
#[derive(Debug, Clone)]
pub struct Named<R> {
    /// The name shown.
    pub name: String,
    /// The ranker.
    pub inner: R,
}

impl<R: Ranker> Ranker for Named<R> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        self.inner.rank(histories, k, exclude)
    }

    fn rank_baskets(
        &self,
        histories: &[Vec<u32>],
        shoppers: &[BasketHistory],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        self.inner.rank_baskets(histories, shoppers, k, exclude)
    }
}

impl<S: Scorer> Scorer for Named<S> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn scores(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        self.inner.scores(histories)
    }
}

impl<R: Ranker + ?Sized> Ranker for &R {
    fn name(&self) -> String {
        (**self).name()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        (**self).rank(histories, k, exclude)
    }

    fn rank_baskets(
        &self,
        histories: &[Vec<u32>],
        shoppers: &[BasketHistory],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        (**self).rank_baskets(histories, shoppers, k, exclude)
    }
}

impl<S: Scorer + ?Sized> Scorer for &S {
    fn name(&self) -> String {
        (**self).name()
    }

    fn scores(&self, histories: &[Vec<u32>]) -> Result<Array2<f32>> {
        (**self).scores(histories)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusion_lists_must_match_the_histories() {
        let popular = MostPopular::fit(&[vec![0, 1]], 2);
        let err = popular
            .rank(&[vec![0], vec![1]], 1, &[vec![0]])
            .unwrap_err();
        assert!(
            matches!(&err, RankError::InvalidSetting(s) if s.name == "exclude"),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("1 exclusion lists for 2 histories"));
    }

    #[test]
    fn a_scorer_ranks_like_its_ranker() {
        let baskets = vec![vec![0, 1], vec![0, 1], vec![2, 3], vec![1, 3]];
        let cooc = ItemCooccurrence::fit(&baskets, 4, crate::CooccurrenceWeight::Cosine);
        let histories = vec![vec![0], vec![3], vec![]];
        let scores = Scorer::scores(&cooc, &histories).unwrap();
        assert_eq!(scores.dim(), (3, 4));
        let from_scores = rank_scores(&scores, &histories, 2, &histories).unwrap();
        let ranked = cooc.rank(&histories, 2, &histories).unwrap();
        let items = |l: &Vec<Vec<Scored>>| -> Vec<Vec<u32>> {
            l.iter()
                .map(|r| r.iter().map(|s| s.item).collect())
                .collect()
        };
        assert_eq!(items(&from_scores)[..2], items(&ranked)[..2]);
    }

    #[test]
    fn rows_of_different_widths_are_refused() {
        let err = score_rows(&[vec![0], vec![1]], |h| vec![0.0; 1 + h[0] as usize]);
        assert!(matches!(err, Err(RankError::DimensionMismatch { .. })));
    }
}
