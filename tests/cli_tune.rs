//! `affinity embed`, `affinity train` and `affinity bench`, run as a user would.

mod common;

use std::path::{Path, PathBuf};

use common::{affinity, failed, ok, read_json, tiny_model};

/// A tiny random model in `DIR/model` and the test shop's events in `DIR/events.csv`.
fn model_and_events(dir: &Path) -> (PathBuf, PathBuf) {
    let (model, data) = (dir.join("model"), dir.join("events.csv"));
    tiny_model(&model);
    events(&data);
    (model, data)
}

/// Events of 60 shoppers over four days: fruit lovers and dairy lovers.
fn events(path: &Path) {
    let fruit = ["apple", "banana", "cherry", "grape", "pear"];
    let dairy = ["milk", "butter", "cheese", "yogurt", "cream"];
    let mut csv = String::from("user,item,timestamp\n");
    for u in 0..60 {
        let items = if u % 2 == 0 { fruit } else { dairy };
        // Two products a day sliding by one, so the last day (the held-out step) brings one
        // product the shopper has not bought before: evaluation then has someone to score.
        for day in 0..4 {
            for k in 0..2 {
                csv += &format!("u{u},{},{}\n", items[(u + day + k) % 5], 86_400 * (day + 1));
            }
        }
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn embed_writes_one_unit_vector_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.txt");
    std::fs::write(&input, "whole milk\nyogurt\nglass beaker 1000 ml\n").unwrap();
    let output = dir.path().join("vectors.txt");
    ok(&affinity(&[
        "embed",
        "--device",
        "cpu",
        "-i",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&output).unwrap();
    let rows: Vec<Vec<f32>> = text
        .lines()
        .map(|l| l.split(' ').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r.len(), 384);
        let norm: f32 = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    let out = affinity(&[
        "embed",
        "--model",
        "/nonexistent/model",
        "-i",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/model/config.json"));
    // Bytes that are not UTF-8 on standard input: the line is named, before any model loads.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_affinity"))
        .args(["embed", "--model", "/nonexistent/model"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"milk\nyogurt\nbad \xff byte\n")
        .unwrap();
    let err = failed(&child.wait_with_output().unwrap());
    assert!(err.contains("stdin:3: not UTF-8"), "{err}");
}

#[test]
fn train_writes_a_loadable_checkpoint_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = model_and_events(dir.path());
    let out_dir = dir.path().join("run");
    let common = [
        "train",
        "-i",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "1e-3",
        "--no-progress",
    ];
    // Nothing to resume yet: refused (it used to start afresh and exit 0).
    let mut early = common.to_vec();
    early.push("--resume");
    let err = failed(&affinity(&early));
    assert!(err.contains("no checkpoint to resume from"), "{err}");
    let mut first = common.to_vec();
    first.extend(["--stop-after", "1"]);
    let out = affinity(&first);
    ok(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains("epoch 1: loss"),
        "--no-progress is quiet: {log}"
    );
    assert!(out_dir.join("checkpoint-epoch-1").is_dir());
    // With progress on and standard error not a terminal, each epoch of this run gets a line.
    let mut second: Vec<&str> = common
        .iter()
        .copied()
        .filter(|&a| a != "--no-progress")
        .collect();
    second.push("--resume");
    let out = affinity(&second);
    let text = ok(&out);
    assert!(text.contains("best epoch"), "{text}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("epoch 2: loss") && !log.contains("epoch 1: loss"),
        "{log}"
    );
    let report = read_json(&out_dir.join("train_report.json"));
    assert_eq!(report["epochs"].as_array().unwrap().len(), 3, "{report}");
    // Scored with the popularity prior at the weight validation chose for the best epoch,
    // and that weight travels with the model.
    assert!(
        text.contains("cosine + w x ln(1 + ") && text.contains("1/scale = 0.05"),
        "{text}"
    );
    let best = report["best_epoch"].as_u64().unwrap() as usize;
    let weight = &report["epochs"][best]["prior_weight"];
    assert!(weight.as_f64().unwrap() > 0.0, "{report}");
    let card = read_json(&out_dir.join("best/affinity_model.json"));
    assert_eq!(&card["popularity_prior"], weight, "{card}");
    let table = ok(&affinity(&[
        "evaluate",
        "-i",
        data.to_str().unwrap(),
        "--model",
        out_dir.to_str().unwrap(),
        "--device",
        "cpu",
        "--hold-out",
        "last-time",
    ]));
    assert!(
        table.contains("model (cosine + popularity prior)"),
        "{table}"
    );
    // The best model is a Hugging Face directory that `embed` reads.
    let texts = dir.path().join("t.txt");
    std::fs::write(&texts, "milk; butter\n").unwrap();
    let v = ok(&affinity(&[
        "embed",
        "--device",
        "cpu",
        "--model",
        out_dir.join("best").to_str().unwrap(),
        "-i",
        texts.to_str().unwrap(),
    ]));
    assert_eq!(v.trim().split(' ').count(), 32);
}

#[test]
fn lora_training_saves_adapters_that_load() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = model_and_events(dir.path());
    let out_dir = dir.path().join("lora");
    ok(&affinity(&[
        "train",
        "-i",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "1e-2",
        "--lora-rank",
        "4",
        "--lora-targets",
        "query,value,output.dense",
        "--patience",
        "0",
        "--no-progress",
    ]));
    let best = out_dir.join("best");
    assert!(
        best.join("adapter.safetensors").is_file() && best.join("adapter_config.json").is_file()
    );
    assert!(
        !best.join("model.safetensors").exists(),
        "adapters are saved on their own"
    );
    let texts = dir.path().join("t.txt");
    std::fs::write(&texts, "milk\n").unwrap();
    let v = ok(&affinity(&[
        "embed",
        "--device",
        "cpu",
        "--model",
        best.to_str().unwrap(),
        "-i",
        texts.to_str().unwrap(),
    ]));
    assert_eq!(v.trim().split(' ').count(), 32);
}

/// `train --private-epsilon`: the budget in the output and the report, the last epoch's
/// model in OUT/best, and the flags it cannot account for refused.
#[test]
fn private_training_states_its_budget_and_keeps_the_last_model() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = model_and_events(dir.path());
    let out_dir = dir.path().join("run");
    let text = ok(&affinity(&[
        "train",
        "-i",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--private-epsilon",
        "3",
        "--private-clip",
        "0.5",
        "--no-progress",
    ]));
    assert!(text.contains("private training: (ε = "), "{text}");
    assert!(!text.contains("prior w"), "{text}");
    let report = read_json(&out_dir.join("train_report.json"));
    let privacy = &report["privacy"];
    assert!(privacy["epsilon"].as_f64().unwrap() <= 3.0, "{report}");
    assert_eq!(privacy["clip_norm"], 0.5);
    assert_eq!(report["best_epoch"], 2);
    assert!(out_dir.join("best").is_dir());
    for flags in [
        &["--private-clip", "1"][..],
        &["--private-epsilon", "3", "--resume"],
        &["--private-epsilon", "0"],
    ] {
        let mut argv = vec!["train", "-i", "x.csv", "--out", "/tmp/never"];
        argv.extend_from_slice(flags);
        let out = affinity(&argv);
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
    }
}

#[test]
fn invalid_training_settings_fail_before_loading_anything() {
    let out = affinity(&[
        "train",
        "-i",
        "/nonexistent.csv",
        "--out",
        "/tmp/never",
        "--epochs",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("epochs"), "{err}");
    assert!(!Path::new("/tmp/never").exists());
    // Values outside a list fail while the arguments are parsed, naming the choices.
    for (flag, value, needle) in [
        ("--monitor", "mrr", "[possible values: ndcg, recall]"),
        ("--device", "gpu0", "expected auto, cpu, cuda or cuda:N"),
        ("--device", "cuda:x", "expected auto, cpu, cuda or cuda:N"),
    ] {
        let out = affinity(&[
            "train",
            "-i",
            "/nonexistent.csv",
            "--out",
            "/tmp/never",
            flag,
            value,
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle) && err.contains(flag), "{err}");
    }
}

#[test]
fn bench_prints_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    tiny_model(&model);
    let bench = |what: &str, extra: &[&str]| {
        let mut args = vec![
            "bench",
            what,
            "--model",
            model.to_str().unwrap(),
            "--device",
            "cpu",
            "--batch-size",
            "4",
            "--seq-len",
            "8",
            "--steps",
            "2",
            "--json",
        ];
        args.extend(extra);
        affinity(&args)
    };
    for what in ["train", "encode"] {
        let text = ok(&bench(what, &["--warmup", "1"]));
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert!(v["per_second"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["int8_kernel"].is_null(), "{v}");
    }
    // int8: encoding says which kernel ran; training refuses it.
    let int8 = |what: &str| bench(what, &["--quantize", "int8"]);
    let v: serde_json::Value = serde_json::from_str(ok(&int8("encode")).trim()).unwrap();
    assert_eq!(v["precision"], "int8", "{v}");
    assert!(
        v["int8_kernel"].as_str().is_some_and(|k| !k.is_empty()),
        "{v}"
    );
    let out = int8("train");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("int8"));
}

#[test]
fn recommend_search_and_evaluate_run_on_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = model_and_events(dir.path());
    let (d, m) = (data.to_str().unwrap(), model.to_str().unwrap());
    let text = ok(&affinity(&[
        "recommend",
        "-i",
        d,
        "--model",
        m,
        "--device",
        "cpu",
        "--items",
        "milk,butter",
        "-k",
        "3",
    ]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(
        !names.contains(&"milk") && !names.contains(&"butter"),
        "history items are never recommended:
{text}"
    );
    let json = ok(&affinity(&[
        "recommend",
        "-i",
        d,
        "--model",
        m,
        "--device",
        "cpu",
        "--user",
        "u1",
        "-k",
        "2",
        "--json",
    ]));
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["reasons"].as_array().is_some_and(|r| !r.is_empty()),
            "{v}"
        );
    }
    let out = affinity(&[
        "recommend",
        "-i",
        d,
        "--model",
        m,
        "--device",
        "cpu",
        "--items",
        "caviar",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"caviar\""));

    // A product that does not exist is reported before any model is loaded: here there is
    // none to load at all.
    let err = failed(&affinity(&[
        "search",
        "-i",
        d,
        "--model",
        "/nonexistent/model",
        "--similar",
        "caviar",
    ]));
    assert!(err.contains("\"caviar\" is not in the catalogue"), "{err}");

    let found = ok(&affinity(&[
        "search", "-i", d, "--model", m, "--device", "cpu", "--query", "cheese", "-k", "4",
    ]));
    assert_eq!(found.lines().count(), 4);
    let similar = ok(&affinity(&[
        "search",
        "-i",
        d,
        "--model",
        m,
        "--device",
        "cpu",
        "--similar",
        "pear",
        "-k",
        "3",
    ]));
    assert!(
        similar.lines().count() == 3 && !similar.contains("pear "),
        "{similar}"
    );

    let table = ok(&affinity(&[
        "evaluate",
        "-i",
        d,
        "--model",
        m,
        "--device",
        "cpu",
        "--hold-out",
        "last-time",
        "--tune",
    ]));
    for method in [
        "most popular",
        "item co-occurrence",
        "rules alone",
        "model",
        "hybrid",
    ] {
        assert!(table.contains(method), "{method} missing in\n{table}");
    }
}

#[test]
fn category_objective_trains_a_product_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    tiny_model(&model);
    let data = dir.path().join("catalog.csv");
    let mut csv = String::from("user,item,timestamp,title,category\n");
    let products = [
        ("apple", "fruit"),
        ("banana", "fruit"),
        ("cherry", "fruit"),
        ("grape", "fruit"),
        ("pear", "fruit"),
        ("milk", "dairy"),
        ("butter", "dairy"),
        ("cheese", "dairy"),
        ("yogurt", "dairy"),
        ("cream", "dairy"),
    ];
    for (i, (p, c)) in products.iter().enumerate() {
        csv += &format!("u{},{p},{},{p},{c}\n", i % 3, i + 1);
    }
    std::fs::write(&data, csv).unwrap();
    let out_dir = dir.path().join("cat");
    let text = ok(&affinity(&[
        "train",
        "-i",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--objective",
        "category",
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--lr",
        "1e-3",
        "--no-progress",
    ]));
    assert!(text.contains("best epoch"), "{text}");
    let report = read_json(&out_dir.join("train_report.json"));
    assert_eq!(report["epochs"].as_array().unwrap().len(), 3);
    // A head was trained and saved with the best model.
    let best = out_dir.join("best");
    if report["best_epoch"] != 0 {
        assert!(best.join("head.safetensors").is_file());
    }
    // Without categories the objective is refused with a clear message.
    let plain = dir.path().join("plain.csv");
    std::fs::write(&plain, "user,item,timestamp\nu1,a,1\nu1,b,2\n").unwrap();
    let out = affinity(&[
        "train",
        "-i",
        plain.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--objective",
        "category",
        "--device",
        "cpu",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("categories"));
}

#[test]
fn training_that_does_not_help_says_so_and_leaves_the_starting_model() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = model_and_events(dir.path());
    let out_dir = dir.path().join("run");
    // A learning rate so small that no weight moves in f32: the epoch scores what the start
    // scored, and a tie keeps the start. (A rate that wrecks the weights is no proof: on some
    // CPUs the wrecked model happened to rank better than the random start.) Scored by the
    // cosine alone, as the prior would rank by popularity whatever the weights.
    let text = ok(&affinity(&[
        "train",
        "-i",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--device",
        "cpu",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--lr",
        "1e-30",
        "--warmup-ratio",
        "0",
        "--no-prior",
        "--no-progress",
    ]));
    let report = read_json(&out_dir.join("train_report.json"));
    assert_eq!(report["best_epoch"], 0, "{report}");
    assert!(
        text.contains("did not improve validation NDCG@10"),
        "{text}"
    );
    let best = out_dir.join("best");
    assert!(text.contains(&best.display().to_string()), "{text}");
    // The directory named is there and loads.
    let texts = dir.path().join("t.txt");
    std::fs::write(&texts, "milk\n").unwrap();
    let v = ok(&affinity(&[
        "embed",
        "--device",
        "cpu",
        "--model",
        best.to_str().unwrap(),
        "-i",
        texts.to_str().unwrap(),
    ]));
    assert_eq!(v.trim().split(' ').count(), 32);
}
