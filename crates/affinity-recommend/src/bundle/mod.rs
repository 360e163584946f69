//! A fitted recommender kept on disk: the **bundle** directory that
//! [`Recommender::save`](crate::pipeline::Recommender::save) writes and [`Recommender::load`](crate::pipeline::Recommender::load) reads.
//!
//! ```text
//! manifest.json              format version, settings, counts, sources, size + BLAKE3 of each file
//! catalog.json               item ids and their text fields
//! users.json                 user ids and order ids
//! events.safetensors         the event log fitted on (user, item, time, kind, weight, order)
//! cooccurrence.safetensors   pair counts within baskets (compressed sparse rows)
//! rules.json                 the mined rules with their measures
//! vectors.safetensors        item vectors, L2-normalised (f32 or bf16)
//! user_vectors.safetensors   each user's history vector, when cached (optional)
//! encoder/                   the language model (a Hugging Face directory, or LoRA adapters)
//! sequential/                the sequential history tower's settings and weights (optional)
//! sequential_vectors.safetensors  its item vectors, which history vectors are compared with
//! ```
//!
//! Histories and popularity are derived from the event log when loading; the event log is what
//! lets [`Recommender::update`](crate::pipeline::Recommender::update) fold new events in exactly as a refit would, without the raw
//! data. A bundle is written to a temporary directory and renamed into place, and every file is
//! checked against the manifest when it is read.

mod arrays;
mod encoder;
mod load;
pub mod manifest;
mod save;
mod store;

use std::path::Path;

use affinity_data::{EventKind, IdMap, ItemText};
#[cfg(feature = "model")]
use affinity_tune::{DeviceChoice, Precision};
use serde::{Deserialize, Serialize};

use crate::pipeline::error::corrupt;

use crate::pipeline::Result;
pub use load::read_manifest;
pub use manifest::{
    seal, Counts, EncodedIn, EncoderEntry, EncoderStorage, FileEntry, Manifest, RankingEntry,
    ReadRecord, SequentialEntry, SourceEntry, Tuning, VectorType, VectorsEntry, FORMAT,
    FORMAT_VERSION,
};
pub use store::{digest_file, now_rfc3339, MANIFEST};

const CATALOG: &str = "catalog.json";
const USERS: &str = "users.json";
const EVENTS: &str = "events.safetensors";
const COOCCURRENCE: &str = "cooccurrence.safetensors";
const RULES: &str = "rules.json";
const VECTORS: &str = "vectors.safetensors";
const USER_VECTORS: &str = "user_vectors.safetensors";
const SEQUENTIAL: &str = "sequential";
const SEQUENTIAL_VECTORS: &str = "sequential_vectors.safetensors";

/// How a bundle is written.
#[derive(Debug, Clone, Default)]
pub struct BundleSaveOptions {
    /// Number format of the item vectors.
    pub vectors: VectorType,
    /// With LoRA adapters: keep the base model full in the bundle (merged) instead of the
    /// adapters plus a pinned reference to the base.
    pub merge_lora: bool,
}

/// How a bundle is loaded.
#[derive(Debug, Clone)]
pub struct BundleLoadOptions {
    /// Load the language model (needed to encode histories and queries). Without the `model`
    /// feature it is never loaded: item vectors, cached user vectors, rules and the rest are.
    pub encoder: bool,
    /// Where the model runs.
    #[cfg(feature = "model")]
    #[cfg_attr(docsrs, doc(cfg(feature = "model")))]
    pub device: DeviceChoice,
    /// Precision of new encodings; `None` uses the one the item vectors were computed in.
    #[cfg(feature = "model")]
    #[cfg_attr(docsrs, doc(cfg(feature = "model")))]
    pub precision: Option<Precision>,
    /// Texts per forward pass.
    pub batch_size: usize,
}

impl Default for BundleLoadOptions {
    fn default() -> Self {
        BundleLoadOptions {
            encoder: true,
            #[cfg(feature = "model")]
            device: DeviceChoice::Auto,
            #[cfg(feature = "model")]
            precision: None,
            batch_size: 64,
        }
    }
}

/// Where a fitted recommender came from: kept in the manifest, carried through updates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// How the ranking was tuned, if it was.
    pub tuning: Option<Tuning>,
    /// Data files fitted and updated on.
    pub sources: Vec<SourceEntry>,
    /// Continual fine-tuning runs after updates, oldest first.
    pub fine_tuning: Vec<crate::pipeline::ContinualReport>,
}

#[derive(Serialize, Deserialize)]
struct CatalogFile {
    items: Vec<String>,
    text: Vec<ItemText>,
}

#[derive(Serialize, Deserialize)]
struct UsersFile {
    users: Vec<String>,
    orders: Vec<String>,
}

const KINDS: [EventKind; 4] = [
    EventKind::View,
    EventKind::Click,
    EventKind::Cart,
    EventKind::Purchase,
];

fn kind_code(kind: EventKind) -> u8 {
    KINDS
        .iter()
        .position(|&k| k == kind)
        .expect("every kind listed") as u8
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("bundle parts serialize")
}

fn parse_json<'a, T: Deserialize<'a>>(path: &Path, bytes: &'a [u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(path, e.to_string()))
}

fn id_map(path: &Path, names: &[String], what: &str) -> Result<IdMap> {
    let mut map = IdMap::default();
    for name in names {
        if map.intern(name) as usize != map.len() - 1 {
            return Err(corrupt(path, format!("{what} {name:?} is listed twice")));
        }
    }
    Ok(map)
}
