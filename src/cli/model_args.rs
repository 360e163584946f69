//! Options for the language model, shared by every command that may use one. Without the
//! `model` feature they parse the same, and a command that needs the model says so.

use std::path::PathBuf;

use affinity::bundle::BundleLoadOptions;
use affinity::model::Encoder;
#[cfg(feature = "model")]
use affinity_tune::{DeviceChoice, EncoderOptions, Precision};
use anyhow::bail;
#[cfg(feature = "model")]
use anyhow::Context;

/// What a command that needs the language model says in a build without it.
pub const NO_MODEL: &str = "this affinity was built without the language model (the `model` feature); rebuild with default features, or use --no-model where offered";

/// The model directory: `--model`, else `$AFFINITY_MODEL_DIR`, else `models/all-MiniLM-L6-v2`.
#[cfg(feature = "model")]
pub fn model_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("AFFINITY_MODEL_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("models/all-MiniLM-L6-v2"))
}

/// The sequential history tower's options (`affinity fit`, `affinity evaluate`).
#[derive(Debug, Clone, clap::Args)]
pub struct SequentialArgs {
    /// Read histories with a sequential tower (a small transformer over the IDs and text
    /// vectors of a shopper's newest items) instead of the language model, trained on the
    /// histories at hand with each user's last item held out for early stopping. With --tune,
    /// the weights are chosen with a second tower trained without the validation step.
    #[arg(long)]
    pub sequential: bool,
    /// Newest items of a history the sequential tower reads.
    #[arg(long, default_value_t = 3, requires = "sequential")]
    pub max_history: usize,
    /// Most epochs of the sequential tower (it stops earlier when validation stops improving).
    #[arg(long, default_value_t = 40, requires = "sequential")]
    pub sequential_epochs: usize,
    /// Train the sequential tower with DP-SGD within this epsilon (delta = 1 / shoppers; each
    /// shopper's whole history is the unit): every epoch runs, the last weights are kept and
    /// the epsilon spent is in the summary and the bundle's manifest (docs/privacy.md).
    #[arg(long, requires = "sequential", value_parser = positive)]
    pub private_epsilon: Option<f64>,
    /// Largest L2 norm of one shopper's gradient under --private-epsilon.
    #[arg(long, default_value_t = 1.0, requires = "private_epsilon", value_parser = positive)]
    pub private_clip: f64,
}

/// A finite number above zero.
pub(super) fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s} is not a number above 0")),
    }
}

impl SequentialArgs {
    /// The tower's settings when --sequential is given; an error in a build without the
    /// language model.
    #[cfg(feature = "model")]
    pub fn params(&self) -> anyhow::Result<Option<affinity_tune::SequentialParams>> {
        Ok(self.sequential.then(|| affinity_tune::SequentialParams {
            max_history: self.max_history,
            epochs: self.sequential_epochs,
            privacy: self
                .private_epsilon
                .map(|epsilon| affinity_tune::PrivacyParams {
                    epsilon,
                    delta: None,
                    clip_norm: self.private_clip,
                }),
            ..Default::default()
        }))
    }

    /// Without the language model there is no tower: --sequential is refused.
    #[cfg(not(feature = "model"))]
    pub fn params(&self) -> anyhow::Result<Option<std::convert::Infallible>> {
        if self.sequential {
            bail!("--sequential: {NO_MODEL}");
        }
        Ok(None)
    }
}

/// Integer arithmetic for encoding (`--quantize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Quantize {
    /// Linear layers in int8: weights coded per output row, inputs per token.
    Int8,
}

