//! Attention: scaled dot-product, additive (Bahdanau), and multi-head.
//!
//! Built from the fused kernels (`fused::`: batched products, softmax, head split and
//! merge), which have their own backward passes; candle-nn's `softmax_last_dim` and
//! `sdpa` have none.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::VarBuilder;

use super::linear::{linear, Linear};
use super::mask::AttnMask;

/// How the q·k logits are scaled before the softmax.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Scale {
    /// 1/√d_k (Vaswani et al.).
    InvSqrtDk,
    /// No scaling.
    None,
    /// A fixed factor.
    By(f64),
}

impl Scale {
    pub fn factor(&self, d_k: usize) -> f64 {
        match self {
            Scale::InvSqrtDk => 1.0 / (d_k as f64).sqrt(),
            Scale::None => 1.0,
            Scale::By(f) => *f,
        }
    }
}

/// softmax((q kᵀ)·scale + bias) v. Shapes: q (…, Tq, dk), k (…, Tk, dk), v (…, Tk, dv),
/// mask bias broadcastable to (…, Tq, Tk). Returns (output (…, Tq, dv), weights).
pub fn scaled_dot_product(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&AttnMask>,
    scale: f64,
) -> Result<(Tensor, Tensor)> {
    let logits = super::fused::bmm_nt(q, k)?;
    let weights = match mask {
        // The scaling folded into the fused softmax kernel.
        None => super::fused::softmax_scaled(&logits, scale)?,
        Some(_) => attention_weights(&(logits * scale)?, mask)?,
    };
    let out = super::fused::bmm(&weights, v)?;
    Ok((out, weights))
}

/// The output of [`scaled_dot_product`] without the weights: one fused op (forward and
/// backward) on f32 CPU tensors, with the same values and gradients bit for bit; the
/// composed ops otherwise.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&AttnMask>,
    scale: f64,
) -> Result<Tensor> {
    let (bias, keep) = mask_parts(mask);
    match super::fused::attention(q, k, v, scale, bias, keep)? {
        Some(out) => Ok(out),
        None => Ok(scaled_dot_product(q, k, v, mask, scale)?.0),
    }
}

/// A mask's additive bias and its row factor, as the fused attention takes them.
fn mask_parts(mask: Option<&AttnMask>) -> (Option<&Tensor>, Option<&Tensor>) {
    (
        mask.map(|m| &m.bias),
        mask.and_then(|m| m.row_keep.as_ref()),
    )
}

