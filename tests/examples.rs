//! The examples as a user starts them: `--help` prints how to run them, a wrong option is an
//! error message and exit code 2, never a debug dump with a backtrace.

use std::path::PathBuf;
use std::process::Command;

/// The example's binary, built first (a no-op when `cargo test` has built the examples).
fn example(name: &str) -> PathBuf {
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(built.success());
    let debug = std::env::current_exe().unwrap();
    let dir = debug.parent().unwrap().parent().unwrap();
    dir.join("examples").join(name)
}

#[test]
fn examples_answer_help_and_refuse_unknown_options_plainly() {
    for name in ["scientific", "groceries", "faithfulness"] {
        let binary = example(name);
        let help = Command::new(&binary).arg("--help").output().unwrap();
        assert_eq!(help.status.code(), Some(0), "{name}");
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(
            text.starts_with("usage: cargo run --release --example"),
            "{name}: {text}"
        );
        let wrong = Command::new(&binary)
            .arg("--no-such-option")
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&wrong.stderr);
        assert_eq!(wrong.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains("unknown option --no-such-option"),
            "{name}: {err}"
        );
        assert!(
            !err.contains("backtrace") && !err.contains("Backtrace"),
            "{name}: {err}"
        );
    }
}
