//! Fitted bundles: save/load round trips, every corruption a typed error, and updates that
//! equal a refit on all events.

use std::path::{Path, PathBuf};

use affinity::bundle::{digest_file, BundleLoadOptions, BundleSaveOptions, VectorType};
use affinity::data::{load, Dataset, Format, LoadOptions as DataOptions, LongCsv};
use affinity::pipeline::{
    ContinualParams, Pipeline, PipelineError, PipelineParams, Recommender, ScoreWeights,
};
mod common;

use affinity::tune::{DeviceChoice, SentenceEncoder};
use proptest::prelude::*;

fn tiny_encoder(dir: &Path) -> SentenceEncoder {
    affinity::tune::tch::set_num_threads(1);
    common::tiny_encoder(dir, Some(32))
}

/// One libtorch thread: several tests share the process, and a matrix product split over a
/// varying number of threads may round differently; exact comparisons need one schedule.
fn cpu() -> BundleLoadOptions {
    affinity::tune::tch::set_num_threads(1);
    BundleLoadOptions {
        device: DeviceChoice::Cpu,
        ..BundleLoadOptions::default()
    }
}

/// One CSV row per event: user, item, day, order, and whether the row carries the title.
type Row = (u8, u8, u8, Option<u8>, bool);

fn csv(rows: &[Row]) -> String {
    let mut text = String::from("user,item,timestamp,order,title\n");
    for &(u, i, day, order, titled) in rows {
        let order = order.map_or(String::new(), |o| format!("o{o}"));
        let title = if titled {
            format!("product number {i}")
        } else {
            String::new()
        };
        text += &format!(
            "u{u},item{i},{},{order},{title}\n",
            86_400 * (i64::from(day) + 1)
        );
    }
    text
}

fn load_rows(dir: &Path, name: &str, rows: &[Row]) -> Dataset {
    let path = dir.join(name);
    std::fs::write(&path, csv(rows)).unwrap();
    load(
        &path,
        &Format::Long(LongCsv::default()),
        &DataOptions::default(),
    )
    .unwrap()
    .0
}

/// A shop with structure: bread then butter, fruit lovers, dairy lovers.
fn shop_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for u in 0..60u8 {
        let own: [u8; 3] = if u % 2 == 0 { [2, 3, 4] } else { [5, 6, 7] };
        for day in 0..4u8 {
            rows.push((u, own[(u as usize + day as usize) % 3], day, None, true));
            if (u + day) % 3 == 0 {
                rows.push((u, 0, day, None, true));
                rows.push((u, 1, day, None, day % 2 == 0));
            }
        }
    }
    rows
}

