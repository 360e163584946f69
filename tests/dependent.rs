//! A crate outside the workspace that depends on affinity as a new user's would: prepared with
//! the README's command, then built and run without and with the `model` feature. Its two
//! programs are the README's own blocks, so the README's example for a dependent compiles.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Rust blocks of the README's "Use affinity from your crate" section.
fn readme_programs() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Use affinity from your crate")
        .nth(1)
        .expect("the README has the section")
        .split("\n## ")
        .next()
        .unwrap();
    section
        .split("```rust\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_string())
        .collect()
}

/// Runs `command`, which must succeed; its standard output.
fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A command with none of what this workspace's cargo configuration exports, as in a fresh
/// shell: whatever the dependent needs must come from its own configuration.
fn clean(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("LIBTORCH")
            || name.starts_with("AFFINITY_")
            || (name.starts_with("CARGO_") && name != "CARGO_HOME")
            || name.contains("RUSTFLAGS")
            || name == "LD_LIBRARY_PATH"
        {
            command.env_remove(name);
        }
    }
    command
}

fn cargo(project: &Path, args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(clean(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(project)
        // Kept between runs (a first build takes minutes), apart from the workspace's own.
        .env("CARGO_TARGET_DIR", root().join("target/dependent"))
        // Without debug info: what this test checks is linking and running, and full debug
        // info made its two binaries and their dependencies gigabytes of disk.
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_INCREMENTAL", "0"))
}

fn ldd(binary: &Path) -> String {
    run(clean("ldd").arg(binary))
}

#[test]
fn a_dependent_crate_builds_and_runs_with_and_without_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("shop");
    std::fs::create_dir_all(project.join("src/bin")).unwrap();
    let root = root();
    let manifest = format!(
        r#"[package]
name = "shop"
version = "0.1.0"
edition = "2021"
publish = false

[workspace]

[features]
model = ["affinity/model"]

[dependencies]
affinity = {{ path = "{root}", default-features = false }}
affinity-mine = {{ path = "{root}/crates/affinity-mine" }}

[[bin]]
name = "embed"
required-features = ["model"]
"#,
        root = root.display()
    );
    std::fs::write(project.join("Cargo.toml"), manifest).unwrap();
    let programs = readme_programs();
    assert_eq!(programs.len(), 2, "the README shows two programs");
    std::fs::write(project.join("src/bin/rules.rs"), &programs[0]).unwrap();
    std::fs::write(project.join("src/bin/embed.rs"), &programs[1]).unwrap();
    // The versions this workspace is tested with, so that no network is needed.
    std::fs::copy(root.join("Cargo.lock"), project.join("Cargo.lock")).unwrap();

    run(clean("bash")
        .arg(root.join("scripts/bootstrap.sh"))
        .args(["--project".as_ref(), project.as_os_str()]));
    let config = std::fs::read_to_string(project.join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains("LIBTORCH =") && config.contains("-rpath"),
        "{config}"
    );

    // (a) Without default features: mining and rules, and no libtorch anywhere.
    cargo(&project, &["build", "--bin", "rules"]);
    let rules = root.join("target/dependent/debug/rules");
    let linked = ldd(&rules);
    assert!(
        !linked.contains("libtorch") && !linked.contains("libc10"),
        "{linked}"
    );
    let out = run(&mut clean(&rules));
    assert!(out.contains("[0] -> [1] confidence 1.00"), "{out}");
    assert!(out.contains("language model in this build: false"), "{out}");

    // (b) With the model: the bundled MiniLM embeds a sentence; the binary finds libtorch
    // through its rpath (run directly, with no library path exported).
    cargo(
        &project,
        &["build", "--features", "model", "--bin", "embed"],
    );
    let embed = root.join("target/dependent/debug/embed");
    let linked = ldd(&embed);
    assert!(
        linked.contains("libtorch_cpu.so") && !linked.contains("not found"),
        "{linked}"
    );
    let model = root.join("models/all-MiniLM-L6-v2");
    let out = run(clean(&embed).env("AFFINITY_MODEL_DIR", &model));
    assert!(out.contains("384 dimensions, norm 1.0000"), "{out}");
    // And through cargo, as the README says: the model directory comes from the config.
    let out = cargo(&project, &["run", "--features", "model", "--bin", "embed"]);
    assert!(out.contains("norm 1.0000"), "{out}");
}
