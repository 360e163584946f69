//! The rules table behind the explorer: filtering, sorting and paging on the server, so that a
//! page over 100,000 rules moves only the rows it shows.

use affinity_mine::Rule;
use serde::Deserialize;
use serde_json::{json, Value};

use super::index::{Explorer, SORT_ORDERS};

/// Which metric the rules are sorted by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SortKey {
    Support,
    Confidence,
    #[default]
    Lift,
    Leverage,
    Conviction,
    AntecedentSupport,
    ConsequentSupport,
}

impl SortKey {
    /// Where this key's orders are kept (with [`Order`]'s offset): `0..SORT_ORDERS`.
    fn slot(self, order: Order) -> usize {
        let key = match self {
            SortKey::Support => 0,
            SortKey::Confidence => 1,
            SortKey::Lift => 2,
            SortKey::Leverage => 3,
            SortKey::Conviction => 4,
            SortKey::AntecedentSupport => 5,
            SortKey::ConsequentSupport => 6,
        };
        2 * key + usize::from(order == Order::Asc)
    }

    fn of(self, rule: &Rule) -> f64 {
        match self {
            SortKey::Support => rule.support,
            SortKey::Confidence => rule.confidence,
            SortKey::Lift => rule.lift,
            SortKey::Leverage => rule.leverage,
            SortKey::Conviction => rule.conviction,
            SortKey::AntecedentSupport => rule.antecedent_support,
            SortKey::ConsequentSupport => rule.consequent_support,
        }
    }
}

/// Largest first (the default) or smallest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Order {
    #[default]
    Desc,
    Asc,
}

/// The filters of `GET /v1/explore/rules` (and of its scatter and CSV twins). Every bound is
/// inclusive; a missing one does not filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleQuery {
    #[serde(default)]
    pub offset: usize,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub sort: SortKey,
    #[serde(default)]
    pub order: Order,
    pub min_support: Option<f64>,
    pub max_support: Option<f64>,
    pub min_confidence: Option<f64>,
    pub max_confidence: Option<f64>,
    pub min_lift: Option<f64>,
    pub max_lift: Option<f64>,
    /// An item the antecedent must hold (its name).
    pub antecedent: Option<String>,
    /// An item the consequent must hold (its name).
    pub consequent: Option<String>,
    /// Text that some item of the rule must contain, in its name or text (any case).
    pub q: Option<String>,
}

/// Rows a page may ask for at once.
pub(crate) const MAX_LIMIT: usize = 1_000;
/// Rows a page gets when it does not say.
pub(crate) const DEFAULT_LIMIT: usize = 50;

/// Why a query cannot be answered: the caller's mistake, said plainly.
#[derive(Debug)]
pub(crate) enum QueryError {
    UnknownItem(String),
    Invalid(String),
}

impl RuleQuery {
    fn check(&self) -> Result<(), QueryError> {
        let bounds = [
            ("min_support", self.min_support),
            ("max_support", self.max_support),
            ("min_confidence", self.min_confidence),
            ("max_confidence", self.max_confidence),
            ("min_lift", self.min_lift),
            ("max_lift", self.max_lift),
        ];
        if let Some((name, _)) = bounds.iter().find(|(_, v)| v.is_some_and(f64::is_nan)) {
            return Err(QueryError::Invalid(format!("{name} is not a number")));
        }
        if self.limit.is_some_and(|l| l == 0 || l > MAX_LIMIT) {
            return Err(QueryError::Invalid(format!(
                "limit must lie in 1..={MAX_LIMIT}"
            )));
        }
        Ok(())
    }

    /// The page length asked for.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }
}

fn within(value: f64, min: Option<f64>, max: Option<f64>) -> bool {
    min.is_none_or(|m| value >= m) && max.is_none_or(|m| value <= m)
}

