//! A small encoder model for synthetic token tasks: embedding (+ positions),
//! N encoder layers, an optional final norm (Pre-LN), and a linear read-out per position.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, Init, Linear, VarBuilder};

use super::layers::{encoder_layer, EncoderLayer, LayerConfig, LayerCtx, Placement};
use super::linear::linear;
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
