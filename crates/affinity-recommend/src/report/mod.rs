//! The main job's report: a Markdown file with tables, and PNG charts beside it.

mod chart;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use affinity_core::files::write_bytes;
use affinity_core::WriteError;

use crate::pipeline::{MethodResult, Reason, Recommendation};

pub use chart::{bar_chart, line_chart};

/// One rule in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleRow {
    /// Left-hand side.
    pub antecedent: Vec<String>,
    /// Right-hand side.
    pub consequent: String,
    /// Support of the whole rule.
    pub support: f64,
    /// Confidence.
    pub confidence: f64,
    /// Lift.
    pub lift: f64,
}

/// One fine-tuning run in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainingRun {
    /// What was trained (e.g. "full fine-tuning", "LoRA").
    pub name: String,
    /// Wall time.
    pub seconds: f64,
    /// Training loss of every optimizer step (the chart).
    pub step_losses: Vec<f32>,
    /// Validation NDCG@10 of the model before training.
    pub ndcg_before: f64,
    /// Validation NDCG@10 of the best epoch.
    pub ndcg_best: f64,
    /// The epoch kept (0: none beat the untrained model).
    pub best_epoch: usize,
    /// The trainer's whole report, as JSON.
    pub details: serde_json::Value,
}

#[cfg(feature = "model")]
#[cfg_attr(docsrs, doc(cfg(feature = "model")))]
impl TrainingRun {
    /// A run from the trainer's report.
    pub fn new(name: &str, report: &affinity_tune::TrainReport, seconds: f64) -> Self {
        TrainingRun {
            name: name.into(),
            seconds,
            step_losses: report.step_losses.clone(),
            ndcg_before: report.epochs[0].ndcg10,
            ndcg_best: report.best().ndcg10,
            best_epoch: report.best_epoch,
            details: serde_json::to_value(report).unwrap_or_default(),
        }
    }
}

/// One user's recommendations shown in the report.
#[derive(Debug, Clone)]
pub struct ExampleUser {
    /// The user's id in the data.
    pub user: String,
    /// Recent purchases, newest first.
    pub history: Vec<String>,
    /// What the user actually bought next (the test step).
    pub next: Vec<String>,
    /// What the recommender suggested.
    pub recommendations: Vec<Recommendation>,
}

/// Two methods compared over the same test users: NDCG@10 of `a` minus `b`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    /// The first method.
    pub a: String,
    /// The method it is compared with.
    pub b: String,
    /// The mean difference and its 95 % paired-bootstrap interval.
    pub difference: affinity_data::metrics::PairedDifference,
}

/// How spread out one model's product vectors are: the mean cosine between two different
/// products (near 1 when the space has collapsed toward one direction).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Spread {
    /// The model.
    pub model: String,
    /// Mean cosine over all pairs of different products.
    pub mean_pairwise_cosine: f64,
}

/// The next basket as a grocery shop sees it: every product of the held-out basket relevant
/// (repeats too), lists that may hold what the shopper bought before, and each method's
/// repeat and explore parts (Li et al., "A Next Basket Recommendation Reality Check").
#[derive(Debug, Clone)]
pub struct NextBasket {
    /// One line about the protocol.
    pub data: String,
    /// The comparison table.
    pub results: Vec<MethodResult>,
    /// Paired significance of the differences that matter.
    pub comparisons: Vec<Comparison>,
    /// Example users, with the mixed lists' reasons.
    pub examples: Vec<ExampleUser>,
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// Heading.
    pub title: String,
    /// One line about the data and the protocol.
    pub data: String,
    /// The comparison table.
    pub results: Vec<MethodResult>,
    /// Paired significance of the differences that matter.
    pub comparisons: Vec<Comparison>,
    /// The product vectors' spread per model.
    pub spreads: Vec<Spread>,
    /// Fine-tuning runs.
    pub training: Vec<TrainingRun>,
    /// The strongest rules.
    pub rules: Vec<RuleRow>,
    /// Example users.
    pub examples: Vec<ExampleUser>,
    /// The next-basket protocol's section, where the job ran it.
    pub next_basket: Option<NextBasket>,
    /// Wall time of the whole job.
    pub seconds: f64,
}

