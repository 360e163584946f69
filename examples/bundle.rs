//! Fit once, keep the bundle, answer from it, fold in new events: the deployment side of the
//! method, on the shipped Groceries data. The last shopping date plays "today's events": the
//! bundle is fitted on every earlier day, saved, loaded, asked, then updated with the last day,
//! and the update is checked against fitting on all days at once.
//!
//! `cargo run --release --example bundle [-- [DATA.csv] [--out DIR]]`
//! `cargo run --release --example bundle -- --timings BUNDLE [--user ID]`: load an existing
//! bundle several times and print the load time and one answer's latency.

use std::path::{Path, PathBuf};
use std::time::Instant;

use affinity::bundle::{BundleLoadOptions, BundleSaveOptions};
use affinity::data::{load, Format, LoadOptions as DataOptions, LongCsv, TimeFormat};
use affinity::pipeline::{Pipeline, PipelineParams, Recommender};
use affinity::report::reasons_text;
use affinity::tune::{EncoderOptions, Precision, SentenceEncoder};

fn model_dir() -> PathBuf {
    std::env::var_os("AFFINITY_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
        })
}

/// `dd-mm-yyyy` as a sortable number.
fn day_key(date: &str) -> Option<u32> {
    let mut parts = date.trim().split('-').map(|p| p.parse::<u32>().ok());
    let (d, m, y) = (parts.next()??, parts.next()??, parts.next()??);
    Some(y * 10_000 + m * 100 + d)
}

/// Writes the rows before the last date, the rows of the last date, and both one after the
/// other (what a refit on all days reads), as three files.
fn split_last_day(data: &Path, out: &Path) -> anyhow::Result<(PathBuf, PathBuf, PathBuf, usize)> {
    let text = std::fs::read_to_string(data)?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let date_col = header
        .split(',')
        .position(|c| c.trim() == "Date")
        .ok_or_else(|| anyhow::anyhow!("{} has no Date column", data.display()))?;
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let key = |row: &str| row.split(',').nth(date_col).and_then(day_key);
    let last = rows.iter().filter_map(|r| key(r)).max().unwrap_or(0);
    let (mut old, mut new) = (String::from(header), String::from(header));
    old.push('\n');
    new.push('\n');
    let mut n_new = 0;
    for row in rows {
        if key(row) == Some(last) {
            new += row;
            new.push('\n');
            n_new += 1;
        } else {
            old += row;
            old.push('\n');
        }
    }
    let (a, b, ab) = (
        out.join("earlier-days.csv"),
        out.join("last-day.csv"),
        out.join("all-days.csv"),
    );
    std::fs::write(
        &ab,
        format!("{old}{}", new.split_once('\n').map_or("", |(_, rows)| rows)),
    )?;
    std::fs::write(&a, old)?;
    std::fs::write(&b, new)?;
    Ok((a, b, ab, n_new))
}

