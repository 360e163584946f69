//! The server as a library: settings checked before anything loads, and the routes answered
//! in process (no socket) over a bundle fitted here without a language model.

use std::path::Path;
use std::sync::Arc;

use affinity_core::InvalidSetting;
use affinity_data::{load, Format, LongCsv};
use affinity_recommend::bundle::BundleSaveOptions;
use affinity_recommend::pipeline::{Pipeline, PipelineParams};
use affinity_serve::{router, AppState, ServeError, ServeParams};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// A bundle of 40 shoppers: everyone buys bread, even ones milk with it, odd ones jam.
fn bundle(dir: &Path) -> std::path::PathBuf {
    let csv = dir.join("events.csv");
    let mut text = String::from("user,item,time\n");
    for user in 0..40 {
        for day in 1..=3 {
            let second = if user % 2 == 0 { "milk" } else { "jam" };
            text.push_str(&format!(
                "u{user},bread,2024-01-0{day}\nu{user},{second},2024-01-0{day}\n"
            ));
        }
    }
    std::fs::write(&csv, text).unwrap();
    let (dataset, _) = load(&csv, &Format::Long(LongCsv::default()), &Default::default()).unwrap();
    let pipeline = Pipeline::new(PipelineParams::default()).unwrap();
    let recommender = pipeline.fit(dataset, None, None).unwrap();
    let out = dir.join("bundle");
    recommender
        .save(&out, &BundleSaveOptions::default())
        .unwrap();
    out
}

