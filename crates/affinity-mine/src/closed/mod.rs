//! Closed and maximal itemsets mined directly by prefix-preserving closure extension (LCM,
//! Uno et al., FIMI 2004): each closed set is reached exactly once from its parent, so
//! nothing found has to be kept, sets stream into the sink and the cap applies as they come.
//!
//! A node is a closed set `P` with its conditional database: the transactions containing `P`
//! (identical ones merged), restricted to the items outside `P` that are frequent there.
//! Extending `P` by an item `e` beyond its core gives `Q = closure(P + e)`; `Q` is a child
//! only when the closure adds no item before `e` (the prefix-preserving test). A closed set
//! is maximal exactly when its conditional database has no item left.

use crate::cap::Cap;
use crate::database::Prepared;
use crate::error::Result;
use crate::params::Target;
use crate::sink::ItemsetSink;

mod db;
mod maximal;

use db::{merge_identical, reaches_back, Db, Merge};
use maximal::{is_subset, Exact};

const NONE: u32 = u32::MAX;
/// Bytes the maximality bitsets may take.
const BITSET_BUDGET: usize = 64 << 20;

/// Scratch of one recursion depth, reused by every node at that depth.
#[derive(Default)]
struct Level {
    occurrences: Vec<Vec<u32>>,
    counts: Vec<u64>,
    local: Vec<u32>,
    staged: Db,
    merge: Merge,
    child: Db,
    common: Vec<u32>,
}

#[derive(Default)]
struct Scratch {
    levels: Vec<Level>,
    /// The current closed set, as global item keys.
    prefix: Vec<u32>,
    sorted: Vec<u32>,
    members: Vec<u32>,
    exact_counts: Vec<u64>,
    tids: Vec<u64>,
}

struct Miner<'a> {
    min_count: u64,
    max_len: usize,
    target: Target,
    cap: &'a Cap,
    key_to_item: &'a [u32],
    /// For maximal sets: the exact test against the whole database.
    exact: Option<Exact<'a>>,
}

