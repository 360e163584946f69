//! Writing a bundle: every file through one staged directory, the manifest last.

use super::arrays::Array;
use super::manifest::{
    Counts, EncodedIn, Manifest, RankingEntry, SequentialEntry, VectorType, VectorsEntry, FORMAT,
};
use super::store::{now_rfc3339, DirWriter};
use super::{
    arrays, encoder, json, kind_code, BundleSaveOptions, CatalogFile, UsersFile, CATALOG,
    COOCCURRENCE, EVENTS, RULES, SEQUENTIAL, SEQUENTIAL_VECTORS, USERS, USER_VECTORS, VECTORS,
};
use crate::pipeline::sequential::SequentialTower;
use crate::pipeline::{Recommender, Result};
use affinity_core::InvalidSetting;
use affinity_data::Interaction;
use std::path::Path;

impl Recommender {
    /// Writes this recommender as a bundle directory at `dir` (replacing a bundle there only
    /// once the new one is complete).
    pub fn save(&self, dir: &Path, options: &BundleSaveOptions) -> Result<Manifest> {
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
                _ if encoder_entry
                    .as_ref()
                    .is_some_and(|e| e.precision == EncodedIn::Int8) =>
                {
                    5
                }
                _ if self.ranks_repeats() => 4,
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
            "the sequential model was not loaded (a build without the `model` feature, or BundleLoadOptions::encoder off), so it cannot be saved",
        ).into());
    }
    Ok(SequentialEntry {
        dir: SEQUENTIAL.into(),
        vectors,
        summary: tower.summary.clone(),
    })
}
