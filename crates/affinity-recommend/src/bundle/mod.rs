//! A fitted recommender kept on disk: the **bundle** directory that
//! [`Recommender::save`] writes and [`Recommender::load`] reads.
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
//! lets [`Recommender::update`] fold new events in exactly as a refit would, without the raw
//! data. A bundle is written to a temporary directory and renamed into place, and every file is
//! checked against the manifest when it is read.

mod arrays;
mod encoder;
pub mod manifest;
mod store;

use affinity_core::InvalidSetting;
use std::path::Path;

use affinity_data::{Catalog, EventKind, IdMap, Interaction, ItemText};
use affinity_mine::Rule;
use affinity_rank::CooccurrenceCounts;
#[cfg(feature = "model")]
use affinity_tune::{DeviceChoice, Precision};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::pipeline::error::corrupt;

use crate::pipeline::sequential::SequentialTower;
use crate::pipeline::{check_popularity_prior, Fitted, Recommender, Result};
use arrays::{Array, Arrays};
pub use manifest::{
    seal, Counts, EncodedIn, EncoderEntry, EncoderStorage, FileEntry, Manifest, RankingEntry,
    ReadRecord, SequentialEntry, SourceEntry, Tuning, VectorType, VectorsEntry, FORMAT,
    FORMAT_VERSION,
};
pub use store::{digest_file, now_rfc3339, MANIFEST};
use store::{DirReader, DirWriter};

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
pub struct SaveOptions {
    /// Number format of the item vectors.
    pub vectors: VectorType,
    /// With LoRA adapters: keep the base model full in the bundle (merged) instead of the
    /// adapters plus a pinned reference to the base.
    pub merge_lora: bool,
}

/// How a bundle is loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
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

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
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

