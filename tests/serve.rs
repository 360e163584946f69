//! `affinity serve` started as a user would (127.0.0.1, port 0), every route, every bad input,
//! reloads under load, updates from posted events, and a graceful stop.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{affinity, ok, tiny_model};
use serde_json::{json, Value};

const TOKEN: &str = "a-test-token-of-enough-length";

/// Shoppers over five days, eight products of each kind.
fn events(path: &Path, users: std::ops::Range<usize>) {
    common::shop_events(path, users, 0..5, 8);
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(bundle: &Path, extra: &[&str]) -> Server {
        let bundle = bundle.to_str().unwrap();
        let mut args = vec![
            "serve",
            "-b",
            bundle,
            "--addr",
            "127.0.0.1:0",
            "--device",
            "cpu",
        ];
        args.extend_from_slice(extra);
        let (child, url) = common::announced(&args, "listening on ");
        Server { child, url }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let response = match (method, body) {
            ("GET", _) => {
                let mut r = agent.get(&url);
                if let Some(t) = token {
                    r = r.header("Authorization", &format!("Bearer {t}"));
                }
                r.call()
            }
            (_, body) => {
                let mut r = agent.post(&url);
                if let Some(t) = token {
                    r = r.header("Authorization", &format!("Bearer {t}"));
                }
                r.send(body.unwrap_or(""))
            }
        };
        let mut response = response.unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(&body.to_string()), None)
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no graceful stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fitted(dir: &Path, name: &str, users: std::ops::Range<usize>, extra: &[&str]) -> PathBuf {
    let model = dir.join("model");
    if !model.join("model.safetensors").exists() {
        tiny_model(&model);
    }
    let data = dir.join(format!("{name}.csv"));
    events(&data, users);
    let bundle = dir.join(name);
    let mut args = vec![
        "fit",
        "-i",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--device",
        "cpu",
        "--min-support",
        "0.02",
        "-o",
        bundle.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&affinity(&args));
    bundle
}

fn names(answer: &Value, key: &str) -> Vec<String> {
    answer[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_route_and_every_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = fitted(dir.path(), "shop", 0..40, &[]);
    let server = Server::start(
        &bundle,
        &["--body-limit", "2000", "--header-timeout-ms", "300"],
    );

    // The same list as `affinity recommend --bundle` for the same user.
    let (status, answer) = server.post("/v1/recommend", json!({"user": "u3", "k": 3}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["cold_start"], false);
    let cli = ok(&affinity(&[
        "recommend",
        "-b",
        bundle.to_str().unwrap(),
        "--user",
        "u3",
        "-k",
        "3",
        "--json",
        "--device",
        "cpu",
    ]));
    let from_cli: Vec<String> = cli
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names(&answer, "recommendations"), from_cli);
    assert!(answer["recommendations"][0]["reasons"].as_array().is_some());

    // Items, with unknown ones listed and extra exclusions honoured.
    let (status, answer) = server.post(
        "/v1/recommend",
        json!({"items": ["bread", "caviar"], "k": 4, "exclude": ["butter"], "explain": false}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["unknown_items"], json!(["caviar"]));
    let got = names(&answer, "recommendations");
    assert_eq!(got.len(), 4);
    assert!(!got.contains(&"butter".to_string()) && !got.contains(&"bread".to_string()));
    assert!(answer["recommendations"][0]["reasons"]
        .as_array()
        .unwrap()
        .is_empty());

    // Cold starts are popular items, not errors.
    for body in [
        json!({"user": "stranger", "k": 2}),
        json!({"items": [], "k": 2}),
    ] {
        let (status, answer) = server.post("/v1/recommend", body);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["cold_start"], true);
        assert_eq!(names(&answer, "recommendations").len(), 2);
    }

    // Bad input: 4xx with a message, never 5xx.
    let bad: Vec<(&str, u16)> = vec![
        ("not json", 400),
        (r#"{"user": 3}"#, 400),
        (r#"{"user": "u3", "colour": "red"}"#, 400),
        (r#"{"user": "u3", "k": 0}"#, 422),
        (r#"{"user": "u3", "k": 100000}"#, 422),
        (r#"{"user": "u3", "items": ["milk"]}"#, 422),
        ("{}", 422),
        (r#"{"user": "u3", "k": -1}"#, 400),
    ];
    for (body, expected) in bad {
        let (status, answer) = server.call("POST", "/v1/recommend", Some(body), None);
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    let big = format!(r#"{{"items": ["{}"]}}"#, "x".repeat(5000));
    assert_eq!(
        server.call("POST", "/v1/recommend", Some(&big), None).0,
        413
    );

    let (status, answer) = server.post("/v1/search", json!({"query": "fresh fruit", "k": 3}));
    assert_eq!(
        (status, answer["results"].as_array().unwrap().len()),
        (200, 3)
    );
    assert_eq!(server.post("/v1/search", json!({"query": "  "})).0, 422);
    let (status, answer) = server.call("GET", "/v1/similar/milk?k=2", None, None);
    assert_eq!(status, 200, "{answer}");
    assert!(!names(&answer, "results").contains(&"milk".to_string()));
    assert_eq!(server.call("GET", "/v1/similar/caviar", None, None).0, 404);
    assert_eq!(
        server.call("GET", "/v1/similar/milk?k=many", None, None).0,
        400
    );
    let (status, answer) = server.call("GET", "/v1/items/bread", None, None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["text"], "white bread");
    assert!(answer["rules_to"].is_array(), "{answer}");
    assert!(
        answer["rules_from"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["consequent"] == "butter"),
        "{answer}"
    );
    assert_eq!(server.call("GET", "/v1/items/caviar", None, None).0, 404);
    assert_eq!(server.call("GET", "/nowhere", None, None).0, 404);
    assert_eq!(server.call("GET", "/healthz", None, None).0, 200);
    let (status, ready) = server.call("GET", "/readyz", None, None);
    assert_eq!((status, ready["bundle"]["users"].as_u64()), (200, Some(40)));
    // Admin routes are off without a token.
    assert_eq!(
        server.call("POST", "/v1/admin/reload", None, Some(TOKEN)).0,
        403
    );

    // A client that never finishes its headers is cut off; the server goes on.
    let host = server.url.strip_prefix("http://").unwrap();
    let mut slow = std::net::TcpStream::connect(host).unwrap();
    slow.write_all(b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the slow client was not cut off"
    );
    assert_eq!(server.call("GET", "/healthz", None, None).0, 200);

    let (_, metrics) = server.call("GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap().to_string();
    for line in [
        "affinity_requests_total{route=\"/v1/recommend\",status=\"200\"}",
        "affinity_requests_total{route=\"/v1/recommend\",status=\"422\"}",
        "affinity_request_seconds_bucket{route=\"/v1/recommend\",le=\"+Inf\"}",
        "affinity_bundle_items 18",
        "affinity_bundle_rules",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
    assert!(server.stop().success(), "SIGTERM ends the server cleanly");
}

#[test]
fn reloads_under_load_and_updates_from_posted_events() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bundles");
    std::fs::create_dir_all(&root).unwrap();
    // Users' vectors cached: requests by user id skip the encoder, and an update keeps them.
    let first = fitted(&root, "first", 0..30, &["--user-vectors"]);
    let second = fitted(&root, "second", 0..36, &[]);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let server = Server::start(
        &first,
        &[
            "--admin-token-file",
            token_file.to_str().unwrap(),
            "--reload-root",
            root.to_str().unwrap(),
        ],
    );
    assert_eq!(server.call("POST", "/v1/admin/reload", None, None).0, 401);
    assert_eq!(
        server
            .call(
                "POST",
                "/v1/admin/reload",
                None,
                Some("wrong-token-wrong-token")
            )
            .0,
        401
    );

    // Requests keep being answered while bundles are swapped under them.
    let url = server.url.clone();
    let load = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut statuses = Vec::new();
        for i in 0..150 {
            let body = json!({"user": format!("u{}", i % 30), "k": 3}).to_string();
            let r = agent
                .post(&format!("{url}/v1/recommend"))
                .send(&body)
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        statuses
    });
    for name in ["second", "first", "second"] {
        let (status, answer) = server.call(
            "POST",
            "/v1/admin/reload",
            Some(&json!({"bundle": name}).to_string()),
            Some(TOKEN),
        );
        assert_eq!(status, 200, "{answer}");
    }
    assert!(load.join().unwrap().iter().all(|&s| s == 200));
    let (_, ready) = server.call("GET", "/readyz", None, None);
    assert_eq!(ready["bundle"]["users"], 36);
    assert_eq!(ready["bundle"]["generation"], 4);

    // A bad reload answers the error and leaves the served bundle as it was.
    for name in ["../first", "missing", "/etc"] {
        let (status, answer) = server.call(
            "POST",
            "/v1/admin/reload",
            Some(&json!({"bundle": name}).to_string()),
            Some(TOKEN),
        );
        assert_eq!(status, 422, "{name}: {answer}");
    }
    std::fs::write(second.join("rules.json"), "[]").unwrap();
    let (status, answer) = server.call("POST", "/v1/admin/reload", Some("{}"), Some(TOKEN));
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("rules.json"),
        "{answer}"
    );
    let (_, ready) = server.call("GET", "/readyz", None, None);
    assert_eq!(ready["bundle"]["generation"], 4);
    assert_eq!(server.post("/v1/recommend", json!({"user": "u31"})).0, 200);

    // Posted events are folded in in the background, then served.
    let (status, _) = server.call(
        "POST",
        "/v1/admin/reload",
        Some(r#"{"bundle": "first"}"#),
        Some(TOKEN),
    );
    assert_eq!(status, 200);
    let (_, before) = server.post("/v1/recommend", json!({"user": "newcomer", "k": 2}));
    assert_eq!(before["cold_start"], true);
    let csv = "user,item,timestamp,title\nnewcomer,bread,86400,\nnewcomer,milk,172800,\n";
    let (status, answer) = server.call("POST", "/v1/admin/events", Some(csv), Some(TOKEN));
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["events"], 2);
    let started = Instant::now();
    loop {
        let (_, s) = server.call("GET", "/v1/admin/status", None, Some(TOKEN));
        if s["last_update"]["status"] == "applied" {
            assert_eq!(s["last_update"]["report"]["new_users"], 1);
            assert_eq!(s["last_update"]["report"]["users_embedded"], 1);
            break;
        }
        assert!(s["last_update"]["status"] != "failed", "{s}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "update never applied: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, after) = server.post("/v1/recommend", json!({"user": "newcomer", "k": 2}));
    assert_eq!(after["cold_start"], false);
    // The cached vector answers as encoding the same history does.
    let (_, by_items) = server.post("/v1/recommend", json!({"items": ["bread", "milk"], "k": 2}));
    assert_eq!(
        names(&after, "recommendations"),
        names(&by_items, "recommendations")
    );
    let (status, answer) = server.call("POST", "/v1/admin/events", Some("not,a\ncsv"), Some(TOKEN));
    assert_eq!(status, 400, "{answer}");
    assert!(server.stop().success());
}