fn pipeline() -> Pipeline {
    Pipeline::new(
        PipelineParams::builder()
            .k(5)
            .min_support(0.02)
            .min_confidence(0.1)
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn fitted_with_model(dir: &Path) -> Recommender {
    let data = load_rows(dir, "shop.csv", &shop_rows());
    let encoder = tiny_encoder(&dir.join("model"));
    pipeline().fit(data, Some(encoder), Some(100)).unwrap()
}

fn all_answers(r: &Recommender) -> Vec<Vec<(String, f32)>> {
    r.fitted()
        .users
        .names()
        .iter()
        .map(|u| {
            r.recommend_user(u, 5)
                .unwrap()
                .into_iter()
                .map(|x| (x.name, x.score))
                .collect()
        })
        .collect()
}

#[test]
fn save_and_load_give_identical_recommendations() {
    let dir = tempfile::tempdir().unwrap();
    let fitted = fitted_with_model(dir.path());
    assert!(fitted.provenance().tuning.is_some(), "tuning is kept");
    let bundle = dir.path().join("bundle");
    let manifest = fitted.save(&bundle, &BundleSaveOptions::default()).unwrap();
    assert_eq!(manifest.counts.users, 60);
    assert!(
        manifest.files.contains_key("encoder/model.safetensors"),
        "{:?}",
        manifest.files.keys()
    );
    let loaded = Recommender::load(&bundle, &cpu()).unwrap();
    assert_eq!(loaded.ranking_settings(), fitted.ranking_settings());
    assert_eq!(loaded.provenance(), fitted.provenance());
    assert_eq!(loaded.rules(), fitted.rules());
    assert_eq!(all_answers(&loaded), all_answers(&fitted));
    assert_eq!(
        loaded.item_vectors().unwrap(),
        fitted.item_vectors().unwrap()
    );
    assert_eq!(
        loaded.search("butter", 3).unwrap(),
        fitted.search("butter", 3).unwrap()
    );
    // A cold start is popular items, not an error.
    let cold = loaded.recommend_user("nobody", 3).unwrap();
    assert_eq!(cold.len(), 3);

    // bf16 vectors: half the vector file, same catalogue, answers still k long.
    let small = dir.path().join("small");
    let manifest16 = fitted
        .save(
            &small,
            &BundleSaveOptions {
                vectors: VectorType::Bf16,
                ..BundleSaveOptions::default()
            },
        )
        .unwrap();
    let size = |m: &affinity::bundle::Manifest| m.files["vectors.safetensors"].bytes;
    assert!(size(&manifest16) * 10 < size(&manifest) * 6);
    let loaded16 = Recommender::load(&small, &cpu()).unwrap();
    let lengths = |r: &Recommender| all_answers(r).iter().map(Vec::len).collect::<Vec<_>>();
    assert_eq!(lengths(&loaded16), lengths(&fitted));

    // Saving over a bundle replaces it and leaves nothing else behind.
    fitted.save(&bundle, &BundleSaveOptions::default()).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".bundle"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A directory that is not a bundle is never replaced.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    assert!(fitted.save(&other, &BundleSaveOptions::default()).is_err());
    assert!(other.join("notes.txt").exists());
}

/// Rewrites `file`'s size and digest in the manifest (as someone who edits a bundle by hand
/// would), so the loader's content checks are reached.
fn reseal(bundle: &Path, file: &str) {
    let path = bundle.join("manifest.json");
    let mut manifest: affinity::bundle::Manifest =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let (bytes, blake3) = digest_file(&bundle.join(file)).unwrap();
    manifest
        .files
        .insert(file.into(), affinity::bundle::FileEntry { bytes, blake3 });
    affinity::bundle::seal(&mut manifest);
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn every_corruption_is_a_typed_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    fitted_with_model(dir.path())
        .save(&good, &BundleSaveOptions::default())
        .unwrap();
    let case = |name: &str, damage: &dyn Fn(&Path)| -> PipelineError {
        let bundle = dir.path().join(name);
        copy_dir(&good, &bundle);
        damage(&bundle);
        Recommender::load(&bundle, &cpu()).expect_err(name)
    };
    let names = |p: &PathBuf, file: &str| p.ends_with(file);

    let e = case("missing", &|b| {
        std::fs::remove_file(b.join("rules.json")).unwrap()
    });
    assert!(
        matches!(&e, PipelineError::BundleMissing { path } if names(path, "rules.json")),
        "{e}"
    );

    let e = case("no-manifest", &|b| {
        std::fs::remove_file(b.join("manifest.json")).unwrap()
    });
    assert!(
        matches!(&e, PipelineError::BundleMissing { path } if names(path, "manifest.json")),
        "{e}"
    );

    let e = case("digest", &|b| {
        let path = b.join("catalog.json");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.iter().position(|&c| c == b'i').unwrap();
        bytes[at] = b'j';
        std::fs::write(path, bytes).unwrap();
    });
    assert!(
        matches!(&e, PipelineError::BundleDigest { path, .. } if names(path, "catalog.json")),
        "{e}"
    );

    let truncate = |b: &Path| {
        let path = b.join("vectors.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(path, &bytes[..bytes.len() - 100]).unwrap();
    };
    let e = case("truncated", &truncate);
    assert!(
        matches!(&e, PipelineError::BundleSize { path, .. } if names(path, "vectors.safetensors")),
        "{e}"
    );
    let e = case("truncated-resealed", &|b| {
        truncate(b);
        reseal(b, "vectors.safetensors");
    });
    assert!(
        matches!(&e, PipelineError::BundleCorrupt { path, .. } if names(path, "vectors.safetensors")),
        "{e}"
    );
    // Ranking settings `fit` refuses, written into a manifest and sealed again, are refused
    // on load as a bad manifest (they used to load and rank).
    for (what, edit) in [
        (
            "weights",
            &(|m: &mut affinity::bundle::Manifest| m.ranking.weights.rules = -1.0)
                as &dyn Fn(&mut affinity::bundle::Manifest),
        ),
        ("mmr_lambda", &|m: &mut affinity::bundle::Manifest| {
            m.ranking.mmr_lambda = 2.0
        }),
    ] {
        let e = case(&format!("ranking-{what}"), &|b| {
            let path = b.join("manifest.json");
            let mut manifest: affinity::bundle::Manifest =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            edit(&mut manifest);
            affinity::bundle::seal(&mut manifest);
            std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
        });
        assert!(
            matches!(&e, PipelineError::BundleCorrupt { path, detail } if names(path, "manifest.json") && detail.contains(what)),
            "{e}"
        );
    }

    let e = case("newer", &|b| {
        let path = b.join("manifest.json");
        let text = std::fs::read_to_string(&path).unwrap();
        // One version past what this build reads.
        let newer = format!(
            "\"format_version\": {}",
            affinity::bundle::FORMAT_VERSION + 1
        );
        let text = text.replace("\"format_version\": 1", &newer);
        std::fs::write(path, text).unwrap();
    });
    assert!(
        matches!(&e, PipelineError::BundleVersion { path, .. } if names(path, "manifest.json")),
        "{e}"
    );

    // Vectors for fewer items than the catalogue, with a manifest that agrees with the file.
    let e = case("shape", &|b| {
        let other = dir.path().join("fewer");
        let mut rows = shop_rows();
        rows.retain(|r| r.1 != 7);
        let data = load_rows(dir.path(), "fewer.csv", &rows);
        let encoder = tiny_encoder(&dir.path().join("model2"));
        pipeline()
            .fit(data, Some(encoder), None)
            .unwrap()
            .save(&other, &BundleSaveOptions::default())
            .unwrap();
        std::fs::copy(
            other.join("vectors.safetensors"),
            b.join("vectors.safetensors"),
        )
        .unwrap();
        reseal(b, "vectors.safetensors");
    });
    assert!(
        matches!(&e, PipelineError::BundleCorrupt { path, detail } if names(path, "vectors.safetensors") && detail.contains("catalogue")),
        "{e}"
    );

    // A hand-edited setting is caught like an edited file.
    let e = case("edited-manifest", &|b| {
        let path = b.join("manifest.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replacen("\"mmr_candidates\": 50", "\"mmr_candidates\": 51", 1);
        assert_ne!(edited, text);
        std::fs::write(path, edited).unwrap();
    });
    assert!(
        matches!(&e, PipelineError::BundleDigest { path, .. } if names(path, "manifest.json")),
        "{e}"
    );

    let e = case("encoder", &|b| {
        let path = b.join("encoder/config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(path, text.replace("\"gelu\"", "\"relu\"")).unwrap();
    });
    assert!(
        matches!(&e, PipelineError::BundleDigest { path, .. } if names(path, "config.json")),
        "{e}"
    );

    let e = case("events", &|b| {
        let path = b.join("events.safetensors");
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        reseal(b, "events.safetensors");
    });
    assert!(
        matches!(&e, PipelineError::BundleCorrupt { path, .. } if names(path, "events.safetensors")),
        "{e}"
    );

    // The intact copy still loads.
    Recommender::load(&good, &cpu()).unwrap();
}

/// Loads `bundle` on another thread and gives up after a minute: a load that blocks (on a
/// FIFO, say) fails the test instead of hanging it.
fn load_within_a_minute(bundle: &Path) -> Result<Recommender, PipelineError> {
    let (send, receive) = std::sync::mpsc::channel();
    let bundle = bundle.to_path_buf();
    std::thread::spawn(move || {
        let _ = send.send(Recommender::load(&bundle, &cpu()));
    });
    receive
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the load blocked")
}

/// A manifest is sealed with an unkeyed digest anyone can recompute, so what it names is
/// checked: no path outside the bundle, no link followed out of it, no FIFO or device read,
/// no file in the encoder's directory that the manifest does not list.
#[test]
fn bundles_never_read_outside_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    fitted_with_model(dir.path())
        .save(&good, &BundleSaveOptions::default())
        .unwrap();
    std::fs::write(dir.path().join("outside.json"), b"[]").unwrap();
    let case = |name: &str, damage: &dyn Fn(&Path)| -> PipelineError {
        let bundle = dir.path().join(name);
        copy_dir(&good, &bundle);
        damage(&bundle);
        load_within_a_minute(&bundle).expect_err(name)
    };
    let edit_manifest = |b: &Path, edit: &dyn Fn(&mut affinity::bundle::Manifest)| {
        let path = b.join("manifest.json");
        let mut manifest: affinity::bundle::Manifest =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut manifest);
        affinity::bundle::seal(&mut manifest);
        std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    };
    let outside = dir.path().join("outside.json");
    let entry = digest_file(&outside).unwrap();
    let listed = |name: &str| {
        let (name, entry) = (name.to_owned(), entry.clone());
        move |m: &mut affinity::bundle::Manifest| {
            m.files.insert(
                name.clone(),
                affinity::bundle::FileEntry {
                    bytes: entry.0,
                    blake3: entry.1.clone(),
                },
            );
        }
    };
    // Paths in the manifest: absolute, or climbing out, in the file list or in the pointers.
    for (name, edit) in [
        (
            "absolute-entry",
            Box::new(listed(outside.to_str().unwrap()))
                as Box<dyn Fn(&mut affinity::bundle::Manifest)>,
        ),
        ("climbing-entry", Box::new(listed("../outside.json"))),
        (
            "vectors-file",
            Box::new(|m: &mut affinity::bundle::Manifest| {
                m.vectors.as_mut().unwrap().file = "/etc/passwd".into()
            }),
        ),
        (
            "encoder-dir",
            Box::new(|m: &mut affinity::bundle::Manifest| {
                m.encoder.as_mut().unwrap().dir = "../good/encoder".into()
            }),
        ),
    ] {
        let e = case(name, &|b| edit_manifest(b, &*edit));
        assert!(
            matches!(&e, PipelineError::BundleCorrupt { path, detail } if path.ends_with("manifest.json") && detail.contains("not a path inside the bundle")),
            "{name}: {e}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        let refused = |name: &str, e: &PipelineError, file: &str, why: &str| {
            assert!(
                matches!(e, PipelineError::BundleCorrupt { path, detail } if path.ends_with(file) && detail.contains(why)),
                "{name}: {e}"
            );
        };
        // A file replaced by a link to an identical copy outside: the digest matches, the
        // link is still not followed.
        let e = case("linked-file", &|b| {
            let copy = dir.path().join("rules-copy.json");
            std::fs::copy(b.join("rules.json"), &copy).unwrap();
            std::fs::remove_file(b.join("rules.json")).unwrap();
            symlink(&copy, b.join("rules.json")).unwrap();
        });
        refused("linked-file", &e, "rules.json", "symbolic link");
        // The encoder's directory as a link to the intact bundle's.
        let e = case("linked-encoder", &|b| {
            std::fs::remove_dir_all(b.join("encoder")).unwrap();
            symlink(good.join("encoder"), b.join("encoder")).unwrap();
        });
        refused("linked-encoder", &e, "encoder", "not a directory");
        // FIFOs where files belong: refused at once, for our reader and for libtorch's.
        let fifo = |path: &Path| {
            std::fs::remove_file(path).unwrap();
            let made = std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .unwrap();
            assert!(made.success());
        };
        let e = case("fifo-rules", &|b| fifo(&b.join("rules.json")));
        refused("fifo-rules", &e, "rules.json", "not a regular file");
        let e = case("fifo-encoder", &|b| fifo(&b.join("encoder/config.json")));
        refused("fifo-encoder", &e, "config.json", "not a regular file");
    }
    // A file the manifest does not list, where libtorch would read it.
    let e = case("unlisted", &|b| {
        std::fs::write(b.join("encoder/extra.json"), b"{}").unwrap()
    });
    assert!(
        matches!(&e, PipelineError::BundleCorrupt { path, detail } if path.ends_with("extra.json") && detail.contains("does not list")),
        "{e}"
    );
    // The intact copy still loads.
    load_within_a_minute(&good).unwrap();
}