impl Miner<'_> {
    fn emit<S: ItemsetSink>(
        &self,
        scratch: &mut Scratch,
        support: u64,
        sink: &mut S,
    ) -> Result<()> {
        self.cap.count(1)?;
        if !sink.needs_itemsets() {
            return sink.push_count(1);
        }
        scratch.sorted.clear();
        scratch
            .sorted
            .extend(scratch.prefix.iter().map(|&k| self.key_to_item[k as usize]));
        scratch.sorted.sort_unstable();
        sink.push(&scratch.sorted, support)
    }

    /// Whether no item outside the current set is frequent with it, counted on the root
    /// database. Only items before `core` (the key of the item last extended) are counted:
    /// the conditional database counted the others exactly.
    fn is_maximal(&self, core: u32, scratch: &mut Scratch) -> bool {
        let exact = self.exact.as_ref().expect("built for maximal sets");
        let members = &mut scratch.members;
        members.clear();
        members.extend(
            scratch
                .prefix
                .iter()
                .map(|&k| exact.root_local[k as usize])
                .filter(|&l| l != NONE),
        );
        members.sort_unstable();
        // Root-local ids follow keys, so the items to count are the root items before it.
        let before = exact.root.labels.partition_point(|&k| k < core) as u32;
        let Some(&rarest) = members
            .iter()
            .min_by_key(|&&l| exact.occurrences[l as usize].len())
        else {
            return exact.root.labels.is_empty();
        };
        // Bitsets when they are cheaper than reading the transactions of the rarest member:
        // dense data, long occurrence lists.
        if let Some(bits) = &exact.bits {
            let horizontal = exact.occurrences[rarest as usize].len() * exact.mean_length;
            let dense = (members.len() + exact.planes.len() * before as usize) * exact.words;
            if dense < horizontal && !forced(false) || forced(true) {
                return exact.is_maximal_dense(
                    bits,
                    members,
                    before,
                    self.min_count,
                    &mut scratch.tids,
                );
            }
        }
        let counts = &mut scratch.exact_counts;
        counts.clear();
        counts.resize(exact.root.labels.len(), 0);
        for &t in &exact.occurrences[rarest as usize] {
            let items = exact.root.transaction(t);
            if !is_subset(members, items) {
                continue;
            }
            let w = exact.root.weight[t as usize];
            for &j in items {
                counts[j as usize] += w;
                if j < before
                    && counts[j as usize] >= self.min_count
                    && members.binary_search(&j).is_err()
                {
                    return false;
                }
            }
        }
        true
    }

    /// Lists, for each local item from `first` on, the transactions that contain it.
    fn deliver(db: &Db, first: u32, occurrences: &mut Vec<Vec<u32>>) {
        let m = db.labels.len() - first as usize;
        occurrences.resize_with(m.max(occurrences.len()), Vec::new);
        for list in occurrences.iter_mut().take(m) {
            list.clear();
        }
        for t in 0..db.len() as u32 {
            for &item in db.transaction(t).iter().rev() {
                if item < first {
                    break;
                }
                occurrences[(item - first) as usize].push(t);
            }
        }
    }

    /// Expands the closed set in `scratch.prefix`, whose conditional database is `db` and
    /// whose core item (the last one added) has global key `core`.
    fn expand<S: ItemsetSink>(
        &self,
        db: &Db,
        core: Option<u32>,
        depth: usize,
        scratch: &mut Scratch,
        sink: &mut S,
    ) -> Result<()> {
        if scratch.levels.len() <= depth {
            scratch.levels.resize_with(depth + 1, Level::default);
        }
        let first = core.map_or(0, |c| db.labels.partition_point(|&l| l <= c)) as u32;
        if first as usize == db.labels.len() {
            return Ok(());
        }
        let mut level = std::mem::take(&mut scratch.levels[depth]);
        Self::deliver(db, first, &mut level.occurrences);
        let mut result = Ok(());
        for e in first..db.labels.len() as u32 {
            let tids = std::mem::take(&mut level.occurrences[(e - first) as usize]);
            result = self.extend(db, e, &tids, &mut level, depth, scratch, sink);
            level.occurrences[(e - first) as usize] = tids;
            if result.is_err() {
                break;
            }
        }
        scratch.levels[depth] = level;
        result
    }

    /// Tries `closure(prefix + e)` over the transactions `tids` of `db` that contain `e`.
    #[allow(clippy::too_many_arguments)]
    fn extend<S: ItemsetSink>(
        &self,
        db: &Db,
        e: u32,
        tids: &[u32],
        level: &mut Level,
        depth: usize,
        scratch: &mut Scratch,
        sink: &mut S,
    ) -> Result<()> {
        if reaches_back(db, tids, e, &mut level.common) {
            return Ok(()); // the closure adds an item before e: not a child
        }
        let m = db.labels.len();
        let counts = &mut level.counts;
        counts.clear();
        counts.resize(m, 0);
        let mut support = 0u64;
        for &t in tids {
            let w = db.weight[t as usize];
            support += w;
            for &j in db.transaction(t) {
                counts[j as usize] += w;
            }
        }
        if support < self.min_count {
            return Ok(());
        }
        let closure = counts[e as usize + 1..]
            .iter()
            .filter(|&&c| c == support)
            .count();
        if scratch.prefix.len() + 1 + closure > self.max_len {
            return Ok(()); // every closed superset is longer still
        }
        let before = scratch.prefix.len();
        scratch.prefix.push(db.labels[e as usize]);
        for (j, &c) in counts.iter().enumerate().skip(e as usize + 1) {
            if c == support {
                scratch.prefix.push(db.labels[j]);
            }
        }
        let result = self.descend(db, e, tids, support, level, depth, scratch, sink);
        scratch.prefix.truncate(before);
        result
    }

    /// Builds the child's conditional database and recurses into it.
    #[allow(clippy::too_many_arguments)]
    fn descend<S: ItemsetSink>(
        &self,
        db: &Db,
        e: u32,
        tids: &[u32],
        support: u64,
        level: &mut Level,
        depth: usize,
        scratch: &mut Scratch,
        sink: &mut S,
    ) -> Result<()> {
        if self.target == Target::Closed {
            self.emit(scratch, support, sink)?;
        }
        // Items outside the child set that stay frequent among its transactions: those before
        // e (their counts are lower bounds, see `merge_identical`), then the candidates.
        level.local.clear();
        level.child.clear();
        for (j, &c) in level.counts.iter().enumerate() {
            if c >= self.min_count && c < support {
                level.local.push(level.child.labels.len() as u32);
                level.child.labels.push(db.labels[j]);
            } else {
                level.local.push(NONE);
            }
        }
        let label = db.labels[e as usize];
        let split = level.child.labels.partition_point(|&l| l <= label);
        if self.target == Target::Maximal {
            let candidates = level.child.labels.len() - split;
            if candidates == 0 {
                // An item before e frequent here rules the set out; with none, items that
                // the merging hid may still be, so the exact test decides.
                if split == 0 && self.is_maximal(label, scratch) {
                    self.emit(scratch, support, sink)?;
                }
                return Ok(());
            }
            // Look ahead: when the set with every candidate is frequent, it is the only
            // maximal set this subtree could hold.
            if scratch.prefix.len() + candidates <= self.max_len {
                let with_all: u64 = tids
                    .iter()
                    .filter(|&&t| {
                        db.transaction(t)
                            .iter()
                            .filter(|&&j| level.local[j as usize] >= split as u32)
                            .filter(|&&j| level.local[j as usize] != NONE)
                            .count()
                            == candidates
                    })
                    .map(|&t| db.weight[t as usize])
                    .sum();
                if with_all >= self.min_count {
                    let before = scratch.prefix.len();
                    scratch
                        .prefix
                        .extend_from_slice(&level.child.labels[split..]);
                    let result = if self.is_maximal(label, scratch) {
                        self.emit(scratch, with_all, sink)
                    } else {
                        Ok(())
                    };
                    scratch.prefix.truncate(before);
                    return result;
                }
            }
        } else if level.child.labels.is_empty() {
            return Ok(());
        }
        level.staged.clear();
        let mut mapped = Vec::new();
        for &t in tids {
            mapped.clear();
            mapped.extend(
                db.transaction(t)
                    .iter()
                    .map(|&j| level.local[j as usize])
                    .filter(|&l| l != NONE),
            );
            if !mapped.is_empty() {
                level.staged.push(&mapped, db.weight[t as usize]);
            }
        }
        merge_identical(
            &level.staged,
            split as u32,
            &mut level.merge,
            &mut level.child,
        );
        let child = std::mem::take(&mut level.child);
        let result = self.expand(&child, Some(label), depth + 1, scratch, sink);
        level.child = child;
        result
    }
}

