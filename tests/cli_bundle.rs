//! `affinity fit`, `update`, and `recommend` / `search` / `evaluate --bundle`, run as a user
//! would.

mod common;

use std::path::Path;

#[cfg(feature = "model")]
use affinity::tune::DeviceChoice;
#[cfg(feature = "model")]
use common::tiny_model;
use common::{affinity, failed, ok};

/// Shoppers over some days, all ten products of each kind.
fn events(path: &Path, users: std::ops::Range<usize>, days: std::ops::Range<usize>) {
    common::shop_events(path, users, days, 10);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `affinity fit` without a model (rules and popularity) into `out`, with `extra` arguments:
/// its standard output, once it succeeded.
fn fit_rules_only(data: &Path, out: &Path, extra: &[&str]) -> String {
    ok(&run_fit_rules_only(data, out, extra))
}

/// [`fit_rules_only`]'s process, whatever its outcome.
fn run_fit_rules_only(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut argv = vec!["fit", "-i", s(data), "--no-model", "--min-support", "0.02"];
    argv.extend_from_slice(extra);
    argv.extend(["-o", s(out)]);
    affinity(&argv)
}

#[cfg(feature = "model")]
#[test]
fn fit_then_answer_from_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data, bundle) = (
        dir.path().join("model"),
        dir.path().join("events.csv"),
        dir.path().join("bundle"),
    );
    tiny_model(&model);
    events(&data, 0..60, 0..4);
    let common = ["--device", "cpu", "--min-support", "0.02"];
    let out = ok(&affinity(
        &[
            &[
                "fit",
                "-i",
                s(&data),
                "--model",
                s(&model),
                "--tune",
                "-o",
                s(&bundle),
            ][..],
            &common,
        ]
        .concat(),
    ));
    assert!(
        out.contains("60 users") && out.contains("chosen on validation"),
        "{out}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["counts"]["users"], 60);
    assert!(manifest["tuning"]["validation_ndcg"].is_number());
    assert_eq!(manifest["sources"][0]["role"], "fit");

    // The same answer from the bundle as the library gives on the loaded bundle.
    let out = ok(&affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--user",
        "u3",
        "-k",
        "3",
        "--json",
        "--device",
        "cpu",
    ]));
    let names: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let loaded = affinity::pipeline::Recommender::load(
        &bundle,
        &affinity::bundle::BundleLoadOptions {
            device: DeviceChoice::Cpu,
            ..Default::default()
        },
    )
    .unwrap();
    let expected: Vec<String> = loaded
        .recommend_user("u3", 3)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, expected);

    // A shopper the bundle has not seen is a cold start, not an error.
    let out = affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--user",
        "stranger",
        "-k",
        "2",
    ]);
    assert_eq!(ok(&out).lines().count(), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cold start"));
    let out = ok(&affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--items",
        "bread",
        "-k",
        "2",
    ]));
    assert_eq!(out.lines().count(), 2);
    let err = failed(&affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--items",
        "bread,caviar",
    ]));
    assert!(err.contains("caviar"), "{err}");

    let out = ok(&affinity(&[
        "search",
        "-b",
        s(&bundle),
        "--query",
        "fresh fruit",
        "-k",
        "3",
    ]));
    assert_eq!(out.lines().count(), 3);
    let out = ok(&affinity(&[
        "search",
        "-b",
        s(&bundle),
        "--similar",
        "milk",
        "-k",
        "2",
    ]));
    assert!(out.lines().count() == 2 && !out.contains("milk "), "{out}");
    let err = failed(&affinity(&["search", "-b", s(&bundle), "--query", " "]));
    assert!(err.contains("empty"), "{err}");

    // Evaluation on later events scores every ranker the bundle holds.
    let test = dir.path().join("test.csv");
    events(&test, 0..60, 4..5);
    let out = ok(&affinity(&[
        "evaluate",
        "-b",
        s(&bundle),
        "-i",
        s(&test),
        "-k",
        "3",
    ]));
    for row in [
        "most popular",
        "item co-occurrence",
        "rules alone",
        "model",
        "hybrid (as served)",
    ] {
        assert!(out.contains(row), "{row} missing in\n{out}");
    }
    assert!(out.contains("(60 test users)"), "{out}");

    // A damaged bundle is an error naming the file.
    std::fs::write(bundle.join("rules.json"), "[]").unwrap();
    let err = failed(&affinity(&["recommend", "-b", s(&bundle), "--user", "u3"]));
    assert!(err.contains("rules.json"), "{err}");
}

