//! A sentence encoder: tokenizer, BERT, pooling and normalisation, as sentence-transformers does.

use affinity_core::{InvalidSetting, Progress};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::{nn, Device, Kind, Tensor};

use crate::bert::BertModel;
use crate::config::{sentence_settings, BertConfig, Pooling};
use crate::device::DeviceChoice;
use crate::error::{Result, TuneError};
use crate::layers::{LoraParams, Precision, Vars};
use crate::tokenizer::{TokenBatch, WordPiece};
use crate::weights::{self, WeightsReport};

/// How to load and run an encoder. Unset fields follow the model directory's own files.
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Where to run.
    pub device: DeviceChoice,
    /// Matrix-product precision (`Auto`: bf16 on CUDA, fp32 on the CPU).
    pub precision: Precision,
    /// Pooling; `None` reads `1_Pooling/config.json` (mean when absent).
    pub pooling: Option<Pooling>,
    /// Longest token sequence; `None` reads `sentence_bert_config.json` (else 256).
    pub max_len: Option<usize>,
    /// Texts per forward pass when embedding in bulk.
    pub batch_size: usize,
    /// Attach fresh LoRA adapters over a frozen base.
    pub lora: Option<LoraParams>,
}

impl EncoderOptions {
    /// The first setting that cannot work;
    /// [`SentenceEncoder::from_dir`] and [`SentenceEncoder::random`] call it before loading.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        if self.batch_size == 0 {
            return Err(InvalidSetting::new("batch_size", "must be positive"));
        }
        if self.max_len == Some(0) {
            return Err(InvalidSetting::new("max_len", "must be positive"));
        }
        match &self.lora {
            Some(lora) => lora.check(),
            None => Ok(()),
        }
    }
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            device: DeviceChoice::Auto,
            precision: Precision::Auto,
            pooling: None,
            max_len: None,
            batch_size: 64,
            lora: None,
        }
    }
}

/// Written next to LoRA adapters: their settings and the base they adapt.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct AdapterFile {
    #[serde(flatten)]
    lora: LoraParams,
    base_model: PathBuf,
}

/// Texts in, unit vectors out.
///
/// ```no_run
/// use affinity_tune::{EncoderOptions, SentenceEncoder};
/// let encoder = SentenceEncoder::from_dir("models/all-MiniLM-L6-v2".as_ref(), &EncoderOptions::default())?;
/// let vectors = encoder.embed(&["whole milk", "yogurt"])?; // [2, 384], rows of norm 1
/// assert_eq!(vectors.size(), [2, 384]);
/// # Ok::<(), affinity_tune::TuneError>(())
/// ```
pub struct SentenceEncoder {
    source: PathBuf,
    base: PathBuf,
    vs: nn::VarStore,
    lora_vs: Option<nn::VarStore>,
    lora: Option<LoraParams>,
    model: BertModel,
    tokenizer: WordPiece,
    pooling: Pooling,
    normalize: bool,
    precision: Precision,
    batch_size: usize,
    report: WeightsReport,
    /// The checkpoint's pooler, unused here but written back on export.
    pooler: BTreeMap<String, Tensor>,
    /// Weight of the log-popularity prior in this model's score (0: the cosine alone).
    popularity_prior: f32,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("source", &self.source)
            .field("pooling", &self.pooling)
            .field("precision", &self.precision)
            .field("device", &self.vs.device())
            .field("lora", &self.lora)
            .finish()
    }
}

impl SentenceEncoder {
    /// Loads a Hugging Face BERT directory (`config.json`, `vocab.txt`, `model.safetensors`),
    /// or a LoRA checkpoint written by [`SentenceEncoder::save_adapter`].
    pub fn from_dir(dir: &Path, options: &EncoderOptions) -> Result<Self> {
        let mut encoder = Self::read_dir(dir, options)?;
        // Int8 codes are made once every weight is in place, the adapters' included.
        encoder.set_precision(options.precision)?;
        Ok(encoder)
    }