/// Everything an update must reproduce exactly.
fn assert_same_fit(a: &Recommender, b: &Recommender) {
    let (fa, fb) = (a.fitted(), b.fitted());
    assert_eq!(fa.items.names(), fb.items.names());
    assert_eq!(fa.users.names(), fb.users.names());
    assert_eq!(fa.orders.names(), fb.orders.names());
    assert_eq!(fa.texts, fb.texts);
    assert_eq!(fa.events, fb.events);
    assert_eq!(fa.histories, fb.histories);
    assert_eq!(fa.counts, fb.counts);
    assert_eq!(fa.baskets, fb.baskets);
    assert_eq!(fa.cooccurrence.counts(), fb.cooccurrence.counts());
    assert_eq!(fa.rules, fb.rules);
    // What shoppers buy again: their baskets and days, the items' repeat rates and usual
    // intervals (NaN where unknown, so compared bit for bit), and every user's signals.
    assert_eq!(fa.shoppers, fb.shoppers);
    assert_eq!(fa.latest_day, fb.latest_day);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(fa.repeat.repeat_rates()),
        bits(fb.repeat.repeat_rates())
    );
    assert_eq!(
        bits(fa.repeat.usual_intervals()),
        bits(fb.repeat.usual_intervals())
    );
    let every_signal = affinity::rank::RepeatParams {
        timing: 1.0,
        rate: 1.0,
        gate: true,
        ..Default::default()
    };
    for user in fa.users.names() {
        let (sa, sb) = (
            fa.shopper(user, None).unwrap(),
            fb.shopper(user, None).unwrap(),
        );
        assert_eq!(
            fa.repeat.signals(&sa, &every_signal),
            fb.repeat.signals(&sb, &every_signal)
        );
        assert_eq!(
            fa.repeat.gate(&sa, &every_signal).to_bits(),
            fb.repeat.gate(&sb, &every_signal).to_bits()
        );
    }
}

