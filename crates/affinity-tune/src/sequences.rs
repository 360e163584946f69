//! From purchase events to training examples: each shopper's history as text, the next
//! products as targets.

use affinity_data::synthetic::SplitMix64;
use affinity_data::Interaction;

use crate::task::{Example, HistoryText, ValidationQuery};

/// One shopper's purchase steps (the items bought at one time), oldest first.
pub type Steps = Vec<Vec<u32>>;

/// Groups events into steps per user: events with the same timestamp (or the same order id)
/// form one step; steps in time order.
pub fn steps_by_user(events: &[Interaction], n_users: usize) -> Vec<Steps> {
    let mut per_user: Vec<Vec<&Interaction>> = vec![Vec::new(); n_users];
    for e in events {
        per_user[e.user as usize].push(e);
    }
    per_user
        .into_iter()
        .map(|mut evs| {
            evs.sort_by_key(|e| e.timestamp);
            let mut steps: Steps = Vec::new();
            let mut last_key = None;
            for e in evs {
                let key = (e.order, if e.order.is_some() { 0 } else { e.timestamp });
                if last_key != Some(key) {
                    steps.push(Vec::new());
                    last_key = Some(key);
                }
                let step = steps.last_mut().expect("pushed");
                if !step.contains(&e.item) {
                    step.push(e.item);
                }
            }
            steps
        })
        .collect()
}

/// How examples are drawn from purchase steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceParams {
    /// How a history becomes text.
    pub history: HistoryText,
    /// Only items the shopper had not bought before are targets (matches evaluation that
    /// excludes already-bought items from every list).
    pub new_items_only: bool,
    /// Keep at most this many examples (a seeded sample), for short runs.
    pub max_examples: Option<usize>,
    /// Seed of the sample.
    pub seed: u64,
}

impl Default for SequenceParams {
    fn default() -> Self {
        SequenceParams {
            history: HistoryText::default(),
            new_items_only: true,
            max_examples: None,
            seed: 42,
        }
    }
}

impl SequenceParams {
    /// The history text of `items`, given oldest first.
    pub fn history_text(&self, items_oldest_first: &[u32], texts: &[String]) -> String {
        self.history.build(
            items_oldest_first
                .iter()
                .rev()
                .map(|&i| texts[i as usize].as_str()),
        )
    }
}

/// Every step after a user's first becomes examples: (history before it, each target item).
pub fn next_item_examples(
    steps: &[Steps],
    texts: &[String],
    params: &SequenceParams,
) -> Vec<Example> {
    let mut out = Vec::new();
    for (shopper, user_steps) in steps.iter().enumerate() {
        let mut history: Vec<u32> = Vec::new();
        for step in user_steps {
            if !history.is_empty() {
                let text = params.history_text(&history, texts);
                for &item in step {
                    if params.new_items_only && history.contains(&item) {
                        continue;
                    }
                    out.push(Example {
                        text: text.clone(),
                        target: item,
                        negative: None,
                        shopper: Some(shopper as u32),
                    });
                }
            }
            history.extend_from_slice(step);
        }
    }
    if let Some(max) = params.max_examples {
        sample(&mut out, max, params.seed);
    }
    out
}

/// Validation queries: for each user, the history (all of `history`) against each item of
/// `next` (new items only when so configured); history items excluded from ranking.
pub fn next_item_queries(
    history: &[Vec<u32>],
    next: &[Vec<u32>],
    texts: &[String],
    params: &SequenceParams,
    max_queries: Option<usize>,
) -> Vec<ValidationQuery> {
    let mut out = Vec::new();
    for (h, n) in history.iter().zip(next) {
        if h.is_empty() {
            continue;
        }
        let text = params.history_text(h, texts);
        let mut exclude = h.clone();
        exclude.sort_unstable();
        exclude.dedup();
        for &item in n {
            if params.new_items_only && exclude.binary_search(&item).is_ok() {
                continue;
            }
            out.push(ValidationQuery {
                text: text.clone(),
                target: item,
                exclude: exclude.clone(),
            });
        }
    }
    if let Some(max) = max_queries {
        sample(&mut out, max, params.seed ^ 0x5eed);
    }
    out
}

/// Keeps a seeded sample of `max` elements, in their original order.
fn sample<T>(items: &mut Vec<T>, max: usize, seed: u64) {
    if items.len() <= max {
        return;
    }
    let mut rng = SplitMix64::new(seed);
    let mut keyed: Vec<(u64, usize)> = (0..items.len()).map(|i| (rng.next_u64(), i)).collect();
    keyed.sort_unstable();
    let mut keep: Vec<usize> = keyed[..max].iter().map(|&(_, i)| i).collect();
    keep.sort_unstable();
    let mut keep = keep.into_iter().peekable();
    let mut index = 0;
    items.retain(|_| {
        let hit = keep.peek() == Some(&index);
        if hit {
            keep.next();
        }
        index += 1;
        hit
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use affinity_data::EventKind;

    fn ev(user: u32, item: u32, timestamp: i64) -> Interaction {
        Interaction {
            user,
            item,
            timestamp,
            kind: EventKind::Purchase,
            weight: 1.0,
            order: None,
        }
    }

    #[test]
    fn steps_group_same_time_and_sort() {
        let events = [
            ev(0, 5, 20),
            ev(0, 1, 10),
            ev(0, 2, 10),
            ev(1, 3, 1),
            ev(0, 1, 10),
        ];
        let steps = steps_by_user(&events, 2);
        assert_eq!(steps[0], vec![vec![1, 2], vec![5]]);
        assert_eq!(steps[1], vec![vec![3]]);
    }

    #[test]
    fn examples_use_only_the_past_newest_first() {
        let texts: Vec<String> = ["milk", "bread", "eggs", "tea"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let steps = vec![vec![vec![0, 1], vec![2, 0], vec![3]]];
        let ex = next_item_examples(&steps, &texts, &SequenceParams::default());
        let got: Vec<(&str, u32)> = ex.iter().map(|e| (e.text.as_str(), e.target)).collect();
        // Step 2: milk was bought before, so only eggs is a target.
        assert_eq!(got, vec![("bread; milk", 2), ("milk; eggs; bread", 3)]);
    }

    #[test]
    fn sampling_keeps_order_and_size() {
        let mut v: Vec<u32> = (0..100).collect();
        sample(&mut v, 10, 1);
        assert_eq!(v.len(), 10);
        assert!(v.windows(2).all(|w| w[0] < w[1]));
        let mut w: Vec<u32> = (0..100).collect();
        sample(&mut w, 10, 1);
        assert_eq!(v, w);
    }
}
