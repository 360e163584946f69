//! Why an item was recommended: the rule that fired, a history product it is unusually
//! similar to, or its popularity.

use super::Recommender;
use affinity_rank::{inner_product, BasketHistory};

/// Why an item was recommended.
///
/// In JSON each reason is an object whose `kind` says which (`rule`, `similar_to`,
/// `bought_before`, `popular`) beside its fields: `{"kind": "rule", "antecedent": [...],
/// "confidence": 0.4, "lift": 1.9}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A mined rule fired on the history: `antecedent -> item`.
    Rule {
        /// Items of the history that made it fire.
        antecedent: Vec<String>,
        /// P(item | antecedent) in the training baskets.
        confidence: f64,
        /// Confidence over the item's base rate.
        lift: f64,
    },
    /// A product in the history that this one is unusually similar to: the history product
    /// with the most distinctive similarity, given only where the cosine stands out from both
    /// products' usual similarity to the catalogue (so a product similar to everything, or a
    /// collapsed embedding space, gives no such reason).
    SimilarTo {
        /// That product.
        item: String,
        /// Cosine of the two product embeddings.
        similarity: f32,
        /// The recommended product's mean cosine with the catalogue, for comparison.
        typical: f32,
    },
    /// The shopper bought it before: how many times, how often they usually buy it, how long
    /// ago they last did ("you buy it about every 9 days; last bought 12 days ago").
    BoughtBefore {
        /// Baskets of theirs that held it.
        times: u32,
        /// Their own mean days between purchases of it, else the usual interval of the
        /// shoppers who buy it again, where known.
        every_days: Option<f32>,
        /// Whether `every_days` is the shopper's own interval (else everyone's).
        own_interval: bool,
        /// Days since they last bought it, where the days are known.
        days_since: Option<f32>,
    },
    /// Among the most bought products (what remains when nothing else speaks for it).
    Popular {
        /// Its rank by training purchases, from 1.
        rank: usize,
    },
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// Item id.
    pub item: u32,
    /// Item name.
    pub name: String,
    /// The blended score it was ranked by.
    pub score: f32,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
}

/// An item's cosine with a sample of the catalogue: mean and standard deviation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Typical {
    mean: f32,
    std: f32,
}

/// Catalogue items an item's usual similarity is measured against (evenly spaced).
pub(super) const TYPICAL_SAMPLE: usize = 256;
/// A similarity reason needs a cosine this many standard deviations above both products'
/// mean similarity to the catalogue...
pub(super) const DISTINCTIVE_SD: f32 = 2.0;
/// ...and at least this far above it in absolute terms (a collapsed space has tiny spreads).
pub(super) const DISTINCTIVE_GAP: f32 = 0.05;

impl Recommender {
    pub(super) fn reasons(
        &self,
        history: &[u32],
        shopper: Option<&BasketHistory>,
        item: u32,
        rule: Option<usize>,
    ) -> Vec<Reason> {
        let mut reasons = Vec::new();
        if history.contains(&item) {
            reasons.push(self.bought_before(history, shopper, item));
        }
        if let Some(r) = rule {
            let rule = &self.fitted.rules[r];
            reasons.push(Reason::Rule {
                antecedent: rule
                    .antecedent
                    .iter()
                    .map(|&i| self.names()[i as usize].clone())
                    .collect(),
                confidence: rule.confidence,
                lift: rule.lift,
            });
        }
        if self.has_vectors {
            if let Some(reason) = self.similarity_reason(history, item) {
                reasons.push(reason);
            }
        }
        if reasons.is_empty() || self.popularity_rank[item as usize] <= 10 {
            reasons.push(Reason::Popular {
                rank: self.popularity_rank[item as usize],
            });
        }
        reasons
    }

    /// What is known of the shopper's past purchases of `item` (one in their history).
    fn bought_before(&self, history: &[u32], shopper: Option<&BasketHistory>, item: u32) -> Reason {
        let flat;
        let shopper = match shopper {
            Some(s) => s,
            None => {
                flat = BasketHistory::from_items(history);
                &flat
            }
        };
        let signal = self
            .fitted
            .repeat
            .signals(shopper, &self.ranking.repeat)
            .into_iter()
            .find(|s| s.item == item);
        match signal {
            Some(s) => Reason::BoughtBefore {
                times: s.baskets,
                every_days: s.interval(),
                own_interval: s.own_interval.is_some(),
                days_since: s.days_since,
            },
            None => Reason::BoughtBefore {
                times: history.iter().filter(|&&i| i == item).count() as u32,
                every_days: None,
                own_interval: false,
                days_since: None,
            },
        }
    }

    /// The history product whose similarity to `item` stands out most from both products'
    /// usual similarity to the catalogue, if any stands out enough.
    pub(super) fn similarity_reason(&self, history: &[u32], item: u32) -> Option<Reason> {
        let vectors = self.index.vectors();
        let row = |i: u32| vectors.row(i as usize).to_slice().expect("standard layout");
        let target = row(item);
        let usual = self.typical(item);
        let margin =
            |t: Typical, s: f32| (s - t.mean) / (DISTINCTIVE_SD * t.std).max(DISTINCTIVE_GAP);
        let (h, similarity, stand_out) = history
            .iter()
            .filter(|&&h| h != item && (h as usize) < self.len())
            .map(|&h| {
                let s = inner_product(row(h), target);
                (h, s, margin(usual, s).min(margin(self.typical(h), s)))
            })
            .max_by(|a, b| a.2.total_cmp(&b.2).then(b.0.cmp(&a.0)))?;
        (stand_out >= 1.0).then(|| Reason::SimilarTo {
            item: self.names()[h as usize].clone(),
            similarity,
            typical: usual.mean,
        })
    }

    /// An item's mean and spread of cosine with an evenly spaced sample of the catalogue
    /// (itself left out), computed on first use: 256 dot products, so loading stays fast.
    pub(super) fn typical(&self, item: u32) -> Typical {
        *self.typical[item as usize].get_or_init(|| {
            let vectors = self.index.vectors();
            let n = vectors.nrows();
            let m = n.min(TYPICAL_SAMPLE);
            let row = |i: usize| vectors.row(i).to_slice().expect("standard layout");
            let sims: Vec<f32> = (0..m)
                .map(|j| j * n / m)
                .filter(|&j| j != item as usize)
                .map(|j| inner_product(row(j), row(item as usize)))
                .collect();
            let count = sims.len().max(1) as f32;
            let mean = sims.iter().sum::<f32>() / count;
            let var = sims.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / count;
            Typical {
                mean,
                std: var.sqrt(),
            }
        })
    }
}
