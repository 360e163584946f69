//! The `affinity` binary, run as a user would.

use std::process::Command;

fn affinity(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_affinity"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

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
