//! `config.json` of a Hugging Face BERT and the sentence-transformers pooling files.

use affinity_core::InvalidSetting;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TuneError};

/// The architecture settings of a BERT encoder, as Hugging Face writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Width of the hidden states.
    pub hidden_size: i64,
    /// Transformer layers.
    pub num_hidden_layers: i64,
    /// Attention heads per layer.
    pub num_attention_heads: i64,
    /// Width of the feed-forward layer.
    pub intermediate_size: i64,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: i64,
    /// Segment types.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Dropout on hidden states.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Activation of the feed-forward layer (`gelu`, `gelu_new`, `relu`).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: i64,
    /// Everything else in the file, written back unchanged on export.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_type_vocab() -> i64 {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_act() -> String {
    "gelu".into()
}

impl BertConfig {
    /// Reads `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TuneError::io(path, e))?;
        let config: BertConfig = serde_json::from_str(&text).map_err(|e| TuneError::BadConfig {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        // A bad setting read from a file is a bad file: the error names it.
        config.check().map_err(|e| TuneError::BadConfig {
            path: path.to_path_buf(),
            detail: format!("{} {}", e.name, e.reason),
        })?;
        Ok(config)
    }

    /// A small random-weight configuration for tests and benchmarks.
    pub fn tiny(vocab_size: i64) -> Self {
        BertConfig {
            vocab_size,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            max_position_embeddings: 128,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            hidden_act: "gelu".into(),
            pad_token_id: 0,
            extra: Default::default(),
        }
    }

    /// The MiniLM-L6-H384 shape (all-MiniLM-L6-v2) with the BERT vocabulary.
    pub fn minilm_l6() -> Self {
        BertConfig {
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            ..BertConfig::tiny(30522)
        }
    }

    /// Weights of the model this describes, without the optional pooler (`None` past
    /// `u64`): a weights file must hold at least two bytes for each, which bounds what a
    /// `config.json` can make the loader allocate.
    pub fn parameter_count(&self) -> Option<u64> {
        let n = |v: i64| u64::try_from(v).ok();
        let (h, i) = (n(self.hidden_size)?, n(self.intermediate_size)?);
        let rows = n(self.vocab_size)?
            .checked_add(n(self.max_position_embeddings)?)?
            .checked_add(n(self.type_vocab_size)?)?;
        let embeddings = rows.checked_mul(h)?.checked_add(2 * h)?;
        // Q, K, V and the output projection with biases, two LayerNorms, the feed-forward pair.
        let attention = h.checked_mul(h)?.checked_add(h)?.checked_mul(4)?;
        let feed_forward = h.checked_mul(i)?.checked_mul(2)?.checked_add(h + i)?;
        let layer = attention.checked_add(feed_forward)?.checked_add(4 * h)?;
        embeddings.checked_add(layer.checked_mul(n(self.num_hidden_layers)?)?)
    }

    /// The first setting the model cannot be built with.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        let positive = |name, v: i64| match v > 0 {
            true => Ok(()),
            false => Err(InvalidSetting::new(name, format!("{v} is not positive"))),
        };
        positive("hidden_size", self.hidden_size)?;
        positive("num_attention_heads", self.num_attention_heads)?;
        positive("vocab_size", self.vocab_size)?;
        positive("max_position_embeddings", self.max_position_embeddings)?;
        positive("intermediate_size", self.intermediate_size)?;
        positive("type_vocab_size", self.type_vocab_size)?;
        if self.num_hidden_layers < 0 {
            return Err(InvalidSetting::new("num_hidden_layers", "is negative"));
        }
        if self.parameter_count().is_none() {
            return Err(InvalidSetting::new(
                "hidden_size",
                "the sizes give more parameters than can be counted",
            ));
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(InvalidSetting::new(
                "hidden_size",
                format!(
                    "{} is not a multiple of num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        if !matches!(self.hidden_act.as_str(), "gelu" | "gelu_new" | "relu") {
            return Err(InvalidSetting::new(
                "hidden_act",
                format!("{:?} is not supported", self.hidden_act),
            ));
        }
        Ok(())
    }
}

/// How token states become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Average over the attended tokens (sentence-transformers' default).
    #[default]
    Mean,
    /// The state of the first (`[CLS]`) token.
    Cls,
}

/// Reads the sentence-transformers files of a model directory where present:
/// pooling mode, maximum sequence length, and whether vectors are L2-normalised.
pub(crate) fn sentence_settings(dir: &Path) -> (Option<Pooling>, Option<usize>, bool) {
    let read = |name: &str| -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(dir.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    };
    let pooling = read("1_Pooling/config.json").map(|v| {
        if v["pooling_mode_cls_token"].as_bool() == Some(true) {
            Pooling::Cls
        } else {
            Pooling::Mean
        }
    });
    let max_len = read("sentence_bert_config.json")
        .and_then(|v| v["max_seq_length"].as_u64())
        .map(|n| n as usize);
    let normalize = read("modules.json")
        .and_then(|v| {
            v.as_array().map(|mods| {
                mods.iter()
                    .any(|m| m["type"].as_str().is_some_and(|t| t.ends_with("Normalize")))
            })
        })
        .unwrap_or(true);
    (pooling, max_len, normalize)
}
