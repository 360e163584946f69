//! The Amazon Scientific benchmark in the published protocol (UniSRec's split): each user's
//! last item is the test item, the one before it validation (never a training target); every
//! model ranks all 4,385 items. Each row is reported twice: "all items" (nothing removed from
//! the candidates: RecBole's protocol, comparable with the published rows) and "history
//! excluded" (what a shop serves). Paired bootstrap intervals over users say which differences
//! are wins and which are ties. All figures go to `OUT/results.json`.
//!
//! Rows: most popular, co-occurrence, item transitions, rules alone, zero-shot MiniLM, the
//! sequential model (text + ID, and text only), and the hybrid of all of them, its weights
//! chosen on the validation item with every other source fitted without it.
//!
//! `cargo run --release --example scientific -- [DIR/Scientific] [--out DIR]
//! [--bert-examples N] [--no-ablation] [--quick]`; for the sequential model `[--epochs N]
//! [--lr F] [--dropout F] [--temperature F] [--hidden N] [--patience N] [--max-history N,M]`
//! (the history lengths to choose from on the validation item; default 1,2,3,5,50), or
//! `--sequential-from DIR` to rank with a saved one (`OUT/sequential` of an earlier run).
//! `--quick` skips what runs BERT per history (the zero-shot history-text row and hybrid
//! source, fine-tuned MiniLM); `--bert-examples 6000` adds fine-tuned MiniLM and its hybrid
//! (about 25 more minutes on 2 cores without AVX-512). Without the data
//! (../shared/datasets/amazon-scientific) it says so and exits.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use affinity::data::metrics::PairedDifference;
use affinity::data::{load, Format, HoldOut, LoadOptions};
use affinity::fusion::{Fusion, FusionTuning, Scorer};
use affinity::pipeline::{
    evaluate_candidates, Candidates, EvalProtocol, EvalSet, MethodResult, Pipeline, PipelineParams,
    Recommender, ScoreWeights,
};
use affinity::rank::{
    CooccurrenceWeight, ItemCooccurrence, ItemTransitions, MostPopular, Scored, TransitionParams,
};
use affinity::ranker::{exclusions, Named, Ranker};
use affinity::tune::tch::Tensor;
use affinity::tune::{
    DeviceChoice, EncoderOptions, EpochRecord, Precision, SentenceEncoder, SequenceSplit,
    SequentialParams, SequentialRecommender, TrainParams, TrainReport, Trainer,
};
use affinity::Progress;
use serde::Serialize;

const K: usize = 10;
/// The hybrid of the sequential models, co-occurrence, transitions, rules and popularity.
const HYBRID: &str = "hybrid (sequential + baselines, tuned)";
const PROTOCOLS: [(Candidates, &str); 2] = [
    (Candidates::AllItems, "all items"),
    (Candidates::HistoryExcluded, "history excluded"),
];

#[derive(Serialize)]
struct Row {
    method: String,
    protocol: &'static str,
    ndcg10: f64,
    recall10: f64,
    mrr: f64,
    seconds: f64,
}

#[derive(Serialize)]
struct Comparison {
    a: String,
    b: String,
    protocol: &'static str,
    /// NDCG@10 of a minus b, with its 95 % paired-bootstrap interval.
    difference: PairedDifference,
    verdict: &'static str,
}

#[derive(Serialize)]
struct Training {
    method: String,
    pairs: usize,
    best_epoch: usize,
    epochs: Vec<EpochRecord>,
    seconds: f64,
}

#[derive(Serialize)]
struct HistoryChoice {
    max_history: usize,
    pairs: usize,
    validation_ndcg10: f64,
    best_epoch: usize,
    seconds: f64,
}

#[derive(Serialize, Default)]
struct Results {
    dataset: String,
    test_users: usize,
    items: usize,
    rows: Vec<Row>,
    comparisons: Vec<Comparison>,
    training: Vec<Training>,
    /// Validation NDCG@10 of the text + ID model per history length tried.
    history_choice: Vec<HistoryChoice>,
    /// The hybrid's weights, chosen on the validation step, per protocol.
    fusion: Vec<FusionTuning>,
    /// Where the time went, in seconds, in order.
    phases: Vec<(String, f64)>,
    total_seconds: f64,
}

