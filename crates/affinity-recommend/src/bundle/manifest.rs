//! `manifest.json`: what a bundle holds, how it was fitted, and the size and BLAKE3 digest of
//! every other file in it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::pipeline::{Candidates, PipelineParams, RankingParams, ScoreWeights};
use affinity_rank::{RepeatParams, TifuParams};

/// The `format` field of every bundle manifest.
pub const FORMAT: &str = "affinity-bundle";
/// The newest layout this build reads; it writes version 1 unless the bundle holds a
/// sequential model (version 2), its model scores with a popularity prior (version 3: an
/// older build would rank by the cosine alone without a word), or it ranks what shoppers buy
/// again (version 4: a repeat weight, repeat settings or candidates other than discover, which
/// an older build would drop), or its encoder encodes in int8 (version 5: an older build
/// would call the manifest corrupt), so that older builds still read what they can rank with.
pub const FORMAT_VERSION: u32 = 5;

/// The manifest of a bundle directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Layout version ([`FORMAT_VERSION`] when written by this build).
    pub format_version: u32,
    /// The affinity version that wrote it.
    pub crate_version: String,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    /// Which events the counts, histories, co-occurrence and rules come from.
    pub fitted_on: String,
    /// The settings it was fitted with; an update mines with the same ones.
    pub settings: PipelineParams,
    /// How it ranks: weights and MMR lambda (chosen on validation when `tuning` is set).
    pub ranking: RankingEntry,
    /// How the ranking was chosen, when it was tuned.
    pub tuning: Option<Tuning>,
    /// Sizes.
    pub counts: Counts,
    /// The language model, when there is one.
    pub encoder: Option<EncoderEntry>,
    /// The item vectors, when there is a model.
    pub vectors: Option<VectorsEntry>,
    /// Each user's history vector, when cached (absent from older bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_vectors: Option<VectorsEntry>,
    /// The sequential history tower, when fitted (format version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<SequentialEntry>,
    /// The data it was fitted on, then each update's.
    pub sources: Vec<SourceEntry>,
    /// Continual fine-tuning after updates (validation before and after, old and new users).
    #[serde(default)]
    pub fine_tuning: Vec<crate::pipeline::ContinualReport>,
    /// Every other file: path relative to the bundle, size and digest.
    pub files: BTreeMap<String, FileEntry>,
    /// BLAKE3 of this manifest itself (its compact JSON with this field empty), so that an
    /// edited setting is caught like an edited file.
    pub digest: String,
}

/// The digest a manifest should carry.
fn own_digest(manifest: &Manifest) -> String {
    let unsealed = Manifest {
        digest: String::new(),
        ..manifest.clone()
    };
    let json = serde_json::to_vec(&unsealed).expect("a manifest serializes");
    blake3::hash(&json).to_hex().to_string()
}

/// Sets the manifest's own digest (after any change to it).
pub fn seal(manifest: &mut Manifest) {
    manifest.digest = own_digest(manifest);
}

/// The manifest's own digest when it does not match (expected, found), taken over the file as
/// written (`raw`, whitespace outside strings dropped, its digest emptied), not over the parsed
/// manifest written again: a field added later with a default would change the latter and
/// break the seal of every bundle written before it.
pub(crate) fn check_seal(raw: &[u8], manifest: &Manifest) -> Option<(String, String)> {
    let compact = without_whitespace(raw);
    let sealed = format!("\"digest\":\"{}\"", manifest.digest);
    let unsealed = match find(&compact, sealed.as_bytes()) {
        Some(at) => [
            &compact[..at],
            b"\"digest\":\"\"".as_slice(),
            &compact[at + sealed.len()..],
        ]
        .concat(),
        None => compact,
    };
    let found = blake3::hash(&unsealed).to_hex().to_string();
    (found != manifest.digest).then(|| (manifest.digest.clone(), found))
}

