//! What every event loader does with a row once its fields are read: the duplicate check,
//! interning and the catalogue. Shared by the long CSV and the columnar (Parquet, Arrow IPC)
//! loaders, so that one event read from either gives the same dataset.

use super::{user_key, LoadReport};
use crate::model::{Dataset, EventKind, Interaction};
use std::collections::HashSet;

/// One row's fields, parsed.
pub(crate) struct Event<'a> {
    pub user: &'a str,
    pub item: &'a str,
    pub timestamp: i64,
    pub kind: EventKind,
    pub weight: f32,
    pub order: Option<&'a str>,
    pub title: Option<&'a str>,
    pub category: Option<&'a str>,
}

/// A dataset being filled with events.
pub(crate) struct Events<'k> {
    pub dataset: Dataset,
    seen: HashSet<Vec<u8>>,
    event_key: Vec<u8>,
    key: Option<&'k [u8; 32]>,
}

impl<'k> Events<'k> {
    /// An empty dataset with users; user ids hashed with `key` when given.
    pub fn new(key: Option<&'k [u8; 32]>) -> Self {
        Events {
            dataset: Dataset {
                has_users: true,
                ..Dataset::default()
            },
            seen: HashSet::new(),
            event_key: Vec::new(),
            key,
        }
    }

    /// Adds `event` unless it repeats one read before (counted in `report`).
    pub fn push(&mut self, event: Event<'_>, report: &mut LoadReport) {
        let dataset = &mut self.dataset;
        let user = user_key(event.user, self.key);
        let item = dataset.items.intern(event.item);
        // A repeated row's text still counts: the first text seen per field is kept.
        for (text, field) in [(event.title, 0), (event.category, 1)] {
            if let Some(text) = text.filter(|t| !t.is_empty()) {
                let entry = dataset.catalog.entry_mut(item);
                let slot = if field == 0 {
                    &mut entry.title
                } else {
                    &mut entry.category
                };
                slot.get_or_insert_with(|| text.to_owned());
            }
        }
        // The event itself is the key (lengths keep "ab","c" apart from "a","bc"), so two rows
        // that write one event differently are one event.
        let event_key = &mut self.event_key;
        event_key.clear();
        event_key.push(u8::from(event.order.is_some()));
        for part in [
            user.as_str(),
            dataset.items.name(item),
            event.order.unwrap_or(""),
        ] {
            event_key.extend_from_slice(&(part.len() as u64).to_le_bytes());
            event_key.extend_from_slice(part.as_bytes());
        }
        event_key.extend_from_slice(&event.timestamp.to_le_bytes());
        event_key.push(event.kind as u8);
        event_key.extend_from_slice(&event.weight.to_bits().to_le_bytes());
        if !self.seen.insert(event_key.clone()) {
            report.duplicates_dropped += 1;
            return;
        }
        let order = event.order.map(|o| dataset.orders.intern(o));
        let user = dataset.users.intern(&user);
        dataset.interactions.push(Interaction {
            user,
            item,
            timestamp: event.timestamp,
            kind: event.kind,
            weight: event.weight,
            order,
        });
    }

    /// The dataset, its catalogue covering every item.
    pub fn finish(mut self) -> Dataset {
        let len = self.dataset.items.len();
        self.dataset.catalog.resize(len);
        self.dataset
    }
}