    /// [`SentenceEncoder::from_dir`] in fp32 (or bf16) arithmetic.
    fn read_dir(dir: &Path, options: &EncoderOptions) -> Result<Self> {
        options.check()?;
        let adapter_path = dir.join("adapter_config.json");
        if adapter_path.is_file() && !dir.join("model.safetensors").is_file() {
            let text = std::fs::read_to_string(&adapter_path)
                .map_err(|e| TuneError::io(&adapter_path, e))?;
            let adapter: AdapterFile =
                serde_json::from_str(&text).map_err(|e| TuneError::BadConfig {
                    path: adapter_path.clone(),
                    detail: e.to_string(),
                })?;
            let opts = EncoderOptions {
                lora: Some(adapter.lora),
                ..options.clone()
            };
            // Settings read from a file: a bad one is a bad file.
            opts.check().map_err(|e| TuneError::BadConfig {
                path: adapter_path.clone(),
                detail: e.to_string(),
            })?;
            // The adapter directory's own settings (config, vocabulary, pooling), written with
            // the adapters; only the weights come from the base. Older adapter directories
            // without them fall back to the base's.
            let settings = if dir.join("config.json").is_file() && dir.join("vocab.txt").is_file() {
                dir
            } else {
                adapter.base_model.as_path()
            };
            let mut encoder = Self::from_parts(
                settings,
                &adapter.base_model.join("model.safetensors"),
                &opts,
            )?;
            let lora_vars = encoder
                .lora_vs
                .as_ref()
                .map(|v| v.variables())
                .unwrap_or_default();
            weights::load_into(&lora_vars, &dir.join("adapter.safetensors"))?;
            encoder.source = dir.to_path_buf();
            encoder.base = adapter.base_model;
            encoder.popularity_prior = crate::export::read_model_card(dir)?.popularity_prior;
            return Ok(encoder);
        }
        let mut encoder = Self::from_parts(dir, &dir.join("model.safetensors"), options)?;
        encoder.source = dir.to_path_buf();
        encoder.base = dir.to_path_buf();
        encoder.popularity_prior = crate::export::read_model_card(dir)?.popularity_prior;
        Ok(encoder)
    }

    /// Settings (config, vocabulary, pooling) from `settings`, weights from `weights`.
    fn from_parts(settings: &Path, weights: &Path, options: &EncoderOptions) -> Result<Self> {
        let config = BertConfig::from_file(&settings.join("config.json"))?;
        // The model is allocated from config.json before the weights are read: a config that
        // describes far more weights than the file holds is refused first.
        // (A missing file is reported where the weights are read.)
        let bytes = std::fs::metadata(weights).map_or(u64::MAX, |m| m.len());
        let params = config.parameter_count().unwrap_or(u64::MAX);
        if params.saturating_mul(2) > bytes {
            return Err(TuneError::BadConfig {
                path: settings.join("config.json"),
                detail: format!(
                    "describes {params} weights, more than {} can hold ({bytes} bytes)",
                    weights.display()
                ),
            });
        }
        let (pooling, max_len, normalize) = sentence_settings(settings);
        let max_len = options.max_len.or(max_len).unwrap_or(256);
        let tokenizer = WordPiece::from_dir(
            settings,
            max_len.min(config.max_position_embeddings as usize),
        )?;
        Self::build(
            config,
            tokenizer,
            options,
            pooling,
            normalize,
            Some(weights),
        )
    }

    /// A randomly initialised encoder of any shape with the vocabulary in `vocab_dir`
    /// (for tests and `--random-init` benchmarks). Seeded by `tch::manual_seed` beforehand
    /// (on a GPU machine, call [`crate::load_cuda`] before seeding: see there).
    pub fn random(config: &BertConfig, vocab_dir: &Path, options: &EncoderOptions) -> Result<Self> {
        options.check()?;
        config.check()?;
        let max_len = options
            .max_len
            .unwrap_or(256)
            .min(config.max_position_embeddings as usize);
        let tokenizer = WordPiece::from_dir(vocab_dir, max_len)?;
        let mut encoder = Self::build(config.clone(), tokenizer, options, None, true, None)?;
        encoder.source = vocab_dir.to_path_buf();
        encoder.base = vocab_dir.to_path_buf();
        encoder.set_precision(options.precision)?;
        Ok(encoder)
    }

