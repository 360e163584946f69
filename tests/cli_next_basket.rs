//! The next-basket protocol from the command line, on a generated order log with repeat
//! cycles: `evaluate` holds out whole orders and prints the repeat and explore split, and a
//! bundle fitted on order data recommends buy-again items with reasons.

mod common;

use std::path::Path;

use affinity::data::synthetic::order_log;
use common::{affinity, ok};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The generated log as a long CSV with order ids and unix-second days.
fn write_log(path: &Path, shoppers: u32) {
    let mut csv = String::from("user,item,timestamp,order\n");
    for line in order_log(shoppers, 60, 120, 11) {
        csv += &format!(
            "s{},p{},{},o{}\n",
            line.shopper,
            line.item,
            86_400 * (u64::from(line.day) + 1),
            line.order
        );
    }
    std::fs::write(path, csv).unwrap();
}

fn ndcg(json: &serde_json::Value, method: &str) -> f64 {
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == method)
        .unwrap_or_else(|| panic!("no row {method} in {json}"))["summary"]["ndcg"]
        .as_f64()
        .unwrap()
}

/// `affinity evaluate --no-model --json` on `data` with `extra` arguments, parsed.
fn evaluate_json(data: &Path, extra: &[&str]) -> serde_json::Value {
    let mut argv = vec!["evaluate", "-i", s(data), "--no-model", "--json"];
    argv.extend_from_slice(extra);
    serde_json::from_str(&ok(&affinity(&argv))).unwrap()
}

#[test]
fn evaluate_holds_out_whole_orders_and_splits_repeat_from_explore() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("orders.csv");
    write_log(&data, 60);
    let json = evaluate_json(&data, &["--tune"]);
    // Order data: mixed lists, the whole last order held out, every product of it relevant.
    assert_eq!(json["mode"], "mixed");
    assert_eq!(json["hold_out"], "last-basket");
    assert_eq!(json["relevant"], "all");
    // The shopper's own cycles are the signal: the repeat-aware rows beat popularity.
    let popular = ndcg(&json, "most popular");
    for method in [
        "personal top frequency",
        "TIFU-KNN (tuned)",
        "repeat (buy again)",
    ] {
        assert!(ndcg(&json, method) > popular, "{method}: {json}");
    }
    for row in json["results"].as_array().unwrap() {
        let split = &row["repeat_explore"];
        // Whole orders: staples and unplanned products in one target, so both parts have users.
        assert!(split["repeat_users"].as_u64().unwrap() > 0, "{row}");
        assert!(split["explore_users"].as_u64().unwrap() > 0, "{row}");
        let truth = split["truth_repeat_share"].as_f64().unwrap();
        assert!(truth > 0.5 && truth < 1.0, "{row}");
    }
    // The table says the protocol it ran.
    let table = ok(&affinity(&["evaluate", "-i", s(&data), "--no-model"]));
    assert!(
        table.contains("held out: each user's last basket"),
        "{table}"
    );
    assert!(table.contains("% repeat"), "{table}");
    // Discover mode keeps today's protocol: the last item, new items only, no repeat rows.
    let json = evaluate_json(&data, &["--mode", "discover"]);
    assert_eq!(json["hold_out"], "last-item");
    assert_eq!(json["relevant"], "new");
    assert!(json["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["name"] != "personal top frequency"));
}

#[test]
fn a_bundle_of_order_data_recommends_buy_again_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("orders.csv");
    write_log(&data, 30);
    let bundle = dir.path().join("bundle");
    ok(&affinity(&[
        "fit",
        "-i",
        s(&data),
        "--no-model",
        "--tune",
        "-o",
        s(&bundle),
    ]));
    let bought: std::collections::HashSet<String> = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("s3,"))
        .map(|l| l.split(',').nth(1).unwrap().to_owned())
        .collect();
    let items = |mode: &str| -> Vec<serde_json::Value> {
        let out = ok(&affinity(&[
            "recommend",
            "-b",
            s(&bundle),
            "--user",
            "s3",
            "--mode",
            mode,
            "--json",
        ]));
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let name = |r: &serde_json::Value| r["name"].as_str().unwrap().to_owned();
    let again = items("buy-again");
    assert!(!again.is_empty());
    assert!(again.iter().all(|r| bought.contains(&name(r))), "{again:?}");
    // Each buy-again item says it was bought before; a staple says how often.
    let bought_before = |r: &serde_json::Value| {
        r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|reason| reason["kind"] == "bought_before")
            .cloned()
    };
    assert!(
        again.iter().all(|r| bought_before(r).is_some()),
        "{again:?}"
    );
    assert!(
        again
            .iter()
            .any(|r| bought_before(r).unwrap()["every_days"].as_f64().is_some()),
        "{again:?}"
    );
    let discover = items("discover");
    assert!(!discover.is_empty());
    assert!(
        discover.iter().all(|r| !bought.contains(&name(r))),
        "{discover:?}"
    );
    // Fitted on order data, the bundle's own mode is mixed: repeats come back by default.
    let out = ok(&affinity(&[
        "recommend",
        "-b",
        s(&bundle),
        "--user",
        "s3",
        "--json",
    ]));
    assert!(
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .any(|r| bought.contains(&name(&r))),
        "{out}"
    );
}
