//! Itemset and rule outputs read back exactly whatever the item names hold: spaces, commas,
//! quotes, parentheses, braces, backslashes, line breaks, tabs, non-ASCII.

use affinity_mine::{
    generate_rules, mine_itemsets, parse_itemset_line, write_rules_csv, write_rules_json,
    Algorithm, Consequents, Itemset, ItemsetFormat, ItemsetWriter, MinSupport, MiningParams,
    RuleParams,
};
use std::collections::BTreeSet;

const NAMES: [&str; 8] = [
    "whole, milk",
    "yogurt (plain)",
    "say \"cheese\"",
    "line\nbreak\r\n",
    " padded\tname ",
    "{braces}, [brackets]",
    "back\\slash",
    "crème brûlée 🍮",
];

fn names() -> Vec<String> {
    NAMES.iter().map(|s| s.to_string()).collect()
}

/// Every basket holds every name, so every subset is an itemset.
fn itemsets() -> Vec<Itemset> {
    let tx = vec![(0..NAMES.len() as u32).collect::<Vec<u32>>(); 2];
    let mut found = Vec::new();
    let params = MiningParams::new(MinSupport::Count(1)).max_len(3);
    mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut found).unwrap();
    found
}

type Sets = BTreeSet<(Vec<String>, u64)>;

fn expected() -> Sets {
    let names = names();
    itemsets()
        .iter()
        .map(|s| {
            let items = s.items.iter().map(|&i| names[i as usize].clone()).collect();
            (items, s.support)
        })
        .collect()
}

fn write(format: ItemsetFormat) -> String {
    let names = names();
    let mut writer =
        ItemsetWriter::with_format(Vec::new(), "memory".as_ref(), Some(&names), format);
    for set in itemsets() {
        affinity_mine::ItemsetSink::push(&mut writer, &set.items, set.support).unwrap();
    }
    String::from_utf8(writer.finish().unwrap()).unwrap()
}

#[test]
fn text_lines_quote_only_what_needs_it_and_read_back() {
    let text = write(ItemsetFormat::Text);
    assert_eq!(text.lines().count(), expected().len(), "one line per set");
    let read: Sets = text
        .lines()
        .map(|l| parse_itemset_line(l).expect("a line the writer wrote"))
        .collect();
    assert_eq!(read, expected());
    // Plain names stay plain.
    let plain = vec!["milk".to_string(), "rolls/buns".to_string()];
    let mut writer = ItemsetWriter::new(Vec::new(), "memory".as_ref(), Some(&plain));
    affinity_mine::ItemsetSink::push(&mut writer, &[0, 1], 4).unwrap();
    assert_eq!(writer.finish().unwrap(), b"milk rolls/buns (4)\n");
}

#[test]
fn json_lines_read_back() {
    let text = write(ItemsetFormat::JsonLines);
    let read: Sets = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let items = serde_json::from_value(v["items"].clone()).unwrap();
            (items, v["support"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(read, expected());
}

#[test]
fn csv_with_json_array_cells_reads_back() {
    let text = write(ItemsetFormat::Csv);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap(), vec!["items", "freq"]);
    let read: Sets = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (serde_json::from_str(&r[0]).unwrap(), r[1].parse().unwrap())
        })
        .collect();
    assert_eq!(read, expected());
}

#[test]
fn rules_in_csv_and_json_read_back() {
    let names = names();
    let params = RuleParams {
        consequents: Consequents::Any,
        ..RuleParams::default()
    };
    let rules = generate_rules(&itemsets(), 2, &params).unwrap();
    assert!(!rules.is_empty());
    let named = |items: &[u32]| -> Vec<String> {
        items.iter().map(|&i| names[i as usize].clone()).collect()
    };
    let expected: BTreeSet<(Vec<String>, Vec<String>)> = rules
        .iter()
        .map(|r| (named(&r.antecedent), named(&r.consequent)))
        .collect();

    let mut csv_bytes = Vec::new();
    write_rules_csv(&mut csv_bytes, &rules, Some(&names)).unwrap();
    let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
    let from_csv: BTreeSet<(Vec<String>, Vec<String>)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                serde_json::from_str(&r[0]).unwrap(),
                serde_json::from_str(&r[1]).unwrap(),
            )
        })
        .collect();
    assert_eq!(from_csv, expected);

    let mut json_bytes = Vec::new();
    write_rules_json(&mut json_bytes, &rules, Some(&names)).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&json_bytes).unwrap();
    let from_json: BTreeSet<(Vec<String>, Vec<String>)> = rows
        .iter()
        .map(|v| {
            (
                serde_json::from_value(v["antecedents"].clone()).unwrap(),
                serde_json::from_value(v["consequents"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(from_json, expected);
}

/// Counts what a [`Progress`] was told.
#[derive(Default)]
struct Tally(std::sync::atomic::AtomicU64);

impl affinity_mine::Progress for Tally {
    fn advance(&self, n: u64) {
        self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn counting_changes_nothing_and_counts_everything() {
    use affinity_mine::{CountSink, Counted};
    let tx = affinity_data::synthetic::skewed_baskets(400, 12, 40);
    for threads in [1, 2] {
        let params = MiningParams::new(MinSupport::Count(3)).threads(threads);
        let mut plain: Vec<Itemset> = Vec::new();
        mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut plain).unwrap();
        let tally = Tally::default();
        let mut counted = Counted::new(Vec::<Itemset>::new(), &tally);
        mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut counted).unwrap();
        assert_eq!(counted.into_inner(), plain);
        assert_eq!(tally.0.into_inner(), plain.len() as u64);
        let tally = Tally::default();
        let mut counted = Counted::new(CountSink::default(), &tally);
        mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut counted).unwrap();
        assert_eq!(counted.into_inner().count, plain.len() as u64);
        assert_eq!(tally.0.into_inner(), plain.len() as u64);
    }
}
