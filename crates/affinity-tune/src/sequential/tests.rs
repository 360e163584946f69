use super::*;

/// A catalogue of `n` items with random "text" and shoppers who always buy item i + 1 after
/// item i: the mean of a history's text says nothing about what comes next, training must.
fn cyclic(n: u32, users: u32, len: u32) -> (Tensor, Vec<Vec<u32>>) {
    tch::manual_seed(3);
    let text = Tensor::randn([i64::from(n), 16], (Kind::Float, Device::Cpu));
    let histories = (0..users)
        .map(|u| (0..len).map(|t| (u * 7 + t) % n).collect())
        .collect();
    (text, histories)
}

fn small() -> SequentialParams {
    SequentialParams {
        hidden: 16,
        layers: 1,
        heads: 2,
        dropout: 0.1,
        learning_rate: 5e-3,
        epochs: 30,
        patience: 5,
        batch_size: 32,
        ..SequentialParams::default()
    }
}

#[test]
fn training_learns_what_the_text_cannot_say() {
    let (text, histories) = cyclic(40, 120, 6);
    let split = SequenceSplit::from_histories(&histories, 50);
    assert_eq!(split.validation.len(), 120);
    assert_eq!(split.pairs(), 120 * 4);
    let mut model = SequentialRecommender::new(&text, small()).unwrap();
    let report = model.fit(&split).unwrap();
    let before = report.epochs[0].ndcg10;
    let after = report.best().ndcg10;
    assert!(report.best_epoch > 0);
    assert!(after > before + 0.3, "NDCG@10 {before:.3} -> {after:.3}");
    // The model holds the best epoch's weights: scoring again gives its figure.
    let again = model.validation_record(&split, 0, 0.0, 0.0, 0.0).unwrap();
    assert!((again.ndcg10 - after).abs() < 1e-9);
}

#[test]
fn validation_items_are_never_training_targets() {
    let histories = vec![vec![1, 2, 3, 4], vec![5, 6], vec![7]];
    let split = SequenceSplit::from_histories(&histories, 2);
    assert_eq!(split.validation, vec![(vec![1, 2, 3], 4), (vec![5], 6)]);
    // The last three known items of the first user; the second has one known item only.
    assert_eq!(split.train, vec![vec![1, 2, 3]]);
}

#[test]
fn windows_make_every_known_item_but_the_first_a_target_once() {
    let histories = vec![(0..9).collect::<Vec<u32>>(), vec![5, 6, 7], vec![8]];
    let split = SequenceSplit::windows(&histories, 3);
    // The validation items are the same as without windows, and never trained on.
    assert_eq!(
        split.validation,
        SequenceSplit::from_histories(&histories, 3).validation
    );
    // Known items 0..8: windows of 4 from the newest, sharing one item.
    assert_eq!(
        split.train,
        vec![vec![4, 5, 6, 7], vec![1, 2, 3, 4], vec![0, 1], vec![5, 6]]
    );
    assert_eq!(split.pairs(), 7 + 1);
    let mut targets: Vec<u32> = split.train[..3]
        .iter()
        .flat_map(|w| w[1..].to_vec())
        .collect();
    targets.sort_unstable();
    assert_eq!(targets, (1..8).collect::<Vec<u32>>());
}

#[test]
fn user_vectors_score_as_the_model_does_and_new_items_start_from_text() {
    let (text, histories) = cyclic(12, 30, 5);
    let mut params = small();
    params.epochs = 3;
    let mut model = SequentialRecommender::new(&text, params).unwrap();
    model.fit(&SequenceSplit::windows(&histories, 50)).unwrap();
    // Away from the history's own items, a score is the cosine over the temperature.
    let history = vec![vec![0u32, 1, 2]];
    let cosine = model
        .user_vectors(&history)
        .unwrap()
        .matmul(&model.item_vectors().unwrap().tr())
        / 0.07;
    let scores = model.scores(&history).unwrap();
    let gap = (cosine - &scores).narrow(1, 3, 9).abs().max();
    assert!(f64::try_from(gap).unwrap() < 1e-3);
    assert_eq!(
        Vec::<f32>::try_from(model.user_vectors(&[vec![]]).unwrap().get(0)).unwrap(),
        vec![0.0; 16]
    );

    // Two new items: the old ones score as before, the new ones from their text alone.
    let before = model.scores(&history).unwrap();
    let grown = Tensor::cat(
        &[&text, &Tensor::randn([2, 16], (Kind::Float, Device::Cpu))],
        0,
    );
    model.set_text(&grown).unwrap();
    assert_eq!(model.n_items(), 14);
    let after = model.scores(&history).unwrap();
    assert!(f64::try_from((after.narrow(1, 0, 12) - before).abs().max()).unwrap() < 1e-5);
    assert!(
        model.set_text(&text.narrow(0, 0, 5)).is_err(),
        "items cannot be dropped"
    );
}