impl Recommender {
    /// Writes this recommender as a bundle directory at `dir` (replacing a bundle there only
    /// once the new one is complete).
    pub fn save(&self, dir: &Path, options: &SaveOptions) -> Result<Manifest> {
        let mut writer = DirWriter::create(dir)?;
        let f = self.fitted();
        writer.write(
            CATALOG,
            &json(&CatalogFile {
                items: f.items.names().to_vec(),
                text: f.catalog.entries()[..f.n_items()].to_vec(),
            }),
        )?;
        writer.write(
            USERS,
            &json(&UsersFile {
                users: f.users.names().to_vec(),
                orders: f.orders.names().to_vec(),
            }),
        )?;
        let ev = &f.events;
        let column = |get: fn(&Interaction) -> u32| ev.iter().map(get).collect::<Vec<u32>>();
        writer.write(
            EVENTS,
            &arrays::serialize(&[
                Array::u32s("user", &column(|e| e.user)),
                Array::u32s("item", &column(|e| e.item)),
                Array::i64s(
                    "timestamp",
                    &ev.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
                ),
                Array::u8s(
                    "kind",
                    &ev.iter().map(|e| kind_code(e.kind)).collect::<Vec<_>>(),
                ),
                Array::f32s("weight", &ev.iter().map(|e| e.weight).collect::<Vec<_>>()),
                Array::u32s("order", &column(|e| e.order.unwrap_or(u32::MAX))),
            ]),
        )?;
        let c = f.cooccurrence.counts();
        writer.write(
            COOCCURRENCE,
            &arrays::serialize(&[
                Array::u32s("item_counts", &c.item_counts),
                Array::u64s("offsets", &c.offsets),
                Array::u32s("neighbours", &c.neighbours),
                Array::u32s("pair_counts", &c.pair_counts),
            ]),
        )?;
        writer.write(RULES, &json(&f.rules))?;
        let vectors_entry = match self.item_vectors() {
            Some(v) => Some(write_matrix(&mut writer, VECTORS, v, options.vectors)?),
            None => None,
        };
        let user_vectors_entry = match self.user_vectors() {
            Some(v) => Some(write_matrix(&mut writer, USER_VECTORS, v, options.vectors)?),
            None => None,
        };
        let sequential_entry = match &self.sequential {
            Some(tower) => Some(save_sequential(tower, &mut writer, options.vectors)?),
            None => None,
        };
        let encoder_entry = match self.encoder() {
            Some(encoder) => Some(encoder::save(&encoder, &mut writer, options)?),
            None => None,
        };
        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: match (self.ranking.popularity_prior > 0.0, &sequential_entry) {
                (true, _) => 3,
                (false, Some(_)) => 2,
                (false, None) => 1,
            },
            crate_version: env!("CARGO_PKG_VERSION").into(),
            created: now_rfc3339(),
            fitted_on: "all events of the sources".into(),
            settings: f.config.clone(),
            ranking: RankingEntry::from_ranking(self.ranking_settings()),
            tuning: self.provenance.tuning.clone(),
            counts: Counts {
                users: f.n_users(),
                items: f.n_items(),
                events: f.events.len(),
                baskets: f.baskets,
                rules: f.rules.len(),
            },
            encoder: encoder_entry,
            vectors: vectors_entry,
            user_vectors: user_vectors_entry,
            sequential: sequential_entry,
            sources: self.provenance.sources.clone(),
            fine_tuning: self.provenance.fine_tuning.clone(),
            files: Default::default(),
            digest: String::new(),
        };
        writer.finish(manifest)
    }

    /// Loads a bundle directory written by [`Recommender::save`], checking every file against
    /// the manifest: a missing file, a size or digest mismatch, a malformed file, a newer
    /// format or parts that disagree with each other are each a typed error naming the file.
    ///
    /// ```no_run
    /// use affinity_recommend::pipeline::Recommender;
    /// let recommender = Recommender::load("bundles/groceries".as_ref(), &Default::default())?;
    /// let recs = recommender.recommend_user("1808", 5)?;
    /// # Ok::<(), affinity_recommend::pipeline::PipelineError>(())
    /// ```
    pub fn load(dir: &Path, options: &LoadOptions) -> Result<Self> {
        let reader = DirReader::open(dir)?;
        let m = reader.manifest();
        // The language model loads (and its files are checked) on another thread while the
        // rest of the bundle is read and checked here.
        let (parts, encoder) = std::thread::scope(|s| {
            let encoder = match (&m.encoder, options.encoder && crate::model::AVAILABLE) {
                (Some(entry), true) => Some(s.spawn(|| encoder::load(&reader, entry, options))),
                _ => None,
            };
            let parts = read_parts(&reader, dir);
            let encoder = encoder.map(|job| job.join().expect("loading the encoder panicked"));
            (parts, encoder)
        });
        let (fitted, vectors, user_vectors) = parts?;
        let encoder = encoder.transpose()?;
        if let (Some(e), Some(v)) = (&encoder, &vectors) {
            if crate::model::dim(e) != v.ncols() {
                return Err(corrupt(
                    &dir.join(VECTORS),
                    format!(
                        "vectors of width {}, the encoder gives {}",
                        v.ncols(),
                        crate::model::dim(e)
                    ),
                ));
            }
        }
        let n_items = fitted.n_items();
        // The saved ranking's prior (whatever the encoder's own card says): a bad one is a
        // bad manifest.
        check_popularity_prior(m.ranking.popularity_prior)
            .map_err(|e| corrupt(&dir.join(store::MANIFEST), e.to_string()))?;
        let mut recommender =
            Recommender::with_vectors(fitted, encoder, vectors, m.ranking.to_ranking())?;
        if let Some(entry) = &m.sequential {
            recommender.sequential = Some(load_sequential(&reader, dir, entry, n_items, options)?);
        }
        recommender
            .set_user_vectors(user_vectors)
            .map_err(|e| corrupt(&dir.join(USER_VECTORS), e.to_string()))?;
        recommender.provenance = Provenance {
            tuning: m.tuning.clone(),
            sources: m.sources.clone(),
            fine_tuning: m.fine_tuning.clone(),
        };
        Ok(recommender)
    }
}