    fn build(
        config: BertConfig,
        tokenizer: WordPiece,
        options: &EncoderOptions,
        pooling: Option<Pooling>,
        normalize: bool,
        checkpoint: Option<&Path>,
    ) -> Result<Self> {
        // A vocabulary that does not match the embedding table changes every vector quietly
        // (a cut vocab.txt) or indexes past the table (a longer one).
        let tokens = tokenizer.vocab_len();
        if tokens as i64 != config.vocab_size {
            return Err(TuneError::BadConfig {
                path: tokenizer.vocab_path().to_path_buf(),
                detail: format!(
                    "{tokens} tokens, but the model's config.json says vocab_size {}",
                    config.vocab_size
                ),
            });
        }
        let device = options.device.try_resolve()?;
        if options.precision == Precision::Int8 {
            check_int8(device)?;
        }
        let mut vs = nn::VarStore::new(device);
        let lora_vs = options.lora.as_ref().map(|_| nn::VarStore::new(device));
        let lora_root = lora_vs.as_ref().map(|v| v.root());
        let mut report = WeightsReport::default();
        let mut pooler = BTreeMap::new();
        let model = match (checkpoint, &options.lora) {
            // The checkpoint's tensors become the variables: no random draws, no second copy.
            (Some(path), None) => {
                let mut loaded = weights::Preloaded::read(path)?;
                let model = BertModel::build(
                    &vs.root(),
                    &config,
                    None,
                    &mut Vars::Checkpoint(&mut loaded),
                );
                (report, pooler) = loaded.finish()?;
                model
            }
            // With LoRA the base is drawn and then overwritten, so that the adapters'
            // initialisation sees the random stream it always has.
            (checkpoint, lora) => {
                let model =
                    BertModel::new(&vs.root(), &config, lora_root.as_ref().zip(lora.as_ref()));
                if let Some(path) = checkpoint {
                    (report, pooler) = weights::load_into(&vs.variables(), path)?;
                }
                model
            }
        };
        if lora_vs.is_some() {
            vs.freeze();
        }
        let precision = match options.precision.resolve(device) {
            // Coded by the caller once every weight is in place (adapters load after this).
            Precision::Int8 => Precision::F32,
            other => other,
        };
        Ok(SentenceEncoder {
            source: PathBuf::new(),
            base: PathBuf::new(),
            vs,
            lora_vs,
            lora: options.lora.clone(),
            model,
            tokenizer,
            pooling: options.pooling.or(pooling).unwrap_or_default(),
            normalize,
            precision,
            batch_size: options.batch_size,
            report,
            pooler,
            popularity_prior: 0.0,
        })
    }

    /// Weight of the log-popularity prior next to the cosine in this model's score, as the
    /// trainer chose it on the validation step ([`crate::TrainingTask::prior`]; 0 for a model
    /// trained without one, or not trained). Exported with the model (`affinity_model.json`)
    /// and read back by [`SentenceEncoder::from_dir`].
    pub fn popularity_prior(&self) -> f32 {
        self.popularity_prior
    }

    /// Sets [`SentenceEncoder::popularity_prior`] (finite, not negative).
    pub fn set_popularity_prior(&mut self, weight: f32) -> Result<()> {
        if let Some(problem) = crate::export::bad_prior_weight(weight) {
            return Err(InvalidSetting::new("popularity_prior", problem).into());
        }
        self.popularity_prior = weight;
        Ok(())
    }

    /// The directory the weights came from.
    pub fn source_dir(&self) -> &Path {
        &self.source
    }

    /// The directory of the base weights (differs from the source for LoRA checkpoints).
    pub fn base_dir(&self) -> &Path {
        &self.base
    }

    /// What loading the weights found (unexpected and ignored tensors).
    pub fn load_report(&self) -> &WeightsReport {
        &self.report
    }