#[test]
fn a_history_scores_the_same_alone_or_beside_longer_ones() {
    let (text, histories) = cyclic(12, 30, 5);
    let mut model = SequentialRecommender::new(&text, small()).unwrap();
    let report = model.fit(&SequenceSplit::windows(&histories, 50)).unwrap();
    // Trained: the transformer's correction is not zero, so padding could show.
    assert!(report.best_epoch > 0);
    let short = vec![3u32, 4];
    let alone = model.scores(std::slice::from_ref(&short)).unwrap();
    // Padded to 6 items beside a longer history.
    let batched = model
        .scores(&[vec![0, 1, 2, 3, 4, 5], short])
        .unwrap()
        .get(1);
    let gap = f64::try_from((alone.get(0) - batched).abs().max()).unwrap();
    assert!(gap < 1e-4, "padding changed the scores by {gap}");
}

#[test]
fn untrained_model_ranks_by_the_mean_of_the_history() {
    let text = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 0.7, 0.7]).view([3, 2]);
    let params = SequentialParams {
        hidden: 4,
        repeat_penalty: false,
        ..SequentialParams::default()
    };
    let model = SequentialRecommender::new(&text, params).unwrap();
    let scores = model.scores(&[vec![0, 1], vec![]]).unwrap();
    let first = Vec::<f32>::try_from(scores.get(0)).unwrap();
    // The mean of items 0 and 1 points along item 2.
    assert!(first[2] > first[0] && first[2] > first[1], "{first:?}");
    assert!((first[2] - 1.0 / 0.07).abs() < 1e-3);
    assert_eq!(Vec::<f32>::try_from(scores.get(1)).unwrap(), vec![0.0; 3]);
}

#[test]
fn saved_models_score_the_same_and_bad_files_are_named() {
    let (text, histories) = cyclic(12, 20, 4);
    let mut params = small();
    params.epochs = 2;
    let mut model = SequentialRecommender::new(&text, params).unwrap();
    model
        .fit(&SequenceSplit::from_histories(&histories, 50))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let loaded = SequentialRecommender::load(dir.path()).unwrap();
    let probe = vec![vec![3, 4, 5], vec![11]];
    let (a, b) = (
        model.scores(&probe).unwrap(),
        loaded.scores(&probe).unwrap(),
    );
    assert!(a.allclose(&b, 1e-6, 1e-6, false));

    // A manifest that asks for another width than the tensors have.
    let json = std::fs::read_to_string(dir.path().join("sequential.json")).unwrap();
    std::fs::write(
        dir.path().join("sequential.json"),
        json.replace("\"hidden\": 16", "\"hidden\": 32"),
    )
    .unwrap();
    let err = SequentialRecommender::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, TuneError::ShapeMismatch { ref path, .. } if path.ends_with("sequential.safetensors")),
        "{err}"
    );
}

#[test]
fn invalid_settings_fail_before_any_work() {
    let text = Tensor::zeros([3, 4], (Kind::Float, Device::Cpu));
    for bad in [
        SequentialParams {
            heads: 3,
            ..SequentialParams::default()
        },
        SequentialParams {
            temperature: 0.0,
            ..SequentialParams::default()
        },
        SequentialParams {
            dropout: 1.0,
            ..SequentialParams::default()
        },
    ] {
        assert!(matches!(
            SequentialRecommender::new(&text, bad),
            Err(TuneError::InvalidSetting(_))
        ));
    }
    let err = SequentialRecommender::new(
        &Tensor::zeros([3], (Kind::Float, Device::Cpu)),
        SequentialParams::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("[items, dim]"), "{err}");
}

#[test]
fn without_validation_every_epoch_runs_and_the_last_is_kept() {
    let (text, histories) = cyclic(12, 20, 4);
    let mut split = SequenceSplit::from_histories(&histories, 50);
    split.validation.clear();
    let mut params = small();
    params.epochs = 3;
    params.patience = 1;
    let mut model = SequentialRecommender::new(&text, params).unwrap();
    let before = model.scores(&[vec![1, 2]]).unwrap();
    let report = model.fit(&split).unwrap();
    assert_eq!((report.epochs.len(), report.best_epoch), (4, 3));
    assert!(report.epochs[3].ndcg10.is_nan());
    assert!(!before.allclose(&model.scores(&[vec![1, 2]]).unwrap(), 1e-6, 1e-6, false));
}
