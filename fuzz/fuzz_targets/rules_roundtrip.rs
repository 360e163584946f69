//! Rules from a small decoded database: serde round trip of `Rule` (infinite conviction as
//! `null`), and the JSON and CSV exports read back (the CSV with the csv crate, its item lists
//! as JSON arrays) with item names that hold spaces, commas, quotes and newlines.
//!
//! Input: a settings byte (bit 0 weighted, bit 1 any-size consequents, bit 2 min_lift, bit 3
//! max_item_support), a min-count byte, min_confidence, min_lift and max_item_support bytes,
//! two bytes of antecedent-only and two of consequent-only item bits, the database (see
//! `Database::decode_up_to`, at most 6 items a transaction), then item names separated by 0xFF bytes (UTF-8, lossily).
#![no_main]

use affinity_fuzz::{Bytes, Database, ITEMS};
use affinity_mine::{
    generate_rules, mine_itemsets, write_rules_csv, write_rules_json, Algorithm, Consequents,
    Itemset, MinSupport, MineError, MiningParams, Rule, RuleParams, RULE_COLUMNS,
};

/// Transactions of at most this many items, and at most this many rules: with any-size
/// consequents a dense database gives tens of thousands of rules, and each export is checked
/// field by field, which would slow the target a hundredfold.
const MAX_TRANSACTION_LEN: u8 = 6;
const MAX_RULES: u64 = 2_000;
use libfuzzer_sys::fuzz_target;

fn items_of(mask: u16) -> Vec<u32> {
    (0..ITEMS).filter(|i| mask >> i & 1 == 1).collect()
}

/// The measures in `RULE_COLUMNS` order (after the two item lists).
fn measures(r: &Rule) -> [f64; 11] {
    [
        r.antecedent_support,
        r.consequent_support,
        r.support,
        r.confidence,
        r.lift,
        r.leverage,
        r.conviction,
        r.zhangs_metric,
        r.jaccard,
        r.certainty,
        r.kulczynski,
    ]
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || a == b
}

fn named(items: &[u32], names: &[String]) -> Vec<String> {
    items.iter().map(|&i| names[i as usize].clone()).collect()
}

fn check_json(rules: &[Rule], names: Option<&[String]>) {
    let mut out = Vec::new();
    write_rules_json(&mut out, rules, names).expect("write_rules_json");
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&out).expect("write_rules_json wrote invalid JSON");
    assert_eq!(rows.len(), rules.len(), "JSON rows");
    for (row, rule) in rows.iter().zip(rules) {
        assert_eq!(row.len(), RULE_COLUMNS.len(), "JSON keys: {row:?}");
        let list = |items: &[u32]| -> serde_json::Value {
            match names {
                Some(names) => serde_json::json!(named(items, names)),
                None => serde_json::json!(items.iter().map(u32::to_string).collect::<Vec<_>>()),
            }
        };
        assert_eq!(
            row[RULE_COLUMNS[0]],
            list(&rule.antecedent),
            "JSON antecedents"
        );
        assert_eq!(
            row[RULE_COLUMNS[1]],
            list(&rule.consequent),
            "JSON consequents"
        );
        for (column, value) in RULE_COLUMNS[2..].iter().zip(measures(rule)) {
            match &row[*column] {
                serde_json::Value::Null => {
                    assert!(!value.is_finite(), "{column}: null for {value}")
                }
                v => {
                    let read = v.as_f64().expect("a number");
                    assert!(same(read, value), "{column}: {value} read back as {read}");
                }
            }
        }
    }
}

