//! Explanations that can be checked: which history items moved each recommendation, and by how
//! much. Each is measured by taking the item out of the history and scoring again, with every
//! source recomputed (the language model's or the sequential tower's history vector, the rules
//! that fire, co-occurrence, what the shopper buys again). The figure stated is the score
//! difference itself, so anyone can check it by scoring the shorter history
//! ([`Recommender::scores_of`]).

use super::Recommender;
use crate::pipeline::error::Result;
use crate::pipeline::evaluate::Candidates;
use affinity_core::InvalidSetting;
use affinity_rank::BasketHistory;

/// How one history item moved one recommendation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Influence {
    /// The history item (its name).
    pub item: String,
    /// The recommendation's score with that item left out of the history.
    pub without: f32,
    /// Its score with the whole history minus `without`: how much the item raised it
    /// (negative: lowered it).
    pub delta: f32,
}

/// Distinct history items whose influence is measured, the most recent first: each costs one
/// more history vector (a language-model pass over its text where there is no tower).
pub const INFLUENCE_ITEMS: usize = 20;

/// `shopper`'s baskets with `item` taken out of every one.
fn without_item(shopper: &BasketHistory, item: u32) -> BasketHistory {
    BasketHistory {
        baskets: shopper
            .baskets
            .iter()
            .map(|b| b.iter().copied().filter(|&i| i != item).collect())
            .collect(),
        ..shopper.clone()
    }
}

impl Recommender {
    /// The blended score of each of `items` for a history (and, where known, the shopper's
    /// baskets), ranked among `candidates`' weights: what lists are ranked by before MMR or
    /// calibration re-ranks them.
    pub fn scores_of(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        candidates: Candidates,
        items: &[u32],
    ) -> Result<Vec<f32>> {
        let all = self.all_scores(&[history.to_vec()], &[shopper.cloned()], candidates, items)?;
        Ok(all.into_iter().next().unwrap_or_default())
    }

    /// For each of `items` (recommendations for `history`), how much each of the history's
    /// most recent [`INFLUENCE_ITEMS`] distinct items moved its score, the strongest first.
    ///
    /// ```no_run
    /// # fn demo(r: &affinity_recommend::pipeline::Recommender) -> affinity_recommend::pipeline::Result<()> {
    /// use affinity_recommend::pipeline::Candidates;
    /// let history = [3, 17, 42];
    /// let recs = r.recommend(&history, 5)?;
    /// let items: Vec<u32> = recs.iter().map(|x| x.item).collect();
    /// let moved = r.influence(&history, None, Candidates::HistoryExcluded, &items)?;
    /// for (rec, why) in recs.iter().zip(&moved) {
    ///     // Leaving `why[0].item` out of the history lowers `rec.score` by `why[0].delta`.
    ///     println!("{}: {} {:+.3}", rec.name, why[0].item, why[0].delta);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn influence(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        candidates: Candidates,
        items: &[u32],
    ) -> Result<Vec<Vec<Influence>>> {
        let mut distinct: Vec<u32> = Vec::new();
        for &i in history.iter().rev() {
            if distinct.len() == INFLUENCE_ITEMS {
                break;
            }
            if !distinct.contains(&i) {
                distinct.push(i);
            }
        }
        let mut histories = vec![history.to_vec()];
        let mut shoppers = vec![shopper.cloned()];
        for &d in &distinct {
            histories.push(history.iter().copied().filter(|&i| i != d).collect());
            shoppers.push(shopper.map(|s| without_item(s, d)));
        }
        let scored = self.all_scores(&histories, &shoppers, candidates, items)?;
        let full = &scored[0];
        let names = self.names();
        Ok((0..items.len())
            .map(|r| {
                let mut moved: Vec<Influence> = distinct
                    .iter()
                    .zip(&scored[1..])
                    .map(|(&d, without)| Influence {
                        item: names[d as usize].clone(),
                        without: without[r],
                        delta: full[r] - without[r],
                    })
                    .collect();
                moved.sort_by(|a, b| b.delta.total_cmp(&a.delta));
                moved
            })
            .collect())
    }

    /// An error naming the first of `items` that is not an item id.
    pub(super) fn check_items(&self, items: &[u32]) -> Result<()> {
        match items.iter().find(|&&i| i as usize >= self.len()) {
            Some(&bad) => Err(InvalidSetting::new(
                "items",
                format!("{bad} is not an item id ({} items)", self.len()),
            )
            .into()),
            None => Ok(()),
        }
    }

    /// The scores of `items` for each history (with its shopper's baskets), the history
    /// vectors computed together.
    fn all_scores(
        &self,
        histories: &[Vec<u32>],
        shoppers: &[Option<BasketHistory>],
        candidates: Candidates,
        items: &[u32],
    ) -> Result<Vec<Vec<f32>>> {
        for h in histories {
            self.check(h)?;
        }
        self.check_items(items)?;
        let weights = self.weights_for(candidates);
        let vectors = self.embed_histories(histories, weights.embedding)?;
        let sims = self.similarities(vectors.view())?;
        histories
            .iter()
            .zip(shoppers)
            .zip(sims.rows())
            .map(|((h, s), row)| {
                let row = row.as_standard_layout();
                let (scores, _) =
                    self.scores(h, s.as_ref(), row.as_slice().expect("contiguous"), weights)?;
                Ok(items.iter().map(|&i| scores[i as usize]).collect())
            })
            .collect()
    }
}
