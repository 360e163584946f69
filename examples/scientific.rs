//! The Amazon Scientific benchmark with the published protocol: leave-one-out (each user's last
//! item is the test item, the one before validation), ranked against all 4,385 items, history
//! items excluded. Also measures the latency of one `recommend` call (history encoding
//! included) over the catalogue.
//!
//! `cargo run --release --example scientific -- [DIR/Scientific] [--epochs N] [--examples N]
//! [--lr F] [--out DIR]`; without the data (../shared/datasets/amazon-scientific) it says so and exits.

use std::path::PathBuf;
use std::time::Instant;

use affinity::data::{load, Format, HoldOut, LoadOptions};
use affinity::pipeline::{
    evaluate, EvalProtocol, EvalSet, MethodResult, Pipeline, PipelineConfig, ScoreWeights,
};
use affinity::ranker::{Named, Ranker};
use affinity::tune::{
    DeviceChoice, EncoderOptions, Precision, SentenceEncoder, TrainParams, Trainer,
};

const K: usize = 10;

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut prefix = root.join("../shared/datasets/amazon-scientific/Scientific");
    let (mut epochs, mut max_examples, mut out) = (1usize, 6_000usize, root.join("out/scientific"));
    let mut lr = 1e-4f64;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--epochs" => epochs = it.next().and_then(|v| v.parse().ok()).unwrap_or(epochs),
            "--lr" => lr = it.next().and_then(|v| v.parse().ok()).unwrap_or(lr),
            "--examples" => {
                max_examples = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(max_examples)
            }
            "--out" => out = it.next().map(PathBuf::from).unwrap_or(out),
            other => prefix = PathBuf::from(other),
        }
    }
    if !prefix.with_extension("text").is_file() {
        println!(
            "{} not found: nothing to do (the Scientific data is not shipped with the repository)",
            prefix.display()
        );
        return Ok(());
    }
    let started = Instant::now();
    let (dataset, _) = load(&prefix, &Format::UniSRec, &LoadOptions::default())?;
    println!(
        "{}: {} users, {} items, {} interactions",
        prefix.display(),
        dataset.users.len(),
        dataset.items.len(),
        dataset.interactions.len()
    );
    let pipeline = Pipeline::new(
        PipelineConfig::builder()
            .k(K)
            .hold_out(HoldOut::LastItem)
            .min_support(0.0005)
            .min_confidence(0.02)
            .history_items(5)
            .build()?,
    )?;
    let prepared = pipeline.prepare(dataset);
    let n = prepared.names.len();
    let rules = pipeline.mine_rules(&prepared)?;
    println!("{} rules", rules.len());
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
    let device = format!("{:?}", zero.device());
    let reference = pipeline.recommender_with(
        &prepared,
        Some(zero),
        rules.clone(),
        ScoreWeights::EMBEDDING,
        1.0,
    )?;
    let vectors = reference
        .item_vectors()
        .expect("a model gives vectors")
        .to_owned();
    let protocol = EvalProtocol::AllItems;
    let show = |r: &MethodResult| {
        println!(
            "  {:<30} NDCG@10 {:.4}  Recall@10 {:.4}  MRR {:.4}  ({:.1} s)",
            r.name, r.summary.ndcg, r.summary.recall, r.summary.mrr, r.seconds
        );
    };
    let set = EvalSet::from_prepared(&prepared, protocol);
    let vectors = Some(vectors.view());
    let mut results = pipeline.evaluate_baselines(
        &prepared,
        &prepared.histories,
        rules.clone(),
        &set,
        vectors,
    )?;
    results.iter().for_each(show);
    let mut run = |ranker: &dyn Ranker| -> anyhow::Result<()> {
        let r = evaluate(ranker, &set, K, vectors)?;
        show(&r);
        results.push(r);
        Ok(())
    };
    run(&reference.blend("zero-shot MiniLM", ScoreWeights::EMBEDDING, 1.0))?;

    let task = pipeline.training_task(&prepared, Some(max_examples), 1_000, 11);
    println!(
        "fine-tuning on {} pairs for {epochs} epoch(s), {} validation queries",
        task.examples.len(),
        task.validation.len()
    );
    let params = TrainParams {
        epochs,
        batch_size: 64,
        learning_rate: lr,
        seed: 11,
        patience: Some(1),
        checkpoint_dir: Some(out.join("checkpoints")),
        ..TrainParams::default()
    };
    let mut tuned = SentenceEncoder::from_dir(&model_dir, &options)?;
    let t = Instant::now();
    let report = Trainer::new(params)?.fit(&mut tuned, &task)?.report;
    let train_seconds = t.elapsed().as_secs_f64();
    println!(
        "validation NDCG@10 {:.4} -> {:.4} in {train_seconds:.0} s",
        report.epochs[0].ndcg10,
        report.best().ndcg10
    );
    let mut fine =
        pipeline.recommender_with(&prepared, Some(tuned), rules, ScoreWeights::EMBEDDING, 1.0)?;
    run(&fine.blend("fine-tuned MiniLM", ScoreWeights::EMBEDDING, 1.0))?;
    let v = pipeline
        .tune_ranking(&prepared, &mut fine, 2_000)?
        .validation_ndcg;
    let (w, lambda) = fine.ranking();
    println!("hybrid chosen on validation (NDCG@10 {v:.4}): embedding {} rules {} popularity {} lambda {lambda}", w.embedding, w.rules, w.popularity);
    run(&Named {
        name: "hybrid (fine-tuned+rules+MMR)".into(),
        inner: &fine,
    })?;

    // Latency of one call, history encoding included, single-threaded caller.
    let users: Vec<usize> = (0..prepared.histories.len())
        .filter(|&u| !prepared.histories[u].is_empty())
        .step_by(37)
        .take(300)
        .collect();
    let mut times = Vec::with_capacity(users.len());
    for (i, &u) in users.iter().enumerate() {
        let t = Instant::now();
        let recs = fine.recommend(&prepared.histories[u], K)?;
        if i >= 10 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        assert_eq!(recs.len(), K);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "recommend latency over {} items on {device}: p50 {:.1} ms, p99 {:.1} ms ({} calls)",
        n,
        pct(0.5),
        pct(0.99),
        times.len()
    );
    println!("\n| method | Recall@10 | NDCG@10 | MRR |\n|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {:.4} | {:.4} | {:.4} |",
            r.name, r.summary.recall, r.summary.ndcg, r.summary.mrr
        );
    }
    println!(
        "({} test users; total {:.0} s)",
        results[0].summary.users,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
