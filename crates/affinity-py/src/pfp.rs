//! The two local steps of parallel FP-growth (Li et al., RecSys 2008), for the Spark layer:
//! sharding each transaction into its groups' conditional prefixes, and mining one group.

use affinity_core::InvalidSetting;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;

use affinity_mine::{mine_group, MinSupport, MiningParams};
use arrow_array::{ArrayRef, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::error::{PyBindError, Result};
use crate::hash::{FxHashMap, FxHashSet, FxHasher};
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

/// Ranks below this are mined as they are: the miner's tables indexed by rank cost at most a
/// few megabytes. Above it, ranks are mined as they are only if they are dense enough (see
/// [`GroupPrefixes::sparse_ranks`]).
const DIRECT_RANKS: usize = 1 << 16;

/// The largest total weight a group may hold: every count stays within Spark's `long`.
const MAX_TOTAL_WEIGHT: u64 = i64::MAX as u64;

/// One group's prefixes, gathered batch by batch with identical prefixes merged into one
/// weighted row, so that a group never has to be held whole as Arrow rows: Spark can stream
/// it (`applyInArrow` over an iterator of batches) and the memory is the distinct prefixes.
///
/// The prefixes are kept as the miner reads them (a list of transactions and one of weights),
/// indexed by a hash of each, so that mining reads them in place: [`GroupPrefixes::mine`] can
/// run again, and [`GroupPrefixes::add`] can go on after it.
#[derive(Debug, Default)]
pub struct GroupPrefixes {
    /// The distinct prefixes, in order of first appearance.
    prefixes: Vec<Vec<u32>>,
    /// The weight of each prefix.
    weights: Vec<u64>,
    /// For each hash, the first prefix that has it.
    by_hash: FxHashMap<u64, usize>,
    /// The other prefixes that have a hash an earlier one has (rare).
    collisions: FxHashMap<u64, Vec<usize>>,
    /// The sum of the weights, at most [`MAX_TOTAL_WEIGHT`].
    total: u64,
}

impl GroupPrefixes {
    /// Adds a batch of prefixes (`list<int>` ranks), each counted once or `weights` times.
    /// The batch is checked whole first: a batch that fails adds nothing. The weights of all
    /// batches together must stay within 2^63 - 1, so that no count saturates or wraps.
    pub fn add(&mut self, prefixes: &[ArrayRef], weights: Option<&[ArrayRef]>) -> Result<()> {
        let rows = rank_rows(prefixes, "prefixes", false)?;
        let weights = match weights {
            Some(chunks) => Some(checked_weights(chunks, rows.len())?),
            None => None,
        };
        let weight = |row: usize| weights.as_ref().map_or(1, |w| w[row]);
        let mut total = self.total;
        for row in 0..rows.len() {
            total = total
                .checked_add(weight(row))
                .filter(|&t| t <= MAX_TOTAL_WEIGHT)
                .ok_or_else(|| PyBindError::BadRow {
                    argument: if weights.is_some() {
                        "weights"
                    } else {
                        "prefixes"
                    },
                    row,
                    reason: "the group's weights add up past 2^63 - 1 (the largest count an \
                             int64 holds)"
                        .into(),
                })?;
        }
        for (row, prefix) in rows.into_iter().enumerate() {
            self.merge(prefix, weight(row));
        }
        self.total = total;
        Ok(())
    }

    /// Adds `weight` to the prefix, held once.
    fn merge(&mut self, mut prefix: Vec<u32>, weight: u64) {
        self.build_index();
        let hash = hash_of(&prefix);
        if let Some(index) = self.find(hash, &prefix) {
            self.weights[index] += weight;
            return;
        }
        // Held for the group's life: no spare capacity.
        prefix.shrink_to_fit();
        let index = self.prefixes.len();
        self.index(hash, index);
        self.prefixes.push(prefix);
        self.weights.push(weight);
    }

    /// Files prefix `index` under `hash`.
    fn index(&mut self, hash: u64, index: usize) {
        match self.by_hash.entry(hash) {
            Entry::Vacant(slot) => {
                slot.insert(index);
            }
            Entry::Occupied(_) => self.collisions.entry(hash).or_default().push(index),
        }
    }

    /// Rebuilds the hash index where [`GroupPrefixes::mine`] let it go.
    fn build_index(&mut self) {
        if !self.by_hash.is_empty() || self.prefixes.is_empty() {
            return;
        }
        self.by_hash.reserve(self.prefixes.len());
        for index in 0..self.prefixes.len() {
            let hash = hash_of(&self.prefixes[index]);
            self.index(hash, index);
        }
    }

    /// The index of `prefix`, whose hash is `hash`, if it is held.
    fn find(&self, hash: u64, prefix: &[u32]) -> Option<usize> {
        let &first = self.by_hash.get(&hash)?;
        if self.prefixes[first] == prefix {
            return Some(first);
        }
        self.collisions
            .get(&hash)?
            .iter()
            .copied()
            .find(|&i| self.prefixes[i] == prefix)
    }

    /// Distinct prefixes held.
    pub fn distinct(&self) -> usize {
        self.prefixes.len()
    }

    /// The distinct ranks, ascending, where they are too sparse to be mined as they are (the
    /// miner's tables are indexed by rank, up to the largest: a rank of 2^31 - 1 would cost
    /// tens of gigabytes); `None` where they are dense enough.
    fn sparse_ranks(&self) -> Option<Vec<u32>> {
        let largest = self.prefixes.iter().flatten().copied().max()?;
        if (largest as usize) < DIRECT_RANKS {
            return None;
        }
        let distinct: FxHashSet<u32> = self.prefixes.iter().flatten().copied().collect();
        if (largest as usize) < distinct.len().saturating_mul(4) {
            return None;
        }
        let mut ranks: Vec<u32> = distinct.into_iter().collect();
        ranks.sort_unstable();
        Some(ranks)
    }

    /// Every itemset of the prefixes with a count of at least `min_count` whose largest rank
    /// belongs to `group`, as `items: list<int32>` (ascending ranks) and `freq: int64`. The
    /// prefixes stay: mining again gives the same answer, and more can be added. Their hash
    /// index is let go first (the mining does not need it, and a group mined is usually
    /// done): its memory goes to the mining, and the next `add` rebuilds it.
    ///
    /// Sparse ranks are mined as their positions among the distinct ranks (an order-keeping
    /// renumbering, so the itemsets and the groups that own them are the same), so that the
    /// memory is proportional to the distinct ranks, not to the largest.
    pub fn mine(&mut self, settings: GroupParams) -> Result<RecordBatch> {
        let mut params =
            MiningParams::new(MinSupport::Count(settings.min_count)).threads(settings.threads);
        if let Some(len) = settings.max_len {
            params = params.max_len(len);
        }
        params.check()?;
        self.by_hash = FxHashMap::default();
        self.collisions = FxHashMap::default();
        let (group, num_groups) = (settings.group, settings.num_groups);
        let mut sink = ColumnSink::default();
        match self.sparse_ranks() {
            None => {
                mine_group(
                    &self.prefixes,
                    Some(&self.weights),
                    &params,
                    &|rank| rank % num_groups == group,
                    &mut sink,
                )?;
            }
            Some(ranks) => {
                // Every rank is in `ranks`: its position is its new number.
                let position = |rank: &u32| ranks.partition_point(|r| r < rank) as u32;
                let renumbered: Vec<Vec<u32>> = self
                    .prefixes
                    .iter()
                    .map(|prefix| prefix.iter().map(position).collect())
                    .collect();
                let rank_of = |i: u32| ranks[i as usize];
                mine_group(
                    &renumbered,
                    Some(&self.weights),
                    &params,
                    &|i| rank_of(i) % num_groups == group,
                    &mut sink,
                )?;
                sink.lists.map_ids(rank_of);
            }
        }
        let mut batches = itemset_batches(&sink, Values::Ranks, usize::MAX)?;
        match (batches.pop(), batches.is_empty()) {
            (Some(batch), true) => Ok(batch),
            _ => Err(PyBindError::BadInput {
                argument: "prefixes",
                reason: "the group's itemsets exceed one Arrow batch (2^31 ranks): use more \
                         groups"
                    .into(),
            }),
        }
    }
}

/// The hash a prefix is filed under.
fn hash_of(prefix: &[u32]) -> u64 {
    BuildHasherDefault::<FxHasher>::default().hash_one(prefix)
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
