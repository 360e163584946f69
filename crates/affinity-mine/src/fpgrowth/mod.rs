//! FP-growth: a prefix tree of the transactions, mined by recursive conditional trees.

use crate::cap::Cap;
use crate::database::Prepared;
use crate::error::Result;
use crate::sink::ItemsetSink;

mod tree;

use tree::{FpTree, ItemNode, NONE, ROOT};

/// Per-depth scratch reused across the recursion.
#[derive(Default)]
struct Scratch {
    trees: Vec<FpTree>,
    counts: Vec<u64>,
    local: Vec<u32>,
    /// Prefix paths of the conditional tree being built, end to end, and where each ends
    /// with its count.
    path_items: Vec<u32>,
    path_ends: Vec<(usize, u64)>,
    prefix: Vec<u32>,
    sorted: Vec<u32>,
    labels: Vec<u32>,
    /// Itemsets counted by this thread and not yet added to an unbounded cap.
    pending: u64,
}

struct Miner<'a> {
    min_count: u64,
    max_len: usize,
    cap: &'a Cap,
}

impl Miner<'_> {
    fn emit<S: ItemsetSink>(
        &self,
        scratch: &mut Scratch,
        support: u64,
        sink: &mut S,
    ) -> Result<()> {
        self.count(scratch, 1)?;
        if sink.needs_itemsets() {
            scratch.sorted.clear();
            scratch.sorted.extend_from_slice(&scratch.prefix);
            scratch.sorted.sort_unstable();
            sink.push(&scratch.sorted, support)?;
        } else {
            sink.push_count(1)?;
        }
        Ok(())
    }

    /// Counts `n` itemsets: against a bounded cap at once (the error must come exactly at the
    /// cap), else in this thread's tally, added to the total after each unit of work (two
    /// threads bumping one shared counter per itemset cost more than the mining).
    fn count(&self, scratch: &mut Scratch, n: u64) -> Result<()> {
        if self.cap.is_bounded() {
            return self.cap.count(n);
        }
        scratch.pending = scratch
            .pending
            .checked_add(n)
            .ok_or_else(|| self.cap.exceeded())?;
        Ok(())
    }

    /// Adds this thread's tally to the total.
    fn flush(&self, scratch: &mut Scratch) -> Result<()> {
        self.cap.count(std::mem::take(&mut scratch.pending))
    }

    /// Mines item `i` of `tree` (at recursion `depth`) with the current prefix.
    fn mine_item<S: ItemsetSink>(
        &self,
        tree: &FpTree,
        i: u32,
        depth: usize,
        scratch: &mut Scratch,
        sink: &mut S,
    ) -> Result<()> {
        scratch.prefix.push(tree.labels[i as usize]);
        self.emit(scratch, tree.support[i as usize], sink)?;
        if scratch.prefix.len() < self.max_len && i > 0 {
            if scratch.trees.len() <= depth {
                scratch.trees.resize_with(depth + 1, FpTree::default);
            }
            let mut child = std::mem::take(&mut scratch.trees[depth]);
            if self.conditional_tree(tree, i, scratch, &mut child) {
                match child.single_path() {
                    Some(path) => self.mine_path(&child, &path, scratch, sink)?,
                    None => {
                        child.index_items();
                        for j in (0..child.labels.len() as u32).rev() {
                            self.mine_item(&child, j, depth + 1, scratch, sink)?;
                        }
                    }
                }
            }
            scratch.trees[depth] = child;
        }
        scratch.prefix.pop();
        Ok(())
    }

    /// Builds the conditional tree of item `i` into `out`; false when it is empty.
    fn conditional_tree(
        &self,
        tree: &FpTree,
        i: u32,
        scratch: &mut Scratch,
        out: &mut FpTree,
    ) -> bool {
        // One walk up each prefix path: count its items and copy it into a flat buffer, from
        // which the tree is built (a second walk would repeat the chain of dependent loads).
        let counts = &mut scratch.counts;
        counts.clear();
        counts.resize(i as usize, 0);
        let items = &mut scratch.path_items;
        items.clear();
        let ends = &mut scratch.path_ends;
        ends.clear();
        for &ItemNode { count, parent } in tree.nodes_of(i) {
            let mut up = parent;
            while up != ROOT {
                let step = tree.up[up as usize];
                counts[step.item as usize] += count;
                items.push(step.item);
                up = step.parent;
            }
            ends.push((items.len(), count));
        }
        // Local ids for the frequent items, in the same order.
        let local = &mut scratch.local;
        local.clear();
        local.resize(i as usize, NONE);
        let labels = &mut scratch.labels;
        labels.clear();
        for (item, &c) in counts.iter().enumerate() {
            if c >= self.min_count {
                local[item] = labels.len() as u32;
                labels.push(tree.labels[item]);
            }
        }
        if labels.is_empty() {
            return false;
        }
        out.reset(labels);
        let mut start = 0;
        for &(end, c) in ends.iter() {
            // Stored leaf to root (descending ids); the tree wants them ascending.
            let path = items[start..end]
                .iter()
                .rev()
                .map(|&item| local[item as usize])
                .filter(|&l| l != NONE);
            out.insert(path, c);
            start = end;
        }
        true
    }

    /// Every non-empty subset of a single path, each with the count of its deepest node.
    fn mine_path<S: ItemsetSink>(
        &self,
        tree: &FpTree,
        path: &[u32],
        scratch: &mut Scratch,
        sink: &mut S,
    ) -> Result<()> {
        let room = self.max_len - scratch.prefix.len();
        // Counted before any is listed: a long path has more subsets than any cap.
        let Some(n) = subsets_up_to(path.len(), room) else {
            return Err(self.cap.exceeded());
        };
        if !sink.needs_itemsets() {
            self.count(scratch, n)?;
            return sink.push_count(n);
        }
        self.cap.check_room(n)?;
        self.subsets(tree, path, room, scratch, sink)
    }

    /// Emits the subsets of `path` with at most `room` items, in depth-first order, without
    /// recursion: a path can be as long as the longest transaction.
    fn subsets<S: ItemsetSink>(
        &self,
        tree: &FpTree,
        path: &[u32],
        room: usize,
        scratch: &mut Scratch,
        sink: &mut S,
    ) -> Result<()> {
        let base = scratch.prefix.len();
        // Positions in `path` of the items added to the prefix, and the next one to try.
        let mut chosen: Vec<usize> = Vec::new();
        let mut next = 0;
        loop {
            if next < path.len() && chosen.len() < room {
                let node = path[next] as usize;
                scratch
                    .prefix
                    .push(tree.labels[tree.up[node].item as usize]);
                chosen.push(next);
                self.emit(scratch, tree.count[node], sink)?;
                next += 1;
            } else {
                match chosen.pop() {
                    Some(last) => {
                        scratch.prefix.pop();
                        next = last + 1;
                    }
                    None => break,
                }
            }
        }
        debug_assert_eq!(scratch.prefix.len(), base);
        Ok(())
    }
}

