//! The popularity prior: why in-batch training's cosine ranks popular products too low (the
//! loss falls while validation by the cosine alone does not follow), how adding the prior
//! back fixes it, and how the prior travels with an exported model.

mod common;

use affinity_tune::*;
use common::*;
use std::path::Path;

const POPULAR: u32 = 0;

/// Twelve products; every query `"noise; w_i"` is followed by the popular product 0 seven
/// times in ten and by `w_{i+1}` otherwise. The best list puts product 0 first for every
/// query. In-batch negatives come in proportion to popularity, so the in-batch softmax learns
/// the history's lift over popularity: product 0 lifts nothing and drops down the cosine's list.
fn popular_task() -> TrainingTask {
    let mut task = matching_task();
    task.examples.clear();
    let mut counts = [0u32; 12];
    for (t, w) in WORDS[..12].iter().enumerate() {
        for noise in &WORDS[12..20] {
            for rep in 0..10 {
                let target = match rep < 7 {
                    true => POPULAR,
                    false => ((t + 1) % 12) as u32,
                };
                if target == t as u32 {
                    continue;
                }
                counts[target as usize] += 1;
                task.examples.push(Example {
                    text: format!("{noise}; {w}"),
                    target,
                    negative: None,
                    shopper: None,
                });
            }
        }
    }
    for q in &mut task.validation {
        q.target = POPULAR;
    }
    task.validation.retain(|q| !q.exclude.contains(&POPULAR));
    task.prior = Some(counts.iter().map(|&c| (1.0 + c as f32).ln()).collect());
    task
}

/// Mean rank (1 = first) of the popular product over the validation queries, by `score`.
fn mean_rank_of_popular(encoder: &SentenceEncoder, task: &TrainingTask, with_prior: bool) -> f64 {
    let queries: Vec<&str> = task.validation.iter().map(|q| q.text.as_str()).collect();
    let q = encoder.embed(&queries).unwrap();
    let t = encoder.embed(&task.targets).unwrap();
    let cos = Vec::<f32>::try_from(q.matmul(&t.transpose(0, 1)).flatten(0, -1)).unwrap();
    let n = task.targets.len();
    let prior = task.prior.as_ref().unwrap();
    let mut total = 0.0;
    for (row, query) in cos.chunks(n).zip(&task.validation) {
        let score = |i: usize| row[i] + with_prior as u8 as f32 * task.prior_weight() * prior[i];
        let popular = score(POPULAR as usize);
        let above = (0..n)
            .filter(|&i| !query.exclude.contains(&(i as u32)) && i != POPULAR as usize)
            .filter(|&i| score(i) > popular)
            .count();
        total += 1.0 + above as f64;
    }
    total / task.validation.len() as f64
}

/// A tiny encoder (seed 3) trained on `task` with `params`, and the run's report.
fn trained(dir: &Path, task: &TrainingTask, params: TrainParams) -> (SentenceEncoder, TrainReport) {
    let mut encoder = tiny_encoder(dir, 3, None);
    let report = Trainer::new(params)
        .unwrap()
        .fit(&mut encoder, task)
        .unwrap()
        .report;
    (encoder, report)
}

/// The exported model in `dir`, read back on the CPU.
fn read_exported(dir: &Path) -> Result<SentenceEncoder> {
    let options = EncoderOptions {
        device: DeviceChoice::Cpu,
        ..EncoderOptions::default()
    };
    SentenceEncoder::from_dir(dir, &options)
}

#[test]
fn in_batch_training_divides_popularity_out_and_the_prior_puts_it_back() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let task = popular_task();
    assert!(!task.full_catalog);
    // Small batches: the popular product is in nearly every one, the others in few.
    let params = TrainParams {
        epochs: 4,
        batch_size: 8,
        ..quick_params()
    };
    let (encoder, r) = trained(dir.path(), &task, params);
    let (first, last) = (r.step_losses[0], *r.step_losses.last().unwrap());
    assert!(last < first, "loss {first} -> {last}");
    // The cosine alone ranks the product that follows 70 % of histories well below the top:
    // what "the loss falls while validation collapses" was on popularity-heavy data.
    let by_cosine = mean_rank_of_popular(&encoder, &task, false);
    let by_model = mean_rank_of_popular(&encoder, &task, true);
    assert!(by_cosine >= 1.8, "cosine alone: mean rank {by_cosine}");
    assert!(by_model <= 1.2, "with the prior: mean rank {by_model}");
    // Validation scores the model as it is served: with the prior, at the weight it chose.
    assert!(r.best().recall10 > 0.99 && r.best().ndcg10 > 0.9, "{r:?}");
    assert!(r.best().prior_weight > 0.0, "{r:?}");
    assert_eq!(encoder.popularity_prior(), r.best().prior_weight);
}

