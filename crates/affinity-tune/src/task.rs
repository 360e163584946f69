//! What to train on: examples, validation queries, and how histories become text.

use affinity_core::InvalidSetting;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Objective {
    /// Two towers sharing one encoder: InfoNCE over (query, target text) with in-batch negatives,
    /// logits = `scale` x cosine (sentence-transformers' MultipleNegativesRankingLoss; default
    /// scale 20, i.e. temperature 0.05). Targets repeated within a batch are scored once, so a
    /// popular product is never its own negative.
    Contrastive {
        /// Multiplier on the cosine similarities.
        scale: f64,
    },
    /// A linear head over `num_classes` classes on the pooled vector, cross-entropy
    /// (BertForSequenceClassification's recipe): next product by id, or product category.
    Classification {
        /// Number of classes.
        num_classes: usize,
    },
}

impl Default for Objective {
    fn default() -> Self {
        Objective::Contrastive { scale: 20.0 }
    }
}

/// One training example: a text (a shopper's history, or a product) and its target (a
/// product id for contrastive and next-product training, a class for classification).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The query text.
    pub text: String,
    /// Index into [`TrainingTask::targets`].
    pub target: u32,
    /// An optional hard negative (contrastive only), also an index into the targets.
    pub negative: Option<u32>,
    /// Whose history it is. Private training clips each shopper's examples together, and
    /// refuses examples without one.
    pub shopper: Option<u32>,
}

/// One validation query: ranked against all targets, with `exclude` (already bought) left out.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationQuery {
    /// The query text.
    pub text: String,
    /// The relevant target.
    pub target: u32,
    /// Targets never ranked for this query.
    pub exclude: Vec<u32>,
}

/// Everything a training run needs besides the encoder and the settings.
#[derive(Debug, Clone)]
pub struct TrainingTask {
    /// The objective.
    pub objective: Objective,
    /// Training examples.
    pub examples: Vec<Example>,
    /// Validation queries, scored after every epoch (and once before training).
    pub validation: Vec<ValidationQuery>,
    /// Text of each target (product texts; class names for classification, unused there).
    pub targets: Vec<String>,
    /// Contrastive only: score every target at each step (a full softmax over the catalogue)
    /// instead of the batch's own. It learns the true next-product distribution, popularity
    /// included, and is affordable up to a few hundred short product texts.
    pub full_catalog: bool,
    /// Contrastive only: each target's log prior (`ln(1 + count)` of how often it is bought,
    /// say; a constant offset changes nothing). The model is scored `cosine + w x prior` in
    /// validation as at serving time, `w` chosen on the validation step among multiples of
    /// [`TrainingTask::prior_weight`] (0 included), so the cosine has to learn only what the
    /// history adds to popularity. With `full_catalog` the prior is added to
    /// the training logits too (logit adjustment), which keeps popularity from bending every
    /// product vector toward the staples. In-batch training needs no change: its negatives
    /// already come in proportion to popularity, so its cosine learns the history's lift over
    /// the prior (sampled softmax without correction), and ranking by the cosine alone
    /// ranks popular products too low.
    pub prior: Option<Vec<f32>>,
}

impl TrainingTask {
    /// The weight of the log prior next to the cosine implied by training, `1 / scale`
    /// (0 without a prior). Validation tries multiples of it and the trainer leaves the best
    /// in the encoder ([`crate::SentenceEncoder::popularity_prior`]), which a recommender adds
    /// to its cosines (`affinity::pipeline::Recommender::set_popularity_prior`).
    pub fn prior_weight(&self) -> f32 {
        match (&self.prior, self.objective) {
            (Some(_), Objective::Contrastive { scale }) => (1.0 / scale) as f32,
            _ => 0.0,
        }
    }

    /// A stable digest of the prior and the scale it trains at ("none" without a prior):
    /// a checkpoint keeps it, so resuming with another prior is refused.
    pub(crate) fn prior_digest(&self) -> String {
        let (Some(prior), Objective::Contrastive { scale }) = (&self.prior, self.objective) else {
            return "none".into();
        };
        // FNV-1a: std's hashers are not promised to stay the same across releases.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let bytes = scale.to_le_bytes().into_iter();
        for byte in bytes.chain(prior.iter().flat_map(|p| p.to_le_bytes())) {
            hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
        }
        format!("fnv1a64:{hash:016x}")
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.examples.is_empty() {
            return Err(InvalidSetting::new("examples", "no training examples").into());
        }
        let n = match self.objective {
            Objective::Contrastive { scale } => {
                if !(scale > 0.0 && scale.is_finite()) {
                    return Err(InvalidSetting::new(
                        "objective.scale",
                        format!("{scale} is not a positive number"),
                    )
                    .into());
                }
                self.targets.len()
            }
            Objective::Classification { num_classes } => {
                if num_classes < 2 {
                    return Err(InvalidSetting::new(
                        "objective.num_classes",
                        "at least two classes",
                    )
                    .into());
                }
                num_classes
            }
        };
        if let Some(prior) = &self.prior {
            if !matches!(self.objective, Objective::Contrastive { .. }) {
                return Err(InvalidSetting::new(
                    "prior",
                    "applies to the contrastive objective only",
                )
                .into());
            }
            if prior.len() != self.targets.len() {
                return Err(InvalidSetting::new(
                    "prior",
                    format!("{} values for {} targets", prior.len(), self.targets.len()),
                )
                .into());
            }
            if let Some(i) = prior.iter().position(|v| !v.is_finite()) {
                return Err(InvalidSetting::new(
                    "prior",
                    format!("target {i}'s value {} is not finite", prior[i]),
                )
                .into());
            }
        }
        let bad = self
            .examples
            .iter()
            .flat_map(|e| std::iter::once(e.target).chain(e.negative))
            .chain(self.validation.iter().map(|q| q.target))
            .find(|&t| t as usize >= n);
        if let Some(t) = bad {
            return Err(InvalidSetting::new(
                "targets",
                format!("target {t} is out of range (there are {n})"),
            )
            .into());
        }
        Ok(())
    }
}

// The history text is shared with the libtorch-free crates.
pub use affinity_data::HistoryText;
