//! The real-data language model: the core's encoder layers with a causal mask (or a
//! padding mask for masked modelling), token embeddings optionally tied to the output
//! projection and scaled by √d_model as in Vaswani et al. (3.4), and absolute positions.
//! Rotary and relative-bias positions use the core's [`PosModel`] instead (Q10).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use crate::core::dropout::Dropout;
use crate::core::layers::{encoder_stack, EncoderLayer, LayerConfig, LayerCtx, DROPOUT_STREAM};
use crate::core::linear::{linear, Linear};
use crate::core::mask::{valid_positions, Mask};
use crate::core::model::{token_and_position, PosKind};
use crate::core::norm::{norm, Norm};
use crate::core::positional::PosModel;
use crate::train::task::Batch;
use crate::train::trainer::SeqModel;

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct LmConfig {
    pub vocab: usize,
    pub max_len: usize,
    pub layers: usize,
    pub layer: LayerConfig,
    pub pos: PosKind,
    /// Output projection = token embedding transposed (no separate head).
    pub tied: bool,
    /// Multiply token embeddings by √d_model.
    pub scale_embeddings: bool,
    /// Standard deviation of the token embedding at initialization.
    pub embed_std: f64,
    /// Dropout on embeddings + positions.
    pub emb_dropout: f64,
    /// Causal self-attention (language modelling); otherwise a padding mask only.
    pub causal: bool,
    pub dropout_seed: u64,
}

#[derive(Clone, Debug)]
pub struct Lm {
    pub embed: Embedding,
    pub pos: Option<Tensor>,
    pub layers: Vec<EncoderLayer>,
    pub final_norm: Norm,
    pub head: Option<Linear>,
    pub emb_drop: Dropout,
    pub cfg: LmConfig,
}

pub fn lm(cfg: LmConfig, vb: VarBuilder) -> Result<Lm> {
    let d = cfg.layer.attn.d_model;
    let (embed, pos) = token_and_position(cfg.vocab, cfg.max_len, d, cfg.pos, cfg.embed_std, &vb)?;
    let layers = encoder_stack(cfg.layer, cfg.layers, cfg.dropout_seed, &vb)?;
    let head = if cfg.tied {
        None
    } else {
        Some(linear(d, cfg.vocab, true, vb.pp("head"))?)
    };
    Ok(Lm {
        embed,
        pos,
        layers,
        final_norm: norm(cfg.layer.final_norm_kind(), d, vb.pp("final_norm"))?,
        head,
        emb_drop: Dropout::new(cfg.emb_dropout, cfg.dropout_seed, DROPOUT_STREAM - 1),
        cfg,
    })
}

impl Lm {
    pub fn forward_t(&self, b: &Batch, train: bool) -> Result<Tensor> {
        let (n, t) = b.x.dims2()?;
        let d = self.cfg.layer.attn.d_model;
        let dev = b.x.device();
        let mut x = self.embed.forward(&b.x)?;
        if self.cfg.scale_embeddings {
            x = (x * (d as f64).sqrt())?;
        }
        if let Some(p) = &self.pos {
            if t > p.dim(0)? {
                candle_core::bail!(
                    "sequence of length {t} exceeds the position table ({})",
                    p.dim(0)?
                )
            }
            x = x.broadcast_add(&p.narrow(0, 0, t)?)?;
        }
        let x = self.emb_drop.forward_t(&x, train)?;
        let mask = match (&b.lengths, self.cfg.causal) {
            (None, true) => Some(Mask::causal(t)),
            (Some(l), true) => Some(Mask::causal(t).and(&Mask::padding(l, t, t))),
            (Some(l), false) => Some(Mask::padding(l, t, t)),
            (None, false) => None,
        };
        let mask = mask.map(|m| m.to_attn(dev)).transpose()?;
        let valid = b
            .lengths
            .as_ref()
            .map(|l| valid_positions(l, t, dev))
            .transpose()?;
        let c = LayerCtx {
            mask: mask.as_ref(),
            valid: valid.as_ref(),
            train,
        };
        let mut h = x;
        for l in &self.layers {
            h = l.forward_t(&h, &c)?;
        }
        let h = self.final_norm.forward_t(&h, c.valid, train)?;
        match &self.head {
            Some(head) => head.forward(&h),
            None => h
                .reshape((n * t, d))?
                .matmul(&self.embed.embeddings().t()?)?
                .reshape((n, t, self.cfg.vocab)),
        }
    }
}

impl SeqModel for Lm {
    fn logits(&self, b: &Batch, train: bool) -> Result<Tensor> {
        self.forward_t(b, train)
    }
}

/// The core's position-encoding model (Pre-LN; learned, sinusoidal, rotary or
/// relative-bias positions) on real text.
pub struct PosLm(pub PosModel);

impl SeqModel for PosLm {
    fn logits(&self, b: &Batch, _train: bool) -> Result<Tensor> {
        self.0.forward(&b.x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::params::Params;
    use crate::train::trainer::{masked_loss, vars_without_gradient};
    use candle_core::Device;

    fn cfg(tied: bool, causal: bool) -> LmConfig {
        LmConfig {
            vocab: 13,
            max_len: 8,
            layers: 2,
            layer: LayerConfig::new(16, 4),
            pos: PosKind::Sinusoidal,
            tied,
            scale_embeddings: tied,
            embed_std: 0.25,
            emb_dropout: 0.0,
            causal,
            dropout_seed: 0,
        }
    }

    fn batch(lengths: Option<Vec<usize>>) -> Batch {
        let x: Vec<u32> = (0..16).map(|i| (i * 5 % 13) as u32).collect();
        let y: Vec<u32> = (0..16).map(|i| (i * 3 % 13) as u32).collect();
        Batch::from_vecs(x, y, vec![1.0; 16], 2, 8, lengths, &Device::Cpu).unwrap()
    }

    /// Every variable gets a gradient, tied or not, causal or masked.
    #[test]
    fn every_variable_gets_a_gradient() {
        for (tied, causal, lengths) in [
            (true, true, None),
            (false, true, Some(vec![8, 5])),
            (false, false, Some(vec![6, 8])),
        ] {
            let p = Params::new(0);
            let m = lm(cfg(tied, causal), p.vb()).unwrap();
            let b = batch(lengths);
            let (loss, _, _) = masked_loss(&m.forward_t(&b, true).unwrap(), &b).unwrap();
            let dead = vars_without_gradient(&p, &loss).unwrap();
            assert!(dead.is_empty(), "tied {tied}: no gradient for {dead:?}");
        }
    }

    /// Causal: a position's logits do not change when later tokens change.
    #[test]
    fn causal_mask_hides_the_future() {
        let p = Params::new(0);
        let m = lm(cfg(true, true), p.vb()).unwrap();
        let a = batch(None);
        let mut xs = a.x.to_vec2::<u32>().unwrap();
        xs[0][6] = (xs[0][6] + 1) % 13;
        let b = Batch {
            x: Tensor::new(xs, &Device::Cpu).unwrap(),
            ..a.clone()
        };
        let la = m.forward_t(&a, false).unwrap().to_vec3::<f32>().unwrap();
        let lb = m.forward_t(&b, false).unwrap().to_vec3::<f32>().unwrap();
        assert_eq!(la[0][..6], lb[0][..6]);
        assert_ne!(la[0][6], lb[0][6]);
    }
}
