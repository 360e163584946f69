//! What fitting learns from events, without the language model: ids, item text, the event log,
//! and what is derived from it (histories, popularity, co-occurrence). Every derived part is a
//! function of the event log alone, so an update that appends events and derives again gives
//! exactly what fitting on all events gives.

use affinity_core::InvalidSetting;
use affinity_data::{items_by_user, BasketRule, Catalog, Dataset, IdMap, Interaction};

use super::config::PipelineParams;
use affinity_mine::Rule;
use affinity_rank::{
    BasketHistory, CooccurrenceCounts, CooccurrenceWeight, ItemCooccurrence, MostPopular,
    RepeatModel,
};

/// The fitted, model-free part of a recommender.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// Item ids (external names).
    pub items: IdMap,
    /// Item text fields, by item id.
    pub catalog: Catalog,
    /// The text the encoder reads per item (title and more, else the name).
    pub texts: Vec<String>,
    /// User ids (external names).
    pub users: IdMap,
    /// Order (basket) ids, as the source names them.
    pub orders: IdMap,
    /// The events fitted on, in the order they were read.
    pub events: Vec<Interaction>,
    /// Per user: items in time order.
    pub histories: Vec<Vec<u32>>,
    /// Events per item (the hybrid's popularity).
    pub counts: Vec<u32>,
    /// The settings it was fitted with (basket rule, mining thresholds, ...): an update mines
    /// with the same ones.
    pub config: PipelineParams,
    /// Baskets the events form.
    pub baskets: usize,
    /// Pair counts within baskets.
    pub cooccurrence: ItemCooccurrence,
    /// Rules mined from the baskets.
    pub rules: Vec<Rule>,
    /// Per user: their baskets, oldest first, with the day of each.
    pub shoppers: Vec<BasketHistory>,
    /// What shoppers buy again: repeat rates and usual repurchase intervals.
    pub repeat: RepeatModel,
    /// The newest event's day (days since 1970): the day a bundle answers for unless a
    /// request says otherwise.
    pub latest_day: Option<f64>,
}

/// What is derived from an event log.
pub(crate) struct Derived {
    pub histories: Vec<Vec<u32>>,
    pub counts: Vec<u32>,
    pub baskets: Vec<Vec<u32>>,
    /// Per basket of `baskets`: its shopper.
    pub basket_users: Vec<u32>,
    pub shoppers: Vec<BasketHistory>,
}

/// Seconds in a day: event times are seconds, repurchase intervals days.
const DAY: f64 = 86_400.0;

/// The language model's popularity prior: `ln(1 + buyers)` per item, buyers being the
/// users whose history holds it. Users, not events: the model is trained on, and judged by,
/// products new to a user, and a staple bought every week by the same few is not often new
/// to anyone.
pub(crate) fn log_buyers(histories: &[Vec<u32>], n_items: usize) -> Vec<f32> {
    buyers(histories, n_items)
        .iter()
        .map(|&b| (1.0 + b as f32).ln())
        .collect()
}

/// Per item: the users whose history holds it (each counted once).
fn buyers(histories: &[Vec<u32>], n_items: usize) -> Vec<u32> {
    let mut buyers = vec![0u32; n_items];
    let mut seen = vec![usize::MAX; n_items];
    for (u, history) in histories.iter().enumerate() {
        for &i in history {
            if let Some(last) = seen.get_mut(i as usize) {
                if *last != u {
                    *last = u;
                    buyers[i as usize] += 1;
                }
            }
        }
    }
    buyers
}

/// Histories, event counts and baskets of `events`: the one derivation fitting and updating
/// share.
pub(crate) fn derive(
    events: &[Interaction],
    n_users: usize,
    n_items: usize,
    basket_rule: BasketRule,
) -> Derived {
    let histories = items_by_user(events, n_users);
    let mut counts = vec![0u32; n_items];
    for e in events {
        counts[e.item as usize] += 1;
    }
    let (baskets, basket_users, shoppers) = baskets_and_shoppers(events, n_users, basket_rule);
    Derived {
        histories,
        counts,
        baskets,
        basket_users,
        shoppers,
    }
}

/// The baskets `events` form under `rule` (in order of first appearance, for mining), the
/// shopper of each, and each user's baskets oldest first with their days (ties in time keep
/// that order).
pub(crate) fn baskets_and_shoppers(
    events: &[Interaction],
    n_users: usize,
    rule: BasketRule,
) -> (Vec<Vec<u32>>, Vec<u32>, Vec<BasketHistory>) {
    // Basket grouping reads only the events: no need to copy ids and catalogue.
    let baskets = Dataset {
        interactions: events.to_vec(),
        ..Dataset::default()
    }
    .baskets(rule);
    let mut per_user: Vec<Vec<(i64, usize)>> = vec![Vec::new(); n_users];
    for (b, basket) in baskets.iter().enumerate() {
        if let Some(list) = per_user.get_mut(basket.user as usize) {
            list.push((basket.timestamp, b));
        }
    }
    let shoppers = per_user
        .into_iter()
        .map(|mut list| {
            list.sort_unstable();
            BasketHistory {
                baskets: list
                    .iter()
                    .map(|&(_, b)| baskets[b].items.clone())
                    .collect(),
                days: list.iter().map(|&(t, _)| t as f64 / DAY).collect(),
                now: None,
            }
        })
        .collect();
    let users = baskets.iter().map(|b| b.user).collect();
    (
        baskets.into_iter().map(|b| b.items).collect(),
        users,
        shoppers,
    )
}