/// Rules and nothing else; `shopper_floor`: each rule must rest on that many shoppers.
fn rules_only(shopper_floor: u32) -> Pipeline {
    Pipeline::new(
        PipelineParams::builder()
            .k(4)
            .min_support(0.05)
            .min_confidence(0.1)
            .min_rule_shoppers(shopper_floor)
            .weights(ScoreWeights::RULES)
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn row() -> impl Strategy<Value = Row> {
    (
        0u8..12,
        0u8..15,
        0u8..5,
        prop::option::of(0u8..6),
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// fit(A) then update(B) equals fit(A then B): ids, texts, histories, counts,
    /// co-occurrence, itemsets and rules (with and without a shopper floor), and every user's
    /// answer.
    #[test]
    fn update_equals_refit(
        a in prop::collection::vec(row(), 1..60),
        b in prop::collection::vec(row(), 1..30),
        repeat in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        shopper_floor in 0u32..4,
    ) {
        // Some of B repeats rows of A (double-logged events).
        let mut b = b;
        b.extend(repeat.iter().map(|i| a[i.index(a.len())]));
        let dir = tempfile::tempdir().unwrap();
        let both: Vec<Row> = a.iter().chain(&b).copied().collect();
        let fit_a = rules_only(shopper_floor).fit(load_rows(dir.path(), "a.csv", &a), None, None).unwrap();
        let (updated, report) = fit_a.update(&load_rows(dir.path(), "b.csv", &b)).unwrap();
        let refit = rules_only(shopper_floor).fit(load_rows(dir.path(), "ab.csv", &both), None, None).unwrap();
        assert_same_fit(&updated, &refit);
        prop_assert_eq!(report.events_added + report.duplicates_dropped, report.events_read);
        prop_assert_eq!(all_answers(&updated), all_answers(&refit));
    }
}

#[test]
fn update_through_a_saved_bundle_equals_refit_with_the_same_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let rows = shop_rows();
    let (a, b) = rows.split_at(rows.len() * 9 / 10);
    // New items and new users arrive with B.
    let mut b = b.to_vec();
    b.extend([
        (70, 12, 4, Some(1), true),
        (71, 12, 4, Some(1), true),
        (70, 13, 4, Some(1), false),
    ]);
    let encoder_dir = dir.path().join("model");
    let fit_a = pipeline()
        .fit(
            load_rows(dir.path(), "a.csv", a),
            Some(tiny_encoder(&encoder_dir)),
            None,
        )
        .unwrap();
    let bundle = dir.path().join("a");
    fit_a.save(&bundle, &BundleSaveOptions::default()).unwrap();
    let (updated, report) = Recommender::load(&bundle, &cpu())
        .unwrap()
        .update(&load_rows(dir.path(), "b.csv", &b))
        .unwrap();
    let users_of = |rows: &[Row]| {
        rows.iter()
            .map(|r| r.0)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let new_users = users_of(&b).difference(&users_of(a)).count();
    assert_eq!((report.new_items, report.new_users), (2, new_users));
    assert_eq!(report.items_embedded, 2, "only new items are embedded");
    let both: Vec<Row> = a.iter().chain(&b).copied().collect();
    let refit = pipeline()
        .fit(
            load_rows(dir.path(), "ab.csv", &both),
            Some(tiny_encoder(&encoder_dir)),
            None,
        )
        .unwrap();
    assert_same_fit(&updated, &refit);
    // Saved and loaded again, the updated bundle answers every user as the refit does.
    let updated_dir = dir.path().join("a2");
    updated
        .save(&updated_dir, &BundleSaveOptions::default())
        .unwrap();
    let updated = Recommender::load(&updated_dir, &cpu()).unwrap();
    assert_eq!(updated.provenance().sources, refit.provenance().sources);
    for (x, y) in all_answers(&updated).iter().zip(all_answers(&refit)) {
        let names = |l: &[(String, f32)]| l.iter().map(|p| p.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(x), names(&y));
        for (p, q) in x.iter().zip(&y) {
            assert!((p.1 - q.1).abs() < 1e-5, "{p:?} vs {q:?}");
        }
    }
}

#[test]
fn continual_fine_tuning_reports_old_and_new_users_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let rows = shop_rows();
    let (a, b) = rows.split_at(rows.len() * 8 / 10);
    let fit_a = pipeline()
        .fit(
            load_rows(dir.path(), "a.csv", a),
            Some(tiny_encoder(&dir.path().join("model"))),
            None,
        )
        .unwrap();
    let (mut updated, report) = fit_a.update(&load_rows(dir.path(), "b.csv", b)).unwrap();
    // Served with a popularity prior (a weight chosen on validation, say): it goes on with it.
    updated.set_popularity_prior(0.8).unwrap();
    let before = updated.item_vectors().unwrap().to_owned();
    let bad = ContinualParams {
        steps: 0,
        ..ContinualParams::default()
    };
    assert!(matches!(bad.check(), Err(PipelineError::InvalidSetting(_))));
    let params = ContinualParams {
        steps: 3,
        batch_size: 8,
        learning_rate: 1e-3,
        validation_users: 20,
        ..ContinualParams::default()
    };
    let (tuned, run) = updated
        .fine_tune_recent(report.events_added, &params)
        .unwrap();
    assert_eq!(run.steps, 3);
    assert!(run.new_pairs > 0 && run.replay_pairs > 0, "{run:?}");
    assert!(
        run.old_users.users > 0 && run.new_users.users > 0,
        "{run:?}"
    );
    for g in [&run.old_users, &run.new_users] {
        for x in [g.before, g.after] {
            assert!(x.is_some_and(|x| (0.0..=1.0).contains(&x)), "{run:?}");
        }
    }
    assert_ne!(
        tuned.item_vectors().unwrap(),
        before.view(),
        "the catalogue is embedded again"
    );
    let saved = dir.path().join("tuned");
    let manifest = tuned.save(&saved, &BundleSaveOptions::default()).unwrap();
    assert_eq!(manifest.fine_tuning, vec![run]);
    assert_eq!(tuned.ranking_settings().popularity_prior, 0.8);
    let encoder_dir = saved.join(&manifest.encoder.as_ref().unwrap().dir);
    let card = common::read_json(&encoder_dir.join("affinity_model.json"));
    assert_eq!(
        card["popularity_prior"].as_f64().map(|w| w as f32),
        Some(0.8),
        "{card}"
    );
    let loaded = Recommender::load(&saved, &cpu()).unwrap();
    assert_eq!(loaded.ranking_settings().popularity_prior, 0.8);
}

#[test]
fn lora_bundles_keep_adapters_and_pin_the_base_model() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    tiny_encoder(&base).save_pretrained(&base).unwrap();
    let options = affinity::tune::EncoderOptions {
        device: DeviceChoice::Cpu,
        max_len: Some(32),
        lora: Some(affinity::tune::LoraParams::default()),
        ..Default::default()
    };
    affinity::tune::tch::manual_seed(3);
    let encoder = SentenceEncoder::from_dir(&base, &options).unwrap();
    let fitted = pipeline()
        .fit(
            load_rows(dir.path(), "shop.csv", &shop_rows()),
            Some(encoder),
            None,
        )
        .unwrap();
    let bundle = dir.path().join("bundle");
    let manifest = fitted.save(&bundle, &BundleSaveOptions::default()).unwrap();
    assert!(matches!(
        manifest.encoder.as_ref().unwrap().storage,
        affinity::bundle::EncoderStorage::Adapter { .. }
    ));
    assert!(manifest.files.contains_key("encoder/adapter.safetensors"));
    assert!(!manifest.files.contains_key("encoder/model.safetensors"));
    let loaded = Recommender::load(&bundle, &cpu()).unwrap();
    assert_eq!(all_answers(&loaded), all_answers(&fitted));
    // The bundle reads its own (checked) settings, not the base's: a base whose pooling
    // changed answers as before.
    std::fs::write(
        base.join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 32, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#,
    )
    .unwrap();
    let loaded = Recommender::load(&bundle, &cpu()).unwrap();
    assert_eq!(all_answers(&loaded), all_answers(&fitted));
    // Merged instead: a full model in the bundle.
    let merged = dir.path().join("merged");
    let manifest = fitted
        .save(
            &merged,
            &BundleSaveOptions {
                merge_lora: true,
                ..BundleSaveOptions::default()
            },
        )
        .unwrap();
    assert!(manifest.files.contains_key("encoder/model.safetensors"));
    // The base changes under the bundle: a digest error naming the base's weights.
    let weights = base.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let e = Recommender::load(&bundle, &cpu()).expect_err("the base changed");
    assert!(
        matches!(&e, PipelineError::BundleDigest { path, .. } if path == &weights),
        "{e}"
    );
    Recommender::load(&merged, &cpu()).unwrap();
}

#[test]
fn a_validation_group_too_small_to_score_still_saves_a_bundle_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let rows = shop_rows();
    let fit = pipeline()
        .fit(
            load_rows(dir.path(), "a.csv", &rows),
            Some(tiny_encoder(&dir.path().join("model"))),
            None,
        )
        .unwrap();
    // New events of one user only: that group has no one to hold out.
    let (updated, report) = fit
        .update(&load_rows(
            dir.path(),
            "b.csv",
            &[(1, 0, 4, None, true), (1, 1, 4, None, true)],
        ))
        .unwrap();
    let params = ContinualParams {
        steps: 1,
        batch_size: 4,
        ..ContinualParams::default()
    };
    let (tuned, run) = updated
        .fine_tune_recent(report.events_added, &params)
        .unwrap();
    assert_eq!((run.new_users.users, run.new_users.before), (0, None));
    let saved = dir.path().join("tuned");
    tuned.save(&saved, &BundleSaveOptions::default()).unwrap();
    let loaded = Recommender::load(&saved, &cpu()).unwrap();
    assert_eq!(loaded.provenance().fine_tuning, vec![run]);
}

