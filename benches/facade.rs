//! The facade on the shipped Groceries data (`data/groceries.csv`): one recommendation for a
//! known user from a fitted bundle (saved and loaded before timing, as `affinity recommend
//! --bundle` answers), and the evaluation of a small split (1,000 test users of the
//! leave-one-out split, ranked and scored). Rules + popularity always; with the `model`
//! feature also a bundle with a tiny random BERT over the MiniLM vocabulary (skipped with a
//! message when `models/all-MiniLM-L6-v2/vocab.txt` is absent), on the CPU with one libtorch
//! thread.
//!
//! `cargo bench -p affinity [--no-default-features]`; the whole set with baselines is
//! `scripts/bench.sh`. Whole-process and HTTP figures come from `benches/bundle_scientific.sh`
//! and `benches/serve_vs_fastapi.sh`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::path::{Path, PathBuf};

use affinity::bundle::{BundleLoadOptions, BundleSaveOptions};
use affinity::data::{load, Dataset, Format, LongCsv, TimeFormat};
use affinity::model::Encoder;
use affinity::pipeline::{evaluate, EvalProtocol, EvalSet, Pipeline, PipelineParams, Recommender};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A member of the Groceries data with a history of a few days.
const USER: &str = "1808";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn groceries() -> Dataset {
    let format = Format::Long(LongCsv {
        time_format: TimeFormat::DayMonthYear,
        ..LongCsv::default()
    });
    load(
        root().join("data/groceries.csv"),
        &format,
        &Default::default(),
    )
    .unwrap()
    .0
}

/// Fitted on every event, saved and loaded back: what a server holds.
fn bundle(
    pipeline: &Pipeline,
    dataset: Dataset,
    encoder: Option<Encoder>,
    dir: &Path,
) -> Recommender {
    let fitted = pipeline.fit(dataset, encoder, None).unwrap();
    fitted.save(dir, &BundleSaveOptions::default()).unwrap();
    #[allow(unused_mut)]
    let mut options = BundleLoadOptions::default();
    #[cfg(feature = "model")]
    {
        options.device = affinity::tune::DeviceChoice::Cpu;
    }
    Recommender::load(dir, &options).unwrap()
}

/// A tiny random BERT reading the MiniLM vocabulary (copied into `dir`), or `None` with a
/// message when the model directory is absent.
#[cfg(feature = "model")]
fn tiny_encoder(dir: &Path) -> Option<Encoder> {
    use affinity::tune::{BertConfig, DeviceChoice, EncoderOptions, SentenceEncoder};
    let vocab = root().join("models/all-MiniLM-L6-v2/vocab.txt");
    if !vocab.is_file() {
        eprintln!(
            "facade: {} not found, tiny-BERT benchmarks skipped (scripts/bootstrap.sh fetches it)",
            vocab.display()
        );
        return None;
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(&vocab, dir.join("vocab.txt")).unwrap();
    affinity::tune::tch::set_num_threads(1);
    affinity::tune::tch::manual_seed(0);
    let options = EncoderOptions {
        device: DeviceChoice::Cpu,
        ..EncoderOptions::default()
    };
    Some(SentenceEncoder::random(&BertConfig::tiny(30522), dir, &options).unwrap())
}

#[cfg(not(feature = "model"))]
fn tiny_encoder(_dir: &Path) -> Option<Encoder> {
    None
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let dataset = groceries();
    let pipeline = Pipeline::new(PipelineParams::default()).unwrap();
    let prepared = pipeline.prepare(dataset.clone());
    // The first 1,000 of the 2,792 test users: a small split, short with a language model too.
    let mut test = EvalSet::from_prepared(&prepared, EvalProtocol::NewItems);
    test.histories.truncate(1_000);
    test.relevant.truncate(1_000);

    let mut group = c.benchmark_group("facade");
    group.sample_size(10);
    // Each case: a name, and the encoders of the bundle and of the split's recommender (none:
    // rules and popularity only; else the same tiny model twice, as each takes its own).
    let mut cases: Vec<(&str, Option<Encoder>, Option<Encoder>)> =
        vec![("rules_popularity", None, None)];
    if let (Some(a), Some(b)) = (
        tiny_encoder(&dir.path().join("tiny-a")),
        tiny_encoder(&dir.path().join("tiny-b")),
    ) {
        cases.push(("tiny_bert", Some(a), Some(b)));
    }
    for (name, for_bundle, for_split) in cases {
        let served = bundle(
            &pipeline,
            dataset.clone(),
            for_bundle,
            &dir.path().join(name),
        );
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("recommend_user/{name}"), |b| {
            b.iter(|| served.recommend_user(USER, 10).unwrap())
        });

        // Fitted on the training and validation days; the test day is only scored.
        let rules = pipeline.mine_rules(&prepared).unwrap();
        let recommender = pipeline.recommender(&prepared, for_split, rules).unwrap();
        group.throughput(Throughput::Elements(test.len() as u64));
        group.bench_function(format!("evaluate_groceries_split/{name}"), |b| {
            b.iter(|| evaluate(&recommender, &test, 10, None).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // 10,000 bootstrap resamples, not 100,000: with 10 samples the intervals hardly move, and
    // the HTML report's densities over every resample then take seconds instead of most of
    // the run.
    config = Criterion::default().nresamples(10_000);
    targets = bench
}
criterion_main!(benches);
