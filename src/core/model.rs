//! A small encoder model for synthetic token tasks: embedding (+ positions),
//! N encoder layers, an optional final norm (Pre-LN), and a linear read-out per position.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, Init, VarBuilder};

use super::layers::{encoder_layer, EncoderLayer, LayerConfig, LayerCtx, Placement};
use super::linear::{linear, Linear};
use super::norm::{norm, Norm, NormKind};
use super::position::sinusoidal;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PosKind {
    None,
    Sinusoidal,
    Learned,
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct EncoderConfig {
    pub vocab_in: usize,
    pub vocab_out: usize,
    pub max_len: usize,
    pub layers: usize,
    pub layer: LayerConfig,
    pub pos: PosKind,
    /// Standard deviation of the token embedding at initialization.
    pub embed_std: f64,
}

impl EncoderConfig {
    pub fn new(vocab: usize, max_len: usize, layers: usize, layer: LayerConfig) -> Self {
        Self {
            vocab_in: vocab,
            vocab_out: vocab,
            max_len,
            layers,
            layer,
            pos: PosKind::Sinusoidal,
            embed_std: 1.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Encoder {
    pub embed: Embedding,
    pub pos: Option<Tensor>,
    pub layers: Vec<EncoderLayer>,
    pub final_norm: Norm,
    pub head: Linear,
    pub cfg: EncoderConfig,
}

pub fn encoder(cfg: EncoderConfig, vb: VarBuilder) -> Result<Encoder> {
    let d = cfg.layer.attn.d_model;
    let table = vb.get_with_hints(
        (cfg.vocab_in, d),
        "embed.weight",
        Init::Randn {
            mean: 0.0,
            stdev: cfg.embed_std,
        },
    )?;
    let pos = match cfg.pos {
        PosKind::None => None,
        PosKind::Sinusoidal => Some(sinusoidal(cfg.max_len, d, vb.device())?),
        PosKind::Learned => Some(vb.get_with_hints(
            (cfg.max_len, d),
            "pos.weight",
            Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        )?),
    };
    let layers = (0..cfg.layers)
        .map(|i| encoder_layer(cfg.layer, vb.pp(format!("layer{i}"))))
        .collect::<Result<Vec<_>>>()?;
    // Pre-LN stacks end with a norm; Post-LN stacks already end in one.
    let final_kind = if cfg.layer.placement == Placement::PreLn {
        cfg.layer.norm
    } else {
        NormKind::None
    };
    Ok(Encoder {
        embed: Embedding::new(table, d),
        pos,
        layers,
        final_norm: norm(final_kind, d, vb.pp("final_norm"))?,
        head: linear(d, cfg.vocab_out, true, vb.pp("head"))?,
        cfg,
    })
}

impl Encoder {
    /// Token embeddings plus positions, (B, T, D).
    pub fn embed(&self, tokens: &Tensor) -> Result<Tensor> {
        let x = self.embed.forward(tokens)?;
        match &self.pos {
            Some(p) => {
                let t = tokens.dim(1)?;
                x.broadcast_add(&p.narrow(0, 0, t)?)
            }
            None => Ok(x),
        }
    }

    /// Hidden states after the last layer (and final norm).
    pub fn hidden(&self, tokens: &Tensor, c: &LayerCtx) -> Result<Tensor> {
        let mut x = self.embed(tokens)?;
        for l in &self.layers {
            x = l.forward_t(&x, c)?;
        }
        self.final_norm.forward_t(&x, c.valid, c.train)
    }

    /// Logits (B, T, vocab_out).
    pub fn forward_t(&self, tokens: &Tensor, c: &LayerCtx) -> Result<Tensor> {
        self.head.forward(&self.hidden(tokens, c)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::layers::LayerConfig;
    use crate::core::mask::{valid_positions, Mask};
    use crate::core::norm::NormKind;
    use crate::core::params::Params;
    use crate::train::task::Batch;
    use crate::train::trainer::{masked_loss, vars_without_gradient};
    use candle_core::Device;

    /// Every trainable variable of every model variant receives a non-zero gradient:
    /// no fused op without a backward pass hides in the core.
    #[test]
    fn every_variable_gets_a_gradient() {
        let dev = Device::Cpu;
        for (norm, placement, pos) in [
            (NormKind::Layer, Placement::PostLn, PosKind::Learned),
            (NormKind::Layer, Placement::PreLn, PosKind::Sinusoidal),
            (NormKind::Batch, Placement::PostLn, PosKind::Learned),
            (NormKind::MaskedBatch, Placement::PreLn, PosKind::Learned),
        ] {
            let p = Params::new(0);
            let mut layer = LayerConfig::new(16, 4);
            layer.norm = norm;
            layer.placement = placement;
            let mut cfg = EncoderConfig::new(11, 6, 2, layer);
            cfg.pos = pos;
            let m = encoder(cfg, p.vb()).unwrap();
            let lengths = vec![6, 4, 5];
            let x: Vec<u32> = (0..18).map(|i| (i * 7 % 11) as u32).collect();
            let y: Vec<u32> = (0..18).map(|i| (i * 3 % 11) as u32).collect();
            let w: Vec<f32> = (0..18)
                .map(|i| if i % 6 < lengths[i / 6] { 1.0 } else { 0.0 })
                .collect();
            let b = Batch::from_vecs(x, y, w, 3, 6, Some(lengths.clone()), &dev).unwrap();
            let mask = Mask::padding(&lengths, 6, 6).to_attn(&dev).unwrap();
            let valid = valid_positions(&lengths, 6, &dev).unwrap();
            let c = LayerCtx {
                mask: Some(&mask),
                valid: Some(&valid),
                train: true,
            };
            let logits = m.forward_t(&b.x, &c).unwrap();
            let (loss, _, _) = masked_loss(&logits, &b).unwrap();
            let dead = vars_without_gradient(&p, &loss).unwrap();
            // Learned positions past the longest sequence are never used.
            let dead: Vec<_> = dead.into_iter().filter(|n| n != "pos.weight").collect();
            assert!(
                dead.is_empty(),
                "{norm:?} {placement:?}: no gradient for {dead:?}"
            );
        }
    }
}
