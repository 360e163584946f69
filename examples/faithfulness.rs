//! Are the influence explanations faithful? On Amazon Scientific, for each of the first 1,000
//! users (leave-one-out split, fitted on training events: zero-shot MiniLM over the last 5
//! titles, rules and popularity, the README's settings), the top recommendation's most
//! influential history item (by [`Recommender::influence`]) and a random other one are each left
//! out of the history and the recommendation is scored again ([`Recommender::scores_of`], a
//! separate computation: one history at a time). Faithful means:
//! - the score falls by the amount stated (within 1e-4), for both items;
//! - leaving out the item named most important lowers it at least as much as leaving out the
//!   random one.
//!
//! `cargo run --release --example faithfulness -- [DIR/Scientific] [--users N]`. Without the
//! data (../shared/datasets/amazon-scientific) it says so and exits. Prints the figures and
//! fails (exit 1) if any user breaks either rule.

#[cfg(feature = "model")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run::main()
}

#[cfg(not(feature = "model"))]
fn main() {
    eprintln!("the faithfulness example needs the language model (the `model` feature)");
}

#[cfg(feature = "model")]
mod run {
    use std::path::PathBuf;
    use std::time::Instant;

    use affinity::data::{load, Format, HoldOut, LoadOptions};
    use affinity::pipeline::{Candidates, Pipeline, PipelineParams};
    use affinity::tune::{DeviceChoice, EncoderOptions, Precision, SentenceEncoder};

    /// Within this, a stated score and a recomputed one agree (f32 sums, batched encodings).
    const TOLERANCE: f32 = 1e-4;

    const USAGE: &str =
        "usage: cargo run --release --example faithfulness -- [DIR/Scientific] [--users N]";

    pub fn main() -> Result<(), Box<dyn std::error::Error>> {
        let mut args = std::env::args().skip(1);
        let mut prefix = PathBuf::from("../shared/datasets/amazon-scientific/Scientific");
        let mut users = 1_000usize;
        while let Some(a) = args.next() {
            match a.as_str() {
                "--help" | "-h" => {
                    println!("{USAGE}");
                    return Ok(());
                }
                "--users" => users = args.next().ok_or("--users N")?.parse()?,
                flag if flag.starts_with('-') => {
                    eprintln!("error: unknown option {flag}\n{USAGE}");
                    std::process::exit(2);
                }
                other => prefix = PathBuf::from(other),
            }
        }
        if !prefix.with_extension("test.inter").exists() {
            println!(
                "no Scientific data at {} (see ../shared/datasets); nothing measured",
                prefix.display()
            );
            return Ok(());
        }
        let started = Instant::now();
        let (dataset, _) = load(&prefix, &Format::UniSRec, &LoadOptions::default())?;
        let pipeline = Pipeline::new(
            PipelineParams::builder()
                .hold_out(HoldOut::LastItem)
                .history_items(5)
                .min_support(0.0005)
                .min_confidence(0.02)
                .build()?,
        )?;
        let prepared = pipeline.prepare(dataset);
        let rules = pipeline.mine_rules(&prepared)?;
        let model_dir = std::env::var_os("AFFINITY_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("models/all-MiniLM-L6-v2"));
        let options = EncoderOptions {
            device: DeviceChoice::Auto,
            precision: Precision::fastest(DeviceChoice::Auto.resolve()),
            batch_size: 128,
            max_len: Some(128),
            ..Default::default()
        };
        let encoder = SentenceEncoder::from_dir(&model_dir, &options)?;
        let rec = pipeline.recommender(&prepared, Some(encoder), rules)?;
        println!("fitted in {:.1} s", started.elapsed().as_secs_f64());

        let mode = Candidates::HistoryExcluded;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let (mut checked, mut broken, mut strictly) = (0usize, 0usize, 0usize);
        let (mut worst, mut drop_top, mut drop_random) = (0f32, 0f64, 0f64);
        let timing = Instant::now();
        for history in &prepared.histories {
            if checked == users {
                break;
            }
            let mut distinct = history.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() < 2 {
                continue;
            }
            let Some(top) = rec.recommend(history, 10)?.into_iter().next() else {
                continue;
            };
            let moved = rec.influence(history, None, mode, &[top.item])?.remove(0);
            // A random other item (xorshift: the same users and items every run).
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let most = &moved[0];
            let other = &moved[1 + (seed % (moved.len() as u64 - 1)) as usize];
            let again = |name: &str| -> Result<f32, Box<dyn std::error::Error>> {
                let gone = rec.item_id(name).ok_or("an unknown history item")?;
                let shorter: Vec<u32> = history.iter().copied().filter(|&i| i != gone).collect();
                Ok(rec.scores_of(&shorter, None, mode, &[top.item])?[0])
            };
            let (without_most, without_other) = (again(&most.item)?, again(&other.item)?);
            let error = (without_most - most.without)
                .abs()
                .max((without_other - other.without).abs())
                .max((top.score - most.without - most.delta).abs());
            worst = worst.max(error);
            let (fall_most, fall_other) = (top.score - without_most, top.score - without_other);
            let faithful = error <= TOLERANCE && fall_most + TOLERANCE >= fall_other;
            broken += usize::from(!faithful);
            strictly += usize::from(fall_most > fall_other + TOLERANCE);
            drop_top += f64::from(fall_most);
            drop_random += f64::from(fall_other);
            checked += 1;
        }
        let n = checked.max(1) as f64;
        println!("users checked                         {checked}");
        println!("mean score drop, most important item  {:.4}", drop_top / n);
        println!(
            "mean score drop, random other item    {:.4}",
            drop_random / n
        );
        println!(
            "most important drops strictly more    {:.1} % of users",
            100.0 * strictly as f64 / n
        );
        println!("largest |stated - recomputed|         {worst:.2e}");
        println!(
            "users breaking a rule                 {broken} ({:.1} s)",
            timing.elapsed().as_secs_f64()
        );
        if broken > 0 {
            return Err(format!("{broken} users' explanations are not faithful").into());
        }
        Ok(())
    }
}
