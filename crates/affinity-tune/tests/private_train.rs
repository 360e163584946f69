//! Private fine-tuning (DP-SGD, the shopper as the unit) on tiny random-weight models.

mod common;

use affinity_tune::*;
use common::*;

/// The matching task with its 96 examples spread over 24 shoppers, four each.
fn shopped_task() -> TrainingTask {
    let mut task = matching_task();
    for (i, e) in task.examples.iter_mut().enumerate() {
        e.shopper = Some((i % 24) as u32);
    }
    task
}

fn private(epsilon: f64, epochs: usize) -> TrainParams {
    TrainParams {
        epochs,
        batch_size: 8,
        privacy: Some(PrivacyParams {
            epsilon,
            delta: None,
            clip_norm: 1.0,
        }),
        ..quick_params()
    }
}

#[test]
fn private_fine_tuning_learns_under_little_noise_and_states_its_budget() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 1, None);
    let r = Trainer::new(private(1e6, 8))
        .unwrap()
        .fit(&mut encoder, &shopped_task())
        .unwrap()
        .report;
    let spent = r.privacy.clone().expect("a private run reports its budget");
    assert_eq!(spent.shoppers, 24);
    assert!(
        spent.epsilon <= 1e6 && spent.noise_multiplier > 0.0,
        "{spent}"
    );
    assert!((spent.delta - 1.0 / 24.0).abs() < 1e-12, "{spent}");
    // Every epoch runs, the last is kept, one loss per step.
    assert_eq!(r.epochs.len(), 9);
    assert_eq!(r.best_epoch, 8);
    assert_eq!(r.stop, StopReason::Completed);
    assert_eq!(r.step_losses.len(), spent.steps);
    // Scored without the popularity prior, as it trained.
    assert!(r.epochs.iter().all(|e| e.prior_weight == 0.0));
    let (start, end) = (r.epochs[0].ndcg10, r.epochs[8].ndcg10);
    eprintln!("{spent}: validation NDCG@10 {start:.4} -> {end:.4}");
    assert!(end > start + 0.2, "validation NDCG@10 {start} -> {end}");
}

#[test]
fn strong_noise_costs_what_little_noise_does_not() {
    let _serial = serial();
    let run = |epsilon: f64| {
        let dir = tempfile::tempdir().unwrap();
        let mut encoder = tiny_encoder(dir.path(), 1, None);
        Trainer::new(private(epsilon, 8))
            .unwrap()
            .fit(&mut encoder, &shopped_task())
            .unwrap()
            .report
    };
    let (quiet, loud) = (run(1e6), run(0.5));
    let (q, l) = (
        quiet.privacy.clone().unwrap(),
        loud.privacy.clone().unwrap(),
    );
    assert!(l.epsilon <= 0.5, "{l}");
    assert!(
        l.noise_multiplier > 100.0 * q.noise_multiplier,
        "{l} against {q}"
    );
    let end = |r: &TrainReport| r.epochs.last().unwrap().ndcg10;
    eprintln!(
        "NDCG@10 {:.4} at {q}, {:.4} at {l}",
        end(&quiet),
        end(&loud)
    );
    assert!(
        end(&quiet) > end(&loud),
        "{} against {}",
        end(&quiet),
        end(&loud)
    );
}

#[test]
fn private_fine_tuning_refuses_what_it_cannot_account_for() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut encoder = tiny_encoder(dir.path(), 1, None);
    // An example without its shopper.
    let err = Trainer::new(private(2.0, 1))
        .unwrap()
        .fit(&mut encoder, &matching_task())
        .unwrap_err();
    assert!(
        matches!(&err, TuneError::InvalidSetting(s) if s.name == "examples"),
        "{err}"
    );
    // A resumed run: the accountant counts one run's steps.
    let resumed = TrainParams {
        resume: true,
        checkpoint_dir: Some(dir.path().join("run")),
        ..private(2.0, 1)
    };
    assert!(matches!(
        Trainer::new(resumed),
        Err(TuneError::InvalidSetting(s)) if s.name == "privacy"
    ));
    // An epsilon that is not a budget.
    assert!(Trainer::new(private(0.0, 1)).is_err());
}