/// Non-empty subsets of an `n`-set with at most `room` elements; `None` past `u64::MAX`.
pub(crate) fn subsets_up_to(n: usize, room: usize) -> Option<u64> {
    let mut total = 0u64;
    let mut binomial = 1u128; // C(n, k), exact while it fits in 64 bits
    for k in 1..=n.min(room) {
        binomial = binomial * (n - k + 1) as u128 / k as u128;
        total = total.checked_add(u64::try_from(binomial).ok()?)?;
    }
    Some(total)
}

/// Which top-level items are mined: all, or only those whose original id a group owns.
pub(crate) type Owns<'a> = Option<&'a (dyn Fn(u32) -> bool + Sync)>;

/// Mines every frequent itemset of the prepared transactions into `sink`; returns the count.
/// With `owns`, only the itemsets whose last item in the tree's order (the top-level item they
/// are mined under) is owned.
pub(crate) fn mine<S: ItemsetSink>(
    prepared: &mut Prepared,
    max_len: usize,
    threads: usize,
    limit: Option<u64>,
    owns: Owns<'_>,
    sink: &mut S,
) -> Result<u64> {
    crate::parallel::sort(&mut prepared.transactions, threads);
    let mut tree = FpTree::default();
    build_global(&mut tree, prepared);
    let cap = Cap::new(limit);
    let miner = Miner {
        min_count: prepared.min_count,
        max_len,
        cap: &cap,
    };
    let n = tree.labels.len() as u32;
    // Top-level items, least frequent first.
    let units: Vec<u32> = (0..n)
        .rev()
        .filter(|&i| owns.is_none_or(|owns| owns(tree.labels[i as usize])))
        .collect();
    let single_path = if owns.is_none() {
        tree.single_path().filter(|p| !p.is_empty())
    } else {
        None // its shortcut lists every subset, owned or not
    };
    if let Some(path) = single_path {
        // One chain (e.g. a single transaction): its subsets, counted before any is listed.
        let mut scratch = Scratch::default();
        miner.mine_path(&tree, &path, &mut scratch, sink)?;
        miner.flush(&mut scratch)?;
    } else {
        tree.index_items();
        if threads <= 1 || units.len() < 2 {
            let mut scratch = Scratch::default();
            for &i in &units {
                miner.mine_item(&tree, i, 0, &mut scratch, sink)?;
            }
            miner.flush(&mut scratch)?;
        } else {
            // The output is the same for every thread count.
            crate::parallel::in_unit_order(
                units.len(),
                threads,
                sink,
                Scratch::default,
                |k, scratch, part| {
                    miner.mine_item(&tree, units[k], 0, scratch, part)?;
                    miner.flush(scratch)
                },
            )?;
        }
    }
    Ok(cap.emitted())
}

fn build_global(tree: &mut FpTree, prepared: &Prepared) {
    tree.build_sorted(&prepared.transactions, &prepared.rank_to_item);
    debug_assert_eq!(tree.support, prepared.rank_support);
}
