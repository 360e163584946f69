//! Summary statistics of a dataset.

use crate::load::LoadReport;
use crate::model::{BasketRule, Dataset};
use std::collections::HashSet;

/// What `affinity data stats` prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DatasetStats {
    /// Data rows read.
    pub rows_read: u64,
    /// Rows dropped as repeated events.
    pub duplicates_dropped: u64,
    /// Malformed rows skipped (lenient mode).
    pub rows_skipped: u64,
    /// Distinct users (for user-less formats: baskets).
    pub users: usize,
    /// Distinct items.
    pub items: usize,
    /// Events kept.
    pub interactions: usize,
    /// Baskets under the default basket rule.
    pub baskets: usize,
    /// Mean distinct items per basket.
    pub mean_basket_size: f64,
    /// 1 - distinct (user, item) pairs / (users x items).
    pub sparsity: f64,
    /// The most frequent items with their event counts.
    pub top_items: Vec<(String, u32)>,
    /// The title of each top item, where the data has one (same order as `top_items`).
    pub top_item_titles: Vec<Option<String>>,
}

/// Computes the statistics, with the `top` most frequent items.
pub fn dataset_stats(dataset: &Dataset, report: &LoadReport, top: usize) -> DatasetStats {
    let baskets = dataset.baskets(BasketRule::default());
    let pairs: HashSet<(u32, u32)> = dataset
        .interactions
        .iter()
        .map(|e| (e.user, e.item))
        .collect();
    let cells = dataset.users.len() as f64 * dataset.items.len() as f64;
    let counts = dataset.item_counts();
    let mut order: Vec<u32> = (0..counts.len() as u32).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(counts[i as usize]), i));
    DatasetStats {
        rows_read: report.rows_read,
        duplicates_dropped: report.duplicates_dropped,
        rows_skipped: report.skipped_total(),
        users: dataset.users.len(),
        items: dataset.items.len(),
        interactions: dataset.interactions.len(),
        baskets: baskets.len(),
        mean_basket_size: baskets.iter().map(|b| b.items.len()).sum::<usize>() as f64
            / baskets.len().max(1) as f64,
        sparsity: if cells > 0.0 {
            1.0 - pairs.len() as f64 / cells
        } else {
            0.0
        },
        top_items: order
            .iter()
            .take(top)
            .map(|&i| (dataset.items.name(i).to_owned(), counts[i as usize]))
            .collect(),
        top_item_titles: order
            .iter()
            .take(top)
            .map(|&i| {
                dataset
                    .catalog
                    .get(i)
                    .title
                    .filter(|t| !t.trim().is_empty())
            })
            .collect(),
    }
}
