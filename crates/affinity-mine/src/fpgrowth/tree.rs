//! The FP-tree: transactions as a prefix tree, and each item's nodes listed for the walks
//! towards the root that mining makes.

/// No node (an absent child, sibling or parent).
pub(super) const NONE: u32 = u32::MAX;
/// The root, node 0: no item.
pub(super) const ROOT: u32 = 0;

/// An FP-tree over local items `0..labels.len()`; a smaller id is a more frequent item, and
/// every path from the root has ascending ids.
#[derive(Default)]
pub(super) struct FpTree {
    /// Per node: its item and parent side by side, since each step of a walk up reads both
    /// (one cache miss a step instead of two; the walks are bound by memory latency).
    pub up: Vec<Up>,
    /// Per node: the weight of the transactions through it.
    pub count: Vec<u64>,
    /// Per node: links to search its children, kept by `insert` only. A tree built by
    /// `build_sorted` has none (it is never searched by child) and must not be inserted into.
    first_child: Vec<u32>,
    next_sibling: Vec<u32>,
    /// Per item, its nodes' parents and counts side by side, in node order: filled by
    /// `index_items` once the tree is built. Mining walks up from every node of one item, and
    /// a chain linked through the node arrays cost a cache miss at each of them.
    item_start: Vec<u32>,
    item_nodes: Vec<ItemNode>,
    /// Per item: support in this tree, and the original item id.
    pub support: Vec<u64>,
    pub labels: Vec<u32>,
}

/// A node's item and parent: what each step of a walk towards the root reads.
#[derive(Clone, Copy)]
pub(super) struct Up {
    pub item: u32,
    pub parent: u32,
}

/// A node as its item's list holds it: where a walk up starts, and with what weight.
#[derive(Clone, Copy, Default)]
pub(super) struct ItemNode {
    pub count: u64,
    pub parent: u32,
}

// `#[inline]` on the calls mining makes per path or per node: they are called from the parent
// module, which may be compiled as another codegen unit, and not inlined there the sparse FIMI
// sets mined 3 % to 5 % slower.
impl FpTree {
    pub fn reset(&mut self, labels: &[u32]) {
        self.up.clear();
        self.up.push(Up {
            item: NONE,
            parent: NONE,
        });
        for v in [&mut self.first_child, &mut self.next_sibling] {
            v.clear();
            v.push(NONE);
        }
        self.count.clear();
        self.count.push(0);
        self.support.clear();
        self.support.resize(labels.len(), 0);
        self.labels.clear();
        self.labels.extend_from_slice(labels);
    }

    /// Appends a node without linking it to its siblings: enough for a tree that is never
    /// searched by child (one built from sorted transactions).
    #[inline]
    fn push_node(&mut self, item: u32, parent: u32) -> u32 {
        let id = self.up.len() as u32;
        self.up.push(Up { item, parent });
        self.count.push(0);
        id
    }

    #[inline]
    fn new_node(&mut self, item: u32, parent: u32) -> u32 {
        let id = self.push_node(item, parent);
        self.first_child.push(NONE);
        self.next_sibling.push(self.first_child[parent as usize]);
        self.first_child[parent as usize] = id;
        id
    }

    /// Groups the nodes by item (a counting sort, so each item's nodes stay in node order).
    pub fn index_items(&mut self) {
        let items = self.labels.len();
        let start = &mut self.item_start;
        start.clear();
        start.resize(items + 1, 0);
        for up in &self.up[1..] {
            start[up.item as usize + 1] += 1;
        }
        for k in 0..items {
            start[k + 1] += start[k];
        }
        self.item_nodes.clear();
        self.item_nodes
            .resize(self.up.len() - 1, ItemNode::default());
        // `start[k]` runs ahead while item k's nodes are placed, ending at item k + 1's start;
        // shifting back by one slot afterwards restores the starts.
        for (up, &count) in self.up[1..].iter().zip(&self.count[1..]) {
            let slot = &mut start[up.item as usize];
            self.item_nodes[*slot as usize] = ItemNode {
                count,
                parent: up.parent,
            };
            *slot += 1;
        }
        start.rotate_right(1);
        start[0] = 0;
    }

    /// The nodes of `item`.
    #[inline]
    pub fn nodes_of(&self, item: u32) -> &[ItemNode] {
        let k = item as usize;
        &self.item_nodes[self.item_start[k] as usize..self.item_start[k + 1] as usize]
    }

    /// Adds a path of ascending items with `count`.
    #[inline]
    pub fn insert(&mut self, path: impl Iterator<Item = u32>, count: u64) {
        let mut node = ROOT;
        for item in path {
            let mut child = self.first_child[node as usize];
            while child != NONE && self.up[child as usize].item != item {
                child = self.next_sibling[child as usize];
            }
            if child == NONE {
                child = self.new_node(item, node);
            }
            self.count[child as usize] += count;
            self.support[item as usize] += count;
            node = child;
        }
    }

    /// Builds from transactions sorted lexicographically: each shares its prefix with the
    /// previous one, so no child search is needed (and no sibling links are kept).
    pub fn build_sorted(&mut self, transactions: &[(Vec<u32>, u64)], labels: &[u32]) {
        self.reset(labels);
        // The exact number of nodes, reserved once rather than grown by copies.
        let nodes: usize = transactions
            .iter()
            .scan(&[][..], |previous, (items, _)| {
                let shared = shared_prefix(items, previous);
                *previous = items;
                Some(items.len() - shared)
            })
            .sum();
        self.up.reserve(nodes);
        self.count.reserve(nodes);
        let mut path: Vec<u32> = Vec::new(); // nodes of the previous transaction
        let mut previous: &[u32] = &[];
        for (items, weight) in transactions {
            let shared = shared_prefix(items, previous);
            path.truncate(shared);
            for &item in &items[shared..] {
                let parent = path.last().copied().unwrap_or(ROOT);
                path.push(self.push_node(item, parent));
            }
            for &node in &path {
                self.count[node as usize] += weight;
            }
            for &item in items.iter() {
                self.support[item as usize] += weight;
            }
            previous = items;
        }
    }

    /// The single path from the root (its nodes in order), if the tree is one. Nodes are
    /// created root first along every path, so a chain is exactly a tree whose every node's
    /// parent is the node created before it.
    pub fn single_path(&self) -> Option<Vec<u32>> {
        let chain = self.up[1..]
            .iter()
            .enumerate()
            .all(|(k, up)| up.parent == k as u32);
        chain.then(|| (1..self.up.len() as u32).collect())
    }
}

/// How many leading items `a` and `b` share.
fn shared_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
