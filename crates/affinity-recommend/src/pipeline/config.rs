//! Pipeline settings: one struct with defaults and a validating builder.

use affinity_core::InvalidSetting;
use affinity_data::HistoryText;
use affinity_data::{BasketRule, HoldOut};

use affinity_mine::{Consequents, MinSupport, MineError, MiningParams, RuleParams};

use super::error::Result;
use super::evaluate::Candidates;
use super::recommender::RankingParams;
use affinity_rank::{RepeatParams, TifuParams};

/// Weights of the score sources in the hybrid ranking; each source is min-max normalised over
/// the catalogue first, so a weight is the most that source can add to an item's score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreWeights {
    /// Cosine between the history's and the item's embeddings.
    pub embedding: f32,
    /// Confidence of the strongest rule that fired for the item.
    pub rules: f32,
    /// Training-set popularity (log of the count).
    pub popularity: f32,
    /// Item co-occurrence with the history (cosine of the two items' baskets, summed over the
    /// history). 0 unless chosen: `Pipeline::tune_ranking` tries it, and bundles written
    /// before it existed read as 0.
    #[serde(default)]
    pub cooccurrence: f32,
    /// What the shopper buys again ([`affinity_rank::RepeatModel`]): 0 outside their history,
    /// so it only counts where lists may hold what was bought before
    /// ([`Candidates::AllItems`](super::Candidates::AllItems)). Not written when 0, so
    /// bundles without it read and write as before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeat: f32,
    /// TIFU-KNN's score ([`affinity_rank::TifuKnn`]): the shopper's time-decayed frequency
    /// mixed with that of the most similar shoppers, which also reaches items new to them.
    /// Not written when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tifu: f32,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

impl ScoreWeights {
    /// Embedding only.
    pub const EMBEDDING: ScoreWeights = ScoreWeights {
        embedding: 1.0,
        rules: 0.0,
        popularity: 0.0,
        cooccurrence: 0.0,
        repeat: 0.0,
        tifu: 0.0,
    };
    /// Rules only (popularity with a tiny weight breaks ties among items no rule reaches).
    pub const RULES: ScoreWeights = ScoreWeights {
        embedding: 0.0,
        rules: 1.0,
        popularity: 1e-3,
        cooccurrence: 0.0,
        repeat: 0.0,
        tifu: 0.0,
    };
    /// What the shopper buys again only (popularity with a tiny weight breaks ties).
    pub const REPEAT: ScoreWeights = ScoreWeights {
        embedding: 0.0,
        rules: 0.0,
        popularity: 1e-3,
        cooccurrence: 0.0,
        repeat: 1.0,
        tifu: 0.0,
    };

    /// Every weight, in the order the blend adds them.
    pub(crate) fn all(&self) -> [f32; 6] {
        [
            self.embedding,
            self.rules,
            self.popularity,
            self.cooccurrence,
            self.repeat,
            self.tifu,
        ]
    }
}

/// `embedding 1, rules 0, popularity 0.3, co-occurrence 0, repeat 0, TIFU-KNN 0`.
impl std::fmt::Display for ScoreWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            "embedding",
            "rules",
            "popularity",
            "co-occurrence",
            "repeat",
            "TIFU-KNN",
        ];
        for (i, (name, weight)) in names.iter().zip(self.all()).enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{name} {weight}")?;
        }
        Ok(())
    }
}

impl Default for ScoreWeights {
    fn default() -> Self {
        ScoreWeights {
            embedding: 1.0,
            rules: 0.3,
            popularity: 0.3,
            cooccurrence: 0.0,
            repeat: 0.0,
            tifu: 0.0,
        }
    }
}

