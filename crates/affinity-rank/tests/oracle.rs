//! Property tests against a naive oracle. Vectors hold small integers so that every score is
//! exact in f32 and ties are common: the tie-break (lower id first) is tested too.

use affinity_rank::{blend, mmr, top_k, ItemIndex, Metric, Normalization, Scored, Source};
use ndarray::Array2;
use proptest::prelude::*;

fn naive(items: &Array2<f32>, q: &[f32], k: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
    let mut all: Vec<(u32, f32)> = items
        .rows()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !exclude.contains(&(*i as u32)))
        .map(|(i, r)| (i as u32, r.iter().zip(q).map(|(a, b)| a * b).sum()))
        .collect();
    all.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn pairs(v: &[Scored]) -> Vec<(u32, f32)> {
    v.iter().map(|s| (s.item, s.score)).collect()
}

prop_compose! {
    fn case()(n in 1usize..300, dim in 1usize..20, nq in 1usize..40)
        (items in prop::collection::vec(-3i8..=3, n * dim),
         queries in prop::collection::vec(-3i8..=3, nq * dim),
         excl in prop::collection::vec(prop::collection::vec(0u32..(n as u32 + 5), 0..12), nq),
         k in 0usize..(n + 3), n in Just(n), dim in Just(dim), nq in Just(nq))
        -> (Array2<f32>, Array2<f32>, Vec<Vec<u32>>, usize) {
        let items = Array2::from_shape_vec((n, dim), items.into_iter().map(f32::from).collect()).unwrap();
        let queries = Array2::from_shape_vec((nq, dim), queries.into_iter().map(f32::from).collect()).unwrap();
        (items, queries, excl, k)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn batch_and_single_match_the_oracle((items, queries, excl, k) in case(), threads in 1usize..3) {
        let index = ItemIndex::new(items.clone(), Metric::InnerProduct).unwrap().with_threads(threads);
        let batch = index.search_batch(queries.view(), k, &excl).unwrap();
        prop_assert_eq!(batch.len(), queries.nrows());
        for (qi, got) in batch.iter().enumerate() {
            let q: Vec<f32> = queries.row(qi).to_vec();
            let expected = naive(&items, &q, k, &excl[qi]);
            prop_assert_eq!(&pairs(got), &expected);
            let single = index.search(queries.row(qi), k, &excl[qi]).unwrap();
            prop_assert_eq!(&pairs(&single), &expected);
            // Exclusions never leak, and k new items come back whenever k exist.
            prop_assert!(got.iter().all(|s| !excl[qi].contains(&s.item)));
            let available = (0..items.nrows() as u32).filter(|i| !excl[qi].contains(i)).count();
            prop_assert_eq!(got.len(), k.min(available));
        }
    }

    #[test]
    fn cosine_equals_inner_product_of_normalised_rows((items, queries, _excl, k) in case()) {
        let cos = ItemIndex::new(items.clone(), Metric::Cosine).unwrap();
        let norm = |m: &Array2<f32>| {
            let mut m = m.clone();
            for mut r in m.rows_mut() {
                let n = r.iter().map(|x| x * x).sum::<f32>().sqrt();
                if n > 0.0 { r.mapv_inplace(|x| x / n); }
            }
            m
        };
        let ip = ItemIndex::new(norm(&items), Metric::InnerProduct).unwrap();
        let nq = norm(&queries);
        for qi in 0..queries.nrows() {
            let a = cos.search(queries.row(qi), k, &[]).unwrap();
            let b = ip.search(nq.row(qi), k, &[]).unwrap();
            prop_assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x.score - y.score).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn top_k_matches_sorting(scores in prop::collection::vec(-5i8..5, 0..200), k in 0usize..20, excl in prop::collection::vec(0u32..200, 0..20)) {
        let s: Vec<f32> = scores.iter().map(|&x| f32::from(x)).collect();
        let mut expected: Vec<(u32, f32)> = s.iter().enumerate().map(|(i, &x)| (i as u32, x)).filter(|(i, _)| !excl.contains(i)).collect();
        expected.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
        expected.truncate(k);
        prop_assert_eq!(pairs(&top_k(&s, k, &excl)), expected);
    }

    #[test]
    fn mmr_with_lambda_one_keeps_relevance_order(scores in prop::collection::vec(0u8..50, 1..30), k in 0usize..35) {
        let c: Vec<Scored> = scores.iter().enumerate().map(|(i, &s)| Scored { item: i as u32, score: f32::from(s) }).collect();
        let mut sorted = c.clone();
        sorted.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap().then(a.item.cmp(&b.item)));
        sorted.truncate(k);
        let got = mmr(&c, k, 1.0, |_, _| 0.9).unwrap();
        prop_assert_eq!(pairs(&got), pairs(&sorted));
        // Any lambda: a permutation of distinct candidates.
        let any = mmr(&c, k, 0.3, |a, b| if (a % 3) == (b % 3) { 1.0 } else { 0.0 }).unwrap();
        let mut ids: Vec<u32> = any.iter().map(|s| s.item).collect();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), k.min(c.len()));
    }

    #[test]
    fn min_max_blend_of_one_source_keeps_order(scores in prop::collection::vec(-100i16..100, 1..50), w in 0.1f32..5.0) {
        let s: Vec<f32> = scores.iter().map(|&x| f32::from(x)).collect();
        let b = blend(&[Source { scores: &s, weight: w }], Normalization::MinMax).unwrap();
        for i in 0..s.len() {
            for j in 0..s.len() {
                if s[i] < s[j] { prop_assert!(b[i] < b[j]); }
            }
            prop_assert!(b[i] >= 0.0 && b[i] <= w + 1e-5);
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let items = Array2::from_shape_vec((2, 2), vec![1.0, 0.0, f32::NAN, 1.0]).unwrap();
    assert!(matches!(
        ItemIndex::new(items, Metric::Cosine),
        Err(affinity_rank::RankError::NonFinite { row: 1, .. })
    ));
    let index = ItemIndex::new(Array2::eye(3), Metric::Cosine).unwrap();
    let q = Array2::<f32>::zeros((2, 4));
    assert!(matches!(
        index.search_batch(q.view(), 1, &[]),
        Err(affinity_rank::RankError::DimensionMismatch { found: 4, .. })
    ));
    let q = Array2::<f32>::zeros((2, 3));
    assert!(index.search_batch(q.view(), 1, &[vec![]]).is_err());
    assert!(index.similar(7, 2).is_err());
    assert!(mmr(&[], 3, 1.5, |_, _| 0.0).is_err());
    let sims = index.similar(0, 5).unwrap();
    assert_eq!(sims.len(), 2);
    assert!(sims.iter().all(|s| s.item != 0));
    assert!(blend(
        &[
            Source {
                scores: &[1.0],
                weight: 1.0
            },
            Source {
                scores: &[1.0, 2.0],
                weight: 1.0
            }
        ],
        Normalization::MinMax
    )
    .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// More items than one block, few queries, several threads: the item range is split and
    /// partial lists merged.
    #[test]
    fn split_item_ranges_merge_exactly(n in 2049usize..9000, nq in 1usize..5, threads in 2usize..5, seed in 0u64..1000) {
        let dim = 3;
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut next = move || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((state >> 33) % 7) as f32 - 3.0 };
        let items = Array2::from_shape_fn((n, dim), |_| next());
        let queries = Array2::from_shape_fn((nq, dim), |_| next());
        let excl: Vec<Vec<u32>> = (0..nq).map(|q| (0..50).map(|j| ((j * 97 + q * 13) % n) as u32).collect()).collect();
        let index = ItemIndex::new(items.clone(), Metric::InnerProduct).unwrap().with_threads(threads);
        let got = index.search_batch(queries.view(), 25, &excl).unwrap();
        for qi in 0..nq {
            let q: Vec<f32> = queries.row(qi).to_vec();
            prop_assert_eq!(pairs(&got[qi]), naive(&items, &q, 25, &excl[qi]));
        }
    }
}

proptest! {
    /// A cosine index rebuilt from its own (normalised) vectors is the same index: what a
    /// saved and loaded bundle relies on for identical answers.
    #[test]
    fn cosine_normalisation_is_idempotent(
        values in prop::collection::vec(-1000i32..1000, 1..400),
        dim in 1usize..16,
    ) {
        let rows = values.len() / dim;
        prop_assume!(rows > 0);
        let m = Array2::from_shape_vec(
            (rows, dim),
            values[..rows * dim].iter().map(|&v| v as f32 / 37.0).collect(),
        )
        .unwrap();
        let once = ItemIndex::new(m, Metric::Cosine).unwrap();
        let twice = ItemIndex::new(once.vectors().to_owned(), Metric::Cosine).unwrap();
        prop_assert_eq!(once.vectors(), twice.vectors());
        for row in once.vectors().rows() {
            let norm = row.dot(&row).sqrt();
            prop_assert!(norm == 0.0 || (norm - 1.0).abs() <= 1e-6);
        }
    }
}
