//! The explorer's page and routes, answered in process over a bundle fitted here without a
//! language model: figures, rule filters, CSV, a product page, the page's security headers,
//! and the admin token kept off every page file.

use std::path::Path;
use std::sync::Arc;

use affinity_data::{load, Format, LongCsv};
use affinity_recommend::bundle::BundleSaveOptions;
use affinity_recommend::pipeline::{Pipeline, PipelineParams};
use affinity_serve::{router, AppState, ServeParams};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "an-admin-token-nobody-may-see";
const SCRIPT: &str = "<script>alert(1)</script>";

/// 60 shoppers over four days: everyone buys bread; a third milk with it, a third jam, a third
/// the product named like a script. Jam shoppers buy milk on a later day too.
fn bundle(dir: &Path) -> std::path::PathBuf {
    let csv = dir.join("events.csv");
    let mut text = String::from("user,item,time\n");
    for user in 0..60 {
        for day in 1..=3 {
            let second = ["milk", "jam", SCRIPT][user % 3];
            text.push_str(&format!(
                "u{user},bread,2024-01-0{day}\nu{user},\"{second}\",2024-01-0{day}\n"
            ));
        }
        if user % 3 == 1 {
            text.push_str(&format!("u{user},milk,2024-01-04\n"));
        }
    }
    std::fs::write(&csv, text).unwrap();
    let (dataset, _) = load(&csv, &Format::Long(LongCsv::default()), &Default::default()).unwrap();
    let params = PipelineParams::builder()
        .min_support(0.01)
        .min_confidence(0.01)
        .min_lift(0.0)
        .build()
        .unwrap();
    let recommender = Pipeline::new(params)
        .unwrap()
        .fit(dataset, None, None)
        .unwrap();
    let out = dir.join("bundle");
    recommender
        .save(&out, &BundleSaveOptions::default())
        .unwrap();
    out
}

async fn app(explorer: bool) -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let path = bundle(dir.path());
    let state = tokio::task::spawn_blocking(move || {
        AppState::new(ServeParams {
            admin_token: Some(TOKEN.into()),
            explorer,
            ..ServeParams::new(path)
        })
    })
    .await
    .unwrap()
    .unwrap();
    (dir, router(Arc::new(state)))
}