/// The mean cosine between two different rows of `vectors` (rows of norm 1): the squared
/// norm of their sum gives it without forming every pair.
///
/// ```
/// let v = ndarray::array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 0.0]];
/// assert!((affinity_recommend::report::mean_pairwise_cosine(v.view()) - 1.0 / 3.0).abs() < 1e-9);
/// ```
pub fn mean_pairwise_cosine(vectors: ndarray::ArrayView2<f32>) -> f64 {
    let n = vectors.nrows() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let sum = vectors.map(|&x| f64::from(x)).sum_axis(ndarray::Axis(0));
    let self_pairs: f64 = vectors
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>())
        .sum();
    (sum.dot(&sum) - self_pairs) / (n * (n - 1.0))
}

/// "every `d` days" in words, whole days.
fn every(d: f32) -> String {
    match d.round() as i64 {
        n if n <= 1 => "every day".into(),
        n => format!("every {n} days"),
    }
}

/// "once", "twice", "`n` times".
fn times_text(n: u32) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

/// "`d` days ago" in words, whole days.
fn ago(d: f32) -> String {
    match d.round() as i64 {
        n if n <= 0 => "today".into(),
        1 => "yesterday".into(),
        n => format!("{n} days ago"),
    }
}

/// Reasons as one line of text.
pub fn reasons_text(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| match r {
            Reason::Rule {
                antecedent,
                confidence,
                lift,
            } => {
                format!(
                    "rule {} -> it (confidence {confidence:.2}, lift {lift:.2})",
                    antecedent.join(" + ")
                )
            }
            Reason::SimilarTo {
                item,
                similarity,
                typical,
            } => {
                format!("similar to {item} ({similarity:.2}; {typical:.2} to a typical product)")
            }
            Reason::BoughtBefore {
                times,
                every_days,
                own_interval,
                days_since,
            } => {
                let mut text = match (every_days, own_interval) {
                    (Some(d), true) => format!("you buy it about {}", every(*d)),
                    (Some(d), false) => format!(
                        "bought {} before; people buy it again about {}",
                        times_text(*times),
                        every(*d)
                    ),
                    (None, _) => format!("bought {} before", times_text(*times)),
                };
                if let Some(since) = days_since {
                    text.push_str(&format!("; last bought {}", ago(*since)));
                }
                text
            }
            Reason::Popular { rank } => format!("popular (#{rank})"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Report {
    /// Writes `report.md`, `metrics.png`, `loss.png` and `results.json` into `dir`; returns the
    /// report's path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, WriteError> {
        std::fs::create_dir_all(dir).map_err(|e| WriteError::new(dir, e))?;
        let methods: Vec<String> = self.results.iter().map(|r| r.name.clone()).collect();
        let series: Vec<(String, Vec<f64>)> = methods
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let s = &self.results[i].summary;
                (m.clone(), vec![s.recall, s.ndcg, s.mrr])
            })
            .collect();
        bar_chart(
            &dir.join("metrics.png"),
            "metrics per method (k = 10)",
            &["Recall@10".into(), "NDCG@10".into(), "MRR@10".into()],
            &series,
        )?;
        let losses: Vec<(String, Vec<f32>)> = self
            .training
            .iter()
            .map(|r| (r.name.clone(), r.step_losses.clone()))
            .collect();
        line_chart(
            &dir.join("loss.png"),
            "training loss per step",
            "loss",
            &losses,
        )?;

        let mut md = String::new();
        let _ = writeln!(md, "# {}\n\n{}\n", self.title, self.data);
        results_table(&mut md, &self.results);
        let _ = writeln!(md, "\n![metrics per method](metrics.png)\n");
        exposure_tables(&mut md, &self.results);
        if !self.comparisons.is_empty() {
            let _ = writeln!(md, "## Which differences are real\n");
            comparisons_table(&mut md, &self.comparisons);
        }
        if !self.spreads.is_empty() {
            let _ = writeln!(md, "## Product vectors\n\nMean cosine between two different products (near 1: the space has collapsed and similarity says little).\n\n| model | mean pairwise cosine |\n|---|---|");
            for s in &self.spreads {
                let _ = writeln!(md, "| {} | {:.3} |", s.model, s.mean_pairwise_cosine);
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md, "## Fine-tuning\n");
        let _ = writeln!(md, "| run | validation NDCG@10 before | best | best epoch | steps | seconds |\n|---|---|---|---|---|---|");
        for r in &self.training {
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.4} | {} | {} | {:.0} |",
                r.name,
                r.ndcg_before,
                r.ndcg_best,
                r.best_epoch,
                r.step_losses.len(),
                r.seconds
            );
        }
        let _ = writeln!(
            md,
            "\n![training loss per step](loss.png)\n\n## Strongest rules\n"
        );
        let _ = writeln!(
            md,
            "| rule | support | confidence | lift |\n|---|---|---|---|"
        );
        for r in &self.rules {
            let _ = writeln!(
                md,
                "| {} -> {} | {:.4} | {:.3} | {:.2} |",
                r.antecedent.join(" + "),
                r.consequent,
                r.support,
                r.confidence,
                r.lift
            );
        }
        let _ = writeln!(md, "\n## Recommendations with reasons\n");
        examples(&mut md, &self.examples);
        if let Some(next) = &self.next_basket {
            next.write_markdown(&mut md);
        }
        let _ = writeln!(md, "Total time {:.0} s.", self.seconds);
        let path = dir.join("report.md");
        write_bytes(&path, md.as_bytes())?;
        let next_basket = self.next_basket.as_ref().map(|n| {
            serde_json::json!({"protocol": n.data, "results": n.results, "comparisons": n.comparisons})
        });
        let json = serde_json::json!({
            "results": self.results,
            "comparisons": self.comparisons,
            "next_basket": next_basket,
            "spreads": self.spreads,
            "rules": self.rules,
            "training": self.training.iter().map(|r| serde_json::json!({"name": r.name, "report": r.details, "seconds": r.seconds})).collect::<Vec<_>>(),
        });
        let json = serde_json::to_string_pretty(&json).expect("a JSON value serializes");
        write_bytes(&dir.join("results.json"), json.as_bytes())?;
        Ok(path)
    }
}

