//! The tensors of the sequential model and its forward pass.

use std::collections::BTreeMap;
use std::path::Path;

use tch::{Device, Kind, Tensor};

use super::SequentialParams;
use crate::error::{Result, TuneError};

const FLOAT: (Kind, Device) = (Kind::Float, Device::Cpu);

/// Logits per unit of `repeat.bias`.
const REPEAT_SCALE: f64 = 50.0;

#[derive(Debug)]
pub(super) struct Net {
    /// Item text vectors `[items, dim]`, fixed.
    pub text: Tensor,
    /// Trained tensors by name (`repeat.bias` and biases are not weight-decayed).
    pub vars: BTreeMap<String, Tensor>,
    pub n_items: i64,
    pub dim: i64,
    hidden: i64,
    heads: i64,
    layers: usize,
    max_history: i64,
    dropout: f64,
    temperature: f64,
}

/// The shapes of every trained tensor for these settings.
fn shapes(p: &SequentialParams, items: i64, dim: i64) -> Vec<(String, Vec<i64>)> {
    let h = p.hidden as i64;
    let mut s: Vec<(String, Vec<i64>)> = vec![
        ("item_map.weight".into(), vec![dim, dim]),
        ("input.weight".into(), vec![h, dim]),
        ("input.bias".into(), vec![h]),
        ("position.weight".into(), vec![p.max_history as i64, h]),
        ("input_LayerNorm.weight".into(), vec![h]),
        ("input_LayerNorm.bias".into(), vec![h]),
        ("output.weight".into(), vec![dim, h]),
        ("output.bias".into(), vec![dim]),
    ];
    if p.item_ids {
        s.push(("item_ids.weight".into(), vec![items, dim]));
    }
    if p.repeat_penalty {
        s.push(("repeat.bias".into(), vec![1]));
    }
    for i in 0..p.layers {
        let b = |n: &str| format!("blocks.{i}.{n}");
        s.extend([
            (b("qkv.weight"), vec![3 * h, h]),
            (b("qkv.bias"), vec![3 * h]),
            (b("attention_out.weight"), vec![h, h]),
            (b("attention_out.bias"), vec![h]),
            (b("attention_LayerNorm.weight"), vec![h]),
            (b("attention_LayerNorm.bias"), vec![h]),
            (b("intermediate.weight"), vec![2 * h, h]),
            (b("intermediate.bias"), vec![2 * h]),
            (b("output.weight"), vec![h, 2 * h]),
            (b("output.bias"), vec![h]),
            (b("output_LayerNorm.weight"), vec![h]),
            (b("output_LayerNorm.bias"), vec![h]),
        ]);
    }
    s
}

/// The starting value of a tensor: identity item map, zero ID embeddings and output (so the
/// untrained model is the mean of the history), PyTorch-like uniform elsewhere.
fn initial(name: &str, dims: &[i64]) -> Result<Tensor> {
    let uniform = |bound: f64| -> Result<Tensor> {
        Ok(Tensor::f_rand(dims, FLOAT)?
            .f_mul_scalar(2.0 * bound)?
            .f_sub_scalar(bound)?)
    };
    Ok(if name == "item_map.weight" {
        Tensor::f_eye(dims[0], FLOAT)?
    } else if name.ends_with("LayerNorm.weight") {
        Tensor::f_ones(dims, FLOAT)?
    } else if name.ends_with(".bias") || name.starts_with("output.") || name == "item_ids.weight" {
        Tensor::f_zeros(dims, FLOAT)?
    } else if name == "position.weight" {
        Tensor::f_randn(dims, FLOAT)?.f_mul_scalar(0.02)?
    } else {
        uniform(1.0 / (dims[1] as f64).sqrt())?
    })
}

pub(super) fn normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.f_norm_scalaropt_dim(2, [-1i64].as_slice(), true)?;
    Ok(x.f_div(&norm.f_clamp_min(1e-12)?)?)
}

/// A left-padded batch of histories: ids `[b, len]` with `pad` where there is no item (and
/// for ids outside the catalogue).
pub(super) fn padded(histories: &[&[u32]], pad: i64) -> Result<Tensor> {
    let len = histories.iter().map(|h| h.len()).max().unwrap_or(0).max(1);
    let mut ids = vec![pad; histories.len() * len];
    for (row, h) in histories.iter().enumerate() {
        let start = row * len + len - h.len();
        for (slot, &item) in ids[start..].iter_mut().zip(h.iter()) {
            *slot = i64::from(item).min(pad);
        }
    }
    Ok(Tensor::from_slice(&ids).f_view([histories.len() as i64, len as i64])?)
}