#[test]
fn updates_refuse_what_they_cannot_fold_in_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let fit = || {
        rules_only(0)
            .fit(load_rows(dir.path(), "a.csv", &shop_rows()), None, None)
            .unwrap()
    };
    // Basket files number their baskets per file.
    let baskets = dir.path().join("b.csv");
    std::fs::write(&baskets, "item1,item2\nitem3\n").unwrap();
    let (new, _) = load(&baskets, &Format::Baskets, &DataOptions::default()).unwrap();
    let e = fit().update(&new).expect_err("refused");
    assert!(
        matches!(
            e,
            PipelineError::InvalidSetting(affinity::InvalidSetting { name: "events", .. })
        ),
        "{e}"
    );
    // A hand-built dataset whose events name ids it has no names for: an error, not a panic.
    let mut bad = load_rows(dir.path(), "c.csv", &[(1, 1, 1, Some(1), true)]);
    bad.interactions[0].user = 7;
    let e = fit().update(&bad).expect_err("refused");
    assert!(matches!(e, PipelineError::InvalidSetting(_)), "{e}");
    bad.interactions[0].user = 0;
    bad.orders = Default::default();
    assert!(
        rules_only(0).fit(bad, None, None).is_err(),
        "orders without names"
    );
}

#[test]
fn a_directory_with_some_other_manifest_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fitted = rules_only(0)
        .fit(load_rows(dir.path(), "a.csv", &shop_rows()), None, None)
        .unwrap();
    let other = dir.path().join("extension");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("manifest.json"), r#"{"name": "my extension"}"#).unwrap();
    std::fs::write(other.join("background.js"), "precious").unwrap();
    assert!(fitted.save(&other, &BundleSaveOptions::default()).is_err());
    assert_eq!(
        std::fs::read_to_string(other.join("background.js")).unwrap(),
        "precious"
    );
}

