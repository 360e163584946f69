//! Training on tiny random-weight models: it learns, resumes exactly, fails cleanly.

mod common;

use affinity_tune::*;
use common::*;

#[test]
fn contrastive_training_beats_the_untrained_model() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 1, None);
    let params = TrainParams {
        epochs: 10,
        ..quick_params()
    };
    let outcome = Trainer::new(params)
        .unwrap()
        .fit(&mut encoder, &matching_task())
        .unwrap();
    let r = &outcome.report;
    assert_eq!(r.epochs.len(), 11, "{r:?}");
    assert!(r.epochs[0].train_loss.is_nan());
    let first = r.step_losses[0];
    let last = *r.step_losses.last().unwrap();
    assert!(last < first * 0.5, "loss {first} -> {last}");
    assert!(r.best().ndcg10 > r.epochs[0].ndcg10 + 0.3, "{r:?}");
    assert!(r.best().recall10 > 0.9, "{r:?}");
    assert_eq!(r.stop, StopReason::Completed);
}

#[test]
fn classification_head_learns_categories() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 2, None);
    // Fruit (0) versus the rest (1), from the product name.
    let label = |w: &str| u32::from(!WORDS[..10].contains(&w));
    let examples = WORDS
        .iter()
        .map(|w| Example {
            text: w.to_string(),
            target: label(w),
            negative: None,
            shopper: None,
        })
        .collect::<Vec<_>>();
    let validation = WORDS
        .iter()
        .map(|w| ValidationQuery {
            text: w.to_string(),
            target: label(w),
            exclude: vec![],
        })
        .collect();
    let task = TrainingTask {
        objective: Objective::Classification { num_classes: 2 },
        full_catalog: false,
        prior: None,
        examples: examples
            .iter()
            .cycle()
            .take(examples.len() * 4)
            .cloned()
            .collect(),
        validation,
        targets: vec![],
    };
    let params = TrainParams {
        epochs: 6,
        learning_rate: 5e-3,
        monitor: Monitor::Ndcg10,
        ..quick_params()
    };
    let outcome = Trainer::new(params)
        .unwrap()
        .fit(&mut encoder, &task)
        .unwrap();
    let head = outcome.head.expect("a head");
    assert_eq!(head.num_classes(), 2);
    let logits = head
        .forward(&encoder.embed(&WORDS).unwrap(), false)
        .unwrap();
    let predicted = Vec::<i64>::try_from(logits.argmax(1, false)).unwrap();
    let correct = WORDS
        .iter()
        .zip(&predicted)
        .filter(|(w, &p)| p == label(w) as i64)
        .count();
    assert!(correct >= 20, "{correct}/24 correct");
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let full_dir = dir.path().join("full");
    let part_dir = dir.path().join("part");
    let params = |ckpt: &std::path::Path| TrainParams {
        checkpoint_dir: Some(ckpt.to_path_buf()),
        ..quick_params()
    };

    let mut a = tiny_encoder(dir.path(), 3, None);
    let ra = Trainer::new(params(&full_dir))
        .unwrap()
        .fit(&mut a, &matching_task())
        .unwrap()
        .report;

    let mut b = tiny_encoder(dir.path(), 3, None);
    let stopped = Trainer::new(TrainParams {
        stop_after: Some(1),
        ..params(&part_dir)
    })
    .unwrap()
    .fit(&mut b, &matching_task())
    .unwrap();
    assert_eq!(stopped.report.stop, StopReason::Interrupted);
    assert!(part_dir
        .join("checkpoint-epoch-1/weights.safetensors")
        .is_file());

    // Resuming with the same epoch to stop after trains nothing (it trained epoch 2).
    let mut again = tiny_encoder(dir.path(), 98, None);
    let idle = Trainer::new(TrainParams {
        resume: true,
        stop_after: Some(1),
        ..params(&part_dir)
    })
    .unwrap()
    .fit(&mut again, &matching_task())
    .unwrap();
    assert_eq!(idle.report.stop, StopReason::Interrupted);
    assert_eq!(idle.report.epochs.len(), 2, "epoch 0 and 1 only");
    assert_eq!(weights_of(&again), weights_of(&b));
    // Nothing to resume in an empty directory: refused before any work.
    let empty = dir.path().join("empty");
    match Trainer::new(TrainParams {
        resume: true,
        ..params(&empty)
    }) {
        Err(TuneError::NothingToResume { dir }) => assert_eq!(dir, empty),
        other => panic!("{other:?}"),
    }

    // A fresh process would start from other random weights: the checkpoint must win.
    let mut c = tiny_encoder(dir.path(), 99, None);
    let rc = Trainer::new(TrainParams {
        resume: true,
        ..params(&part_dir)
    })
    .unwrap()
    .fit(&mut c, &matching_task())
    .unwrap()
    .report;
    assert_eq!(ra.step_losses, rc.step_losses);
    assert_eq!(ra.epochs.len(), rc.epochs.len());
    assert_eq!(weights_of(&a), weights_of(&c));
    assert!(part_dir.join("best/model.safetensors").is_file());
    assert!(
        !part_dir.join("checkpoint-epoch-1").exists(),
        "older checkpoints are pruned"
    );
}