/// The ids of the rules `query` keeps, in its order (ties: the lower id first).
pub(crate) fn select(
    explorer: &Explorer,
    rules: &[Rule],
    item_id: impl Fn(&str) -> Option<u32>,
    query: &RuleQuery,
) -> Result<Vec<u32>, QueryError> {
    query.check()?;
    let lookup = |name: &Option<String>| -> Result<Option<u32>, QueryError> {
        match name.as_deref().filter(|n| !n.is_empty()) {
            None => Ok(None),
            Some(n) => item_id(n)
                .map(Some)
                .ok_or_else(|| QueryError::UnknownItem(n.to_string())),
        }
    };
    let antecedent = lookup(&query.antecedent)?;
    let consequent = lookup(&query.consequent)?;
    // The text filter is decided per item once, then per rule by its items.
    let matching = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| explorer.items_containing(q));
    let keep = |id: &u32| {
        let rule = &rules[*id as usize];
        within(rule.support, query.min_support, query.max_support)
            && within(rule.confidence, query.min_confidence, query.max_confidence)
            && within(rule.lift, query.min_lift, query.max_lift)
            && antecedent.is_none_or(|a| rule.antecedent.contains(&a))
            && consequent.is_none_or(|c| rule.consequent.contains(&c))
            && matching.as_ref().is_none_or(|m| {
                rule.antecedent
                    .iter()
                    .chain(&rule.consequent)
                    .any(|&i| m[i as usize])
            })
    };
    let (key, order) = (query.sort, query.order);
    if antecedent.is_none() && consequent.is_none() {
        // Every rule is a candidate: walk the presorted list, already in order.
        let slot = key.slot(order);
        debug_assert!(slot < SORT_ORDERS);
        let sorted = explorer.sorted(slot, || {
            let mut all: Vec<u32> = (0..rules.len() as u32).collect();
            sort(&mut all, rules, key, order);
            all
        });
        return Ok(sorted.iter().copied().filter(keep).collect());
    }
    // Start from the shorter list an item filter gives, then sort what is kept.
    let start: Box<dyn Iterator<Item = u32>> = match (antecedent, consequent) {
        (Some(a), Some(c)) => {
            let (x, y) = (explorer.with_antecedent(a), explorer.with_consequent(c));
            if x.len() <= y.len() {
                Box::new(x.iter().copied())
            } else {
                Box::new(y.iter().copied())
            }
        }
        (Some(a), None) => Box::new(explorer.with_antecedent(a).iter().copied()),
        (None, Some(c)) => Box::new(explorer.with_consequent(c).iter().copied()),
        // Handled above, by the presorted lists.
        (None, None) => Box::new(std::iter::empty()),
    };
    let mut kept: Vec<u32> = start.filter(keep).collect();
    sort(&mut kept, rules, key, order);
    Ok(kept)
}

/// Sorts rule ids by `key` in `order`; ties go to the lower id either way.
fn sort(ids: &mut [u32], rules: &[Rule], key: SortKey, order: Order) {
    match order {
        Order::Desc => ids.sort_by(|&a, &b| {
            key.of(&rules[b as usize])
                .total_cmp(&key.of(&rules[a as usize]))
                .then(a.cmp(&b))
        }),
        Order::Asc => ids.sort_by(|&a, &b| {
            key.of(&rules[a as usize])
                .total_cmp(&key.of(&rules[b as usize]))
                .then(a.cmp(&b))
        }),
    }
}

/// One rule as the page shows it: items by name and text, and every metric.
pub(crate) fn rule_json(id: u32, rule: &Rule, names: &[String], texts: &[String]) -> Value {
    let items = |ids: &[u32]| -> Vec<Value> {
        ids.iter()
            .map(|&i| json!({ "item": names[i as usize], "text": texts[i as usize] }))
            .collect()
    };
    json!({
        "id": id,
        "antecedent": items(&rule.antecedent),
        "consequent": items(&rule.consequent),
        "support": rule.support,
        "confidence": rule.confidence,
        "lift": rule.lift,
        "leverage": rule.leverage,
        // Infinite (confidence 1) is null in JSON.
        "conviction": rule.conviction,
        "antecedent_support": rule.antecedent_support,
        "consequent_support": rule.consequent_support,
        "zhangs_metric": rule.zhangs_metric,
        "jaccard": rule.jaccard,
        "certainty": rule.certainty,
        "kulczynski": rule.kulczynski,
        "count": rule.count,
    })
}

