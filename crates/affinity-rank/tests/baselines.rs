//! Baselines checked against values worked out by hand.

use affinity_rank::{CooccurrenceCounts, CooccurrenceWeight, ItemCooccurrence, MostPopular};

fn ids(list: &[affinity_rank::Scored]) -> Vec<u32> {
    list.iter().map(|s| s.item).collect()
}

#[test]
fn most_popular_excludes_history_and_breaks_ties_by_id() {
    let histories = vec![vec![0, 1], vec![1, 2], vec![1, 2], vec![3]];
    let model = MostPopular::fit(&histories, 5);
    assert_eq!(ids(&model.recommend(&[], 3)), [1, 2, 0]);
    assert_eq!(ids(&model.recommend(&[1], 5)), [2, 0, 3, 4]);
    assert_eq!(MostPopular::from_counts(&[1, 3, 2, 1, 0]), model);
}

#[test]
fn cooccurrence_by_hand() {
    // a=0 with b=1 twice, with c=2 once; c is very popular on its own.
    let baskets = vec![
        vec![0, 1],
        vec![0, 1],
        vec![0, 2],
        vec![2],
        vec![2],
        vec![2],
        vec![3],
    ];
    let counts = ItemCooccurrence::fit(&baskets, 4, CooccurrenceWeight::Count);
    let scores = counts.scores(&[0]);
    assert!((scores[1] - 2.0).abs() < 1e-3 && (scores[2] - 1.0).abs() < 1e-3);
    // Cosine: b = 2 / sqrt(3 * 2), c = 1 / sqrt(3 * 4).
    let cosine = ItemCooccurrence::fit(&baskets, 4, CooccurrenceWeight::Cosine);
    let scores = cosine.scores(&[0]);
    assert!((scores[1] - 2.0 / 6f32.sqrt()).abs() < 1e-4);
    assert!((scores[2] - 1.0 / 12f32.sqrt()).abs() < 1e-4);
    // Unknown neighbourhood falls back to popularity, history excluded.
    assert_eq!(ids(&cosine.recommend(&[3], &[3], 2)), [2, 0]);
    // Nothing excluded: the history's own item may come back.
    assert_eq!(ids(&cosine.recommend(&[3], &[], 1)), [2]);
}

#[test]
fn stored_counts_give_the_same_model() {
    let baskets = vec![vec![0, 1, 4], vec![1, 4], vec![2, 3], vec![0, 4, 4]];
    let fitted = ItemCooccurrence::fit(&baskets, 5, CooccurrenceWeight::Cosine);
    let restored =
        ItemCooccurrence::from_counts(fitted.counts().clone(), CooccurrenceWeight::Cosine).unwrap();
    for h in [vec![0], vec![1, 4], vec![3, 2, 2]] {
        assert_eq!(fitted.scores(&h), restored.scores(&h));
    }
    let bad = CooccurrenceCounts {
        neighbours: vec![9],
        pair_counts: vec![1],
        offsets: vec![0, 1],
        item_counts: vec![1],
    };
    assert!(ItemCooccurrence::from_counts(bad, CooccurrenceWeight::Count).is_err());
}