impl Net {
    pub fn new(text: Tensor, p: &SequentialParams) -> Result<Self> {
        let (items, dim) = (text.size()[0], text.size()[1]);
        let vars = shapes(p, items, dim)
            .into_iter()
            .map(|(name, dims)| {
                let t = initial(&name, &dims)?.set_requires_grad(true);
                Ok((name, t))
            })
            .collect::<Result<_>>()?;
        Ok(Self::with(text, vars, p))
    }

    fn with(text: Tensor, vars: BTreeMap<String, Tensor>, p: &SequentialParams) -> Self {
        Net {
            n_items: text.size()[0],
            dim: text.size()[1],
            text,
            vars,
            hidden: p.hidden as i64,
            heads: p.heads as i64,
            layers: p.layers,
            max_history: p.max_history as i64,
            dropout: p.dropout,
            temperature: p.temperature,
        }
    }

    /// Rebuilds the model from saved tensors, checking every name and shape.
    pub fn from_tensors(
        saved: Vec<(String, Tensor)>,
        p: &SequentialParams,
        items: usize,
        dim: usize,
        file: &Path,
    ) -> Result<Self> {
        let mut saved: BTreeMap<String, Tensor> = saved.into_iter().collect();
        let mut expected = shapes(p, items as i64, dim as i64);
        expected.push(("text".into(), vec![items as i64, dim as i64]));
        let missing: Vec<String> = expected
            .iter()
            .filter(|(n, _)| !saved.contains_key(n))
            .map(|(n, _)| n.clone())
            .collect();
        if !missing.is_empty() {
            return Err(TuneError::MissingTensors {
                path: file.to_path_buf(),
                names: missing,
            });
        }
        for (name, dims) in &expected {
            let found = saved[name].size();
            if &found != dims {
                return Err(TuneError::ShapeMismatch {
                    path: file.to_path_buf(),
                    name: name.clone(),
                    expected: dims.clone(),
                    found,
                });
            }
        }
        let text = saved
            .remove("text")
            .expect("checked")
            .f_to_kind(Kind::Float)?;
        let mut vars = BTreeMap::new();
        for (name, _) in expected.into_iter().filter(|(n, _)| n != "text") {
            let t = saved.remove(&name).expect("checked");
            vars.insert(name, t.f_to_kind(Kind::Float)?.set_requires_grad(true));
        }
        Ok(Self::with(text, vars, p))
    }

    /// Every tensor to save, the text vectors included.
    pub fn tensors(&self) -> BTreeMap<String, Tensor> {
        let mut all: BTreeMap<String, Tensor> = self
            .vars
            .iter()
            .map(|(n, t)| (n.clone(), t.detach()))
            .collect();
        all.insert("text".into(), self.text.shallow_clone());
        all
    }

    fn v(&self, name: &str) -> &Tensor {
        &self.vars[name]
    }

    fn layer_norm(&self, x: &Tensor, prefix: &str) -> Result<Tensor> {
        Ok(x.f_layer_norm(
            [self.hidden],
            Some(self.v(&format!("{prefix}LayerNorm.weight"))),
            Some(self.v(&format!("{prefix}LayerNorm.bias"))),
            1e-12,
            true,
        )?)
    }

    fn linear(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        Ok(x.f_linear(
            self.v(&format!("{name}.weight")),
            Some(self.v(&format!("{name}.bias"))),
        )?)
    }

    /// Item vectors `[items, dim]` before normalisation.
    pub fn items(&self) -> Result<Tensor> {
        let e = self.text.f_matmul(self.v("item_map.weight"))?;
        Ok(match self.vars.get("item_ids.weight") {
            Some(ids) => e.f_add(ids)?,
            None => e,
        })
    }

    /// The shopper after each step of `ids` (`[b, len]`, left-padded with `n_items`):
    /// `[b, len, dim]`, and the item vectors `[items, dim]`.
    pub fn states(&self, ids: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        let items = self.items()?;
        Ok((self.states_over(ids, train, &items)?, items))
    }

