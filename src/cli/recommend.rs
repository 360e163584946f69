//! `affinity recommend`, `affinity search`, `affinity evaluate`: from a fitted bundle
//! (`--bundle`), or fitted on the spot from raw data (`--input`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};

use affinity::data::{Dataset, HoldOut};
use affinity::pipeline::{
    evaluate_observed, Candidates, EvalProtocol, EvalSet, MethodResult, Pipeline, PipelineParams,
    Recommendation, Recommender, ScoreWeights,
};
use affinity::ranker::{Named, Ranker};
use affinity::report::reasons_text;

use super::bundle::{hold_out_for, load_bundle, HoldOutArg};
use super::model_args::{RunArgs, SequentialArgs};
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

    /// The pipeline's settings, with the data's mode (see [`RankArgs::candidates`]).
    pub fn config(
        &self,
        hold_out: HoldOut,
        candidates: Candidates,
    ) -> anyhow::Result<PipelineParams> {
        Ok(PipelineParams::builder()
            .k(self.k)
            .hold_out(hold_out)
            .min_support(self.min_support)
            .min_confidence(self.min_confidence)
            .max_itemsets(self.max_itemsets)
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
const MODEL: [&str; 2] = ["model", "max_len"];
/// Settings fixed when the bundle was fitted.
const FITTED: [&str; 9] = [
    "min_support",
    "min_confidence",
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
                super::bundle::check_user_key(dir, key.as_ref())?;
            }
            load_bundle(dir, &args.run)?
        }
        None => {
            let (_, dataset) = args.source.raw()?;
            let candidates = args.rank.candidates(&dataset);
            let params = args.rank.config(HoldOut::LastItem, candidates)?;
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
    print(&recs, args.json)
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RelevantArg {
    /// Held-out items the user had not bought before.
    New,
    /// Every held-out item.
    All,
}

/// `affinity evaluate`.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// A fitted bundle to evaluate as it is; --input then holds the test events (users and
    /// items by the names the bundle knows).
    #[arg(long, short, conflicts_with_all = MODEL, conflicts_with_all = FITTED, conflicts_with_all = ["hold_out", "tune", "sequential"])]
    pub bundle: Option<PathBuf>,
    /// The data: split per user (without --bundle), or the test events (with --bundle).
    #[arg(long, short)]
    pub input: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    /// Hold out each user's last item (Amazon), last time step or last basket [default:
    /// last-basket in mixed and buy-again modes, else last-item].
    #[arg(long, value_enum)]
    pub hold_out: Option<HoldOutArg>,
    /// Relevant items: "new" (not bought before) or "all" [default: new for --mode discover,
    /// else all: the whole next basket counts].
    #[arg(long, value_enum)]
    pub relevant: Option<RelevantArg>,
    /// Choose the hybrid's weights and MMR lambda on the validation step first.
    #[arg(long)]
    pub tune: bool,
    /// Validation users the choices are made on (the hybrid's blend, TIFU-KNN's settings).
    #[arg(long, default_value_t = TUNE_USERS)]
    pub tune_users: usize,
    /// No language model: baselines, rules and the rules + popularity hybrid only.
    #[arg(long, conflicts_with_all = MODEL, conflicts_with = "sequential")]
    pub no_model: bool,
    /// The sequential tower, for the model row and the hybrid (trained on the training steps).
    #[command(flatten)]
    pub tower: SequentialArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The protocol asked for, else the one `candidates` implies.
fn protocol(relevant: Option<RelevantArg>, candidates: Candidates) -> EvalProtocol {
    match relevant {
        Some(RelevantArg::New) => EvalProtocol::NewItems,
        Some(RelevantArg::All) => EvalProtocol::AllItems,
        None => candidates.protocol(),
    }
}

pub fn evaluate_cmd(args: EvaluateArgs) -> anyhow::Result<()> {
    if args.rank.k == 0 {
        bail!("-k must be at least 1");
    }
    let k = args.rank.k;
    let (results, candidates, protocol, hold_out) = match &args.bundle {
        Some(dir) => {
            if args.tune {
                bail!("--tune chooses weights while fitting: use `affinity fit --tune`");
            }
            let recommender = load_bundle(dir, &args.run)?;
            let (test, _) = args.read.load(&args.input)?;
            let candidates = args
                .rank
                .mode
                .map_or(recommender.ranking_settings().candidates, Candidates::from);
            let protocol = protocol(args.relevant, candidates);
            let set = test_set(&recommender, &test, protocol);
            if set.is_empty() {
                bail!(
                    "no user of {} has a history in the bundle and a relevant test item",
                    args.input.display()
                );
            }
            let results = evaluate_bundle(&recommender, &set, k, candidates)?;
            (results, candidates, protocol, None)
        }
        None => evaluate_split(&args)?,
    };
    let comparisons = comparisons(&results);
    if args.json {
        let json = serde_json::json!({
            "mode": candidates.name(),
            "hold_out": hold_out,
            "relevant": affinity::pipeline::protocol_name(protocol),
            "k": k,
            "results": results,
            "comparisons": comparisons,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let held_out = match hold_out {
        Some(HoldOut::LastItem) => "each user's last item",
        Some(HoldOut::LastTimestamp) => "each user's last time step",
        Some(HoldOut::LastBasket) => "each user's last basket",
        None => "the test events",
    };
    println!(
        "mode {}, held out: {held_out}, relevant: {}",
        candidates.name(),
        match protocol {
            EvalProtocol::NewItems => "items new to the user",
            EvalProtocol::AllItems => "every item, bought before or not",
        }
    );
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "method",
        format!("Recall@{k}"),
        format!("NDCG@{k}"),
        format!("MRR@{k}"),
        "coverage",
        "diversity",
        "seconds"
    );
    for r in &results {
        let s = &r.summary;
        // Diversity needs item vectors: none without a model.
        let diversity = s.diversity.map_or("-".into(), |d| format!("{d:.4}"));
        println!(
            "{:<26} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9} {:>8.2}",
            r.name, s.recall, s.ndcg, s.mrr, s.coverage, diversity, r.seconds
        );
    }
    println!("({} test users)", results[0].summary.users);
    if protocol == EvalProtocol::AllItems {
        print_repeat_explore(&results, k);
    }
    if !comparisons.is_empty() {
        println!("\ndifferences, paired bootstrap over the test users (2,000 resamples, 95 %):");
        for c in &comparisons {
            println!(
                "  {} - {}: NDCG@{k} {}; Recall@{k} {}",
                c.a, c.b, c.ndcg, c.recall
            );
        }
    }
    Ok(())
}

/// One method against another, paired over the same users.
#[derive(Debug, serde::Serialize)]
struct Comparison {
    a: String,
    b: String,
    ndcg: affinity::data::metrics::PairedDifference,
    recall: affinity::data::metrics::PairedDifference,
}

/// The hybrid against each baseline it should at least match.
fn comparisons(results: &[MethodResult]) -> Vec<Comparison> {
    let Some(hybrid) = results.iter().rev().find(|r| r.name.starts_with("hybrid")) else {
        return Vec::new();
    };
    results
        .iter()
        .filter(|r| {
            [
                "TIFU-KNN (tuned)",
                "personal top frequency",
                "most popular",
                "item co-occurrence",
            ]
            .contains(&r.name.as_str())
        })
        .filter_map(|b| {
            Some(Comparison {
                a: hybrid.name.clone(),
                b: b.name.clone(),
                ndcg: hybrid.ndcg_difference(b)?,
                recall: hybrid.recall_difference(b)?,
            })
        })
        .collect()
}

/// The Reality Check's split: each method on the repeat and the explore part of the truth.
fn print_repeat_explore(results: &[MethodResult], k: usize) {
    let Some(first) = results.first() else {
        return;
    };
    let split = &first.repeat_explore;
    println!(
        "\nrepeat (bought before) and explore (new) parts of the truth: {} and {} users; \
         {:.1} % of the truth is repeat",
        split.repeat_users,
        split.explore_users,
        100.0 * split.truth_repeat_share
    );
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "method",
        format!("rep R@{k}"),
        format!("rep N@{k}"),
        format!("exp R@{k}"),
        format!("exp N@{k}"),
        "% repeat"
    );
    for r in results {
        let s = &r.repeat_explore;
        println!(
            "{:<26} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>9.1} %",
            r.name,
            s.repeat_recall,
            s.repeat_ndcg,
            s.explore_recall,
            s.explore_ndcg,
            100.0 * s.list_repeat_share
        );
    }
}

/// Test users of `test` whom the bundle knows, with their bundle history (and baskets, asked
/// on the day of their first test event); held-out items the bundle does not know stay
/// relevant (they can never be hit).
fn test_set(recommender: &Recommender, test: &Dataset, protocol: EvalProtocol) -> EvalSet {
    let fitted = recommender.fitted();
    let mut set = EvalSet {
        n_items: fitted.n_items(),
        popularity: fitted.counts.iter().map(|&c| f64::from(c)).collect(),
        ..EvalSet::default()
    };
    let held_out = affinity::data::items_by_user(&test.interactions, test.users.len());
    let mut first_day = vec![f64::INFINITY; test.users.len()];
    for e in &test.interactions {
        let day = e.timestamp as f64 / 86_400.0;
        first_day[e.user as usize] = first_day[e.user as usize].min(day);
    }
    let mut skipped = 0;
    for (u, items) in held_out.iter().enumerate() {
        if items.is_empty() {
            continue;
        }
        let name = test.users.name(u as u32);
        let (Some(history), Some(shopper)) = (
            fitted.history(name),
            fitted.shopper(name, Some(first_day[u])),
        ) else {
            skipped += 1;
            continue;
        };
        let items: Vec<u32> = items
            .iter()
            .map(|&i| recommender.item_id(test.items.name(i)).unwrap_or(u32::MAX))
            .collect();
        if set.push(history, &items, protocol) {
            set.shoppers.push(shopper);
        }
    }
    if skipped > 0 {
        eprintln!("{skipped} test users are not in the bundle (cold starts) and are not scored");
    }
    set
}

/// Every ranker a bundle holds, on one test set, with lists drawn from `candidates`.
fn evaluate_bundle(
    recommender: &Recommender,
    set: &EvalSet,
    k: usize,
    candidates: Candidates,
) -> anyhow::Result<Vec<MethodResult>> {
    let fitted = recommender.fitted();
    let popular = fitted.most_popular();
    let personal = affinity::rank::PersonalTopFreq::new(popular.counts().to_vec());
    let rules = recommender.blend("rules alone", ScoreWeights::RULES, 1.0);
    let repeat = recommender.blend("repeat (buy again)", ScoreWeights::REPEAT, 1.0);
    let model = recommender.blend(model_row(recommender), ScoreWeights::EMBEDDING, 1.0);
    let hybrid = Named {
        name: "hybrid (as served)".into(),
        inner: recommender,
    };
    let mut rankers: Vec<&dyn Ranker> = vec![&popular, &fitted.cooccurrence, &rules];
    if candidates != Candidates::HistoryExcluded {
        rankers.push(&personal);
        rankers.push(&repeat);
    }
    if recommender.reads_histories() {
        rankers.push(&model);
    }
    rankers.push(&hybrid);
    let vectors = recommender.item_vectors();
    let progress = super::bars();
    rankers
        .into_iter()
        .map(|r| {
            Ok(evaluate_observed(
                r, set, k, vectors, candidates, &*progress,
            )?)
        })
        .collect()
}

/// The model row's name: which tower reads the histories.
fn model_row(recommender: &Recommender) -> &'static str {
    match recommender.sequential() {
        Some(_) => "model (sequential tower)",
        None if recommender.ranking_settings().popularity_prior > 0.0 => {
            "model (cosine + popularity prior)"
        }
        None => "model",
    }
}

/// Trains the sequential tower on the recommender's histories (with a progress bar) when
/// --sequential says so.
#[cfg_attr(not(feature = "model"), allow(unused_variables))]
fn fit_sequential(recommender: &mut Recommender, tower: &SequentialArgs) -> anyhow::Result<()> {
    if let Some(params) = tower.params()? {
        #[cfg(feature = "model")]
        {
            let summary = recommender.fit_sequential_observed(params, &*super::bars())?;
            eprintln!("{summary}");
        }
    }
    Ok(())
}

/// Validation users the hybrid's weights are chosen on.
const TUNE_USERS: usize = 2_000;

/// Split the raw data per user, fit on the training part, score the test step: the mode
/// and the protocol it ran under with the figures.
fn evaluate_split(
    args: &EvaluateArgs,
) -> anyhow::Result<(Vec<MethodResult>, Candidates, EvalProtocol, Option<HoldOut>)> {
    let k = args.rank.k;
    let (dataset, _) = args.read.load(&args.input)?;
    let candidates = args.rank.candidates(&dataset);
    let protocol = protocol(args.relevant, candidates);
    let hold_out = hold_out_for(args.hold_out, candidates);
    let params = args.rank.config(hold_out, candidates)?;
    let pipeline = Pipeline::new(params)?.with_progress(super::bars());
    // The model before the mining: a bad model path fails before the heavy work.
    let encoder = match args.no_model {
        true => None,
        false => Some(args.run.load()?),
    };
    let prepared = pipeline.prepare(dataset);
    let set = EvalSet::from_prepared(&prepared, protocol);
    let rules = pipeline.mine_rules(&prepared)?;
    let mut model = pipeline.recommender_with(
        &prepared,
        encoder,
        rules.clone(),
        ScoreWeights::EMBEDDING,
        1.0,
    )?;
    // The model row, the tuning and the hybrid row embed the same histories: once each.
    model.cache_history_vectors(set.histories.len() + 2 * args.tune_users);
    fit_sequential(&mut model, &args.tower)?;
    let vectors = model.item_vectors().map(|v| v.to_owned());
    let vectors = vectors.as_ref().map(|v| v.view());
    let run = |ranker: &dyn Ranker| {
        evaluate_observed(ranker, &set, k, vectors, candidates, pipeline.progress())
    };
    let mut results = pipeline.evaluate_baselines(
        &prepared,
        &prepared.baskets,
        rules,
        &set,
        vectors,
        candidates,
    )?;
    if candidates != Candidates::HistoryExcluded {
        let (rows, tuning) =
            pipeline.evaluate_next_basket_baselines(&prepared, &set, vectors, args.tune_users)?;
        results.extend(rows);
        eprintln!("TIFU-KNN chosen on validation: {tuning}");
    }
    if model.reads_histories() {
        results.push(run(&model.blend(
            model_row(&model),
            ScoreWeights::EMBEDDING,
            1.0,
        ))?);
    }
    let config = pipeline.params();
    model.set_ranking(config.weights, config.mmr_lambda)?;
    if args.tune {
        let tuning = pipeline.tune_ranking(&prepared, &mut model, args.tune_users)?;
        let (w, l) = model.ranking();
        eprintln!(
            "hybrid chosen on validation (NDCG@{k} {:.4}): {w}, MMR lambda {l} (`affinity fit --tune` keeps such a choice in a bundle)",
            tuning.validation_ndcg
        );
    }
    if candidates != Candidates::HistoryExcluded {
        results.push(run(&model.blend(
            "repeat (buy again)",
            ScoreWeights::REPEAT,
            1.0,
        ))?);
    }
    let sources = match candidates {
        // The names the discover rows have always had.
        Candidates::HistoryExcluded => match (model.sequential().is_some(), model.has_encoder()) {
            (true, _) => "sequential tower+rules+MMR".to_owned(),
            (false, true) => "model+rules+MMR".to_owned(),
            (false, false) => "rules+popularity".to_owned(),
        },
        // The sources the tuned blend kept.
        _ => model.sources().join("+"),
    };
    let hybrid = Named {
        name: format!("hybrid ({sources})"),
        inner: &model,
    };
    results.push(run(&hybrid)?);
    Ok((results, candidates, protocol, Some(hold_out)))
}