/// JSON text without the whitespace between tokens: what `serde_json::to_vec` writes for the
/// same value as `to_vec_pretty`.
fn without_whitespace(json: &[u8]) -> Vec<u8> {
    let (mut out, mut in_string, mut escaped) = (Vec::with_capacity(json.len()), false, false);
    for &b in json {
        if in_string {
            in_string = escaped || b != b'"';
            escaped = !escaped && b == b'\\';
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_whitespace() {
            continue;
        }
        out.push(b);
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The ranking settings as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingEntry {
    /// Hybrid weights.
    pub weights: ScoreWeights,
    /// MMR lambda (1: off).
    pub mmr_lambda: f32,
    /// Candidates MMR chooses from.
    pub mmr_candidates: usize,
    /// Products per history text.
    pub history_items: usize,
    /// Between titles in a history text.
    pub history_separator: String,
    /// Weight of the log-popularity prior in the language model's score (0, the cosine
    /// alone, in bundles written before it existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub popularity_prior: f32,
    /// Which items lists offer unless a request asks otherwise (discover when absent).
    #[serde(default, skip_serializing_if = "Candidates::is_default")]
    pub candidates: Candidates,
    /// How what a shopper buys again is scored (the defaults when absent).
    #[serde(default, skip_serializing_if = "is_default_repeat")]
    pub repeat: RepeatParams,
    /// TIFU-KNN's settings (the defaults when absent).
    #[serde(default, skip_serializing_if = "is_default_tifu")]
    pub tifu: TifuParams,
    /// Exposure-aware re-ranking's weight (0, off, when absent).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub calibration: f32,
}

fn is_default_tifu(p: &TifuParams) -> bool {
    *p == TifuParams::default()
}

fn is_default_repeat(p: &RepeatParams) -> bool {
    *p == RepeatParams::default()
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

impl RankingEntry {
    pub(crate) fn from_ranking(r: &RankingParams) -> Self {
        RankingEntry {
            weights: r.weights,
            mmr_lambda: r.mmr_lambda,
            mmr_candidates: r.mmr_candidates,
            history_items: r.history.max_items,
            history_separator: r.history.separator.clone(),
            popularity_prior: r.popularity_prior,
            candidates: r.candidates,
            repeat: r.repeat,
            tifu: r.tifu,
            calibration: r.calibration,
        }
    }

    pub(crate) fn to_ranking(&self) -> RankingParams {
        RankingParams {
            weights: self.weights,
            mmr_lambda: self.mmr_lambda,
            mmr_candidates: self.mmr_candidates,
            history: affinity_data::HistoryText {
                max_items: self.history_items,
                separator: self.history_separator.clone(),
            },
            popularity_prior: self.popularity_prior,
            candidates: self.candidates,
            repeat: self.repeat,
            tifu: self.tifu,
            calibration: self.calibration,
        }
    }
}

/// How the weights and lambda were chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// What was held out per user for the choice.
    pub hold_out: affinity_data::HoldOut,
    /// The list length scored.
    pub k: usize,
    /// Validation users scored.
    pub users: usize,
    /// NDCG@k of the chosen setting on them.
    pub validation_ndcg: f64,
    /// Gini index of the chosen setting's lists on them (absent in bundles tuned before it
    /// was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_gini: Option<f64>,
    /// The exposure bound the choice was made under
    /// ([`PipelineParams::max_gini`](crate::pipeline::PipelineParams::max_gini)), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gini: Option<f64>,
}

impl Tuning {
    /// Whether the chosen setting meets the exposure bound it was chosen under on the
    /// validation users (true without a bound). When no setting tried meets it, the tuner
    /// keeps the one closest to it and this says so.
    pub fn meets_bound(&self) -> bool {
        match (self.max_gini, self.validation_gini) {
            (Some(bound), Some(gini)) => gini <= bound,
            _ => true,
        }
    }
}

/// Sizes of what the bundle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Users with a history.
    pub users: usize,
    /// Items in the catalogue.
    pub items: usize,
    /// Events fitted on.
    pub events: usize,
    /// Baskets the events form.
    pub baskets: usize,
    /// Rules kept.
    pub rules: usize,
}

/// Where the sequential history tower is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialEntry {
    /// Its directory inside the bundle (settings and weights; needs the `model` feature).
    pub dir: String,
    /// Its item vectors, which history vectors are compared with (read by every build).
    pub vectors: VectorsEntry,
    /// How it was trained.
    pub summary: crate::pipeline::SequentialSummary,
}

/// Where the encoder is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderEntry {
    /// Its directory inside the bundle.
    pub dir: String,
    /// A full model, or adapters over a base outside the bundle.
    pub storage: EncoderStorage,
    /// Longest token sequence.
    pub max_len: usize,
    /// The precision the item vectors were computed in (used again for histories).
    pub precision: EncodedIn,
    /// Output width.
    pub dim: usize,
}