/// Everything the pipeline steps share. Build it with [`PipelineParams::builder`] (checked) or
/// change fields of [`PipelineParams::default`] and call [`PipelineParams::check`].
///
/// ```
/// use affinity_recommend::pipeline::PipelineParams;
/// let config = PipelineParams::builder().k(20).min_support(0.002).mmr_lambda(0.8).build()?;
/// assert_eq!(config.k, 20);
/// assert!(PipelineParams::builder().mmr_lambda(1.5).build().is_err());
/// # Ok::<(), affinity_recommend::pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PipelineParams {
    /// List length evaluated and recommended.
    pub k: usize,
    /// What the split holds out per user.
    pub hold_out: HoldOut,
    /// How events form baskets for mining.
    pub basket_rule: BasketRule,
    /// Rule mining: minimum support (fraction of training baskets).
    pub min_support: f64,
    /// Rule mining: minimum confidence.
    pub min_confidence: f64,
    /// Rule mining: minimum lift.
    pub min_lift: f64,
    /// Rule mining: longest itemset.
    pub max_rule_len: usize,
    /// Rule mining: at most this many itemsets; where `min_support` would give more, the
    /// threshold rises until they fit (logged as a warning), so no data exhausts memory.
    #[serde(default = "default_max_itemsets")]
    pub max_itemsets: u64,
    /// Rule mining: each rule must rest on at least this many distinct shoppers (whose
    /// baskets hold all its items), not only on enough baskets: one shopper who buys the same
    /// pair every week makes a rule of it alone, and a released rule should not describe one
    /// person. 0 or 1: every rule kept. The command line sets
    /// [`PipelineParams::PSEUDONYMISED_MIN_RULE_SHOPPERS`] for data it pseudonymises unless told
    /// otherwise.
    #[serde(default, skip_serializing_if = "no_floor")]
    pub min_rule_shoppers: u32,
    /// How a history becomes text.
    pub history: HistoryText,
    /// Score weights of the hybrid.
    pub weights: ScoreWeights,
    /// MMR trade-off in [0, 1]: 1 = relevance only.
    pub mmr_lambda: f32,
    /// Candidates MMR chooses from (per user).
    pub mmr_candidates: usize,
    /// Which items lists may hold when the blend is tuned and by default when serving: the
    /// history excluded (discover, what every ranker did before), nothing excluded (mixed: what
    /// grocery shoppers buy again counts), or the history only (buy again).
    #[serde(default, skip_serializing_if = "Candidates::is_default")]
    pub candidates: Candidates,
    /// How what a shopper buys again is scored (tuning chooses it on validation).
    #[serde(default, skip_serializing_if = "is_default_repeat")]
    pub repeat: RepeatParams,
    /// Exposure-aware re-ranking in [0, 1]: lists calibrated to each shopper's own mix of
    /// head, mid and tail products, in place of MMR (see [`RankingParams::calibration`]). 0: off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub calibration: f32,
    /// Tuning only: an exposure bound. [`Pipeline::tune_ranking`](super::Pipeline::tune_ranking)
    /// then keeps the setting with the best validation NDCG among those whose validation
    /// lists have a Gini index ([`affinity_data::exposure::gini_index`]) of at most this, and
    /// chooses the calibration too. In (0, 1]; `None`: NDCG alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gini: Option<f64>,
}

fn no_floor(n: &u32) -> bool {
    *n == 0
}

fn is_default_repeat(p: &RepeatParams) -> bool {
    *p == RepeatParams::default()
}

impl Default for PipelineParams {
    fn default() -> Self {
        PipelineParams {
            k: 10,
            hold_out: HoldOut::LastTimestamp,
            basket_rule: BasketRule::OrderOrUserDay,
            min_support: 0.001,
            min_confidence: 0.05,
            min_lift: 1.0,
            max_rule_len: 3,
            max_itemsets: default_max_itemsets(),
            min_rule_shoppers: 0,
            history: HistoryText::default(),
            weights: ScoreWeights::default(),
            mmr_lambda: 0.9,
            mmr_candidates: 50,
            candidates: Candidates::default(),
            repeat: RepeatParams::default(),
            calibration: 0.0,
            max_gini: None,
        }
    }
}

/// 500,000 itemsets of at most 3 items give at most 1.5 million single-consequent rules.
fn default_max_itemsets() -> u64 {
    500_000
}

impl PipelineParams {
    /// The shopper floor for rules mined from pseudonymised data unless told otherwise
    /// (`affinity fit --pseudonymize-key-file`): a rule then describes at least five people,
    /// the smallest group size commonly asked of released counts.
    pub const PSEUDONYMISED_MIN_RULE_SHOPPERS: u32 = 5;

    /// A builder starting from the defaults.
    pub fn builder() -> PipelineParamsBuilder {
        PipelineParamsBuilder(PipelineParams::default())
    }

