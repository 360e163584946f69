//! `affinity.mine` and `affinity.rules`: baskets to itemsets to rules, all in Arrow columns.

use affinity_core::InvalidSetting;
use std::collections::HashSet;
use std::sync::Arc;

use affinity_mine::{
    generate_rules, mine_itemsets, Algorithm, Consequents, Itemset, MineError, MiningParams, Rule,
    RuleParams, MEASURE_COLUMNS,
};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow_pyarrow::Table;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::error::{PyBindError, Result};
use crate::hash::FxHashMap;
use crate::input::{flat_ints, for_each_row, Interner};
use crate::output::{batches, ColumnSink, Lists, Values};

/// Rows per batch of an itemset or rule table.
pub const TABLE_BATCH_ROWS: usize = 1 << 20;

/// Mines the baskets (list chunks) into a table `items, freq`. A null basket is skipped: it
/// is no transaction (it does not count towards a fractional `min_support`), as the command
/// line's basket tables and Spark's FPGrowth read it; an empty basket is an empty
/// transaction.
pub fn mine(baskets: &[ArrayRef], params: &MiningParams) -> Result<Table> {
    let mut interner = Interner::default();
    let mut transactions: Vec<Vec<u32>> = Vec::new();
    let mut null_rows: Vec<usize> = Vec::new();
    for_each_row(baskets, "baskets", &mut interner, |row, items| {
        match items {
            Some(items) => transactions.push(items.to_vec()),
            None => null_rows.push(row),
        }
        Ok(())
    })?;
    let mut sink = ColumnSink::default();
    mine_itemsets(&transactions, None, params, Algorithm::FpGrowth, &mut sink)
        .map_err(|e| named(e, &interner, &null_rows))?;
    drop(transactions);
    itemset_table(&sink, Values::Items(&interner.into_items()))
}

/// A miner error with the caller's item in place of an internal id and the caller's row in
/// place of the transaction's index (`null_rows`, ascending, were skipped).
pub fn named(error: MineError, interner: &Interner, null_rows: &[usize]) -> PyBindError {
    match error {
        MineError::DuplicateItem { transaction, item } => PyBindError::DuplicateItem {
            transaction: row_of(transaction, null_rows),
            item: interner.describe(item),
        },
        other => other.into(),
    }
}

/// The row of the `transaction`-th non-null basket, given the null rows (ascending).
fn row_of(transaction: usize, null_rows: &[usize]) -> usize {
    let mut row = transaction;
    for &null in null_rows {
        if null > row {
            break;
        }
        row += 1;
    }
    row
}

/// The schema `items: list<...>, freq: int64`.
pub fn itemset_schema(values: Values) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("items", values.list_type(), true),
        Field::new("freq", DataType::Int64, true),
    ]))
}

/// Collected itemsets as record batches of at most `max_rows` rows.
pub fn itemset_batches(
    sink: &ColumnSink,
    values: Values,
    max_rows: usize,
) -> Result<Vec<RecordBatch>> {
    let schema = itemset_schema(values);
    batches(sink.lists.len(), &[&sink.lists], values, max_rows)
        .into_iter()
        .map(|rows| {
            let freq = Int64Array::from(sink.freq[rows.clone()].to_vec());
            let columns: Vec<ArrayRef> = vec![sink.lists.column(rows, values)?, Arc::new(freq)];
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect()
}

fn itemset_table(sink: &ColumnSink, values: Values) -> Result<Table> {
    let batches = itemset_batches(sink, values, TABLE_BATCH_ROWS)?;
    Ok(Table::try_new(batches, itemset_schema(values))?)
}

/// Rules from a table of every frequent itemset (`items` and `freq` chunks) over
/// `transactions`, which must be at least 1.
///
/// The table is checked before any rule is made, each problem named by its row: every count
/// is an integer from 1 to `transactions`, no itemset is listed twice, and no itemset is
/// counted more often than a subset of it that the table lists; so no support passes 1 and no
/// confidence is above 1 or infinite.
pub fn rules(
    items: &[ArrayRef],
    freq: &[ArrayRef],
    transactions: u64,
    params: &RuleParams,
) -> Result<Table> {
    params.check()?;
    if transactions == 0 {
        return Err(InvalidSetting::new("n_transactions", "0 must be at least 1").into());
    }
    let counts = flat_ints(freq, "freq")?;
    let mut interner = Interner::default();
    let mut itemsets: Vec<Itemset> = Vec::with_capacity(counts.len());
    for_each_row(items, "items", &mut interner, |row, set| {
        let bad = |reason: String| PyBindError::BadRow {
            argument: "items",
            row,
            reason,
        };
        let bad_count = |reason: String| PyBindError::BadRow {
            argument: "freq",
            row,
            reason,
        };
        let mut set = set.ok_or_else(|| bad("is null".into()))?.to_vec();
        set.sort_unstable();
        if set.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("lists an item twice".into()));
        }
        let support = *counts
            .get(row)
            .ok_or_else(|| bad("has no freq: items and freq differ in length".into()))?;
        let support =
            u64::try_from(support).map_err(|_| bad_count(format!("{support} is negative")))?;
        if support == 0 {
            return Err(bad_count(
                "0 is not a count of a frequent itemset (at least 1)".into(),
            ));
        }
        if support > transactions {
            return Err(bad_count(format!(
                "{support} is more than n_transactions ({transactions})"
            )));
        }
        itemsets.push(Itemset {
            items: set,
            support,
        });
        Ok(())
    })?;
    if itemsets.len() != counts.len() {
        return Err(PyBindError::BadInput {
            argument: "itemsets",
            reason: format!("{} items for {} freq", itemsets.len(), counts.len()),
        });
    }
    check_counts(&itemsets, &interner)?;
    let rules = match generate_rules(&itemsets, transactions, params) {
        Err(MineError::InvalidSetting(affinity_core::InvalidSetting {
            name: "itemsets", ..
        })) => return Err(missing_subset(&itemsets, &interner)),
        other => other?,
    };
    drop(itemsets);
    rule_table(&rules, Values::Items(&interner.into_items()))
}