#[test]
fn a_bundle_written_before_a_field_with_a_default_existed_still_loads() {
    // `ScoreWeights::cooccurrence` came after bundles were being written: an older writer
    // sealed a manifest without it. Rewrite this one's manifest as that writer would have
    // (compact, the field absent, sealed over those bytes) and load it.
    let dir = tempfile::tempdir().unwrap();
    let fitted = rules_only(0)
        .fit(load_rows(dir.path(), "a.csv", &shop_rows()), None, None)
        .unwrap();
    let bundle = dir.path().join("old");
    fitted.save(&bundle, &BundleSaveOptions::default()).unwrap();
    let path = bundle.join("manifest.json");
    let mut manifest: affinity::bundle::Manifest =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest.digest = String::new();
    let unsealed = String::from_utf8(serde_json::to_vec(&manifest).unwrap()).unwrap();
    let older = unsealed.replace(",\"cooccurrence\":0.0", "");
    assert!(
        older.len() < unsealed.len(),
        "no co-occurrence weight to leave out"
    );
    let digest = blake3::hash(older.as_bytes()).to_hex().to_string();
    let sealed = older.replace("\"digest\":\"\"", &format!("\"digest\":\"{digest}\""));
    std::fs::write(&path, &sealed).unwrap();
    let loaded = Recommender::load(&bundle, &cpu()).unwrap();
    assert_eq!(loaded.ranking().0.cooccurrence, 0.0);
    assert_eq!(all_answers(&loaded), all_answers(&fitted));

    // Still sealed: an edited value in that older manifest is caught.
    std::fs::write(&path, sealed.replacen("\"k\":4", "\"k\":5", 1)).unwrap();
    let e = Recommender::load(&bundle, &cpu()).expect_err("edited");
    assert!(matches!(e, PipelineError::BundleDigest { .. }), "{e}");
}

