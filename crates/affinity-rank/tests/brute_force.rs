//! Exact top-k on real-valued vectors against brute force in f64. Scores from the batched
//! matrix product (and from the single-query kernel) may differ from the f64 figures in the
//! last bits, so near-ties may come back in either order; what must hold exactly is checked
//! exactly (lengths, exclusions, no repeats, the order of the returned list by its own scores,
//! ties to the lower id), and the rest within a tolerance scaled to the sums involved.
//!
//! The shapes cover widths that are not multiples of the SIMD widths (8, 16), k above the
//! number of items, an empty index, one query and batches of many, and, in the last test,
//! more queries and items than one block of the batch search.

use affinity_rank::{ItemIndex, Metric, Scored};
use ndarray::{Array2, ArrayView1};
use proptest::prelude::*;

/// Uniform in [-1, 1) from a seeded stream: reproducible, and full-precision values, so sums
/// are rounded (unlike the integer cases of `oracle.rs`).
fn matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array2::from_shape_fn((rows, cols), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    })
}

/// Every available item's f64 score and the bound on its rounding error in f32, best first by
/// the same rule (higher score, then lower id).
fn reference(items: &Array2<f32>, q: ArrayView1<f32>, exclude: &[u32]) -> Vec<(u32, f64, f64)> {
    let mut all: Vec<(u32, f64, f64)> = items
        .rows()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !exclude.contains(&(*i as u32)))
        .map(|(i, row)| {
            let exact: f64 = row
                .iter()
                .zip(q)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let magnitude: f64 = row
                .iter()
                .zip(q)
                .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
                .sum();
            (i as u32, exact, 1e-5 * magnitude.max(1.0))
        })
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all
}

/// Checks one result list against brute force; `Err` names what is wrong.
fn check(
    got: &[Scored],
    items: &Array2<f32>,
    q: ArrayView1<f32>,
    k: usize,
    exclude: &[u32],
) -> Result<(), String> {
    let all = reference(items, q, exclude);
    if got.len() != k.min(all.len()) {
        return Err(format!("{} results for k {k} of {}", got.len(), all.len()));
    }
    let mut seen = std::collections::HashSet::new();
    for (pos, s) in got.iter().enumerate() {
        if exclude.contains(&s.item) {
            return Err(format!("excluded item {} returned", s.item));
        }
        if !seen.insert(s.item) {
            return Err(format!("item {} returned twice", s.item));
        }
        let Some(&(_, exact, tol)) = all.iter().find(|r| r.0 == s.item) else {
            return Err(format!("item {} is not in the index", s.item));
        };
        // The score returned is the item's own, to rounding.
        if (f64::from(s.score) - exact).abs() > tol {
            return Err(format!("item {}: score {} for {exact}", s.item, s.score));
        }
        // The pos-th returned score is the pos-th best there is, to rounding: the set is a true
        // top k, up to near-ties.
        let (_, best, best_tol) = all[pos];
        if (f64::from(s.score) - best).abs() > tol.max(best_tol) * 2.0 {
            return Err(format!(
                "position {pos}: score {} where {best} exists",
                s.score
            ));
        }
        // The list is in the ranking order of its own scores: higher first, ties to lower id.
        if pos > 0 {
            let p = got[pos - 1];
            if !(p.score > s.score || (p.score == s.score && p.item < s.item)) {
                return Err(format!("{p:?} before {s:?}"));
            }
        }
    }
    // Nothing left out beats the last one returned (beyond rounding).
    if let Some(last) = got.last() {
        for &(item, exact, tol) in &all {
            if !seen.contains(&item) && exact > f64::from(last.score) + tol * 2.0 {
                return Err(format!("item {item} ({exact}) left out, above {last:?}"));
            }
        }
    }
    Ok(())
}