#[test]
fn resume_refuses_other_settings() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let mut a = tiny_encoder(dir.path(), 3, None);
    let p = TrainParams {
        checkpoint_dir: Some(ckpt.clone()),
        stop_after: Some(1),
        ..quick_params()
    };
    Trainer::new(p.clone())
        .unwrap()
        .fit(&mut a, &matching_task())
        .unwrap();
    let other = TrainParams {
        learning_rate: 1e-4,
        resume: true,
        stop_after: None,
        ..p
    };
    let err = Trainer::new(other)
        .unwrap()
        .fit(&mut a, &matching_task())
        .unwrap_err();
    assert!(matches!(err, TuneError::BadConfig { .. }), "{err}");
}

#[test]
fn non_finite_loss_stops_with_a_typed_error_and_keeps_checkpoints() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let mut encoder = tiny_encoder(dir.path(), 4, None);
    let p = TrainParams {
        epochs: 1,
        checkpoint_dir: Some(ckpt.clone()),
        ..quick_params()
    };
    Trainer::new(p.clone())
        .unwrap()
        .fit(&mut encoder, &matching_task())
        .unwrap();
    let before_state = std::fs::read(ckpt.join("trainer_state.json")).unwrap();
    let before_best = std::fs::read(ckpt.join("best/model.safetensors")).unwrap();

    // A scale that overflows fp32 logits makes the loss infinite or NaN at the first step.
    let mut task = matching_task();
    task.objective = Objective::Contrastive { scale: 1e39 };
    let err = Trainer::new(p)
        .unwrap()
        .fit(&mut encoder, &task)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TuneError::NonFiniteLoss {
                epoch: 1,
                step: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read(ckpt.join("trainer_state.json")).unwrap(),
        before_state
    );
    assert_eq!(
        std::fs::read(ckpt.join("best/model.safetensors")).unwrap(),
        before_best
    );
}

#[test]
fn invalid_settings_fail_before_any_work() {
    for (p, name) in [
        (
            TrainParams {
                batch_size: 0,
                ..TrainParams::default()
            },
            "batch_size",
        ),
        (
            TrainParams {
                learning_rate: f64::NAN,
                ..TrainParams::default()
            },
            "learning_rate",
        ),
        (
            TrainParams {
                warmup_ratio: 1.5,
                ..TrainParams::default()
            },
            "warmup_ratio",
        ),
        (
            TrainParams {
                resume: true,
                ..TrainParams::default()
            },
            "checkpoint_dir",
        ),
    ] {
        match Trainer::new(p) {
            Err(TuneError::InvalidSetting(affinity_tune::InvalidSetting { name: n, .. })) => {
                assert_eq!(n, name)
            }
            other => panic!("expected an invalid {name}, got {other:?}"),
        }
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 1, None);
    let mut task = matching_task();
    task.examples[3].target = 1000;
    let err = Trainer::new(quick_params())
        .unwrap()
        .fit(&mut encoder, &task)
        .unwrap_err();
    assert!(err.to_string().contains("target 1000"), "{err}");
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 6, None);
    // A learning rate this high wrecks the model after a good first epoch or two.
    let p = TrainParams {
        epochs: 8,
        learning_rate: 0.05,
        patience: Some(1),
        ..quick_params()
    };
    let task = matching_task();
    let r = Trainer::new(p)
        .unwrap()
        .fit(&mut encoder, &task)
        .unwrap()
        .report;
    let best = r.epochs.iter().map(|e| e.ndcg10).fold(f64::MIN, f64::max);
    assert_eq!(r.best().ndcg10, best);
    if r.stop == StopReason::EarlyStopped {
        assert!(r.epochs.len() < 9);
    }
    // The encoder holds the best weights: validating again gives the best figure.
    let again = Trainer::new(TrainParams {
        epochs: 1,
        learning_rate: 1e-12,
        ..quick_params()
    })
    .unwrap()
    .fit(&mut encoder, &task)
    .unwrap()
    .report;
    assert!(
        (again.epochs[0].ndcg10 - best).abs() < 1e-9,
        "{} vs {best}",
        again.epochs[0].ndcg10
    );
}