    /// The architecture.
    pub fn config(&self) -> &BertConfig {
        self.model.config()
    }

    /// Width of the vectors.
    pub fn dim(&self) -> usize {
        self.model.config().hidden_size as usize
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// Matrix-product precision in use.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Changes the matrix-product precision. [`Precision::Int8`] codes the weights as they are
    /// now (set it again after changing them), and needs the CPU.
    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        let precision = precision.resolve(self.device());
        if precision == Precision::Int8 {
            check_int8(self.device())?;
            self.model.quantize()?;
        } else {
            self.model.dequantize();
        }
        self.precision = precision;
        Ok(())
    }

    /// The LoRA settings when adapters are attached.
    pub fn lora(&self) -> Option<&LoraParams> {
        self.lora.as_ref()
    }

    /// Variables that training updates: the adapters when LoRA is on, else every weight.
    pub(crate) fn trainable(&self) -> BTreeMap<String, Tensor> {
        let vars = match &self.lora_vs {
            Some(l) => l.variables(),
            None => self.vs.variables(),
        };
        vars.into_iter().collect()
    }

    /// Pooled (and, as configured, normalised) sentence vectors `[batch, hidden]` in fp32, with
    /// gradients when called outside `no_grad`; dropout only when `train`.
    pub fn forward(&self, batch: &TokenBatch, train: bool) -> Result<Tensor> {
        let device = self.device();
        let ids = batch.ids.f_to_device(device)?;
        let mask = batch.mask.f_to_device(device)?;
        let states = self.model.forward(&ids, &mask, self.precision, train)?;
        let pooled = match self.pooling {
            Pooling::Cls => states.f_select(1, 0)?,
            Pooling::Mean => {
                let m = mask.f_unsqueeze(-1)?.f_to_kind(Kind::Float)?;
                let sum = states.f_mul(&m)?.f_sum_dim_intlist(1, false, Kind::Float)?;
                let count = m
                    .f_sum_dim_intlist(1, false, Kind::Float)?
                    .f_clamp_min(1e-9)?;
                sum.f_div(&count)?
            }
        };
        if self.normalize {
            let norm = pooled
                .f_norm_scalaropt_dim(2, [-1], true)?
                .f_clamp_min(1e-12)?;
            Ok(pooled.f_div(&norm)?)
        } else {
            Ok(pooled)
        }
    }

