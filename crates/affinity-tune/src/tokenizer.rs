//! WordPiece tokenization into padded id and mask tensors.

use affinity_core::InvalidSetting;
use std::path::{Path, PathBuf};

use rust_tokenizers::tokenizer::{BertTokenizer, Tokenizer, TruncationStrategy};
use rust_tokenizers::vocab::Vocab;
use tch::{Device, Kind, Tensor};

use crate::error::{Result, TuneError};

/// A batch ready for the encoder: token ids and attention mask, both `[batch, len]` int64,
/// padded to the longest sequence in the batch.
#[derive(Debug)]
pub struct TokenBatch {
    /// Token ids, padding with the pad id.
    pub ids: Tensor,
    /// 1 where a token is real, 0 where it is padding.
    pub mask: Tensor,
}

impl TokenBatch {
    /// Moves both tensors to `device`.
    pub fn to(&self, device: Device) -> TokenBatch {
        TokenBatch {
            ids: self.ids.to_device(device),
            mask: self.mask.to_device(device),
        }
    }

    /// Sequences in the batch.
    pub fn len(&self) -> usize {
        self.ids.size()[0] as usize
    }

    /// Whether the batch holds no sequence.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// BERT's WordPiece tokenizer read from `vocab.txt`, lower-casing as the model's
/// `tokenizer_config.json` says (Hugging Face's defaults otherwise).
pub struct WordPiece {
    inner: BertTokenizer,
    pad_id: i64,
    max_len: usize,
    vocab_path: PathBuf,
}

impl std::fmt::Debug for WordPiece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordPiece")
            .field("vocab", &self.vocab_path)
            .field("max_len", &self.max_len)
            .finish()
    }
}

impl WordPiece {
    /// Reads `vocab.txt` (and `tokenizer_config.json` when present) from a model directory.
    /// Sequences longer than `max_len` tokens (special tokens included) are truncated.
    pub fn from_dir(dir: &Path, max_len: usize) -> Result<Self> {
        let vocab_path = dir.join("vocab.txt");
        if !vocab_path.is_file() {
            return Err(TuneError::io(
                &vocab_path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "vocab.txt not found"),
            ));
        }
        let (lower, strip) = lower_casing(dir);
        let inner = BertTokenizer::from_file(&vocab_path, lower, strip).map_err(|e| {
            TuneError::Tokenizer {
                path: vocab_path.clone(),
                detail: e.to_string(),
            }
        })?;
        if max_len < 2 {
            return Err(
                InvalidSetting::new("max_len", "must leave room for [CLS] and [SEP]").into(),
            );
        }
        let pad_id = inner.vocab().token_to_id("[PAD]");
        Ok(WordPiece {
            inner,
            pad_id,
            max_len,
            vocab_path,
        })
    }

    /// Token ids the vocabulary uses: the largest plus one.
    pub fn vocab_len(&self) -> usize {
        self.inner
            .vocab()
            .values()
            .values()
            .max()
            .map_or(0, |&id| id as usize + 1)
    }

    /// The vocabulary file this tokenizer was read from.
    pub fn vocab_path(&self) -> &Path {
        &self.vocab_path
    }

    /// Longest sequence, special tokens included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Token ids of one text: `[CLS] ... [SEP]`, truncated to the maximum length.
    pub fn ids(&self, text: &str) -> Vec<i64> {
        self.inner
            .encode(
                text,
                None,
                self.max_len,
                &TruncationStrategy::LongestFirst,
                0,
            )
            .token_ids
    }

    /// Tokenizes and pads a batch of texts.
    pub fn batch<S: AsRef<str>>(&self, texts: &[S]) -> TokenBatch {
        let ids: Vec<Vec<i64>> = texts.iter().map(|t| self.ids(t.as_ref())).collect();
        pad(&ids, self.pad_id)
    }
}

/// Pads id sequences into a batch.
pub(crate) fn pad(ids: &[Vec<i64>], pad_id: i64) -> TokenBatch {
    let len = ids.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut flat = Vec::with_capacity(ids.len() * len);
    let mut mask = Vec::with_capacity(ids.len() * len);
    for row in ids {
        flat.extend_from_slice(row);
        flat.extend(std::iter::repeat_n(pad_id, len - row.len()));
        mask.extend(std::iter::repeat_n(1i64, row.len()));
        mask.extend(std::iter::repeat_n(0i64, len - row.len()));
    }
    let shape = [ids.len() as i64, len as i64];
    TokenBatch {
        ids: Tensor::from_slice(&flat).view(shape),
        mask: Tensor::from_slice(&mask).view(shape),
    }
}

/// Random token batches of a fixed length, for benchmarks and tests.
pub fn random_batch(batch: usize, len: usize, vocab_size: i64) -> TokenBatch {
    let ids = Tensor::randint_low(
        1000.min(vocab_size - 1),
        vocab_size,
        [batch as i64, len as i64],
        (Kind::Int64, Device::Cpu),
    );
    let mask = Tensor::ones([batch as i64, len as i64], (Kind::Int64, Device::Cpu));
    TokenBatch { ids, mask }
}

/// `do_lower_case` and `strip_accents` from `tokenizer_config.json`; Hugging Face strips accents
/// when lower-casing unless told otherwise.
pub(crate) fn lower_casing(dir: &Path) -> (bool, bool) {
    let config: Option<serde_json::Value> =
        std::fs::read_to_string(dir.join("tokenizer_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    let lower = config
        .as_ref()
        .and_then(|c| c["do_lower_case"].as_bool())
        .unwrap_or(true);
    let strip = config
        .as_ref()
        .and_then(|c| c["strip_accents"].as_bool())
        .unwrap_or(lower);
    (lower, strip)
}
