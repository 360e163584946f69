//! Export as a Hugging Face / sentence-transformers directory, which Python's
//! `SentenceTransformer(dir)` and [`SentenceEncoder::from_dir`] load.
//!
//! The settings files are typed structs. Their fields are declared in alphabetical order
//! because the files were first written through `serde_json::Value`, whose maps sort their
//! keys: exports keep the bytes they always had.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use tch::{Kind, Tensor};

use crate::config::{BertConfig, Pooling};
use crate::encoder::SentenceEncoder;
use crate::error::{Result, TuneError};
use crate::weights;

const UNK: &str = "[UNK]";
const SEP: &str = "[SEP]";
const PAD: &str = "[PAD]";
const CLS: &str = "[CLS]";
const MASK: &str = "[MASK]";

/// `config.json`: the model's configuration (unknown keys kept) as a Hugging Face `BertModel`.
#[derive(Serialize)]
struct HfConfig<'a> {
    #[serde(flatten)]
    bert: &'a BertConfig,
    // After `bert`: these replace the keys of the same name the source's config.json had.
    architectures: [&'static str; 1],
    model_type: &'static str,
}

/// `tokenizer_config.json`.
#[derive(Serialize)]
struct TokenizerConfig {
    cls_token: &'static str,
    do_lower_case: bool,
    mask_token: &'static str,
    model_max_length: usize,
    pad_token: &'static str,
    sep_token: &'static str,
    /// `null` when it follows `do_lower_case`, as in Hugging Face's BERT tokenizers.
    strip_accents: Option<bool>,
    tokenizer_class: &'static str,
    unk_token: &'static str,
}

/// `special_tokens_map.json`.
#[derive(Serialize)]
struct SpecialTokens {
    cls_token: &'static str,
    mask_token: &'static str,
    pad_token: &'static str,
    sep_token: &'static str,
    unk_token: &'static str,
}

/// `sentence_bert_config.json`.
#[derive(Serialize)]
struct SentenceBertConfig {
    /// The tokenizer lower-cases already; sentence-transformers must not do it again.
    do_lower_case: bool,
    max_seq_length: usize,
}

/// `1_Pooling/config.json`.
#[derive(Serialize)]
struct PoolingConfig {
    pooling_mode_cls_token: bool,
    pooling_mode_max_tokens: bool,
    pooling_mode_mean_sqrt_len_tokens: bool,
    pooling_mode_mean_tokens: bool,
    word_embedding_dimension: usize,
}

/// One entry of `modules.json`.
#[derive(Serialize)]
struct Module {
    idx: usize,
    name: String,
    path: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Writes `model.safetensors` (Hugging Face names, LoRA merged, fp32, the checkpoint's pooler
/// kept) and the settings files.
pub(crate) fn save_pretrained(encoder: &SentenceEncoder, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir.join("1_Pooling")).map_err(|e| TuneError::io(dir, e))?;
    let weights: BTreeMap<String, Tensor> = encoder
        .hf_weights()?
        .into_iter()
        .chain(
            encoder
                .pooler()
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone())),
        )
        .map(|(n, t)| Ok((n, t.f_to_kind(Kind::Float)?)))
        .collect::<Result<_>>()?;
    weights::write_atomic(&weights, &dir.join("model.safetensors"))?;
    write_settings(encoder, dir)
}

