//! Folding new events into a fitted recommender without the raw data it was fitted on.
//!
//! The recommender keeps its event log, so an update appends the new events (new users, new
//! items, new purchases of old items) and derives histories, popularity, baskets,
//! co-occurrence and rules again with the same functions fitting uses: the result is exactly
//! what fitting on all events gives. Only new items, and items whose text changed, are embedded.

use affinity_core::InvalidSetting;
use std::collections::HashSet;
use std::time::Instant;

use affinity_data::{Catalog, Dataset, Interaction, ItemText};
use ndarray::Array2;

use super::error::Result;
use super::fitted::{derive, Fitted, Ids};
use super::prepared::Pipeline;
use super::recommender::Recommender;
use super::sequential::SequentialTower;
use crate::model;

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct UpdateReport {
    /// Events in the new data.
    pub events_read: usize,
    /// Events added to the log.
    pub events_added: usize,
    /// New events equal to one already in the log (same user, item, time, kind, weight and
    /// order), dropped as double-logged, as the loaders drop repeated rows.
    pub duplicates_dropped: usize,
    /// Users seen for the first time.
    pub new_users: usize,
    /// Items seen for the first time.
    pub new_items: usize,
    /// Known items whose text the new data completed.
    pub texts_changed: usize,
    /// Items embedded (new, or with new text).
    pub items_embedded: usize,
    /// Cached user vectors computed again (those whose history changed: new users, new recent
    /// items, recent items with new text); 0 when user vectors are not cached.
    pub users_embedded: usize,
    /// Rules before and after.
    pub rules: (usize, usize),
    /// Seconds for the whole update.
    pub seconds: f64,
}

type EventKey = (u32, u32, i64, affinity_data::EventKind, u32, Option<u32>);

fn key(e: &Interaction) -> EventKey {
    (
        e.user,
        e.item,
        e.timestamp,
        e.kind,
        e.weight.to_bits(),
        e.order,
    )
}

/// Fills the fields `old` lacks from `new` (the loaders keep the first text seen per field).
fn merge_text(old: &mut ItemText, new: &ItemText) {
    for (slot, value) in [
        (&mut old.title, &new.title),
        (&mut old.category, &new.category),
        (&mut old.brand, &new.brand),
        (&mut old.description, &new.description),
    ] {
        if slot.is_none() {
            slot.clone_from(value);
        }
    }
}

