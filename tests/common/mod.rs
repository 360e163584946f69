//! Helpers shared by the facade's integration tests: the binary run as a user would, and a
//! tiny random BERT with the real MiniLM vocabulary.
#![allow(dead_code)]

use std::path::Path;
use std::process::Output;

#[cfg(feature = "model")]
use affinity::tune::{BertConfig, DeviceChoice, EncoderOptions, SentenceEncoder};

/// A JSON file the run wrote, parsed.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The standard error of a run that failed cleanly: exit code 2, no panic.
pub fn failed(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Runs the `affinity` binary in the repository root.
#[cfg(feature = "cli")]
pub fn affinity(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_affinity"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// Starts the `affinity` binary with `args` (standard error discarded) and reads the address
/// its first line announces after `prefix` (`listening on `, `explore the bundle at `), without
/// a trailing slash.
#[cfg(feature = "cli")]
pub fn announced(args: &[&str], prefix: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_affinity"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    (child, url)
}

/// Writes a long CSV of shoppers `users` over `days` with titles: even users buy fruit, odd
/// users dairy (two products a day from the first `kinds` of ten, new ones each day), and every
/// third user-day bread with butter.
pub fn shop_events(
    path: &Path,
    users: std::ops::Range<usize>,
    days: std::ops::Range<usize>,
    kinds: usize,
) {
    let fruit = [
        "apple", "banana", "cherry", "grape", "pear", "plum", "kiwi", "mango", "lime", "fig",
    ];
    let dairy = [
        "milk", "quark", "cheese", "yogurt", "cream", "kefir", "ghee", "curd", "whey", "skyr",
    ];
    let mut csv = String::from("user,item,timestamp,title\n");
    for u in users {
        let items = if u % 2 == 0 { fruit } else { dairy };
        for day in days.clone() {
            for k in 0..2 {
                let item = items[(u + day * 2 + k) % kinds];
                csv += &format!("u{u},{item},{},fresh {item}\n", 86_400 * (day + 1));
            }
            if (u + day) % 3 == 0 {
                csv += &format!("u{u},bread,{},white bread\n", 86_400 * (day + 1));
                csv += &format!("u{u},butter,{},salted butter\n", 86_400 * (day + 1));
            }
        }
    }
    std::fs::write(path, csv).unwrap();
}

/// Standard output of a run that must succeed (its standard error otherwise).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[cfg(feature = "model")]
/// A tiny random BERT (seed 0, CPU) reading the MiniLM vocabulary copied into `dir`.
pub fn tiny_encoder(dir: &Path, max_len: Option<usize>) -> SentenceEncoder {
    let minilm = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(minilm.join("vocab.txt"), dir.join("vocab.txt"))
        .expect("run scripts/bootstrap.sh first");
    affinity::tune::tch::manual_seed(0);
    let options = EncoderOptions {
        device: DeviceChoice::Cpu,
        max_len,
        ..Default::default()
    };
    SentenceEncoder::random(&BertConfig::tiny(30522), dir, &options).unwrap()
}

#[cfg(feature = "model")]
/// The tiny random BERT saved in `dir` as a Hugging Face directory.
pub fn tiny_model(dir: &Path) {
    tiny_encoder(dir, Some(64)).save_pretrained(dir).unwrap();
}
