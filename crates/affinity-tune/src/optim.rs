//! AdamW with decoupled weight decay and a linear warmup-then-decay schedule. Written out here
//! (not tch's `COptimizer`) so that its moments can be checkpointed and a resumed run matches an
//! uninterrupted one.

use std::collections::BTreeMap;

use tch::Tensor;

use crate::error::Result;

/// Learning rate per optimizer step: linear from 0 to the peak over `warmup` steps, then linear
/// to 0 at `total`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSchedule {
    /// Peak learning rate.
    pub peak: f64,
    /// Warmup steps.
    pub warmup: usize,
    /// Total steps of the run.
    pub total: usize,
}

impl LinearSchedule {
    /// The rate for step `step` (from 1).
    pub fn rate(&self, step: usize) -> f64 {
        if step <= self.warmup && self.warmup > 0 {
            self.peak * step as f64 / self.warmup as f64
        } else {
            let left = self.total.saturating_sub(step) as f64;
            let span = self.total.saturating_sub(self.warmup).max(1) as f64;
            self.peak * (left / span).max(0.0)
        }
    }
}

/// Whether a parameter is decayed: not biases and not LayerNorm weights (the usual BERT recipe).
pub(crate) fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm"))
}

/// AdamW over named parameters.
#[derive(Debug)]
pub(crate) struct AdamW {
    params: BTreeMap<String, Tensor>,
    m: BTreeMap<String, Tensor>,
    v: BTreeMap<String, Tensor>,
    pub step: usize,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl AdamW {
    pub fn new(params: BTreeMap<String, Tensor>, weight_decay: f64) -> Result<Self> {
        let zeros = |p: &Tensor| p.f_zeros_like();
        let m = params
            .iter()
            .map(|(n, p)| Ok((n.clone(), zeros(p)?)))
            .collect::<Result<_>>()?;
        let v = params
            .iter()
            .map(|(n, p)| Ok((n.clone(), zeros(p)?)))
            .collect::<Result<_>>()?;
        Ok(AdamW {
            params,
            m,
            v,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        })
    }

    /// Scales gradients so that their global L2 norm is at most `max_norm`; returns the norm
    /// before clipping.
    pub fn clip_grad_norm(&self, max_norm: f64) -> Result<f64> {
        let _guard = tch::no_grad_guard();
        let norms: Vec<Tensor> = self
            .params
            .values()
            .filter(|p| p.grad().defined())
            .map(|p| p.grad().f_norm())
            .collect::<std::result::Result<_, _>>()?;
        if norms.is_empty() {
            return Ok(0.0);
        }
        let total = f64::try_from(Tensor::f_stack(&norms, 0)?.f_norm()?)?;
        if total.is_finite() && total > max_norm {
            let coef = max_norm / (total + 1e-6);
            for p in self.params.values() {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.f_mul_scalar_(coef)?;
                }
            }
        }
        Ok(total)
    }

    /// One update at learning rate `lr`; gradients are zeroed afterwards.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        let grads: BTreeMap<String, Tensor> = self
            .params
            .iter()
            .map(|(n, p)| (n.clone(), p.grad()))
            .filter(|(_, g)| g.defined())
            .collect();
        self.apply(lr, &grads)?;
        let _guard = tch::no_grad_guard();
        for mut g in grads.into_values() {
            let _ = g.f_zero_()?;
        }
        Ok(())
    }

    /// One update at learning rate `lr` with these gradients (by parameter name; a parameter
    /// without one is left alone): private training's noisy means, which are not the
    /// parameters' own.
    pub fn apply(&mut self, lr: f64, grads: &BTreeMap<String, Tensor>) -> Result<()> {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        for (name, p) in &self.params {
            let Some(g) = grads.get(name) else {
                continue;
            };
            let (m, v) = (self.m.get_mut(name).unwrap(), self.v.get_mut(name).unwrap());
            let g32 = g.f_to_kind(m.kind())?;
            // Nine passes over each tensor, in place where libtorch allows.
            let _ = m.f_lerp_(&g32, 1.0 - self.beta1)?;
            let _ = v.f_lerp_(&g32.f_square()?, 1.0 - self.beta2)?;
            let mut denom = v.f_sqrt()?;
            let _ = denom.f_div_scalar_(bc2.sqrt())?.f_add_scalar_(self.eps)?;
            // p += m / (denom * -(bc1 / lr)) is p -= lr / bc1 * m / denom.
            let _ = denom.f_mul_scalar_(-bc1 / lr)?;
            let mut p = p.shallow_clone();
            if self.weight_decay > 0.0 && decays(name) {
                let _ = p.f_mul_scalar_(1.0 - lr * self.weight_decay)?;
            }
            let _ = p.f_addcdiv_(m, &denom)?;
        }
        Ok(())
    }

    /// Moments as named tensors (`m.<param>`, `v.<param>`).
    pub fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (n, t) in &self.m {
            out.insert(format!("m.{n}"), t.shallow_clone());
        }
        for (n, t) in &self.v {
            out.insert(format!("v.{n}"), t.shallow_clone());
        }
        out
    }

    /// Restores moments saved by [`AdamW::state`].
    pub fn load_state(&mut self, saved: &[(String, Tensor)], step: usize) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (name, t) in saved {
            let slot = if let Some(n) = name.strip_prefix("m.") {
                self.m.get_mut(n)
            } else if let Some(n) = name.strip_prefix("v.") {
                self.v.get_mut(n)
            } else {
                None
            };
            if let Some(slot) = slot {
                slot.f_copy_(&t.f_to_device(slot.device())?)?;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let s = LinearSchedule {
            peak: 1.0,
            warmup: 10,
            total: 110,
        };
        assert_eq!(s.rate(5), 0.5);
        assert_eq!(s.rate(10), 1.0);
        assert!((s.rate(60) - 0.5).abs() < 1e-12);
        assert_eq!(s.rate(110), 0.0);
    }

    #[test]
    fn biases_and_layer_norm_are_not_decayed() {
        assert!(decays("encoder.layer.0.attention.self.query.weight"));
        assert!(!decays("encoder.layer.0.attention.self.query.bias"));
        assert!(!decays("embeddings.LayerNorm.weight"));
    }

    #[test]
    fn adamw_first_step_moves_each_weight_by_lr() {
        // With bias correction the first Adam step is lr * sign(g) (up to eps).
        let p = Tensor::from_slice(&[1.0f32, -2.0, 3.0]).set_requires_grad(true);
        let loss = (&p * Tensor::from_slice(&[2.0f32, -3.0, 0.5])).sum(tch::Kind::Float);
        loss.backward();
        let mut opt = AdamW::new([("w".to_string(), p.shallow_clone())].into(), 0.0).unwrap();
        opt.step(0.1).unwrap();
        let got = Vec::<f32>::try_from(&p).unwrap();
        for (g, e) in got.iter().zip([0.9f32, -1.9, 2.9]) {
            assert!((g - e).abs() < 1e-5, "{got:?}");
        }
        assert_eq!(
            f64::try_from(p.grad().abs().sum(tch::Kind::Float)).unwrap(),
            0.0
        );
    }
}
