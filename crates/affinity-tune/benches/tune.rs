//! Encoding and one contrastive training step (both towers, InfoNCE, backward, clipping,
//! AdamW: the step of `affinity bench train`) on a tiny random BERT, always, and on
//! all-MiniLM-L6-v2 when `$AFFINITY_MODEL_DIR` (else `models/all-MiniLM-L6-v2`) holds
//! `model.safetensors` (skipped with a message otherwise). Texts per second when encoding,
//! pairs per second when training.
//!
//! On the CPU, in fp32, with one libtorch thread: figures that do not depend on how many cores
//! a shared machine happens to lend, or on a GPU being present. The side-by-side comparison with
//! PyTorch (threads, bf16, GPU) is `benches/tune_vs_pytorch.py` at the workspace root.
//!
//! `cargo bench -p affinity-tune`; the whole set with baselines is `scripts/bench.sh`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::path::PathBuf;
use std::time::Duration;

use affinity_tune::bench::{encode_throughput, train_throughput};
use affinity_tune::{BertConfig, DeviceChoice, EncoderOptions, SentenceEncoder};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

// The tests' tiny vocabulary (special tokens, letters, a few product words): no download.
#[path = "../tests/common/mod.rs"]
mod common;
use common::{write_vocab, WORDS};

/// 64 shopping histories as the pipeline writes them: five product names, newest first.
fn histories() -> Vec<String> {
    (0..64)
        .map(|i| {
            (0..5)
                .map(|j| WORDS[(i * 7 + j * 5) % WORDS.len()])
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect()
}

fn options() -> EncoderOptions {
    EncoderOptions {
        device: DeviceChoice::Cpu,
        max_len: Some(64),
        ..EncoderOptions::default()
    }
}

/// Encoding of real texts (tokenizer included) and of random token ids of a fixed length (as
/// `affinity bench encode`), then training steps on random ids; `iter_custom` times the steps
/// alone, not the set-up of the optimizer and the batches.
fn encode_and_train(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    encoder: &SentenceEncoder,
    batch: usize,
    len: usize,
) {
    let texts = histories();
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("encode_64_histories", |b| {
        b.iter(|| encoder.embed(&texts).unwrap())
    });
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function(format!("encode_ids_b{batch}_l{len}"), |b| {
        b.iter_custom(|iters| {
            let t = encode_throughput(encoder, batch, len, iters as usize, 0).unwrap();
            Duration::from_secs_f64(t.seconds)
        })
    });
    group.bench_function(format!("train_step_b{batch}_l{len}"), |b| {
        b.iter_custom(|iters| {
            let t = train_throughput(encoder, batch, len, iters as usize, 0).unwrap();
            Duration::from_secs_f64(t.seconds)
        })
    });
}

fn bench(c: &mut Criterion) {
    tch::set_num_threads(1);
    tch::manual_seed(0);

    let dir = tempfile::tempdir().unwrap();
    let vocab = write_vocab(dir.path());
    let tiny = SentenceEncoder::random(&BertConfig::tiny(vocab), dir.path(), &options()).unwrap();
    let mut group = c.benchmark_group("tune_tiny");
    group.sample_size(10);
    encode_and_train(&mut group, &tiny, 16, 32);
    group.finish();

    let minilm = std::env::var_os("AFFINITY_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2")
        });
    if !minilm.join("model.safetensors").is_file() {
        eprintln!(
            "tune_minilm: {} not found, MiniLM benchmarks skipped (scripts/bootstrap.sh fetches it)",
            minilm.join("model.safetensors").display()
        );
        return;
    }
    let encoder = SentenceEncoder::from_dir(&minilm, &options()).unwrap();
    let mut group = c.benchmark_group("tune_minilm");
    group.sample_size(10);
    encode_and_train(&mut group, &encoder, 8, 32);
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