/// Fails on the first itemset (in row order) listed a second time, then on the first counted
/// more often than one of its subsets one item smaller; every subset is checked so, through
/// the chain of such subsets where the table lists them all.
fn check_counts(itemsets: &[Itemset], interner: &Interner) -> Result<()> {
    let mut rows: FxHashMap<&[u32], usize> = FxHashMap::default();
    rows.reserve(itemsets.len());
    for (row, set) in itemsets.iter().enumerate() {
        if let Some(&first) = rows.get(set.items.as_slice()) {
            return Err(PyBindError::BadRow {
                argument: "items",
                row,
                reason: format!("repeats the itemset of row {first}"),
            });
        }
        rows.insert(&set.items, row);
    }
    let mut subset = Vec::new();
    for (row, set) in itemsets.iter().enumerate() {
        for skip in 0..set.items.len() {
            subset.clear();
            subset.extend_from_slice(&set.items[..skip]);
            subset.extend_from_slice(&set.items[skip + 1..]);
            let Some(&sub_row) = rows.get(subset.as_slice()) else {
                continue;
            };
            let sub = itemsets[sub_row].support;
            if sub < set.support {
                let names: Vec<String> = subset.iter().map(|&i| interner.describe(i)).collect();
                return Err(PyBindError::BadRow {
                    argument: "items",
                    row,
                    reason: format!(
                        "count {} is more than the count {sub} of its subset [{}] (row \
                         {sub_row})",
                        set.support,
                        names.join(", ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The first itemset with a missing subset, named with the caller's items (the core's message
/// would show internal ids). Every (n-1)-subset present implies every subset is.
fn missing_subset(itemsets: &[Itemset], interner: &Interner) -> PyBindError {
    let known: HashSet<&[u32]> = itemsets.iter().map(|s| s.items.as_slice()).collect();
    for set in itemsets.iter().filter(|s| s.items.len() >= 2) {
        for skip in 0..set.items.len() {
            let mut subset = set.items.clone();
            subset.remove(skip);
            if !known.contains(subset.as_slice()) {
                let names: Vec<String> = subset.iter().map(|&i| interner.describe(i)).collect();
                return InvalidSetting::new(
                    "itemsets",
                    format!(
                        "subset [{}] is missing: pass all frequent itemsets",
                        names.join(", ")
                    ),
                )
                .into();
            }
        }
    }
    InvalidSetting::new(
        "itemsets",
        "a subset is missing: pass all frequent itemsets",
    )
    .into()
}

fn rule_table(rules: &[Rule], values: Values) -> Result<Table> {
    let mut fields = vec![
        Field::new("antecedent", values.list_type(), true),
        Field::new("consequent", values.list_type(), true),
    ];
    fields.extend(
        MEASURE_COLUMNS
            .iter()
            .map(|&m| Field::new(m, DataType::Float64, true)),
    );
    fields.push(Field::new("count", DataType::Int64, true));
    let schema = Arc::new(Schema::new(fields));
    let (mut left, mut right) = (Lists::default(), Lists::default());
    for rule in rules {
        left.push(&rule.antecedent);
        right.push(&rule.consequent);
    }
    let batches = batches(rules.len(), &[&left, &right], values, TABLE_BATCH_ROWS)
        .into_iter()
        .map(|rows| {
            let part = &rules[rows.clone()];
            let mut columns = vec![
                left.column(rows.clone(), values)?,
                right.column(rows, values)?,
            ];
            let mut measures = MEASURE_COLUMNS.map(|_| Vec::with_capacity(part.len()));
            for rule in part {
                for (column, value) in measures.iter_mut().zip(rule.measures()) {
                    column.push(value);
                }
            }
            columns.extend(
                measures
                    .into_iter()
                    .map(|m| Arc::new(Float64Array::from(m)) as ArrayRef),
            );
            // Counts are at most n_transactions, an int64.
            let counts = part
                .iter()
                .map(|r| {
                    i64::try_from(r.count).map_err(|_| {
                        InvalidSetting::new("n_transactions", "a count passes 2^63 - 1").into()
                    })
                })
                .collect::<Result<Vec<i64>>>()?;
            columns.push(Arc::new(Int64Array::from(counts)));
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Table::try_new(batches, schema)?)
}

/// Rule settings of `affinity.rules`.
pub fn rule_params(
    min_confidence: f64,
    min_lift: Option<f64>,
    any_consequent: bool,
    max_rules: Option<u64>,
) -> RuleParams {
    RuleParams {
        min_confidence,
        min_lift,
        consequents: if any_consequent {
            Consequents::Any
        } else {
            Consequents::Single
        },
        max_rules,
        ..Default::default()
    }
}
