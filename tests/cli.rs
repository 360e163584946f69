//! The `affinity` binary, run as a user would.

mod common;

use common::{affinity, ok, read_json};

#[test]
fn data_stats_on_shipped_groceries() {
    let out = affinity(&["data", "stats", "--input", "data/groceries.csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "rows read          38,765",
        "duplicate rows     759 dropped",
        "users              3,898",
        "items              167",
        "baskets            14,963",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let out = affinity(&["data", "stats", "-i", "data/groceries.csv", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["users"], 3898);
    assert_eq!(json["duplicates_dropped"], 759);
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "user,item,date\nu,i,2015-01-01\nu,i,not-a-date\n").unwrap();
    let out = affinity(&["data", "stats", "-i", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.csv:3") && err.contains("timestamp"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let out = affinity(&["data", "stats", "-i", "missing.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let out = affinity(&["data", "stats", "-i", bad.to_str().unwrap(), "--lenient"]);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("rows skipped       1 (1 unparsable timestamp)"));
}

#[test]
fn mine_groceries_and_fimi_like_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("sets.txt");
    let rules_path = dir.path().join("rules.json");
    let out = affinity(&[
        "mine",
        "-i",
        "data/groceries.csv",
        "--min-count",
        "100",
        "--rules",
        "--min-confidence",
        "0.1",
        "--output",
        out_path.to_str().unwrap(),
        "--rules-output",
        rules_path.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["transactions"], 14_963);
    assert_eq!(summary["min_count"], 100);
    let lines = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(
        lines.lines().count() as u64,
        summary["itemsets"].as_u64().unwrap()
    );
    assert!(
        lines.lines().any(|l| l == "\"whole milk\" (2363)"),
        "{lines}"
    );
    let rules = read_json(&rules_path);
    assert_eq!(
        rules.as_array().unwrap().len() as u64,
        summary["rules"].as_u64().unwrap()
    );
    assert!(rules[0]["confidence"].as_f64().unwrap() >= 0.1);
    assert!(rules[0]["antecedents"].is_array());

    // FIMI with a blank line (an empty transaction) and no newline at the end.
    let dat = dir.path().join("t.dat");
    std::fs::write(&dat, "1 2 3\n\n1 2\n1 3").unwrap();
    let out = affinity(&[
        "mine",
        "-i",
        dat.to_str().unwrap(),
        "-f",
        "fimi",
        "--min-support",
        "0.5",
    ]);
    assert!(out.status.success());
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(lines, ["1 (3)", "1 2 (2)", "1 3 (2)", "2 (2)", "3 (2)"]);
}

/// `mine --private-epsilon`: noisy counts by shopper, above the floors the summary reports,
/// every subset released with its itemset, reproducible from a seed, nothing exact in the
/// summary, refused where the release does not apply.
#[test]
fn mine_releases_private_counts() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &[&str]| {
        let sets = dir.path().join(format!("{name}.jsonl"));
        let rules = dir.path().join(format!("{name}.json"));
        let mut args = vec![
            "mine",
            "-i",
            "data/groceries.csv",
            "--min-support",
            "0.02",
            "--rules",
            "--min-confidence",
            "0.1",
            "--output",
            sets.to_str().unwrap(),
            "--rules-output",
            rules.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = affinity(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sets = std::fs::read_to_string(sets).unwrap();
        (summary, sets, read_json(&rules))
    };
    // At ε = 8 the support floor (2 % of about 3,900 shoppers) is above the privacy threshold.
    let private = ["--private-epsilon", "8", "--private-seed", "3"];
    let (summary, sets, rules) = run("a", &private);
    let privacy = &summary["privacy"];
    assert!(privacy["epsilon"].as_f64().unwrap() <= 8.0, "{summary}");
    assert_eq!(
        privacy["delta"].as_f64().unwrap(),
        1e-6,
        "not from the data"
    );
    let threshold = privacy["threshold"].as_f64().unwrap();
    let total = summary["transactions"].as_f64().unwrap();
    assert!(total > 1_000.0 && total < 3_898.0 + 100.0, "{summary}");
    assert!(0.02 * total > threshold, "{summary}");
    let floor = summary["min_count"].as_f64().unwrap();
    assert_eq!(floor, (0.02 * total).ceil());
    let mut released = std::collections::HashMap::new();
    for line in sets.lines() {
        let set: serde_json::Value = serde_json::from_str(line).unwrap();
        let items: Vec<String> = serde_json::from_value(set["items"].clone()).unwrap();
        let support = set["support"].as_u64().unwrap() as f64;
        assert!(items.len() <= 2, "{line}");
        // Released from a noisy count at the floor or above (over the unrounded total),
        // then rounded.
        assert!(support + 0.5 >= 0.02 * (total - 0.5), "{line}");
        released.insert(items, support);
    }
    assert_eq!(released.len() as u64, summary["itemsets"].as_u64().unwrap());
    let singles = released.keys().filter(|i| i.len() == 1).count() as u64;
    assert_eq!(
        summary["items"].as_u64().unwrap(),
        singles,
        "released items only"
    );
    assert!(singles < 167);
    assert!(released.contains_key(&vec!["whole milk".to_string()]));
    for (items, support) in released.iter().filter(|(i, _)| i.len() == 2) {
        assert!(items[0] < items[1], "items by name: {items:?}");
        for item in items {
            assert!(released[&vec![item.clone()]] >= *support, "{items:?}");
        }
    }
    let rules = rules.as_array().unwrap();
    assert_eq!(rules.len() as u64, summary["rules"].as_u64().unwrap());
    assert!(!rules.is_empty());
    assert!(rules.iter().all(|r| {
        let c = r["confidence"].as_f64().unwrap();
        (0.1..=1.0).contains(&c)
    }));
    // A seed reproduces a release; another gives other noise.
    let (_, again, _) = run("b", &private);
    assert_eq!(sets, again);
    let (_, other, _) = run("c", &["--private-epsilon", "8", "--private-seed", "4"]);
    assert_ne!(sets, other);

    // An order id two users share would credit one with the other's items.
    let shared = dir.path().join("shared.csv");
    std::fs::write(
        &shared,
        "user,item,time,order\nu1,a,2020-01-01,o1\nu2,b,2020-01-01,o1\n",
    )
    .unwrap();
    for (input, extra, says) in [
        (
            "data/groceries.csv",
            &["--target", "closed"][..],
            "frequent itemsets only",
        ),
        ("data/groceries.csv", &["--max-len", "4"][..], "max_len"),
        (
            "data/groceries.csv",
            &["--private-delta", "1.5"][..],
            "delta",
        ),
        (
            "data/groceries.csv",
            &["--algorithm", "apriori"][..],
            "do not apply",
        ),
        (shared.to_str().unwrap(), &[][..], "order \"o1\""),
    ] {
        let mut args = vec![
            "mine",
            "-i",
            input,
            "--min-support",
            "0.02",
            "--private-epsilon",
            "1",
            "--count-only",
        ];
        args.extend_from_slice(extra);
        let out = affinity(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{extra:?}: {err}");
    }
}

#[test]
fn mine_rejects_bad_settings_and_keeps_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let dat = dir.path().join("t.dat");
    std::fs::write(&dat, "1 2\n").unwrap();
    for bad in [
        ["--min-support", "1.5"],
        ["--min-support", "abc"],
        ["--min-count", "0"],
    ] {
        let out = affinity(&[
            "mine",
            "-i",
            dat.to_str().unwrap(),
            "-f",
            "fimi",
            bad[0],
            bad[1],
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("min_support"));
    }
    // Rule settings without --rules used to be ignored in silence.
    for rule_only in [
        &["--max-item-support", "0.5"][..],
        &["--min-lift", "1.2"],
        &["--any-consequent"],
        &["--rules-output", "r.csv"],
    ] {
        let mut argv = vec![
            "mine",
            "-i",
            dat.to_str().unwrap(),
            "-f",
            "fimi",
            "--min-count",
            "1",
        ];
        argv.extend_from_slice(rule_only);
        let out = affinity(&argv);
        assert_eq!(out.status.code(), Some(2), "{rule_only:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--rules"),
            "{rule_only:?}"
        );
    }
    // A failing run (bad line) leaves the earlier output in place.
    let output = dir.path().join("out.txt");
    std::fs::write(&output, "earlier").unwrap();
    let bad = dir.path().join("bad.dat");
    std::fs::write(&bad, b"1 2\n\xff\n").unwrap();
    let out = affinity(&[
        "mine",
        "-i",
        bad.to_str().unwrap(),
        "-f",
        "fimi",
        "--min-count",
        "1",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.dat:2"));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "earlier");
}

#[test]
fn output_to_a_device_is_written_in_place_not_replaced() {
    let out = affinity(&[
        "mine",
        "-i",
        "data/groceries.csv",
        "--min-count",
        "500",
        "-o",
        "/dev/null",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn mine_rules_stop_at_their_cap_and_keep_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let dat = dir.path().join("t.dat");
    std::fs::write(&dat, "1 2 3 4 5\n1 2 3 4 5\n").unwrap();
    let rules = dir.path().join("rules.csv");
    std::fs::write(&rules, "earlier").unwrap();
    let out = affinity(&[
        "mine",
        "-i",
        dat.to_str().unwrap(),
        "-f",
        "fimi",
        "--min-count",
        "1",
        "--count-only",
        "--rules",
        "--max-rules",
        "10",
        "--rules-output",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than 10 rules"));
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), "earlier");
}

/// A mining run killed while it writes leaves no temporary file, whatever the signal (a
/// killed run used to leave a multi-GB `.NAME.tmp.PID`), and the earlier output stays.
#[test]
fn killed_mining_runs_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let dat = dir.path().join("dense.dat");
    // 60 transactions of 28 of 30 items: at min count 2 far more itemsets than it can write.
    let mut text = String::new();
    for t in 0..60u32 {
        let row: Vec<String> = (0..30u32)
            .filter(|i| i % 30 != t % 30 && (i + 7) % 30 != t % 30)
            .map(|i| i.to_string())
            .collect();
        text.push_str(&row.join(" "));
        text.push('\n');
    }
    std::fs::write(&dat, text).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let output = out_dir.join("itemsets.txt");
    std::fs::write(&output, "earlier").unwrap();
    /// Kills the run even when an assertion fails first.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    for signal in ["TERM", "INT", "KILL"] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_affinity"));
        command
            .args(["mine", "-f", "fimi", "--min-count", "2", "-i"])
            .arg(&dat)
            .arg("-o")
            .arg(&output)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // A shell that starts this test in the background ignores SIGINT, and the child would
        // inherit that and never stop: the run gets the default dispositions back.
        #[allow(unsafe_code)]
        // SAFETY: only `signal`, which is async-signal-safe, runs between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut running = Running(command.spawn().unwrap());
        let child = &mut running.0;
        std::thread::sleep(std::time::Duration::from_millis(1500));
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        let listed = |d: &std::path::Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        // While it writes, the output directory shows no temporary file at all.
        assert_eq!(listed(&out_dir), ["itemsets.txt"], "while writing");
        let killed = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert!(!status.success(), "{signal}");
        assert_eq!(listed(&out_dir), ["itemsets.txt"], "after SIG{signal}");
        assert_eq!(std::fs::read_to_string(&output).unwrap(), "earlier");
    }
}

/// The itemset format follows the output's extension or --output-format, and names with
/// separators survive each.
#[test]
fn mine_writes_json_lines_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let baskets = dir.path().join("b.csv");
    std::fs::write(&baskets, "\"eggs, large\",milk\n\"eggs, large\",milk\n").unwrap();
    let jsonl = dir.path().join("sets.jsonl");
    let args = ["mine", "-f", "baskets", "--min-count", "2", "-i"];
    let out = affinity(
        &[
            &args[..],
            &[baskets.to_str().unwrap(), "-o", jsonl.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.contains(&serde_json::json!({"items": ["eggs, large", "milk"], "support": 2})));
    let out = affinity(
        &[
            &args[..],
            &[baskets.to_str().unwrap(), "--output-format", "csv"],
        ]
        .concat(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("items,freq\n"), "{text}");
    assert!(
        text.contains("\"[\"\"eggs, large\"\",\"\"milk\"\"]\",2"),
        "{text}"
    );
}

/// `data stats` names the top products by their titles where the data has them.
#[test]
fn data_stats_shows_titles() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    common::shop_events(&events, 0..12, 0..3, 10);
    let out = affinity(&[
        "data",
        "stats",
        "-i",
        events.to_str().unwrap(),
        "--top",
        "3",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("white bread [bread]"), "{text}");
    let out = affinity(&["data", "stats", "-i", events.to_str().unwrap(), "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let titles = stats["top_item_titles"].as_array().unwrap();
    assert_eq!(titles.len(), stats["top_items"].as_array().unwrap().len());
    assert!(
        titles.contains(&serde_json::json!("salted butter")),
        "{titles:?}"
    );
}

/// Completions and man pages come from the same definitions as `--help`.
#[test]
fn completions_and_man_pages() {
    for shell in ["bash", "zsh", "fish"] {
        let out = affinity(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            script.contains("affinity") && script.contains("mine"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = affinity(&["man", "--out", pages.to_str().unwrap()]);
    assert!(out.status.success());
    let mine = std::fs::read_to_string(pages.join("affinity-mine.1")).unwrap();
    assert!(
        mine.contains(".TH affinity-mine 1") && mine.contains("min\\-support"),
        "{mine}"
    );
    let page = String::from_utf8(affinity(&["man"]).stdout).unwrap();
    assert!(page.contains(".TH affinity 1"), "{page}");
}

/// `bench rank` measures a batch large enough for the integer codes and says what it ran
/// with, each cap of `AFFINITY_RANK_ISA` naming its own kernels.
#[test]
fn bench_rank_reports_its_kernels() {
    let args = [
        "bench",
        "rank",
        "--items",
        "300",
        "--dim",
        "24",
        "--queries",
        "1100",
        "--single",
        "3",
        "--json",
    ];
    let json: serde_json::Value = serde_json::from_str(&ok(&affinity(&args))).unwrap();
    assert!(json["batch_qps"].as_f64().unwrap() > 0.0, "{json}");
    assert!(json["single_qps"].as_f64().unwrap() > 0.0, "{json}");
    assert!(
        json["kernels"].as_str().unwrap().contains("batches:"),
        "{json}"
    );
    let portable = std::process::Command::new(env!("CARGO_BIN_EXE_affinity"))
        .args(args)
        .env("AFFINITY_RANK_ISA", "portable")
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&ok(&portable)).unwrap();
    assert_eq!(json["kernels"], "portable loops; batches: 11-bit codes");
}