fn timings(bundle: &Path, user: Option<String>) -> anyhow::Result<()> {
    let mut loads = Vec::new();
    let mut recommender = None;
    for _ in 0..7 {
        let t = Instant::now();
        recommender = Some(Recommender::load(bundle, &BundleLoadOptions::default())?);
        loads.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let recommender = recommender.expect("loaded");
    loads.sort_by(f64::total_cmp);
    let user = user.unwrap_or_else(|| recommender.fitted().users.name(0).to_string());
    let t = Instant::now();
    let recs = recommender.recommend_user(&user, 10)?;
    let first = t.elapsed().as_secs_f64() * 1e3;
    let mut answers = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        recommender.recommend_user(&user, 10)?;
        answers.push(t.elapsed().as_secs_f64() * 1e3);
    }
    answers.sort_by(f64::total_cmp);
    println!(
        "{}: Recommender::load median {:.0} ms (min {:.0}, max {:.0}, 7 loads); first answer {:.1} ms, then median {:.1} ms ({} items for user {user})",
        bundle.display(),
        loads[3],
        loads[0],
        loads[6],
        first,
        answers[25],
        recs.len()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut data = root.join("data/groceries.csv");
    let mut out = root.join("out/bundle");
    let (mut bench, mut user) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--timings" => bench = args.next().map(PathBuf::from),
            "--user" => user = args.next(),
            other => data = PathBuf::from(other),
        }
    }
    if let Some(bundle) = bench {
        return timings(&bundle, user);
    }
    std::fs::create_dir_all(&out)?;
    let (earlier, last_day, all_days, n_new) = split_last_day(&data, &out)?;
    let format = Format::Long(LongCsv {
        time_format: TimeFormat::DayMonthYear,
        ..LongCsv::default()
    });
    let read = |path: &Path| load(path, &format, &DataOptions::default()).map(|(d, _)| d);
    let pipeline = Pipeline::new(PipelineParams::builder().k(10).build()?)?;
    // bf16 only where the hardware has it: elsewhere it is emulated, several times slower.
    let options = EncoderOptions {
        precision: Precision::fastest(affinity::tune::DeviceChoice::Auto.resolve()),
        ..EncoderOptions::default()
    };
    let encoder = || SentenceEncoder::from_dir(&model_dir(), &options);

    let t = Instant::now();
    let fitted = pipeline.fit(read(&earlier)?, Some(encoder()?), Some(500))?;
    let tuning = fitted.provenance().tuning.clone().expect("tuned");
    let (w, lambda) = fitted.ranking();
    println!(
        "fitted on every day but the last in {:.1} s: {} members, {} products, {} rules; weights chosen on validation (NDCG@10 {:.4}): embedding {} rules {} popularity {} co-occurrence {}, MMR lambda {lambda}",
        t.elapsed().as_secs_f64(),
        fitted.fitted().n_users(),
        fitted.len(),
        fitted.rules().len(),
        tuning.validation_ndcg,
        w.embedding,
        w.rules,
        w.popularity,
        w.cooccurrence
    );
    let bundle = out.join("groceries");
    let manifest = fitted.save(&bundle, &BundleSaveOptions::default())?;
    let bytes: u64 = manifest.files.values().map(|f| f.bytes).sum();
    println!("saved {} ({:.1} MB)", bundle.display(), bytes as f64 / 1e6);

    let t = Instant::now();
    let recommender = Recommender::load(&bundle, &BundleLoadOptions::default())?;
    println!("loaded in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    for user in ["1808", "2552"] {
        println!("member {user}:");
        for r in recommender.recommend_user(user, 3)? {
            println!(
                "  {:<22} {:.3}  {}",
                r.name,
                r.score,
                reasons_text(&r.reasons)
            );
        }
    }

    let t = Instant::now();
    let (updated, report) = recommender.update(&read(&last_day)?)?;
    println!(
        "the last day ({n_new} rows) folded in in {:.2} s: {} events added, {} new members, {} new products, {} products embedded, rules {} -> {}",
        t.elapsed().as_secs_f64(),
        report.events_added,
        report.new_users,
        report.new_items,
        report.items_embedded,
        report.rules.0,
        report.rules.1
    );
    updated.save(
        &out.join("groceries-updated"),
        &BundleSaveOptions::default(),
    )?;

    // The update against fitting on all days at once (same encoder, same weights).
    let mut refit = pipeline.fit(read(&all_days)?, Some(encoder()?), None)?;
    refit.set_ranking(w, lambda)?;
    let (a, b) = (updated.fitted(), refit.fitted());
    let same = a.items.names() == b.items.names()
        && a.users.names() == b.users.names()
        && a.events == b.events
        && a.counts == b.counts
        && a.cooccurrence.counts() == b.cooccurrence.counts()
        && a.rules == b.rules;
    let users: Vec<String> = a.users.names().to_vec();
    let mut differ = 0;
    for user in &users {
        let ids = |r: &Recommender| -> anyhow::Result<Vec<u32>> {
            Ok(r.recommend_user(user, 10)?.iter().map(|x| x.item).collect())
        };
        differ += usize::from(ids(&updated)? != ids(&refit)?);
    }
    println!(
        "update vs refit on all days: counts, co-occurrence and rules {}; {} of {} members' top 10 differ",
        if same { "identical" } else { "DIFFERENT" },
        differ,
        users.len()
    );
    anyhow::ensure!(same, "the update must equal the refit");
    Ok(())
}