#[test]
fn full_catalog_softmax_learns_too() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 8, None);
    let mut task = matching_task();
    task.full_catalog = true;
    let params = TrainParams {
        epochs: 6,
        ..quick_params()
    };
    let r = Trainer::new(params)
        .unwrap()
        .fit(&mut encoder, &task)
        .unwrap()
        .report;
    assert!(
        r.best().recall10 > 0.9 && r.best().ndcg10 > r.epochs[0].ndcg10 + 0.3,
        "{r:?}"
    );
    // With every target scored, the first loss is about ln(12) for an untrained model.
    assert!(
        (r.step_losses[0] - 12f32.ln()).abs() < 0.7,
        "{}",
        r.step_losses[0]
    );
}

/// The speed levers keep learning: batches of similar length and a target tower encoded
/// without gradients (refreshed every 2 steps here) still take validation far above the start.
#[test]
fn length_buckets_and_a_cached_target_tower_learn_too() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 1, None);
    let params = TrainParams {
        epochs: 10,
        length_buckets: true,
        target_tower: TargetTower::Cached {
            refresh_steps: Some(2),
        },
        ..quick_params()
    };
    let r = Trainer::new(params)
        .unwrap()
        .fit(&mut encoder, &matching_task())
        .unwrap()
        .report;
    assert!(r.best().ndcg10 > r.epochs[0].ndcg10 + 0.3, "{r:?}");
    assert!(r.best().recall10 > 0.9, "{r:?}");
}

#[test]
fn a_cached_target_tower_needs_targets_to_encode() {
    let _serial = serial();
    let zero = TrainParams {
        target_tower: TargetTower::Cached {
            refresh_steps: Some(0),
        },
        ..quick_params()
    };
    assert!(matches!(
        Trainer::new(zero),
        Err(TuneError::InvalidSetting(affinity_tune::InvalidSetting {
            name: "target_tower",
            ..
        }))
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 1, None);
    let mut task = matching_task();
    task.objective = Objective::Classification { num_classes: 12 };
    let cached = TrainParams {
        target_tower: TargetTower::Cached {
            refresh_steps: None,
        },
        ..quick_params()
    };
    assert!(matches!(
        Trainer::new(cached).unwrap().fit(&mut encoder, &task),
        Err(TuneError::InvalidSetting(affinity_tune::InvalidSetting {
            name: "target_tower",
            ..
        }))
    ));
}

#[test]
fn gradient_accumulation_takes_fewer_optimizer_steps() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let task = matching_task();
    let batches = task.examples.len().div_ceil(16);
    let mut a = tiny_encoder(dir.path(), 9, None);
    let one = Trainer::new(TrainParams {
        epochs: 1,
        ..quick_params()
    })
    .unwrap()
    .fit(&mut a, &task)
    .unwrap()
    .report;
    let mut b = tiny_encoder(dir.path(), 9, None);
    let params = TrainParams {
        epochs: 1,
        grad_accum: 4,
        ..quick_params()
    };
    let four = Trainer::new(params)
        .unwrap()
        .fit(&mut b, &task)
        .unwrap()
        .report;
    assert_eq!(one.step_losses.len(), batches);
    assert_eq!(four.step_losses.len(), batches.div_ceil(4));
    assert!(four.step_losses.iter().all(|l| l.is_finite()));
}

