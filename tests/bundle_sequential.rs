//! A recommender whose histories are read by the sequential tower: it learns what the text
//! cannot tell (order), saves and loads exactly, serves cached users without any model, and
//! takes new items in an update.

use std::path::Path;

use affinity::bundle::{BundleLoadOptions, BundleSaveOptions};
use affinity::data::{load, Dataset, Format, LoadOptions as DataOptions, LongCsv};
use affinity::pipeline::{FitParams, Pipeline, PipelineError, PipelineParams, Recommender};
use affinity::tune::{DeviceChoice, SequentialParams};
mod common;

/// Items on a ring of `RING`: every shopper walks it in order from their own start, so the next
/// item is always the one after the newest. The titles say nothing about the order.
const RING: u32 = 8;

fn csv(users: std::ops::Range<u32>, steps: u32, extra: &str) -> String {
    let mut text = String::from("user,item,timestamp,title\n");
    for u in users {
        for t in 0..steps {
            let item = (u + t) % RING;
            text += &format!(
                "u{u},item{item},{},product number {item}\n",
                86_400 * (t + 1)
            );
        }
    }
    text + extra
}

fn dataset(dir: &Path, name: &str, text: &str) -> Dataset {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    load(
        &path,
        &Format::Long(LongCsv::default()),
        &DataOptions::default(),
    )
    .unwrap()
    .0
}

fn params() -> SequentialParams {
    SequentialParams {
        hidden: 16,
        heads: 2,
        max_history: 3,
        dropout: 0.1,
        learning_rate: 5e-3,
        batch_size: 16,
        epochs: 30,
        patience: 5,
        ..SequentialParams::default()
    }
}

fn cpu(models: bool) -> BundleLoadOptions {
    affinity::tune::tch::set_num_threads(1);
    BundleLoadOptions {
        encoder: models,
        device: DeviceChoice::Cpu,
        ..BundleLoadOptions::default()
    }
}

fn fit(dir: &Path) -> Recommender {
    let pipeline = Pipeline::new(PipelineParams::builder().k(3).build().unwrap()).unwrap();
    let options = FitParams {
        tune_users: Some(100),
        sequential: Some(params()),
    };
    let encoder = common::tiny_encoder(&dir.join("model"), Some(16));
    let data = dataset(dir, "ring.csv", &csv(0..48, 7, ""));
    pipeline.fit_with(data, Some(encoder), &options).unwrap()
}

fn top(r: &Recommender, history: &[u32]) -> u32 {
    r.recommend(history, 1).unwrap()[0].item
}

fn answers(r: &Recommender) -> Vec<Vec<(u32, f32)>> {
    r.fitted()
        .users
        .names()
        .iter()
        .map(|u| {
            let recs = r.recommend_user(u, 3).unwrap();
            recs.iter().map(|x| (x.item, x.score)).collect()
        })
        .collect()
}