/// Largest difference between two vectors.
fn max_diff(a: ndarray::ArrayView1<f32>, b: ndarray::ArrayView1<f32>) -> f32 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Every cached user vector against a fresh encoding of that user's history.
fn assert_user_vectors_current(r: &Recommender, tolerance: f32) {
    let cached = r.user_vectors().expect("user vectors are cached");
    let fresh = r.history_vectors(&r.fitted().histories).unwrap();
    assert_eq!(cached.dim(), fresh.dim());
    for (u, (c, f)) in cached.rows().into_iter().zip(fresh.rows()).enumerate() {
        assert!(max_diff(c, f) < tolerance, "user {u}: {c} vs {f}");
    }
}

#[test]
fn cached_user_vectors_match_encoding_and_survive_save_update_and_fine_tuning() {
    let dir = tempfile::tempdir().unwrap();
    let rows = shop_rows();
    let (a, b) = rows.split_at(rows.len() * 9 / 10);
    let mut b = b.to_vec();
    // A new user, and a new item with its title.
    b.push((70, 12, 4, Some(1), true));
    let mut fit_a = pipeline()
        .fit(
            load_rows(dir.path(), "a.csv", a),
            Some(tiny_encoder(&dir.path().join("model"))),
            None,
        )
        .unwrap();
    assert!(fit_a.user_vectors().is_none(), "opt-in");
    fit_a.cache_user_vectors().unwrap();
    assert_user_vectors_current(&fit_a, 1e-5);
    // By user id (cached) and by history (encoded), the same list.
    for user in fit_a.fitted().users.names().iter().take(10) {
        let history = fit_a.fitted().history(user).unwrap();
        let by_id = fit_a.recommend_user(user, 5).unwrap();
        let by_history = fit_a.recommend(history, 5).unwrap();
        let names = |l: &[affinity::pipeline::Recommendation]| {
            l.iter().map(|r| r.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names(&by_id), names(&by_history), "user {user}");
    }

    // Saved and loaded, exactly; in bf16, to bf16 precision.
    let bundle = dir.path().join("a");
    let manifest = fit_a.save(&bundle, &BundleSaveOptions::default()).unwrap();
    let entry = manifest.user_vectors.clone().expect("in the manifest");
    assert_eq!(
        (entry.rows, entry.file.as_str()),
        (fit_a.fitted().n_users(), "user_vectors.safetensors")
    );
    let loaded = Recommender::load(&bundle, &cpu()).unwrap();
    assert_eq!(loaded.user_vectors(), fit_a.user_vectors());
    let half = dir.path().join("half");
    let options = BundleSaveOptions {
        vectors: VectorType::Bf16,
        ..BundleSaveOptions::default()
    };
    fit_a.save(&half, &options).unwrap();
    assert_user_vectors_current(&Recommender::load(&half, &cpu()).unwrap(), 1e-2);

    // A file of the wrong shape, with a manifest that agrees with it, names the file.
    let damaged = dir.path().join("damaged");
    copy_dir(&bundle, &damaged);
    std::fs::copy(
        damaged.join("vectors.safetensors"),
        damaged.join("user_vectors.safetensors"),
    )
    .unwrap();
    reseal(&damaged, "user_vectors.safetensors");
    let e = Recommender::load(&damaged, &cpu()).expect_err("wrong shape");
    assert!(
        matches!(&e, PipelineError::BundleCorrupt { path, detail } if path.ends_with("user_vectors.safetensors") && detail.contains("users")),
        "{e}"
    );

    // An update encodes only the users it changed, and leaves every vector current.
    let (updated, report) = loaded.update(&load_rows(dir.path(), "b.csv", &b)).unwrap();
    let touched: std::collections::BTreeSet<u8> = b.iter().map(|r| r.0).collect();
    assert_eq!(report.users_embedded, touched.len(), "{report:?}");
    assert!(report.users_embedded < updated.fitted().n_users());
    assert_user_vectors_current(&updated, 1e-5);

    // Fine-tuning changes the encoder: every user is encoded again with it.
    let params = ContinualParams {
        steps: 2,
        batch_size: 8,
        learning_rate: 1e-3,
        validation_users: 10,
        ..ContinualParams::default()
    };
    let before = updated.user_vectors().unwrap().to_owned();
    let (tuned, _) = updated
        .fine_tune_recent(report.events_added, &params)
        .unwrap();
    assert_ne!(tuned.user_vectors().unwrap(), before.view());
    assert_user_vectors_current(&tuned, 1e-5);
}
