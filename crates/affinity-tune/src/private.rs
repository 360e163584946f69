//! Differentially private training (DP-SGD, Abadi et al. 2016) with the shopper as the unit:
//! each step samples every shopper with probability `q` (Poisson sampling), takes the gradient
//! of each sampled shopper's whole loss (all of their sequences together), scales it to L2
//! norm at most `clip_norm`, sums, adds Gaussian noise of standard deviation
//! `noise_multiplier x clip_norm` to every coordinate and divides by the expected number of
//! shoppers per step. One shopper's history can then move a step by at most `clip_norm` before
//! the noise, whatever its length, and [`affinity_core::privacy`] plans the noise and says what the run spends.

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

use crate::error::Result;
use crate::optim::AdamW;

/// How many of a private run's `total` steps epoch `epoch` (from 1) of `epochs` takes: spread
/// evenly, the remainder in the first epochs.
pub(crate) fn steps_in_epoch(total: usize, epoch: usize, epochs: usize) -> usize {
    total / epochs + usize::from(epoch <= total % epochs)
}

/// The shoppers in one step: each of `shoppers` independently with probability `rate`, drawn
/// with libtorch's generator (seeded by `tch::manual_seed`).
pub(crate) fn poisson_sample(shoppers: usize, rate: f64) -> Result<Vec<usize>> {
    let drawn = Tensor::f_rand([shoppers as i64], (Kind::Double, tch::Device::Cpu))?;
    let mask = Vec::<bool>::try_from(drawn.f_lt(rate)?)?;
    Ok(mask
        .iter()
        .enumerate()
        .filter(|(_, &m)| m)
        .map(|(i, _)| i)
        .collect())
}

/// The sum of clipped per-shopper gradients of some parameters, then its noisy mean.
pub(crate) struct ClippedSum {
    params: BTreeMap<String, Tensor>,
    sum: BTreeMap<String, Tensor>,
    clip_norm: f64,
}

impl ClippedSum {
    /// Over the parameters that require a gradient.
    pub fn new(params: &BTreeMap<String, Tensor>, clip_norm: f64) -> Result<Self> {
        let params: BTreeMap<String, Tensor> = params
            .iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect();
        let sum = params
            .iter()
            .map(|(n, t)| Ok((n.clone(), t.f_zeros_like()?)))
            .collect::<Result<_>>()?;
        Ok(ClippedSum {
            params,
            sum,
            clip_norm,
        })
    }

    /// Adds the gradient the parameters now hold (one shopper's, from one backward pass),
    /// scaled down to norm `clip_norm` when longer, and zeroes it. Returns its norm before
    /// clipping.
    pub fn add_shopper(&mut self) -> Result<f64> {
        let _guard = tch::no_grad_guard();
        let grads: Vec<(&String, Tensor)> = self
            .params
            .iter()
            .map(|(n, p)| (n, p.grad()))
            .filter(|(_, g)| g.defined())
            .collect();
        if grads.is_empty() {
            return Ok(0.0);
        }
        // One read back per shopper, not one per tensor: a step runs this for every shopper.
        let norms: Vec<Tensor> = grads
            .iter()
            .map(|(_, g)| g.f_norm_scalaropt_dtype(2, Kind::Double))
            .collect::<std::result::Result<_, _>>()?;
        let norm = f64::try_from(Tensor::f_stack(&norms, 0)?.f_norm()?)?;
        // A non-finite gradient is dropped (its shopper contributes nothing), not clipped into
        // a NaN step.
        let scale = if norm.is_finite() {
            (self.clip_norm / norm.max(1e-12)).min(1.0)
        } else {
            0.0
        };
        for (name, mut g) in grads {
            if scale > 0.0 {
                let sum = self.sum.get_mut(name).expect("same keys");
                let _ = sum.f_add_(&g.f_mul_scalar(scale)?)?;
            }
            let _ = g.f_zero_()?;
        }
        Ok(norm)
    }

    /// Ends a step: the noisy mean ([`ClippedSum::noisy_mean`]) applied by `optimizer` at
    /// learning rate `lr`.
    pub fn step(
        &mut self,
        optimizer: &mut AdamW,
        lr: f64,
        noise_multiplier: f64,
        expected: f64,
    ) -> Result<()> {
        let grads = self.noisy_mean(noise_multiplier, expected)?;
        optimizer.apply(lr, &grads)
    }