async fn raw(app: &axum::Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 8 << 20).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let (status, _, bytes) = raw(app, uri).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_no_admin_token() {
    let (_dir, app) = app(true).await;
    let (status, headers, body) = raw(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(rule), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = String::from_utf8(body).unwrap();
    // No inline script or style for the policy to allow.
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );
    let mut served = vec![html.into_bytes()];
    for asset in [
        "app.js",
        "app.css",
        "echarts-6.1.0.min.js",
        "LICENSE-echarts.txt",
    ] {
        let (status, headers, body) = raw(&app, &format!("/assets/{asset}")).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(headers.contains_key("etag"), "{asset}");
        served.push(body);
    }
    // Unchanged files cost a 304.
    let (_, headers, _) = raw(&app, "/assets/app.js").await;
    let tag = headers["etag"].clone();
    let response = app
        .clone()
        .oneshot(
            Request::get("/assets/app.js")
                .header("if-none-match", tag)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    // What a page can read (its files and every explore route) never holds the admin token.
    for uri in [
        "/v1/explore/overview",
        "/v1/explore/rules",
        "/v1/explore/items?q=",
    ] {
        served.push(raw(&app, uri).await.2);
    }
    for body in &served {
        let text = String::from_utf8_lossy(body);
        assert!(!text.contains(TOKEN));
    }
    assert_eq!(
        raw(&app, "/assets/../Cargo.toml").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        raw(&app, "/assets/nothing.js").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_explorer_can_be_turned_off() {
    let (_dir, app) = app(false).await;
    assert_eq!(raw(&app, "/").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        raw(&app, "/v1/explore/overview").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(raw(&app, "/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn overview_counts_what_the_bundle_holds() {
    let (_dir, app) = app(true).await;
    let (status, o) = get(&app, "/v1/explore/overview").await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["counts"]["shoppers"], 60);
    assert_eq!(o["counts"]["products"], 4);
    assert_eq!(o["counts"]["events"], 60 * 6 + 20);
    assert_eq!(o["dates"]["first"], "2024-01-01");
    assert_eq!(o["dates"]["last"], "2024-01-04");
    assert_eq!(o["popular"][0]["item"], "bread");
    assert_eq!(o["popular"][0]["shoppers"], 60);
    assert_eq!(o["model"]["language_model"], false);
    let rules = o["counts"]["rules"].as_u64().unwrap();
    assert!(rules >= 4, "{o}");
}

#[tokio::test]
async fn rules_are_filtered_sorted_paged_and_downloaded_alike() {
    let (_dir, app) = app(true).await;
    let (_, all) = get(&app, "/v1/explore/rules?sort=support&order=desc&limit=1000").await;
    let total = all["total"].as_u64().unwrap() as usize;
    let supports: Vec<f64> = all["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["support"].as_f64().unwrap())
        .collect();
    assert_eq!(supports.len(), total);
    assert!(supports.windows(2).all(|w| w[0] >= w[1]), "{supports:?}");

    // Milk fixed on the right: every rule kept leads to milk, and none is missed.
    let (_, milk) = get(&app, "/v1/explore/rules?consequent=milk&limit=1000").await;
    let kept = milk["rules"].as_array().unwrap();
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|r| r["consequent"][0]["item"] == "milk"));
    let expected = all["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["consequent"][0]["item"] == "milk")
        .count();
    assert_eq!(kept.len(), expected);

    // A text filter and a lift range together; pages of one tile the whole.
    let uri = "/v1/explore/rules?q=BREAD&min_lift=0.5&max_lift=100&sort=lift";
    let (_, whole) = get(&app, &format!("{uri}&limit=1000")).await;
    let n = whole["total"].as_u64().unwrap() as usize;
    let mut paged = Vec::new();
    for offset in 0..n {
        let (_, page) = get(&app, &format!("{uri}&limit=1&offset={offset}")).await;
        paged.push(page["rules"][0]["id"].clone());
    }
    let ids: Vec<Value> = whole["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(paged, ids);

    // The CSV holds the same rules in the same order, the script-like name as plain text.
    let (status, headers, body) = raw(&app, "/v1/explore/rules.csv?sort=support").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("rules.csv"));
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.lines().count(), total + 1);
    assert!(text.contains(SCRIPT), "{text}");

    // The scatter gives one point per rule here, [support, confidence, lift, id].
    let (_, scatter) = get(&app, "/v1/explore/scatter").await;
    assert_eq!(scatter["shown"].as_u64().unwrap() as usize, total);
    let point = &scatter["points"][0];
    let (_, rule) = get(
        &app,
        &format!("/v1/explore/rules/{}", point[3].as_f64().unwrap() as u64),
    )
    .await;
    // Points are single precision.
    for (metric, at) in [("support", 0), ("confidence", 1), ("lift", 2)] {
        let (exact, shown) = (rule[metric].as_f64().unwrap(), point[at].as_f64().unwrap());
        assert!(
            (exact - shown).abs() <= 1e-6 * exact.abs(),
            "{metric}: {exact} {shown}"
        );
    }
}

#[tokio::test]
async fn bad_queries_are_answered_by_name() {
    let (_dir, app) = app(true).await;
    let (status, body) = get(&app, "/v1/explore/rules?antecedent=caviar").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"].as_str().unwrap().contains("caviar"));
    let (status, _) = get(&app, "/v1/explore/rules?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = get(&app, "/v1/explore/rules?min_lift=much").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(&app, "/v1/explore/rules?colour=red").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(&app, "/v1/explore/rules/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&app, "/v1/explore/items/caviar").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&app, "/v1/explore/items?limit=100000").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_product_page_names_its_partners_and_what_came_before() {
    let (_dir, app) = app(true).await;
    let (_, found) = get(&app, "/v1/explore/items?q=SCRIPT").await;
    assert_eq!(found["results"][0]["item"], SCRIPT);
    let (status, p) = get(&app, &format!("/v1/explore/items/{}", enc("milk"))).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["popularity"]["shoppers"], 40);
    // Milk's partners: bread in its 20 + 0 baskets; jam on the day jam shoppers add milk? No:
    // jam shoppers buy milk alone on day 4, so bread is its only partner.
    let partners: Vec<&str> = p["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["item"].as_str().unwrap())
        .collect();
    assert_eq!(partners, vec!["bread"]);
    assert_eq!(p["partners"][0]["baskets"], 60);
    // Jam shoppers bought jam (and bread) in the days before their first milk.
    let before: Vec<&str> = p["bought_before"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["item"].as_str().unwrap())
        .collect();
    assert_eq!(before.first(), Some(&"jam"), "{p}");
    assert_eq!(p["bought_before"]["shoppers"], 20);
    assert_eq!(p["similar"], Value::Null);
    assert_eq!(p["graph"]["nodes"][0]["item"], "milk");
    // The product named like a script comes back as data, to be shown as text.
    let (status, s) = get(&app, &format!("/v1/explore/items/{}", enc(SCRIPT))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["item"], SCRIPT);
}