    /// The first setting that cannot work, named,
    /// before any work starts. The mining and rule thresholds are checked by affinity-mine's
    /// own [`MiningParams::check`] and [`RuleParams::check`], not repeated here.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        if self.k == 0 {
            return Err(InvalidSetting::new("k", "must be at least 1"));
        }
        MiningParams::new(self.min_support()?)
            .max_len(self.max_rule_len)
            .check()
            .map_err(renamed)?;
        self.rule_params().check().map_err(renamed)?;
        if self.max_rule_len < 2 {
            return Err(InvalidSetting::new(
                "max_rule_len",
                "rules need itemsets of at least two items",
            ));
        }
        if self.max_itemsets == 0 {
            return Err(InvalidSetting::new("max_itemsets", "must be at least 1"));
        }
        self.ranking_params().check()?;
        if let Some(g) = self.max_gini {
            if !(g > 0.0 && g <= 1.0) {
                return Err(InvalidSetting::new(
                    "max_gini",
                    format!("{g} is not in (0, 1]: the Gini index of any lists is in [0, 1)"),
                ));
            }
        }
        if self.mmr_candidates < self.k {
            return Err(InvalidSetting::new(
                "mmr_candidates",
                format!("{} is fewer than k = {}", self.mmr_candidates, self.k),
            ));
        }
        Ok(())
    }

    /// `min_support` as the miner takes it.
    fn min_support(&self) -> std::result::Result<MinSupport, InvalidSetting> {
        MinSupport::from_f64(self.min_support).map_err(|e| match e {
            MineError::InvalidSetting(s) => s,
            other => InvalidSetting::new("min_support", other.to_string()),
        })
    }

    /// How the rules' itemsets are mined: at least `min_support`, at most `max_rule_len`
    /// items (the cap, `max_itemsets`, is applied by raising the support instead of failing:
    /// see [`affinity_mine::mine_at_most`]).
    pub fn mining_params(&self) -> Result<MiningParams> {
        Ok(MiningParams::new(self.min_support()?).max_len(self.max_rule_len))
    }

    /// How rules are generated from the itemsets: single consequents, at least
    /// `min_confidence` and `min_lift`.
    pub fn rule_params(&self) -> RuleParams {
        RuleParams {
            min_confidence: self.min_confidence,
            min_lift: Some(self.min_lift),
            consequents: Consequents::Single,
            ..RuleParams::default()
        }
    }

    /// How the hybrid ranks with these settings (no popularity prior: that comes with a
    /// trained model).
    pub fn ranking_params(&self) -> RankingParams {
        RankingParams {
            weights: self.weights,
            mmr_lambda: self.mmr_lambda,
            mmr_candidates: self.mmr_candidates,
            history: self.history.clone(),
            popularity_prior: 0.0,
            candidates: self.candidates,
            repeat: self.repeat,
            tifu: TifuParams::default(),
            calibration: self.calibration,
        }
    }
}

/// A mining setting's error under the name the pipeline's field has.
fn renamed(e: InvalidSetting) -> InvalidSetting {
    InvalidSetting {
        name: match e.name {
            "max_len" => "max_rule_len",
            other => other,
        },
        ..e
    }
}

/// Builds a [`PipelineParams`]; [`PipelineParamsBuilder::build`] checks it.
#[derive(Debug, Clone)]
pub struct PipelineParamsBuilder(PipelineParams);

impl PipelineParamsBuilder {
    /// Which items lists may hold when tuning and by default when serving.
    pub fn candidates(mut self, c: Candidates) -> Self {
        self.0.candidates = c;
        self
    }
    /// How what a shopper buys again is scored.
    pub fn repeat(mut self, p: RepeatParams) -> Self {
        self.0.repeat = p;
        self
    }
    /// List length.
    pub fn k(mut self, k: usize) -> Self {
        self.0.k = k;
        if self.0.mmr_candidates < k {
            self.0.mmr_candidates = k;
        }
        self
    }
    /// What the split holds out.
    pub fn hold_out(mut self, h: HoldOut) -> Self {
        self.0.hold_out = h;
        self
    }
    /// Basket rule for mining.
    pub fn basket_rule(mut self, r: BasketRule) -> Self {
        self.0.basket_rule = r;
        self
    }
    /// Minimum rule support.
    pub fn min_support(mut self, s: f64) -> Self {
        self.0.min_support = s;
        self
    }
    /// Minimum rule confidence.
    pub fn min_confidence(mut self, c: f64) -> Self {
        self.0.min_confidence = c;
        self
    }
    /// Minimum rule lift.
    pub fn min_lift(mut self, l: f64) -> Self {
        self.0.min_lift = l;
        self
    }
    /// Most itemsets mined for rules (the threshold rises past it).
    pub fn max_itemsets(mut self, n: u64) -> Self {
        self.0.max_itemsets = n;
        self
    }
    /// Exposure-aware re-ranking's weight in [0, 1] (0: off).
    pub fn calibration(mut self, lambda: f32) -> Self {
        self.0.calibration = lambda;
        self
    }
    /// Tuning's exposure bound: the best NDCG among settings whose validation lists have a
    /// Gini index of at most `bound` (see [`PipelineParams::max_gini`]).
    pub fn max_gini(mut self, bound: f64) -> Self {
        self.0.max_gini = Some(bound);
        self
    }
    /// The fewest distinct shoppers a rule must rest on (0 or 1: no floor).
    pub fn min_rule_shoppers(mut self, n: u32) -> Self {
        self.0.min_rule_shoppers = n;
        self
    }
    /// Products per history text.
    pub fn history_items(mut self, n: usize) -> Self {
        self.0.history.max_items = n;
        self
    }
    /// Hybrid weights.
    pub fn weights(mut self, w: ScoreWeights) -> Self {
        self.0.weights = w;
        self
    }
    /// MMR lambda.
    pub fn mmr_lambda(mut self, l: f32) -> Self {
        self.0.mmr_lambda = l;
        self
    }
    /// Checks and returns the settings.
    pub fn build(self) -> Result<PipelineParams> {
        self.0.check()?;
        Ok(self.0)
    }
}
