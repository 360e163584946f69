//! A sequence-aware user tower over precomputed item text vectors (UniSRec-style): the BERT
//! pass runs once per item, so many epochs of full-catalogue training fit on a CPU.
//!
//! An item is `text · W + id` (`W` starts as the identity, the learned ID embedding at zero);
//! a shopper at step `t` is the mean of the items so far plus a causal transformer's correction
//! (its output projection starts at zero). Before training the model therefore ranks as the
//! zero-shot text model does (mean of the history's vectors), and training only has to learn
//! what improves on it. Scores are cosine / temperature over the whole catalogue, with a
//! learned penalty on items already in the history.

mod fit;
mod net;
mod private;
mod rank;

use affinity_core::InvalidSetting;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Result, TuneError};
use crate::export::write_json;
use crate::weights;

pub use fit::SequenceSplit;
use net::Net;

/// Settings of the sequential model and its training, checked before any work starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialParams {
    /// Width of the transformer (the item vectors keep the text model's width).
    pub hidden: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads; must divide `hidden`.
    pub heads: usize,
    /// Most recent items of a history the model reads.
    pub max_history: usize,
    /// Dropout inside the transformer and on its inputs.
    pub dropout: f64,
    /// Softmax temperature on cosine scores (published models use 0.05-0.07).
    pub temperature: f64,
    /// Learn an embedding per item ID on top of its text (items never trained keep text only).
    pub item_ids: bool,
    /// Learn a score offset for items already in the history.
    pub repeat_penalty: bool,
    /// AdamW learning rate (constant).
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Sequences per optimizer step.
    pub batch_size: usize,
    /// Most epochs.
    pub epochs: usize,
    /// Stop after this many epochs without a better validation NDCG@10.
    pub patience: usize,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
    /// Train with DP-SGD within this budget, the shopper as the unit (see
    /// [`PrivacyParams`](crate::PrivacyParams)). Then `batch_size` is the expected number of
    /// shoppers per step, all `epochs` run, the last weights are kept (choosing an epoch by
    /// validation would spend privacy the accountant does not count) and the item side (text
    /// map and ID embeddings) stays at its start: only the reading of histories trains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<crate::PrivacyParams>,
}

impl Default for SequentialParams {
    fn default() -> Self {
        SequentialParams {
            hidden: 128,
            layers: 2,
            heads: 2,
            max_history: 50,
            dropout: 0.5,
            temperature: 0.07,
            item_ids: true,
            repeat_penalty: true,
            learning_rate: 5e-4,
            weight_decay: 0.05,
            batch_size: 128,
            epochs: 40,
            patience: 3,
            seed: 42,
            privacy: None,
        }
    }
}

