//! The settings of a private training run and what it spends: [`PrivacyParams::plan`] turns a
//! budget, the number of shoppers, the shoppers per step and the epochs into the noise that
//! keeps the run within the budget (DP-SGD as Abadi et al. 2016, the shopper as the unit).
//!
//! ```
//! use affinity_core::privacy::PrivacyParams;
//!
//! let private = PrivacyParams { epsilon: 3.0, ..PrivacyParams::default() };
//! private.check()?;
//! // 4,000 shoppers, 128 expected per step, 10 epochs: the noise that keeps epsilon at 3.
//! let plan = private.plan(4_000, 128, 10)?;
//! assert!(plan.noise_multiplier > 0.5 && plan.epsilon <= 3.0);
//! assert_eq!(plan.delta, 1.0 / 4_000.0);
//! # Ok::<(), affinity_core::InvalidSetting>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::InvalidSetting;

/// What a private run must keep to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyParams {
    /// The (ε, δ)-DP budget of the whole run.
    pub epsilon: f64,
    /// δ; `None`: one over the number of shoppers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// Largest L2 norm of one shopper's gradient.
    pub clip_norm: f64,
}

impl Default for PrivacyParams {
    fn default() -> Self {
        PrivacyParams {
            epsilon: 3.0,
            delta: None,
            clip_norm: 1.0,
        }
    }
}

/// The privacy a run was planned for and spends: its noise, sampling and steps, and the
/// (ε, δ) the accountant gives for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacySpent {
    /// ε spent at `delta` (at most the budget asked for).
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// Noise standard deviation over the clipping norm.
    pub noise_multiplier: f64,
    /// Probability that a shopper is in a step.
    pub sample_rate: f64,
    /// Optimizer steps.
    pub steps: usize,
    /// Shoppers (the units of privacy).
    pub shoppers: usize,
    /// Largest L2 norm of one shopper's gradient.
    pub clip_norm: f64,
}

impl std::fmt::Display for PrivacySpent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(ε = {:.3}, δ = {:.2e})-DP over {} shoppers: {} steps sampling {:.4}, noise {:.3} x clip {}",
            self.epsilon,
            self.delta,
            self.shoppers,
            self.steps,
            self.sample_rate,
            self.noise_multiplier,
            self.clip_norm
        )
    }
}

impl PrivacyParams {
    /// The first invalid setting.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        if !(self.epsilon > 0.0 && self.epsilon.is_finite()) {
            return Err(InvalidSetting::new("epsilon", "must be positive"));
        }
        if let Some(delta) = self.delta {
            if !(delta > 0.0 && delta < 1.0) {
                return Err(InvalidSetting::new("delta", "must lie in (0, 1)"));
            }
        }
        if !(self.clip_norm > 0.0 && self.clip_norm.is_finite()) {
            return Err(InvalidSetting::new("clip_norm", "must be positive"));
        }
        Ok(())
    }

    /// The noise for `epochs` passes over `shoppers` with `per_step` of them expected in each
    /// step: sampling rate `per_step / shoppers`, `epochs x shoppers / per_step` steps (rounded
    /// up), and the least noise within the budget.
    pub fn plan(
        &self,
        shoppers: usize,
        per_step: usize,
        epochs: usize,
    ) -> std::result::Result<PrivacySpent, InvalidSetting> {
        self.check()?;
        if shoppers < 2 {
            return Err(InvalidSetting::new(
                "shoppers",
                "private training needs at least two shoppers",
            ));
        }
        let per_step = per_step.clamp(1, shoppers);
        let sample_rate = per_step as f64 / shoppers as f64;
        let steps = (epochs * shoppers).div_ceil(per_step).max(1);
        let delta = self.delta.unwrap_or(1.0 / shoppers as f64);
        let noise_multiplier =
            super::noise_for_epsilon(self.epsilon, sample_rate, steps as u64, delta)?;
        let spent = super::epsilon(noise_multiplier, sample_rate, steps as u64, delta)?;
        Ok(PrivacySpent {
            epsilon: spent.epsilon,
            delta,
            noise_multiplier,
            sample_rate,
            steps,
            shoppers,
            clip_norm: self.clip_norm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_keep_the_budget_and_refuse_bad_settings() {
        let p = PrivacyParams {
            epsilon: 1.0,
            ..PrivacyParams::default()
        };
        let plan = p.plan(10_000, 100, 5).unwrap();
        assert_eq!(plan.steps, 500);
        assert!((plan.sample_rate - 0.01).abs() < 1e-12);
        assert!(plan.epsilon <= 1.0 && plan.epsilon > 0.95, "{plan}");
        // More epsilon, less noise.
        let loose = PrivacyParams {
            epsilon: 8.0,
            ..p.clone()
        }
        .plan(10_000, 100, 5)
        .unwrap();
        assert!(loose.noise_multiplier < plan.noise_multiplier);
        for (bad, name) in [
            (
                PrivacyParams {
                    epsilon: 0.0,
                    ..p.clone()
                },
                "epsilon",
            ),
            (
                PrivacyParams {
                    delta: Some(1.0),
                    ..p.clone()
                },
                "delta",
            ),
            (
                PrivacyParams {
                    clip_norm: -1.0,
                    ..p.clone()
                },
                "clip_norm",
            ),
        ] {
            assert_eq!(bad.plan(100, 10, 1).unwrap_err().name, name);
        }
        assert_eq!(p.plan(1, 10, 1).unwrap_err().name, "shoppers");
    }
}