/// At most `cap` of `ids`, evenly spaced, so that a scatter of many rules keeps their shape.
pub(crate) fn spread(ids: &[u32], cap: usize) -> Vec<u32> {
    if ids.len() <= cap {
        return ids.to_vec();
    }
    (0..cap).map(|j| ids[j * ids.len() / cap]).collect()
}

/// The rules as CSV, one row each: items joined by " & ", the baskets holding the rule, then
/// the metrics. A cell that a
/// spreadsheet would run as a formula (starting `=`, `+`, `-`, `@`, tab or return) is prefixed
/// with `'`, the usual guard for files analysts open in Excel.
pub(crate) fn csv(ids: &[u32], rules: &[Rule], names: &[String]) -> Vec<u8> {
    let mut out = String::from(
        "antecedent,consequent,count,support,confidence,lift,leverage,conviction,antecedent_support,consequent_support\n",
    );
    let cell = |text: &str| -> String {
        let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{text}")
        } else {
            text.to_string()
        };
        if guarded.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", guarded.replace('"', "\"\""))
        } else {
            guarded
        }
    };
    let joined = |ids: &[u32]| {
        ids.iter()
            .map(|&i| names[i as usize].as_str())
            .collect::<Vec<_>>()
            .join(" & ")
    };
    for &id in ids {
        let r = &rules[id as usize];
        let conviction = if r.conviction.is_finite() {
            r.conviction.to_string()
        } else {
            "inf".to_string()
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            cell(&joined(&r.antecedent)),
            cell(&joined(&r.consequent)),
            r.count,
            r.support,
            r.confidence,
            r.lift,
            r.leverage,
            conviction,
            r.antecedent_support,
            r.consequent_support
        ));
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(a: &[u32], c: &[u32], support: f64, confidence: f64, lift: f64) -> Rule {
        Rule {
            antecedent: a.to_vec(),
            consequent: c.to_vec(),
            antecedent_support: support / confidence,
            consequent_support: confidence / lift,
            support,
            confidence,
            lift,
            leverage: 0.0,
            conviction: f64::INFINITY,
            zhangs_metric: 0.0,
            jaccard: 0.0,
            certainty: 0.0,
            kulczynski: 0.0,
            count: (support * 100.0).round() as u64,
        }
    }

    fn names() -> Vec<String> {
        ["milk", "bread", "=cmd()", "jam, strawberry"]
            .map(String::from)
            .to_vec()
    }

    fn fixture() -> (Explorer, Vec<Rule>) {
        let rules = vec![
            rule(&[0], &[1], 0.2, 0.5, 1.2),
            rule(&[1], &[0], 0.2, 0.6, 1.2),
            rule(&[0, 1], &[3], 0.05, 0.3, 3.0),
            rule(&[2], &[3], 0.01, 0.9, 9.0),
        ];
        let names = names();
        let texts = vec![
            "Whole milk".into(),
            "Rye bread".into(),
            "A product".into(),
            "Strawberry jam".into(),
        ];
        let explorer = Explorer::new(&names, &texts, &[10, 8, 1, 3], vec![0; 4], &rules);
        (explorer, rules)
    }

    fn run(query: RuleQuery) -> Vec<u32> {
        let (explorer, rules) = fixture();
        let names = names();
        select(
            &explorer,
            &rules,
            |n| names.iter().position(|m| m == n).map(|i| i as u32),
            &query,
        )
        .unwrap()
    }

    #[test]
    fn sorts_by_the_asked_metric_with_ties_to_the_lower_id() {
        assert_eq!(run(RuleQuery::default()), vec![3, 2, 0, 1]);
        let by_support_up = RuleQuery {
            sort: SortKey::Support,
            order: Order::Asc,
            ..Default::default()
        };
        assert_eq!(run(by_support_up), vec![3, 2, 0, 1]);
        let by_confidence = RuleQuery {
            sort: SortKey::Confidence,
            ..Default::default()
        };
        assert_eq!(run(by_confidence), vec![3, 1, 0, 2]);
    }

    #[test]
    fn ranges_are_inclusive_and_items_are_fixed_to_their_side() {
        let ranged = RuleQuery {
            min_lift: Some(1.2),
            max_lift: Some(3.0),
            min_confidence: Some(0.5),
            ..Default::default()
        };
        assert_eq!(run(ranged), vec![0, 1]);
        let milk_left = RuleQuery {
            antecedent: Some("milk".into()),
            ..Default::default()
        };
        assert_eq!(run(milk_left), vec![2, 0]);
        let milk_right = RuleQuery {
            consequent: Some("milk".into()),
            ..Default::default()
        };
        assert_eq!(run(milk_right), vec![1]);
        let both = RuleQuery {
            antecedent: Some("bread".into()),
            consequent: Some("jam, strawberry".into()),
            ..Default::default()
        };
        assert_eq!(run(both), vec![2]);
    }

    #[test]
    fn text_matches_any_item_by_name_or_text_in_any_case() {
        let q = |text: &str| {
            run(RuleQuery {
                q: Some(text.into()),
                ..Default::default()
            })
        };
        assert_eq!(q("STRAWBERRY"), vec![3, 2]);
        assert_eq!(q("rye"), vec![2, 0, 1]);
        assert_eq!(q("nothing like it"), Vec::<u32>::new());
        // Blank text filters nothing.
        assert_eq!(q("  "), vec![3, 2, 0, 1]);
    }

    #[test]
    fn bad_queries_are_refused_by_name() {
        let (explorer, rules) = fixture();
        let none = |_: &str| None;
        let unknown = RuleQuery {
            antecedent: Some("caviar".into()),
            ..Default::default()
        };
        assert!(matches!(
            select(&explorer, &rules, none, &unknown),
            Err(QueryError::UnknownItem(n)) if n == "caviar"
        ));
        for bad in [
            RuleQuery {
                min_lift: Some(f64::NAN),
                ..Default::default()
            },
            RuleQuery {
                limit: Some(0),
                ..Default::default()
            },
            RuleQuery {
                limit: Some(MAX_LIMIT + 1),
                ..Default::default()
            },
        ] {
            assert!(matches!(
                select(&explorer, &rules, none, &bad),
                Err(QueryError::Invalid(_))
            ));
        }
    }

    #[test]
    fn csv_quotes_and_guards_formulas() {
        let (_, rules) = fixture();
        let text = String::from_utf8(csv(&[3, 2], &rules, &names())).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("'=cmd(),\"jam, strawberry\",1,0.01,0.9,9,"));
        assert!(lines[1].ends_with(",inf,0.011111111111111112,0.1"));
        assert!(lines[2].starts_with("milk & bread,\"jam, strawberry\","));
    }

    #[test]
    fn presorted_lists_match_a_sort_of_the_rules_kept() {
        let (explorer, rules) = fixture();
        let keys = [
            SortKey::Support,
            SortKey::Confidence,
            SortKey::Lift,
            SortKey::Leverage,
            SortKey::Conviction,
            SortKey::AntecedentSupport,
            SortKey::ConsequentSupport,
        ];
        for key in keys {
            for order in [Order::Desc, Order::Asc] {
                let query = RuleQuery {
                    sort: key,
                    order,
                    max_lift: Some(5.0),
                    ..Default::default()
                };
                let got = select(&explorer, &rules, |_| None, &query).unwrap();
                let mut expected: Vec<u32> = (0..rules.len() as u32)
                    .filter(|&i| rules[i as usize].lift <= 5.0)
                    .collect();
                sort(&mut expected, &rules, key, order);
                assert_eq!(got, expected, "{key:?} {order:?}");
            }
        }
    }

    #[test]
    fn spread_keeps_the_first_and_spaces_the_rest() {
        let ids: Vec<u32> = (0..10).collect();
        assert_eq!(spread(&ids, 20), ids);
        assert_eq!(spread(&ids, 5), vec![0, 2, 4, 6, 8]);
    }
}