impl SequentialParams {
    /// The first invalid setting.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        for (name, v) in [
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("heads", self.heads),
            ("max_history", self.max_history),
            ("batch_size", self.batch_size),
            ("epochs", self.epochs),
            ("patience", self.patience),
        ] {
            if v == 0 {
                return Err(InvalidSetting::new(name, "must be at least 1"));
            }
        }
        if !self.hidden.is_multiple_of(self.heads) {
            return Err(InvalidSetting::new(
                "heads",
                format!("{} heads do not divide hidden {}", self.heads, self.hidden),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(InvalidSetting::new("dropout", "must lie in [0, 1)"));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(InvalidSetting::new("temperature", "must be positive"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(InvalidSetting::new("learning_rate", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.weight_decay) {
            return Err(InvalidSetting::new("weight_decay", "must lie in [0, 1)"));
        }
        if let Some(privacy) = &self.privacy {
            privacy.check()?;
        }
        Ok(())
    }
}

/// What `sequential.json` holds besides the tensors.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    params: SequentialParams,
    items: usize,
    dim: usize,
}

/// The sequential recommender: item text vectors in, a score for every item out.
///
/// ```
/// use affinity_tune::{SequenceSplit, SequentialParams, SequentialRecommender};
/// use affinity_tune::tch::{Kind, Tensor};
/// // Four items with 8-dimensional "text" vectors.
/// let text = Tensor::randn([4, 8], (Kind::Float, affinity_tune::tch::Device::Cpu));
/// let params = SequentialParams { hidden: 8, epochs: 2, ..SequentialParams::default() };
/// let mut model = SequentialRecommender::new(&text, params)?;
/// let split = SequenceSplit::from_histories(&[vec![0, 1, 2], vec![1, 2, 3, 0]], 50);
/// let report = model.fit(&split)?;
/// assert!(report.epochs.len() >= 2);
/// let scores = model.scores(&[vec![0, 1]])?; // [1, 4]
/// assert_eq!(scores.size(), [1, 4]);
/// # Ok::<(), affinity_tune::TuneError>(())
/// ```
#[derive(Debug)]
pub struct SequentialRecommender {
    net: Net,
    params: SequentialParams,
}

impl SequentialRecommender {
    /// A fresh model over `text` (`[items, dim]`, one row per item id, float); ranks as the
    /// mean of the history's text vectors until trained.
    pub fn new(text: &Tensor, params: SequentialParams) -> Result<Self> {
        params.check()?;
        let size = text.size();
        if size.len() != 2 || size[0] == 0 || size[1] == 0 {
            return Err(InvalidSetting::new(
                "text",
                format!("item vectors must be [items, dim], got {size:?}"),
            )
            .into());
        }
        tch::manual_seed(params.seed as i64);
        let text = text.f_to_kind(Kind::Float)?.f_to_device(Device::Cpu)?;
        Ok(SequentialRecommender {
            net: Net::new(text, &params)?,
            params,
        })
    }

    /// The settings.
    pub fn params(&self) -> &SequentialParams {
        &self.params
    }

    /// Items in the catalogue.
    pub fn n_items(&self) -> usize {
        self.net.n_items as usize
    }

    /// Scores of every item for each history (item ids, oldest first): `[histories, items]`,
    /// cosine / temperature plus the repeat penalty. An empty history scores every item 0.
    pub fn scores(&self, histories: &[Vec<u32>]) -> Result<Tensor> {
        self.by_chunks(histories, self.net.n_items, |chunk| {
            self.net.last_scores(chunk)
        })
    }

    /// Each history's shopper vector after its last item, L2-normalised `[histories, dim]`
    /// (zeros for an empty history): its cosine with [`SequentialRecommender::item_vectors`]
    /// is the score without the repeat penalty, times the temperature.
    pub fn user_vectors(&self, histories: &[Vec<u32>]) -> Result<Tensor> {
        self.by_chunks(histories, self.net.dim, |chunk| self.net.last_users(chunk))
    }

    /// `each` over chunks of 256 histories without gradients, the rows stacked (`[0, width]`
    /// for no history).
    fn by_chunks(
        &self,
        histories: &[Vec<u32>],
        width: i64,
        each: impl Fn(&[Vec<u32>]) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let out = histories
            .chunks(256)
            .map(each)
            .collect::<Result<Vec<_>>>()?;
        if out.is_empty() {
            return Ok(Tensor::f_zeros([0, width], (Kind::Float, Device::Cpu))?);
        }
        Ok(Tensor::f_cat(&out, 0)?)
    }

    /// Replaces the item text vectors with `text` (`[items, dim]`, at least as many items as
    /// before, same width): items past the old catalogue start with no ID embedding, so they
    /// rank by their text alone (as cold items do) until the model is trained again.
    pub fn set_text(&mut self, text: &Tensor) -> Result<()> {
        let size = text.size();
        if size.len() != 2 || size[1] != self.net.dim || size[0] < self.net.n_items {
            return Err(InvalidSetting::new(
                "text",
                format!(
                    "item vectors must be [>= {}, {}], got {size:?}",
                    self.net.n_items, self.net.dim
                ),
            )
            .into());
        }
        let text = text.f_to_kind(Kind::Float)?.f_to_device(Device::Cpu)?;
        self.net.set_text(text)
    }

    /// The item text vectors the model reads, `[items, dim]` (as given, not normalised).
    pub fn text(&self) -> Tensor {
        self.net.text.shallow_clone()
    }

    /// The item vectors the scores compare with, L2-normalised `[items, dim]`.
    pub fn item_vectors(&self) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        net::normalize(&self.net.items()?)
    }

    /// Writes `sequential.safetensors` and `sequential.json` into `dir` (each through a
    /// temporary file).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| TuneError::io(dir, e))?;
        weights::write_atomic(&self.net.tensors(), &dir.join("sequential.safetensors"))?;
        write_json(
            &dir.join("sequential.json"),
            &Manifest {
                params: self.params.clone(),
                items: self.net.n_items as usize,
                dim: self.net.dim as usize,
            },
        )
    }

    /// Reads a model written by [`SequentialRecommender::save`].
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("sequential.json");
        let bytes = std::fs::read(&path).map_err(|e| TuneError::io(&path, e))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| TuneError::BadConfig {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        manifest.params.check()?;
        let file = dir.join("sequential.safetensors");
        let saved = weights::read(&file)?;
        let net = Net::from_tensors(saved, &manifest.params, manifest.items, manifest.dim, &file)?;
        Ok(SequentialRecommender {
            net,
            params: manifest.params,
        })
    }
}

#[cfg(test)]
mod tests;