#[test]
fn without_validation_the_last_epoch_is_kept() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 10, None);
    let before = weights_of(&encoder);
    let mut task = matching_task();
    task.validation.clear();
    let r = Trainer::new(TrainParams {
        epochs: 2,
        patience: Some(1),
        ..quick_params()
    })
    .unwrap()
    .fit(&mut encoder, &task)
    .unwrap()
    .report;
    assert_eq!(r.best_epoch, 2);
    assert_eq!(r.stop, StopReason::Completed);
    assert_ne!(weights_of(&encoder), before, "training was kept");
}

/// A run in which no epoch beats the model as it started still leaves `best/` (the starting
/// model): the CLI used to print "model in OUT/best" with no such directory.
#[test]
fn best_exists_even_when_no_epoch_improves() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("run");
    let mut encoder = tiny_encoder(dir.path(), 4, None);
    let before = weights_of(&encoder);
    // A learning rate too small to change the validation ranking.
    let outcome = Trainer::new(TrainParams {
        learning_rate: 1e-12,
        epochs: 1,
        checkpoint_dir: Some(ckpt.clone()),
        ..quick_params()
    })
    .unwrap()
    .fit(&mut encoder, &matching_task())
    .unwrap();
    assert_eq!(outcome.report.best_epoch, 0, "{:?}", outcome.report.epochs);
    assert!(ckpt.join("best/model.safetensors").is_file());
    // The encoder holds the starting weights, as `best/` does.
    assert_eq!(weights_of(&encoder), before);
}

/// Everything a progress report is told, in order.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<Told>>);

#[derive(Debug, Clone, PartialEq)]
enum Told {
    Start(String, Option<u64>),
    Advance(u64),
    Status(String),
    Note(String),
    Finish,
}

impl Progress for Recorder {
    fn start(&self, what: &str, total: Option<u64>) {
        self.0.lock().unwrap().push(Told::Start(what.into(), total));
    }
    fn advance(&self, n: u64) {
        self.0.lock().unwrap().push(Told::Advance(n));
    }
    fn status(&self, text: &str) {
        self.0.lock().unwrap().push(Told::Status(text.into()));
    }
    fn note(&self, line: &str) {
        self.0.lock().unwrap().push(Told::Note(line.into()));
    }
    fn finish(&self) {
        self.0.lock().unwrap().push(Told::Finish);
    }
}

/// One batch's status, read back: epoch, batch, batches, mean loss, examples per second.
#[derive(Debug)]
struct Batch {
    epoch: usize,
    batch: usize,
    batches: usize,
    mean_loss: f64,
    examples_per_second: f64,
}

impl Recorder {
    fn told(&self) -> Vec<Told> {
        self.0.lock().unwrap().clone()
    }

    /// Each step started: its total, and the units reported done before its first batch.
    fn starts(&self) -> Vec<(u64, u64)> {
        let told = self.told();
        let mut starts = Vec::new();
        for (i, t) in told.iter().enumerate() {
            if let Told::Start(what, total) = t {
                assert_eq!(what, "training");
                // Units reported before the first batch's own unit and status.
                let mut before: Vec<u64> = told[i + 1..]
                    .iter()
                    .map_while(|t| match t {
                        Told::Advance(n) => Some(*n),
                        _ => None,
                    })
                    .collect();
                assert_eq!(before.pop(), Some(1), "the first batch is one unit");
                let done = before.iter().sum();
                starts.push((total.expect("a total"), done));
            }
        }
        starts
    }