#[cfg(feature = "model")]
#[test]
fn update_adds_users_items_and_rules_as_a_refit_would() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    tiny_model(&model);
    let (old, new, all) = (
        dir.path().join("old.csv"),
        dir.path().join("new.csv"),
        dir.path().join("all.csv"),
    );
    events(&old, 0..50, 0..4);
    events(&new, 50..60, 0..4);
    let text_all = std::fs::read_to_string(&old).unwrap()
        + std::fs::read_to_string(&new)
            .unwrap()
            .split_once('\n')
            .unwrap()
            .1;
    std::fs::write(&all, text_all).unwrap();
    let fit = |data: &Path, out: &Path| {
        ok(&affinity(&[
            "fit",
            "-i",
            s(data),
            "--model",
            s(&model),
            "--device",
            "cpu",
            "--min-support",
            "0.02",
            "-o",
            s(out),
        ]))
    };
    let (a, ab, a2) = (
        dir.path().join("a"),
        dir.path().join("ab"),
        dir.path().join("a2"),
    );
    fit(&old, &a);
    fit(&all, &ab);
    let out = ok(&affinity(&[
        "update",
        "-b",
        s(&a),
        "--events",
        s(&new),
        "-o",
        s(&a2),
        "--device",
        "cpu",
    ]));
    assert!(out.contains("10 new users"), "{out}");
    let manifest = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
    };
    let (m2, mab) = (manifest(&a2), manifest(&ab));
    assert_eq!(m2["counts"], mab["counts"]);
    for file in [
        "rules.json",
        "cooccurrence.safetensors",
        "events.safetensors",
        "catalog.json",
        "users.json",
    ] {
        assert_eq!(m2["files"][file], mab["files"][file], "{file}");
    }
    assert_eq!(m2["sources"][1]["role"], "update");
    // Every shopper gets the same answer from the updated bundle as from the refit one.
    for user in ["u0", "u7", "u55", "u59"] {
        let answer = |b: &Path| {
            ok(&affinity(&[
                "recommend",
                "-b",
                s(b),
                "--user",
                user,
                "-k",
                "4",
                "--device",
                "cpu",
            ]))
        };
        assert_eq!(answer(&a2), answer(&ab), "{user}");
    }
    // The old bundle is left as it was.
    assert_eq!(manifest(&a)["counts"]["users"], 50);
    // An update keeps the bundle's vector number format.
    let (a16, a16u) = (dir.path().join("a16"), dir.path().join("a16u"));
    ok(&affinity(&[
        "fit",
        "-i",
        s(&old),
        "--model",
        s(&model),
        "--device",
        "cpu",
        "--vectors",
        "bf16",
        "-o",
        s(&a16),
    ]));
    ok(&affinity(&[
        "update",
        "-b",
        s(&a16),
        "--events",
        s(&new),
        "-o",
        s(&a16u),
        "--device",
        "cpu",
    ]));
    assert_eq!(manifest(&a16u)["vectors"]["dtype"], "bf16");

    // Continual fine-tuning reports the figures on old and new users.
    let tuned = dir.path().join("tuned");
    let out = ok(&fine_tune(&a, &new, &tuned, &["--json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["fine_tuning"]["steps"], 2);
    assert!(
        report["fine_tuning"]["new_users"]["users"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(manifest(&tuned)["fine_tuning"][0]["steps"], 2);
}

#[test]
fn fit_without_a_model_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let (data, bundle) = (dir.path().join("events.csv"), dir.path().join("bundle"));
    events(&data, 0..30, 0..4);
    fit_rules_only(&data, &bundle, &[]);
    let out = ok(&affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--items",
        "bread",
        "-k",
        "3",
    ]));
    assert_eq!(out.lines().count(), 3);
    assert!(out.contains("butter"), "the rule speaks: {out}");
    let err = failed(&affinity(&["search", "-b", s(&bundle), "--query", "milk"]));
    assert!(err.contains("language model"), "{err}");
    // Never replaces a directory that is not a bundle.
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    let err = failed(&affinity(&[
        "fit",
        "-i",
        s(&data),
        "--no-model",
        "-o",
        s(&mine),
    ]));
    assert!(err.contains("not a bundle"), "{err}");
    assert!(mine.join("notes.txt").exists());
    // Settings fixed at fit time are refused with a bundle, not ignored.
    for flag in [
        &["--embedding-weight", "0"][..],
        &["--mmr-lambda", "0.5"],
        &["--min-support", "0.5"],
        &["--max-len", "8"],
        &["--time-format", "mdy"],
    ] {
        let mut argv = vec!["recommend", "-b", s(&bundle), "--user", "u1"];
        argv.extend_from_slice(flag);
        let err = failed(&affinity(&argv));
        assert!(err.contains("cannot be used with"), "{flag:?}: {err}");
    }
    // A k beyond any list is every item, not an aborted allocation.
    let out = ok(&affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--user",
        "u1",
        "-k",
        "1000000000000",
    ]));
    assert!(out.lines().count() > 3);
    // Timestamps of an update are read as the bundle's were.
    let err = failed(&affinity(&[
        "update",
        "-b",
        s(&bundle),
        "--events",
        s(&data),
        "--time-format",
        "mdy",
        "-o",
        s(&dir.path().join("mixed")),
    ]));
    assert!(err.contains("--time-format auto"), "{err}");
    // Arguments are checked before any work.
    let err = failed(&affinity(&["recommend", "-b", s(&bundle)]));
    assert!(err.contains("--user"), "{err}");
    let err = failed(&affinity(&["recommend", "--user", "u1"]));
    assert!(err.contains("--bundle"), "{err}");
    #[cfg(not(feature = "model"))]
    without_the_model_feature(dir.path(), &data, &bundle);
}

