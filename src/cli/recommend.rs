//! `affinity recommend`, `affinity search`: from a fitted bundle (`--bundle`), or fitted on
//! the spot from raw data (`--input`); the ranking flags `evaluate` and `fit` share.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};

use affinity::data::{Dataset, HoldOut};
use affinity::pipeline::{
    Candidates, Pipeline, PipelineParams, Recommendation, Recommender, ScoreWeights,
};
use affinity::report::reasons_text;

use super::bundle::load_bundle;
use super::model_args::RunArgs;
use affinity_cli::input::ReadArgs;

/// Ranking settings shared by the commands that fit.
#[derive(Debug, Clone, clap::Args)]
pub struct RankArgs {
    /// List length.
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// Rule mining: minimum support (fraction of baskets).
    #[arg(long, default_value_t = 0.001)]
    pub min_support: f64,
    /// Rule mining: minimum confidence.
    #[arg(long, default_value_t = 0.05)]
    pub min_confidence: f64,
    /// Rule mining: at most this many itemsets; past it the minimum support rises (with a
    /// warning) so that the strongest fit.
    #[arg(long, default_value_t = 500_000)]
    pub max_itemsets: u64,
    /// Rule mining: each rule must rest on at least this many distinct shoppers (0 or 1: no
    /// floor) [default: 5 with --pseudonymize-key-file, else none].
    #[arg(long)]
    pub min_rule_shoppers: Option<u32>,
    /// Weight of the embedding score (each source min-max normalised first).
    #[arg(long, default_value_t = 1.0)]
    pub embedding_weight: f32,
    /// Weight of the strongest fired rule's confidence.
    #[arg(long, default_value_t = 0.3)]
    pub rules_weight: f32,
    /// Weight of popularity.
    #[arg(long, default_value_t = 0.3)]
    pub popularity_weight: f32,
    /// Weight of item co-occurrence with the history (`--tune` tries it).
    #[arg(long, default_value_t = 0.0)]
    pub cooccurrence_weight: f32,
    /// Weight of what the shopper buys again (time-decayed personal frequency); counts only
    /// where lists may hold what was bought before (`--mode mixed`). `--tune` chooses it.
    #[arg(long, default_value_t = 0.0)]
    pub repeat_weight: f32,
    /// Weight of TIFU-KNN's score (the shopper's decayed frequency mixed with the most
    /// similar shoppers'); `--tune` chooses it, with TIFU-KNN's settings, in mixed mode.
    #[arg(long, default_value_t = 0.0)]
    pub tifu_weight: f32,
    /// Which items lists may hold: discover (new to the shopper), mixed (anything: what they
    /// buy again competes with the rest) or buy-again (only what they bought before). `fit
    /// --tune` chooses the blend for it and a bundle offers it by default; `evaluate` scores
    /// it [default: mixed for data with order ids, else discover].
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// MMR lambda (1: relevance only).
    #[arg(long, default_value_t = 0.9)]
    pub mmr_lambda: f32,
    /// Exposure-aware re-ranking in [0, 1]: each list calibrated to the shopper's own mix of
    /// best sellers, middle and long-tail products, with this weight, in place of MMR (0: off;
    /// docs/exposure.md has the accuracy it costs against the exposure it gives).
    #[arg(long, default_value_t = 0.0)]
    pub calibration: f32,
    /// Products per history text.
    #[arg(long, default_value_t = 10)]
    pub history_items: usize,
}

/// `--mode`: which items lists may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// New to the shopper (the history excluded).
    Discover,
    /// Anything: what the shopper buys again competes with new items.
    Mixed,
    /// Only what the shopper bought before.
    BuyAgain,
}

impl From<ModeArg> for Candidates {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Discover => Candidates::HistoryExcluded,
            ModeArg::Mixed => Candidates::AllItems,
            ModeArg::BuyAgain => Candidates::RepeatsOnly,
        }
    }
}