/// Everything but the encoder: the fitted data, the item vectors and the cached user
/// vectors, each file checked.
#[allow(clippy::type_complexity)]
fn read_parts(
    reader: &DirReader,
    dir: &Path,
) -> Result<(Fitted, Option<Array2<f32>>, Option<Array2<f32>>)> {
    let m = reader.manifest();
    let path = |name: &str| dir.join(name);
    let catalog: CatalogFile = parse_json(&path(CATALOG), &reader.read(CATALOG)?)?;
    let items = id_map(&path(CATALOG), &catalog.items, "item")?;
    if catalog.text.len() != items.len() {
        return Err(corrupt(
            &path(CATALOG),
            format!("{} texts for {} items", catalog.text.len(), items.len()),
        ));
    }
    let users_file: UsersFile = parse_json(&path(USERS), &reader.read(USERS)?)?;
    let users = id_map(&path(USERS), &users_file.users, "user")?;
    let orders = id_map(&path(USERS), &users_file.orders, "order")?;
    let events = read_events(
        &path(EVENTS),
        &reader.read(EVENTS)?,
        &items,
        &users,
        &orders,
    )?;
    let cooc_bytes = reader.read(COOCCURRENCE)?;
    let cooc_path = path(COOCCURRENCE);
    let cooc = Arrays::parse(&cooc_path, &cooc_bytes)?;
    let counts = CooccurrenceCounts {
        item_counts: cooc.u32s("item_counts")?,
        offsets: cooc.u64s("offsets")?,
        neighbours: cooc.u32s("neighbours")?,
        pair_counts: cooc.u32s("pair_counts")?,
    };
    if counts.len() != items.len() {
        return Err(corrupt(
            &path(COOCCURRENCE),
            format!(
                "counts for {} items, the catalogue has {}",
                counts.len(),
                items.len()
            ),
        ));
    }
    let rules: Vec<Rule> = parse_json(&path(RULES), &reader.read(RULES)?)?;
    if let Some(bad) = rules.iter().find(|r| {
        r.consequent.len() != 1
            || r.antecedent.is_empty()
            || r.antecedent
                .iter()
                .chain(&r.consequent)
                .any(|&i| i as usize >= items.len())
    }) {
        return Err(corrupt(
            &path(RULES),
            format!(
                "rule {:?} -> {:?} does not fit the catalogue",
                bad.antecedent, bad.consequent
            ),
        ));
    }
    let n_items = items.len();
    let ids = crate::pipeline::fitted::Ids {
        items,
        catalog: Catalog::from_entries(catalog.text),
        users,
        orders,
    };
    let fitted = Fitted::restore(
        ids,
        events,
        m.settings.clone(),
        m.counts.baskets,
        counts,
        rules,
    )
    .map_err(|e| corrupt(&path(COOCCURRENCE), e.to_string()))?;
    let expected = Counts {
        users: fitted.n_users(),
        items: fitted.n_items(),
        events: fitted.events.len(),
        baskets: m.counts.baskets,
        rules: fitted.rules.len(),
    };
    if expected != m.counts {
        return Err(corrupt(
            &path(MANIFEST),
            format!(
                "counts {:?} disagree with the files ({expected:?})",
                m.counts
            ),
        ));
    }

    let vectors = match &m.vectors {
        Some(entry) => Some(read_matrix(
            reader,
            dir,
            entry,
            n_items,
            "items in the catalogue",
        )?),
        None => None,
    };
    let user_vectors = match (&m.user_vectors, &m.vectors) {
        (Some(entry), Some(items)) if entry.dim == items.dim => Some(read_matrix(
            reader,
            dir,
            entry,
            fitted.n_users(),
            "users in the bundle",
        )?),
        (Some(entry), _) => {
            return Err(corrupt(
                &path(&entry.file),
                "user vectors need item vectors of the same width",
            ))
        }
        (None, _) => None,
    };
    Ok((fitted, vectors, user_vectors))
}

/// Writes one matrix of vectors (`rows x dim`) and describes it for the manifest.
fn write_matrix(
    writer: &mut DirWriter,
    name: &str,
    v: ndarray::ArrayView2<'_, f32>,
    dtype: VectorType,
) -> Result<VectorsEntry> {
    let (rows, dim) = v.dim();
    let values: Vec<f32> = v.iter().copied().collect();
    let bf16 = dtype == VectorType::Bf16;
    writer.write(
        name,
        &arrays::serialize(&[Array::matrix("vectors", rows, dim, &values, bf16)]),
    )?;
    Ok(VectorsEntry {
        file: name.into(),
        dtype,
        rows,
        dim,
    })
}

