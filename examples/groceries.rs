//! The main job, end to end on the shipped Groceries data: baselines, rules, zero-shot and
//! fine-tuned MiniLM (full and LoRA), and the hybrid, evaluated on each member's last
//! shopping day; then the strongest rules, a few members' recommendations with reasons; then
//! the next basket with repeats included (personal top frequency, TIFU-KNN, the repeat model
//! and the hybrid re-tuned for mixed lists, each split into repeat and explore parts); and a
//! Markdown report with charts.
//!
//! `bash scripts/main.sh` runs it from a fresh clone. Options (after `--`):
//! `[DATA.csv] [--out DIR] [--quick] [--lora]` (`--lora` adds a LoRA fine-tuning row, about
//! as long again as full fine-tuning).

use std::path::PathBuf;
use std::time::Instant;

use affinity::data::{dataset_stats, load, Format, LoadOptions, LongCsv, TimeFormat};
use affinity::pipeline::{
    evaluate, evaluate_candidates, Candidates, EvalProtocol, EvalSet, MethodResult, Pipeline,
    PipelineParams, Prepared, Recommendation, Recommender, ScoreWeights,
};
use affinity::rank::MostPopular;
use affinity::ranker::{Named, Ranker};
use affinity::report::{
    mean_pairwise_cosine, reasons_text, Comparison, ExampleUser, NextBasket, Report, RuleRow,
    Spread, TrainingRun,
};
use affinity::tune::{
    DeviceChoice, EncoderOptions, LoraParams, Objective, Precision, SentenceEncoder, TrainParams,
    TrainReport, Trainer,
};

const K: usize = 10;

struct Args {
    data: PathBuf,
    out: PathBuf,
    quick: bool,
    lora: bool,
}

/// How to run it (`--help`).
const USAGE: &str =
    "usage: cargo run --release --example groceries -- [DATA.csv] [--out DIR] [--quick] [--lora]";

fn args() -> anyhow::Result<Args> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        data: root.join("data/groceries.csv"),
        out: root.join("out/groceries"),
        quick: false,
        lora: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => a.out = it.next().map(PathBuf::from).unwrap_or(a.out),
            "--quick" => a.quick = true,
            "--lora" => a.lora = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other if other.starts_with('-') => anyhow::bail!("unknown option {other}\n{USAGE}"),
            other => a.data = PathBuf::from(other),
        }
    }
    Ok(a)
}