impl NextBasket {
    fn write_markdown(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "## The next basket, repeats included\n\n{}\n",
            self.data
        );
        results_table(md, &self.results);
        let _ = writeln!(md);
        exposure_tables(md, &self.results);
        if let Some(first) = self.results.first() {
            let split = &first.repeat_explore;
            let _ = writeln!(
                md,
                "\nRepeat (bought before) and explore (new) parts of the truth: {} and {} \
                 users; {:.1} % of the truth is repeat.\n\n\
                 | method | repeat Recall@10 | repeat NDCG@10 | explore Recall@10 | explore NDCG@10 | % repeat in the lists |\n|---|---|---|---|---|---|",
                split.repeat_users,
                split.explore_users,
                100.0 * split.truth_repeat_share
            );
        }
        for r in &self.results {
            let s = &r.repeat_explore;
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.1} % |",
                r.name,
                s.repeat_recall,
                s.repeat_ndcg,
                s.explore_recall,
                s.explore_ndcg,
                100.0 * s.list_repeat_share
            );
        }
        let _ = writeln!(md);
        if !self.comparisons.is_empty() {
            comparisons_table(md, &self.comparisons);
        }
        examples(md, &self.examples);
    }
}

/// The methods' table; diversity reads "-" where there are no item vectors to measure it in.
fn results_table(md: &mut String, results: &[MethodResult]) {
    let _ = writeln!(
        md,
        "| method | Recall@10 | NDCG@10 | MRR@10 | coverage | diversity | seconds |\n\
         |---|---|---|---|---|---|---|"
    );
    for r in results {
        let s = &r.summary;
        let diversity = s.diversity.map_or("-".into(), |d| format!("{d:.4}"));
        let _ = writeln!(
            md,
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {diversity} | {:.1} |",
            r.name, s.recall, s.ndcg, s.mrr, s.coverage, r.seconds
        );
    }
}