/// A prior that points away from what follows (the popular product counted as the rarest):
/// validation scores it at multiples of the trained weight and keeps the cosine alone, in the
/// report, the encoder and the exported model.
#[test]
fn validation_chooses_the_prior_weight_and_drops_a_prior_that_hurts() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut task = popular_task();
    let mut reversed = task.prior.clone().unwrap();
    let top = reversed.iter().cloned().fold(0.0, f32::max);
    reversed.iter_mut().for_each(|p| *p = top - *p);
    task.prior = Some(reversed);
    let checkpoints = dir.path().join("run");
    let params = TrainParams {
        epochs: 2,
        batch_size: 8,
        checkpoint_dir: Some(checkpoints.clone()),
        ..quick_params()
    };
    let (encoder, r) = trained(dir.path(), &task, params);
    assert!(r.epochs.iter().all(|e| e.prior_weight == 0.0), "{r:?}");
    assert_eq!(encoder.popularity_prior(), 0.0);
    let best = checkpoints.join("best");
    assert!(best.join("config.json").is_file());
    assert!(!best.join("affinity_model.json").exists());
    assert_eq!(read_exported(&best).unwrap().popularity_prior(), 0.0);
    // The same model scored at the trained weight ranks the popular product lower.
    let served = mean_rank_of_popular(&encoder, &task, false);
    let at_trained_weight = mean_rank_of_popular(&encoder, &task, true);
    assert!(
        at_trained_weight > served,
        "{at_trained_weight} vs {served}"
    );
}

/// With every product scored at each step, the prior is added to the training logits too
/// (logit adjustment): the cosine has no popularity to learn, so it ranks by the history alone,
/// and the model's score (cosine plus prior) still puts the popular product first.
#[test]
fn a_full_softmax_with_the_prior_learns_the_lift_and_serves_the_popular() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut task = popular_task();
    task.full_catalog = true;
    let four_epochs = TrainParams {
        epochs: 4,
        ..quick_params()
    };
    let (adjusted, _) = trained(dir.path(), &task, four_epochs.clone());
    assert!(mean_rank_of_popular(&adjusted, &task, true) <= 1.2);
    let by_cosine = mean_rank_of_popular(&adjusted, &task, false);
    assert!(by_cosine >= 1.8, "cosine alone: mean rank {by_cosine}");

    // Without the prior the cosine has to carry popularity itself: the popular product
    // first by the cosine alone.
    task.prior = None;
    let (plain, _) = trained(dir.path(), &task, four_epochs);
    assert_eq!(plain.popularity_prior(), 0.0);
    let mut with_counts = task.clone();
    with_counts.prior = popular_task().prior;
    assert!(mean_rank_of_popular(&plain, &with_counts, false) <= 1.2);
}

#[test]
fn the_prior_is_exported_with_the_model_and_read_back() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 5, None);
    encoder.set_popularity_prior(0.05).unwrap();
    let out = dir.path().join("model");
    encoder.save_pretrained(&out).unwrap();
    let card = out.join("affinity_model.json");
    assert!(card.is_file());
    assert_eq!(read_exported(&out).unwrap().popularity_prior(), 0.05);
    // Exported again without a prior, the stale card goes.
    encoder.set_popularity_prior(0.0).unwrap();
    encoder.save_pretrained(&out).unwrap();
    assert!(!card.exists());
    assert_eq!(read_exported(&out).unwrap().popularity_prior(), 0.0);
    // A bad card is a bad file, named.
    std::fs::write(&card, r#"{"popularity_prior": -1}"#).unwrap();
    let e = read_exported(&out).unwrap_err();
    assert!(
        matches!(&e, TuneError::BadConfig { path, .. } if path == &card),
        "{e}"
    );
    assert!(encoder.set_popularity_prior(f32::NAN).is_err());
}

#[test]
fn a_prior_that_does_not_fit_the_task_is_refused_before_training() {
    // tiny_encoder seeds libtorch's global generator: not while another test trains.
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 6, None);
    let trainer = Trainer::new(quick_params()).unwrap();
    let mut task = popular_task();
    task.prior.as_mut().unwrap().pop();
    let e = trainer.fit(&mut encoder, &task).unwrap_err();
    assert!(e.to_string().contains("prior"), "{e}");
    let mut task = popular_task();
    task.prior.as_mut().unwrap()[3] = f32::INFINITY;
    let e = trainer.fit(&mut encoder, &task).unwrap_err();
    assert!(e.to_string().contains("prior"), "{e}");
    let mut task = popular_task();
    task.objective = Objective::Classification { num_classes: 12 };
    let e = trainer.fit(&mut encoder, &task).unwrap_err();
    assert!(e.to_string().contains("prior"), "{e}");
    // Uniformity spreads target vectors: a classification head has none.
    task.prior = None;
    let e = Trainer::new(TrainParams {
        uniformity: 1.0,
        ..quick_params()
    })
    .unwrap()
    .fit(&mut encoder, &task)
    .unwrap_err();
    assert!(e.to_string().contains("uniformity"), "{e}");
    // ... and needs the trained target tower.
    let e = Trainer::new(TrainParams {
        uniformity: 1.0,
        target_tower: TargetTower::Cached {
            refresh_steps: None,
        },
        ..quick_params()
    })
    .unwrap_err();
    assert!(e.to_string().contains("uniformity"), "{e}");
}