impl RankArgs {
    /// The mode asked for, else mixed where the data names its orders (order data, where a
    /// next basket is mostly what was bought before), else discover.
    pub fn candidates(&self, dataset: &Dataset) -> Candidates {
        match self.mode {
            Some(mode) => mode.into(),
            None if !dataset.orders.is_empty() => Candidates::AllItems,
            None => Candidates::HistoryExcluded,
        }
    }

    /// The pipeline's settings for data read with `read`, with the data's mode (see
    /// [`RankArgs::candidates`]). Rules from pseudonymised data rest on at least
    /// [`PipelineParams::PSEUDONYMISED_MIN_RULE_SHOPPERS`] shoppers unless
    /// `--min-rule-shoppers` says otherwise.
    pub fn config(
        &self,
        read: &ReadArgs,
        hold_out: HoldOut,
        candidates: Candidates,
    ) -> anyhow::Result<PipelineParams> {
        let shopper_floor =
            self.min_rule_shoppers
                .unwrap_or(if read.pseudonymize_key_file.is_some() {
                    PipelineParams::PSEUDONYMISED_MIN_RULE_SHOPPERS
                } else {
                    0
                });
        Ok(PipelineParams::builder()
            .k(self.k)
            .hold_out(hold_out)
            .min_support(self.min_support)
            .min_confidence(self.min_confidence)
            .max_itemsets(self.max_itemsets)
            .min_rule_shoppers(shopper_floor)
            .history_items(self.history_items)
            .weights(ScoreWeights {
                embedding: self.embedding_weight,
                rules: self.rules_weight,
                popularity: self.popularity_weight,
                cooccurrence: self.cooccurrence_weight,
                repeat: self.repeat_weight,
                tifu: self.tifu_weight,
            })
            .mmr_lambda(self.mmr_lambda)
            .calibration(self.calibration)
            .candidates(candidates)
            .build()?)
    }
}

/// Raw data to fit on the spot, when no bundle is given.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Raw data to fit on the spot (for unisrec: the prefix DIR/NAME).
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

impl SourceArgs {
    fn raw(&self) -> anyhow::Result<(&PathBuf, Dataset)> {
        let Some(path) = &self.input else {
            bail!("give --bundle DIR (from `affinity fit`) or --input FILE");
        };
        Ok((path, self.read.load(path)?.0))
    }
}

/// Fits on the spot: rules mined and the catalogue embedded for this one call.
fn fit_on_the_spot(
    pipeline: &Pipeline,
    dataset: Dataset,
    run: &RunArgs,
) -> anyhow::Result<Recommender> {
    // The model before the mining: a bad model path fails before the heavy work.
    let encoder = run.load()?;
    let prepared = pipeline.prepare_all(dataset);
    let rules = pipeline.mine_rules(&prepared)?;
    Ok(pipeline.recommender(&prepared, Some(encoder), rules)?)
}

/// Options that only fitting on the spot reads: a bundle was fitted with its own, so they are
/// refused with `--bundle` rather than ignored.
const RAW_DATA: [&str; 10] = [
    "input",
    "format",
    "user_col",
    "item_col",
    "time_col",
    "event_col",
    "order_col",
    "time_format",
    "delimiter",
    "lenient",
];
/// The model a bundle carries, and how long its texts may be.
pub(super) const MODEL: [&str; 2] = ["model", "max_len"];
/// Settings fixed when the bundle was fitted.
pub(super) const FITTED: [&str; 11] = [
    "calibration",
    "min_support",
    "min_confidence",
    "min_rule_shoppers",
    "embedding_weight",
    "rules_weight",
    "popularity_weight",
    "repeat_weight",
    "tifu_weight",
    "mmr_lambda",
    "history_items",
];