/// Ranks each distinct history once, with nothing excluded and `depth` extra items, and serves
/// both protocols from that list: exact for rankers whose scores do not depend on what is
/// excluded (the embedding rows, MMR off), and half the BERT passes of ranking twice.
struct Memo<'a> {
    inner: &'a dyn Ranker,
    depth: usize,
    lists: RefCell<HashMap<Vec<u32>, Vec<Scored>>>,
}

impl<'a> Memo<'a> {
    fn new(inner: &'a dyn Ranker, depth: usize) -> Self {
        Memo {
            inner,
            depth,
            lists: RefCell::default(),
        }
    }
}

impl Ranker for Memo<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn rank(
        &self,
        histories: &[Vec<u32>],
        k: usize,
        exclude: &[Vec<u32>],
    ) -> affinity::rank::Result<Vec<Vec<Scored>>> {
        let excluded = exclusions(histories, exclude)?;
        let mut lists = self.lists.borrow_mut();
        let missing: Vec<Vec<u32>> = histories
            .iter()
            .filter(|h| !lists.contains_key(*h))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let ranked = self.inner.rank(&missing, k + self.depth, &[])?;
            lists.extend(missing.into_iter().zip(ranked));
        }
        Ok(histories
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let drop = excluded(i);
                let list = &lists[h];
                assert!(
                    drop.len() <= self.depth,
                    "memo depth below the history length"
                );
                list.iter()
                    .filter(|s| !drop.contains(&s.item))
                    .take(k)
                    .copied()
                    .collect()
            })
            .collect())
    }
}

/// Prints each epoch's validation figures as the sequential model trains.
struct EpochLog(String);

impl Progress for EpochLog {
    fn note(&self, line: &str) {
        println!("  [{}] {line}", self.0);
    }
}

struct Args {
    prefix: PathBuf,
    out: PathBuf,
    sequential: SequentialParams,
    /// History lengths to choose from on the validation item.
    histories: Vec<usize>,
    bert_examples: usize,
    ablation: bool,
    /// Skip every row that runs BERT per history (zero-shot history text, fine-tuning, hybrid).
    quick: bool,
    /// A saved sequential model (text + ID) to rank with instead of training one.
    sequential_from: Option<PathBuf>,
}

/// How to run it (`--help`).
const USAGE: &str =
    "usage: cargo run --release --example scientific -- [DIR/Scientific] [--out DIR] \
[--bert-examples N] [--no-ablation] [--quick] [--epochs N] [--lr F] [--dropout F] \
[--temperature F] [--hidden N] [--patience N] [--max-history N,M,...] [--sequential-from DIR]";

