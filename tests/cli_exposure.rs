//! `affinity evaluate --json` reports exposure and fairness figures per method (issue 34):
//! checked against what the same JSON says elsewhere and against what popularity must do.

mod common;

use common::{affinity, ok};
use serde_json::Value;

fn evaluate_json(args: &[&str]) -> Value {
    let mut argv = vec!["evaluate", "--no-model", "--json"];
    argv.extend_from_slice(args);
    serde_json::from_str(&ok(&affinity(&argv))).unwrap()
}

fn row<'a>(json: &'a Value, method: &str) -> &'a Value {
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == method)
        .unwrap_or_else(|| panic!("no row {method} in {json}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn groceries_exposure_figures_agree_with_the_accuracy_figures_and_with_popularity() {
    let json = evaluate_json(&["-i", "data/groceries.csv", "--time-format", "dmy"]);
    let results = json["results"].as_array().unwrap();
    assert!(results.len() >= 4, "{json}");
    for r in results {
        let e = &r["exposure"];
        let s = &r["summary"];
        let users = s["users"].as_u64().unwrap();
        // The same lists as the summary: RecBole's ItemCoverage is the summary's coverage.
        assert_eq!(e["users"].as_u64(), Some(users), "{r}");
        assert!(
            (f(&e["item_coverage"]) - f(&s["coverage"])).abs() < 1e-12,
            "{r}"
        );
        // Full top-10 lists over 167 products.
        assert_eq!(e["slots"].as_u64(), Some(users * 10), "{r}");
        let gini = f(&e["gini_index"]);
        assert!(gini > 0.0 && gini < 1.0, "{r}");
        // Microsoft's distributional coverage is RecBole's entropy in bits.
        let nats = f(&e["shannon_entropy"]);
        assert!(
            (f(&e["distributional_coverage"]) - nats / 2f64.ln()).abs() < 1e-9,
            "{r}"
        );
        // At most ln(distinct items recommended) = ln(coverage * 167).
        assert!(nats <= (f(&e["item_coverage"]) * 167.0).ln() + 1e-9, "{r}");
        assert!(f(&e["training_catalog_coverage"]) >= f(&e["item_coverage"]) - 1e-12);
        assert_eq!(e["tail_ratio"], 0.1);
        // Head and tail split the slots, the catalogue and the training interactions.
        let groups = e["popularity_groups"].as_array().unwrap();
        assert_eq!(
            (groups[0]["group"].as_str(), groups[1]["group"].as_str()),
            (Some("head"), Some("tail"))
        );
        for key in ["slot_share", "catalog_share", "training_share"] {
            let sum = f(&groups[0][key]) + f(&groups[1][key]);
            assert!((sum - 1.0).abs() < 1e-9, "{key}: {r}");
        }
        assert!(f(&groups[0]["training_share"]) >= 0.2);
        // Groceries has no category column.
        assert_eq!(e["item_groups"].as_array().map(Vec::len), Some(0), "{r}");
        // The history-length groups hold every test user, and their weighted means are the
        // method's NDCG@10 and Recall@10.
        let by = r["by_history"].as_array().unwrap();
        assert_eq!(by.len(), 5);
        let in_groups: u64 = by.iter().map(|g| g["users"].as_u64().unwrap()).sum();
        assert_eq!(in_groups, users, "{r}");
        for (metric, total) in [("ndcg", f(&s["ndcg"])), ("recall", f(&s["recall"]))] {
            let weighted: f64 = by
                .iter()
                .filter(|g| g["users"].as_u64() != Some(0))
                .map(|g| f(&g[metric]) * g["users"].as_f64().unwrap())
                .sum();
            assert!(
                (weighted / users as f64 - total).abs() < 1e-9,
                "{metric}: {r}"
            );
        }
    }
    let popular = &row(&json, "most popular")["exposure"];
    let cooc = &row(&json, "item co-occurrence")["exposure"];
    // Popularity concentrates the slots: a higher Gini, less coverage, entropy and novelty,
    // more popular items, and nothing from RecBole's tail (the 10 % least bought products).
    assert!(f(&popular["gini_index"]) > f(&cooc["gini_index"]));
    assert!(f(&popular["item_coverage"]) < f(&cooc["item_coverage"]));
    assert!(f(&popular["shannon_entropy"]) < f(&cooc["shannon_entropy"]));
    assert!(f(&popular["novelty"]) < f(&cooc["novelty"]));
    assert!(f(&popular["average_popularity"]) > f(&cooc["average_popularity"]));
    assert!(f(&popular["tail_percentage"]) < 0.001, "{popular}");
    assert!(
        f(&popular["popularity_groups"][0]["slot_share"])
            > f(&cooc["popularity_groups"][0]["slot_share"])
    );
    let hybrid = json["results"].as_array().unwrap().last().unwrap();
    assert!(hybrid["name"].as_str().unwrap().starts_with("hybrid"));
    // The table says the same.
    let table = ok(&affinity(&[
        "evaluate",
        "-i",
        "data/groceries.csv",
        "--time-format",
        "dmy",
        "--no-model",
    ]));
    assert!(
        table.contains("Gini") && table.contains("novelty"),
        "{table}"
    );
    assert!(table.contains("NDCG@10 by history length"), "{table}");
}

#[test]
fn a_category_column_gives_exposure_by_category() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events.csv");
    // 40 shoppers over 6 days; products p0..p19 in categories by p % 4; every shopper buys
    // the popular p0 and two products that move with the shopper and the day.
    let mut csv = String::from("user,item,timestamp,category\n");
    for u in 0..40u32 {
        for day in 0..6u32 {
            for p in [0, (u + day) % 20, (u * 3 + day * 7) % 20] {
                csv += &format!("u{u},p{p},{},c{}\n", 86_400 * (day + 1), p % 4);
            }
        }
    }
    std::fs::write(&data, csv).unwrap();
    let json = evaluate_json(&["-i", data.to_str().unwrap()]);
    for r in json["results"].as_array().unwrap() {
        let groups = r["exposure"]["item_groups"].as_array().unwrap();
        assert_eq!(groups.len(), 4, "{r}");
        assert_eq!(
            groups
                .iter()
                .map(|g| g["items"].as_u64().unwrap())
                .sum::<u64>(),
            20
        );
        for key in ["slot_share", "catalog_share", "training_share"] {
            let sum: f64 = groups.iter().map(|g| f(&g[key])).sum();
            assert!((sum - 1.0).abs() < 1e-9, "{key}: {r}");
        }
        // Each category has 5 of the 20 products.
        assert!(groups
            .iter()
            .all(|g| (f(&g["catalog_share"]) - 0.25).abs() < 1e-12));
    }
}