/// The routes over a server state loaded with `params` (off the async workers, as `serve` does).
async fn app(params: ServeParams) -> axum::Router {
    let state = tokio::task::spawn_blocking(move || AppState::new(params))
        .await
        .unwrap()
        .unwrap();
    router(Arc::new(state))
}

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[test]
fn settings_that_cannot_work_are_refused_before_loading() {
    let bad = |edit: fn(&mut ServeParams)| {
        // The bundle does not exist: only a refusal before loading names a setting.
        let mut params = ServeParams::new("/nonexistent/bundle");
        edit(&mut params);
        match AppState::new(params) {
            Err(ServeError::InvalidSetting(InvalidSetting { name, .. })) => name,
            Err(other) => panic!("not a setting: {other}"),
            Ok(_) => panic!("accepted"),
        }
    };
    assert_eq!(bad(|p| p.workers = 0), "workers");
    assert_eq!(bad(|p| p.max_batch = 0), "max_batch");
    // Bounded above too: 100,000 workers used to abort the process when tokio could not
    // spawn them.
    assert_eq!(bad(|p| p.workers = 100_000), "workers");
    assert_eq!(bad(|p| p.max_batch = usize::MAX), "max_batch");
    assert_eq!(bad(|p| p.body_limit = usize::MAX), "body_limit");
    assert_eq!(bad(|p| p.admin_token = Some("short".into())), "admin_token");
    assert_eq!(
        bad(|p| p.reload_root = Some("/nonexistent/root".into())),
        "reload_root"
    );
    // Good settings get as far as the bundle, and the error names it.
    match AppState::new(ServeParams::new("/nonexistent/bundle")) {
        Err(ServeError::Bundle { path, .. }) => assert!(path.ends_with("bundle")),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a missing bundle loaded"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = bundle(dir.path());
    let app = app(ServeParams::new(path)).await;

    let (status, body) = call(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );

    // A history of milk: bread is what goes with it, milk itself is never offered back.
    let (status, body) = call(
        &app,
        post("/v1/recommend", r#"{"items": ["milk"], "k": 2}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"bread"), "{body}");
    assert!(!names.contains(&"milk"), "{body}");

    // A known shopper by id; an unknown item is reported, not an error.
    let (status, body) = call(&app, post("/v1/recommend", r#"{"user": "u1", "k": 1}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cold_start"], false);
    let (_, body) = call(
        &app,
        post("/v1/recommend", r#"{"items": ["caviar"], "k": 1}"#),
    )
    .await;
    assert_eq!(body["unknown_items"][0], "caviar", "{body}");

    // Modes: buy again holds only what the shopper bought (u0: bread and milk), discover
    // none of it, mixed either.
    let names_for = |body: &Value| -> Vec<String> {
        body["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, body) = call(
        &app,
        post(
            "/v1/recommend",
            r#"{"user": "u0", "k": 3, "mode": "buy-again"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["mode"], "buy-again");
    let mut again = names_for(&body);
    again.sort();
    assert_eq!(again, ["bread", "milk"], "{body}");
    let reason = &body["recommendations"][0]["reasons"][0];
    assert_eq!(reason["kind"], "bought_before", "{body}");
    assert_eq!(reason["times"], 3, "{body}");
    assert_eq!(reason["every_days"], 1.0, "{body}");
    let (_, body) = call(
        &app,
        post(
            "/v1/recommend",
            r#"{"user": "u0", "k": 3, "mode": "discover"}"#,
        ),
    )
    .await;
    assert_eq!(names_for(&body), ["jam"], "{body}");
    let (status, body) = call(
        &app,
        post(
            "/v1/recommend",
            r#"{"user": "u0", "k": 3, "mode": "sideways"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Bad requests are answered with a status and a message, never a panic.
    let (status, body) = call(&app, post("/v1/recommend", r#"{"k": 2}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = call(&app, post("/v1/recommend", "not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&app, Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A wrong method is answered as JSON too (it used to be an empty body), with `Allow`.
    let response = app
        .clone()
        .oneshot(Request::get("/v1/recommend").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().contains_key("allow"));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"], "method not allowed", "{body}");
    // Without an admin token the admin routes are closed.
    let (status, _) = call(&app, post("/v1/admin/reload", "{}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

const TOKEN: &str = "an-admin-token-of-some-length";

fn admin_post(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(body.to_owned()))
        .unwrap()
}

/// Posted events are parsed from a private directory with a random name, never from a path
/// another local user could prepare: traps laid at the names the server once used (a link
/// from `events.csv` to a file of theirs) are left untouched.
#[cfg(unix)]
#[tokio::test]
async fn posted_events_never_follow_a_prepared_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = bundle(dir.path());
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "mine").unwrap();
    let traps: Vec<std::path::PathBuf> = (0..16)
        .map(|n| std::env::temp_dir().join(format!("affinity-serve-{}-{n}", std::process::id())))
        .collect();
    for trap in &traps {
        std::fs::create_dir_all(trap).unwrap();
        let _ = std::fs::remove_file(trap.join("events.csv"));
        std::os::unix::fs::symlink(&victim, trap.join("events.csv")).unwrap();
    }
    let mut params = ServeParams::new(path);
    params.admin_token = Some(TOKEN.into());
    let app = app(params).await;
    let (status, body) = call(
        &app,
        admin_post(
            "/v1/admin/events",
            "user,item,time\nu90,bread,2024-01-05\nu90,jam,2024-01-05\n",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Wait for the update to finish, then check it worked and harmed nothing.
    let mut last = Value::Null;
    for _ in 0..600 {
        let request = Request::get("/v1/admin/status")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let (_, status) = call(&app, request).await;
        if status["update_running"] == false && !status["last_update"].is_null() {
            last = status;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(last["last_update"]["status"], "applied", "{last}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "mine");
    for trap in &traps {
        std::fs::remove_dir_all(trap).unwrap();
    }
}

/// An update that started from one bundle does not swap its result in over a bundle a reload
/// served meanwhile.
#[test]
fn a_reload_is_not_undone_by_an_update_that_started_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = bundle(dir.path());
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let second = bundle(&other_dir);
    let state = AppState::new(ServeParams::new(first.clone())).unwrap();
    let started = state.current().figures.generation;
    // A reload serves the second bundle ...
    let reloaded = state.load(&second).unwrap();
    state.swap(reloaded);
    // ... then the update, which began from the first, is done: it is not served.
    let updated = state.load(&first).unwrap();
    assert!(!state.swap_if_current(started, updated));
    assert_eq!(state.current().dir, second);
    // Work that began from the bundle being served is swapped in.
    let now = state.current().figures.generation;
    let again = state.load(&second).unwrap();
    assert!(state.swap_if_current(now, again));
}

/// `"influence": true`: each recommendation says how much each history item moved it, and the
/// figures add up to its score.
#[tokio::test]
async fn recommendations_can_say_what_moved_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = bundle(dir.path());
    let app = app(ServeParams::new(path)).await;
    let (status, body) = call(
        &app,
        post(
            "/v1/recommend",
            r#"{"items": ["milk", "jam"], "k": 1, "influence": true}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rec = &body["recommendations"][0];
    let moved = rec["influence"].as_array().unwrap();
    let items: Vec<&str> = moved.iter().map(|m| m["item"].as_str().unwrap()).collect();
    assert_eq!(items.len(), 2);
    assert!(items.contains(&"milk") && items.contains(&"jam"), "{body}");
    let score = rec["score"].as_f64().unwrap();
    for m in moved {
        let (without, delta) = (m["without"].as_f64().unwrap(), m["delta"].as_f64().unwrap());
        assert!((score - without - delta).abs() < 1e-5, "{body}");
    }
    // Without asking, no influence is computed.
    let (_, body) = call(
        &app,
        post("/v1/recommend", r#"{"items": ["milk"], "k": 1}"#),
    )
    .await;
    assert!(
        body["recommendations"][0].get("influence").is_none(),
        "{body}"
    );
    // Words need a language model reading the histories: this bundle has none.
    let (status, body) = call(
        &app,
        post(
            "/v1/recommend",
            r#"{"items": ["milk"], "k": 1, "words": true}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no language model"),
        "{body}"
    );
}
