//! `affinity-lite`: `data` and `mine` without libtorch, the same answers as `affinity`, and
//! every other command handed on to `affinity`.

use std::process::{Command, Output};

fn lite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_affinity-lite"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn full(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_affinity"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn links_no_libtorch() {
    let out = Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_affinity-lite")])
        .output()
        .unwrap();
    let dynamic = String::from_utf8(out.stdout).unwrap();
    let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert!(!needed.is_empty(), "{dynamic}");
    assert!(
        needed
            .iter()
            .all(|l| !l.contains("torch") && !l.contains("c10")),
        "{needed:?}"
    );
}

#[test]
fn mines_and_describes_data_exactly_as_affinity_does() {
    for args in [
        &[
            "mine",
            "-i",
            "data/groceries.csv",
            "--min-support",
            "0.005",
            "--rules",
        ][..],
        &[
            "mine",
            "-i",
            "data/groceries.csv",
            "--min-count",
            "30",
            "--target",
            "closed",
        ],
        &["data", "stats", "-i", "data/groceries.csv", "--json"],
    ] {
        let (a, b) = (lite(args), full(args));
        assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
        assert!(!a.stdout.is_empty());
        assert_eq!(a.stdout, b.stdout, "{args:?}");
    }
    let version = lite(&["--version"]);
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("affinity-lite "));
    // Errors are the same typed, located errors.
    let bad = lite(&["mine", "-i", "Cargo.toml", "-f", "fimi", "--min-count", "1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Cargo.toml:1: not a FIMI file"));
}

#[test]
fn other_commands_are_handed_on_to_affinity() {
    let out = lite(&["search", "--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--similar"));
    let out = lite(&["recommend", "--no-such-flag"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap's usage error from affinity"
    );
}

/// Holding itemsets for rules in an address space too small for the cap stops with an error
/// that says so (exit 2), where a failed allocation used to abort the process.
#[cfg(target_os = "linux")]
#[test]
fn mining_past_the_memory_it_may_use_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    // One basket of 23 items: 8.4 million itemsets at a count of 1, under the cap of 60
    // million, far over 400 MB of address space.
    let data = dir.path().join("one.dat");
    let items: Vec<String> = (1..=23).map(|i| i.to_string()).collect();
    std::fs::write(&data, items.join(" ") + "\n").unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 400000 && exec '{}' mine -i '{}' -f fimi --min-count 1 --rules \
             --max-itemsets 60000000 --count-only",
            env!("CARGO_BIN_EXE_affinity-lite"),
            data.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ran out of memory holding"), "{err}");
}
