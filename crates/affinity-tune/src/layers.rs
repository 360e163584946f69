//! The building blocks: linear layers (with optional LoRA), LayerNorm, precision.

use affinity_core::InvalidSetting;
use tch::{nn, Kind, Tensor};

use crate::error::Result;

/// Arithmetic used in the matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 on CUDA, fp32 on the CPU.
    #[default]
    Auto,
    /// Everything in fp32.
    F32,
    /// Matrix products and attention in bf16, weights, LayerNorm, residuals and the loss in
    /// fp32 (what autocast does; libtorch's autocast is CUDA-only through tch, so by hand).
    Bf16,
    /// Encoding on the CPU with the linear layers in 8-bit integers (dynamic quantisation:
    /// weights coded once, each token's inputs as they come), the rest fp32. For encoding
    /// only: training refuses it.
    Int8,
}

/// Whether this CPU multiplies bf16 matrices natively (AVX-512 BF16).
pub fn cpu_has_native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Precision {
    /// bf16 where the hardware computes it natively (CUDA, or a CPU with AVX-512 BF16), fp32
    /// elsewhere: without native support libtorch emulates bf16 matrix products, several times
    /// slower than fp32 (7.5x when encoding with MiniLM on a 2-core AVX2 EPYC).
    pub fn fastest(device: tch::Device) -> Precision {
        match device {
            tch::Device::Cuda(_) => Precision::Bf16,
            _ if cpu_has_native_bf16() => Precision::Bf16,
            _ => Precision::F32,
        }
    }

    /// The concrete precision on `device`.
    pub fn resolve(self, device: tch::Device) -> Precision {
        match (self, device) {
            (Precision::Auto, tch::Device::Cuda(_)) => Precision::Bf16,
            (Precision::Auto, _) => Precision::F32,
            (p, _) => p,
        }
    }

    pub(crate) fn kind(self) -> Kind {
        match self {
            Precision::Bf16 => Kind::BFloat16,
            Precision::F32 | Precision::Auto | Precision::Int8 => Kind::Float,
        }
    }
}

pub(crate) fn cast(t: &Tensor, kind: Kind) -> Result<Tensor> {
    Ok(if t.kind() == kind {
        t.shallow_clone()
    } else {
        t.f_to_kind(kind)?
    })
}

/// LoRA settings: a rank-`rank` update `B A` scaled by `alpha / rank` on the named modules.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraParams {
    /// Rank of the update.
    pub rank: i64,
    /// Scale numerator.
    pub alpha: f64,
    /// Dropout on the adapter's input.
    pub dropout: f64,
    /// Module names the adapters attach to, matched against the end of the module path:
    /// `query`, `key`, `value`, `attention.output.dense`, `intermediate.dense`, `output.dense`.
    pub target_modules: Vec<String>,
}

impl Default for LoraParams {
    fn default() -> Self {
        LoraParams {
            rank: 8,
            alpha: 16.0,
            dropout: 0.05,
            target_modules: vec!["query".into(), "value".into()],
        }
    }
}