    /// Every batch's status, each after one unit of progress.
    fn batches(&self) -> Vec<Batch> {
        let told = self.told();
        let mut batches = Vec::new();
        for (i, t) in told.iter().enumerate() {
            let Told::Status(text) = t else { continue };
            assert_eq!(told[i - 1], Told::Advance(1), "a batch is one unit");
            let words: Vec<&str> = text
                .split([' ', '/', ':', ','])
                .filter(|w| !w.is_empty())
                .collect();
            assert_eq!(
                (words[0], words[2], words[5], words[8]),
                ("epoch", "batch", "loss", "examples"),
                "{text}"
            );
            batches.push(Batch {
                epoch: words[1].parse().unwrap(),
                batch: words[3].parse().unwrap(),
                batches: words[4].parse().unwrap(),
                mean_loss: words[6].parse().unwrap(),
                examples_per_second: words[7].parse().unwrap(),
            });
        }
        batches
    }

    /// The lines noted (one per epoch).
    fn notes(&self) -> Vec<String> {
        self.told()
            .into_iter()
            .filter_map(|t| match t {
                Told::Note(line) => Some(line),
                _ => None,
            })
            .collect()
    }

    fn finishes(&self) -> usize {
        self.told().iter().filter(|t| **t == Told::Finish).count()
    }
}

/// The lines an epoch's records are noted as.
fn lines(records: &[EpochRecord]) -> Vec<String> {
    records.iter().map(ToString::to_string).collect()
}

#[test]
fn progress_hears_of_every_batch_and_epoch() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let task = matching_task();
    let batches = task.examples.len().div_ceil(16);
    let mut encoder = tiny_encoder(dir.path(), 11, None);
    let seen = Recorder::default();
    let params = TrainParams {
        grad_accum: 4,
        ..quick_params()
    };
    let report = Trainer::new(params.clone())
        .unwrap()
        .fit_observed(&mut encoder, &task, &seen)
        .unwrap()
        .report;
    assert_eq!(seen.starts(), [(3 * batches as u64, 0)]);
    assert_eq!(seen.batches().len(), 3 * batches);
    for (i, b) in seen.batches().iter().enumerate() {
        assert_eq!(
            (b.epoch, b.batch, b.batches),
            (i / batches + 1, i % batches + 1, batches)
        );
        assert!(
            b.mean_loss.is_finite() && b.examples_per_second > 0.0,
            "{b:?}"
        );
    }
    assert_eq!(seen.notes(), lines(&report.epochs[1..]));
    assert_eq!(seen.finishes(), 1);

    // The silent `fit` trains the same run.
    let mut silent = tiny_encoder(dir.path(), 11, None);
    let quiet = Trainer::new(params)
        .unwrap()
        .fit(&mut silent, &task)
        .unwrap()
        .report;
    assert_eq!(quiet.step_losses, report.step_losses);
    assert_eq!(weights_of(&silent), weights_of(&encoder));
}

/// Runs before `TrainParams::progress` went away wrote it into `trainer_state.json`; they
/// still resume, and the progress report hears only of this run's epochs.
#[test]
fn a_state_written_with_progress_still_resumes() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let params = TrainParams {
        checkpoint_dir: Some(ckpt.clone()),
        ..quick_params()
    };
    let mut a = tiny_encoder(dir.path(), 12, None);
    Trainer::new(TrainParams {
        stop_after: Some(1),
        ..params.clone()
    })
    .unwrap()
    .fit(&mut a, &matching_task())
    .unwrap();
    let state_path = ckpt.join("trainer_state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert!(state["params"].get("progress").is_none());
    state["params"]["progress"] = serde_json::Value::Bool(true);
    std::fs::write(&state_path, serde_json::to_string_pretty(&state).unwrap()).unwrap();

    let mut b = tiny_encoder(dir.path(), 13, None);
    let seen = Recorder::default();
    let report = Trainer::new(TrainParams {
        resume: true,
        ..params
    })
    .unwrap()
    .fit_observed(&mut b, &matching_task(), &seen)
    .unwrap()
    .report;
    assert_eq!(report.stop, StopReason::Completed);
    assert_eq!(report.epochs.len(), 4, "epochs 0 to 3");
    let batches = matching_task().examples.len().div_ceil(16) as u64;
    assert_eq!(seen.starts(), [(3 * batches, batches)]);
    assert_eq!(seen.batches().len() as u64, 2 * batches);
    assert_eq!(seen.notes(), lines(&report.epochs[2..]));
    assert_eq!(seen.finishes(), 1);
}