fn model_dir() -> PathBuf {
    std::env::var_os("AFFINITY_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
        })
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
    let started = Instant::now();
    let args = args()?;
    let format = Format::Long(LongCsv {
        time_format: TimeFormat::DayMonthYear,
        ..LongCsv::default()
    });
    let (dataset, load_report) = load(&args.data, &format, &LoadOptions::default())?;
    let stats = dataset_stats(&dataset, &load_report, 5);
    println!(
        "{}: {} rows, {} duplicates dropped, {} members, {} products, {} baskets",
        args.data.display(),
        stats.rows_read,
        stats.duplicates_dropped,
        stats.users,
        stats.items,
        stats.baskets
    );

    // Each member's last shopping day is the test basket, the day before it validation.
    let pipeline = Pipeline::new(
        PipelineParams::builder()
            .k(K)
            .min_support(0.001)
            .min_confidence(0.05)
            .build()?,
    )?;
    let prepared = pipeline.prepare(dataset);
    println!(
        "split: {} train events, {} validation, {} test; {} fitting baskets",
        prepared.split.train.len(),
        prepared.split.valid.len(),
        prepared.split.test.len(),
        prepared.baskets.len()
    );

    let rules = pipeline.mine_rules(&prepared)?;
    println!(
        "{} rules (support >= 0.1 %, confidence >= 5 %, lift >= 1)",
        rules.len()
    );

    let options = EncoderOptions {
        device: DeviceChoice::Auto,
        // bf16 where the hardware has it natively; emulated elsewhere, several times slower.
        precision: Precision::fastest(DeviceChoice::Auto.resolve()),
        batch_size: 128,
        ..EncoderOptions::default()
    };
    let zero_shot = SentenceEncoder::from_dir(&model_dir(), &options)?;
    println!(
        "model: {} on {:?}",
        model_dir().display(),
        zero_shot.device()
    );
    // Diversity is measured in the zero-shot space for every method, so the figures compare.
    let reference = pipeline.recommender_with(
        &prepared,
        Some(zero_shot),
        vec![],
        ScoreWeights::EMBEDDING,
        1.0,
    )?;
    let vectors = reference
        .item_vectors()
        .expect("a model gives vectors")
        .to_owned();
    let mut spreads = vec![Spread {
        model: "zero-shot MiniLM".into(),
        mean_pairwise_cosine: mean_pairwise_cosine(vectors.view()),
    }];
    let vectors = Some(vectors.view());
    let set = EvalSet::from_prepared(&prepared, EvalProtocol::NewItems);
    let show = |r: &MethodResult| {
        println!(
            "  {:<28} NDCG@10 {:.4}  Recall@10 {:.4}  ({:.1} s)",
            r.name, r.summary.ndcg, r.summary.recall, r.seconds
        );
    };
    let mut results = pipeline.evaluate_baselines(
        &prepared,
        &prepared.baskets,
        rules.clone(),
        &set,
        vectors,
        Candidates::HistoryExcluded,
    )?;
    results.iter().for_each(show);
    let mut run = |ranker: &dyn Ranker| -> anyhow::Result<()> {
        let r = evaluate(ranker, &set, K, vectors)?;
        show(&r);
        results.push(r);
        Ok(())
    };
    // Popularity as the fine-tuned model's prior counts it: members who bought each product,
    // not events (the test scores products new to a member).
    let members: Vec<Vec<u32>> = prepared
        .histories
        .iter()
        .map(|h| {
            let mut items = h.clone();
            items.sort_unstable();
            items.dedup();
            items
        })
        .collect();
    run(&Named {
        name: "most popular (by members)".into(),
        inner: &MostPopular::fit(&members, prepared.names.len()),
    })?;
    run(&reference.blend("zero-shot MiniLM", ScoreWeights::EMBEDDING, 1.0))?;

    // Fine-tuning: (history, next product) pairs from the training days, validated on the
    // validation day, best epoch kept.
    let (max_examples, epochs) = if args.quick { (1_500, 1) } else { (6_000, 2) };
    // Trained on cosine x 5 + ln(1 + count): the popularity prior carries what every member
    // buys, so the cosine learns what a history adds to it; the uniformity term keeps the
    // product vectors spread (without it they gather in one direction: mean cosine 0.99).
    // Served as cosine + w x ln(1 + count), w chosen on the validation step.
    let mut task = pipeline.training_task(&prepared, Some(max_examples), 1_000, 7);
    task.objective = Objective::Contrastive { scale: 5.0 };
    println!(
        "fine-tuning on {} pairs, {} validation queries",
        task.examples.len(),
        task.validation.len()
    );
    let params = TrainParams {
        epochs,
        batch_size: 64,
        learning_rate: 1e-4,
        seed: 7,
        patience: Some(1),
        uniformity: 1.0,
        checkpoint_dir: Some(args.out.join("checkpoints/full")),
        ..TrainParams::default()
    };
    // Fine-tunes an encoder on the task (timed) and ranks with it, the rules kept for the hybrid.
    let fine_tune = |mut encoder: SentenceEncoder,
                     params: TrainParams|
     -> anyhow::Result<(Recommender, TrainReport, f64)> {
        let t = Instant::now();
        let report = Trainer::new(params)?.fit(&mut encoder, &task)?.report;
        let seconds = t.elapsed().as_secs_f64();
        let recommender = pipeline.recommender_with(
            &prepared,
            Some(encoder),
            rules.clone(),
            ScoreWeights::EMBEDDING,
            1.0,
        )?;
        Ok((recommender, report, seconds))
    };
    let full = SentenceEncoder::from_dir(&model_dir(), &options)?;
    let (fine, full_report, full_seconds) = fine_tune(full, params.clone())?;
    println!(
        "scored cosine + {} x ln(1 + members who bought it) (weight chosen on the validation step)",
        full_report.best().prior_weight
    );
    run(&fine.blend("fine-tuned MiniLM", ScoreWeights::EMBEDDING, 1.0))?;
    spreads.extend(spread("fine-tuned MiniLM", &fine));

    // The same model scored by its cosine alone: what the prior adds, and the space it keeps.
    let mut fine = fine;
    let prior = fine.ranking_settings().popularity_prior;
    fine.set_popularity_prior(0.0)?;
    run(&fine.blend(
        "fine-tuned MiniLM, cosine alone",
        ScoreWeights::EMBEDDING,
        1.0,
    ))?;
    fine.set_popularity_prior(prior)?;

    let mut trainings = vec![TrainingRun::new(
        "full fine-tuning",
        &full_report,
        full_seconds,
    )];
    if args.lora {
        let lora = LoraParams {
            rank: 16,
            alpha: 32.0,
            dropout: 0.05,
            target_modules: vec![
                "query".into(),
                "value".into(),
                "intermediate.dense".into(),
                "output.dense".into(),
            ],
        };
        let lora_encoder = SentenceEncoder::from_dir(
            &model_dir(),
            &EncoderOptions {
                lora: Some(lora),
                ..options.clone()
            },
        )?;
        let lora_params = TrainParams {
            learning_rate: 5e-4,
            checkpoint_dir: Some(args.out.join("checkpoints/lora")),
            ..params
        };
        let (lora_rec, lora_report, lora_seconds) = fine_tune(lora_encoder, lora_params)?;
        run(&lora_rec.blend("fine-tuned MiniLM, LoRA", ScoreWeights::EMBEDDING, 1.0))?;
        spreads.extend(spread("fine-tuned MiniLM, LoRA", &lora_rec));
        trainings.push(TrainingRun::new("LoRA", &lora_report, lora_seconds));
    }

    // The hybrid's weights and MMR lambda are chosen on the validation day, never the test day.
    let mut hybrid = fine;
    let valid_ndcg = pipeline
        .tune_ranking(&prepared, &mut hybrid, 2_000)?
        .validation_ndcg;
    let (w, lambda) = hybrid.ranking();
    println!(
        "hybrid chosen on validation (NDCG@10 {valid_ndcg:.4}): embedding {} + rules {} + popularity {} + co-occurrence {}, MMR lambda {lambda}",
        w.embedding, w.rules, w.popularity, w.cooccurrence
    );
    run(&Named {
        name: "hybrid (fine-tuned+rules+MMR)".into(),
        inner: &hybrid,
    })?;

    println!(
        "\n{:<30} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "method", "Recall@10", "NDCG@10", "MRR@10", "coverage", "diversity"
    );
    for r in &results {
        let s = &r.summary;
        println!(
            "{:<30} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
            r.name,
            s.recall,
            s.ndcg,
            s.mrr,
            s.coverage,
            s.diversity.unwrap_or(f64::NAN)
        );
    }
    println!(
        "({} test members with at least one new product)",
        results[0].summary.users
    );
    // Which differences are real: paired bootstrap over the same test members.
    let find = |name: &str| results.iter().find(|r| r.name == name);
    println!("\nNDCG@10 differences, 95 % paired bootstrap over members (2,000 resamples):");
    let comparisons = compare(
        &results,
        &[
            ("fine-tuned MiniLM", "most popular"),
            ("fine-tuned MiniLM", "most popular (by members)"),
            ("hybrid (fine-tuned+rules+MMR)", "most popular"),
            ("zero-shot MiniLM", "most popular"),
            ("fine-tuned MiniLM", "zero-shot MiniLM"),
            ("fine-tuned MiniLM", "fine-tuned MiniLM, cosine alone"),
            ("hybrid (fine-tuned+rules+MMR)", "item co-occurrence"),
            ("hybrid (fine-tuned+rules+MMR)", "fine-tuned MiniLM"),
        ],
    );
    // Non-inferiority: "not worse" needs a margin; ours is 1 % of most popular's NDCG@10,
    // and the interval's lower end must lie above minus that.
    if let (Some(model), Some(popular)) = (find("fine-tuned MiniLM"), find("most popular")) {
        if let Some(d) = model.ndcg_difference(popular) {
            let margin = 0.01 * popular.summary.ndcg;
            println!(
                "  non-inferiority (margin 1 % = {margin:.4}): fine-tuned MiniLM is {} most popular \
                 (interval's lower end {:+.4})",
                if d.low > -margin { "not worse than" } else { "NOT shown to be at least as good as" },
                d.low
            );
        }
    }
    println!("mean pairwise cosine of the product vectors (near 1: collapsed):");
    for s in &spreads {
        println!("  {:<28} {:.3}", s.model, s.mean_pairwise_cosine);
    }
    for t in &trainings {
        print_training(t);
    }

    let mut strongest: Vec<&affinity::mine::Rule> = hybrid
        .rules()
        .iter()
        .filter(|r| r.support >= 0.002)
        .collect();
    strongest.sort_by(|a, b| b.lift.total_cmp(&a.lift));
    let rule_rows: Vec<RuleRow> = strongest
        .iter()
        .take(10)
        .map(|r| RuleRow {
            antecedent: r
                .antecedent
                .iter()
                .map(|&i| prepared.names[i as usize].clone())
                .collect(),
            consequent: prepared.names[r.consequent[0] as usize].clone(),
            support: r.support,
            confidence: r.confidence,
            lift: r.lift,
        })
        .collect();
    println!("\nstrongest rules (support >= 0.2 %, by lift):");
    for r in &rule_rows {
        println!(
            "  {} -> {}  support {:.4} confidence {:.3} lift {:.2}",
            r.antecedent.join(" + "),
            r.consequent,
            r.support,
            r.confidence,
            r.lift
        );
    }

    println!("\na few members' recommendations (hybrid):");
    let mut examples = Vec::new();
    for u in (0..prepared.histories.len())
        .filter(|&u| prepared.histories[u].len() >= 4 && !prepared.test[u].is_empty())
        .take(3)
    {
        let history = &prepared.histories[u];
        let recs = hybrid.recommend(history, 5)?;
        let member = prepared.dataset.users.name(u as u32).to_string();
        let bought: Vec<String> = history
            .iter()
            .rev()
            .take(8)
            .map(|&i| prepared.names[i as usize].clone())
            .collect();
        let next: Vec<String> = prepared.test[u]
            .iter()
            .map(|&i| prepared.names[i as usize].clone())
            .collect();
        println!(
            "  member {member}: recently {}; actually bought next: {}",
            bought.join(", "),
            next.join(", ")
        );
        print_recommendations(&recs);
        examples.push(ExampleUser {
            user: member,
            history: bought,
            next,
            recommendations: recs,
        });
    }

    let next_basket = next_basket(&pipeline, &prepared, hybrid, vectors)?;

    let report = Report {
        title: "affinity on Groceries".into(),
        data: format!(
            "{} members, {} products, {} baskets; last shopping day held out ({} test members)",
            stats.users, stats.items, stats.baskets, results[0].summary.users
        ),
        results: results.clone(),
        comparisons,
        spreads,
        training: trainings,
        rules: rule_rows,
        examples,
        next_basket: Some(next_basket),
        seconds: started.elapsed().as_secs_f64(),
    };
    let written = report.write(&args.out)?;
    println!(
        "\nreport: {} (charts alongside); total {:.0} s",
        written.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The next basket as a grocery shop sees it: every product of the member's last day relevant,
/// repeats too, and lists that may hold what they bought before (`--mode mixed`). The
/// next-basket baselines (personal top frequency, TIFU-KNN tuned on validation), the repeat
/// model alone, and the hybrid re-tuned for this mode (the fine-tuned model among its
/// sources), each split into its repeat and explore parts.
fn next_basket(
    pipeline: &Pipeline,
    prepared: &Prepared,
    mut hybrid: Recommender,
    vectors: Option<ndarray::ArrayView2<f32>>,
) -> anyhow::Result<NextBasket> {
    let mixed = Pipeline::new(PipelineParams {
        candidates: Candidates::AllItems,
        ..pipeline.params().clone()
    })?;
    let set = EvalSet::from_prepared(prepared, EvalProtocol::AllItems);
    let mut results = mixed.evaluate_baselines(
        prepared,
        &prepared.baskets,
        hybrid.rules().to_vec(),
        &set,
        vectors,
        Candidates::AllItems,
    )?;
    let (rows, tifu) = mixed.evaluate_next_basket_baselines(prepared, &set, vectors, 2_000)?;
    println!("\nnext basket, repeats included: TIFU-KNN chosen on validation: {tifu}");
    results.extend(rows);
    let run =
        |ranker: &dyn Ranker| evaluate_candidates(ranker, &set, K, vectors, Candidates::AllItems);
    results.push(run(&hybrid.blend(
        "repeat (buy again)",
        ScoreWeights::REPEAT,
        1.0,
    ))?);
    let tuning = mixed.tune_ranking(prepared, &mut hybrid, 2_000)?;
    let name = format!("hybrid, mixed ({})", hybrid.sources().join("+"));
    let (weights, lambda) = hybrid.ranking();
    println!(
        "{name} chosen on validation (NDCG@10 {:.4}): {weights}, MMR lambda {lambda}",
        tuning.validation_ndcg
    );
    results.push(run(&Named {
        name: name.clone(),
        inner: &hybrid,
    })?);
    println!(
        "\n{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "method",
        "Recall@10",
        "NDCG@10",
        "rep R@10",
        "rep N@10",
        "exp R@10",
        "exp N@10",
        "% repeat"
    );
    for r in &results {
        let (s, x) = (&r.summary, &r.repeat_explore);
        println!(
            "{:<34} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>7.1}%",
            r.name,
            s.recall,
            s.ndcg,
            x.repeat_recall,
            x.repeat_ndcg,
            x.explore_recall,
            x.explore_ndcg,
            100.0 * x.list_repeat_share
        );
    }
    let split = &results[0].repeat_explore;
    println!(
        "({} test members; {:.1} % of what they bought next they had bought before)",
        results[0].summary.users,
        100.0 * split.truth_repeat_share
    );
    println!("NDCG@10 differences, 95 % paired bootstrap over members (2,000 resamples):");
    let pairs: Vec<(&str, &str)> = [
        "most popular",
        "TIFU-KNN (tuned)",
        "personal top frequency",
        "repeat (buy again)",
    ]
    .map(|b| (name.as_str(), b))
    .to_vec();
    let comparisons = compare(&results, &pairs);
    // One member who shops often: what comes back, and why.
    let mut examples = Vec::new();
    if let Some(u) = (0..prepared.histories.len())
        .filter(|&u| !prepared.test[u].is_empty())
        .max_by_key(|&u| prepared.shoppers[u].baskets.len())
    {
        let shopper = &prepared.shoppers[u];
        let history = &prepared.histories[u];
        let recs = hybrid.recommend_for(history, Some(shopper), Candidates::AllItems, &[], 5)?;
        let member = prepared.dataset.users.name(u as u32).to_string();
        let names = |items: &[u32]| -> Vec<String> {
            items
                .iter()
                .map(|&i| prepared.names[i as usize].clone())
                .collect()
        };
        let bought = names(&history.iter().rev().take(8).copied().collect::<Vec<_>>());
        let next = names(&prepared.test[u]);
        println!(
            "member {member} ({} shopping days before): actually bought next: {}",
            shopper.baskets.len(),
            next.join(", ")
        );
        print_recommendations(&recs);
        examples.push(ExampleUser {
            user: member,
            history: bought,
            next,
            recommendations: recs,
        });
    }
    Ok(NextBasket {
        data: format!(
            "Each member's last shopping day held out whole, every product of it relevant \
             (repeats too); lists may hold what the member bought before (mode mixed). \
             Recall@10 = hits / size of the basket (or of its repeat or explore part). {} test \
             members; {:.1} % of the held-out products had been bought before by the member.",
            results[0].summary.users,
            100.0 * split.truth_repeat_share
        ),
        results,
        comparisons,
        examples,
    })
}

/// Paired NDCG@10 differences of the named rows (where both are in `results`), printed.
/// One line per recommendation: the product, its score and why.
fn print_recommendations(recs: &[Recommendation]) {
    for r in recs {
        println!(
            "    {:<24} {:.3}  {}",
            r.name,
            r.score,
            reasons_text(&r.reasons)
        );
    }
}

fn compare(results: &[MethodResult], pairs: &[(&str, &str)]) -> Vec<Comparison> {
    let find = |name: &str| results.iter().find(|r| r.name == name);
    let mut comparisons = Vec::new();
    for &(a, b) in pairs {
        let (Some(ra), Some(rb)) = (find(a), find(b)) else {
            continue;
        };
        if let Some(d) = ra.ndcg_difference(rb) {
            println!("  {a} - {b}: {d}");
            comparisons.push(Comparison {
                a: a.into(),
                b: b.into(),
                difference: d,
            });
        }
    }
    comparisons
}

/// The mean pairwise cosine of `r`'s product vectors, where it has a model.
fn spread(model: &str, r: &Recommender) -> Option<Spread> {
    r.item_vectors().map(|v| Spread {
        model: model.into(),
        mean_pairwise_cosine: mean_pairwise_cosine(v),
    })
}

fn print_training(t: &TrainingRun) {
    println!(
        "{}: validation NDCG@10 {:.4} -> {:.4} (epoch {}), {} steps, {:.0} s",
        t.name,
        t.ndcg_before,
        t.ndcg_best,
        t.best_epoch,
        t.step_losses.len(),
        t.seconds
    );
}