impl Recommender {
    /// Folds the events of `new` (ids are external names, matched against the recommender's)
    /// in, as if it had been fitted on its events followed by these.
    ///
    /// ```no_run
    /// # fn demo(recommender: affinity_recommend::pipeline::Recommender, new: affinity_data::Dataset) -> affinity_recommend::pipeline::Result<()> {
    /// let (updated, report) = recommender.update(&new)?;
    /// println!("{} events added, {} new items embedded", report.events_added, report.items_embedded);
    /// # Ok(()) }
    /// ```
    ///
    /// Event files only: basket and FIMI files name their baskets by line number, so the
    /// baskets of a second file cannot be told from the first's (refused).
    pub fn update(mut self, new: &Dataset) -> Result<(Recommender, UpdateReport)> {
        if !new.has_users {
            return Err(InvalidSetting::new(
                "events",
                "an update needs events with user ids (a long CSV): basket and FIMI files number their baskets per file",
            ).into());
        }
        super::fitted::check_ids(new, "events")?;
        let started = Instant::now();
        // A cached user vector is a function of the user's history text (or, with a sequential
        // model, of the history's items and their texts): keep the old texts and histories to
        // tell which ones the update changes.
        let cached_users = self.take_user_vectors().map(|v| {
            let texts: Vec<String> = self
                .fitted
                .histories
                .iter()
                .map(|h| self.history_text(h))
                .collect();
            (v, texts, self.fitted.histories.clone())
        });
        let sequential = self.sequential.take();
        let (fitted, encoder, vectors, ranking, provenance) = self.into_parts();
        let Fitted {
            items,
            catalog,
            users,
            orders,
            mut events,
            config,
            rules: old_rules,
            ..
        } = fitted;
        let mut report = UpdateReport {
            events_read: new.interactions.len(),
            rules: (old_rules.len(), 0),
            ..UpdateReport::default()
        };
        let mut ids = Ids {
            items,
            catalog,
            users,
            orders,
        };
        let (old_users, old_items) = (ids.users.len(), ids.items.len());

        let user_map: Vec<u32> = new
            .users
            .names()
            .iter()
            .map(|n| ids.users.intern(n))
            .collect();
        let item_map: Vec<u32> = new
            .items
            .names()
            .iter()
            .map(|n| ids.items.intern(n))
            .collect();
        let order_map: Vec<u32> = new
            .orders
            .names()
            .iter()
            .map(|n| ids.orders.intern(n))
            .collect();
        report.new_users = ids.users.len() - old_users;
        report.new_items = ids.items.len() - old_items;

        let mut entries = ids.catalog.entries().to_vec();
        entries.resize(ids.items.len(), ItemText::default());
        let mut reembed: Vec<usize> = Vec::new();
        for (j, &i) in item_map.iter().enumerate() {
            let i = i as usize;
            let before = entries[i].joined();
            merge_text(&mut entries[i], &new.catalog.get(j as u32));
            if i < old_items && entries[i].joined() != before {
                report.texts_changed += 1;
                reembed.push(i);
            }
        }
        ids.catalog = Catalog::from_entries(entries);
        reembed.extend(old_items..ids.items.len());

        let mut seen: HashSet<EventKey> = events.iter().map(key).collect();
        for e in &new.interactions {
            let mapped = Interaction {
                user: user_map[e.user as usize],
                item: item_map[e.item as usize],
                order: e.order.map(|o| order_map[o as usize]),
                ..*e
            };
            if seen.insert(key(&mapped)) {
                events.push(mapped);
                report.events_added += 1;
            } else {
                report.duplicates_dropped += 1;
            }
        }

        let derived = derive(
            &events,
            ids.users.len(),
            ids.items.len(),
            config.basket_rule,
        );
        let rules =
            Pipeline::new(config.clone())?.mine_baskets(&derived.baskets, &derived.basket_users)?;
        report.rules.1 = rules.len();
        let fitted = Fitted::assemble(ids, events, config, derived, rules);

        let vectors = match (vectors, &encoder) {
            (Some(old), Some(encoder)) => {
                let texts: Vec<&str> = reembed.iter().map(|&i| fitted.texts[i].as_str()).collect();
                let fresh = if texts.is_empty() {
                    Array2::zeros((0, old.ncols()))
                } else {
                    model::embed(encoder, &texts)?
                };
                report.items_embedded = texts.len();
                let mut all = Array2::zeros((fitted.n_items(), old.ncols()));
                for (i, row) in old.rows().into_iter().enumerate() {
                    all.row_mut(i).assign(&row);
                }
                for (&i, row) in reembed.iter().zip(fresh.rows()) {
                    all.row_mut(i).assign(&row);
                }
                Some(all)
            }
            (Some(_), None) if !reembed.is_empty() => {
                return Err(InvalidSetting::new(
                    "encoder",
                    "new items or texts must be embedded: load the recommender with its encoder",
                )
                .into());
            }
            (vectors, _) => vectors,
        };
        let mut updated = Recommender::with_vectors(fitted, encoder, vectors, ranking)?;
        updated.provenance = provenance;
        updated.sequential = match sequential {
            Some(tower) if reembed.is_empty() => Some(tower),
            Some(tower) => Some(with_new_text(tower, &updated, &reembed)?),
            None => None,
        };
        let changed: HashSet<u32> = reembed.iter().map(|&i| i as u32).collect();
        if let Some((old, old_texts, old_histories)) = cached_users {
            let histories = &updated.fitted.histories;
            let sequential = updated.sequential.is_some();
            let stale: Vec<usize> = (0..histories.len())
                .filter(|&u| {
                    old_texts
                        .get(u)
                        .is_none_or(|t| *t != updated.history_text(&histories[u]))
                        || old_histories.get(u) != Some(&histories[u])
                        || (sequential && histories[u].iter().any(|i| changed.contains(i)))
                })
                .collect();
            if !stale.is_empty() && !updated.reads_histories() {
                return Err(InvalidSetting::new(
                    "user vectors",
                    format!(
                        "{} cached user vectors need computing again, and no model that reads histories was loaded: load the bundle with its models",
                        stale.len()
                    ),
                ).into());
            }
            let fresh = updated.encode_users(&stale)?;
            let mut all = Array2::zeros((histories.len(), old.ncols()));
            for (u, row) in old.rows().into_iter().enumerate() {
                all.row_mut(u).assign(&row);
            }
            for (&u, row) in stale.iter().zip(fresh.rows()) {
                all.row_mut(u).assign(&row);
            }
            report.users_embedded = stale.len();
            updated.set_user_vectors(Some(all))?;
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok((updated, report))
    }
}

/// The sequential tower with the updated text vectors (new items rank by text alone).
fn with_new_text(
    mut tower: SequentialTower,
    updated: &Recommender,
    changed: &[usize],
) -> Result<SequentialTower> {
    #[cfg(feature = "model")]
    {
        let text = updated.item_vectors().ok_or_else(|| {
            InvalidSetting::new("vectors", "the sequential model needs item text vectors")
        })?;
        tower.set_text(text, changed)?;
        Ok(tower)
    }
    #[cfg(not(feature = "model"))]
    {
        let _ = (&mut tower, updated, changed);
        Err(InvalidSetting::new(
            "sequential",
            "new items or texts need the sequential model, which this build cannot run",
        )
        .into())
    }
}
