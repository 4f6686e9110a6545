//! A small encoder model for synthetic token tasks: embedding (+ positions),
//! N encoder layers, an optional final norm (Pre-LN), and a linear read-out per position.
//! Optional dropout on the sum of embeddings and positions (Vaswani et al. 5.4) and, via
//! `LayerConfig::dropout`, on every sublayer output; both default to 0 (off).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, Init, VarBuilder};

use super::dropout::Dropout;
use super::layers::{encoder_stack, EncoderLayer, LayerConfig, LayerCtx, DROPOUT_STREAM};
use super::linear::{linear, Linear};
use super::norm::{norm, Norm};
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
    /// Dropout rate on embeddings + positions (0 = off, the default).
    pub emb_dropout: f64,
    /// Seed of the dropout masks (embedding and every layer); usually the run's seed.
    pub dropout_seed: u64,
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
            emb_dropout: 0.0,
            dropout_seed: 0,
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
    /// Dropout on embeddings + positions.
    pub emb_drop: Dropout,
    pub cfg: EncoderConfig,
}

/// A token embedding N(0, embed_std²) and the position table of `pos` (drawn in that
/// order, so a seed gives the same weights wherever this is used).
pub fn token_and_position(
    vocab: usize,
    max_len: usize,
    d: usize,
    pos: PosKind,
    embed_std: f64,
    vb: &VarBuilder,
) -> Result<(Embedding, Option<Tensor>)> {
    let table = vb.get_with_hints(
        (vocab, d),
        "embed.weight",
        Init::Randn {
            mean: 0.0,
            stdev: embed_std,
        },
    )?;
    let pos = match pos {
        PosKind::None => None,
        PosKind::Sinusoidal => Some(sinusoidal(max_len, d, vb.device())?),
        PosKind::Learned => Some(vb.get_with_hints(
            (max_len, d),
            "pos.weight",
            Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        )?),
    };
    Ok((Embedding::new(table, d), pos))
}

pub fn encoder(cfg: EncoderConfig, vb: VarBuilder) -> Result<Encoder> {
    let d = cfg.layer.attn.d_model;
    let (embed, pos) =
        token_and_position(cfg.vocab_in, cfg.max_len, d, cfg.pos, cfg.embed_std, &vb)?;
    let layers = encoder_stack(cfg.layer, cfg.layers, cfg.dropout_seed, &vb)?;
    // Pre-LN stacks end with a norm; Post-LN stacks already end in one.
    let final_kind = cfg.layer.final_norm_kind();
    Ok(Encoder {
        embed,
        pos,
        layers,
        final_norm: norm(final_kind, d, vb.pp("final_norm"))?,
        head: linear(d, cfg.vocab_out, true, vb.pp("head"))?,
        emb_drop: Dropout::new(cfg.emb_dropout, cfg.dropout_seed, DROPOUT_STREAM - 1),
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
        let mut x = self.emb_drop.forward_t(&self.embed(tokens)?, c.train)?;
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
    use crate::core::layers::{LayerConfig, Placement};
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

    /// Dropout: rate 0 changes nothing in either mode; rate > 0 changes train mode only,
    /// deterministically per seed, and every variable still gets a gradient.
    #[test]
    fn dropout_is_off_by_default_and_seeded() {
        let dev = Device::Cpu;
        let x = Tensor::from_vec((0..18u32).map(|i| i * 7 % 11).collect(), (3, 6), &dev).unwrap();
        let run = |p_drop: f64, seed: u64, train: bool| {
            let p = Params::new(0);
            let mut layer = LayerConfig::new(16, 4);
            layer.dropout = p_drop;
            let mut cfg = EncoderConfig::new(11, 6, 2, layer);
            cfg.emb_dropout = p_drop;
            cfg.dropout_seed = seed;
            let m = encoder(cfg, p.vb()).unwrap();
            let c = LayerCtx {
                train,
                ..LayerCtx::default()
            };
            m.forward_t(&x, &c)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let base = run(0.0, 0, false);
        assert_eq!(run(0.0, 0, true), base);
        assert_eq!(run(0.3, 0, false), base);
        let a = run(0.3, 0, true);
        assert_ne!(a, base);
        assert_eq!(run(0.3, 0, true), a);
        assert_ne!(run(0.3, 1, true), a);

        let p = Params::new(0);
        let mut layer = LayerConfig::new(16, 4);
        layer.dropout = 0.1;
        layer.placement = Placement::PreLn;
        let mut cfg = EncoderConfig::new(11, 6, 2, layer);
        cfg.emb_dropout = 0.1;
        cfg.pos = PosKind::Learned;
        let m = encoder(cfg, p.vb()).unwrap();
        let y = Tensor::from_vec((0..18u32).map(|i| i * 3 % 11).collect(), (3, 6), &dev).unwrap();
        let b = Batch {
            x: x.clone(),
            y,
            weight: Tensor::ones((3, 6), candle_core::DType::F32, &dev).unwrap(),
            lengths: None,
        };
        let c = LayerCtx {
            train: true,
            ..LayerCtx::default()
        };
        let (loss, _, _) = masked_loss(&m.forward_t(&b.x, &c).unwrap(), &b).unwrap();
        let dead = vars_without_gradient(&p, &loss).unwrap();
        assert!(dead.is_empty(), "no gradient for {dead:?}");
    }
}
