//! Association rules: the [`Rule`] and its interest measures here; generating them from
//! itemsets ([`generate`]), writing them as CSV or JSON ([`output`]), and the index that finds
//! the rules a basket fires ([`index`]).

mod generate;
mod index;
pub(crate) mod output;
mod shoppers;

pub use generate::{generate_rules, Consequents, RuleParams};
pub use index::RuleIndex;
pub use output::{write_rules_csv, write_rules_json, RULE_COLUMNS};
pub use shoppers::rule_shoppers;

/// A rule `antecedent -> consequent` with its counts and measures.
///
/// `support` is the support of the whole rule (antecedent and consequent together), as arules,
/// mlxtend and Spark define it. Probabilities are over the (weighted) transactions.
///
/// In JSON an infinite conviction is `null` (JSON has no infinity) and reads back as infinity.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    /// Items on the left, ascending.
    pub antecedent: Vec<u32>,
    /// Items on the right, ascending.
    pub consequent: Vec<u32>,
    /// P(antecedent)
    pub antecedent_support: f64,
    /// P(consequent)
    pub consequent_support: f64,
    /// P(antecedent and consequent)
    pub support: f64,
    /// P(consequent | antecedent)
    pub confidence: f64,
    /// confidence / P(consequent)
    pub lift: f64,
    /// P(A and C) - P(A) P(C)
    pub leverage: f64,
    /// (1 - P(C)) / (1 - confidence); infinite when confidence is 1.
    #[serde(deserialize_with = "infinite_from_null")]
    pub conviction: f64,
    /// Zhang's metric in [-1, 1].
    pub zhangs_metric: f64,
    /// P(A and C) / P(A or C)
    pub jaccard: f64,
    /// Certainty factor: (confidence - P(C)) / (1 - P(C)) when positive, else / P(C).
    pub certainty: f64,
    /// Mean of P(C | A) and P(A | C).
    pub kulczynski: f64,
    /// Transactions (weighted) holding the whole rule.
    pub count: u64,
}

/// `null` (how serde_json writes a non-finite float) as +infinity.
fn infinite_from_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// The measure columns of columnar rule tables (Parquet, Arrow): Spark FPGrowth's three
/// (`confidence`, `lift`, `support`) first, then affinity's others; [`Rule::measures`] gives
/// the values in this order.
pub const MEASURE_COLUMNS: [&str; 11] = [
    "confidence",
    "lift",
    "support",
    "antecedent_support",
    "consequent_support",
    "leverage",
    "conviction",
    "zhangs_metric",
    "jaccard",
    "certainty",
    "kulczynski",
];

impl Rule {
    /// The measures in [`MEASURE_COLUMNS`] order.
    pub fn measures(&self) -> [f64; MEASURE_COLUMNS.len()] {
        [
            self.confidence,
            self.lift,
            self.support,
            self.antecedent_support,
            self.consequent_support,
            self.leverage,
            self.conviction,
            self.zhangs_metric,
            self.jaccard,
            self.certainty,
            self.kulczynski,
        ]
    }

    pub(crate) fn new(
        antecedent: Vec<u32>,
        consequent: Vec<u32>,
        counts: [u64; 3],
        total: u64,
    ) -> Self {
        let n = total as f64;
        let (pa, pc, pac) = (
            counts[0] as f64 / n,
            counts[1] as f64 / n,
            counts[2] as f64 / n,
        );
        let confidence = pac / pa;
        let leverage = pac - pa * pc;
        let zhang_denominator = (pac * (1.0 - pa)).max(pa * (pc - pac));
        Rule {
            antecedent,
            consequent,
            antecedent_support: pa,
            consequent_support: pc,
            support: pac,
            confidence,
            lift: confidence / pc,
            leverage,
            conviction: if confidence >= 1.0 {
                f64::INFINITY
            } else {
                (1.0 - pc) / (1.0 - confidence)
            },
            zhangs_metric: if zhang_denominator > 0.0 {
                leverage / zhang_denominator
            } else {
                0.0
            },
            jaccard: pac / (pa + pc - pac),
            certainty: if confidence > pc {
                (confidence - pc) / (1.0 - pc)
            } else if confidence < pc {
                (confidence - pc) / pc
            } else {
                0.0
            },
            kulczynski: 0.5 * (pac / pa + pac / pc),
            count: counts[2],
        }
    }
}
