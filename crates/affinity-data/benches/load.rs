//! Parsing throughput of the loaders: a generated long CSV event log (40,000 rows), the
//! shipped Groceries file (`data/groceries.csv`, day-first dates), a generated basket CSV and a
//! generated FIMI file (20,000 transactions each). Each case is timed from the file on disk
//! (in the page cache) to the dataset, twice: in MiB/s and in rows/s (criterion 0.5 reports one
//! throughput per benchmark).
//!
//! `cargo bench -p affinity-data`; the whole set with baselines is `scripts/bench.sh`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use affinity_data::{load, Format, LoadOptions, LongCsv, TimeFormat};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Deterministic data without a rand dependency (the crate's own xorshift64).
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = affinity_data::synthetic::XorShift::new(seed);
    move || rng.next_u64()
}

/// An item id in 0..n with a skewed popularity, as in shop data.
fn skewed(next: &mut impl FnMut() -> u64, n: u64) -> u64 {
    let u = (next() % 1_000_000) as f64 / 1_000_000.0;
    (u * u * n as f64) as u64
}

/// An event log as shops export it: views, carts and purchases with ISO timestamps.
fn long_csv(rows: usize) -> String {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let mut out = String::from("user_id,product_id,timestamp,event_type,quantity,order_id\n");
    for _ in 0..rows {
        let user = next() % 20_000;
        let item = skewed(&mut next, 5_000);
        let day = 1 + next() % 28;
        let (h, m, s) = (next() % 24, next() % 60, next() % 60);
        let (event, order) = match next() % 10 {
            0..=5 => ("view", String::new()),
            6..=7 => ("cart", String::new()),
            _ => ("purchase", format!("o{}", next() % 50_000)),
        };
        let quantity = 1 + next() % 3;
        writeln!(
            out,
            "u{user},p{item},2024-03-{day:02}T{h:02}:{m:02}:{s:02}Z,{event},{quantity},{order}"
        )
        .unwrap();
    }
    out
}

/// One basket per line, product names separated by commas (some quoted, as exports write
/// names that contain a comma).
fn baskets(lines: usize) -> String {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let mut out = String::new();
    for _ in 0..lines {
        let len = 1 + (next() % 8) as usize;
        let names: Vec<String> = (0..len)
            .map(|_| match skewed(&mut next, 2_000) {
                i if i % 50 == 0 => format!("\"product {i}, large\""),
                i => format!("product {i}"),
            })
            .collect();
        out.push_str(&names.join(","));
        out.push('\n');
    }
    out
}

/// FIMI: item ids separated by spaces, the T10I4D100K shape (about 10 items per line).
fn fimi(lines: usize) -> String {
    let mut next = xorshift(0xd1b5_4a32_d192_ed03);
    let mut out = String::new();
    for _ in 0..lines {
        let len = 2 + (next() % 17) as usize;
        let items: Vec<String> = (0..len)
            .map(|_| skewed(&mut next, 1_000).to_string())
            .collect();
        out.push_str(&items.join(" "));
        out.push('\n');
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let groceries = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/groceries.csv");
    let day_first = LongCsv {
        time_format: TimeFormat::DayMonthYear,
        ..LongCsv::default()
    };
    let cases: Vec<(&str, PathBuf, Format)> = vec![
        (
            "long_csv",
            write(dir.path(), "events.csv", &long_csv(40_000)),
            Format::Long(LongCsv::default()),
        ),
        ("groceries_csv", groceries, Format::Long(day_first)),
        (
            "baskets",
            write(dir.path(), "baskets.csv", &baskets(20_000)),
            Format::Baskets,
        ),
        (
            "fimi",
            write(dir.path(), "t.dat", &fimi(20_000)),
            Format::Fimi,
        ),
    ];
    let options = LoadOptions::default();
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    for (name, path, format) in &cases {
        let bytes = std::fs::metadata(path).unwrap().len();
        // Rows as the loader counts them (header excluded); also checks the file loads.
        let rows = load(path, format, &options).unwrap().1.rows_read;
        for (unit, throughput) in [
            ("bytes", Throughput::Bytes(bytes)),
            ("rows", Throughput::Elements(rows)),
        ] {
            group.throughput(throughput);
            group.bench_function(BenchmarkId::new(*name, unit), |b| {
                b.iter(|| load(path, format, &options).unwrap())
            });
        }
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
