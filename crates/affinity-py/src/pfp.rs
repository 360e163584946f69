//! The two local steps of parallel FP-growth (Li et al., RecSys 2008), for the Spark layer:
//! sharding each transaction into its groups' conditional prefixes, and mining one group.

use affinity_core::InvalidSetting;
use std::sync::Arc;

use affinity_mine::{mine_group, MinSupport, MiningParams};
use arrow_array::{ArrayRef, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::error::{PyBindError, Result};
use crate::hash::FxHashMap;
use crate::input::{flat_ints, for_each_row, intern_in_order, rank_rows, Interner, UNKNOWN};
use crate::itemsets::itemset_batches;
use crate::output::{batches, ColumnSink, Lists, Values};
use crate::settings::at_least_one;

/// Checked `num_groups` (and `group`, when given).
pub fn groups(num_groups: i64, group: Option<i64>) -> Result<(u32, u32)> {
    let num = at_least_one("num_groups", num_groups)?;
    let num = u32::try_from(num)
        .ok()
        .filter(|&n| n <= i32::MAX as u32)
        .ok_or_else(|| {
            InvalidSetting::new("num_groups", format!("{num_groups} is above 2^31 - 1"))
        })?;
    let group = match group {
        None => 0,
        Some(g) if (0..i64::from(num)).contains(&g) => g as u32,
        Some(g) => {
            return Err(InvalidSetting::new("group", format!("{g} is outside [0, {num})")).into())
        }
    };
    Ok((num, group))
}

/// For each basket: its items as global ranks (the index in `frequent`), infrequent ones
/// dropped, ascending; then, from the last position to the first, the first time a group
/// `rank % num_groups` is met, the row `(group, ranks[..=position])`. Null baskets are
/// skipped.
pub fn shard(baskets: &[ArrayRef], frequent: &[ArrayRef], num_groups: u32) -> Result<RecordBatch> {
    let mut interner = Interner::default();
    intern_in_order(frequent, "frequent_items", &mut interner)?;
    if interner.len() > i32::MAX as usize {
        return Err(PyBindError::BadInput {
            argument: "frequent_items",
            reason: format!("{} items: ranks must fit in int32", interner.len()),
        });
    }
    interner.freeze();
    // Ranks are below the number of frequent items, so are their groups.
    let slots = (num_groups as usize).min(interner.len()).max(1);
    let mut seen = vec![usize::MAX; slots];
    let (mut group_column, mut prefixes) = (Vec::new(), Lists::default());
    let mut ranks: Vec<u32> = Vec::new();
    for_each_row(baskets, "baskets", &mut interner, |row, items| {
        let Some(items) = items else { return Ok(()) };
        ranks.clear();
        ranks.extend(items.iter().copied().filter(|&r| r != UNKNOWN));
        ranks.sort_unstable();
        ranks.dedup();
        for j in (0..ranks.len()).rev() {
            let group = ranks[j] % num_groups;
            // `seen` holds the last basket that met each group: no clearing per basket.
            if seen[group as usize] != row {
                seen[group as usize] = row;
                group_column.push(group as i32);
                prefixes.push(&ranks[..=j]);
            }
        }
        Ok(())
    })?;
    let ranges = batches(prefixes.len(), &[&prefixes], Values::Ranks, usize::MAX);
    if ranges.len() > 1 {
        return Err(PyBindError::BadInput {
            argument: "baskets",
            reason: "the prefixes exceed one Arrow batch (2^31 ranks): pass fewer baskets".into(),
        });
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("group", DataType::Int32, true),
        Field::new("prefix", Values::Ranks.list_type(), true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(group_column)),
        prefixes.column(0..prefixes.len(), Values::Ranks)?,
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Settings of one group's mining.
#[derive(Debug, Clone, Copy)]
pub struct GroupParams {
    /// The group mined.
    pub group: u32,
    /// Groups in all.
    pub num_groups: u32,
    /// The whole data's minimum count.
    pub min_count: u64,
    /// Longest itemset.
    pub max_len: Option<usize>,
    /// Worker threads.
    pub threads: usize,
}

/// One group's prefixes, gathered batch by batch with identical prefixes merged into one
/// weighted row, so that a group never has to be held whole as Arrow rows: Spark can stream
/// it (`applyInArrow` over an iterator of batches) and the memory is the distinct prefixes.
#[derive(Debug, Default)]
pub struct GroupPrefixes {
    counts: FxHashMap<Box<[u32]>, u64>,
}

impl GroupPrefixes {
    /// Adds a batch of prefixes (`list<int>` ranks), each counted once or `weights` times.
    pub fn add(&mut self, prefixes: &[ArrayRef], weights: Option<&[ArrayRef]>) -> Result<()> {
        let rows = rank_rows(prefixes, "prefixes", false)?;
        let weights = match weights {
            Some(chunks) => Some(checked_weights(chunks, rows.len())?),
            None => None,
        };
        for (row, prefix) in rows.into_iter().enumerate() {
            let weight = weights.as_ref().map_or(1, |w| w[row]);
            *self.counts.entry(prefix.into_boxed_slice()).or_insert(0) += weight;
        }
        Ok(())
    }

    /// Distinct prefixes held.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// Every itemset of the prefixes with a count of at least `min_count` whose largest rank
    /// belongs to `group`, as `items: list<int32>` (ascending ranks) and `freq: int64`. The
    /// prefixes are consumed (their memory goes to the mining).
    pub fn mine(&mut self, settings: GroupParams) -> Result<RecordBatch> {
        let mut params =
            MiningParams::new(MinSupport::Count(settings.min_count)).threads(settings.threads);
        if let Some(len) = settings.max_len {
            params = params.max_len(len);
        }
        params.check()?;
        let (transactions, weights): (Vec<Vec<u32>>, Vec<u64>) = std::mem::take(&mut self.counts)
            .into_iter()
            .map(|(prefix, weight)| (prefix.into_vec(), weight))
            .unzip();
        let (group, num_groups) = (settings.group, settings.num_groups);
        let mut sink = ColumnSink::default();
        mine_group(
            &transactions,
            Some(&weights),
            &params,
            &|rank| rank % num_groups == group,
            &mut sink,
        )?;
        drop(transactions);
        let mut batches = itemset_batches(&sink, Values::Ranks, usize::MAX)?;
        if batches.len() > 1 {
            return Err(PyBindError::BadInput {
                argument: "prefixes",
                reason: "the group's itemsets exceed one Arrow batch (2^31 ranks): use more \
                         groups"
                    .into(),
            });
        }
        Ok(batches.pop().expect("at least one batch"))
    }
}

/// One weight per prefix, none negative.
fn checked_weights(chunks: &[ArrayRef], rows: usize) -> Result<Vec<u64>> {
    let w = flat_ints(chunks, "weights")?;
    if w.len() != rows {
        return Err(PyBindError::BadInput {
            argument: "weights",
            reason: format!("{} weights for {rows} prefixes", w.len()),
        });
    }
    w.iter()
        .enumerate()
        .map(|(row, &v)| {
            u64::try_from(v).map_err(|_| PyBindError::BadRow {
                argument: "weights",
                row,
                reason: format!("{v} is negative"),
            })
        })
        .collect()
}

/// [`GroupPrefixes::mine`] of one batch of prefixes.
pub fn mine(
    prefixes: &[ArrayRef],
    weights: Option<&[ArrayRef]>,
    settings: GroupParams,
) -> Result<RecordBatch> {
    let mut group = GroupPrefixes::default();
    group.add(prefixes, weights)?;
    group.mine(settings)
}