impl LoraParams {
    /// The first setting that cannot work.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        if self.rank <= 0 {
            return Err(InvalidSetting::new("lora.rank", "must be positive"));
        }
        if self.alpha.is_nan() || self.alpha <= 0.0 {
            return Err(InvalidSetting::new("lora.alpha", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(InvalidSetting::new("lora.dropout", "must lie in [0, 1)"));
        }
        const KNOWN: [&str; 6] = [
            "query",
            "key",
            "value",
            "attention.output.dense",
            "intermediate.dense",
            "output.dense",
        ];
        if self.target_modules.is_empty() {
            return Err(InvalidSetting::new(
                "lora.target_modules",
                "name at least one module",
            ));
        }
        for m in &self.target_modules {
            if !KNOWN.contains(&m.as_str()) {
                return Err(InvalidSetting::new(
                    "lora.target_modules",
                    format!("unknown module {m:?}; known: {}", KNOWN.join(", ")),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn targets(&self, module_path: &str) -> bool {
        self.target_modules.iter().any(|m| {
            let hit = module_path == m || module_path.ends_with(&format!(".{m}"));
            // `output.dense` names the feed-forward output, not `attention.output.dense`.
            let other = m == "output.dense" && module_path.ends_with("attention.output.dense");
            hit && !other
        })
    }
}

#[derive(Debug)]
pub(crate) struct Lora {
    pub a: Tensor,
    pub b: Tensor,
    pub scale: f64,
    pub dropout: f64,
}

impl Lora {
    /// The update `scale x B A` the adapter adds to its layer's weight (what merging folds in,
    /// and what int8 codes are made with).
    pub fn delta(&self) -> Result<Tensor> {
        Ok(self.b.f_matmul(&self.a)?.f_mul_scalar(self.scale)?)
    }
}

/// Where a model's variables come from: fresh random initialisation, or a checkpoint's tensors
/// handed over as they are.
pub(crate) enum Vars<'a> {
    /// Fresh variables, random as BERT initialises them.
    Random,
    /// The checkpoint's tensor of that name, checked.
    Checkpoint(&'a mut crate::weights::Preloaded),
}

impl Vars<'_> {
    /// The variable `name` under `p`; `init` applies to fresh variables.
    pub fn var(&mut self, p: &nn::Path, name: &str, dims: &[i64], init: nn::Init) -> Tensor {
        match self {
            Vars::Random => p.var(name, dims, init),
            Vars::Checkpoint(loaded) => loaded.take(p, name, dims),
        }
    }

    /// A variable whose fresh value is a constant (LayerNorm scales and biases).
    pub fn constant(&mut self, p: &nn::Path, name: &str, dims: &[i64], value: f64) -> Tensor {
        match self {
            Vars::Checkpoint(loaded) => loaded.take(p, name, dims),
            _ => p.var(name, dims, nn::Init::Const(value)),
        }
    }
}

/// `y = x W^T + b`, plus a LoRA update where configured.
#[derive(Debug)]
pub(crate) struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
    pub lora: Option<Lora>,
}

impl Linear {
    pub fn new(
        p: &nn::Path,
        name: &str,
        (in_dim, out_dim): (i64, i64),
        vars: &mut Vars,
        lora: Option<(&nn::Path, &LoraParams)>,
    ) -> Self {
        let p = p / name;
        let init = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let weight = vars.var(&p, "weight", &[out_dim, in_dim], init);
        let bias = vars.constant(&p, "bias", &[out_dim], 0.0);
        let lora = lora.map(|(lp, cfg)| {
            let lp = lp / name;
            // A small random, B zero: the adapter starts as the identity update (PEFT's init).
            let a = (&lp / "lora_A").var(
                "weight",
                &[cfg.rank, in_dim],
                nn::Init::Uniform {
                    lo: -1.0 / (in_dim as f64).sqrt(),
                    up: 1.0 / (in_dim as f64).sqrt(),
                },
            );
            let b = (&lp / "lora_B").var("weight", &[out_dim, cfg.rank], nn::Init::Const(0.0));
            Lora {
                a,
                b,
                scale: cfg.alpha / cfg.rank as f64,
                dropout: cfg.dropout,
            }
        });
        Linear { weight, bias, lora }
    }

    pub fn forward(&self, x: &Tensor, kind: Kind, train: bool) -> Result<Tensor> {
        let xk = cast(x, kind)?;
        let mut y = xk.f_linear(&cast(&self.weight, kind)?, Some(&cast(&self.bias, kind)?))?;
        if let Some(l) = &self.lora {
            let xd = xk.f_dropout(l.dropout, train)?;
            let u = xd.f_linear::<&Tensor>(&cast(&l.a, kind)?, None)?;
            let u = u.f_linear::<&Tensor>(&cast(&l.b, kind)?, None)?;
            y = y.f_add(&u.f_mul_scalar(l.scale)?)?;
        }
        Ok(y)
    }

    /// Folds the LoRA update into the weight (in place) and drops the adapter.
    pub fn merge(&mut self) -> Result<()> {
        if let Some(l) = self.lora.take() {
            tch::no_grad(|| -> Result<()> {
                let _ = self
                    .weight
                    .f_add_(&l.delta()?.f_to_kind(self.weight.kind())?)?;
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// LayerNorm computed in fp32 whatever the input's kind.
#[derive(Debug)]
pub(crate) struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
    pub dim: i64,
}

impl LayerNorm {
    pub fn new(p: &nn::Path, dim: i64, eps: f64, vars: &mut Vars) -> Self {
        let p = p / "LayerNorm";
        LayerNorm {
            weight: vars.constant(&p, "weight", &[dim], 1.0),
            bias: vars.constant(&p, "bias", &[dim], 0.0),
            eps,
            dim,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = cast(x, Kind::Float)?;
        Ok(x.f_layer_norm(
            [self.dim],
            Some(&cast(&self.weight, Kind::Float)?),
            Some(&cast(&self.bias, Kind::Float)?),
            self.eps,
            true,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_precision_is_bf16_on_cuda_only() {
        assert_eq!(Precision::Auto.resolve(tch::Device::Cpu), Precision::F32);
        assert_eq!(
            Precision::Auto.resolve(tch::Device::Cuda(0)),
            Precision::Bf16
        );
        assert_eq!(Precision::F32.resolve(tch::Device::Cuda(0)), Precision::F32);
        assert_eq!(Precision::Bf16.resolve(tch::Device::Cpu), Precision::Bf16);
    }

    #[test]
    fn lora_targets_tell_the_two_output_projections_apart() {
        let c = LoraParams {
            target_modules: vec!["output.dense".into()],
            ..LoraParams::default()
        };
        assert!(c.targets("encoder.layer.0.output.dense"));
        assert!(!c.targets("encoder.layer.0.attention.output.dense"));
        let q = LoraParams::default();
        assert!(q.targets("encoder.layer.3.attention.self.query"));
        assert!(!q.targets("encoder.layer.3.attention.self.key"));
    }
}
