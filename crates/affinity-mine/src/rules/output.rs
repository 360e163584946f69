//! Rules written out as CSV or JSON with mlxtend's columns, for people and other tools.

use std::io::Write;

use super::Rule;

/// The mlxtend column names, in mlxtend's order (less `representativity`).
pub const RULE_COLUMNS: [&str; 13] = [
    "antecedents",
    "consequents",
    "antecedent support",
    "consequent support",
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
    "zhangs_metric",
    "jaccard",
    "certainty",
    "kulczynski",
];

fn item_names(items: &[u32], names: Option<&[String]>) -> Vec<String> {
    items
        .iter()
        .map(|&i| names.map_or_else(|| i.to_string(), |n| n[i as usize].clone()))
        .collect()
}

/// `text` as one CSV field, quoted when it holds a separator, a quote or a line break.
pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Writes rules as CSV with mlxtend's columns; item lists are JSON arrays (`["whole milk",
/// "rolls/buns"]`, then CSV-quoted), so that any name, commas and quotes included, reads back
/// exactly (`json.loads` in Python, `serde_json` in Rust). Errors are `out`'s: the caller knows
/// what it writes to.
pub fn write_rules_csv(
    out: &mut impl Write,
    rules: &[Rule],
    names: Option<&[String]>,
) -> std::io::Result<()> {
    writeln!(out, "{}", RULE_COLUMNS.join(","))?;
    for r in rules {
        let set = |items: &[u32]| {
            csv_field(&serde_json::to_string(&item_names(items, names)).expect("strings"))
        };
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            set(&r.antecedent),
            set(&r.consequent),
            r.antecedent_support,
            r.consequent_support,
            r.support,
            r.confidence,
            r.lift,
            r.leverage,
            if r.conviction.is_infinite() {
                "inf".to_owned()
            } else {
                r.conviction.to_string()
            },
            r.zhangs_metric,
            r.jaccard,
            r.certainty,
            r.kulczynski
        )?;
    }
    Ok(())
}

/// Writes rules as a JSON array of objects with mlxtend's keys; item lists are arrays of
/// names (or ids), an infinite conviction is `null`.
pub fn write_rules_json(
    out: &mut impl Write,
    rules: &[Rule],
    names: Option<&[String]>,
) -> std::io::Result<()> {
    let finite = |x: f64| {
        if x.is_finite() {
            serde_json::json!(x)
        } else {
            serde_json::Value::Null
        }
    };
    let rows: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| {
            let values = [
                serde_json::json!(item_names(&r.antecedent, names)),
                serde_json::json!(item_names(&r.consequent, names)),
                finite(r.antecedent_support),
                finite(r.consequent_support),
                finite(r.support),
                finite(r.confidence),
                finite(r.lift),
                finite(r.leverage),
                finite(r.conviction),
                finite(r.zhangs_metric),
                finite(r.jaccard),
                finite(r.certainty),
                finite(r.kulczynski),
            ];
            let map: serde_json::Map<String, serde_json::Value> = RULE_COLUMNS
                .iter()
                .map(|c| c.to_string())
                .zip(values)
                .collect();
            serde_json::Value::Object(map)
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &rows)?;
    writeln!(out)?;
    Ok(())
}
