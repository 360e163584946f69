//! `affinity fit` and `affinity update`: fitted bundles on disk.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};

use affinity::bundle::{BundleSaveOptions, SourceEntry, VectorType};
use affinity::data::{BasketRule, HoldOut};
use affinity::pipeline::{Candidates, ContinualParams, FitParams, Pipeline, Recommender};

use super::model_args::{RunArgs, SequentialArgs};
use super::recommend::RankArgs;
use affinity_cli::input::{FormatArg, InputArgs, ReadArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
// The variants are the values users type: last-item, last-time, last-basket.
#[allow(clippy::enum_variant_names)]
pub enum HoldOutArg {
    /// Each user's last event.
    LastItem,
    /// Each user's last time step (their last basket in day-stamped data).
    LastTime,
    /// Each user's last order where the data names orders, else their last time step: the
    /// whole next basket (the next-basket protocol).
    LastBasket,
}

impl From<HoldOutArg> for HoldOut {
    fn from(h: HoldOutArg) -> HoldOut {
        match h {
            HoldOutArg::LastItem => HoldOut::LastItem,
            HoldOutArg::LastTime => HoldOut::LastTimestamp,
            HoldOutArg::LastBasket => HoldOut::LastBasket,
        }
    }
}

/// The hold-out asked for, else the one the mode implies: the whole last basket where lists
/// may repeat what was bought (the next-basket protocol), the last item in discover mode.
pub fn hold_out_for(asked: Option<HoldOutArg>, candidates: Candidates) -> HoldOut {
    match (asked, candidates) {
        (Some(h), _) => h.into(),
        (None, Candidates::HistoryExcluded) => HoldOut::LastItem,
        (None, _) => HoldOut::LastBasket,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BasketArg {
    /// By order id where the data has one, else by user and day.
    OrderOrUserDay,
    /// By user and calendar day.
    UserDay,
    /// All of a user's events form one basket.
    User,
}

impl From<BasketArg> for BasketRule {
    fn from(b: BasketArg) -> BasketRule {
        match b {
            BasketArg::OrderOrUserDay => BasketRule::OrderOrUserDay,
            BasketArg::UserDay => BasketRule::UserDay,
            BasketArg::User => BasketRule::User,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VectorArg {
    /// 4 bytes a value.
    F32,
    /// 2 bytes a value (half the size; rankings may differ at near-ties).
    Bf16,
}

/// Loads a bundle with the device and precision options of `run` (`--model` does not apply:
/// the bundle carries its encoder).
pub fn load_bundle(dir: &Path, run: &RunArgs) -> anyhow::Result<Recommender> {
    Recommender::load(dir, &run.bundle_options()?)
        .with_context(|| format!("cannot load the bundle {}", dir.display()))
}

/// `affinity fit`.
#[derive(Debug, clap::Args)]
pub struct FitArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    /// The bundle directory to write (replaced only once the new one is complete).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Choose the blend weights and MMR lambda on each user's validation step first (then fit
    /// on all events with them).
    #[arg(long)]
    pub tune: bool,
    /// Validation users scored by --tune.
    #[arg(long, default_value_t = 2000)]
    pub tune_users: usize,
    /// With --tune: an exposure bound. The best validation NDCG among settings whose
    /// validation lists have a Gini index of at most this (the calibration chosen too; see
    /// docs/exposure.md).
    #[arg(long, requires = "tune")]
    pub max_gini: Option<f64>,
    /// What --tune holds out per user [default: last-basket in mixed and buy-again modes, else
    /// last-item].
    #[arg(long, value_enum)]
    pub hold_out: Option<HoldOutArg>,
    /// How events form baskets for rules and co-occurrence.
    #[arg(long, value_enum, default_value = "order-or-user-day")]
    pub baskets: BasketArg,
    /// No language model: rules, co-occurrence and popularity only.
    #[arg(long, conflicts_with = "model", conflicts_with = "sequential")]
    pub no_model: bool,
    /// Number format of the stored item vectors.
    #[arg(long, value_enum, default_value = "f32")]
    pub vectors: VectorArg,
    /// With a LoRA model: store the merged model instead of adapters + a pinned base.
    #[arg(long)]
    pub merge_lora: bool,
    /// Encode every user's history now and store the vectors, so that recommendations by user
    /// id (CLI and server) run no language model.
    #[arg(long, conflicts_with = "no_model")]
    pub user_vectors: bool,
    #[command(flatten)]
    pub tower: SequentialArgs,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

fn save_options(vectors: VectorArg, merge_lora: bool) -> BundleSaveOptions {
    BundleSaveOptions {
        vectors: match vectors {
            VectorArg::F32 => VectorType::F32,
            VectorArg::Bf16 => VectorType::Bf16,
        },
        merge_lora,
    }
}

fn bundle_bytes(manifest: &affinity::bundle::Manifest) -> u64 {
    manifest.files.values().map(|f| f.bytes).sum()
}

pub fn fit(args: FitArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (dataset, _) = args.input.load()?;
    let candidates = args.rank.candidates(&dataset);
    let mut config = args.rank.config(
        &args.input.read,
        hold_out_for(args.hold_out, candidates),
        candidates,
    )?;
    config.basket_rule = args.baskets.into();
    config.max_gini = args.max_gini;
    if args.no_model {
        config.weights = affinity::pipeline::ScoreWeights {
            embedding: 0.0,
            ..config.weights
        };
    }
    let pipeline = Pipeline::new(config)?.with_progress(super::bars());
    let events = dataset.interactions.len();
    let encoder = if args.no_model {
        None
    } else {
        Some(args.run.load()?)
    };
    #[cfg_attr(not(feature = "model"), allow(unused_variables))]
    let sequential = args.tower.params()?;
    let options = FitParams {
        tune_users: args.tune.then_some(args.tune_users),
        #[cfg(feature = "model")]
        sequential,
    };
    let mut recommender = pipeline.fit_with(dataset, encoder, &options)?;
    if args.user_vectors {
        recommender.cache_user_vectors()?;
    }
    let mut provenance = recommender.provenance().clone();
    let mut source =
        SourceEntry::describe("fit", &args.input.source_file(&args.input.input), events)?;
    source.read = Some(read_record(&args.input.read)?);
    provenance.sources.push(source);
    recommender.set_provenance(provenance);
    let manifest = recommender.save(&args.out, &save_options(args.vectors, args.merge_lora))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
        return Ok(());
    }
    let c = &manifest.counts;
    println!(
        "bundle {}: {} users, {} items, {} events, {} baskets, {} rules, {:.1} MB, {:.1} s",
        args.out.display(),
        c.users,
        c.items,
        c.events,
        c.baskets,
        c.rules,
        bundle_bytes(&manifest) as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if let Some(s) = &manifest.sequential {
        println!("{}", s.summary);
    }
    let (w, lambda) = (&manifest.ranking.weights, manifest.ranking.mmr_lambda);
    let mode = manifest.ranking.candidates.name();
    let reranking = super::evaluate::reranking(manifest.ranking.calibration, lambda);
    match &manifest.tuning {
        Some(t) => {
            println!(
                "ranking chosen on validation ({} users, NDCG@{} {:.4}{}): {w}, {reranking}; mode {mode}",
                t.users,
                t.k,
                t.validation_ndcg,
                super::evaluate::gini_note(t),
            );
            super::evaluate::warn_unmet_bound(t);
        }
        None => println!("ranking: {w}, {reranking}; mode {mode}"),
    }
    Ok(())
}

/// `affinity update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The bundle to update (left as it is).
    #[arg(long, short)]
    pub bundle: PathBuf,
    /// New events (users and items by name; new ones are added).
    #[arg(long)]
    pub events: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Where the updated bundle goes (may be --bundle itself: replaced once complete).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Number format of the stored item vectors [default: the bundle's].
    #[arg(long, value_enum)]
    pub vectors: Option<VectorArg>,
    /// Then fine-tune the encoder for this many steps on the new events with replayed old ones
    /// (0: keep the encoder; only new items are embedded).
    #[arg(long, default_value_t = 0)]
    pub fine_tune_steps: usize,
    /// Fine-tuning learning rate.
    #[arg(long, default_value_t = 2e-5)]
    pub lr: f64,
    /// Old pairs replayed per new pair while fine-tuning.
    #[arg(long, default_value_t = 1.0)]
    pub replay: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn update(args: UpdateArgs) -> anyhow::Result<()> {
    let continual = ContinualParams {
        steps: args.fine_tune_steps.max(1),
        batch_size: args.run.batch_size,
        learning_rate: args.lr,
        replay: args.replay,
        ..ContinualParams::default()
    };
    continual.check()?;
    if args.fine_tune_steps > 0 && !affinity::model::AVAILABLE {
        bail!("--fine-tune-steps: {}", super::model_args::NO_MODEL);
    }
    let manifest = affinity::bundle::read_manifest(&args.bundle)?;
    let read = read_record(&args.read)?;
    // Timestamps of old and new events must be read alike, or histories mix up silently.
    if let Some(fit) = manifest.last_read() {
        // So must user ids: raw ids and pseudonyms (or two keys' pseudonyms) never match.
        if fit.pseudonym_key != read.pseudonym_key {
            bail!(
                "the bundle's user ids were {}, the new events' would be {}: pass the bundle's key with --pseudonymize-key-file",
                key_said(fit.pseudonym_key.as_deref()),
                key_said(read.pseudonym_key.as_deref()),
            );
        }
        // Event tables in Parquet or Arrow parse text times with --time-format too.
        let reads_times = matches!(fit.format.as_str(), "long" | "parquet" | "arrow");
        if reads_times && fit.time_format != read.time_format {
            bail!(
                "the bundle's events were read with --time-format {}; read {} the same way (--time-format {})",
                fit.time_format,
                args.events.display(),
                fit.time_format
            );
        }
    }
    let vectors = match args.vectors {
        Some(v) => v,
        None => match manifest.vectors.map(|v| v.dtype) {
            Some(VectorType::Bf16) => VectorArg::Bf16,
            _ => VectorArg::F32,
        },
    };
    if args.fine_tune_steps > 0 && manifest.sequential.is_some() {
        bail!(
            "--fine-tune-steps tunes the language model that reads history texts; {} reads histories with its sequential tower: fit it again with --sequential instead",
            args.bundle.display()
        );
    }
    if manifest.encoder.is_some() && !affinity::model::AVAILABLE {
        bail!(
            "{}: the bundle has a language model, which this build cannot carry over ({})",
            args.bundle.display(),
            super::model_args::NO_MODEL
        );
    }
    let recommender = load_bundle(&args.bundle, &args.run)?;
    let (new, read_report) = args.read.load(&args.events)?;
    let (mut updated, report) = recommender.update(&new)?;
    #[cfg_attr(not(feature = "model"), allow(unused_mut))]
    let mut tuned: Option<affinity::pipeline::ContinualReport> = None;
    #[cfg(feature = "model")]
    if args.fine_tune_steps > 0 {
        let (model, report) = updated.fine_tune_recent(report.events_added, &continual)?;
        updated = model;
        tuned = Some(report);
    }
    let mut provenance = updated.provenance().clone();
    let mut source = SourceEntry::describe(
        "update",
        &args.read.source_file(&args.events),
        report.events_added,
    )?;
    source.read = Some(read);
    provenance.sources.push(source);
    updated.set_provenance(provenance);
    let manifest = updated.save(&args.out, &save_options(vectors, false))?;
    if args.json {
        let json = serde_json::json!({"read": read_report, "update": report, "fine_tuning": tuned});
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    if let Some(t) = &tuned {
        let group = |g: &affinity::pipeline::GroupFigures| match (g.before, g.after) {
            (Some(b), Some(a)) => format!("{b:.4} -> {a:.4} ({} users)", g.users),
            _ => "no validation users".to_string(),
        };
        println!(
            "fine-tuned {} steps on {} new and {} replayed pairs in {:.1} s; model NDCG@10 before -> after: old users {}, users with new events {}",
            t.steps,
            t.new_pairs,
            t.replay_pairs,
            t.seconds,
            group(&t.old_users),
            group(&t.new_users)
        );
    }
    println!(
        "bundle {}: {} events added ({} duplicates dropped: {} repeated within the file, {} already in the bundle), {} new users, {} new items, {} texts completed, {} items and {} users embedded, rules {} -> {}, {:.2} s",
        args.out.display(),
        report.events_added,
        read_report.duplicates_dropped as usize + report.duplicates_dropped,
        read_report.duplicates_dropped,
        report.duplicates_dropped,
        report.new_users,
        report.new_items,
        report.texts_changed,
        report.items_embedded,
        report.users_embedded,
        report.rules.0,
        report.rules.1,
        report.seconds
    );
    let c = &manifest.counts;
    println!(
        "now {} users, {} items, {} events, {} rules",
        c.users, c.items, c.events, c.rules
    );
    Ok(())
}

/// Refuses to look a user up in a bundle with another key than its users were pseudonymised
/// with (or with none, or with one where they were kept raw): the lookup would find nobody
/// and answer a cold start without a word.
pub fn check_user_key(
    bundle: &std::path::Path,
    key: Option<&affinity_data::PseudonymKey>,
    looked_up: &str,
) -> anyhow::Result<()> {
    let manifest = affinity::bundle::read_manifest(bundle)?;
    let stored = manifest.last_read().and_then(|r| r.pseudonym_key.clone());
    let given = key.map(|k| k.fingerprint());
    if stored != given {
        bail!(
            "{}: the bundle's user ids were {}, and {looked_up} would be looked up {}",
            bundle.display(),
            key_said(stored.as_deref()),
            match given {
                Some(f) => format!("by the pseudonym of the key of fingerprint {f}"),
                None => "raw: pass the bundle's key with --pseudonymize-key-file".into(),
            }
        );
    }
    Ok(())
}

/// How user ids were stored, for messages.
fn key_said(fingerprint: Option<&str>) -> String {
    match fingerprint {
        Some(f) => format!("pseudonymised with the key of fingerprint {f}"),
        None => "kept raw".into(),
    }
}

/// How the data was read, as the bundle's manifest records it.
fn read_record(read: &ReadArgs) -> anyhow::Result<affinity::bundle::ReadRecord> {
    use affinity_data::TimeFormat as T;
    Ok(affinity::bundle::ReadRecord {
        format: match read.format {
            FormatArg::Long => "long",
            FormatArg::Baskets => "baskets",
            FormatArg::Fimi => "fimi",
            FormatArg::Unisrec => "unisrec",
            FormatArg::Parquet => "parquet",
            FormatArg::Arrow => "arrow",
        }
        .into(),
        time_format: match read.time_format {
            T::Auto => "auto",
            T::Iso => "iso",
            T::DayMonthYear => "dmy",
            T::MonthDayYear => "mdy",
            T::UnixSeconds => "unix",
            T::UnixMillis => "unix-ms",
        }
        .into(),
        pseudonym_key: read.pseudonym_key()?.map(|k| k.fingerprint()),
    })
}
