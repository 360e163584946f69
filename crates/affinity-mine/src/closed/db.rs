//! Conditional databases: transactions over local item ids, back to back, and the merging of
//! identical ones.

/// Transactions over local items `0..labels.len()`, back to back.
#[derive(Default)]
pub(super) struct Db {
    /// Local id to global item key, ascending (local order is global order).
    pub(super) labels: Vec<u32>,
    pub(super) items: Vec<u32>,
    /// Transaction `t` is `items[start[t]..start[t + 1]]`.
    pub(super) start: Vec<usize>,
    pub(super) weight: Vec<u64>,
}

impl Db {
    pub(super) fn clear(&mut self) {
        self.labels.clear();
        self.items.clear();
        self.start.clear();
        self.start.push(0);
        self.weight.clear();
    }

    pub(super) fn transaction(&self, t: u32) -> &[u32] {
        &self.items[self.start[t as usize]..self.start[t as usize + 1]]
    }

    pub(super) fn push(&mut self, items: &[u32], weight: u64) {
        self.items.extend_from_slice(items);
        self.start.push(self.items.len());
        self.weight.push(weight);
    }

    pub(super) fn len(&self) -> usize {
        self.weight.len()
    }
}

/// Whether every transaction in `tids` shares an item before `e`: the prefix-preserving test,
/// by intersecting sorted prefixes, which usually empties after a few transactions.
pub(super) fn reaches_back(db: &Db, tids: &[u32], e: u32, common: &mut Vec<u32>) -> bool {
    let Some((&first, rest)) = tids.split_first() else {
        return false;
    };
    let before = |t: u32| {
        let items = db.transaction(t);
        &items[..items.partition_point(|&j| j < e)]
    };
    common.clear();
    common.extend_from_slice(before(first));
    for &t in rest {
        if common.is_empty() {
            return false;
        }
        let other = before(t);
        let mut k = 0;
        common.retain(|&j| {
            while k < other.len() && other[k] < j {
                k += 1;
            }
            k < other.len() && other[k] == j
        });
    }
    !common.is_empty()
}

/// Copies `staged` into `out` (whose labels are set) with identical transactions merged and
/// their weights added: LCM's database reduction, what makes dense data fast.
///
/// Items before `split` only serve the prefix-preserving test, which asks whether an item is
/// in *every* transaction of an occurrence set; so transactions that agree from `split` on
/// merge, keeping the intersection of their items before it (LCM ver. 2). Transactions are
/// grouped by a hash (sorting integers, not slices), then compared within a group.
pub(super) fn merge_identical(staged: &Db, split: u32, merge: &mut Merge, out: &mut Db) {
    let parts = |t: u32| {
        let items = staged.transaction(t);
        items.split_at(items.partition_point(|&j| j < split))
    };
    let order = &mut merge.order;
    order.clear();
    order.extend((0..staged.len() as u32).map(|t| (hash(parts(t).1), t)));
    order.sort_unstable();
    let mut run = 0;
    while run < order.len() {
        let h = order[run].0;
        let end = run + order[run..].partition_point(|&(g, _)| g == h);
        merge.reps.clear();
        for &(_, t) in &order[run..end] {
            let (before, after) = parts(t);
            let weight = staged.weight[t as usize];
            match merge.reps.iter().position(|&(r, _)| parts(r).1 == after) {
                Some(k) => {
                    merge.reps[k].1 += weight;
                    let kept = &mut merge.before[k];
                    let mut i = 0;
                    kept.retain(|&j| {
                        while i < before.len() && before[i] < j {
                            i += 1;
                        }
                        i < before.len() && before[i] == j
                    });
                }
                None => {
                    let k = merge.reps.len();
                    merge.reps.push((t, weight));
                    if merge.before.len() <= k {
                        merge.before.push(Vec::new());
                    }
                    merge.before[k].clear();
                    merge.before[k].extend_from_slice(before);
                }
            }
        }
        for (k, &(t, weight)) in merge.reps.iter().enumerate() {
            out.items.extend_from_slice(&merge.before[k]);
            out.push(parts(t).1, weight);
        }
        run = end;
    }
}

/// Scratch of [`merge_identical`].
#[derive(Default)]
pub(super) struct Merge {
    pub(super) order: Vec<(u64, u32)>,
    /// Per representative of a hash group: its transaction and summed weight, and the items
    /// before the split common to all merged into it.
    pub(super) reps: Vec<(u32, u64)>,
    pub(super) before: Vec<Vec<u32>>,
}

pub(super) fn hash(items: &[u32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ items.len() as u64;
    for &i in items {
        h = (h ^ u64::from(i)).wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    }
    h
}