/// `--max-gini`: tuning under an exposure bound, kept in the manifest beside the Gini index
/// reached; a bound outside (0, 1] or without `--tune` is refused before any work.
#[test]
fn an_exposure_bound_on_tuning_is_kept_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (data, bundle) = (dir.path().join("events.csv"), dir.path().join("bundle"));
    events(&data, 0..40, 0..4);
    let fitted = run_fit_rules_only(&data, &bundle, &["--tune", "--max-gini", "0.95"]);
    let out = ok(&fitted);
    assert!(out.contains("under a bound of 0.95"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let tuning = &manifest["tuning"];
    assert_eq!(tuning["max_gini"], 0.95);
    let gini = tuning["validation_gini"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&gini), "{tuning}");
    // Met, or said not to be.
    let err = String::from_utf8_lossy(&fitted.stderr);
    assert_eq!(gini > 0.95, err.contains("no setting tried meets"), "{err}");
    // `evaluate --json` states the choice too.
    let json: serde_json::Value = serde_json::from_str(&ok(&affinity(&[
        "evaluate",
        "-i",
        s(&data),
        "--no-model",
        "--min-support",
        "0.02",
        "--tune",
        "--max-gini",
        "0.95",
        "--json",
    ])))
    .unwrap();
    let tuning = &json["tuning"];
    assert_eq!(tuning["max_gini"], 0.95, "{tuning}");
    assert!(tuning["validation_gini"].is_number(), "{tuning}");
    assert!(tuning["weights"]["popularity"].is_number(), "{tuning}");
    assert!(tuning["calibration"].is_number(), "{tuning}");
    for (flags, says) in [
        (&["--max-gini", "0.5"][..], "--tune"),
        (&["--tune", "--max-gini", "1.5"], "max_gini"),
    ] {
        let mut argv = vec!["fit", "-i", s(&data), "--no-model", "-o", "x"];
        argv.extend_from_slice(flags);
        let err = failed(&affinity(&argv));
        assert!(err.contains(says), "{flags:?}: {err}");
    }
}