/// Mines the closed or maximal itemsets of at most `max_len` items into `sink`; returns how
/// many were reported.
pub(crate) fn mine<S: ItemsetSink>(
    prepared: &Prepared,
    target: Target,
    max_len: usize,
    threads: usize,
    limit: Option<u64>,
    sink: &mut S,
) -> Result<u64> {
    // The closure of the empty set: items in every transaction.
    let mut root = Db::default();
    root.clear();
    let everywhere: Vec<u32> = (0..prepared.rank_to_item.len() as u32)
        .filter(|&r| prepared.rank_support[r as usize] == prepared.total_weight)
        .collect();
    if everywhere.len() > max_len {
        return Ok(0);
    }
    // Items are keyed least frequent first (key k is rank n - 1 - k), so that closures mostly
    // add items after the one extended (the frequent ones) and few extensions fail the
    // prefix-preserving test.
    let n = prepared.rank_to_item.len();
    let key_of = |rank: u32| (n - 1 - rank as usize) as u32;
    let mut local = vec![NONE; n];
    let mut in_every = vec![false; n];
    for &r in &everywhere {
        in_every[r as usize] = true;
    }
    for key in 0..n as u32 {
        let rank = n as u32 - 1 - key;
        if !in_every[rank as usize] {
            local[key as usize] = root.labels.len() as u32;
            root.labels.push(key);
        }
    }
    let mut staged = Db::default();
    staged.clear();
    let mut mapped = Vec::new();
    for (items, weight) in &prepared.transactions {
        mapped.clear();
        mapped.extend(
            items
                .iter()
                .rev()
                .map(|&r| local[key_of(r) as usize])
                .filter(|&l| l != NONE),
        );
        if !mapped.is_empty() {
            staged.push(&mapped, *weight);
        }
    }
    merge_identical(&staged, 0, &mut Merge::default(), &mut root);
    drop(staged);
    let cap = Cap::new(limit);
    let key_to_item: Vec<u32> = prepared.rank_to_item.iter().rev().copied().collect();
    let n = root.labels.len();
    let parallel = threads > 1 && n >= 2;
    // The root items' transactions, listed once for the maximality test and the threads.
    let mut occurrences = Vec::new();
    if target == Target::Maximal || parallel {
        Miner::deliver(&root, 0, &mut occurrences);
    }
    let exact = (target == Target::Maximal).then(|| Exact::new(&root, &occurrences, &local));
    let miner = Miner {
        min_count: prepared.min_count,
        max_len,
        target,
        cap: &cap,
        key_to_item: &key_to_item,
        exact,
    };

    let mut scratch = Scratch::default();
    scratch.prefix.extend(everywhere.iter().map(|&r| key_of(r)));
    if !everywhere.is_empty() {
        let is_maximal = root.labels.is_empty();
        if target == Target::Closed || is_maximal {
            miner.emit(&mut scratch, prepared.total_weight, sink)?;
        }
    }
    if !parallel {
        miner.expand(&root, None, 0, &mut scratch, sink)?;
        return Ok(cap.emitted());
    }
    // One unit of work per first extension item; the output is the same for every thread
    // count.
    let base = scratch.prefix;
    crate::parallel::in_unit_order(
        n,
        threads,
        sink,
        || {
            let scratch = Scratch {
                prefix: base.clone(),
                ..Scratch::default()
            };
            (scratch, Level::default())
        },
        |e, (scratch, level), part| {
            miner.extend(&root, e as u32, &occurrences[e], level, 0, scratch, part)
        },
    )?;
    Ok(cap.emitted())
}

