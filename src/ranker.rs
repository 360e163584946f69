//! One interface for every way of ranking products: the baselines, rules alone, the embedding
//! model and the hybrid [`Recommender`](crate::pipeline::Recommender) all implement
//! [`Ranker`], so evaluation, the CLI and a server treat them alike.

use affinity_rank::{ItemCooccurrence, ItemTransitions, MostPopular, Scored};

use crate::pipeline::{PipelineError, Result};

/// Histories in, ranked items out.
///
/// `exclude` lists, per history, the items never to return: pass the histories themselves to
/// leave out what was already bought (what a shop serves), or an empty slice to exclude
/// nothing (RecBole's "all items" protocol). Lists are best first, ties to the lower id, and
/// hold `k` items whenever `k` remain.
///
/// ```
/// use affinity::rank::MostPopular;
/// use affinity::ranker::Ranker;
/// let popular = MostPopular::fit(&[vec![0, 1], vec![1], vec![2, 1]], 3);
/// let histories = vec![vec![1], vec![]];
/// let lists = popular.rank(&histories, 2, &histories)?;
/// assert_eq!(lists[0].iter().map(|s| s.item).collect::<Vec<_>>(), [0, 2]);
/// assert_eq!(lists[1][0].item, 1);
/// # Ok::<(), affinity::pipeline::PipelineError>(())
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
}

/// The exclusion list of history `i` (none when `exclude` is empty); a length mismatch is an
/// error rather than a silently unfiltered list.
pub fn exclusions<'a>(
    histories: &[Vec<u32>],
    exclude: &'a [Vec<u32>],
) -> Result<impl Fn(usize) -> &'a [u32]> {
    if !exclude.is_empty() && exclude.len() != histories.len() {
        return Err(PipelineError::InvalidSetting {
            name: "exclude",
            reason: format!(
                "{} exclusion lists for {} histories",
                exclude.len(),
                histories.len()
            ),
        });
    }
    Ok(move |i: usize| exclude.get(i).map_or(&[][..], Vec::as_slice))
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
        let excluded = exclusions(histories, exclude)?;
        Ok((0..histories.len())
            .map(|i| self.recommend(excluded(i), k))
            .collect())
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
        let excluded = exclusions(histories, exclude)?;
        Ok(histories
            .iter()
            .enumerate()
            .map(|(i, h)| self.recommend(h, excluded(i), k))
            .collect())
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
        let excluded = exclusions(histories, exclude)?;
        Ok(histories
            .iter()
            .enumerate()
            .map(|(i, h)| self.recommend(h, excluded(i), k))
            .collect())
    }
}

/// The sequential model alone: its scores over the whole catalogue, best first.
#[cfg(feature = "model")]
impl Ranker for affinity_tune::SequentialRecommender {
    fn name(&self) -> String {
        "sequential model".into()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        let excluded = exclusions(histories, exclude)?;
        let scores = crate::fusion::Scorer::scores(self, histories)?;
        Ok(scores
            .rows()
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                affinity_rank::top_k(row.as_slice().expect("standard layout"), k, excluded(i))
            })
            .collect())
    }
}

/// A ranker under another name (for tables that compare variants of one method).
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
}