    /// `(sum + N(0, (noise_multiplier x clip_norm)²)) / expected` for every parameter, and the
    /// sum starts again from zero.
    pub fn noisy_mean(
        &mut self,
        noise_multiplier: f64,
        expected: f64,
    ) -> Result<BTreeMap<String, Tensor>> {
        let _guard = tch::no_grad_guard();
        let std = noise_multiplier * self.clip_norm;
        let mut out = BTreeMap::new();
        for (name, sum) in &mut self.sum {
            let mut g = sum.f_randn_like()?.f_mul_scalar(std)?.f_add(sum)?;
            let _ = g.f_div_scalar_(expected)?;
            let _ = sum.f_zero_()?;
            out.insert(name.clone(), g);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(values: &[f32]) -> BTreeMap<String, Tensor> {
        [(
            "w".to_string(),
            Tensor::from_slice(values).set_requires_grad(true),
        )]
        .into()
    }

    /// Backward of `factor * w . x` leaves `factor * x` as the gradient.
    fn backward(params: &BTreeMap<String, Tensor>, x: &[f32], factor: f64) {
        let loss = (&params["w"] * Tensor::from_slice(x)).sum(Kind::Float) * factor;
        loss.backward();
    }

    #[test]
    fn each_shopper_moves_the_sum_by_at_most_the_clipping_norm() {
        let params = param(&[0.5, -1.0, 2.0]);
        let mut sum = ClippedSum::new(&params, 1.0).unwrap();
        // A shopper with a gradient of norm 5 (3-4-0) and one of norm 0.5.
        backward(&params, &[3.0, 4.0, 0.0], 1.0);
        assert!((sum.add_shopper().unwrap() - 5.0).abs() < 1e-9);
        backward(&params, &[0.0, 0.0, 0.5], 1.0);
        assert!((sum.add_shopper().unwrap() - 0.5).abs() < 1e-9);
        // The grads were zeroed after each shopper.
        assert_eq!(
            f64::try_from(params["w"].grad().abs().sum(Kind::Float)).unwrap(),
            0.0
        );
        let mean = sum.noisy_mean(0.0, 2.0).unwrap();
        let got = Vec::<f32>::try_from(&mean["w"]).unwrap();
        // (0.6, 0.8, 0) clipped, plus (0, 0, 0.5) as it was, over 2.
        for (g, want) in got.iter().zip([0.3f32, 0.4, 0.25]) {
            assert!((g - want).abs() < 1e-6, "{got:?}");
        }
        // And it starts again from zero.
        assert_eq!(
            Vec::<f32>::try_from(&sum.noisy_mean(0.0, 1.0).unwrap()["w"]).unwrap(),
            vec![0.0; 3]
        );
    }

    #[test]
    fn a_non_finite_gradient_adds_nothing() {
        let params = param(&[1.0, 1.0]);
        let mut sum = ClippedSum::new(&params, 1.0).unwrap();
        backward(&params, &[f32::NAN, 1.0], 1.0);
        assert!(sum.add_shopper().unwrap().is_nan());
        let mean = sum.noisy_mean(0.0, 1.0).unwrap();
        assert_eq!(Vec::<f32>::try_from(&mean["w"]).unwrap(), vec![0.0, 0.0]);
    }

    #[test]
    fn the_noise_has_the_planned_spread() {
        tch::manual_seed(7);
        let params: BTreeMap<String, Tensor> = [(
            "w".to_string(),
            Tensor::zeros([20_000], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true),
        )]
        .into();
        let mut sum = ClippedSum::new(&params, 0.5).unwrap();
        let noisy = sum.noisy_mean(2.0, 4.0).unwrap();
        let std = f64::try_from(noisy["w"].std(true)).unwrap();
        // 2.0 x 0.5 / 4 = 0.25.
        assert!((std - 0.25).abs() < 0.01, "{std}");
    }

    #[test]
    fn every_planned_step_runs_once() {
        for (total, epochs) in [(86, 3), (6, 3), (2, 5)] {
            let per: Vec<usize> = (1..=epochs)
                .map(|e| steps_in_epoch(total, e, epochs))
                .collect();
            assert_eq!(per.iter().sum::<usize>(), total, "{per:?}");
            assert!(
                per.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1),
                "{per:?}"
            );
        }
    }

    #[test]
    fn poisson_sampling_keeps_about_the_rate() {
        tch::manual_seed(3);
        let picked = poisson_sample(20_000, 0.1).unwrap();
        assert!((1_800..2_200).contains(&picked.len()), "{}", picked.len());
        assert!(picked.windows(2).all(|w| w[0] < w[1]));
        assert!(poisson_sample(100, 0.0).unwrap().is_empty());
    }
}