fn args(root: &Path) -> anyhow::Result<Args> {
    let mut a = Args {
        prefix: root.join("../shared/datasets/amazon-scientific/Scientific"),
        out: root.join("out/scientific"),
        sequential: SequentialParams::default(),
        histories: vec![1, 2, 3, 5, 50],
        bert_examples: 0,
        ablation: true,
        quick: false,
        sequential_from: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
        };
        match arg.as_str() {
            "--out" => a.out = PathBuf::from(value("--out")?),
            "--epochs" => a.sequential.epochs = value("--epochs")?.parse()?,
            "--lr" => a.sequential.learning_rate = value("--lr")?.parse()?,
            "--dropout" => a.sequential.dropout = value("--dropout")?.parse()?,
            "--temperature" => a.sequential.temperature = value("--temperature")?.parse()?,
            "--hidden" => a.sequential.hidden = value("--hidden")?.parse()?,
            "--patience" => a.sequential.patience = value("--patience")?.parse()?,
            "--max-history" => {
                a.histories = value("--max-history")?
                    .split(',')
                    .map(|n| n.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--quick" => a.quick = true,
            "--sequential-from" => a.sequential_from = Some(value("--sequential-from")?.into()),
            "--bert-examples" => a.bert_examples = value("--bert-examples")?.parse()?,
            "--no-ablation" => a.ablation = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other if other.starts_with('-') => anyhow::bail!("unknown option {other}\n{USAGE}"),
            other => a.prefix = PathBuf::from(other),
        }
    }
    Ok(a)
}

/// Errors end the run with their message and exit code 2, not a debug dump with a backtrace.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args = args(&root)?;
    if !args.prefix.with_extension("text").is_file() {
        println!(
            "{} not found: nothing to do (the Scientific data is not shipped with the repository)",
            args.prefix.display()
        );
        return Ok(());
    }
    let started = Instant::now();
    let mut results = Results {
        dataset: args.prefix.display().to_string(),
        ..Results::default()
    };
    let mut clock = Instant::now();
    let mut phase = |results: &mut Results, name: &str| {
        results
            .phases
            .push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };

    let (dataset, _) = load(&args.prefix, &Format::UniSRec, &LoadOptions::default())?;
    println!(
        "{}: {} users, {} items, {} interactions",
        args.prefix.display(),
        dataset.users.len(),
        dataset.items.len(),
        dataset.interactions.len()
    );
    let pipeline = Pipeline::new(
        PipelineParams::builder()
            .k(K)
            .hold_out(HoldOut::LastItem)
            .min_support(0.0005)
            .min_confidence(0.02)
            .history_items(5)
            .build()?,
    )?;
    let prepared = pipeline.prepare(dataset);
    let rules = pipeline.mine_rules(&prepared)?;
    println!("{} rules", rules.len());
    phase(&mut results, "load, split, mine rules");

    let model_dir = std::env::var_os("AFFINITY_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/all-MiniLM-L6-v2"));
    let options = EncoderOptions {
        device: DeviceChoice::Auto,
        // bf16 where the hardware has it natively; emulated elsewhere, several times slower.
        precision: Precision::fastest(DeviceChoice::Auto.resolve()),
        batch_size: 128,
        max_len: Some(128),
        ..Default::default()
    };
    let zero = SentenceEncoder::from_dir(&model_dir, &options)?;
    let mut reference = pipeline.recommender_with(
        &prepared,
        Some(zero),
        rules.clone(),
        ScoreWeights::EMBEDDING,
        1.0,
    )?;
    // The test histories' vectors are encoded once, for the zero-shot row and the hybrid.
    reference.cache_history_vectors(50_000);
    let vectors = reference
        .item_vectors()
        .expect("a model gives vectors")
        .to_owned();
    phase(&mut results, "encode the items (zero-shot MiniLM)");

    let set = EvalSet::from_prepared(&prepared, EvalProtocol::AllItems);
    results.test_users = set.len();
    results.items = prepared.names.len();
    let view = Some(vectors.view());
    // Figures per (method, protocol), for the table and the comparisons.
    let mut scored: Vec<(MethodResult, &'static str)> = Vec::new();
    let run = |ranker: &dyn Ranker, scored: &mut Vec<(MethodResult, &'static str)>| {
        for (candidates, protocol) in PROTOCOLS {
            let r = evaluate_candidates(ranker, &set, K, view, candidates)?;
            print_row(&r, protocol);
            scored.push((r, protocol));
        }
        anyhow::Ok(())
    };
    for (candidates, protocol) in PROTOCOLS {
        for r in pipeline.evaluate_baselines(
            &prepared,
            &prepared.histories,
            rules.clone(),
            &set,
            view,
            candidates,
        )? {
            print_row(&r, protocol);
            scored.push((r, protocol));
        }
    }
    // Order matters on this data: what follows the last items, as a baseline of its own.
    let transitions = ItemTransitions::fit(
        &prepared.histories,
        prepared.names.len(),
        TransitionParams::default(),
    )?;
    run(&transitions, &mut scored)?;
    // Deep enough that excluding the longest history still leaves K items.
    let depth = set.histories.iter().map(Vec::len).max().unwrap_or(0);
    if !args.quick {
        let zero_shot = reference.blend("zero-shot MiniLM", ScoreWeights::EMBEDDING, 1.0);
        run(&Memo::new(&zero_shot, depth), &mut scored)?;
    }
    phase(&mut results, "baselines and zero-shot rows");

    // The sequential model over cached text vectors: the BERT pass is done once per item.
    let text = Tensor::from_slice(vectors.as_slice().expect("standard layout"))
        .view([vectors.nrows() as i64, vectors.ncols() as i64]);
    // Untrained, the model is the mean of the history's item vectors: zero-shot MiniLM
    // without a BERT pass per history.
    let untrained = SequentialRecommender::new(&text, SequentialParams::default())?;
    run(
        &Named {
            name: "zero-shot MiniLM (mean of item vectors)".into(),
            inner: &untrained,
        },
        &mut scored,
    )?;
    // Every trained sequential model, text + ID first: each is a source of the hybrid.
    let mut trained: Vec<(String, SequentialRecommender)> = Vec::new();
    let with_ids = "sequential (text + ID)".to_string();
    let max_history = if let Some(dir) = &args.sequential_from {
        let model = SequentialRecommender::load(dir)?;
        println!("{with_ids}: loaded from {} (not trained)", dir.display());
        let n = model.params().max_history;
        run(
            &Named {
                name: with_ids.clone(),
                inner: &model,
            },
            &mut scored,
        )?;
        trained.push((with_ids, model));
        n
    } else {
        // The history length is chosen on the validation item: one text + ID model per
        // candidate, the best kept (the test item is never looked at).
        let mut candidates: Vec<Trained> = Vec::new();
        for &n in &args.histories {
            let t = train(&text, &prepared.histories, &args.sequential, n, true)?;
            results.history_choice.push(HistoryChoice {
                max_history: n,
                pairs: t.pairs,
                validation_ndcg10: t.report.best().ndcg10,
                best_epoch: t.report.best_epoch,
                seconds: t.seconds,
            });
            candidates.push(t);
        }
        let best = (0..candidates.len())
            .max_by(|&a, &b| {
                let v = |i: usize| candidates[i].report.best().ndcg10;
                v(a).total_cmp(&v(b)).then(b.cmp(&a))
            })
            .ok_or_else(|| anyhow::anyhow!("--max-history needs at least one length"))?;
        let t = candidates.remove(best);
        let n = t.model.params().max_history;
        println!("history length chosen on the validation item: {n}");
        run(
            &Named {
                name: with_ids.clone(),
                inner: &t.model,
            },
            &mut scored,
        )?;
        t.model.save(&args.out.join("sequential"))?;
        results.training.push(t.training(&with_ids));
        phase(
            &mut results,
            "train sequential (text + ID) per history length, rank the chosen one",
        );
        trained.push((with_ids, t.model));
        // The lengths not chosen stay as sources of the hybrid (they were trained anyway).
        for other in candidates {
            let n = other.model.params().max_history;
            trained.push((format!("sequential (text + ID, history {n})"), other.model));
        }
        n
    };
    if args.ablation {
        let name = "sequential (text only)".to_string();
        let t = train(
            &text,
            &prepared.histories,
            &args.sequential,
            max_history,
            false,
        )?;
        run(
            &Named {
                name: name.clone(),
                inner: &t.model,
            },
            &mut scored,
        )?;
        results.training.push(t.training(&name));
        phase(&mut results, "train and rank sequential (text only)");
        trained.push((name, t.model));
    }

    // The hybrid: the sequential models with co-occurrence, transitions, rules and
    // popularity, weights chosen on the validation step. There the other sources are fitted
    // on the training events only (the validation item unseen); on the test step, on
    // everything before it.
    if !trained.is_empty() {
        let valid = pipeline.validation_step(&prepared);
        let valid_set = EvalSet::from_prepared(&valid, EvalProtocol::AllItems);
        let fitted_on = |p: &affinity::pipeline::Prepared, rules| {
            let n = p.names.len();
            anyhow::Ok((
                ItemCooccurrence::fit(&p.histories, n, CooccurrenceWeight::Cosine),
                ItemTransitions::fit(&p.histories, n, TransitionParams::default())?,
                pipeline.recommender_with(p, None, rules, ScoreWeights::RULES, 1.0)?,
                MostPopular::fit(&p.histories, n),
            ))
        };
        let on_valid = fitted_on(&valid, pipeline.mine_rules(&valid)?)?;
        let on_test = fitted_on(&prepared, rules.clone())?;
        let name = HYBRID;
        // Zero-shot MiniLM reading the history as text: a BERT pass per history (so not with
        // --quick), the same model on both steps (it is fitted on nothing).
        let history_text = Named {
            name: "zero-shot MiniLM (history text)".to_string(),
            inner: &reference,
        };
        let extra: Vec<&dyn Scorer> = if args.quick {
            Vec::new()
        } else {
            vec![&history_text]
        };
        println!(
            "hybrid: weights chosen on {} of {} validation users (sources fitted without their validation item)",
            valid_set.len().min(TUNE_USERS),
            valid_set.len()
        );
        for (candidates, protocol) in PROTOCOLS {
            let tuning = Fusion::new(name, sources(&trained, &extra, &on_valid))?
                .tune(&valid_set, K, candidates, TUNE_USERS)?;
            println!(
                "  {protocol}: validation NDCG@10 {:.4} (best single {:.4}); weights {}",
                tuning.validation_ndcg,
                tuning.single.iter().copied().fold(0.0, f64::max),
                tuning
                    .sources
                    .iter()
                    .zip(&tuning.weights)
                    .map(|(s, w)| format!("{s} {w}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let hybrid = Fusion::new(name, sources(&trained, &extra, &on_test))?
                .with_weights(&tuning.weights)?;
            let r = evaluate_candidates(&hybrid, &set, K, view, candidates)?;
            print_row(&r, protocol);
            scored.push((r, protocol));
            results.fusion.push(tuning);
        }
        phase(
            &mut results,
            "tune and rank the hybrid of the sequential models and baselines",
        );
    }

    if args.bert_examples > 0 && !args.quick {
        let task = pipeline.training_task(&prepared, Some(args.bert_examples), 1_000, 11);
        println!(
            "fine-tuning MiniLM (two towers, in-batch negatives) on {} pairs, {} validation queries",
            task.examples.len(),
            task.validation.len()
        );
        let params = TrainParams {
            epochs: 1,
            batch_size: 64,
            learning_rate: 1e-4,
            seed: 11,
            patience: Some(1),
            checkpoint_dir: Some(args.out.join("checkpoints")),
            ..TrainParams::default()
        };
        let mut tuned = SentenceEncoder::from_dir(&model_dir, &options)?;
        let t = Instant::now();
        let report = Trainer::new(params)?.fit(&mut tuned, &task)?.report;
        results.training.push(Training {
            method: "fine-tuned MiniLM".into(),
            pairs: task.examples.len(),
            best_epoch: report.best_epoch,
            epochs: report.epochs.clone(),
            seconds: t.elapsed().as_secs_f64(),
        });
        let mut fine = pipeline.recommender_with(
            &prepared,
            Some(tuned),
            rules,
            ScoreWeights::EMBEDDING,
            1.0,
        )?;
        let fine_alone = fine.blend("fine-tuned MiniLM", ScoreWeights::EMBEDDING, 1.0);
        run(&Memo::new(&fine_alone, depth), &mut scored)?;
        let v = pipeline
            .tune_ranking(&prepared, &mut fine, 2_000)?
            .validation_ndcg;
        let (w, lambda) = fine.ranking();
        println!(
            "hybrid chosen on validation (NDCG@10 {v:.4}): embedding {} rules {} popularity {} co-occurrence {} lambda {lambda}",
            w.embedding, w.rules, w.popularity, w.cooccurrence
        );
        run(
            &Named {
                name: "hybrid (fine-tuned+rules+MMR)".into(),
                inner: &fine,
            },
            &mut scored,
        )?;
        phase(&mut results, "fine-tune MiniLM, tune and rank the hybrid");
    }

    // Paired comparisons of the sequential model with the strongest baselines.
    let find = |name: &str, protocol: &str| {
        scored
            .iter()
            .find(|(r, p)| r.name == name && *p == protocol)
            .map(|(r, _)| r)
    };
    let pairs = [
        (HYBRID, "sequential (text + ID)"),
        (HYBRID, "item co-occurrence"),
        ("sequential (text + ID)", "item co-occurrence"),
        ("sequential (text + ID)", "item transitions"),
        ("sequential (text + ID)", "zero-shot MiniLM"),
        (
            "sequential (text + ID)",
            "zero-shot MiniLM (mean of item vectors)",
        ),
        ("sequential (text + ID)", "sequential (text only)"),
        ("sequential (text + ID)", "hybrid (fine-tuned+rules+MMR)"),
        ("fine-tuned MiniLM", "zero-shot MiniLM"),
    ];
    println!("\nNDCG@10 differences, 95 % paired bootstrap over users (2,000 resamples):");
    for (_, protocol) in PROTOCOLS {
        for (a, b) in pairs {
            let (Some(ra), Some(rb)) = (find(a, protocol), find(b, protocol)) else {
                continue;
            };
            let Some(d) = ra.ndcg_difference(rb) else {
                continue;
            };
            println!("  {protocol:<16} {a} - {b}: {d}");
            results.comparisons.push(Comparison {
                a: a.into(),
                b: b.into(),
                protocol,
                difference: d,
                verdict: d.verdict(),
            });
        }
    }

    for (_, protocol) in PROTOCOLS {
        println!("\n{protocol}:\n| method | Recall@10 | NDCG@10 | MRR |\n|---|---|---|---|");
        for (r, _) in scored.iter().filter(|(_, p)| *p == protocol) {
            println!(
                "| {} | {:.4} | {:.4} | {:.4} |",
                r.name, r.summary.recall, r.summary.ndcg, r.summary.mrr
            );
        }
    }
    results.rows = scored
        .iter()
        .map(|(r, protocol)| Row {
            method: r.name.clone(),
            protocol,
            ndcg10: r.summary.ndcg,
            recall10: r.summary.recall,
            mrr: r.summary.mrr,
            seconds: r.seconds,
        })
        .collect();
    results.total_seconds = started.elapsed().as_secs_f64();
    println!("\nwhere the time went:");
    for (name, s) in &results.phases {
        println!("  {s:>7.1} s  {name}");
    }
    println!(
        "({} test users; total {:.0} s)",
        results.test_users, results.total_seconds
    );
    write_results(&args.out.join("results.json"), &results)?;
    println!("figures in {}", args.out.join("results.json").display());
    Ok(())
}

/// A trained sequential model and how its training went.
struct Trained {
    model: SequentialRecommender,
    report: TrainReport,
    seconds: f64,
    pairs: usize,
}

impl Trained {
    fn training(&self, method: &str) -> Training {
        Training {
            method: method.into(),
            pairs: self.pairs,
            best_epoch: self.report.best_epoch,
            epochs: self.report.epochs.clone(),
            seconds: self.seconds,
        }
    }
}

/// Validation users the hybrid's weights are chosen on.
const TUNE_USERS: usize = 4_000;

/// Trains a sequential model on every training item of each user (windows of `max_history + 1`
/// items), with or without item IDs, early-stopped on the validation item.
fn train(
    text: &Tensor,
    histories: &[Vec<u32>],
    base: &SequentialParams,
    max_history: usize,
    item_ids: bool,
) -> anyhow::Result<Trained> {
    let split = SequenceSplit::windows(histories, max_history);
    let label = format!(
        "{}, history {max_history}",
        if item_ids { "text + ID" } else { "text only" }
    );
    println!(
        "sequential ({label}): {} training pairs in {} windows, {} validation items (never trained on)",
        split.pairs(),
        split.train.len(),
        split.validation.len()
    );
    let params = SequentialParams {
        item_ids,
        max_history,
        ..base.clone()
    };
    let t = Instant::now();
    let mut model = SequentialRecommender::new(text, params)?;
    let report = model.fit_observed(&split, &EpochLog(label.clone()))?;
    let seconds = t.elapsed().as_secs_f64();
    println!(
        "sequential ({label}): validation NDCG@10 {:.4} -> {:.4} (epoch {}) in {seconds:.0} s",
        report.epochs[0].ndcg10,
        report.best().ndcg10,
        report.best_epoch
    );
    Ok(Trained {
        model,
        report,
        seconds,
        pairs: split.pairs(),
    })
}

/// The hybrid's sources, in order: the sequential models, `extra` (fitted on nothing), then
/// those fitted on a split.
fn sources<'a>(
    models: &'a [(String, SequentialRecommender)],
    extra: &[&'a dyn Scorer],
    (cooc, transitions, rules, popular): &'a (
        ItemCooccurrence,
        ItemTransitions,
        Recommender,
        MostPopular,
    ),
) -> Vec<Box<dyn Scorer + 'a>> {
    let mut sources: Vec<Box<dyn Scorer + 'a>> = models
        .iter()
        .map(|(name, model)| {
            Box::new(Named {
                name: name.clone(),
                inner: model,
            }) as Box<dyn Scorer + 'a>
        })
        .collect();
    sources.extend(extra.iter().map(|s| Box::new(*s) as Box<dyn Scorer + 'a>));
    sources.extend([
        Box::new(cooc) as Box<dyn Scorer + 'a>,
        Box::new(transitions),
        Box::new(Named {
            name: "rules".into(),
            inner: rules,
        }),
        Box::new(popular),
    ]);
    sources
}

fn print_row(r: &MethodResult, protocol: &str) {
    println!(
        "  {:<34} {:<16} NDCG@10 {:.4}  Recall@10 {:.4}  MRR {:.4}",
        r.name, protocol, r.summary.ndcg, r.summary.recall, r.summary.mrr
    );
}

/// Through a temporary file, so a failed run never leaves half a results file.
fn write_results(path: &Path, results: &Results) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(results)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