/// A build without the `model` feature: commands that need the model say so, and a bundle
/// with an encoder loads without it (and is not updated into one that lost it).
#[cfg(not(feature = "model"))]
fn without_the_model_feature(dir: &Path, data: &Path, bundle: &Path) {
    use affinity::bundle::{digest_file, seal, EncodedIn, EncoderEntry, EncoderStorage, Manifest};
    let err = failed(&affinity(&["fit", "-i", s(data), "-o", s(&dir.join("m"))]));
    assert!(err.contains("`model` feature"), "{err}");
    let err = failed(&affinity(&["evaluate", "-i", s(data)]));
    assert!(err.contains("`model` feature"), "{err}");
    let out = ok(&affinity(&[
        "evaluate",
        "-i",
        s(data),
        "--no-model",
        "--json",
    ]));
    assert!(
        out.contains("rules alone") && out.contains("hybrid (rules+popularity)"),
        "{out}"
    );
    let err = failed(&affinity(&["embed"]));
    assert!(err.contains("embed"), "{err}");

    // The same bundle, as if it had been fitted with a model.
    let with_model = dir.join("with-model");
    std::fs::create_dir_all(with_model.join("encoder")).unwrap();
    for entry in std::fs::read_dir(bundle).unwrap().flatten() {
        std::fs::copy(entry.path(), with_model.join(entry.file_name())).unwrap();
    }
    std::fs::write(with_model.join("encoder/config.json"), "{}").unwrap();
    let path = with_model.join("manifest.json");
    let mut manifest: Manifest = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let (bytes, blake3) = digest_file(&with_model.join("encoder/config.json")).unwrap();
    manifest.files.insert(
        "encoder/config.json".into(),
        affinity::bundle::FileEntry { bytes, blake3 },
    );
    manifest.encoder = Some(EncoderEntry {
        dir: "encoder".into(),
        storage: EncoderStorage::Full,
        max_len: 8,
        precision: EncodedIn::F32,
        dim: 4,
    });
    seal(&mut manifest);
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let plain = ok(&affinity(&[
        "recommend",
        "-b",
        s(bundle),
        "--user",
        "u1",
        "-k",
        "3",
    ]));
    let read = ok(&affinity(&[
        "recommend",
        "-b",
        s(&with_model),
        "--user",
        "u1",
        "-k",
        "3",
    ]));
    assert_eq!(plain, read, "the encoder is left unread");
    let err = failed(&affinity(&[
        "update",
        "-b",
        s(&with_model),
        "--events",
        s(data),
        "-o",
        s(&dir.join("lost")),
    ]));
    assert!(err.contains("cannot carry over"), "{err}");
}