/// Reads a matrix of vectors, checking it has one row per `what` (`expected` of them).
fn read_matrix(
    reader: &DirReader,
    dir: &Path,
    entry: &VectorsEntry,
    expected: usize,
    what: &str,
) -> Result<Array2<f32>> {
    let file = dir.join(&entry.file);
    let bytes = reader.read(&entry.file)?;
    let (rows, dim, values) = Arrays::parse(&file, &bytes)?.matrix("vectors")?;
    if rows != expected || dim != entry.dim || rows != entry.rows {
        return Err(corrupt(
            &file,
            format!(
                "vectors are {rows} x {dim} for {expected} {what}; the manifest says {} x {}",
                entry.rows, entry.dim
            ),
        ));
    }
    Ok(Array2::from_shape_vec((rows, dim), values).expect("rows x dim values"))
}

/// The manifest of the bundle in `dir` (its format version checked).
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    Ok(DirReader::open(dir)?.manifest().clone())
}

fn read_events(
    file: &Path,
    bytes: &[u8],
    items: &IdMap,
    users: &IdMap,
    orders: &IdMap,
) -> Result<Vec<Interaction>> {
    let a = Arrays::parse(file, bytes)?;
    let user = a.u32s("user")?;
    let n = user.len();
    a.same_len(&["item", "timestamp", "kind", "weight", "order"], n)?;
    let (item, timestamp, kind, weight, order) = (
        a.u32s("item")?,
        a.i64s("timestamp")?,
        a.u8s("kind")?,
        a.f32s("weight")?,
        a.u32s("order")?,
    );
    let mut events = Vec::with_capacity(n);
    for i in 0..n {
        let bad = |what: &str| corrupt(file, format!("event {i}: {what} out of range"));
        if user[i] as usize >= users.len() {
            return Err(bad("user"));
        }
        if item[i] as usize >= items.len() {
            return Err(bad("item"));
        }
        let kind = *KINDS.get(kind[i] as usize).ok_or_else(|| bad("kind"))?;
        let order = match order[i] {
            u32::MAX => None,
            o if (o as usize) < orders.len() => Some(o),
            _ => return Err(bad("order")),
        };
        events.push(Interaction {
            user: user[i],
            item: item[i],
            timestamp: timestamp[i],
            kind,
            weight: weight[i],
            order,
        });
    }
    Ok(events)
}

/// Writes the sequential tower: its item vectors, and the model's own directory.
fn save_sequential(
    tower: &SequentialTower,
    writer: &mut DirWriter,
    dtype: VectorType,
) -> Result<SequentialEntry> {
    let vectors = write_matrix(writer, SEQUENTIAL_VECTORS, tower.item_vectors(), dtype)?;
    #[cfg(feature = "model")]
    let saved = match tower.model() {
        Some(model) => {
            model.save(&writer.staging_path(SEQUENTIAL))?;
            writer.record_dir(SEQUENTIAL)?;
            true
        }
        None => false,
    };
    #[cfg(not(feature = "model"))]
    let saved = false;
    if !saved {
        return Err(InvalidSetting::new(
            "sequential",
            "the sequential model was not loaded (a build without the `model` feature, or LoadOptions::encoder off), so it cannot be saved",
        ).into());
    }
    Ok(SequentialEntry {
        dir: SEQUENTIAL.into(),
        vectors,
        summary: tower.summary.clone(),
    })
}

/// Reads the sequential tower: its item vectors always, the model where this build runs it
/// and the options load models.
fn load_sequential(
    reader: &DirReader,
    dir: &Path,
    entry: &SequentialEntry,
    n_items: usize,
    options: &LoadOptions,
) -> Result<SequentialTower> {
    let items = read_matrix(
        reader,
        dir,
        &entry.vectors,
        n_items,
        "items in the catalogue",
    )?;
    #[cfg(feature = "model")]
    {
        let model = if options.encoder {
            reader.verify_dir(&entry.dir)?;
            Some(affinity_tune::SequentialRecommender::load(
                &reader.path(&entry.dir),
            )?)
        } else {
            None
        };
        // The vectors have one row per catalogue item (read_matrix); the tower checks that the
        // model agrees with them.
        SequentialTower::with_items(model, items, entry.summary.clone())
            .map_err(|e| corrupt(&reader.path(&entry.dir), e.to_string()))
    }
    #[cfg(not(feature = "model"))]
    {
        let _ = options;
        SequentialTower::with_items(items, entry.summary.clone())
    }
}