/// Device and precision options.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// A Hugging Face BERT directory or a checkpoint written by `affinity train`
    /// [default: $AFFINITY_MODEL_DIR, else models/all-MiniLM-L6-v2].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// auto (CUDA when present), cpu, cuda, or cuda:N.
    #[arg(long, default_value = "auto", value_parser = device_arg)]
    pub device: String,
    /// Matrix products in bf16 (weights, LayerNorm and loss stay fp32) [default: on CUDA].
    #[arg(long, conflicts_with = "fp32")]
    pub bf16: bool,
    /// Everything in fp32 [default: on the CPU].
    #[arg(long)]
    pub fp32: bool,
    /// Encode with the linear layers in 8-bit integers on the CPU (dynamic quantisation; the
    /// rest stays fp32): faster, vectors slightly off fp32's (docs/benchmarks.md). Kept in a
    /// bundle's manifest; not for training.
    #[arg(long, value_enum, conflicts_with_all = ["bf16", "fp32"])]
    pub quantize: Option<Quantize>,
    /// Texts per forward pass (pairs per step when training).
    #[arg(long, visible_alias = "batch", default_value_t = 64)]
    pub batch_size: usize,
    /// Longest token sequence [default: the model's, 256 for MiniLM].
    #[arg(long)]
    pub max_len: Option<usize>,
}

impl RunArgs {
    #[cfg(feature = "model")]
    pub fn options(&self) -> anyhow::Result<EncoderOptions> {
        Ok(EncoderOptions {
            device: parse_device(&self.device)?,
            precision: match (self.bf16, self.fp32, self.quantize) {
                (_, _, Some(Quantize::Int8)) => Precision::Int8,
                (true, _, _) => Precision::Bf16,
                (_, true, _) => Precision::F32,
                _ => Precision::Auto,
            },
            batch_size: self.batch_size,
            max_len: self.max_len,
            ..EncoderOptions::default()
        })
    }

    #[cfg(feature = "model")]
    pub fn load(&self) -> anyhow::Result<Encoder> {
        let mut dir = model_dir(self.model.clone());
        // A checkpoint directory of `affinity train`: its best model.
        if !dir.join("config.json").is_file() && dir.join("best").is_dir() {
            dir = dir.join("best");
        }
        let encoder = Encoder::from_dir(&dir, &self.options()?)
            .with_context(|| format!("cannot load the model in {}", dir.display()))?;
        Ok(encoder)
    }

    /// Without the `model` feature: a clear refusal.
    #[cfg(not(feature = "model"))]
    pub fn load(&self) -> anyhow::Result<Encoder> {
        bail!("{NO_MODEL}")
    }

    /// How a bundle is loaded with these options (`--model` does not apply: the bundle
    /// carries its encoder).
    pub fn bundle_options(&self) -> anyhow::Result<BundleLoadOptions> {
        if self.model.is_some() || self.max_len.is_some() {
            bail!("--model and --max-len do not apply to a bundle: it carries its own encoder");
        }
        #[cfg(feature = "model")]
        {
            let options = self.options()?;
            Ok(BundleLoadOptions {
                encoder: true,
                device: options.device,
                precision: (self.bf16 || self.fp32 || self.quantize.is_some())
                    .then_some(options.precision),
                batch_size: options.batch_size,
            })
        }
        #[cfg(not(feature = "model"))]
        {
            Ok(BundleLoadOptions {
                encoder: false,
                batch_size: self.batch_size,
            })
        }
    }
}

/// Checks `--device` when the arguments are parsed, so a typo fails before any work (in
/// builds with or without the model).
fn device_arg(s: &str) -> Result<String, String> {
    let index = s.strip_prefix("cuda:").map(str::parse::<usize>);
    match (s, index) {
        ("auto" | "cpu" | "cuda", _) | (_, Some(Ok(_))) => Ok(s.to_owned()),
        _ => Err("expected auto, cpu, cuda or cuda:N".to_owned()),
    }
}

#[cfg(feature = "model")]
pub fn parse_device(s: &str) -> anyhow::Result<DeviceChoice> {
    Ok(match s {
        "auto" => DeviceChoice::Auto,
        "cpu" => DeviceChoice::Cpu,
        "cuda" => DeviceChoice::Cuda(0),
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => DeviceChoice::Cuda(n),
            None => bail!("--device must be auto, cpu, cuda or cuda:N, got {other:?}"),
        },
    })
}