/// `affinity recommend`.
#[derive(Debug, clap::Args)]
pub struct RecommendArgs {
    /// A fitted bundle (`affinity fit`): nothing is mined or embedded again; its settings
    /// (weights, MMR, history length) are the ones it was fitted with.
    #[arg(long, short, conflicts_with_all = RAW_DATA, conflicts_with_all = MODEL, conflicts_with_all = FITTED)]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    /// Recommend for this user (their whole history; a user not seen is a cold start).
    #[arg(long, conflicts_with = "items")]
    pub user: Option<String>,
    /// Or for this history: comma-separated product names, oldest first.
    #[arg(long)]
    pub items: Option<String>,
    /// Also say how much each history item moved each recommendation: its score with the item
    /// left out of the history (one more history vector per distinct item, at most 20).
    #[arg(long)]
    pub influence: bool,
    /// Also say which words of the history's text moved the language model toward each
    /// recommendation: its cosine with the text without the word (one more pass of the model
    /// per word, at most 64; not with a sequential tower, which reads no text).
    #[arg(long)]
    pub words: bool,
    /// JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The history named by `--user` or `--items`, in the recommender's ids.
fn history_of(
    recommender: &Recommender,
    user: Option<&str>,
    items: Option<&str>,
    key: Option<&affinity_data::PseudonymKey>,
) -> anyhow::Result<Vec<u32>> {
    // With a key, users are known by their pseudonyms only.
    let user = user.map(|u| key.map_or_else(|| u.to_owned(), |k| k.pseudonym(u)));
    match (user, items) {
        (Some(user), _) => Ok(match recommender.fitted().history(&user) {
            Some(history) => history.to_vec(),
            None => {
                eprintln!("user {user:?} has no history here: cold start (popular products)");
                vec![]
            }
        }),
        (None, Some(items)) => {
            let names: Vec<&str> = items.split(',').map(str::trim).collect();
            let unknown: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| recommender.item_id(n).is_none())
                .collect();
            if !unknown.is_empty() {
                let quoted: Vec<String> = unknown.iter().map(|n| format!("{n:?}")).collect();
                bail!("unknown products: {}", quoted.join(", "));
            }
            Ok(names
                .iter()
                .filter_map(|n| recommender.item_id(n))
                .collect())
        }
        (None, None) => bail!("give --user ID or --items \"a,b,c\""),
    }
}

