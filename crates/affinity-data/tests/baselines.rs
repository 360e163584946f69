//! Baselines checked against values worked out by hand.

use affinity_data::{top_k, CooccurrenceWeight, ItemCooccurrence, MostPopular};

#[test]
fn most_popular_excludes_history_and_breaks_ties_by_id() {
    let histories = vec![vec![0, 1], vec![1, 2], vec![1, 2], vec![3]];
    let model = MostPopular::fit(&histories, 5);
    let items: Vec<u32> = model.recommend(&[], 3).iter().map(|r| r.0).collect();
    assert_eq!(items, [1, 2, 0]);
    let items: Vec<u32> = model.recommend(&[1], 5).iter().map(|r| r.0).collect();
    assert_eq!(items, [2, 0, 3, 4]);
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
    let recs: Vec<u32> = cosine.recommend(&[3], 2).iter().map(|r| r.0).collect();
    assert_eq!(recs, [2, 0]);
}

#[test]
fn top_k_handles_short_lists_and_nan() {
    assert_eq!(
        top_k(&[1.0, f32::NAN, 0.5], 5, &[]),
        vec![(0, 1.0), (2, 0.5)]
    );
    assert!(top_k(&[1.0], 0, &[]).is_empty());
}
