//! The encoder layer: self-attention and FFN sublayers, each with a residual
//! connection and a normalization placed Post-LN (LN(x + f(x)), the original) or
//! Pre-LN (x + f(LN(x))). Residuals and the normalization kind are switchable.
//! Optional dropout on each sublayer's output before the residual add (Vaswani et al.
//! 5.4); rate 0 by default, which leaves the forward pass unchanged.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::attention::{multi_head_attention, MhaConfig, MultiHeadAttention};
use super::dropout::Dropout;
use super::ffn::{ffn, Activation, Ffn};
use super::mask::AttnMask;
use super::norm::{norm, Norm, NormKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Placement {
    /// LN(x + Sublayer(x)), Vaswani et al. 2017.
    PostLn,
    /// x + Sublayer(LN(x)), Xiong et al. 2020.
    PreLn,
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct LayerConfig {
    pub attn: MhaConfig,
    pub d_ff: usize,
    pub act: Activation,
    pub norm: NormKind,
    pub placement: Placement,
    pub residual: bool,
    /// Dropout rate on each sublayer's output, before the residual add and the
    /// post-norm (0 = off, the default).
    pub dropout: f64,
}

impl LayerConfig {
    /// Post-LN, ReLU, residuals on, d_ff = 4·d_model.
    /// The norm a stack of these layers ends with: Pre-LN stacks need a final norm,
    /// Post-LN stacks already end in one.
    pub fn final_norm_kind(&self) -> NormKind {
        if self.placement == Placement::PreLn {
            self.norm
        } else {
            NormKind::None
        }
    }

    pub fn new(d_model: usize, heads: usize) -> Self {
        Self {
            attn: MhaConfig::new(d_model, heads),
            d_ff: 4 * d_model,
            act: Activation::Relu,
            norm: NormKind::Layer,
            placement: Placement::PostLn,
            residual: true,
            dropout: 0.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct EncoderLayer {
    pub attn: MultiHeadAttention,
    pub ffn: Ffn,
    pub norm1: Norm,
    pub norm2: Norm,
    /// Dropout on the attention and FFN sublayer outputs.
    pub drop1: Dropout,
    pub drop2: Dropout,
    pub cfg: LayerConfig,
}

/// A layer whose dropout masks (if `cfg.dropout` > 0) come from seed 0.
pub fn encoder_layer(cfg: LayerConfig, vb: VarBuilder) -> Result<EncoderLayer> {
    encoder_layer_seeded(cfg, 0, 0, vb)
}

/// A layer whose dropout masks come from `seed`; `index` (the layer's position in a
/// stack) selects generator streams of its own.
pub fn encoder_layer_seeded(
    cfg: LayerConfig,
    seed: u64,
    index: u64,
    vb: VarBuilder,
) -> Result<EncoderLayer> {
    let d = cfg.attn.d_model;
    Ok(EncoderLayer {
        attn: multi_head_attention(cfg.attn, vb.pp("attn"))?,
        ffn: ffn(d, cfg.d_ff, cfg.act, vb.pp("ffn"))?,
        norm1: norm(cfg.norm, d, vb.pp("norm1"))?,
        norm2: norm(cfg.norm, d, vb.pp("norm2"))?,
        drop1: Dropout::new(cfg.dropout, seed, DROPOUT_STREAM + 2 * index),
        drop2: Dropout::new(cfg.dropout, seed, DROPOUT_STREAM + 2 * index + 1),
        cfg,
    })
}

/// `n` layers named `layer0`, `layer1`, … under `vb`, dropout masks from `seed`.
pub fn encoder_stack(
    cfg: LayerConfig,
    n: usize,
    seed: u64,
    vb: &VarBuilder,
) -> Result<Vec<EncoderLayer>> {
    (0..n)
        .map(|i| encoder_layer_seeded(cfg, seed, i as u64, vb.pp(format!("layer{i}"))))
        .collect()
}

/// First generator stream used for dropout masks (far from the data streams).
pub const DROPOUT_STREAM: u64 = 1 << 20;

/// Inputs every layer may need beside the hidden states.
#[derive(Clone, Copy, Default)]
pub struct LayerCtx<'a> {
    pub mask: Option<&'a AttnMask>,
    /// (B, T) 0/1 real-token indicator, for masked BatchNorm.
    pub valid: Option<&'a Tensor>,
    pub train: bool,
}

impl EncoderLayer {
    /// One sublayer with its residual and norm, in the configured placement.
    fn sublayer(
        &self,
        x: &Tensor,
        n: &Norm,
        drop: &Dropout,
        c: &LayerCtx,
        f: impl Fn(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let f = |h: &Tensor| drop.forward_t(&f(h)?, c.train);
        match (self.cfg.placement, self.cfg.residual) {
            (Placement::PostLn, true) => n.forward_t(&(x + f(x)?)?, c.valid, c.train),
            (Placement::PostLn, false) => n.forward_t(&f(x)?, c.valid, c.train),
            (Placement::PreLn, true) => x + f(&n.forward_t(x, c.valid, c.train)?)?,
            (Placement::PreLn, false) => f(&n.forward_t(x, c.valid, c.train)?),
        }
    }

    pub fn forward_t(&self, x: &Tensor, c: &LayerCtx) -> Result<Tensor> {
        let x = self.sublayer(x, &self.norm1, &self.drop1, c, |h| {
            self.attn.forward(h, h, c.mask)
        })?;
        self.sublayer(&x, &self.norm2, &self.drop2, c, |h| self.ffn.forward(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::params::Params;
    use crate::rng::{randn, seeded};
    use candle_core::Device;

    #[test]
    fn post_ln_is_ln_of_residual_sum() {
        let p = Params::new(0);
        let layer = encoder_layer(LayerConfig::new(8, 2), p.vb()).unwrap();
        let x = randn(&mut seeded(0, 0), &[2, 5, 8], 1.0, &Device::Cpu).unwrap();
        let c = LayerCtx::default();
        let y = layer.forward_t(&x, &c).unwrap();
        let h = layer
            .norm1
            .forward_t(
                &(&x + layer.attn.forward(&x, &x, None).unwrap()).unwrap(),
                None,
                false,
            )
            .unwrap();
        let want = layer
            .norm2
            .forward_t(&(&h + layer.ffn.forward(&h).unwrap()).unwrap(), None, false)
            .unwrap();
        let d = (y - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-6);
    }
}