/// `--pseudonymize-key-file`: raw user ids reach no bundle file; the key looks users up; a
/// missing or other key is refused rather than answered with a silent cold start.
#[test]
fn pseudonymised_bundles_need_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let (data, bundle, key, other) = (
        dir.path().join("events.csv"),
        dir.path().join("bundle"),
        dir.path().join("key"),
        dir.path().join("other"),
    );
    events(&data, 0..30, 0..4);
    ok(&affinity(&["data", "new-key", "-o", s(&key)]));
    ok(&affinity(&["data", "new-key", "-o", s(&other)]));
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.trim().len(), 64, "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let err = failed(&affinity(&["data", "new-key", "-o", s(&key)]));
    assert!(err.contains("cannot create"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        text,
        "never replaced"
    );

    fit_rules_only(&data, &bundle, &["--pseudonymize-key-file", s(&key)]);
    for file in std::fs::read_dir(&bundle).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("\"u1\"") && !text.contains("u17"),
            "raw ids kept"
        );
    }
    // Rules from pseudonymised data rest on at least 5 shoppers unless told otherwise; the
    // floor is a fitted setting, kept for updates and refused with --bundle.
    let floor = |b: &Path| {
        common::read_json(&b.join("manifest.json"))["settings"]["min_rule_shoppers"].clone()
    };
    assert_eq!(floor(&bundle), 5);
    let unfloored = dir.path().join("unfloored");
    fit_rules_only(
        &data,
        &unfloored,
        &[
            "--pseudonymize-key-file",
            s(&key),
            "--min-rule-shoppers",
            "0",
        ],
    );
    assert_eq!(floor(&unfloored), serde_json::Value::Null);
    let err = failed(&affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--min-rule-shoppers",
        "2",
        "--items",
        "x",
    ]));
    assert!(err.contains("--min-rule-shoppers"), "{err}");
    // The same list as from a bundle fitted without a key: the user is found, not a cold start.
    let plain = dir.path().join("plain");
    fit_rules_only(&data, &plain, &["--min-rule-shoppers", "5"]);
    assert_eq!(floor(&plain), 5);
    let raw = ok(&affinity(&["recommend", "-b", s(&plain), "--user", "u1"]));
    let keyed = ok(&affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--user",
        "u1",
        "--pseudonymize-key-file",
        s(&key),
    ]));
    assert_eq!(raw, keyed);
    for wrong in [vec![], vec!["--pseudonymize-key-file", s(&other)]] {
        let mut argv = vec!["recommend", "-b", s(&bundle), "--user", "u1"];
        argv.extend(&wrong);
        let err = failed(&affinity(&argv));
        assert!(
            err.contains("pseudonymised with the key of fingerprint"),
            "{err}"
        );
        let mut argv = vec!["update", "-b", s(&bundle), "--events", s(&data)];
        argv.extend(&wrong);
        argv.extend(["-o", s(&bundle)]);
        let err = failed(&affinity(&argv));
        assert!(err.contains("--pseudonymize-key-file"), "{err}");
        // Evaluating the bundle on raw test ids: the key is named, not every user a cold start.
        let mut argv = vec!["evaluate", "-b", s(&bundle), "-i", s(&data)];
        argv.extend(&wrong);
        let err = failed(&affinity(&argv));
        assert!(
            err.contains("the test file's users") && err.contains("fingerprint"),
            "{err}"
        );
    }
    // With the key, the test users are found.
    ok(&affinity(&[
        "evaluate",
        "-b",
        s(&bundle),
        "-i",
        s(&data),
        "--relevant",
        "all",
        "--pseudonymize-key-file",
        s(&key),
    ]));
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "not a key").unwrap();
    let err = failed(&affinity(&[
        "data",
        "stats",
        "-i",
        s(&data),
        "--pseudonymize-key-file",
        s(&bad),
    ]));
    assert!(
        err.contains("bad") && err.contains("64 hexadecimal digits"),
        "{err}"
    );
}

/// `update` of `bundle` with `events` into `out`, two fine-tuning steps on the CPU; more
/// arguments follow.
#[cfg(feature = "model")]
fn fine_tune(bundle: &Path, events: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "update",
        "-b",
        s(bundle),
        "--events",
        s(events),
        "-o",
        s(out),
        "--device",
        "cpu",
        "--fine-tune-steps",
        "2",
        "--batch-size",
        "8",
    ];
    args.extend(extra);
    affinity(&args)
}

