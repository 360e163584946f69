//! `affinity evaluate`: the methods side by side on held-out data, from a fitted bundle
//! (`--bundle`) or fitted on the spot from raw data (`--input`), with the repeat and explore
//! split and paired bootstrap differences.

use std::path::PathBuf;

use anyhow::bail;

use affinity::data::{Dataset, HoldOut};
use affinity::pipeline::{
    evaluate_observed, Candidates, EvalProtocol, EvalSet, MethodResult, Pipeline, Recommender,
    ScoreWeights,
};
use affinity::ranker::{Named, Ranker};

use super::bundle::{hold_out_for, load_bundle, HoldOutArg};
use super::model_args::{RunArgs, SequentialArgs};
use super::recommend::{RankArgs, FITTED, MODEL};
use affinity_cli::input::ReadArgs;

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
    /// With --tune: an exposure bound. The best validation NDCG among settings whose
    /// validation lists have a Gini index of at most this (the calibration chosen too; see
    /// docs/exposure.md).
    #[arg(long, requires = "tune")]
    pub max_gini: Option<f64>,
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
    let Evaluated {
        results,
        candidates,
        protocol,
        hold_out,
        tuning,
    } = match &args.bundle {
        Some(dir) => {
            if args.tune {
                bail!("--tune chooses weights while fitting: use `affinity fit --tune`");
            }
            // Test users are found by the ids the bundle stored: raw, or pseudonyms of its key.
            let key = args.read.pseudonym_key()?;
            super::bundle::check_user_key(dir, key.as_ref(), "the test file's users")?;
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
            Evaluated {
                results,
                candidates,
                protocol,
                hold_out: None,
                tuning: None,
            }
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
            "tuning": tuning,
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
    print_exposure(&results, k);
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

/// Exposure of the lists (docs/exposure.md) and accuracy by history length.
fn print_exposure(results: &[MethodResult], k: usize) {
    let Some(first) = results.first() else {
        return;
    };
    if let Some(head) = first.exposure.popularity_groups.first() {
        println!(
            "\nexposure of the top {k}: head = the {} most popular items ({:.1} % of the \
             catalogue, {:.1} % of training interactions); tail % = RecBole's, tail ratio {}",
            head.items,
            100.0 * head.catalog_share,
            100.0 * head.training_share,
            first.exposure.tail_ratio
        );
    }
    // The columns of `affinity::report::exposure_cells`, with their widths.
    const COLUMNS: [(&str, usize); 8] = [
        ("coverage", 8),
        ("Gini", 7),
        ("entropy", 8),
        ("avg pop", 9),
        ("tail %", 7),
        ("novelty", 8),
        ("dist cov", 9),
        ("head %", 7),
    ];
    let mut header = format!("{:<26}", "method");
    for (name, width) in COLUMNS {
        header += &format!(" {name:>width$}");
    }
    println!("{header}");
    for r in results {
        let mut line = format!("{:<26}", r.name);
        let cells = affinity::report::exposure_cells(&r.exposure, "");
        for (cell, (_, width)) in cells.iter().zip(COLUMNS) {
            line += &format!(" {cell:>width$}");
        }
        println!("{line}");
    }
    println!("\nNDCG@{k} by history length (interactions before the test step; users):");
    let mut header = format!("{:<26}", "method");
    for g in &first.by_history {
        header += &format!(" {:>12}", format!("{} ({})", g.group, g.users));
    }
    println!("{header}");
    for r in results {
        let mut line = format!("{:<26}", r.name);
        for g in &r.by_history {
            line += &match g.ndcg {
                Some(v) => format!(" {v:>12.4}"),
                None => format!(" {:>12}", "-"),
            };
        }
        println!("{line}");
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

/// What `evaluate` scored, and under what.
struct Evaluated {
    results: Vec<MethodResult>,
    candidates: Candidates,
    protocol: EvalProtocol,
    /// What the split held out (none for a bundle scored on a test file).
    hold_out: Option<HoldOut>,
    /// What `--tune` chose for the hybrid, as `--json` states it: the tuning
    /// (`affinity::bundle::Tuning`) and the ranking it left (weights, MMR lambda, calibration).
    tuning: Option<serde_json::Value>,
}

/// Split the raw data per user, fit on the training part, score the test step: the mode
/// and the protocol it ran under with the figures, and the hybrid's tuning when asked for.
fn evaluate_split(args: &EvaluateArgs) -> anyhow::Result<Evaluated> {
    let k = args.rank.k;
    let (dataset, _) = args.read.load(&args.input)?;
    let candidates = args.rank.candidates(&dataset);
    let protocol = protocol(args.relevant, candidates);
    let hold_out = hold_out_for(args.hold_out, candidates);
    let mut params = args.rank.config(&args.read, hold_out, candidates)?;
    params.max_gini = args.max_gini;
    let pipeline = Pipeline::new(params)?.with_progress(super::bars());
    // The model before the mining: a bad model path fails before the heavy work.
    let encoder = match args.no_model {
        true => None,
        false => Some(args.run.load()?),
    };
    let prepared = pipeline.prepare(dataset);
    let set = EvalSet::from_prepared(&prepared, protocol);
    if set.is_empty() {
        bail!(
            "{}: no user has a test step with {} items to score (a user needs at least three \
             {}; the held-out one must hold relevant items)",
            args.input.display(),
            match protocol {
                EvalProtocol::NewItems => "new",
                EvalProtocol::AllItems => "any",
            },
            match hold_out {
                HoldOut::LastItem => "events",
                HoldOut::LastTimestamp => "time steps",
                HoldOut::LastBasket => "baskets",
            }
        );
    }
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
    let mut chosen = None;
    if args.tune {
        let tuning = pipeline.tune_ranking(&prepared, &mut model, args.tune_users)?;
        let (w, l) = model.ranking();
        let calibration = model.ranking_settings().calibration;
        let reranking = reranking(calibration, l);
        eprintln!(
            "hybrid chosen on validation (NDCG@{k} {:.4}{}): {w}, {reranking} (`affinity fit --tune` keeps such a choice in a bundle)",
            tuning.validation_ndcg,
            gini_note(&tuning),
        );
        warn_unmet_bound(&tuning);
        let mut json = serde_json::to_value(&tuning)?;
        json["weights"] = serde_json::to_value(w)?;
        json["mmr_lambda"] = serde_json::json!(l);
        json["calibration"] = serde_json::json!(calibration);
        chosen = Some(json);
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
    Ok(Evaluated {
        results,
        candidates,
        protocol,
        hold_out: Some(hold_out),
        tuning: chosen,
    })
}

/// How lists are re-ranked: "calibration λ" when calibration is on (it takes MMR's place),
/// else "MMR lambda λ".
pub(super) fn reranking(calibration: f32, mmr_lambda: f32) -> String {
    match calibration > 0.0 {
        true => format!("calibration {calibration}"),
        false => format!("MMR lambda {mmr_lambda}"),
    }
}

/// ", Gini index G" (and the bound it was chosen under), for the line that states a tuning.
pub(super) fn gini_note(t: &affinity::bundle::Tuning) -> String {
    match (t.validation_gini, t.max_gini) {
        (Some(g), Some(bound)) => format!(", Gini index {g:.4} under a bound of {bound}"),
        (Some(g), None) => format!(", Gini index {g:.4}"),
        _ => String::new(),
    }
}

/// A warning where no setting the tuner tried met the exposure bound it was given.
pub(super) fn warn_unmet_bound(t: &affinity::bundle::Tuning) {
    if !t.meets_bound() {
        eprintln!(
            "warning: no setting tried meets --max-gini {} on validation; kept the one closest to it (Gini index {:.4})",
            t.max_gini.unwrap_or_default(),
            t.validation_gini.unwrap_or_default(),
        );
    }
}