    /// Embeds texts in batches without gradients; rows in input order, fp32 on the CPU.
    /// Texts are grouped by token length so that padding stays short.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tensor> {
        self.embed_observed(texts, &())
    }

    /// [`SentenceEncoder::embed`], advancing `progress` by the texts each batch finished
    /// (the caller starts and finishes the step, with its own name for it); the batches, and
    /// so the vectors, are the same.
    pub fn embed_observed<S: AsRef<str>>(
        &self,
        texts: &[S],
        progress: &dyn Progress,
    ) -> Result<Tensor> {
        let ids: Vec<Vec<i64>> = texts
            .iter()
            .map(|t| self.tokenizer.ids(t.as_ref()))
            .collect();
        self.embed_ids_observed(&ids, progress)
    }

    /// [`SentenceEncoder::embed`] for texts already tokenized.
    pub fn embed_ids(&self, ids: &[Vec<i64>]) -> Result<Tensor> {
        self.embed_ids_observed(ids, &())
    }

    fn embed_ids_observed(&self, ids: &[Vec<i64>], progress: &dyn Progress) -> Result<Tensor> {
        let dim = self.dim() as i64;
        if ids.is_empty() {
            return Ok(Tensor::zeros([0, dim], (Kind::Float, Device::Cpu)));
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let _guard = tch::no_grad_guard();
        let mut parts = Vec::new();
        for chunk in order.chunks(self.batch_size) {
            let rows: Vec<Vec<i64>> = chunk.iter().map(|&i| ids[i].clone()).collect();
            let batch = crate::tokenizer::pad(&rows, self.model.config().pad_token_id);
            parts.push(self.forward(&batch, false)?.f_to_device(Device::Cpu)?);
            progress.advance(chunk.len() as u64);
        }
        let sorted = Tensor::f_cat(&parts, 0)?;
        // Row j of `sorted` is text order[j]; scatter back.
        let mut inverse = vec![0i64; order.len()];
        for (j, &i) in order.iter().enumerate() {
            inverse[i] = j as i64;
        }
        Ok(sorted.f_index_select(0, &Tensor::from_slice(&inverse))?)
    }

    /// Tokenizes a batch (padded to its longest text).
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> TokenBatch {
        self.tokenizer.batch(texts)
    }

    /// Folds LoRA adapters into the base weights; afterwards the encoder is a plain BERT.
    pub fn merge_lora(&mut self) -> Result<()> {
        self.model.merge_lora()?;
        // The int8 codes already hold the folded update; coded again, they are the same.
        self.lora_vs = None;
        self.lora = None;
        Ok(())
    }

    /// The model's weights under Hugging Face's names, LoRA updates folded in.
    pub fn hf_weights(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut out: BTreeMap<String, Tensor> = self.vs.variables().into_iter().collect();
        if let (Some(lvs), Some(cfg)) = (&self.lora_vs, &self.lora) {
            let lvars = lvs.variables();
            let scale = cfg.alpha / cfg.rank as f64;
            let _guard = tch::no_grad_guard();
            for (name, a) in &lvars {
                let Some(module) = name.strip_suffix(".lora_A.weight") else {
                    continue;
                };
                let b = &lvars[&format!("{module}.lora_B.weight")];
                let key = format!("{module}.weight");
                let w = &out[&key];
                let merged = w.f_add(&b.f_matmul(a)?.f_mul_scalar(scale)?.f_to_kind(w.kind())?)?;
                out.insert(key, merged);
            }
        }
        Ok(out)
    }

    /// Writes a Hugging Face / sentence-transformers directory: `config.json`, `vocab.txt`,
    /// tokenizer settings, `model.safetensors` (original names, LoRA merged) and the pooling
    /// modules, so that Python's `SentenceTransformer(dir)` loads it. Each file is written
    /// through a temporary file.
    pub fn save_pretrained(&self, dir: &Path) -> Result<()> {
        crate::export::save_pretrained(self, dir)
    }

    /// Writes only the LoRA adapters (`adapter.safetensors`, `adapter_config.json` naming the
    /// base) plus the tokenizer files; [`SentenceEncoder::from_dir`] loads such a directory.
    pub fn save_adapter(&self, dir: &Path, base_model: &Path) -> Result<()> {
        let (Some(lvs), Some(cfg)) = (&self.lora_vs, &self.lora) else {
            return Err(InvalidSetting::new("lora", "this encoder has no adapters to save").into());
        };
        std::fs::create_dir_all(dir.join("1_Pooling")).map_err(|e| TuneError::io(dir, e))?;
        weights::write_atomic(
            &lvs.variables().into_iter().collect(),
            &dir.join("adapter.safetensors"),
        )?;
        let base = std::fs::canonicalize(base_model).map_err(|e| TuneError::io(base_model, e))?;
        let file = AdapterFile {
            lora: cfg.clone(),
            base_model: base,
        };
        crate::export::write_json(&dir.join("adapter_config.json"), &file)?;
        crate::export::write_settings(self, dir)
    }

    /// The checkpoint's pooler weights, kept for export.
    pub(crate) fn pooler(&self) -> &BTreeMap<String, Tensor> {
        &self.pooler
    }

    /// How token states become the sentence vector.
    pub(crate) fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Whether vectors are L2-normalised.
    pub(crate) fn normalizes(&self) -> bool {
        self.normalize
    }
}

/// Int8 products run on the CPU only.
fn check_int8(device: Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        other => Err(InvalidSetting::new(
            "precision",
            format!("int8 encodes on the CPU, the model is on {other:?} (use bf16 there)"),
        )
        .into()),
    }
}
