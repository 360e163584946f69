//! The data model: events, the catalog of item text, and baskets derived from events.

use crate::ids::IdMap;
use std::collections::HashMap;

/// What a shopper did with an item. Ordered by strength of intent.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum EventKind {
    /// Looked at the product page.
    View,
    /// Clicked the product in a list.
    Click,
    /// Added to cart.
    Cart,
    /// Bought.
    Purchase,
}

impl EventKind {
    /// Parses the usual spellings (`view`, `click`, `cart`/`addtocart`, `purchase`/`transaction`/`buy`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "view" | "pageview" | "detail" => Some(EventKind::View),
            "click" => Some(EventKind::Click),
            "cart" | "addtocart" | "add_to_cart" => Some(EventKind::Cart),
            "purchase" | "transaction" | "buy" | "order" => Some(EventKind::Purchase),
            _ => None,
        }
    }
}

/// One event: `user` did `kind` with `item` at `timestamp` (seconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    /// Dense user id.
    pub user: u32,
    /// Dense item id.
    pub item: u32,
    /// Seconds since 1970-01-01T00:00:00Z.
    pub timestamp: i64,
    /// What happened.
    pub kind: EventKind,
    /// Multiplicity or strength (quantity, rating); 1 by default.
    pub weight: f32,
    /// The order (basket) this event belongs to, where the source names one: an id of
    /// [`Dataset::orders`].
    pub order: Option<u32>,
}

/// The text known about one item. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ItemText {
    /// Product title or name.
    pub title: Option<String>,
    /// Category path, as one string.
    pub category: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Free-text description.
    pub description: Option<String>,
}

impl ItemText {
    /// The fields that are present, joined by ". " in the order title, category, brand,
    /// description: the text a language model sees for this item.
    pub fn joined(&self) -> String {
        [&self.title, &self.category, &self.brand, &self.description]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(". ")
    }
}

/// Item text indexed by dense item id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: Vec<ItemText>,
}

impl Catalog {
    /// A catalog with an empty entry for each of `len` items.
    pub fn with_len(len: usize) -> Self {
        Catalog {
            entries: vec![ItemText::default(); len],
        }
    }

    /// The text of `item`, or an empty entry if the catalog does not cover it.
    pub fn get(&self, item: u32) -> ItemText {
        self.entries.get(item as usize).cloned().unwrap_or_default()
    }

    /// Every entry, indexed by item id.
    pub fn entries(&self) -> &[ItemText] {
        &self.entries
    }

    /// A catalog of these entries.
    pub fn from_entries(entries: Vec<ItemText>) -> Self {
        Catalog { entries }
    }

    /// Mutable access, growing the catalog as needed.
    pub fn entry_mut(&mut self, item: u32) -> &mut ItemText {
        let i = item as usize;
        if i >= self.entries.len() {
            self.entries.resize(i + 1, ItemText::default());
        }
        &mut self.entries[i]
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The text of every item of `items` for a language model, indexed by item id: the
    /// catalog's text, or the item's external name where the catalog has none.
    pub fn texts(&self, items: &crate::IdMap) -> Vec<String> {
        (0..items.len() as u32)
            .map(|i| self.text_or(i, items.name(i)))
            .collect()
    }

    /// Text for `item` for a language model: the catalog's text, or `fallback` (the item's
    /// external name) when the catalog has none.
    pub fn text_or(&self, item: u32, fallback: &str) -> String {
        let text = self
            .entries
            .get(item as usize)
            .map(ItemText::joined)
            .unwrap_or_default();
        if text.is_empty() {
            fallback.to_owned()
        } else {
            text
        }
    }

    pub(crate) fn resize(&mut self, len: usize) {
        self.entries.resize(len, ItemText::default());
    }

    pub(crate) fn remap(&mut self, remap: &[Option<u32>]) {
        let mut entries = vec![ItemText::default(); remap.iter().flatten().count()];
        for (old, new) in remap.iter().enumerate() {
            if let (Some(new), Some(entry)) = (new, self.entries.get_mut(old)) {
                entries[*new as usize] = std::mem::take(entry);
            }
        }
        self.entries = entries;
    }
}

/// How events are grouped into baskets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BasketRule {
    /// By the order id where the source has one, else by user and calendar day (UTC).
    #[default]
    OrderOrUserDay,
    /// By user and calendar day (UTC).
    UserDay,
    /// All of a user's events form one basket.
    User,
}

