//! A small position-aware attention model for comparing position encodings:
//! token embedding, then Pre-LN blocks (x + Attn(LN(x)), x + FFN(LN(x))), a final
//! LayerNorm and a linear read-out per position. Positions enter in one of four ways:
//! - `Learned`: a trained absolute table added to the embeddings (max_len rows);
//! - `Sinusoidal`: the fixed sinusoidal table added to the embeddings;
//! - `Rotary`: queries and keys rotated by their positions in every layer (RoPE);
//! - `RelativeBias`: a learned, clipped relative bias added to every layer's scores;
//! - `None`: no position information at all.
//!
//! The attention reuses the core's `MultiHeadAttention` projections (`qk`, `wv`, `wo`)
//! and `attention_weights`, adding the rotation or the bias between them.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, Init, VarBuilder};

use super::attention::{attention_weights, multi_head_attention, MhaConfig, MultiHeadAttention};
use super::ffn::{ffn, Activation, Ffn};
use super::linear::{linear, Linear};
use super::mask::{AttnMask, Mask};
use super::norm::{layer_norm, LayerNorm};
use super::position::sinusoidal;
use super::relative::{relative_bias, RelativeBias};
use super::rope::Rope;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PosEncoding {
    None,
    Learned,
    Sinusoidal,
    Rotary,
    RelativeBias,
}

impl PosEncoding {
    pub fn name(&self) -> &'static str {
        match self {
            PosEncoding::None => "none",
            PosEncoding::Learned => "learned absolute",
            PosEncoding::Sinusoidal => "sinusoidal",
            PosEncoding::Rotary => "rotary",
            PosEncoding::RelativeBias => "relative bias",
        }
    }
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct PosModelConfig {
    pub vocab_in: usize,
    pub vocab_out: usize,
    /// Rows of the learned / sinusoidal table: the longest sequence the model accepts.
    pub max_len: usize,
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub d_ff: usize,
    pub pos: PosEncoding,
    /// Rotary frequency base.
    pub rope_base: f64,
    /// Relative bias: distances clipped to [−K, K].
    pub rel_max_dist: usize,
    /// Causal self-attention (query i sees keys j ≤ i).
    pub causal: bool,
}

#[derive(Clone, Debug)]
pub struct PosAttention {
    pub mha: MultiHeadAttention,
    pub rope: Option<Rope>,
    pub rel: Option<RelativeBias>,
}

impl PosAttention {
    /// Pre-softmax scores (B, h, T, T), scaled, with the rotation / bias applied.
    pub fn scores(&self, x: &Tensor) -> Result<Tensor> {
        let t = x.dim(1)?;
        let (q, k) = self.mha.qk(x, x)?;
        let (q, k) = match &self.rope {
            Some(r) => (r.apply(&q, 0)?, r.apply(&k, 0)?),
            None => (q, k),
        };
        let s = (super::fused::bmm_nt(&q, &k)? * self.mha.cfg.scale.factor(self.mha.cfg.d_k))?;
        match &self.rel {
            Some(rb) => s.broadcast_add(&rb.bias(t, t)?),
            None => Ok(s),
        }
    }

    pub fn forward(&self, x: &Tensor, mask: Option<&AttnMask>) -> Result<Tensor> {
        let w = attention_weights(&self.scores(x)?, mask)?;
        let v = super::fused::split_heads(&self.mha.wv.forward(x)?, self.mha.cfg.heads)?;
        self.mha
            .wo
            .forward(&super::fused::merge_heads(&super::fused::bmm(&w, &v)?)?)
    }
}

#[derive(Clone, Debug)]
pub struct PosBlock {
    pub attn: PosAttention,
    pub ffn: Ffn,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
}

#[derive(Clone, Debug)]
pub struct PosModel {
    pub embed: Embedding,
    /// Additive absolute table (max_len, d) for `Learned` and `Sinusoidal`.
    pub pos: Option<Tensor>,
    pub blocks: Vec<PosBlock>,
    pub final_norm: LayerNorm,
    pub head: Linear,
    pub cfg: PosModelConfig,
}

