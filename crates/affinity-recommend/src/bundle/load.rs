//! Reading a bundle: every file checked against the manifest as it is read, the language model
//! loaded on another thread meanwhile.

use super::arrays::Arrays;
use super::manifest::{Counts, Manifest, SequentialEntry, VectorsEntry};
use super::store::{DirReader, MANIFEST};
use super::{
    encoder, id_map, parse_json, store, BundleLoadOptions, CatalogFile, Provenance, UsersFile,
    CATALOG, COOCCURRENCE, EVENTS, KINDS, RULES, USERS, USER_VECTORS, VECTORS,
};
use crate::pipeline::error::corrupt;
use crate::pipeline::sequential::SequentialTower;
use crate::pipeline::{Fitted, Recommender, Result};
use affinity_data::{Catalog, IdMap, Interaction};
use affinity_mine::Rule;
use affinity_rank::CooccurrenceCounts;
use ndarray::Array2;
use std::path::Path;

impl Recommender {
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
    pub fn load(dir: &Path, options: &BundleLoadOptions) -> Result<Self> {
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
        // The saved ranking settings (the prior whatever the encoder's own card says): a bad
        // one is a bad manifest, refused as `fit` refuses it.
        let ranking = m.ranking.to_ranking();
        ranking
            .check()
            .map_err(|e| corrupt(&dir.join(store::MANIFEST), e.to_string()))?;
        let mut recommender = Recommender::with_vectors(fitted, encoder, vectors, ranking)?;
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

/// The manifest of the bundle in `dir` (its format version checked).
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    Ok(DirReader::open(dir)?.manifest().clone())
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

/// Reads the sequential tower: its item vectors always, the model where this build runs it
/// and the options load models.
fn load_sequential(
    reader: &DirReader,
    dir: &Path,
    entry: &SequentialEntry,
    n_items: usize,
    options: &BundleLoadOptions,
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