/// Row-wise softmax of scores plus the mask's bias; rows the mask marks empty are zeroed.
pub fn attention_weights(scores: &Tensor, mask: Option<&AttnMask>) -> Result<Tensor> {
    let scores = match mask {
        Some(m) => scores.broadcast_add(&m.bias)?,
        None => scores.clone(),
    };
    let w = super::fused::softmax_last(&scores)?;
    match mask.and_then(|m| m.row_keep.as_ref()) {
        Some(keep) => w.broadcast_mul(keep),
        None => Ok(w),
    }
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct MhaConfig {
    pub d_model: usize,
    pub heads: usize,
    /// Width of each head's queries and keys (usually d_model / heads).
    pub d_k: usize,
    /// Width of each head's values.
    pub d_v: usize,
    /// Use one matrix for both queries and keys (W_Q = W_K).
    pub share_qk: bool,
    pub scale: Scale,
    pub bias: bool,
}

impl MhaConfig {
    /// The standard split: h heads of width d_model / h.
    pub fn new(d_model: usize, heads: usize) -> Self {
        assert!(
            heads > 0 && d_model % heads == 0,
            "d_model must be divisible by heads"
        );
        Self {
            d_model,
            heads,
            d_k: d_model / heads,
            d_v: d_model / heads,
            share_qk: false,
            scale: Scale::InvSqrtDk,
            bias: true,
        }
    }
}

/// Multi-head attention: h parallel heads over projections of width d_k, concatenated
/// and projected back to d_model.
#[derive(Clone, Debug)]
pub struct MultiHeadAttention {
    pub wq: Linear,
    /// `None` when queries and keys share `wq`.
    pub wk: Option<Linear>,
    pub wv: Linear,
    pub wo: Linear,
    pub cfg: MhaConfig,
}

pub fn multi_head_attention(cfg: MhaConfig, vb: VarBuilder) -> Result<MultiHeadAttention> {
    let (d, h) = (cfg.d_model, cfg.heads);
    let wq = linear(d, h * cfg.d_k, cfg.bias, vb.pp("wq"))?;
    let wk = if cfg.share_qk {
        None
    } else {
        Some(linear(d, h * cfg.d_k, cfg.bias, vb.pp("wk"))?)
    };
    let wv = linear(d, h * cfg.d_v, cfg.bias, vb.pp("wv"))?;
    let wo = linear(h * cfg.d_v, d, cfg.bias, vb.pp("wo"))?;
    Ok(MultiHeadAttention {
        wq,
        wk,
        wv,
        wo,
        cfg,
    })
}

impl MultiHeadAttention {
    /// (B, T, h·w) → (B, h, T, w)
    fn split(&self, x: &Tensor) -> Result<Tensor> {
        super::fused::split_heads(x, self.cfg.heads)
    }

    /// Per-head queries and keys, (B, h, T, d_k) each.
    pub fn qk(&self, xq: &Tensor, xkv: &Tensor) -> Result<(Tensor, Tensor)> {
        let q = self.split(&self.wq.forward(xq)?)?;
        Ok((q, self.split(&self.keys(xkv)?)?))
    }

    /// The keys of all heads, (B, Tk, h·d_k): `wk`, or `wq` when they are shared.
    fn keys(&self, xkv: &Tensor) -> Result<Tensor> {
        self.wk.as_ref().unwrap_or(&self.wq).forward(xkv)
    }

    /// Pre-softmax scores (B, h, Tq, Tk), scaled.
    pub fn scores(&self, xq: &Tensor, xkv: &Tensor) -> Result<Tensor> {
        let (q, k) = self.qk(xq, xkv)?;
        super::fused::bmm_nt(&q, &k)? * self.cfg.scale.factor(self.cfg.d_k)
    }

    /// Queries from `xq` (B, Tq, D), keys and values from `xkv` (B, Tk, D).
    /// Returns the output (B, Tq, D) and the weights (B, h, Tq, Tk).
    pub fn forward_with_weights(
        &self,
        xq: &Tensor,
        xkv: &Tensor,
        mask: Option<&AttnMask>,
    ) -> Result<(Tensor, Tensor)> {
        let (q, k) = self.qk(xq, xkv)?;
        let v = self.split(&self.wv.forward(xkv)?)?;
        let (o, w) = scaled_dot_product(&q, &k, &v, mask, self.cfg.scale.factor(self.cfg.d_k))?;
        Ok((self.wo.forward(&super::fused::merge_heads(&o)?)?, w))
    }

    /// The output alone (the attention step fused, see [`attend`]); the same values as
    /// `forward_with_weights`.
    pub fn forward(&self, xq: &Tensor, xkv: &Tensor, mask: Option<&AttnMask>) -> Result<Tensor> {
        let (q, k) = (self.wq.forward(xq)?, self.keys(xkv)?);
        let v = self.wv.forward(xkv)?;
        let scale = self.cfg.scale.factor(self.cfg.d_k);
        let (bias, keep) = mask_parts(mask);
        // The heads stay merged (B, T, h·w) through the fused op; split and merged
        // around `attend` otherwise.
        let o = match super::fused::attention_heads(&q, &k, &v, self.cfg.heads, scale, bias, keep)?
        {
            Some(o) => o,
            None => {
                let (q, k, v) = (self.split(&q)?, self.split(&k)?, self.split(&v)?);
                super::fused::merge_heads(&attend(&q, &k, &v, mask, scale)?)?
            }
        };
        self.wo.forward(&o)
    }
}

/// Additive attention (Bahdanau et al.): score(q, k) = vᵀ tanh(W₁q + W₂k).
/// It materializes a (B, Tq, Tk, d_a) tensor where dot-product attention has (B, Tq, Tk).
#[derive(Clone, Debug)]
pub struct AdditiveAttention {
    pub w1: Linear,
    pub w2: Linear,
    pub v: Linear,
}

pub fn additive_attention(
    d_q: usize,
    d_k: usize,
    d_a: usize,
    vb: VarBuilder,
) -> Result<AdditiveAttention> {
    Ok(AdditiveAttention {
        w1: linear(d_q, d_a, false, vb.pp("w1"))?,
        w2: linear(d_k, d_a, true, vb.pp("w2"))?,
        v: linear(d_a, 1, false, vb.pp("v"))?,
    })
}

impl AdditiveAttention {
    /// Scores (B, Tq, Tk) for q (B, Tq, d_q), k (B, Tk, d_k).
    pub fn scores(&self, q: &Tensor, k: &Tensor) -> Result<Tensor> {
        let a = self.w1.forward(q)?.unsqueeze(2)?; // (B, Tq, 1, da)
        let c = self.w2.forward(k)?.unsqueeze(1)?; // (B, 1, Tk, da)
        let h = a.broadcast_add(&c)?.tanh()?; // (B, Tq, Tk, da)
        self.v.forward(&h)?.squeeze(D::Minus1)
    }

    /// Output (B, Tq, d_v) and weights (B, Tq, Tk).
    pub fn forward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&AttnMask>,
    ) -> Result<(Tensor, Tensor)> {
        let s = self.scores(q, k)?;
        let s = match mask {
            // Mask bias is (B, 1, Tq, Tk): drop the head axis.
            Some(m) => {
                let m = AttnMask {
                    bias: m.bias.squeeze(1)?,
                    row_keep: m.row_keep.as_ref().map(|r| r.squeeze(1)).transpose()?,
                };
                let w = attention_weights(&s, Some(&m))?;
                return Ok((super::fused::bmm(&w, v)?, w));
            }
            None => s,
        };
        let w = super::fused::softmax_last(&s)?;
        Ok((super::fused::bmm(&w, v)?, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::naive;
    use crate::core::{mask::Mask, params::Params};
    use crate::rng::{randn, seeded};
    use candle_core::Device;

    #[test]
    fn scaled_dot_product_matches_loops_with_causal_mask() {
        let dev = Device::Cpu;
        let mut r = seeded(3, 0);
        let (t, d) = (5, 4);
        let q = randn(&mut r, &[1, t, d], 1.0, &dev).unwrap();
        let k = randn(&mut r, &[1, t, d], 1.0, &dev).unwrap();
        let v = randn(&mut r, &[1, t, 3], 1.0, &dev).unwrap();
        let m = Mask::causal(t).to_attn(&dev).unwrap();
        let bias = m.bias.squeeze(0).unwrap();
        let m = crate::core::mask::AttnMask {
            bias,
            row_keep: None,
        };
        let (o, _) = scaled_dot_product(&q, &k, &v, Some(&m), 0.5).unwrap();
        let got = o.squeeze(0).unwrap().to_vec2::<f32>().unwrap();
        let want = naive(
            &q.squeeze(0).unwrap().to_vec2().unwrap(),
            &k.squeeze(0).unwrap().to_vec2().unwrap(),
            &v.squeeze(0).unwrap().to_vec2().unwrap(),
            |i, j| j <= i,
            0.5,
        );
        for (a, b) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn multi_head_matches_per_head_loops() {
        let dev = Device::Cpu;
        let p = Params::new(1);
        let mha = multi_head_attention(MhaConfig::new(8, 2), p.vb()).unwrap();
        let x = randn(&mut seeded(2, 0), &[1, 4, 8], 1.0, &dev).unwrap();
        let out = mha.forward(&x, &x, None).unwrap().squeeze(0).unwrap();
        // Reference: project, run the loop oracle per head, concatenate, project.
        let q = mha
            .wq
            .forward(&x)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let k = mha
            .wk
            .as_ref()
            .unwrap()
            .forward(&x)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let v = mha
            .wv
            .forward(&x)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let cols = |m: &Vec<Vec<f32>>, h: usize| -> Vec<Vec<f32>> {
            m.iter().map(|r| r[h * 4..h * 4 + 4].to_vec()).collect()
        };
        let mut cat = vec![vec![]; 4];
        for h in 0..2 {
            let o = naive(&cols(&q, h), &cols(&k, h), &cols(&v, h), |_, _| true, 0.5);
            for (c, r) in cat.iter_mut().zip(o) {
                c.extend(r);
            }
        }
        let cat = Tensor::new(cat, &dev).unwrap();
        let want = mha.wo.forward(&cat).unwrap();
        let diff = (out - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn shared_qk_scores_are_symmetric() {
        let dev = Device::Cpu;
        let p = Params::new(4);
        let mut cfg = MhaConfig::new(8, 2);
        cfg.share_qk = true;
        cfg.bias = false;
        let mha = multi_head_attention(cfg, p.vb()).unwrap();
        let x = randn(&mut seeded(5, 0), &[2, 6, 8], 1.0, &dev).unwrap();
        let s = mha.scores(&x, &x).unwrap();
        let asym = (s.clone() - s.transpose(2, 3).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(asym < 1e-5);
    }

    #[test]
    fn additive_attention_matches_formula() {
        let dev = Device::Cpu;
        let p = Params::new(6);
        let att = additive_attention(3, 3, 5, p.vb()).unwrap();
        let mut r = seeded(7, 0);
        let q = randn(&mut r, &[1, 2, 3], 1.0, &dev).unwrap();
        let k = randn(&mut r, &[1, 4, 3], 1.0, &dev).unwrap();
        let s = att
            .scores(&q, &k)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let w1 = att.w1.weight().to_vec2::<f32>().unwrap();
        let w2 = att.w2.weight().to_vec2::<f32>().unwrap();
        let b2 = att.w2.bias().unwrap().to_vec1::<f32>().unwrap();
        let v = att.v.weight().to_vec2::<f32>().unwrap();
        let (qv, kv) = (
            q.squeeze(0).unwrap().to_vec2::<f32>().unwrap(),
            k.squeeze(0).unwrap().to_vec2::<f32>().unwrap(),
        );
        for i in 0..2 {
            for j in 0..4 {
                let mut acc = 0f32;
                for a in 0..5 {
                    let h: f32 = (0..3)
                        .map(|c| w1[a][c] * qv[i][c] + w2[a][c] * kv[j][c])
                        .sum::<f32>()
                        + b2[a];
                    acc += v[0][a] * h.tanh();
                }
                assert!((acc - s[i][j]).abs() < 1e-5);
            }
        }
    }
}
