//! Bundle manifests: the input is `manifest.json` of a small bundle fitted without a model.
//! Input that reads as a manifest is sealed again before it is written (anyone can reseal an
//! edited manifest: the digest is not a signature), so the fuzzer reaches what the loader
//! does with the fields (paths, sizes, digests, settings, vectors), not only the seal check.
//! A load must end in a typed error or a recommender that answers; never a panic, a hang on a
//! file, or a read outside the bundle.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use affinity_recommend::bundle::{seal, BundleLoadOptions, BundleSaveOptions, Manifest};
use affinity_recommend::pipeline::{Pipeline, PipelineParams, Recommender};
use libfuzzer_sys::fuzz_target;

/// A bundle fitted once per process: 12 shoppers over 3 days, rules and popularity only.
fn pristine() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        let csv = root.path().join("events.csv");
        let mut text = String::from("user,item,time\n");
        for user in 0..12 {
            for day in 1..=3 {
                let other = ["milk", "jam", "tea"][user % 3];
                text += &format!("u{user},bread,2024-01-0{day}\nu{user},{other},2024-01-0{day}\n");
            }
        }
        std::fs::write(&csv, text).unwrap();
        let format = affinity_data::Format::Long(affinity_data::LongCsv::default());
        let (dataset, _) = affinity_data::load(&csv, &format, &Default::default()).unwrap();
        let recommender = Pipeline::new(PipelineParams::default())
            .unwrap()
            .fit(dataset, None, None)
            .unwrap();
        let bundle = root.path().join("bundle");
        recommender.save(&bundle, &BundleSaveOptions::default()).unwrap();
        // The committed seed is this manifest: `AFFINITY_FUZZ_SEED_OUT=FILE` writes it.
        if let Some(out) = std::env::var_os("AFFINITY_FUZZ_SEED_OUT") {
            std::fs::copy(bundle.join("manifest.json"), out).unwrap();
        }
        (root, bundle)
    })
    .1
}

/// The pristine bundle's files linked into `to` (the loader only reads them, and the manifest
/// is written afresh, not through its link). Links, not copies: `std::fs::copy` can fail with
/// EINTR under libFuzzer's timer signal, which a first run of this target reported as a crash
/// of the harness.
fn link_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            link_dir(&entry.path(), &target);
        } else if entry.file_name() != "manifest.json" {
            std::fs::hard_link(entry.path(), target).unwrap();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let scratch = tempfile::tempdir().unwrap();
    let bundle = scratch.path().join("bundle");
    link_dir(pristine(), &bundle);
    let bytes = match serde_json::from_slice::<Manifest>(data) {
        Ok(mut manifest) => {
            seal(&mut manifest);
            serde_json::to_vec(&manifest).unwrap()
        }
        Err(_) => data.to_vec(),
    };
    std::fs::write(bundle.join("manifest.json"), bytes).unwrap();
    if let Ok(recommender) = Recommender::load(&bundle, &BundleLoadOptions::default()) {
        let _ = recommender.recommend_user("u1", 3);
        let _ = recommender.recommend(&[0], 3);
    }
});
