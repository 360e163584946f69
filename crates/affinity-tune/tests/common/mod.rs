//! A tiny vocabulary and synthetic tasks for fast tests with random weights.
#![allow(dead_code)]

use std::path::Path;

use affinity_tune::*;

pub const WORDS: [&str; 24] = [
    "apple", "banana", "cherry", "grape", "lemon", "mango", "melon", "peach", "pear", "plum",
    "milk", "bread", "butter", "cheese", "yogurt", "cream", "soda", "water", "juice", "coffee",
    "tea", "sugar", "salt", "rice",
];

/// Writes a WordPiece vocabulary with the special tokens, letters and `WORDS`; its size.
pub fn write_vocab(dir: &Path) -> i64 {
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ";", ","]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for c in 'a'..='z' {
        vocab.push(c.to_string());
        vocab.push(format!("##{c}"));
    }
    vocab.extend(WORDS.iter().map(|w| w.to_string()));
    std::fs::write(dir.join("vocab.txt"), vocab.join("\n") + "\n").unwrap();
    vocab.len() as i64
}

pub fn tiny_encoder(dir: &Path, seed: i64, lora: Option<LoraParams>) -> SentenceEncoder {
    write_vocab(dir);
    tch::manual_seed(seed);
    let options = EncoderOptions {
        device: DeviceChoice::Cpu,
        batch_size: 16,
        max_len: Some(32),
        lora,
        ..Default::default()
    };
    SentenceEncoder::random(
        &BertConfig::tiny(7 + 52 + WORDS.len() as i64),
        dir,
        &options,
    )
    .unwrap()
}

/// libtorch's random generator is global to the process: tests that rely on seeds take turns.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Query "noise; w_i" should find target w_{i+1}: no lexical overlap, so an untrained model
/// cannot guess it, but training learns it.
pub fn matching_task() -> TrainingTask {
    let targets: Vec<String> = WORDS[..12].iter().map(|w| w.to_string()).collect();
    let next = |t: usize| ((t + 1) % 12) as u32;
    let mut examples = Vec::new();
    for (t, w) in WORDS[..12].iter().enumerate() {
        for noise in &WORDS[12..20] {
            examples.push(Example {
                text: format!("{noise}; {w}"),
                target: next(t),
                negative: None,
                shopper: None,
            });
        }
    }
    let validation = WORDS[..12]
        .iter()
        .enumerate()
        .map(|(t, w)| ValidationQuery {
            text: format!("{}; {w}", WORDS[20 + t % 4]),
            target: next(t),
            exclude: vec![t as u32],
        })
        .collect();
    TrainingTask {
        objective: Objective::Contrastive { scale: 20.0 },
        examples,
        validation,
        targets,
        full_catalog: false,
        prior: None,
    }
}

pub fn quick_params() -> TrainParams {
    TrainParams {
        epochs: 3,
        batch_size: 16,
        learning_rate: 3e-3,
        warmup_ratio: 0.1,
        patience: None,
        seed: 5,
        ..TrainParams::default()
    }
}

pub fn weights_of(encoder: &SentenceEncoder) -> Vec<(String, Vec<f32>)> {
    encoder
        .hf_weights()
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()))
        .collect()
}
