//! Splits never overlap and never let the future into training; k-core reaches its fixed point.

use affinity_data::{k_core, leave_one_out, time_cutoff, Dataset, EventKind, HoldOut, Interaction};
use proptest::prelude::*;
use std::collections::HashMap;

fn dataset(events: &[(u8, u8, u8)]) -> Dataset {
    build(events.iter().map(|&(u, i, t)| (u, i, t, None)))
}

/// Events `(user, item, day, order)`; orders are named per user.
fn orders(events: &[(u8, u8, u8, u8)]) -> Dataset {
    build(events.iter().map(|&(u, i, t, o)| (u, i, t, Some(o))))
}

fn build(events: impl Iterator<Item = (u8, u8, u8, Option<u8>)>) -> Dataset {
    let mut ds = Dataset {
        has_users: true,
        ..Dataset::default()
    };
    for (u, i, t, o) in events {
        let user = ds.users.intern(&format!("u{u}"));
        let item = ds.items.intern(&format!("i{i}"));
        let order = o.map(|o| ds.orders.intern(&format!("u{u}-o{o}")));
        ds.interactions.push(Interaction {
            user,
            item,
            timestamp: i64::from(t),
            kind: EventKind::Purchase,
            weight: 1.0,
            order,
        });
    }
    ds
}

fn events() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
    prop::collection::vec((0u8..6, 0u8..8, 0u8..10), 0..60)
}

proptest! {
    #[test]
    fn leave_one_out_is_a_partition_without_leakage(events in events(), by_time in any::<bool>()) {
        let ds = dataset(&events);
        let hold_out = if by_time { HoldOut::LastTimestamp } else { HoldOut::LastItem };
        let split = leave_one_out(&ds, hold_out);
        prop_assert_eq!(split.train.len() + split.valid.len() + split.test.len(), ds.interactions.len());
        let latest = |part: &[Interaction]| {
            let mut m: HashMap<u32, (i64, i64)> = HashMap::new();
            for e in part {
                let entry = m.entry(e.user).or_insert((i64::MAX, i64::MIN));
                entry.0 = entry.0.min(e.timestamp);
                entry.1 = entry.1.max(e.timestamp);
            }
            m
        };
        let (train, valid, test) = (latest(&split.train), latest(&split.valid), latest(&split.test));
        for (user, (v_min, v_max)) in &valid {
            let (t_min, _) = test[user];
            prop_assert!(v_max <= &t_min);
            if let Some((_, train_max)) = train.get(user) {
                prop_assert!(train_max <= v_min);
            }
            if by_time {
                // Whole time steps move together: no training event shares the held-out time.
                prop_assert!(train.get(user).is_none_or(|(_, m)| m < v_min));
                prop_assert!(v_max < &t_min);
            } else {
                prop_assert!(split.valid.iter().filter(|e| e.user == *user).count() == 1);
            }
        }
        prop_assert_eq!(valid.len(), test.len());
    }

    #[test]
    fn time_cutoff_respects_the_cutoffs(events in events(), a in 0i64..10, b in 0i64..10) {
        let (valid_from, test_from) = (a.min(b), a.max(b));
        let ds = dataset(&events);
        let split = time_cutoff(&ds, valid_from, test_from).unwrap();
        prop_assert!(split.train.iter().all(|e| e.timestamp < valid_from));
        prop_assert!(split.valid.iter().all(|e| (valid_from..test_from).contains(&e.timestamp)));
        prop_assert!(split.test.iter().all(|e| e.timestamp >= test_from));
        prop_assert_eq!(split.train.len() + split.valid.len() + split.test.len(), ds.interactions.len());
    }

    #[test]
    fn k_core_reaches_a_fixed_point(events in events(), k in 1usize..4) {
        let mut ds = dataset(&events);
        let catalog_names: Vec<String> = ds.items.names().to_vec();
        k_core(&mut ds, k, k);
        let mut users = vec![0usize; ds.users.len()];
        let mut items = vec![0usize; ds.items.len()];
        for e in &ds.interactions {
            users[e.user as usize] += 1;
            items[e.item as usize] += 1;
        }
        prop_assert!(users.iter().all(|&c| c >= k));
        prop_assert!(items.iter().all(|&c| c >= k));
        prop_assert!(ds.items.names().iter().all(|n| catalog_names.contains(n)));
        let again = k_core(&mut ds, k, k);
        prop_assert_eq!(again.interactions_dropped, 0);
    }
}

#[test]
fn time_cutoff_rejects_reversed_cutoffs() {
    assert!(time_cutoff(&Dataset::default(), 5, 1).is_err());
}

#[test]
fn the_last_basket_is_the_whole_last_order_even_on_a_shared_day() {
    // Day 3 holds two orders, interleaved in the file: the later-named one (o4) is test,
    // the other (o3) validation, and nothing of either leaks into training.
    let ds = orders(&[
        (0, 0, 1, 1),
        (0, 1, 2, 2),
        (0, 2, 3, 3),
        (0, 3, 3, 4),
        (0, 4, 3, 3),
        (0, 5, 3, 4),
    ]);
    let split = leave_one_out(&ds, HoldOut::LastBasket);
    let items = |part: &[Interaction]| {
        let mut v: Vec<u32> = part.iter().map(|e| e.item).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(items(&split.train), vec![0, 1]);
    assert_eq!(items(&split.valid), vec![2, 4]);
    assert_eq!(items(&split.test), vec![3, 5]);
    // By time step alone, the two orders of day 3 would be one unit.
    let by_day = leave_one_out(&ds, HoldOut::LastTimestamp);
    assert_eq!(items(&by_day.test), vec![2, 3, 4, 5]);
}

proptest! {
    #[test]
    fn the_last_basket_holds_out_whole_orders(
        events in prop::collection::vec((0u8..4, 0u8..8, 0u8..6, 0u8..5), 0..60)
    ) {
        let ds = orders(&events);
        let split = leave_one_out(&ds, HoldOut::LastBasket);
        prop_assert_eq!(split.train.len() + split.valid.len() + split.test.len(), ds.interactions.len());
        let key = |e: &Interaction| (e.timestamp, e.order);
        for user in 0..ds.users.len() as u32 {
            let part = |p: &[Interaction]| -> Vec<(i64, Option<u32>)> {
                let mut keys: Vec<_> = p.iter().filter(|e| e.user == user).map(key).collect();
                keys.sort_unstable();
                keys.dedup();
                keys
            };
            let (train, valid, test) = (part(&split.train), part(&split.valid), part(&split.test));
            if test.is_empty() {
                prop_assert!(valid.is_empty());
                continue;
            }
            // One order each, every event of it, later than everything before it.
            prop_assert_eq!((valid.len(), test.len()), (1, 1));
            prop_assert!(valid[0] < test[0]);
            prop_assert!(train.iter().all(|k| *k < valid[0]));
            let all = ds.interactions.iter().filter(|e| e.user == user && key(e) == test[0]).count();
            prop_assert_eq!(all, split.test.iter().filter(|e| e.user == user).count());
        }
    }
}