/// Trains `task` for one of two epochs with checkpoints in `dir/run` and stops: the settings
/// to resume with, and the interrupted run's report.
fn interrupted_run(dir: &Path, task: &TrainingTask, lr: f64) -> (TrainParams, TrainReport) {
    let params = TrainParams {
        epochs: 2,
        batch_size: 8,
        learning_rate: lr,
        checkpoint_dir: Some(dir.join("run")),
        ..quick_params()
    };
    let stop_after_one = TrainParams {
        stop_after: Some(1),
        ..params.clone()
    };
    let (_, report) = trained(dir, task, stop_after_one);
    let resume = TrainParams {
        resume: true,
        ..params
    };
    (resume, report)
}

/// A checkpoint keeps a digest of its prior: resuming with another prior, or none, is
/// refused before any weight is loaded; with the same prior the run goes on, and the encoder
/// ends with the weight validation chose for its best epoch.
#[test]
fn resuming_with_another_prior_is_refused() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let task = popular_task();
    let (params, _) = interrupted_run(dir.path(), &task, quick_params().learning_rate);
    let resume = Trainer::new(params).unwrap();
    let mut other = task.clone();
    other.prior.as_mut().unwrap()[POPULAR as usize] += 1.0;
    let mut without = task.clone();
    without.prior = None;
    for changed in [&other, &without] {
        let mut e = tiny_encoder(dir.path(), 3, None);
        match resume.fit(&mut e, changed) {
            Err(TuneError::BadConfig { path, detail }) => {
                assert!(detail.contains("popularity prior"), "{detail}");
                assert!(path.ends_with("trainer_state.json"), "{}", path.display());
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    let mut e = tiny_encoder(dir.path(), 3, None);
    let report = resume.fit(&mut e, &task).unwrap().report;
    assert_eq!(report.epochs.len(), 3, "{report:?}");
    assert_eq!(e.popularity_prior(), report.best().prior_weight);
}

/// A run interrupted before any epoch beat the starting model has `best/` already (the
/// starting model, written at the start, with its weight); resumed with nothing better, the
/// encoder ends with the weights and the weight of one epoch, and `best/` still scores as
/// validation did.
#[test]
fn an_interrupted_run_has_a_best_model_with_its_weight() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let task = popular_task();
    let run = dir.path().join("run");
    // Nothing learns: every epoch ties the starting model at best.
    let (params, first) = interrupted_run(dir.path(), &task, 1e-12);
    assert_eq!(first.stop, StopReason::Interrupted);
    let read_best = || read_exported(&run.join("best")).unwrap();
    assert_eq!(read_best().popularity_prior(), first.epochs[0].prior_weight);
    let (e, r) = trained(dir.path(), &task, params);
    let weight_of = |epoch: usize| {
        r.epochs
            .iter()
            .find(|x| x.epoch == epoch)
            .unwrap()
            .prior_weight
    };
    assert_eq!(read_best().popularity_prior(), weight_of(r.best_epoch));
    assert!(
        r.epochs
            .iter()
            .any(|x| x.prior_weight == e.popularity_prior()),
        "{r:?}"
    );
}

/// A checkpoint written before the prior's weight was chosen on validation has neither the
/// digest nor the weights: resuming it is not refused, and its epochs count as scored at the
/// trained weight, as they were.
#[test]
fn an_old_checkpoint_resumes_with_the_trained_weight() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let task = popular_task();
    let run = dir.path().join("run");
    let (params, _) = interrupted_run(dir.path(), &task, quick_params().learning_rate);
    let state_path = run.join("trainer_state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state
        .as_object_mut()
        .unwrap()
        .remove("prior_digest")
        .unwrap();
    for e in state["report"]["epochs"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("prior_weight").unwrap();
    }
    std::fs::write(&state_path, state.to_string()).unwrap();
    let (_, r) = trained(dir.path(), &task, params);
    assert_eq!(r.epochs[0].prior_weight, task.prior_weight(), "{r:?}");
    assert_eq!(r.epochs[1].prior_weight, task.prior_weight(), "{r:?}");
    assert_eq!(r.epochs.len(), 3);
}