#[test]
fn the_sequential_tower_learns_order_and_saves_loads_and_updates() {
    let dir = tempfile::tempdir().unwrap();
    let mut fitted = fit(dir.path());
    let summary = fitted.sequential().expect("a tower").clone();
    assert!(
        summary.validation_ndcg_after > summary.validation_ndcg_before + 0.2,
        "training must help: {summary:?}"
    );
    assert!(fitted.reads_histories());
    // The next item on the ring, for histories it never saw whole.
    let ids: Vec<u32> = (0..RING)
        .map(|n| fitted.item_id(&format!("item{n}")).unwrap())
        .collect();
    let id = |n: u32| ids[n as usize];
    for start in 0..RING {
        let history: Vec<u32> = (0..3).map(|t| id((start + t) % RING)).collect();
        assert_eq!(
            top(&fitted, &history),
            id((start + 3) % RING),
            "after {history:?}"
        );
    }

    // Saved (format 2) and loaded: the same lists, by history and by user id.
    fitted.cache_user_vectors().unwrap();
    let bundle = dir.path().join("bundle");
    let manifest = fitted.save(&bundle, &BundleSaveOptions::default()).unwrap();
    assert_eq!(manifest.format_version, 2);
    assert_eq!(manifest.sequential.as_ref().unwrap().summary, summary);
    let loaded = Recommender::load(&bundle, &cpu(true)).unwrap();
    assert_eq!(answers(&loaded), answers(&fitted));
    let history = vec![id(5), id(6)];
    assert_eq!(
        loaded.recommend(&history, 3).unwrap(),
        fitted.recommend(&history, 3).unwrap()
    );

    // Without loading any model: cached users rank exactly as before, histories cannot be read.
    let bare = Recommender::load(&bundle, &cpu(false)).unwrap();
    assert!(!bare.reads_histories() && !bare.has_encoder());
    assert_eq!(answers(&bare), answers(&fitted));
    let bare_bundle = dir.path().join("bare");
    let refused = bare.save(&bare_bundle, &BundleSaveOptions::default());
    assert!(
        matches!(refused, Err(PipelineError::InvalidSetting(_))),
        "{refused:?}"
    );
    assert!(!bare_bundle.exists(), "nothing half-written");

    // An update with a new item: the tower grows, every cached user vector is current.
    let new = dataset(
        dir.path(),
        "new.csv",
        &csv(48..52, 4, "u1,item99,999999,a brand new product\n"),
    );
    let (updated, report) = loaded.update(&new).unwrap();
    assert_eq!(report.new_items, 1);
    assert_eq!(
        updated.history_item_vectors().unwrap().nrows(),
        updated.len()
    );
    let cached = updated.user_vectors().unwrap().to_owned();
    let fresh = updated
        .history_vectors(&updated.fitted().histories)
        .unwrap();
    let worst = (&cached - &fresh).iter().fold(0f32, |m, d| m.max(d.abs()));
    assert!(worst < 1e-5, "stale user vectors: {worst}");
    let saved = updated
        .save(&dir.path().join("updated"), &BundleSaveOptions::default())
        .unwrap();
    assert_eq!(saved.sequential.unwrap().vectors.rows, updated.len());

    // A damaged tower names its file.
    std::fs::remove_file(bundle.join("sequential/sequential.safetensors")).unwrap();
    match Recommender::load(&bundle, &cpu(true)) {
        Err(PipelineError::BundleMissing { path }) => {
            assert!(
                path.ends_with("sequential/sequential.safetensors"),
                "{path:?}"
            )
        }
        other => panic!("expected a missing file, got {other:?}"),
    }
}

#[test]
fn a_sequential_tower_needs_text_vectors_and_valid_settings() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::new(PipelineParams::default()).unwrap();
    let data = dataset(dir.path(), "ring.csv", &csv(0..8, 4, ""));
    let no_model = FitParams {
        sequential: Some(params()),
        ..FitParams::default()
    };
    let err = pipeline
        .fit_with(data.clone(), None, &no_model)
        .unwrap_err();
    assert!(err.to_string().contains("text vectors"), "{err}");
    let bad = FitParams {
        sequential: Some(SequentialParams {
            heads: 3,
            ..params()
        }),
        ..FitParams::default()
    };
    let encoder = common::tiny_encoder(&dir.path().join("model"), Some(16));
    let err = pipeline.fit_with(data, Some(encoder), &bad).unwrap_err();
    assert!(err.to_string().contains("heads"), "{err}");
    // Two items per shopper: one is the validation item, nothing is left to train on.
    let short = dataset(dir.path(), "short.csv", &csv(0..8, 2, ""));
    let encoder = common::tiny_encoder(&dir.path().join("model"), Some(16));
    let err = pipeline
        .fit_with(short, Some(encoder), &no_model)
        .unwrap_err();
    assert!(err.to_string().contains("nothing to train"), "{err}");
}
