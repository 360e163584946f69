//! `affinity embed`, `affinity train` and `affinity bench train|encode`.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;

use affinity::pipeline::{Pipeline, PipelineParams};
use affinity_data::HoldOut;
use affinity_tune::{
    BertConfig, EpochRecord, LoraParams, Monitor, Objective, Precision, SentenceEncoder,
    TargetTower, TrainParams, Trainer,
};

use super::model_args::{model_dir, RunArgs};
use affinity::files::write_file;
use affinity_cli::input::InputArgs;

/// `affinity embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// One text per line [default: stdin].
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    /// Where the vectors go [default: stdout]; written atomically.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// One text per line (a final newline and `\r` endings allowed); bytes that are not UTF-8
/// are an error naming the line.
fn text_lines(source: &str, bytes: &[u8]) -> anyhow::Result<Vec<String>> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            std::str::from_utf8(line)
                .map(str::to_owned)
                .map_err(|e| anyhow::anyhow!("{source}:{}: not UTF-8 ({e})", i + 1))
        })
        .collect()
}

pub fn embed(args: EmbedArgs) -> anyhow::Result<()> {
    let (source, bytes) = match &args.input {
        Some(path) => (
            path.display().to_string(),
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .context("cannot read stdin")?;
            ("stdin".to_owned(), bytes)
        }
    };
    let texts = text_lines(&source, &bytes)?;
    let encoder = args.run.load()?;
    let vectors = encoder.embed(&texts)?;
    let rows = Vec::<Vec<f32>>::try_from(&vectors).context("vectors")?;
    let write = |out: &mut dyn Write| -> anyhow::Result<()> {
        for row in &rows {
            let line: Vec<String> = row.iter().map(|x| format!("{x}")).collect();
            writeln!(out, "{}", line.join(" "))?;
        }
        Ok(())
    };
    match &args.output {
        Some(path) => write_file(path, |w| write(w)),
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            write(&mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectiveArg {
    /// Two towers, (history, next product) pairs, in-batch negatives.
    Contrastive,
    /// A head over product ids on the history vector.
    NextItem,
    /// A head over product categories on the product's text.
    Category,
}

/// `affinity train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MonitorArg {
    Ndcg,
    Recall,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Checkpoint directory (best model in OUT/best).
    #[arg(long)]
    pub out: PathBuf,
    /// What to learn.
    #[arg(long, value_enum, default_value = "contrastive")]
    pub objective: ObjectiveArg,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.1)]
    pub warmup_ratio: f64,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Forward passes per optimizer step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    /// InfoNCE scale (1 / temperature).
    #[arg(long, default_value_t = 20.0)]
    pub scale: f64,
    /// Score products by the cosine alone, without the log-popularity prior (by default the
    /// model is scored `cosine + w x ln(1 + buyers)`, w chosen on the validation step among
    /// multiples of 1/scale, and a full softmax trains on `scale x cosine + ln(1 + buyers)`;
    /// a w above 0 is written to OUT/best/affinity_model.json for `fit` and `evaluate`).
    #[arg(long)]
    pub no_prior: bool,
    /// Weight of a uniformity term that keeps the product vectors spread over the sphere
    /// (Wang & Isola 2020; 0: off). Needs --target-tower trained.
    #[arg(long, default_value_t = 0.0)]
    pub uniformity: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Epochs without improvement before stopping (0: never).
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    /// Early-stopping metric (at 10).
    #[arg(long, value_enum, default_value = "ndcg")]
    pub monitor: MonitorArg,
    /// Products per history text, newest first.
    #[arg(long, default_value_t = 10)]
    pub history_items: usize,
    /// Keep at most this many training examples (seeded sample).
    #[arg(long)]
    pub max_examples: Option<usize>,
    /// Keep at most this many validation queries.
    #[arg(long, default_value_t = 2000)]
    pub max_validation: usize,
    /// LoRA rank (0: full fine-tuning).
    #[arg(long, default_value_t = 0)]
    pub lora_rank: i64,
    #[arg(long, default_value_t = 16.0)]
    pub lora_alpha: f64,
    /// Comma-separated modules for LoRA.
    #[arg(long, default_value = "query,value")]
    pub lora_targets: String,
    /// Continue from the latest checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this epoch (resume later with --resume).
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Batch histories of similar token length together (less padding per batch).
    #[arg(long)]
    pub length_buckets: bool,
    /// Contrastive targets: trained (through the model at every step) or cached (encoded
    /// without gradients each epoch; a step runs the model on its histories only).
    #[arg(long, value_enum, default_value = "trained")]
    pub target_tower: TargetTowerArg,
    /// With a cached target tower: re-encode the targets every N optimizer steps too.
    #[arg(long)]
    pub refresh_steps: Option<usize>,
    /// Also write the training pairs as TSV (history text, target text), e.g. to train the
    /// same pairs with another tool.
    #[arg(long)]
    pub export_pairs: Option<PathBuf>,
    /// Fine-tune with DP-SGD within this epsilon (delta = 1 / shoppers; each shopper's
    /// examples together are the unit): --batch-size is then the expected shoppers per step,
    /// each history is scored against the whole catalogue encoded once per epoch, without the
    /// popularity prior; every epoch runs and the last is kept (docs/privacy.md).
    #[arg(long, value_parser = super::model_args::positive, conflicts_with_all = ["resume", "stop_after", "uniformity"])]
    pub private_epsilon: Option<f64>,
    /// Largest L2 norm of one shopper's gradient under --private-epsilon.
    #[arg(long, default_value_t = 1.0, requires = "private_epsilon", value_parser = super::model_args::positive)]
    pub private_clip: f64,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `affinity train --target-tower`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetTowerArg {
    Trained,
    Cached,
}

/// A text as one TSV field: tabs and line breaks become spaces.
fn tsv_field(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

fn monitor_name(m: MonitorArg) -> &'static str {
    match m {
        MonitorArg::Ndcg => "NDCG@10",
        MonitorArg::Recall => "Recall@10",
    }
}

fn monitored(m: MonitorArg, e: &EpochRecord) -> f64 {
    match m {
        MonitorArg::Ndcg => e.ndcg10,
        MonitorArg::Recall => e.recall10,
    }
}

pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    let params = TrainParams {
        epochs: args.epochs,
        batch_size: args.run.batch_size,
        grad_accum: args.grad_accum,
        learning_rate: args.lr,
        weight_decay: args.weight_decay,
        warmup_ratio: args.warmup_ratio,
        seed: args.seed,
        patience: (args.patience > 0).then_some(args.patience),
        monitor: match args.monitor {
            MonitorArg::Ndcg => Monitor::Ndcg10,
            MonitorArg::Recall => Monitor::Recall10,
        },
        checkpoint_dir: Some(args.out.clone()),
        resume: args.resume,
        stop_after: args.stop_after,
        length_buckets: args.length_buckets,
        target_tower: match (args.target_tower, args.refresh_steps) {
            (TargetTowerArg::Cached, refresh_steps) => TargetTower::Cached { refresh_steps },
            (TargetTowerArg::Trained, None) => TargetTower::Trained,
            (TargetTowerArg::Trained, Some(_)) => {
                anyhow::bail!("--refresh-steps applies to --target-tower cached only")
            }
        },
        uniformity: args.uniformity,
        privacy: args
            .private_epsilon
            .map(|epsilon| affinity_tune::PrivacyParams {
                epsilon,
                delta: None,
                clip_norm: args.private_clip,
            }),
        ..TrainParams::default()
    };
    let trainer = Trainer::new(params)?;
    // The same split and examples as the pipeline's (last time step held out).
    let pipeline = Pipeline::new(
        PipelineParams::builder()
            .hold_out(HoldOut::LastTimestamp)
            .history_items(args.history_items)
            .build()?,
    )?;
    let mut options = args.run.options()?;
    if args.lora_rank > 0 {
        options.lora = Some(LoraParams {
            rank: args.lora_rank,
            alpha: args.lora_alpha,
            target_modules: args
                .lora_targets
                .split(',')
                .map(|s| s.trim().to_string())
                .collect(),
            ..LoraParams::default()
        });
    }
    let (dataset, _) = args.input.load()?;
    let dir = model_dir(args.run.model.clone());
    let mut encoder = SentenceEncoder::from_dir(&dir, &options)
        .with_context(|| format!("cannot load the model in {}", dir.display()))?;
    let items = dataset.items.len();
    let task = match args.objective {
        ObjectiveArg::Category => Pipeline::category_task(&dataset)?,
        objective => {
            let prepared = pipeline.prepare(dataset);
            let mut task = pipeline.training_task(
                &prepared,
                args.max_examples,
                args.max_validation,
                args.seed,
            );
            task.objective = match objective {
                ObjectiveArg::NextItem => Objective::Classification { num_classes: items },
                _ => Objective::Contrastive { scale: args.scale },
            };
            if objective == ObjectiveArg::NextItem || args.no_prior {
                task.prior = None;
            }
            task
        }
    };
    if let Some(path) = &args.export_pairs {
        write_file(path, |w| -> anyhow::Result<()> {
            for e in &task.examples {
                let target = task
                    .targets
                    .get(e.target as usize)
                    .map_or("", String::as_str);
                writeln!(w, "{}\t{}", tsv_field(&e.text), tsv_field(target))?;
            }
            Ok(())
        })?;
        eprintln!(
            "{} training pairs in {}",
            task.examples.len(),
            path.display()
        );
    }
    eprintln!(
        "training on {} examples, validating on {} queries, {} targets; checkpoints in {}",
        task.examples.len(),
        task.validation.len(),
        task.targets.len(),
        args.out.display()
    );
    let outcome = if args.no_progress {
        trainer.fit(&mut encoder, &task)?
    } else {
        trainer.fit_observed(&mut encoder, &task, &*super::bars())?
    };
    let report = &outcome.report;
    let json = serde_json::to_string_pretty(report)?;
    affinity::files::write_bytes(&args.out.join("train_report.json"), json.as_bytes())?;
    // Private training trains and scores without the prior (see TrainParams::privacy).
    let with_prior = task.prior.is_some() && args.private_epsilon.is_none();
    if with_prior {
        println!(
            "validation scores each product by cosine + w x ln(1 + members who bought it), as `fit`, \
             `evaluate` and `recommend` will; w is chosen per epoch on the validation step among \
             multiples of 1/scale = {} (0: the cosine alone), and the best epoch's w is kept in \
             best/affinity_model.json (--no-prior: cosine alone)",
            task.prior_weight()
        );
    }
    println!(
        "epoch  train loss  NDCG@10  Recall@10  seconds{}",
        if with_prior { "  prior w" } else { "" }
    );
    for e in &report.epochs {
        let w = if with_prior {
            format!("  {:>7.4}", e.prior_weight)
        } else {
            String::new()
        };
        println!(
            "{:>5}  {:>10.4}  {:>7.4}  {:>9.4}  {:>7.1}{w}",
            e.epoch, e.train_loss, e.ndcg10, e.recall10, e.seconds
        );
    }
    let best = args.out.join("best");
    if let Some(spent) = &report.privacy {
        println!(
            "private training: {spent}; the last epoch's model is in {}",
            best.display()
        );
        return Ok(());
    }
    match (report.epochs.first(), report.best_epoch) {
        (Some(start), 0) if !task.validation.is_empty() => println!(
            "best epoch 0, the model as it started: fine-tuning did not improve validation {} \
             ({:.4} before, at best {:.4} after an epoch); {} holds the starting model ({:?})",
            monitor_name(args.monitor),
            monitored(args.monitor, start),
            report.epochs[1..]
                .iter()
                .map(|e| monitored(args.monitor, e))
                .fold(f64::NAN, f64::max),
            best.display(),
            report.stop,
        ),
        _ => println!(
            "best epoch {} ({:?}); model in {}",
            report.best_epoch,
            report.stop,
            best.display()
        ),
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ModelBenchArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Sequence length of the random token batches.
    #[arg(long, default_value_t = 32)]
    pub seq_len: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Random weights in the model's shape (no weights needed; vocab.txt still read from --model).
    #[arg(long)]
    pub random_init: bool,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn bench_model(args: ModelBenchArgs, train: bool) -> anyhow::Result<()> {
    let encoder = if args.random_init {
        let dir = model_dir(args.run.model.clone());
        let config_path = dir.join("config.json");
        let config = if config_path.is_file() {
            BertConfig::from_file(&config_path)?
        } else {
            BertConfig::minilm_l6()
        };
        // Seeding asks libtorch about CUDA: open it first or it stays off for the process.
        affinity_tune::load_cuda();
        affinity_tune::tch::manual_seed(0);
        SentenceEncoder::random(&config, &dir, &args.run.options()?)?
    } else {
        args.run.load()?
    };
    if train && encoder.precision() == Precision::Int8 {
        anyhow::bail!("--quantize int8 is for encoding: bench train trains in fp32 or bf16");
    }
    let b = args.run.batch_size;
    let t = if train {
        affinity_tune::bench::train_throughput(&encoder, b, args.seq_len, args.steps, args.warmup)?
    } else {
        affinity_tune::bench::encode_throughput(&encoder, b, args.seq_len, args.steps, args.warmup)?
    };
    let unit = if train { "pairs/s" } else { "items/s" };
    let device = format!("{:?}", encoder.device());
    let precision = match encoder.precision() {
        Precision::Bf16 => "bf16",
        Precision::Int8 => "int8",
        _ => "fp32",
    };
    let int8_kernel = (encoder.precision() == Precision::Int8).then(affinity_rank::int8::kernel);
    if args.json {
        println!(
            "{}",
            serde_json::json!({"what": if train {"train"} else {"encode"}, "per_second": t.per_second,
                "seconds": t.seconds, "steps": t.steps, "batch": b, "seq_len": args.seq_len,
                "bf16": encoder.precision() == Precision::Bf16, "precision": precision, "int8_kernel": int8_kernel, "device": device, "peak_rss_mib": t.peak_rss_mib,
                "threads": affinity_tune::tch::get_num_threads()})
        );
    } else {
        println!(
            "{} B={b} L={} {} on {device}: {:.1} {unit} ({} steps in {:.2} s, peak RSS {:.0} MiB)",
            if train { "train" } else { "encode" },
            args.seq_len,
            match int8_kernel {
                Some(kernel) => format!("int8 ({kernel})"),
                None => precision.to_owned(),
            },
            t.per_second,
            t.steps,
            t.seconds,
            t.peak_rss_mib
        );
    }
    Ok(())
}