/// `fit` of `data` with the tiny model on the CPU; more arguments follow.
#[cfg(feature = "model")]
fn fit_tiny<'a>(model: &'a Path, data: &'a Path) -> [&'a str; 7] {
    ["fit", "-i", s(data), "--model", s(model), "--device", "cpu"]
}

/// A temporary folder with a tiny random BERT and 40 users' events over five days: (folder,
/// model, events).
#[cfg(feature = "model")]
fn tiny_shop() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = (dir.path().join("model"), dir.path().join("events.csv"));
    tiny_model(&model);
    events(&data, 0..40, 0..5);
    (dir, model, data)
}

#[cfg(feature = "model")]
#[test]
fn fit_and_evaluate_with_a_sequential_tower() {
    let (dir, model, data) = tiny_shop();
    let bundle = dir.path().join("bundle");
    let common = ["--device", "cpu", "--min-support", "0.02"];
    let tower = [
        "--sequential",
        "--max-history",
        "2",
        "--sequential-epochs",
        "3",
    ];
    let fit = [
        &["fit", "-i", s(&data), "--model", s(&model)][..],
        &tower,
        &common,
    ];
    let out = ok(&affinity(
        &[&fit.concat()[..], &["-o", s(&bundle)]].concat(),
    ));
    assert!(out.contains("sequential tower (history 2)"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format_version"], 2);
    assert_eq!(manifest["sequential"]["summary"]["max_history"], 2);
    assert!(bundle.join("sequential/sequential.safetensors").is_file());
    let out = ok(&affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--items",
        "milk,butter",
        "-k",
        "3",
        "--device",
        "cpu",
    ]));
    assert_eq!(out.lines().count(), 3, "{out}");

    let evaluate = [
        &["evaluate", "-i", s(&data), "--model", s(&model)][..],
        &tower,
        &common,
    ];
    let out = ok(&affinity(&[&evaluate.concat()[..], &["--tune"]].concat()));
    assert!(
        out.contains("model (sequential tower)") && out.contains("hybrid (sequential tower"),
        "{out}"
    );
    // Flags that need the tower are refused without it.
    let err = failed(&affinity(&[
        "fit",
        "-i",
        s(&data),
        "--max-history",
        "2",
        "-o",
        "x",
    ]));
    assert!(err.contains("--sequential"), "{err}");
}

/// `recommend --influence --words`: which history items and which words of the history's text
/// moved each recommendation, in text and JSON; a bundle whose histories are read by a
/// sequential tower has no words to show and says so.
#[cfg(feature = "model")]
#[test]
fn recommendations_say_which_items_and_words_moved_them() {
    let (dir, model, data) = tiny_shop();
    let bundle = dir.path().join("bundle");
    let fit = fit_tiny(&model, &data);
    ok(&affinity(
        &[&fit[..], &["--min-support", "0.02", "-o", s(&bundle)]].concat(),
    ));
    let ask = [
        "recommend",
        "-b",
        s(&bundle),
        "--items",
        "milk,butter",
        "-k",
        "2",
        "--device",
        "cpu",
        "--influence",
        "--words",
    ];
    let out = ok(&affinity(&[&ask[..], &["--json"]].concat()));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    for line in &lines {
        assert_eq!(line["influence"].as_array().unwrap().len(), 2, "{line}");
        let words = line["words"].as_array().unwrap();
        assert!(!words.is_empty(), "{line}");
        let deltas: Vec<f64> = words.iter().map(|w| w["delta"].as_f64().unwrap()).collect();
        assert!(deltas.windows(2).all(|d| d[0] >= d[1]), "{line}");
        assert!(words
            .iter()
            .all(|w| w["word"].is_string() && w["without"].is_number()));
    }
    let text = ok(&affinity(&ask));
    assert!(
        text.contains("moved by:") && text.contains("words (cosine without each):"),
        "{text}"
    );

    let tower = dir.path().join("tower");
    let sequential = [
        "--sequential",
        "--max-history",
        "2",
        "--sequential-epochs",
        "1",
    ];
    ok(&affinity(
        &[&fit[..], &sequential[..], &["-o", s(&tower)]].concat(),
    ));
    let mut ask_tower = ask.to_vec();
    ask_tower[2] = s(&tower);
    let err = failed(&affinity(&ask_tower));
    assert!(err.contains("sequential tower"), "{err}");
}