/// The arithmetic of the matrix products the stored vectors were computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodedIn {
    /// fp32 throughout.
    F32,
    /// Matrix products in bf16.
    Bf16,
    /// Linear layers in int8 on the CPU (`--quantize int8`), the rest fp32.
    Int8,
}

/// How the encoder is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum EncoderStorage {
    /// A complete Hugging Face / sentence-transformers directory.
    Full,
    /// LoRA adapters only; the base model stays where it was, pinned by digest.
    Adapter {
        /// The base model directory (absolute).
        base: PathBuf,
        /// BLAKE3 of the base's `model.safetensors`.
        base_weights_blake3: String,
    },
}

/// Number format of the stored item vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorType {
    /// 4 bytes a value: exactly what was computed.
    #[default]
    F32,
    /// 2 bytes a value (bfloat16, rounded to nearest even): half the size.
    Bf16,
}

/// A file of vectors (items', or cached users').
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorsEntry {
    /// Path inside the bundle.
    pub file: String,
    /// Number format.
    pub dtype: VectorType,
    /// One row per item (per user for user vectors).
    pub rows: usize,
    /// Width.
    pub dim: usize,
}

/// A data file the bundle was fitted or updated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// "fit" or "update".
    pub role: String,
    /// The path as given.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its BLAKE3 digest (of the whole file; for multi-file formats, of the main file).
    pub blake3: String,
    /// Events it added (after duplicates were dropped).
    pub events: usize,
    /// When it was read (RFC 3339, UTC).
    pub at: String,
    /// How it was read, where the reader said (`affinity fit` and `update` do): an update
    /// must read timestamps the same way for old and new events to compare.
    pub read: Option<ReadRecord>,
}

/// How a data file was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRecord {
    /// `long`, `baskets`, `fimi` or `unisrec`.
    pub format: String,
    /// How timestamps were read (`auto`, `iso`, `dmy`, `mdy`, `unix`, `unix-ms`).
    pub time_format: String,
    /// The fingerprint of the key user ids were pseudonymised with
    /// ([`affinity_data::PseudonymKey::fingerprint`]); absent when they were kept raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym_key: Option<String>,
}

impl Manifest {
    /// How the newest source that says so was read: what new events must be read like.
    pub fn last_read(&self) -> Option<&ReadRecord> {
        self.sources.iter().rev().find_map(|s| s.read.as_ref())
    }
}

impl SourceEntry {
    /// Describes the data file at `path` (size and digest read from disk).
    pub fn describe(
        role: &str,
        path: &std::path::Path,
        events: usize,
    ) -> crate::pipeline::Result<Self> {
        let (bytes, blake3) = super::store::digest_file(path)?;
        Ok(SourceEntry {
            role: role.into(),
            path: path.to_path_buf(),
            bytes,
            blake3,
            events,
            at: super::store::now_rfc3339(),
            read: None,
        })
    }
}

/// Size and digest of one bundle file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Bytes.
    pub bytes: u64,
    /// BLAKE3, hex.
    pub blake3: String,
}