/// Writes everything but the weights: `config.json`, `vocab.txt`, the tokenizer files and
/// the sentence-transformers modules (`dir/1_Pooling` must exist).
pub(crate) fn write_settings(encoder: &SentenceEncoder, dir: &Path) -> Result<()> {
    let config_path = dir.join("config.json");
    // Through a `Value`: its map drops the source's duplicate keys and sorts them.
    let config = serde_json::to_value(HfConfig {
        bert: encoder.config(),
        architectures: ["BertModel"],
        model_type: "bert",
    })
    .map_err(|e| unwritable(&config_path, e))?;
    write_json(&config_path, &config)?;

    let tokenizer = encoder.tokenizer();
    let vocab_path = tokenizer.vocab_path();
    let vocab = std::fs::read(vocab_path).map_err(|e| TuneError::io(vocab_path, e))?;
    // Exporting into the directory the vocabulary came from: it is already there.
    if std::fs::canonicalize(vocab_path).ok() != std::fs::canonicalize(dir.join("vocab.txt")).ok() {
        weights::write_bytes_atomic(&dir.join("vocab.txt"), &vocab)?;
    }
    let (lower, strip) =
        crate::tokenizer::lower_casing(vocab_path.parent().unwrap_or(Path::new(".")));
    write_json(
        &dir.join("tokenizer_config.json"),
        &TokenizerConfig {
            cls_token: CLS,
            do_lower_case: lower,
            mask_token: MASK,
            model_max_length: 512,
            pad_token: PAD,
            sep_token: SEP,
            strip_accents: (strip != lower).then_some(strip),
            tokenizer_class: "BertTokenizer",
            unk_token: UNK,
        },
    )?;
    write_json(
        &dir.join("special_tokens_map.json"),
        &SpecialTokens {
            cls_token: CLS,
            mask_token: MASK,
            pad_token: PAD,
            sep_token: SEP,
            unk_token: UNK,
        },
    )?;
    write_json(
        &dir.join("sentence_bert_config.json"),
        &SentenceBertConfig {
            do_lower_case: false,
            max_seq_length: tokenizer.max_len(),
        },
    )?;
    let pooling = encoder.pooling();
    write_json(
        &dir.join("1_Pooling/config.json"),
        &PoolingConfig {
            pooling_mode_cls_token: pooling == Pooling::Cls,
            pooling_mode_max_tokens: false,
            pooling_mode_mean_sqrt_len_tokens: false,
            pooling_mode_mean_tokens: pooling == Pooling::Mean,
            word_embedding_dimension: encoder.dim(),
        },
    )?;
    let mut modules = vec![
        Module {
            idx: 0,
            name: "0".into(),
            path: "",
            kind: "sentence_transformers.models.Transformer",
        },
        Module {
            idx: 1,
            name: "1".into(),
            path: "1_Pooling",
            kind: "sentence_transformers.models.Pooling",
        },
    ];
    if encoder.normalizes() {
        modules.push(Module {
            idx: 2,
            name: "2".into(),
            path: "2_Normalize",
            kind: "sentence_transformers.models.Normalize",
        });
    }
    write_json(&dir.join("modules.json"), &modules)?;
    let card = dir.join(MODEL_CARD);
    let popularity_prior = encoder.popularity_prior();
    if popularity_prior > 0.0 {
        return write_json(&card, &ModelCard { popularity_prior });
    }
    // Exported over a model that had one: a stale card would change the scores.
    match std::fs::remove_file(&card) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TuneError::io(&card, e)),
        _ => Ok(()),
    }
}

/// `affinity_model.json`: what a model directory says about how its scores are read, beyond
/// the Hugging Face files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelCard {
    /// [`SentenceEncoder::popularity_prior`].
    #[serde(default)]
    pub popularity_prior: f32,
}

const MODEL_CARD: &str = "affinity_model.json";

/// The model card of `dir`; the default (no prior) where there is none.
pub(crate) fn read_model_card(dir: &Path) -> Result<ModelCard> {
    let path = dir.join(MODEL_CARD);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ModelCard::default()),
        Err(e) => return Err(TuneError::io(&path, e)),
    };
    let card: ModelCard = serde_json::from_str(&text).map_err(|e| TuneError::BadConfig {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    if let Some(problem) = bad_prior_weight(card.popularity_prior) {
        return Err(TuneError::BadConfig {
            path,
            detail: format!("popularity_prior {problem}"),
        });
    }
    Ok(card)
}

/// What is wrong with a popularity prior's weight, if anything.
pub(crate) fn bad_prior_weight(weight: f32) -> Option<String> {
    (!(weight.is_finite() && weight >= 0.0))
        .then(|| format!("{weight} is not a finite, non-negative number"))
}

/// Pretty-printed JSON, written through a temporary file.
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(value).map_err(|e| unwritable(path, e))?;
    weights::write_bytes_atomic(path, json.as_bytes())
}

fn unwritable(path: &Path, e: serde_json::Error) -> TuneError {
    TuneError::BadConfig {
        path: path.to_path_buf(),
        detail: format!("cannot write as JSON: {e}"),
    }
}
