//! The BERT encoder, with parameter names that match Hugging Face's `BertModel` one to one.

use tch::{nn, Kind, Tensor};

use crate::config::BertConfig;
use crate::error::Result;
use crate::error::TuneError;
use crate::int8::{self, Int8Layer};
use crate::layers::{cast, LayerNorm, Linear, LoraParams, Precision, Vars};

#[derive(Debug)]
struct Embeddings {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    norm: LayerNorm,
}

#[derive(Debug)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// A BERT encoder whose variables live in a `VarStore` under Hugging Face's names
/// (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`, ...).
#[derive(Debug)]
pub struct BertModel {
    config: BertConfig,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    /// The linear layers in int8 codes, made by [`BertModel::quantize`] for
    /// [`Precision::Int8`].
    int8: Option<Vec<Int8Layer>>,
}

impl BertModel {
    /// Creates the variables under `p` (randomly initialised as BERT does); LoRA adapters, when
    /// configured, under `lora` with the same module paths.
    pub fn new(p: &nn::Path, config: &BertConfig, lora: Option<(&nn::Path, &LoraParams)>) -> Self {
        Self::build(p, config, lora, &mut Vars::Random)
    }

    pub(crate) fn build(
        p: &nn::Path,
        config: &BertConfig,
        lora: Option<(&nn::Path, &LoraParams)>,
        vars: &mut Vars,
    ) -> Self {
        let h = config.hidden_size;
        let init = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let e = p / "embeddings";
        let embeddings = Embeddings {
            word: vars.var(
                &(&e / "word_embeddings"),
                "weight",
                &[config.vocab_size, h],
                init,
            ),
            position: vars.var(
                &(&e / "position_embeddings"),
                "weight",
                &[config.max_position_embeddings, h],
                init,
            ),
            token_type: vars.var(
                &(&e / "token_type_embeddings"),
                "weight",
                &[config.type_vocab_size, h],
                init,
            ),
            norm: LayerNorm::new(&e, h, config.layer_norm_eps, vars),
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let name = format!("encoder.layer.{i}");
                let l = p / "encoder" / "layer" / i;
                let lora_at = |module: &str| -> Option<(nn::Path, &LoraParams)> {
                    let (lp, cfg) = lora?;
                    let full = format!("{name}.{module}");
                    cfg.targets(&full).then(|| {
                        let mut q = lp / "encoder" / "layer" / i;
                        for part in module.split('.').take(module.split('.').count() - 1) {
                            q = &q / part;
                        }
                        (q, cfg)
                    })
                };
                let leaf = |module: &str| module.rsplit('.').next().unwrap_or(module).to_string();
                let mk = |module: &str, parent: &nn::Path, dims: (i64, i64), vars: &mut Vars| {
                    let l = lora_at(module);
                    Linear::new(
                        parent,
                        &leaf(module),
                        dims,
                        vars,
                        l.as_ref().map(|(q, c)| (q, *c)),
                    )
                };
                let att_self = &l / "attention" / "self";
                let att_out = &l / "attention" / "output";
                let inter = &l / "intermediate";
                let out = &l / "output";
                let ffn = config.intermediate_size;
                Layer {
                    query: mk("attention.self.query", &att_self, (h, h), vars),
                    key: mk("attention.self.key", &att_self, (h, h), vars),
                    value: mk("attention.self.value", &att_self, (h, h), vars),
                    attention_out: mk("attention.output.dense", &att_out, (h, h), vars),
                    attention_norm: LayerNorm::new(&att_out, h, config.layer_norm_eps, vars),
                    intermediate: mk("intermediate.dense", &inter, (h, ffn), vars),
                    output: mk("output.dense", &out, (ffn, h), vars),
                    output_norm: LayerNorm::new(&out, h, config.layer_norm_eps, vars),
                }
            })
            .collect();
        BertModel {
            config: config.clone(),
            embeddings,
            layers,
            int8: None,
        }
    }

    /// Codes every linear layer's weights (LoRA updates folded in) for [`Precision::Int8`];
    /// again after the weights change. The fp32 weights stay as they are.
    pub(crate) fn quantize(&mut self) -> Result<()> {
        let mut coded = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            let name = |module: &str| format!("encoder.layer.{i}.{module}");
            coded.push(Int8Layer {
                qkv: int8::quantize(
                    &[
                        (&l.query, name("attention.self.query")),
                        (&l.key, name("attention.self.key")),
                        (&l.value, name("attention.self.value")),
                    ],
                    &name("attention.self.query+key+value"),
                )?,
                attention_out: int8::quantize(
                    &[(&l.attention_out, name("attention.output.dense"))],
                    &name("attention.output.dense"),
                )?,
                intermediate: int8::quantize(
                    &[(&l.intermediate, name("intermediate.dense"))],
                    &name("intermediate.dense"),
                )?,
                output: int8::quantize(
                    &[(&l.output, name("output.dense"))],
                    &name("output.dense"),
                )?,
            });
        }
        self.int8 = Some(coded);
        Ok(())
    }

    /// Drops the int8 codes (the model is back to its fp32 weights alone).
    pub(crate) fn dequantize(&mut self) {
        self.int8 = None;
    }

    /// The architecture.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Token states `[batch, len, hidden]` in fp32. `mask` is 1 for real tokens, 0 for padding.
    /// Dropout is active only when `train` is true.
    pub fn forward(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        precision: Precision,
        train: bool,
    ) -> Result<Tensor> {
        let cfg = &self.config;
        let kind = precision.kind();
        let (b, len) = (ids.size()[0], ids.size()[1]);
        let e = &self.embeddings;
        let positions = Tensor::f_arange(len, (Kind::Int64, ids.device()))?;
        let x = Tensor::f_embedding(
            &cast(&e.word, Kind::Float)?,
            ids,
            cfg.pad_token_id,
            false,
            false,
        )?
        .f_add(&cast(&e.position, Kind::Float)?.f_index_select(0, &positions)?)?
        .f_add(&cast(&e.token_type, Kind::Float)?.f_get(0)?)?;
        let mut x = e
            .norm
            .forward(&x)?
            .f_dropout(cfg.hidden_dropout_prob, train)?;
        // Boolean key mask [b, 1, 1, len]: true where attention may look.
        let attend = mask.f_ne(0)?.f_view([b, 1, 1, len])?;
        let heads = cfg.num_attention_heads;
        let head_dim = cfg.hidden_size / heads;
        let attn_dropout = if train {
            cfg.attention_probs_dropout_prob
        } else {
            0.0
        };
        // Int8 codes encode; training and anything with gradients runs on the fp32 weights.
        let int8 = match (precision, train) {
            (Precision::Int8, false) => {
                Some(self.int8.as_deref().ok_or_else(|| TuneError::Quantize {
                    layer: "encoder".into(),
                    detail: "not coded: set the precision to int8 through the encoder".into(),
                })?)
            }
            _ => None,
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let coded = int8.map(|c| &c[i]);
            let name = |module: &str| format!("encoder.layer.{i}.{module}");
            let split = |t: Tensor| -> Result<Tensor> {
                Ok(t.f_view([b, len, heads, head_dim])?.f_transpose(1, 2)?)
            };
            // The three projections as one product where they can be (int8 codes, or fp32
            // weights without adapters), split into heads the same way.
            let fused = if let Some(c) = coded {
                Some(int8::apply(&c.qkv, &x, &name("attention.self"))?)
            } else if layer.query.lora.is_none()
                && layer.key.lora.is_none()
                && layer.value.lora.is_none()
            {
                let w = Tensor::f_cat(
                    &[
                        cast(&layer.query.weight, kind)?,
                        cast(&layer.key.weight, kind)?,
                        cast(&layer.value.weight, kind)?,
                    ],
                    0,
                )?;
                let bias = Tensor::f_cat(
                    &[
                        cast(&layer.query.bias, kind)?,
                        cast(&layer.key.bias, kind)?,
                        cast(&layer.value.bias, kind)?,
                    ],
                    0,
                )?;
                Some(cast(&x, kind)?.f_linear(&w, Some(&bias))?)
            } else {
                None
            };
            let (q, k, v) = match fused {
                Some(qkv) => {
                    let qkv = qkv
                        .f_view([b, len, 3, heads, head_dim])?
                        .f_permute([2, 0, 3, 1, 4])?;
                    (qkv.f_get(0)?, qkv.f_get(1)?, qkv.f_get(2)?)
                }
                None => (
                    split(layer.query.forward(&x, kind, train)?)?,
                    split(layer.key.forward(&x, kind, train)?)?,
                    split(layer.value.forward(&x, kind, train)?)?,
                ),
            };
            let a = Tensor::f_scaled_dot_product_attention(
                &q,
                &k,
                &v,
                Some(&attend),
                attn_dropout,
                false,
                None,
                false,
            )?
            .f_transpose(1, 2)?
            .f_reshape([b, len, cfg.hidden_size])?;
            let a = match coded {
                Some(c) => int8::apply(&c.attention_out, &a, &name("attention.output.dense"))?,
                None => layer.attention_out.forward(&a, kind, train)?,
            }
            .f_dropout(cfg.hidden_dropout_prob, train)?;
            let h = layer.attention_norm.forward(&a.f_add(&x)?)?;
            let f = match coded {
                Some(c) => int8::apply(&c.intermediate, &h, &name("intermediate.dense"))?,
                None => layer.intermediate.forward(&h, kind, train)?,
            };
            let f = match cfg.hidden_act.as_str() {
                "relu" => f.f_relu()?,
                "gelu_new" => f.f_gelu("tanh")?,
                _ => f.f_gelu("none")?,
            };
            let o = match coded {
                Some(c) => int8::apply(&c.output, &f, &name("output.dense"))?,
                None => layer.output.forward(&f, kind, train)?,
            }
            .f_dropout(cfg.hidden_dropout_prob, train)?;
            x = layer.output_norm.forward(&o.f_add(&h)?)?;
        }
        Ok(x)
    }

    /// Folds every LoRA adapter into its base weight.
    pub fn merge_lora(&mut self) -> Result<()> {
        for l in &mut self.layers {
            for lin in [
                &mut l.query,
                &mut l.key,
                &mut l.value,
                &mut l.attention_out,
                &mut l.intermediate,
                &mut l.output,
            ] {
                lin.merge()?;
            }
        }
        Ok(())
    }

    /// Whether any LoRA adapter is attached.
    pub fn has_lora(&self) -> bool {
        self.layers.iter().any(|l| {
            [
                &l.query,
                &l.key,
                &l.value,
                &l.attention_out,
                &l.intermediate,
                &l.output,
            ]
            .iter()
            .any(|lin| lin.lora.is_some())
        })
    }
}
