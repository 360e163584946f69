//! A model directory as a user or a download hands it over: `config.json`, `vocab.txt` and
//! `model.safetensors`. The input's first two little-endian u16s are the lengths of the config
//! and the vocabulary; the rest is the weights file. Loading must give an encoder or an error,
//! never a panic or an abort, and never allocate what the files do not hold.
#![no_main]

use affinity_fuzz::Bytes;
use affinity_tune::{DeviceChoice, EncoderOptions, SentenceEncoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes::new(data);
    let config_len = usize::from(bytes.u16());
    let vocab_len = usize::from(bytes.u16());
    let rest = bytes.rest();
    let config = &rest[..config_len.min(rest.len())];
    let rest = &rest[config.len()..];
    let vocab = &rest[..vocab_len.min(rest.len())];
    let weights = &rest[vocab.len()..];
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, content) in [
        ("config.json", config),
        ("vocab.txt", vocab),
        ("model.safetensors", weights),
    ] {
        std::fs::write(dir.path().join(name), content).expect("a file in the temporary directory");
    }
    let options = EncoderOptions {
        device: DeviceChoice::Cpu,
        max_len: Some(16),
        ..EncoderOptions::default()
    };
    if let Ok(encoder) = SentenceEncoder::from_dir(dir.path(), &options) {
        // What loaded must also encode.
        let _ = encoder.embed(&["a b", ""]);
    }
});