/// The day of the newest event.
fn latest_day(events: &[Interaction]) -> Option<f64> {
    events
        .iter()
        .map(|e| e.timestamp)
        .max()
        .map(|t| t as f64 / DAY)
}

/// Fails unless every event's user, item and order is an id its dataset names (a dataset built
/// by hand may not be).
pub(crate) fn check_ids(dataset: &Dataset, what: &'static str) -> crate::pipeline::Result<()> {
    let (users, items, orders) = (
        dataset.users.len(),
        dataset.items.len(),
        dataset.orders.len(),
    );
    let bad = dataset.interactions.iter().position(|e| {
        e.user as usize >= users
            || e.item as usize >= items
            || e.order.is_some_and(|o| o as usize >= orders)
    });
    match bad {
        Some(i) => Err(InvalidSetting::new(
            what,
            format!(
                "event {i} names a user, item or order id its dataset has no name for ({users} users, {items} items, {orders} orders)"
            ),
        ).into()),
        None => Ok(()),
    }
}

impl Fitted {
    /// Per item: the shoppers who bought it (each counted once, however often they did).
    pub fn buyers(&self) -> Vec<u32> {
        buyers(&self.histories, self.n_items())
    }

    /// Items in the catalogue.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Users known.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Item names by id.
    pub fn names(&self) -> &[String] {
        self.items.names()
    }

    /// A user's baskets by external id, for a list asked on `day` (days since 1970; `None`:
    /// the day of the newest event fitted).
    pub fn shopper(&self, user: &str, day: Option<f64>) -> Option<BasketHistory> {
        let u = self.users.get(user)?;
        Some(BasketHistory {
            now: day.or(self.latest_day),
            ..self.shoppers[u as usize].clone()
        })
    }

    /// The history of a user by external id, oldest first.
    pub fn history(&self, user: &str) -> Option<&[u32]> {
        self.users
            .get(user)
            .map(|u| self.histories[u as usize].as_slice())
    }

    /// The most-popular baseline over the baskets (how many baskets hold each item).
    pub fn most_popular(&self) -> MostPopular {
        MostPopular::from_counts(&self.cooccurrence.counts().item_counts)
    }

    /// Assembles the parts, with co-occurrence counted from `derived.baskets` (which must be
    /// the baskets `events` form under the configured basket rule).
    pub(crate) fn assemble(
        ids: Ids,
        events: Vec<Interaction>,
        config: PipelineParams,
        derived: Derived,
        rules: Vec<Rule>,
    ) -> Self {
        let n_items = ids.items.len();
        let cooccurrence =
            ItemCooccurrence::fit(&derived.baskets, n_items, CooccurrenceWeight::Cosine);
        let derived_baskets = derived.baskets.len();
        Self::from_ids(
            ids,
            events,
            config,
            Derived {
                baskets: Vec::new(),
                ..derived
            },
            derived_baskets,
            cooccurrence,
            rules,
        )
    }

    /// From stored parts (a bundle): histories and counts are derived again from the events,
    /// co-occurrence comes as stored counts (checked).
    pub(crate) fn restore(
        ids: Ids,
        events: Vec<Interaction>,
        config: PipelineParams,
        baskets: usize,
        cooccurrence: CooccurrenceCounts,
        rules: Vec<Rule>,
    ) -> crate::pipeline::Result<Self> {
        let mut derived = derive(
            &events,
            ids.users.len(),
            ids.items.len(),
            config.basket_rule,
        );
        derived.baskets = Vec::new();
        let cooccurrence = ItemCooccurrence::from_counts(cooccurrence, CooccurrenceWeight::Cosine)?;
        Ok(Self::from_ids(
            ids,
            events,
            config,
            derived,
            baskets,
            cooccurrence,
            rules,
        ))
    }

    /// The fitted parts around `derived` (whose basket lists are not kept: `baskets` counts
    /// them).
    fn from_ids(
        ids: Ids,
        events: Vec<Interaction>,
        config: PipelineParams,
        derived: Derived,
        baskets: usize,
        cooccurrence: ItemCooccurrence,
        rules: Vec<Rule>,
    ) -> Self {
        let Derived {
            histories,
            counts,
            shoppers,
            ..
        } = derived;
        let Ids {
            items,
            mut catalog,
            users,
            orders,
        } = ids;
        if catalog.len() < items.len() {
            let mut entries = catalog.entries().to_vec();
            entries.resize(items.len(), Default::default());
            catalog = Catalog::from_entries(entries);
        }
        let texts = catalog.texts(&items);
        // The ids and the settings were checked when fitting (or reading the bundle).
        let repeat = RepeatModel::fit(&shoppers, items.len()).expect("checked ids");
        let latest_day = latest_day(&events);
        Fitted {
            shoppers,
            repeat,
            latest_day,
            items,
            catalog,
            texts,
            users,
            orders,
            events,
            histories,
            counts,
            config,
            baskets,
            cooccurrence,
            rules,
        }
    }
}

/// The id maps and item text a fitted recommender is keyed by.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    pub items: IdMap,
    pub catalog: Catalog,
    pub users: IdMap,
    pub orders: IdMap,
}