/// Whether a test forces the bitset (`true`) or list (`false`) maximality test.
#[cfg(not(test))]
fn forced(_dense: bool) -> bool {
    false
}

#[cfg(test)]
fn forced(dense: bool) -> bool {
    tests::force(dense)
}

#[cfg(test)]
mod tests {
    use crate::{mine_itemsets, Algorithm, Itemset, MinSupport, MiningParams, Target};
    use std::cell::Cell;

    thread_local! {
        /// Which maximality test to force in this thread: none, the bitsets or the lists.
        static FORCED: Cell<Option<bool>> = const { Cell::new(None) };
    }

    pub(super) fn force(dense: bool) -> bool {
        FORCED.with(|f| f.get() == Some(dense))
    }

    #[test]
    fn both_maximality_tests_agree_with_the_oracle() {
        let mut rng = affinity_data::synthetic::XorShift::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move |n: u64| rng.below(n);
        let tx: Vec<Vec<u32>> = (0..300)
            .map(|_| {
                (0..3 + next(8))
                    .map(|_| {
                        let spread = next(20) + 1;
                        next(spread) as u32
                    })
                    .collect()
            })
            .collect();
        let weights: Vec<u64> = (0..300).map(|_| 1 + next(3)).collect();
        let params = MiningParams::new(MinSupport::Count(12)).target(Target::Maximal);
        let run = |algorithm| {
            let mut found: Vec<Itemset> = Vec::new();
            mine_itemsets(&tx, Some(&weights), &params, algorithm, &mut found).unwrap();
            found.sort();
            found
        };
        let oracle = run(Algorithm::Apriori);
        assert!(oracle.len() > 10, "{} maximal sets", oracle.len());
        for dense in [true, false] {
            FORCED.with(|f| f.set(Some(dense)));
            assert_eq!(run(Algorithm::FpGrowth), oracle, "dense: {dense}");
        }
        FORCED.with(|f| f.set(None));
    }
}
