//! Cleaning: k-core filtering.

use crate::model::Dataset;

/// What [`k_core`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct KCoreReport {
    /// Users dropped.
    pub users_dropped: usize,
    /// Items dropped.
    pub items_dropped: usize,
    /// Events dropped.
    pub interactions_dropped: usize,
    /// Passes until nothing changed.
    pub rounds: usize,
}

/// Keeps only users with at least `min_user` events and items with at least `min_item` events,
/// repeating until both hold at once (dropping an item can push a user below the bar).
/// Ids are renumbered densely, in the old order.
///
/// ```
/// use affinity_data::{k_core, Dataset, EventKind, Interaction};
/// let mut ds = Dataset::default();
/// for (u, i) in [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "z")] {
///     let (user, item) = (ds.users.intern(u), ds.items.intern(i));
///     ds.interactions.push(Interaction { user, item, timestamp: 0, kind: EventKind::Purchase, weight: 1.0, order: None });
/// }
/// let report = k_core(&mut ds, 2, 2);
/// assert_eq!((ds.users.len(), ds.items.len(), report.users_dropped), (2, 2, 1));
/// ```
pub fn k_core(dataset: &mut Dataset, min_user: usize, min_item: usize) -> KCoreReport {
    let (n_users, n_items, n_events) = (
        dataset.users.len(),
        dataset.items.len(),
        dataset.interactions.len(),
    );
    let mut keep_user = vec![true; n_users];
    let mut keep_item = vec![true; n_items];
    let mut rounds = 0;
    loop {
        rounds += 1;
        let mut user_count = vec![0usize; n_users];
        let mut item_count = vec![0usize; n_items];
        for e in &dataset.interactions {
            if keep_user[e.user as usize] && keep_item[e.item as usize] {
                user_count[e.user as usize] += 1;
                item_count[e.item as usize] += 1;
            }
        }
        let mut changed = false;
        for (keep, count) in keep_user.iter_mut().zip(&user_count) {
            if *keep && *count < min_user {
                *keep = false;
                changed = true;
            }
        }
        for (keep, count) in keep_item.iter_mut().zip(&item_count) {
            if *keep && *count < min_item {
                *keep = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let user_map = dataset.users.retain(|u| keep_user[u as usize]);
    let item_map = dataset.items.retain(|i| keep_item[i as usize]);
    dataset.catalog.remap(&item_map);
    dataset.interactions.retain_mut(|e| {
        match (user_map[e.user as usize], item_map[e.item as usize]) {
            (Some(u), Some(i)) => {
                e.user = u;
                e.item = i;
                true
            }
            _ => false,
        }
    });
    KCoreReport {
        users_dropped: n_users - dataset.users.len(),
        items_dropped: n_items - dataset.items.len(),
        interactions_dropped: n_events - dataset.interactions.len(),
        rounds,
    }
}
