//! Train, validation and test splits that never let the future leak into training.

use crate::error::Result;
use crate::model::{Dataset, Interaction};
use affinity_core::InvalidSetting;

/// A split of events into three disjoint parts.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Events to learn from.
    pub train: Vec<Interaction>,
    /// Events to tune on (early stopping, model choice).
    pub valid: Vec<Interaction>,
    /// Events to report on.
    pub test: Vec<Interaction>,
}

/// Which unit leave-one-out holds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldOut {
    /// Each user's last event (ties in time broken by file order).
    #[default]
    LastItem,
    /// All events of each user's last time step (their last basket when events of one basket
    /// share a timestamp, as in day-stamped data).
    LastTimestamp,
    /// All events of each user's last order (basket) where the data names orders, else of
    /// their last time step: the next-basket protocol, whose whole next order is the target.
    /// Events sharing a time are grouped by order, so two orders on one day stay apart.
    LastBasket,
}

/// Leave-one-out by time: per user, the last unit is test and the one before is validation.
/// Users with fewer than three units keep everything in training.
///
/// ```
/// use affinity_data::{leave_one_out, Dataset, EventKind, HoldOut, Interaction};
/// let mut ds = Dataset::default();
/// let u = ds.users.intern("u");
/// for (t, name) in ["a", "b", "c", "d"].iter().enumerate() {
///     let item = ds.items.intern(name);
///     ds.interactions.push(Interaction { user: u, item, timestamp: t as i64, kind: EventKind::Purchase, weight: 1.0, order: None });
/// }
/// let split = leave_one_out(&ds, HoldOut::LastItem);
/// assert_eq!((split.train.len(), split.valid[0].item, split.test[0].item), (2, 2, 3));
/// ```
pub fn leave_one_out(dataset: &Dataset, hold_out: HoldOut) -> Split {
    let mut split = Split::default();
    for mut sequence in dataset.user_sequences() {
        if hold_out == HoldOut::LastBasket {
            // Stable: one order's events keep their file order.
            sequence.sort_by_key(|e| (e.timestamp, e.order));
        }
        // Unit boundaries: indices where a new unit starts.
        let starts: Vec<usize> = match hold_out {
            HoldOut::LastItem => (0..sequence.len()).collect(),
            HoldOut::LastTimestamp => (0..sequence.len())
                .filter(|&i| i == 0 || sequence[i].timestamp != sequence[i - 1].timestamp)
                .collect(),
            HoldOut::LastBasket => (0..sequence.len())
                .filter(|&i| {
                    i == 0
                        || (sequence[i].timestamp, sequence[i].order)
                            != (sequence[i - 1].timestamp, sequence[i - 1].order)
                })
                .collect(),
        };
        if starts.len() < 3 {
            split.train.extend_from_slice(&sequence);
            continue;
        }
        let test_from = starts[starts.len() - 1];
        let valid_from = starts[starts.len() - 2];
        split.train.extend_from_slice(&sequence[..valid_from]);
        split
            .valid
            .extend_from_slice(&sequence[valid_from..test_from]);
        split.test.extend_from_slice(&sequence[test_from..]);
    }
    split
}

/// A global time split: events before `valid_from` train, from `valid_from` up to `test_from`
/// validate, from `test_from` on test.
pub fn time_cutoff(dataset: &Dataset, valid_from: i64, test_from: i64) -> Result<Split> {
    if valid_from > test_from {
        return Err(InvalidSetting::new(
            "valid_from",
            format!("{valid_from} is after test_from {test_from}"),
        )
        .into());
    }
    let mut split = Split::default();
    for event in &dataset.interactions {
        let part = if event.timestamp < valid_from {
            &mut split.train
        } else if event.timestamp < test_from {
            &mut split.valid
        } else {
            &mut split.test
        };
        part.push(*event);
    }
    Ok(split)
}

/// Groups events by user: `result[user]` lists the user's items in time order.
pub fn items_by_user(events: &[Interaction], n_users: usize) -> Vec<Vec<u32>> {
    let mut sorted: Vec<&Interaction> = events.iter().collect();
    sorted.sort_by_key(|e| e.timestamp);
    let mut lists = vec![Vec::new(); n_users];
    for e in sorted {
        lists[e.user as usize].push(e.item);
    }
    lists
}