prop_compose! {
    fn case()(n in 0usize..150, dim in 0usize..70, nq in 1usize..24)
        (k in 0usize..(n + 4),
         excl in prop::collection::vec(prop::collection::vec(0u32..(n as u32 + 3), 0..10), nq),
         seed in any::<u64>(), n in Just(n), dim in Just(dim), nq in Just(nq))
        -> (Array2<f32>, Array2<f32>, Vec<Vec<u32>>, usize) {
        (matrix(n, dim, seed), matrix(nq, dim, seed ^ 0xABCD), excl, k)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn batch_and_single_agree_with_brute_force(
        (items, queries, excl, k) in case(),
        threads in 1usize..4,
    ) {
        let index = ItemIndex::new(items.clone(), Metric::InnerProduct)
            .unwrap()
            .with_threads(threads);
        let batch = index.search_batch(queries.view(), k, &excl).unwrap();
        prop_assert_eq!(batch.len(), queries.nrows());
        for (qi, got) in batch.iter().enumerate() {
            let q = queries.row(qi);
            if let Err(why) = check(got, &items, q, k, &excl[qi]) {
                prop_assert!(false, "batch, query {}: {}", qi, why);
            }
            let single = index.search(q, k, &excl[qi]).unwrap();
            if let Err(why) = check(&single, &items, q, k, &excl[qi]) {
                prop_assert!(false, "single, query {}: {}", qi, why);
            }
            // A query alone is a batch of one.
            let alone = index
                .search_batch(q.insert_axis(ndarray::Axis(0)), k, &excl[qi..=qi])
                .unwrap();
            if let Err(why) = check(&alone[0], &items, q, k, &excl[qi]) {
                prop_assert!(false, "batch of one, query {}: {}", qi, why);
            }
        }
        // The thread count splits the work, never the arithmetic: the same bits on one thread.
        let one = index.clone().with_threads(1).search_batch(queries.view(), k, &excl).unwrap();
        prop_assert_eq!(&one, &batch);
    }

    #[test]
    fn cosine_batch_agrees_with_brute_force_on_normalised_vectors(
        (items, queries, _excl, k) in case(),
    ) {
        let index = ItemIndex::new(items, Metric::Cosine).unwrap();
        let batch = index.search_batch(queries.view(), k, &[]).unwrap();
        let stored = index.vectors().to_owned();
        for (qi, got) in batch.iter().enumerate() {
            let q = queries.row(qi);
            let norm = q.dot(&q).sqrt();
            let unit = if norm > 0.0 { q.mapv(|x| x / norm) } else { q.to_owned() };
            if let Err(why) = check(got, &stored, unit.view(), k, &[]) {
                prop_assert!(false, "query {}: {}", qi, why);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]

    /// More queries than one query block and more items than one item block, on one thread
    /// and on three (item ranges split and merged), with exclusions.
    #[test]
    fn many_queries_over_several_blocks(
        n in 2_050usize..4_500,
        nq in 513usize..600,
        dim in prop::sample::select(vec![1usize, 9, 17, 40]),
        seed in any::<u64>(),
    ) {
        let items = matrix(n, dim, seed);
        let queries = matrix(nq, dim, seed.wrapping_add(1));
        let excl: Vec<Vec<u32>> = (0..nq)
            .map(|q| (0..20).map(|j| ((j * 211 + q * 7) % n) as u32).collect())
            .collect();
        let index = ItemIndex::new(items.clone(), Metric::InnerProduct).unwrap();
        let got = index.clone().with_threads(1).search_batch(queries.view(), 12, &excl).unwrap();
        prop_assert_eq!(&index.with_threads(3).search_batch(queries.view(), 12, &excl).unwrap(), &got);
        // Every 13th query against brute force (all of them would be slow in a debug build).
        for qi in (0..nq).step_by(13) {
            if let Err(why) = check(&got[qi], &items, queries.row(qi), 12, &excl[qi]) {
                prop_assert!(false, "query {}: {}", qi, why);
            }
        }
    }
}

/// Exact ties (duplicate rows) resolve to the lower id in a batch as alone, whatever the
/// kernel: identical rows give identical sums in any summation order.
#[test]
fn duplicate_rows_tie_to_the_lower_id() {
    let base = matrix(40, 37, 7);
    let mut items = Array2::zeros((120, 37));
    for i in 0..120 {
        items.row_mut(i).assign(&base.row(i % 40));
    }
    let queries = matrix(30, 37, 8);
    let index = ItemIndex::new(items, Metric::InnerProduct).unwrap();
    let batch = index.search_batch(queries.view(), 9, &[]).unwrap();
    for (qi, got) in batch.iter().enumerate() {
        // Three copies of each of the best three rows: ids r, r + 40, r + 80 in that order.
        for triple in got.chunks(3) {
            assert_eq!(triple[0].score, triple[2].score, "query {qi}");
            assert_eq!(triple[1].item, triple[0].item + 40, "query {qi}");
            assert_eq!(triple[2].item, triple[0].item + 80, "query {qi}");
        }
        let single = index.search(queries.row(qi), 9, &[]).unwrap();
        let ids = |v: &[Scored]| v.iter().map(|s| s.item).collect::<Vec<_>>();
        assert_eq!(ids(&single), ids(got), "query {qi}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A batch of 1,024 queries or more makes the integer codes, and then it and every batch of
    /// 16 or more take the coded first pass; their lists are exactly (items, order and every
    /// bit of the scores) those of searching each query alone: with exact ties (copied rows),
    /// exclusions, k of zero or beyond the catalogue, wide vectors (whose codes are narrowed),
    /// values of any magnitude, and one item far larger than the rest (coarse codes for all
    /// others, so many candidates).
    #[test]
    fn coded_batches_equal_one_query_search(
        n in 0usize..300,
        dim in prop::sample::select(vec![1usize, 2, 3, 15, 16, 33, 384, 1500]),
        nq in 16usize..40,
        k in 0usize..40,
        copies in 1usize..4,
        magnitude in -30i32..30,
        outlier in any::<bool>(),
        cosine in any::<bool>(),
        threads in 1usize..3,
        seed in any::<u64>(),
    ) {
        // Fewer items for wide vectors: a debug build scores 1,024 queries against them.
        let n = if dim >= 384 { n % 40 } else { n };
        let base = matrix(n.div_ceil(copies), dim, seed);
        let scale = 2f32.powi(magnitude);
        let mut items = Array2::from_shape_fn((n, dim), |(i, d)| base[[i % base.nrows(), d]] * scale);
        if outlier && n > 0 {
            items.row_mut(n / 2).mapv_inplace(|x| x * 1e4);
        }
        let queries = matrix(nq, dim, seed ^ 0x5EED);
        let excl: Vec<Vec<u32>> = (0..nq)
            .map(|q| (0..q % 7).map(|j| ((j * 31 + q) % (n + 2)) as u32).collect())
            .collect();
        let metric = if cosine { Metric::Cosine } else { Metric::InnerProduct };
        let index = ItemIndex::new(items, metric).unwrap().with_threads(threads);
        let first = matrix(1024, dim, seed ^ 0xF1257);
        let made = index.search_batch(first.view(), k, &[]).unwrap();
        for qi in (0..1024).step_by(97) {
            let alone = index.search(first.row(qi), k, &[]).unwrap();
            prop_assert_eq!(bits(&made[qi]), bits(&alone), "first batch, query {}", qi);
        }
        let batch = index.search_batch(queries.view(), k, &excl).unwrap();
        for (qi, got) in batch.iter().enumerate() {
            let alone = index.search(queries.row(qi), k, &excl[qi]).unwrap();
            prop_assert_eq!(bits(got), bits(&alone), "query {}", qi);
        }
    }
}

/// Items and the bits of their scores (`==` on f32 would take -0.0 for 0.0).
fn bits(list: &[Scored]) -> Vec<(u32, u32)> {
    list.iter().map(|s| (s.item, s.score.to_bits())).collect()
}

/// Thousands of exact ties (more candidates than a query holds before scoring them), and
/// scores that overflow f32 (no bounded gap to the coded ones): still what one-query search
/// gives, on one thread and on three (item ranges split and merged).
#[test]
fn coded_batches_with_many_ties_or_overflowing_scores_equal_one_query_search() {
    let base = matrix(7, 24, 3);
    let items = Array2::from_shape_fn((6_000, 24), |(i, d)| {
        if i % 1000 == 999 {
            base[[i % 7, d]]
        } else {
            base[[0, d]]
        }
    });
    let huge = Array2::from_shape_vec((3, 1), vec![2e19f32, 1e20, -3e19]).unwrap();
    // Items 0 and 1 both score +inf for the huge query: the lower id must win the tie.
    for (items, queries, k) in [
        (items, matrix(20, 24, 4), 10),
        (huge, Array2::from_elem((16, 1), 2e19f32), 1),
    ] {
        for threads in [1, 3] {
            let index = ItemIndex::new(items.clone(), Metric::InnerProduct)
                .unwrap()
                .with_threads(threads);
            // A first batch of 1,024 makes the codes; the batch checked then uses them.
            let first = Array2::from_shape_fn((1024, queries.ncols()), |(q, d)| {
                queries[[q % queries.nrows(), d]]
            });
            index.search_batch(first.view(), k, &[]).unwrap();
            let batch = index.search_batch(queries.view(), k, &[]).unwrap();
            for (qi, got) in batch.iter().enumerate() {
                let alone = index.search(queries.row(qi), k, &[]).unwrap();
                assert_eq!(bits(got), bits(&alone), "query {qi}, {threads} threads");
            }
        }
    }
}