/// One method's exposure figures, formatted as the report and `affinity evaluate` show them:
/// coverage, Gini index, entropy, average popularity, tail %, novelty, distributional coverage
/// and the head's share of slots. `percent` follows the two percentages (`""` or `" %"`).
pub fn exposure_cells(e: &affinity_data::exposure::ExposureReport, percent: &str) -> [String; 8] {
    [
        format!("{:.4}", e.item_coverage),
        format!("{:.4}", e.gini_index),
        format!("{:.3}", e.shannon_entropy),
        format!("{:.1}", e.average_popularity),
        format!("{:.2}{percent}", 100.0 * e.tail_percentage),
        format!("{:.3}", e.novelty),
        format!("{:.3}", e.distributional_coverage),
        format!("{:.1}{percent}", 100.0 * e.head_slot_share()),
    ]
}

/// The exposure figures of each method, the share of slots per product group and accuracy by
/// history length, as `affinity evaluate` prints them.
pub fn exposure_tables(md: &mut String, results: &[MethodResult]) {
    let Some(first) = results.first() else {
        return;
    };
    let head = first.exposure.popularity_groups.first();
    let _ = writeln!(
        md,
        "### Exposure\n\nCoverage (RecBole ItemCoverage), Gini index (RecBole GiniIndex over the \
         catalogue, 0 = even), entropy (RecBole ShannonEntropy, nats), average popularity \
         (RecBole AveragePopularity, training interactions), tail % (RecBole TailPercentage, \
         tail ratio {}), novelty and distributional coverage (Microsoft Recommenders, bits), \
         and the share of slots on the head: the {} most popular items, {:.1} % of the \
         catalogue with {:.1} % of the training interactions (docs/exposure.md).\n\n\
         | method | coverage | Gini | entropy | avg popularity | tail % | novelty | dist. coverage | head slots |\n\
         |---|---|---|---|---|---|---|---|---|",
        first.exposure.tail_ratio,
        head.map_or(0, |h| h.items),
        100.0 * head.map_or(0.0, |h| h.catalog_share),
        100.0 * head.map_or(0.0, |h| h.training_share),
    );
    for r in results {
        let _ = writeln!(
            md,
            "| {} | {} |",
            r.name,
            exposure_cells(&r.exposure, " %").join(" | ")
        );
    }
    let _ = writeln!(md);
    if !first.exposure.item_groups.is_empty() {
        let _ = writeln!(
            md,
            "Share of slots per product category (the largest ten by training interactions), \
             against the category's share of the catalogue and of training.\n"
        );
        let mut groups: Vec<usize> = (0..first.exposure.item_groups.len()).collect();
        groups.sort_by(|&a, &b| {
            let g = &first.exposure.item_groups;
            g[b].training_share.total_cmp(&g[a].training_share)
        });
        groups.truncate(10);
        let _ = write!(md, "| category | catalogue | training |");
        for r in results {
            let _ = write!(md, " {} |", r.name);
        }
        let _ = writeln!(md, "\n|---|---|---|{}", "---|".repeat(results.len()));
        for g in groups {
            let row = &first.exposure.item_groups[g];
            let _ = write!(
                md,
                "| {} | {:.1} % | {:.1} % |",
                row.group,
                100.0 * row.catalog_share,
                100.0 * row.training_share
            );
            for r in results {
                let share = r.exposure.item_groups.get(g).map_or(0.0, |x| x.slot_share);
                let _ = write!(md, " {:.1} % |", 100.0 * share);
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md);
    }
    let _ = write!(
        md,
        "NDCG@k / Recall@k by the test users' history length (interactions before the test \
         step; users per group in brackets).\n\n| method |"
    );
    for g in &first.by_history {
        let _ = write!(md, " {} ({}) |", g.group, g.users);
    }
    let _ = writeln!(md, "\n|---|{}", "---|".repeat(first.by_history.len()));
    for r in results {
        let _ = write!(md, "| {} |", r.name);
        for g in &r.by_history {
            match (g.ndcg, g.recall) {
                (Some(n), Some(r)) => {
                    let _ = write!(md, " {n:.4} / {r:.4} |");
                }
                _ => {
                    let _ = write!(md, " - |");
                }
            }
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md);
}

/// Paired differences, with what they mean.
fn comparisons_table(md: &mut String, comparisons: &[Comparison]) {
    let _ = writeln!(
        md,
        "NDCG@10 of one method minus another over the same test users, with the 95 % \
         paired-bootstrap interval; a tie where it holds 0.\n\n\
         | comparison | difference | 95 % interval | verdict |\n|---|---|---|---|"
    );
    for c in comparisons {
        let d = &c.difference;
        let _ = writeln!(
            md,
            "| {} vs {} | {:+.4} | [{:+.4}, {:+.4}] | {} |",
            c.a,
            c.b,
            d.mean,
            d.low,
            d.high,
            d.verdict()
        );
    }
    let _ = writeln!(md);
}

/// Example users' recommendations with their reasons.
fn examples(md: &mut String, users: &[ExampleUser]) {
    for ExampleUser {
        user,
        history,
        next,
        recommendations: recs,
    } in users
    {
        let _ = writeln!(
            md,
            "**{user}** bought recently: {}. Actually bought next: {}.\n",
            history.join(", "),
            next.join(", ")
        );
        for r in recs {
            let _ = writeln!(
                md,
                "- {} ({:.3}): {}",
                r.name,
                r.score,
                reasons_text(&r.reasons)
            );
        }
        let _ = writeln!(md);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bought(times: u32, every_days: Option<f32>, own: bool, since: Option<f32>) -> String {
        reasons_text(&[Reason::BoughtBefore {
            times,
            every_days,
            own_interval: own,
            days_since: since,
        }])
    }

    #[test]
    fn exposure_tables_show_each_method_and_history_bucket() {
        use affinity_data::exposure::{accuracy_by_history, ExposureReport};
        // Popularity: item 0 everywhere; spread: each item once.
        let result = |name: &str, lists: &[Vec<u32>]| MethodResult {
            name: name.into(),
            summary: Default::default(),
            repeat_explore: Default::default(),
            exposure: ExposureReport::compute(lists, &[8.0, 1.0, 1.0, 0.0], 4, None),
            by_history: accuracy_by_history(&[2, 4], &[1.0, 0.5], &[1.0, 1.0]),
            seconds: 0.0,
            per_user_ndcg: Vec::new(),
            per_user_recall: Vec::new(),
        };
        let results = [
            result("popular", &[vec![0], vec![0]]),
            result("spread", &[vec![1], vec![2]]),
        ];
        let mut md = String::new();
        exposure_tables(&mut md, &results);
        // Head: item 0 (8 of 10 interactions), 1 of 4 items.
        assert!(
            md.contains("the 1 most popular items, 25.0 % of the catalogue with 80.0 %"),
            "{md}"
        );
        // Gini: one of 4 items everywhere = 3/4; two items evenly = (1 + 3) / (4 * 2) = 1/2.
        assert!(
            md.contains("| popular | 0.2500 | 0.7500 | 0.000 | 8.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| spread | 0.5000 | 0.5000 | 0.693 | 1.0 |"),
            "{md}"
        );
        assert!(
            md.contains("100.0 % |\n") && md.contains("| 0.0 % |\n"),
            "{md}"
        );
        assert!(md.contains("| 1-2 (1) | 3-5 (1) | 6-10 (0) |"), "{md}");
        assert!(
            md.contains("| popular | 1.0000 / 1.0000 | 0.5000 / 1.0000 | - |"),
            "{md}"
        );
    }

    #[test]
    fn repeat_reasons_read_as_a_shopper_would_say_them() {
        assert_eq!(
            bought(9, Some(8.6), true, Some(12.0)),
            "you buy it about every 9 days; last bought 12 days ago"
        );
        assert_eq!(
            bought(1, Some(30.2), false, Some(1.0)),
            "bought once before; people buy it again about every 30 days; last bought yesterday"
        );
        assert_eq!(
            bought(2, None, false, Some(0.2)),
            "bought twice before; last bought today"
        );
        assert_eq!(
            bought(5, Some(0.7), true, None),
            "you buy it about every day"
        );
    }
}