/// `fit --private-epsilon`: the tower trains with DP-SGD, and the manifest says what it spent
/// (within the budget, delta 1 / shoppers); tuning it is refused, as is a budget of 0.
#[cfg(feature = "model")]
#[test]
fn a_private_tower_keeps_its_budget_in_the_manifest() {
    let (dir, model, data) = tiny_shop();
    let bundle = dir.path().join("bundle");
    let tower = [
        "--min-support",
        "0.02",
        "--sequential",
        "--max-history",
        "2",
        "--sequential-epochs",
        "2",
        "--private-clip",
        "0.5",
    ];
    let fit = [&fit_tiny(&model, &data)[..], &tower[..]].concat();
    let private = |epsilon: &'static str| [&fit[..], &["--private-epsilon", epsilon]].concat();
    let fit = private("4");
    let out = ok(&affinity(&[&fit[..], &["-o", s(&bundle)]].concat()));
    assert!(out.contains("bundle"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let spent = &manifest["sequential"]["summary"]["privacy"];
    let epsilon = spent["epsilon"].as_f64().unwrap();
    assert!(epsilon > 0.0 && epsilon <= 4.0, "{spent}");
    let shoppers = spent["shoppers"].as_f64().unwrap();
    assert!(shoppers >= 2.0, "{spent}");
    assert_eq!(spent["delta"].as_f64().unwrap(), 1.0 / shoppers);
    assert_eq!(spent["clip_norm"], 0.5);
    assert!(spent["noise_multiplier"].as_f64().unwrap() > 0.0, "{spent}");
    // Every epoch ran and the last was kept.
    assert_eq!(manifest["sequential"]["summary"]["best_epoch"], 2);

    let err = failed(&affinity(&[&fit[..], &["-o", "x", "--tune"]].concat()));
    assert!(
        err.contains("private sequential tower is not tuned"),
        "{err}"
    );
    let err = failed(&affinity(&[&private("0")[..], &["-o", "x"]].concat()));
    assert!(
        err.contains("--private-epsilon") && err.contains("above 0"),
        "{err}"
    );
}

/// `update -o` onto its own input, killed at any moment while it writes: the bundle is always
/// there and loads (the new one swapped in by one atomic exchange, or the old one kept), and
/// the next write leaves no temporary folder of a killed run behind.
#[cfg(unix)]
#[test]
fn killed_writes_never_lose_the_bundle_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events.csv");
    events(&data, 0..400, 0..12);
    let bundle = dir.path().join("bundle");
    fit_rules_only(&data, &bundle, &[]);
    let more = dir.path().join("more.csv");
    events(&more, 400..600, 0..12);
    let update = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_affinity"))
            .args([
                "update",
                "-b",
                s(&bundle),
                "--events",
                s(&more),
                "-o",
                s(&bundle),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a whole update takes here, then kills spread over that time.
    let started = std::time::Instant::now();
    assert!(update().wait().unwrap().success());
    let whole = started.elapsed();
    for step in 0..8u32 {
        let mut child = update();
        std::thread::sleep(whole * step / 8);
        let _ = child.kill();
        let _ = child.wait();
        let out = ok(&affinity(&[
            "recommend",
            "-b",
            s(&bundle),
            "--user",
            "u1",
            "-k",
            "2",
        ]));
        assert!(!out.trim().is_empty(), "after a kill at step {step}");
    }
    // A write after the kills removes what they left.
    fit_rules_only(&data, &bundle, &[]);
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".bundle"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Data where no user has a step to hold out is an error that says why, not a table of zeros.
#[test]
fn evaluate_with_no_user_to_score_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events.csv");
    // Two days each: too few steps to hold one out for validation and one for test.
    events(&data, 0..20, 0..2);
    let err = failed(&affinity(&[
        "evaluate",
        "-i",
        s(&data),
        "--no-model",
        "--hold-out",
        "last-time",
    ]));
    assert!(err.contains("no user has a test step"), "{err}");
}

/// An update counts every event it drops: repeated within the new file (dropped as it is
/// read) and already in the bundle (it used to say "0 duplicates dropped" for the first kind).
#[test]
fn update_counts_every_duplicate_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events.csv");
    events(&data, 0..20, 0..4);
    let bundle = dir.path().join("bundle");
    fit_rules_only(&data, &bundle, &[]);
    let old_line = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let header = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let fresh = old_line.replacen("u0,", "u99,", 1);
    let more = dir.path().join("more.csv");
    std::fs::write(&more, format!("{header}\n{fresh}\n{fresh}\n{old_line}\n")).unwrap();
    let out = ok(&affinity(&[
        "update",
        "-b",
        s(&bundle),
        "--events",
        s(&more),
        "-o",
        s(&bundle),
    ]));
    assert!(
        out.contains("1 events added (2 duplicates dropped: 1 repeated within the file, 1 already in the bundle)"),
        "{out}"
    );
}

/// `fit --quantize int8` keeps int8 in the manifest, and the loaded bundle encodes in int8
/// again (as `--quantize int8` would) unless told otherwise; training refuses int8.
#[cfg(feature = "model")]
#[test]
fn an_int8_bundle_encodes_in_int8_when_loaded() {
    let (dir, model, data) = tiny_shop();
    let bundle = dir.path().join("int8");
    let mut fit = fit_tiny(&model, &data).to_vec();
    fit.extend(["--quantize", "int8", "-o", s(&bundle)]);
    ok(&affinity(&fit));
    let manifest = common::read_json(&bundle.join("manifest.json"));
    assert_eq!(manifest["encoder"]["precision"], "int8");
    // An older build would call `int8` corrupt: the layout version says it is newer.
    assert_eq!(manifest["format_version"], 5);
    let search = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "-b",
            s(&bundle),
            "--query",
            "fresh fruit",
            "-k",
            "5",
        ];
        args.extend(["--device", "cpu", "--json"]);
        args.extend(extra);
        ok(&affinity(&args))
    };
    let (loaded, asked, fp32) = (
        search(&[]),
        search(&["--quantize", "int8"]),
        search(&["--fp32"]),
    );
    assert_eq!(loaded, asked);
    // The scores carry the arithmetic's last bits.
    assert_ne!(loaded, fp32);
    // Continual fine-tuning trains the fp32 weights and codes them again: still int8.
    let (new, tuned) = (dir.path().join("new.csv"), dir.path().join("tuned"));
    events(&new, 30..50, 5..6);
    ok(&fine_tune(&bundle, &new, &tuned, &[]));
    let tuned = common::read_json(&tuned.join("manifest.json"));
    assert_eq!(tuned["encoder"]["precision"], "int8");
    assert_eq!(tuned["fine_tuning"][0]["steps"], 2);
    let err = failed(&affinity(&[
        "train",
        "-i",
        s(&data),
        "--model",
        s(&model),
        "--device",
        "cpu",
        "--quantize",
        "int8",
        "--epochs",
        "1",
        "--out",
        s(&dir.path().join("run")),
    ]));
    assert!(err.contains("int8"), "{err}");
    let err = failed(&affinity(&["embed", "--quantize", "int8", "--bf16"]));
    assert!(err.contains("cannot be used with"), "{err}");
}