pub fn recommend(args: RecommendArgs) -> anyhow::Result<()> {
    if args.user.is_none() && args.items.is_none() {
        bail!("give --user ID or --items \"a,b,c\"");
    }
    if args.rank.k == 0 {
        bail!("-k must be at least 1");
    }
    let key = args.source.read.pseudonym_key()?;
    let recommender = match &args.bundle {
        Some(dir) => {
            if args.user.is_some() {
                super::bundle::check_user_key(dir, key.as_ref(), "--user")?;
            }
            load_bundle(dir, &args.run)?
        }
        None => {
            let (_, dataset) = args.source.raw()?;
            let candidates = args.rank.candidates(&dataset);
            let params = args
                .rank
                .config(&args.source.read, HoldOut::LastItem, candidates)?;
            let pipeline = Pipeline::new(params)?.with_progress(super::bars());
            fit_on_the_spot(&pipeline, dataset, &args.run)?
        }
    };
    let history = history_of(
        &recommender,
        args.user.as_deref(),
        args.items.as_deref(),
        key.as_ref(),
    )?;
    let candidates = args
        .rank
        .mode
        .map_or(recommender.ranking_settings().candidates, Candidates::from);
    // A known user's baskets and days make what they buy again exact (and its reasons).
    let user = args.user.as_deref().map(|u| {
        key.as_ref()
            .map_or_else(|| u.to_owned(), |k| k.pseudonym(u))
    });
    let shopper = user.and_then(|u| recommender.fitted().shopper(&u, None));
    let recs =
        recommender.recommend_for(&history, shopper.as_ref(), candidates, &[], args.rank.k)?;
    if !args.influence && !args.words {
        return print(&recs, args.json);
    }
    let items: Vec<u32> = recs.iter().map(|r| r.item).collect();
    let moved = match args.influence {
        true => recommender.influence(&history, shopper.as_ref(), candidates, &items)?,
        false => Vec::new(),
    };
    let words = match args.words {
        true => recommender.word_influence(&history, &items)?,
        false => Vec::new(),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (j, r) in recs.iter().enumerate() {
        if args.json {
            let mut value = serde_json::to_value(r)?;
            if let Some(moved) = moved.get(j) {
                value["influence"] = serde_json::to_value(moved)?;
            }
            if let Some(words) = words.get(j) {
                value["words"] = serde_json::to_value(words)?;
            }
            writeln!(out, "{value}")?;
            continue;
        }
        write!(out, "{:<40} {:.4}", r.name, r.score)?;
        if let Some(moved) = moved.get(j) {
            let named: Vec<String> = moved
                .iter()
                .map(|m| format!("{} {:+.4}", m.item, m.delta))
                .collect();
            write!(out, "  moved by: {}", named.join(", "))?;
        }
        writeln!(out)?;
        if let Some(words) = words.get(j) {
            let named: Vec<String> = words
                .iter()
                .take(WORDS_SHOWN)
                .map(|w| format!("\"{}\" {:+.4}", w.word, w.delta))
                .collect();
            writeln!(out, "  words (cosine without each): {}", named.join(", "))?;
        }
    }
    Ok(())
}

/// Words printed per recommendation in text (JSON has them all).
const WORDS_SHOWN: usize = 5;

fn print(recs: &[Recommendation], json: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for r in recs {
        if json {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        } else if r.reasons.is_empty() {
            writeln!(out, "{:<40} {:.4}", r.name, r.score)?;
        } else {
            writeln!(
                out,
                "{:<40} {:.4}  {}",
                r.name,
                r.score,
                reasons_text(&r.reasons)
            )?;
        }
    }
    Ok(())
}

/// `affinity search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// A fitted bundle (`affinity fit`).
    #[arg(long, short, conflicts_with_all = RAW_DATA, conflicts_with_all = MODEL)]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Free text, e.g. "glass beaker".
    #[arg(long, short)]
    pub query: Option<String>,
    /// Or: products similar to this product name.
    #[arg(long, conflicts_with = "query")]
    pub similar: Option<String>,
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn search(args: SearchArgs) -> anyhow::Result<()> {
    match (&args.query, &args.similar) {
        (Some(q), _) if q.trim().is_empty() => bail!("--query is empty"),
        (None, None) => bail!("give --query TEXT or --similar PRODUCT"),
        _ if args.k == 0 => bail!("-k must be at least 1"),
        _ => {}
    }
    let unknown = |name: &str| format!("product {name:?} is not in the catalogue");
    let recommender = match &args.bundle {
        // Similar products come from the stored item vectors: no language model to load.
        Some(dir) if args.similar.is_some() => {
            let options = affinity::bundle::BundleLoadOptions {
                encoder: false,
                ..args.run.bundle_options()?
            };
            Recommender::load(dir, &options)
                .with_context(|| format!("cannot load the bundle {}", dir.display()))?
        }
        Some(dir) => load_bundle(dir, &args.run)?,
        None => {
            let pipeline = Pipeline::new(PipelineParams::default())?.with_progress(super::bars());
            let (_, dataset) = args.source.raw()?;
            // Checked before the model loads and embeds the catalogue.
            if let Some(name) = &args.similar {
                if dataset.items.get(name).is_none() {
                    bail!(unknown(name));
                }
            }
            let prepared = pipeline.prepare_all(dataset);
            pipeline.recommender(&prepared, Some(args.run.load()?), vec![])?
        }
    };
    let found = match (&args.query, &args.similar) {
        (Some(q), _) => recommender.search(q, args.k)?,
        (None, Some(name)) => {
            let id = recommender.item_id(name).with_context(|| unknown(name))?;
            recommender.similar(id, args.k)?
        }
        (None, None) => unreachable!("checked above"),
    };
    print(&found, args.json)
}
