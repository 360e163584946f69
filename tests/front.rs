//! `affinity`, the front: `data`, `mine` and `--version` run without libtorch (never linked,
//! never loaded) and answer exactly as `affinity-model` does; every other command is handed on
//! to `affinity-model` by exec, its streams, exit status and signals untouched.

mod common;

use std::process::{Command, Output};

fn front(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_affinity"), args, &[])
}

/// `affinity-model` started directly (its usage lines name `affinity` all the same).
fn model(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_affinity-model"), args, &[])
}

/// Runs `binary`, trying again while the kernel still counts a writer to it (a binary a test
/// has just copied, for the instant a sibling test's forked child takes to exec).
fn run(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    for _ in 0..50 {
        match Command::new(binary)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
        {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.unwrap(),
        }
    }
    panic!("{binary} stayed busy for a second")
}

/// The shared libraries a run opened, as the dynamic loader reports them (`LD_DEBUG=libs`:
/// one `find library=NAME` line per library it looks for, `dlopen` included).
fn libraries_opened(binary: &str, args: &[&str]) -> String {
    let out = run(binary, args, &[("LD_DEBUG", "libs")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("find library="))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn own_commands_never_load_libtorch() {
    for args in [
        &["--version"][..],
        &["-V"],
        &[
            "mine",
            "-i",
            "data/groceries.csv",
            "--min-support",
            "0.01",
            "--rules",
        ],
        &["data", "stats", "-i", "data/groceries.csv"],
    ] {
        let opened = libraries_opened(env!("CARGO_BIN_EXE_affinity"), args);
        assert!(
            opened.contains("libc.so"),
            "the loader reported nothing: {opened}"
        );
        assert!(
            !opened.contains("torch") && !opened.contains("libc10"),
            "{args:?}: {opened}"
        );
    }
    // The same check sees libtorch where it is loaded.
    if cfg!(feature = "model") {
        let opened = libraries_opened(env!("CARGO_BIN_EXE_affinity-model"), &["--version"]);
        assert!(opened.contains("libtorch"), "{opened}");
    }
}

#[test]
fn links_no_libtorch() {
    let out = Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_affinity")])
        .output()
        .expect("readelf (binutils) reads the binary's dynamic section");
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
fn mines_and_describes_data_exactly_as_affinity_model_does() {
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
        &["--version"],
        &["-V"],
        &["mine", "--help"],
        &["data", "--help"],
        &["data", "stats", "--help"],
    ] {
        let (a, b) = (front(args), model(args));
        assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
        assert!(!a.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&b.stdout),
            "{args:?}"
        );
    }
    let version = front(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("affinity {}\n", env!("CARGO_PKG_VERSION"))
    );
    // Errors are the same typed, located errors, and usage errors the same as clap's.
    for args in [
        &["mine", "-i", "Cargo.toml", "-f", "fimi", "--min-count", "1"][..],
        &["mine", "--no-such-flag"],
        &["data"],
    ] {
        let (a, b) = (front(args), model(args));
        assert_eq!(a.status.code(), Some(2), "{args:?}");
        assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr),
            "{args:?}"
        );
    }
    let bad = front(&["mine", "-i", "Cargo.toml", "-f", "fimi", "--min-count", "1"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Cargo.toml:1: not a FIMI file"));
}

#[test]
fn other_commands_and_help_are_handed_on_to_affinity_model() {
    let out = front(&["search", "--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--similar"));
    // A usage error from affinity-model, under the name the user typed.
    let out = front(&["recommend", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Usage: affinity recommend"), "{err}");
    // Help lists every command, the model's too; and is affinity-model's own.
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let (a, b) = (front(args), model(args));
        assert!(a.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&a.stdout);
        for command in [
            "data",
            "mine",
            "fit",
            "recommend",
            "search",
            "serve",
            "explore",
        ] {
            assert!(help.contains(&format!("  {command} ")), "{command}: {help}");
        }
        if cfg!(feature = "model") {
            assert!(help.contains("  train "), "{help}");
        }
        assert_eq!(a.stdout, b.stdout, "{args:?}");
    }
    // No command at all: clap's usage, exit 2, listing every command.
    let out = front(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("  fit "));
    // Standard output passes straight through (man page, completions).
    let (a, b) = (
        front(&["completions", "bash"]),
        model(&["completions", "bash"]),
    );
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
}

/// Handed on by exec: the process the caller started *is* affinity-model (same pid), and a
/// signal sent to it reaches the server, which stops cleanly.
#[cfg(target_os = "linux")]
#[test]
fn a_handed_on_server_is_the_same_process_and_gets_its_signals() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events.csv");
    common::shop_events(&data, 0..30, 0..4, 6);
    let bundle = dir.path().join("bundle");
    common::ok(&front(&[
        "fit",
        "-i",
        data.to_str().unwrap(),
        "--no-model",
        "-o",
        bundle.to_str().unwrap(),
    ]));
    let args = [
        "serve",
        "-b",
        bundle.to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
    ];
    let (mut child, url) = common::announced(&args, "listening on ");
    // An answer from the handed-on server before it is stopped.
    assert_eq!(
        ureq::get(&format!("{url}/healthz"))
            .call()
            .unwrap()
            .status(),
        200
    );
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    assert_eq!(
        exe,
        std::fs::canonicalize(env!("CARGO_BIN_EXE_affinity-model")).unwrap()
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed().as_secs() < 20, "no graceful stop");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "SIGTERM ends the server cleanly: {status:?}"
    );
}

/// Without `affinity-model` beside it, a handed-on command says which file is missing and how
/// to build it.
#[cfg(unix)]
#[test]
fn a_missing_affinity_model_is_a_clear_error() {
    // A hard link, not a copy, in the target's own scratch folder (same file system): a copy
    // opens the file for writing, and a child another test thread forks at that moment holds
    // that descriptor until its exec, so exec of the copy could fail with "Text file busy".
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let alone = dir.path().join("affinity");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_affinity"), &alone).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_affinity"), &alone).unwrap();
    }
    let out = run(alone.to_str().unwrap(), &["fit", "--help"], &[]);
    let err = common::failed(&out);
    assert!(
        err.contains(&dir.path().join("affinity-model").display().to_string()),
        "{err}"
    );
    assert!(err.contains("cargo build --release"), "{err}");
    // Its own commands still work alone.
    let out = run(alone.to_str().unwrap(), &["--version"], &[]);
    assert!(out.status.success());
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
            env!("CARGO_BIN_EXE_affinity"),
            data.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ran out of memory holding"), "{err}");
}