fn check_csv(rules: &[Rule], names: Option<&[String]>) {
    let mut out = Vec::new();
    write_rules_csv(&mut out, rules, names).expect("write_rules_csv");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(out.as_slice());
    let records: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("write_rules_csv wrote a file the csv crate cannot read");
    assert_eq!(
        records.len(),
        rules.len() + 1,
        "CSV records (header included)"
    );
    assert_eq!(
        records[0].iter().collect::<Vec<_>>(),
        RULE_COLUMNS,
        "CSV header"
    );
    for (record, rule) in records[1..].iter().zip(rules) {
        assert_eq!(record.len(), RULE_COLUMNS.len(), "CSV fields: {record:?}");
        // Item lists are JSON arrays of the names (or ids as strings) inside the CSV field.
        let list = |items: &[u32]| -> Vec<String> {
            match names {
                Some(names) => named(items, names),
                None => items.iter().map(u32::to_string).collect(),
            }
        };
        let read = |field: &str| -> Vec<String> {
            serde_json::from_str(field)
                .unwrap_or_else(|e| panic!("CSV item list {field:?} is not a JSON array: {e}"))
        };
        assert_eq!(read(&record[0]), list(&rule.antecedent), "CSV antecedents");
        assert_eq!(read(&record[1]), list(&rule.consequent), "CSV consequents");
        for (k, value) in measures(rule).into_iter().enumerate() {
            let text = &record[k + 2];
            let read: f64 = text
                .parse()
                .unwrap_or_else(|_| panic!("CSV number {text:?}"));
            assert!(
                same(read, value),
                "{}: {value} written as {text:?}",
                RULE_COLUMNS[k + 2]
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes::new(data);
    let settings = bytes.byte();
    let min_count = u64::from(bytes.byte() % 6) + 1;
    let min_confidence = f64::from(bytes.byte()) / 255.0;
    let min_lift = f64::from(bytes.byte()) / 32.0;
    let max_item_support = (f64::from(bytes.byte()) + 1.0) / 256.0;
    let antecedent_only = items_of(bytes.u16());
    let consequent_only = items_of(bytes.u16());
    let db = Database::decode_up_to(&mut bytes, settings & 1 != 0, MAX_TRANSACTION_LEN);
    let mut names: Vec<String> = bytes
        .rest()
        .split(|&b| b == 0xFF)
        .take(ITEMS as usize)
        .map(|piece| String::from_utf8_lossy(piece).into_owned())
        .collect();
    for i in names.len()..ITEMS as usize {
        names.push(format!("item \"{i}\", with\nnewline"));
    }

    let mut sets: Vec<Itemset> = Vec::new();
    let params = MiningParams::new(MinSupport::Count(min_count));
    mine_itemsets(
        &db.transactions,
        db.weights(),
        &params,
        Algorithm::FpGrowth,
        &mut sets,
    )
    .expect("mining a valid database");
    let rule_params = RuleParams {
        min_confidence,
        min_lift: (settings & 4 != 0).then_some(min_lift),
        consequents: if settings & 2 != 0 {
            Consequents::Any
        } else {
            Consequents::Single
        },
        antecedent_only,
        consequent_only,
        max_item_support: (settings & 8 != 0).then_some(max_item_support),
        max_rules: Some(MAX_RULES),
    };
    let rules = match generate_rules(&sets, db.total(), &rule_params) {
        Ok(rules) => rules,
        Err(MineError::TooManyRules { .. }) => return,
        Err(e) => {
            assert!(rule_params.check().is_err(), "valid settings failed: {e}");
            return;
        }
    };

    // Rule's own serde form: bit-for-bit, infinity through null.
    let json = serde_json::to_string(&rules).expect("serialize rules");
    let back: Vec<Rule> = serde_json::from_str(&json).expect("read rules back");
    assert_eq!(back.len(), rules.len());
    for (a, b) in rules.iter().zip(&back) {
        assert_eq!(
            (&a.antecedent, &a.consequent, a.count),
            (&b.antecedent, &b.consequent, b.count)
        );
        for (x, y) in measures(a).into_iter().zip(measures(b)) {
            assert!(same(x, y), "{x} read back as {y}: {json}");
        }
    }
    assert_eq!(back, rules);

    // The exports, with names and with ids.
    check_json(&rules, Some(&names));
    check_json(&rules, None);
    check_csv(&rules, Some(&names));
    check_csv(&rules, None);
});
