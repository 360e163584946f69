//! `affinity explore` as a user starts it: loopback only, its address printed, the page served;
//! and `affinity serve --no-explorer` without the page.

mod common;

use std::path::Path;
use std::process::Command;

use common::{affinity, ok};

fn bundle(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("events.csv");
    common::shop_events(&data, 0..30, 0..4, 6);
    let out = dir.join("bundle");
    ok(&affinity(&[
        "fit",
        "-i",
        data.to_str().unwrap(),
        "--no-model",
        "-o",
        out.to_str().unwrap(),
    ]));
    out
}

/// Starts the binary with `args`, reads the address from its first line (after `prefix`), and
/// answers `GET path` there: status and headers.
fn first_answer(args: &[&str], prefix: &str, path: &str) -> (u16, Option<String>) {
    let (mut child, url) = common::announced(args, prefix);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(&format!("{url}{path}")).call().unwrap();
    let csp = response
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_string());
    let status = response.status().as_u16();
    let _ = child.kill();
    let _ = child.wait();
    (status, csp)
}

#[test]
fn explore_serves_the_page_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path());
    let b = bundle.to_str().unwrap();

    let refused = affinity(&["explore", "-b", b, "--addr", "0.0.0.0:0"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a loopback address"));

    let (status, csp) = first_answer(&["explore", "-b", b], "explore the bundle at ", "/");
    assert_eq!(status, 200);
    assert!(csp.unwrap().contains("script-src 'self'"));

    let args = ["serve", "-b", b, "--addr", "127.0.0.1:0", "--no-explorer"];
    let (status, _) = first_answer(&args, "listening on ", "/");
    assert_eq!(status, 404);
    let (status, _) = first_answer(&args, "listening on ", "/healthz");
    assert_eq!(status, 200);
}

/// A SIGTERM sent the moment the address is printed stops the server cleanly (exit 0): the
/// signal handlers are installed before the address is announced. Before, the handlers came
/// with the accept loop's first poll, just after the address: on a loaded machine a signal in
/// that gap killed the server (seen in 2 of 3 runs of tests/front.rs while other builds ran;
/// on an idle machine the gap is too short to hit in 30 tries).
#[test]
fn a_sigterm_right_after_the_address_is_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path());
    for _ in 0..10 {
        let args = [
            "serve",
            "-b",
            bundle.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ];
        let (mut child, _) = common::announced(&args, "listening on ");
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{status:?}");
    }
}