pub fn pos_model(cfg: PosModelConfig, vb: VarBuilder) -> Result<PosModel> {
    let d = cfg.d_model;
    let mha_cfg = MhaConfig::new(d, cfg.heads);
    let table = vb.get_with_hints(
        (cfg.vocab_in, d),
        "embed.weight",
        Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
    )?;
    let pos = match cfg.pos {
        PosEncoding::Learned => Some(vb.get_with_hints(
            (cfg.max_len, d),
            "pos.weight",
            Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        )?),
        PosEncoding::Sinusoidal => Some(sinusoidal(cfg.max_len, d, vb.device())?),
        _ => None,
    };
    let mut blocks = vec![];
    for l in 0..cfg.layers {
        let vb = vb.pp(format!("block{l}"));
        let rope = match cfg.pos {
            PosEncoding::Rotary => Some(Rope::new(mha_cfg.d_k, cfg.rope_base)?),
            _ => None,
        };
        let rel = match cfg.pos {
            PosEncoding::RelativeBias => {
                Some(relative_bias(cfg.heads, cfg.rel_max_dist, vb.pp("rel"))?)
            }
            _ => None,
        };
        blocks.push(PosBlock {
            attn: PosAttention {
                mha: multi_head_attention(mha_cfg, vb.pp("attn"))?,
                rope,
                rel,
            },
            ffn: ffn(d, cfg.d_ff, Activation::Relu, vb.pp("ffn"))?,
            norm1: layer_norm(d, vb.pp("norm1"))?,
            norm2: layer_norm(d, vb.pp("norm2"))?,
        });
    }
    Ok(PosModel {
        embed: Embedding::new(table, d),
        pos,
        blocks,
        final_norm: layer_norm(d, vb.pp("final_norm"))?,
        head: linear(d, cfg.vocab_out, true, vb.pp("head"))?,
        cfg,
    })
}

impl PosModel {
    /// Logits (B, T, vocab_out) for tokens (B, T).
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let t = tokens.dim(1)?;
        if t > self.cfg.max_len && self.pos.is_some() {
            candle_core::bail!(
                "sequence of length {t} exceeds the position table ({})",
                self.cfg.max_len
            )
        }
        let mut x = self.embed.forward(tokens)?;
        if let Some(p) = &self.pos {
            x = x.broadcast_add(&p.narrow(0, 0, t)?)?;
        }
        let mask = if self.cfg.causal {
            Some(Mask::causal(t).to_attn(tokens.device())?)
        } else {
            None
        };
        for b in &self.blocks {
            let h = b.attn.forward(&b.norm1.forward(&x)?, mask.as_ref())?;
            x = (x + h)?;
            let h = b.ffn.forward(&b.norm2.forward(&x)?)?;
            x = (x + h)?;
        }
        self.head.forward(&self.final_norm.forward(&x)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::params::Params;
    use crate::train::task::Batch;
    use crate::train::trainer::{masked_loss, vars_without_gradient};
    use candle_core::Device;

    fn cfg(pos: PosEncoding) -> PosModelConfig {
        PosModelConfig {
            vocab_in: 7,
            vocab_out: 7,
            max_len: 12,
            d_model: 16,
            heads: 2,
            layers: 2,
            d_ff: 32,
            pos,
            rope_base: 10000.0,
            rel_max_dist: 3,
            causal: true,
        }
    }

    #[test]
    fn every_variable_gets_a_gradient() {
        let dev = Device::Cpu;
        for pos in [
            PosEncoding::None,
            PosEncoding::Learned,
            PosEncoding::Sinusoidal,
            PosEncoding::Rotary,
            PosEncoding::RelativeBias,
        ] {
            let p = Params::new(0);
            let m = pos_model(cfg(pos), p.vb()).unwrap();
            let (b, t) = (3, 12);
            let x: Vec<u32> = (0..b * t).map(|i| (i * 5 % 7) as u32).collect();
            let y: Vec<u32> = (0..b * t).map(|i| (i * 3 % 7) as u32).collect();
            let batch = Batch::from_vecs(x, y, vec![1.0; b * t], b, t, None, &dev).unwrap();
            let (loss, _, _) = masked_loss(&m.forward(&batch.x).unwrap(), &batch).unwrap();
            let dead = vars_without_gradient(&p, &loss).unwrap();
            assert!(dead.is_empty(), "{pos:?}: no gradient for {dead:?}");
        }
    }

    /// With no positions and no causal mask the model is permutation-equivariant;
    /// with rotary positions it is not.
    #[test]
    fn order_blind_without_positions() {
        let dev = Device::Cpu;
        for (pos, blind) in [(PosEncoding::None, true), (PosEncoding::Rotary, false)] {
            let mut c = cfg(pos);
            c.causal = false;
            let p = Params::new(1);
            let m = pos_model(c, p.vb()).unwrap();
            let x = Tensor::new(&[[1u32, 4, 2, 6, 0, 3]], &dev).unwrap();
            let perm = [3u32, 0, 5, 1, 4, 2];
            let pi = Tensor::new(&perm, &dev).unwrap();
            let a = m.forward(&x.index_select(&pi, 1).unwrap()).unwrap();
            let b = m.forward(&x).unwrap().index_select(&pi, 1).unwrap();
            let err = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert_eq!(err < 1e-5, blind, "{pos:?}: {err}");
        }
    }
}
