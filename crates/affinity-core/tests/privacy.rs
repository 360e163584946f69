//! The RDP accountant against Opacus's (tests/fixtures/opacus_rdp.json, written by
//! benches/privacy/opacus_reference.py) and against hand-computed cases.

use affinity_core::privacy::{self, default_orders, Epsilon, RdpAccountant};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/opacus_rdp.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("the fixture is JSON")
}

fn num(row: &Value, key: &str) -> f64 {
    row[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {row}"))
}

fn relative(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

#[test]
fn default_orders_are_opacus_defaults() {
    let fixture = fixture();
    let theirs: Vec<f64> = fixture["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(default_orders(), theirs);
}

#[test]
fn every_grid_point_agrees_with_opacus_within_one_percent() {
    let fixture = fixture();
    let grid = fixture["grid"].as_array().unwrap();
    assert_eq!(grid.len(), 560);
    let (mut worst, mut worst_at, mut same_order) = (0.0, String::new(), 0);
    for row in grid {
        let (sigma, q, delta) = (
            num(row, "noise_multiplier"),
            num(row, "sample_rate"),
            num(row, "delta"),
        );
        let steps = row["steps"].as_u64().unwrap();
        let ours = privacy::epsilon(sigma, q, steps, delta).unwrap();
        let theirs = num(row, "epsilon");
        let diff = relative(ours.epsilon, theirs);
        assert!(
            diff <= 0.01,
            "sigma {sigma} q {q} steps {steps} delta {delta}: ours {ours:?}, Opacus {theirs}"
        );
        if diff >= worst {
            worst = diff;
            worst_at = format!(
                "sigma {sigma} q {q} steps {steps} delta {delta:.3e}: ours {} (order {}), \
                 Opacus {theirs} (order {})",
                ours.epsilon,
                ours.order,
                num(row, "order")
            );
        }
        same_order += usize::from(ours.order == num(row, "order"));
    }
    println!(
        "Opacus {}: {} grid points, worst relative difference in epsilon {worst:.3e} at {worst_at}; \
         same best order at {same_order}",
        fixture["opacus"].as_str().unwrap(),
        grid.len()
    );
}

#[test]
fn changing_noise_and_rate_agrees_with_opacus() {
    let fixture = fixture();
    let mut worst: f64 = 0.0;
    for row in fixture["compositions"].as_array().unwrap() {
        let mut accountant = RdpAccountant::new();
        for segment in row["segments"].as_array().unwrap() {
            let s = segment.as_array().unwrap();
            let steps = s[2].as_u64().unwrap();
            accountant
                .step_many(s[0].as_f64().unwrap(), s[1].as_f64().unwrap(), steps)
                .unwrap();
        }
        let ours = accountant.epsilon(num(row, "delta")).unwrap().epsilon;
        let diff = relative(ours, num(row, "epsilon"));
        assert!(diff <= 0.01, "{row}: ours {ours}");
        worst = worst.max(diff);
    }
    println!("compositions: worst relative difference {worst:.3e}");
}

#[test]
fn noise_for_epsilon_agrees_with_opacus() {
    // Opacus's bisection stops once its epsilon is within its tolerance (0.01) below the target,
    // so its noise is a little above the least; ours is found to a relative 1e-6.
    let fixture = fixture();
    let mut worst: f64 = 0.0;
    for row in fixture["noise_for_epsilon"].as_array().unwrap() {
        let (target, q, delta) = (
            num(row, "target_epsilon"),
            num(row, "sample_rate"),
            num(row, "delta"),
        );
        let steps = row["steps"].as_u64().unwrap();
        let theirs = num(row, "noise_multiplier");
        let ours = privacy::noise_for_epsilon(target, q, steps, delta).unwrap();
        let spent = privacy::epsilon(ours, q, steps, delta).unwrap().epsilon;
        assert!(
            spent <= target && spent >= target * (1.0 - 1e-4),
            "{row}: {ours} spends {spent}"
        );
        // Opacus's noise keeps our accountant within the target too, and ours is no larger.
        let theirs_spent = privacy::epsilon(theirs, q, steps, delta).unwrap().epsilon;
        assert!(theirs_spent <= target, "{row}: {theirs_spent}");
        assert!(ours <= theirs * (1.0 + 1e-9), "{row}: ours {ours}");
        let diff = relative(ours, theirs);
        assert!(diff <= 0.01, "{row}: ours {ours}");
        worst = worst.max(diff);
    }
    println!("noise for epsilon 1, 3, 8: worst relative difference in noise {worst:.3e}");
}

#[test]
fn without_sampling_is_the_gaussian_mechanism() {
    for sigma in [0.3, 1.0, 2.5] {
        for order in [1.5, 2.0, 7.3, 32.0] {
            let got = privacy::rdp(sigma, 1.0, order).unwrap();
            assert_eq!(got, order / (2.0 * sigma * sigma));
        }
        // Then epsilon is the conversion of steps * alpha / (2 sigma^2), minimised by hand.
        let (steps, delta) = (50u64, 1e-5_f64);
        let best = default_orders()
            .into_iter()
            .map(|a| {
                steps as f64 * a / (2.0 * sigma * sigma) + ((a - 1.0) / a).ln()
                    - (delta.ln() + a.ln()) / (a - 1.0)
            })
            .fold(f64::INFINITY, f64::min);
        let got = privacy::epsilon(sigma, 1.0, steps, delta).unwrap().epsilon;
        assert!(relative(got, best) < 1e-12, "{got} vs {best}");
    }
}

#[test]
fn low_integer_orders_match_the_binomial_expansion_by_hand() {
    for (sigma, q) in [(1.0_f64, 0.01_f64), (0.7, 0.2), (4.0, 0.5)] {
        let e1 = (1.0 / (sigma * sigma)).exp();
        // A_2 = (1-q)^2 + 2q(1-q) + q^2 e^{1/sigma^2} = 1 + q^2 (e^{1/sigma^2} - 1).
        let a2 = 1.0 + q * q * (e1 - 1.0);
        let got = privacy::rdp(sigma, q, 2.0).unwrap();
        assert!(relative(got, a2.ln()) < 1e-12, "{got} vs {}", a2.ln());
        // A_3 = (1-q)^3 + 3q(1-q)^2 + 3q^2(1-q) e^{1/sigma^2} + q^3 e^{3/sigma^2}.
        let p = 1.0 - q;
        let a3 = p.powi(3)
            + 3.0 * q * p * p
            + 3.0 * q * q * p * e1
            + q.powi(3) * (3.0 / (sigma * sigma)).exp();
        let got = privacy::rdp(sigma, q, 3.0).unwrap();
        assert!(relative(got, a3.ln() / 2.0) < 1e-12);
    }
}

#[test]
fn fractional_orders_lie_between_their_integer_neighbours() {
    // RDP is non-decreasing in the order (van Erven and Harremoës 2014).
    // (8.0, 0.0005) puts the series' split point z0 far out (erfc of arguments near -43).
    for (sigma, q) in [
        (0.5, 0.001),
        (0.8, 0.05),
        (1.5, 0.25),
        (5.0, 0.01),
        (8.0, 0.0005),
    ] {
        let orders = default_orders();
        let rdp: Vec<f64> = orders
            .iter()
            .map(|&a| privacy::rdp(sigma, q, a).unwrap())
            .collect();
        assert!(rdp.iter().all(|r| r.is_finite() && *r > 0.0), "{rdp:?}");
        for w in rdp.windows(2) {
            assert!(w[1] >= w[0] * (1.0 - 1e-12), "sigma {sigma} q {q}: {rdp:?}");
        }
    }
}

#[test]
fn composition_adds_rdp() {
    let mut together = RdpAccountant::new();
    together.step_many(1.0, 0.01, 300).unwrap();
    together.step_many(0.6, 0.05, 20).unwrap();
    let mut one_by_one = RdpAccountant::new();
    for _ in 0..300 {
        one_by_one.step(1.0, 0.01).unwrap();
    }
    for _ in 0..20 {
        one_by_one.step(0.6, 0.05).unwrap();
    }
    assert_eq!(together.steps(), 320);
    assert_eq!(one_by_one.steps(), 320);
    for (i, &order) in together.orders().iter().enumerate() {
        let sum = 300.0 * privacy::rdp(1.0, 0.01, order).unwrap()
            + 20.0 * privacy::rdp(0.6, 0.05, order).unwrap();
        assert!(relative(together.rdp()[i], sum) < 1e-12);
        assert!(relative(one_by_one.rdp()[i], sum) < 1e-9);
    }
    let (a, b) = (
        together.epsilon(1e-5).unwrap(),
        one_by_one.epsilon(1e-5).unwrap(),
    );
    assert!(relative(a.epsilon, b.epsilon) < 1e-9);
}

#[test]
fn epsilon_falls_with_noise_and_rises_with_steps_and_rate() {
    let noises = [0.4, 0.5, 0.7, 0.9, 1.1, 1.5, 2.0, 3.0, 5.0, 8.0];
    let rates = [0.0005, 0.002, 0.01, 0.03, 0.1, 0.3, 0.7, 1.0];
    let steps = [1u64, 10, 100, 1000, 5000];
    let eps = |s: f64, q: f64, t: u64| privacy::epsilon(s, q, t, 1e-5).unwrap().epsilon;
    for &q in &rates {
        for &t in &steps {
            for w in noises.windows(2) {
                assert!(
                    eps(w[1], q, t) <= eps(w[0], q, t),
                    "q {q} steps {t} noise {w:?}"
                );
            }
        }
        for &s in &noises {
            for w in steps.windows(2) {
                assert!(
                    eps(s, q, w[1]) >= eps(s, q, w[0]),
                    "q {q} noise {s} steps {w:?}"
                );
            }
        }
    }
    for &s in &noises {
        for w in rates.windows(2) {
            assert!(
                eps(s, w[1], 100) >= eps(s, w[0], 100),
                "noise {s} rates {w:?}"
            );
        }
    }
}

#[test]
fn nothing_released_spends_nothing() {
    let none = privacy::epsilon(1.0, 0.0, 1000, 1e-5).unwrap();
    assert_eq!(none.epsilon, 0.0);
    let none = privacy::epsilon(1.0, 0.3, 0, 1e-5).unwrap();
    assert_eq!(none.epsilon, 0.0);
    assert_eq!(RdpAccountant::new().epsilon(1e-5).unwrap().epsilon, 0.0);
}

#[test]
fn epsilon_is_json() {
    let spent = privacy::epsilon(1.0, 0.01, 1000, 1e-5).unwrap();
    let json = serde_json::to_string(&spent).unwrap();
    assert!(json.starts_with("{\"epsilon\":") && json.contains("\"order\":"));
    let back: Epsilon = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spent);
}

#[test]
fn bad_settings_are_errors() {
    let name = |r: Result<Epsilon, affinity_core::InvalidSetting>| r.unwrap_err().name;
    for sigma in [f64::NAN, -1.0, 0.0, f64::INFINITY] {
        assert_eq!(
            name(privacy::epsilon(sigma, 0.1, 10, 1e-5)),
            "noise_multiplier"
        );
    }
    for q in [f64::NAN, -0.1, 1.5] {
        assert_eq!(name(privacy::epsilon(1.0, q, 10, 1e-5)), "sample_rate");
    }
    for delta in [f64::NAN, 0.0, 1.0, -1e-5, 2.0] {
        assert_eq!(name(privacy::epsilon(1.0, 0.1, 10, delta)), "delta");
    }
    for orders in [vec![], vec![1.0], vec![2.0, f64::NAN], vec![0.5], vec![1e9]] {
        assert_eq!(
            RdpAccountant::with_orders(orders).unwrap_err().name,
            "orders"
        );
    }
    assert_eq!(privacy::rdp(1.0, 0.1, 1.0).unwrap_err().name, "orders");
    let mut accountant = RdpAccountant::new();
    assert_eq!(
        accountant.step(-1.0, 0.1).unwrap_err().name,
        "noise_multiplier"
    );
    assert_eq!(accountant.steps(), 0);
    for target in [f64::NAN, 0.0, -1.0, f64::INFINITY, 0.01] {
        let e = privacy::noise_for_epsilon(target, 0.01, 100, 1e-5).unwrap_err();
        assert_eq!(e.name, "target_epsilon", "{target}: {e}");
    }
    assert_eq!(
        privacy::noise_for_epsilon(1.0, 0.0, 100, 1e-5)
            .unwrap_err()
            .name,
        "sample_rate"
    );
    assert_eq!(
        privacy::noise_for_epsilon(1.0, 0.1, 0, 1e-5)
            .unwrap_err()
            .name,
        "steps"
    );
    assert_eq!(
        privacy::noise_for_epsilon(1.0, 0.1, 10, 0.0)
            .unwrap_err()
            .name,
        "delta"
    );
}

#[test]
fn custom_orders_are_used() {
    let mut accountant = RdpAccountant::with_orders(vec![2.0, 8.0, 32.0]).unwrap();
    accountant.step_many(1.0, 0.02, 1000).unwrap();
    let spent = accountant.epsilon(1e-5).unwrap();
    assert!([2.0, 8.0, 32.0].contains(&spent.order));
    // Fewer orders can only give a larger (or equal) epsilon than the default ones.
    assert!(spent.epsilon >= privacy::epsilon(1.0, 0.02, 1000, 1e-5).unwrap().epsilon);
}