    /// As [`Net::states`], over item vectors already computed.
    pub fn states_over(&self, ids: &Tensor, train: bool, items: &Tensor) -> Result<Tensor> {
        let (b, len, d) = (ids.size()[0], ids.size()[1], self.dim);
        let table = Tensor::f_cat(&[items, &Tensor::f_zeros([1, d], FLOAT)?], 0)?;
        let x = table
            .f_index_select(0, &ids.f_flatten(0, 1)?)?
            .f_view([b, len, d])?;
        self.read(x, ids, train)
    }

    /// As [`Net::states`] without the whole catalogue: only the history's items are mapped
    /// (a request reads a few items; mapping all of them would cost most of its time).
    pub fn history_states(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, len, d) = (ids.size()[0], ids.size()[1], self.dim);
        let flat = ids.f_flatten(0, 1)?;
        let real = flat
            .f_ne(self.n_items)?
            .f_unsqueeze(-1)?
            .f_to_kind(Kind::Float)?;
        let clamped = flat.f_clamp_max(self.n_items - 1)?;
        let mut x = self
            .text
            .f_index_select(0, &clamped)?
            .f_matmul(self.v("item_map.weight"))?;
        if let Some(table) = self.vars.get("item_ids.weight") {
            x = x.f_add(&table.f_index_select(0, &clamped)?)?;
        }
        self.read(x.f_mul(&real)?.f_view([b, len, d])?, ids, false)
    }

    /// The transformer over the history's item vectors `x` (`[b, len, dim]`, zero where `ids`
    /// is padding).
    fn read(&self, x: Tensor, ids: &Tensor, train: bool) -> Result<Tensor> {
        let (b, len) = (ids.size()[0], ids.size()[1]);
        let (h, p) = (self.hidden, self.dropout);
        let real = ids
            .f_ne(self.n_items)?
            .f_unsqueeze(-1)?
            .f_to_kind(Kind::Float)?;
        // The mean of the items so far: the zero-shot model, which the transformer corrects.
        let mean = x
            .f_mul(&real)?
            .f_cumsum(1, Kind::Float)?
            .f_div(&real.f_cumsum(1, Kind::Float)?.f_clamp_min(1.0)?)?;
        // Left padding puts the newest item at the last position whatever the length.
        let positions = self
            .v("position.weight")
            .f_narrow(0, self.max_history - len, len)?;
        let x = self
            .linear(&x.f_dropout(p, train)?, "input")?
            .f_add(&positions)?;
        let mut x = self
            .layer_norm(&x, "input_")?
            .f_dropout(p, train)?
            .f_mul(&real)?;
        // Causal, and blind to the left padding, so that a history's state does not depend
        // on how long the others in its batch are; every position still sees itself (a row
        // with nothing to attend to would be NaN).
        let causal = Tensor::f_ones([len, len], (Kind::Bool, Device::Cpu))?.f_tril(0)?;
        let keys = ids.f_ne(self.n_items)?.f_view([b, 1, 1, len])?;
        let itself = Tensor::f_eye(len, (Kind::Bool, Device::Cpu))?;
        let mask = keys.f_logical_or(&itself)?.f_logical_and(&causal)?;
        let head_dim = h / self.heads;
        for i in 0..self.layers {
            let block = format!("blocks.{i}.");
            let qkv = self
                .linear(&x, &format!("{block}qkv"))?
                .f_view([b, len, 3, self.heads, head_dim])?
                .f_permute([2, 0, 3, 1, 4])?;
            let a = Tensor::f_scaled_dot_product_attention(
                &qkv.f_get(0)?,
                &qkv.f_get(1)?,
                &qkv.f_get(2)?,
                Some(&mask),
                if train { p } else { 0.0 },
                false,
                None,
                false,
            )?
            .f_transpose(1, 2)?
            .f_reshape([b, len, h])?;
            let a = self
                .linear(&a, &format!("{block}attention_out"))?
                .f_dropout(p, train)?;
            let y = self.layer_norm(&x.f_add(&a)?, &format!("{block}attention_"))?;
            let f = self
                .linear(&y, &format!("{block}intermediate"))?
                .f_gelu("none")?
                .f_dropout(p, train)?;
            let f = self
                .linear(&f, &format!("{block}output"))?
                .f_dropout(p, train)?;
            x = self.layer_norm(&y.f_add(&f)?, &format!("{block}output_"))?;
        }
        Ok(mean.f_add(&self.linear(&x, "output")?)?)
    }

    /// Cosine / temperature of `users` `[n, dim]` against `items`, plus the repeat penalty
    /// where `(row, item)` pairs of `seen` say the item is in that row's history.
    pub fn logits(&self, users: &Tensor, items: &Tensor, seen: &[(i64, i64)]) -> Result<Tensor> {
        self.logits_unit(users, &normalize(items)?, seen)
    }

    /// As [`Net::logits`], the items already L2-normalised (private training, whose item
    /// vectors do not change, normalises them once).
    pub fn logits_unit(
        &self,
        users: &Tensor,
        unit_items: &Tensor,
        seen: &[(i64, i64)],
    ) -> Result<Tensor> {
        let mut logits = normalize(users)?
            .f_matmul(&unit_items.f_transpose(0, 1)?)?
            .f_div_scalar(self.temperature)?;
        if let (Some(repeat), false) = (self.vars.get("repeat.bias"), seen.is_empty()) {
            let rows: Vec<i64> = seen.iter().map(|s| s.0).collect();
            let cols: Vec<i64> = seen.iter().map(|s| s.1).collect();
            let mask = Tensor::f_zeros(logits.size(), FLOAT)?.f_index_put(
                &[
                    Some(Tensor::from_slice(&rows)),
                    Some(Tensor::from_slice(&cols)),
                ],
                &Tensor::from(1.0f32),
                false,
            )?;
            // Scaled so that Adam's bounded steps can move it as far as the logits reach
            // (1 / temperature) within an epoch or two.
            logits = logits.f_add(&mask.f_mul(&repeat.f_mul_scalar(REPEAT_SCALE)?)?)?;
        }
        Ok(logits)
    }

    /// New text vectors (as many items or more): new items get a zero ID embedding.
    pub fn set_text(&mut self, text: Tensor) -> Result<()> {
        let (items, added) = (text.size()[0], text.size()[0] - self.n_items);
        if let Some(ids) = self.vars.get("item_ids.weight") {
            let grown = Tensor::f_cat(
                &[ids.detach(), Tensor::f_zeros([added, self.dim], FLOAT)?],
                0,
            )?
            .set_requires_grad(true);
            self.vars.insert("item_ids.weight".into(), grown);
        }
        self.text = text;
        self.n_items = items;
        Ok(())
    }

    /// The shopper after the last step of each history, unit rows (zeros where empty).
    pub fn last_users(&self, histories: &[Vec<u32>]) -> Result<Tensor> {
        let ids = padded(&self.recent(histories), self.n_items)?;
        let last = self.history_states(&ids)?.f_select(1, ids.size()[1] - 1)?;
        without_empty(&normalize(&last)?, histories)
    }

    /// The shopper after the last step of each history (its newest `max_history` items), and
    /// the item vectors.
    fn last_states(&self, histories: &[Vec<u32>]) -> Result<(Tensor, Tensor)> {
        let ids = padded(&self.recent(histories), self.n_items)?;
        let (users, items) = self.states(&ids, false)?;
        Ok((users.f_select(1, ids.size()[1] - 1)?, items))
    }

    /// The newest `max_history` items of each history.
    fn recent<'a>(&self, histories: &'a [Vec<u32>]) -> Vec<&'a [u32]> {
        histories
            .iter()
            .map(|h| &h[h.len().saturating_sub(self.max_history as usize)..])
            .collect()
    }

    /// Scores of every item after the last step of each history `[histories, items]`.
    pub fn last_scores(&self, histories: &[Vec<u32>]) -> Result<Tensor> {
        let (last, items) = self.last_states(histories)?;
        let seen: Vec<(i64, i64)> = histories
            .iter()
            .enumerate()
            .flat_map(|(row, h)| h.iter().map(move |&i| (row as i64, i64::from(i))))
            .filter(|&(_, i)| i < self.n_items)
            .collect();
        let scores = self.logits(&last, &items, &seen)?;
        without_empty(&scores, histories)
    }
}

/// `rows` (one per history) with the rows of empty histories set to 0.
fn without_empty(rows: &Tensor, histories: &[Vec<u32>]) -> Result<Tensor> {
    let known: Vec<f32> = histories
        .iter()
        .map(|h| if h.is_empty() { 0.0 } else { 1.0 })
        .collect();
    Ok(rows.f_mul(&Tensor::from_slice(&known).f_unsqueeze(1)?)?)
}