/// One basket: distinct items, sorted, with the basket's user and earliest timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basket {
    /// Dense user id.
    pub user: u32,
    /// Earliest event time in the basket.
    pub timestamp: i64,
    /// Distinct item ids, ascending.
    pub items: Vec<u32>,
}

/// A loaded dataset: interned ids, events in source order, and item text.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// User ids (external names; pseudonymised if asked).
    pub users: IdMap,
    /// Item ids (external names).
    pub items: IdMap,
    /// Events in the order they were read.
    pub interactions: Vec<Interaction>,
    /// Order (basket) ids as the source names them, indexed like [`Interaction::order`].
    pub orders: IdMap,
    /// Item text, indexed like `items`.
    pub catalog: Catalog,
    /// False for formats without users (basket files, FIMI): each basket then has a user of its own.
    pub has_users: bool,
}

impl Dataset {
    /// Groups events into baskets by `rule`, in order of first appearance.
    ///
    /// ```
    /// use affinity_data::{BasketRule, Dataset, EventKind, Interaction};
    /// let mut ds = Dataset::default();
    /// let (u, a, b) = (ds.users.intern("u"), ds.items.intern("a"), ds.items.intern("b"));
    /// for (item, t) in [(a, 0), (b, 3600), (a, 90_000)] {
    ///     ds.interactions.push(Interaction { user: u, item, timestamp: t, kind: EventKind::Purchase, weight: 1.0, order: None });
    /// }
    /// let baskets = ds.baskets(BasketRule::UserDay);
    /// assert_eq!(baskets.len(), 2);
    /// assert_eq!(baskets[0].items, vec![a, b]);
    /// ```
    pub fn baskets(&self, rule: BasketRule) -> Vec<Basket> {
        #[derive(Hash, PartialEq, Eq)]
        enum Key {
            Order(u32),
            UserDay(u32, i64),
            User(u32),
        }
        let mut index: HashMap<Key, usize> = HashMap::new();
        let mut baskets: Vec<Basket> = Vec::new();
        for event in &self.interactions {
            let key = match (rule, event.order) {
                (BasketRule::OrderOrUserDay, Some(order)) => Key::Order(order),
                (BasketRule::OrderOrUserDay | BasketRule::UserDay, _) => {
                    Key::UserDay(event.user, event.timestamp.div_euclid(86_400))
                }
                (BasketRule::User, _) => Key::User(event.user),
            };
            let slot = *index.entry(key).or_insert_with(|| {
                baskets.push(Basket {
                    user: event.user,
                    timestamp: event.timestamp,
                    items: Vec::new(),
                });
                baskets.len() - 1
            });
            let basket = &mut baskets[slot];
            basket.timestamp = basket.timestamp.min(event.timestamp);
            basket.items.push(event.item);
        }
        for basket in &mut baskets {
            basket.items.sort_unstable();
            basket.items.dedup();
        }
        baskets
    }

    /// Item lists of the baskets, the form the miner takes.
    pub fn transactions(&self, rule: BasketRule) -> Vec<Vec<u32>> {
        self.baskets(rule).into_iter().map(|b| b.items).collect()
    }

    /// How many events each item has (weights ignored).
    pub fn item_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.items.len()];
        for event in &self.interactions {
            counts[event.item as usize] += 1;
        }
        counts
    }

    /// Each user's events, sorted by time (stable: ties keep source order).
    pub fn user_sequences(&self) -> Vec<Vec<Interaction>> {
        let mut sequences = vec![Vec::new(); self.users.len()];
        for event in &self.interactions {
            sequences[event.user as usize].push(*event);
        }
        for seq in &mut sequences {
            seq.sort_by_key(|e| e.timestamp);
        }
        sequences
    }
}
