//! A linear classification head on the pooled sentence vector.

use std::collections::BTreeMap;
use std::path::Path;

use tch::{nn, Device, Tensor};

use crate::error::Result;
use crate::weights;

/// `logits = dropout(x) W^T + b` over `num_classes` classes.
#[derive(Debug)]
pub struct ClassifierHead {
    weight: Tensor,
    bias: Tensor,
    dropout: f64,
}

impl ClassifierHead {
    /// A fresh head (weights ~ N(0, 0.02), bias 0).
    pub fn new(dim: usize, num_classes: usize, dropout: f64, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let p = vs.root() / "head";
        let weight = p.var(
            "weight",
            &[num_classes as i64, dim as i64],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        );
        let bias = p.var("bias", &[num_classes as i64], nn::Init::Const(0.0));
        ClassifierHead {
            weight,
            bias,
            dropout,
        }
    }

    /// Class logits `[batch, classes]`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(x.f_dropout(self.dropout, train)?
            .f_linear(&self.weight, Some(&self.bias))?)
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.weight.size()[0] as usize
    }

    pub(crate) fn variables(&self) -> BTreeMap<String, Tensor> {
        [
            ("head.weight".to_string(), self.weight.shallow_clone()),
            ("head.bias".to_string(), self.bias.shallow_clone()),
        ]
        .into()
    }

    /// Writes `head.safetensors` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        weights::write_atomic(&self.variables(), &dir.join("head.safetensors"))
    }

    /// Reads `head.safetensors` written by [`ClassifierHead::save`].
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let path = dir.join("head.safetensors");
        let t: BTreeMap<String, Tensor> = weights::read(&path)?.into_iter().collect();
        let get = |n: &str| {
            t.get(n)
                .map(|x| x.to_device(device))
                .ok_or_else(|| crate::TuneError::MissingTensors {
                    path: path.clone(),
                    names: vec![n.to_string()],
                })
        };
        Ok(ClassifierHead {
            weight: get("head.weight")?,
            bias: get("head.bias")?,
            dropout: 0.1,
        })
    }
}
