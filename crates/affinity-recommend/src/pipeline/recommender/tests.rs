//! Unit tests of the recommender's scoring, reasons and caches.

use super::*;
use crate::pipeline::{Pipeline, PipelineParams};
use affinity_data::synthetic::XorShift;
use affinity_data::{load, Format, LoadOptions as DataOptions, LongCsv};
use ndarray::Axis;
use std::collections::HashMap;

/// A rules-only recommender over generated baskets with strong pairs.
fn recommender() -> Recommender {
    let mut rng = XorShift::new(3);
    let mut csv = String::from("user,item,timestamp\n");
    for user in 0..80 {
        for day in 0..3 {
            let first = rng.below(12);
            for item in [first, (first + 1) % 12, rng.below(12)] {
                csv += &format!("u{user},i{item},{}\n", 86_400 * (day + 1));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.csv");
    std::fs::write(&path, csv).unwrap();
    let format = Format::Long(LongCsv::default());
    let (data, _) = load(&path, &format, &DataOptions::default()).unwrap();
    let config = PipelineParams::builder().min_support(0.01).build().unwrap();
    Pipeline::new(config)
        .unwrap()
        .fit(data, None, None)
        .unwrap()
}

/// The fixture's catalogue with the given item vectors (rows normalised here).
fn with_vectors(rows: Vec<[f32; 7]>) -> Recommender {
    let r = recommender();
    let mut v = Array2::from_shape_vec((rows.len(), 7), rows.concat()).unwrap();
    for mut row in v.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    Recommender::with_vectors(r.fitted.clone(), None, Some(v), r.ranking.clone()).unwrap()
}

fn similar_to(r: &Recommender, history: &[u32], item: u32) -> Option<String> {
    r.reasons(history, None, item, None)
        .into_iter()
        .find_map(|x| match x {
            Reason::SimilarTo { item, .. } => Some(item),
            _ => None,
        })
}

#[test]
fn similarity_reasons_only_where_the_similarity_stands_out() {
    // Items in pairs along their own axis (0-1, 2-3, ... 8-9), 10 alone, 11 a hub close
    // to every pair.
    let mut rows = Vec::new();
    for i in 0..10 {
        let mut row = [0.0f32; 7];
        row[i / 2] = 1.0;
        row[6] = 0.05 * (i % 2) as f32;
        rows.push(row);
    }
    rows.push([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    rows.push([1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    let r = with_vectors(rows);
    assert_eq!(r.len(), 12);
    // 1 is the partner of 0: said, whatever else the history holds.
    assert_eq!(similar_to(&r, &[0, 11], 1), Some(r.names()[0].clone()));
    assert_eq!(similar_to(&r, &[11, 0, 4], 1), Some(r.names()[0].clone()));
    // The hub is as close to 1 as to everything else: not a reason.
    assert_eq!(similar_to(&r, &[11], 1), None);
    // Nothing in common: no reason either.
    assert_eq!(similar_to(&r, &[10, 4], 1), None);

    // A collapsed space (every product nearly the same vector): no similarity reasons.
    let collapsed: Vec<[f32; 7]> = (0..12)
        .map(|i| {
            let mut row = [1.0f32; 7];
            row[i % 7] += 0.01 * (i as f32);
            row
        })
        .collect();
    let r = with_vectors(collapsed);
    for item in 0..12u32 {
        let history: Vec<u32> = (0..12).filter(|&h| h != item).collect();
        assert_eq!(similar_to(&r, &history, item), None, "item {item}");
    }
}

#[test]
fn sources_normalised_once_blend_exactly_as_scoring_does() {
    let r = recommender();
    assert!(!r.fitted.rules.is_empty());
    let popularity = r.normalized_popularity();
    let mut rng = XorShift::new(9);
    for trial in 0..20 {
        let history: Vec<u32> = (0..1 + trial % 4).map(|_| rng.below(12) as u32).collect();
        let embedding: Vec<f32> = (0..r.len()).map(|_| rng.unit() as f32 - 0.5).collect();
        let normalized = r.normalized(&history, None, &embedding);
        for (rules, popularity_weight, cooccurrence) in [
            (0.0, 0.0, 0.0),
            (0.3, 0.0, 0.3),
            (1.0, 4.0, 0.0),
            (0.0, 0.1, 1.0),
        ] {
            let w = ScoreWeights {
                embedding: 1.0,
                rules,
                popularity: popularity_weight,
                cooccurrence,
                repeat: 0.0,
                tifu: 0.0,
            };
            let (expected, _) = r.scores(&history, None, &embedding, w).unwrap();
            let found = normalized.blend(&popularity, w);
            let same = expected
                .iter()
                .zip(&found)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "weights {w:?}: {expected:?} vs {found:?}");
        }
    }
}

#[test]
fn the_text_cache_encodes_each_text_once_and_stays_bounded() {
    let mut cache = TextCache {
        capacity: 3,
        vectors: HashMap::new(),
    };
    let calls = std::cell::RefCell::new(Vec::new());
    let encode = |texts: &[String]| {
        calls.borrow_mut().push(texts.to_vec());
        let rows: Vec<f32> = texts.iter().flat_map(|t| [t.len() as f32, 1.0]).collect();
        Ok(Array2::from_shape_vec((texts.len(), 2), rows).unwrap())
    };
    let texts = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    let first = cache.embed(&texts(&["a", "bb", "a"]), 2, encode).unwrap();
    assert_eq!(first.column(0).to_vec(), [1.0, 2.0, 1.0]);
    let again = cache.embed(&texts(&["bb", "a"]), 2, encode).unwrap();
    assert_eq!(again.column(0).to_vec(), [2.0, 1.0]);
    cache.embed(&texts(&["ccc", "dddd"]), 2, encode).unwrap();
    assert!(cache.vectors.len() <= 3);
    assert_eq!(
        calls.into_inner(),
        vec![texts(&["a", "bb"]), texts(&["ccc", "dddd"])]
    );
    // An encoder that returns too few rows is an error, not a panic.
    let short = |_: &[String]| Ok(Array2::zeros((0, 2)));
    assert!(cache.embed(&texts(&["e"]), 2, short).is_err());
}

/// A model trained with a popularity prior scores `cosine + prior x ln(1 + buyers)`: the
/// prior moves popular items up exactly that much, and a bundle keeps it.
#[test]
fn the_popularity_prior_adds_log_counts_to_the_cosine_and_is_saved() {
    let rows: Vec<[f32; 7]> = (0..12)
        .map(|i| {
            let mut row = [0.1f32; 7];
            row[i % 7] = 1.0 + (i / 7) as f32;
            row
        })
        .collect();
    let mut r = with_vectors(rows);
    r.set_ranking(ScoreWeights::EMBEDDING, 1.0).unwrap();
    let user = ndarray::Array1::from(vec![0.2f32, 0.9, 0.1, 0.4, 0.0, 0.3, 0.2]);
    let cosines = r.similarities(user.view().insert_axis(Axis(0))).unwrap();
    let top = |r: &Recommender| {
        r.recommend_from_vector(&[], &[], user.view(), 12)
            .unwrap()
            .iter()
            .map(|x| x.item)
            .collect::<Vec<_>>()
    };
    let by = |score: &dyn Fn(usize) -> f32| {
        let mut order: Vec<u32> = (0..12).collect();
        order.sort_by(|&a, &b| score(b as usize).total_cmp(&score(a as usize)));
        order
    };
    let buyers: Vec<usize> = (0..12u32)
        .map(|i| r.fitted.histories.iter().filter(|h| h.contains(&i)).count())
        .collect();
    assert_eq!(top(&r), by(&|i| cosines[[0, i]]));
    assert!(r.set_popularity_prior(-0.1).is_err());
    r.set_popularity_prior(0.5).unwrap();
    let expected = by(&|i| cosines[[0, i]] + 0.5 * (1.0 + buyers[i] as f32).ln());
    assert_ne!(
        expected,
        by(&|i| cosines[[0, i]]),
        "the prior must matter here"
    );
    assert_eq!(top(&r), expected);

    let dir = tempfile::tempdir().unwrap();
    r.save(dir.path(), &Default::default()).unwrap();
    let loaded = Recommender::load(dir.path(), &Default::default()).unwrap();
    assert_eq!(loaded.ranking_settings().popularity_prior, 0.5);
    assert_eq!(top(&loaded), expected);
}

#[test]
fn ranking_settings_are_checked_and_a_refused_change_changes_nothing() {
    let mut r = recommender();
    let before = r.ranking_settings().clone();
    let nan = ScoreWeights {
        rules: f32::NAN,
        ..before.weights
    };
    let err = r.set_ranking(nan, 0.5).unwrap_err();
    assert!(
        matches!(&err, PipelineError::InvalidSetting(e) if e.name == "weights"),
        "{err}"
    );
    let err = r.set_ranking(before.weights, 1.5).unwrap_err();
    assert!(
        matches!(&err, PipelineError::InvalidSetting(e) if e.name == "mmr_lambda"),
        "{err}"
    );
    let err = r.set_popularity_prior(f32::INFINITY).unwrap_err();
    assert!(
        matches!(&err, PipelineError::InvalidSetting(e) if e.name == "popularity_prior"),
        "{err}"
    );
    assert_eq!(r.ranking_settings(), &before);
    r.set_ranking(before.weights, 0.5).unwrap();
    assert_eq!(r.ranking(), (before.weights, 0.5));
}
