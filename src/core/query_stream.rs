//! A query-stream encoder (the "query stream" of XLNet, Yang et al. 2019): in the first
//! layer the query and the residual at position i are built from the position alone,
//! while keys and values come from the other positions' token + position. Position i's
//! own token therefore never enters its first-layer output; later layers are standard
//! encoder layers (with whatever mask the caller gives), through which the token can
//! come back from neighbours that attended to it.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use super::attention::{multi_head_attention, MultiHeadAttention};
use super::ffn::{ffn, Ffn};
use super::layers::{encoder_layer, EncoderLayer, LayerConfig, LayerCtx, Placement};
use super::linear::{linear, Linear};
use super::mask::AttnMask;
use super::model::{token_and_position, PosKind};
use super::norm::{norm, Norm};

/// One layer whose queries (and residual) come from stream `g` and whose keys and
/// values come from stream `h`: out = Sublayer_ffn(Sublayer_attn(g; attend(g → h))).
#[derive(Clone, Debug)]
pub struct QueryStreamLayer {
    pub attn: MultiHeadAttention,
    pub ffn: Ffn,
    pub norm1: Norm,
    pub norm2: Norm,
    pub cfg: LayerConfig,
}

pub fn query_stream_layer(cfg: LayerConfig, vb: VarBuilder) -> Result<QueryStreamLayer> {
    let d = cfg.attn.d_model;
    Ok(QueryStreamLayer {
        attn: multi_head_attention(cfg.attn, vb.pp("attn"))?,
        ffn: ffn(d, cfg.d_ff, cfg.act, vb.pp("ffn"))?,
        norm1: norm(cfg.norm, d, vb.pp("norm1"))?,
        norm2: norm(cfg.norm, d, vb.pp("norm2"))?,
        cfg,
    })
}

impl QueryStreamLayer {
    /// g: query stream (B, T, D); h: content stream (B, T, D). Residuals always on.
    pub fn forward_t(&self, g: &Tensor, h: &Tensor, c: &LayerCtx) -> Result<Tensor> {
        let (v, tr) = (c.valid, c.train);
        match self.cfg.placement {
            Placement::PostLn => {
                let x = self
                    .norm1
                    .forward_t(&(g + self.attn.forward(g, h, c.mask)?)?, v, tr)?;
                self.norm2.forward_t(&(&x + self.ffn.forward(&x)?)?, v, tr)
            }
            Placement::PreLn => {
                let hn = self.norm1.forward_t(h, v, tr)?;
                let gn = self.norm1.forward_t(g, v, tr)?;
                let x = (g + self.attn.forward(&gn, &hn, c.mask)?)?;
                &x + self.ffn.forward(&self.norm2.forward_t(&x, v, tr)?)?
            }
        }
    }
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct QueryStreamConfig {
    pub vocab_in: usize,
    pub vocab_out: usize,
    pub max_len: usize,
    /// Total layers: one query-stream layer, then `layers − 1` standard encoder layers.
    pub layers: usize,
    pub layer: LayerConfig,
}

/// Token and learned position embeddings, a query-stream first layer, standard layers
/// after it, and a linear read-out per position.
#[derive(Clone, Debug)]
pub struct QueryStreamEncoder {
    pub embed: Embedding,
    pub pos: Tensor,
    pub first: QueryStreamLayer,
    pub rest: Vec<EncoderLayer>,
    pub final_norm: Norm,
    pub head: Linear,
    pub cfg: QueryStreamConfig,
}

pub fn query_stream_encoder(cfg: QueryStreamConfig, vb: VarBuilder) -> Result<QueryStreamEncoder> {
    assert!(
        cfg.layers >= 1,
        "a query-stream encoder needs at least one layer"
    );
    let d = cfg.layer.attn.d_model;
    let (embed, pos) =
        token_and_position(cfg.vocab_in, cfg.max_len, d, PosKind::Learned, 1.0, &vb)?;
    let pos = pos.ok_or_else(|| candle_core::Error::Msg("learned positions missing".into()))?;
    let rest = (1..cfg.layers)
        .map(|i| encoder_layer(cfg.layer, vb.pp(format!("layer{i}"))))
        .collect::<Result<Vec<_>>>()?;
    let final_kind = cfg.layer.final_norm_kind();
    Ok(QueryStreamEncoder {
        embed,
        pos,
        first: query_stream_layer(cfg.layer, vb.pp("layer0"))?,
        rest,
        final_norm: norm(final_kind, d, vb.pp("final_norm"))?,
        head: linear(d, cfg.vocab_out, true, vb.pp("head"))?,
        cfg,
    })
}

impl QueryStreamEncoder {
    /// Logits (B, T, vocab_out). `mask` applies to every layer (typically
    /// `Mask::no_self`, so the first layer's queries never see their own token).
    pub fn forward_t(
        &self,
        tokens: &Tensor,
        mask: Option<&AttnMask>,
        train: bool,
    ) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let p = self.pos.narrow(0, 0, t)?;
        let h = self.embed.forward(tokens)?.broadcast_add(&p)?;
        let g = p
            .unsqueeze(0)?
            .broadcast_as((b, t, p.dim(1)?))?
            .contiguous()?;
        let c = LayerCtx {
            mask,
            valid: None,
            train,
        };
        let mut x = self.first.forward_t(&g, &h, &c)?;
        for l in &self.rest {
            x = l.forward_t(&x, &c)?;
        }
        let x = self.final_norm.forward_t(&x, None, train)?;
        self.head.forward(&x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mask::Mask;
    use crate::core::params::Params;
    use crate::train::task::Batch;
    use crate::train::trainer::{masked_loss, vars_without_gradient};
    use candle_core::Device;

    fn model(layers: usize, seed: u64) -> (Params, QueryStreamEncoder) {
        let p = Params::new(seed);
        let cfg = QueryStreamConfig {
            vocab_in: 7,
            vocab_out: 7,
            max_len: 5,
            layers,
            layer: LayerConfig::new(8, 2),
        };
        let m = query_stream_encoder(cfg, p.vb()).unwrap();
        (p, m)
    }

    /// Changing token i changes output i only when a second layer can bring it back.
    #[test]
    fn own_token_hidden_in_one_layer_not_in_two() {
        let dev = Device::Cpu;
        let mask = Mask::no_self(5).to_attn(&dev).unwrap();
        let a = Tensor::new(&[[1u32, 2, 3, 4, 5]], &dev).unwrap();
        let b = Tensor::new(&[[1u32, 2, 6, 4, 5]], &dev).unwrap();
        for (layers, moves) in [(1, false), (2, true)] {
            let (_, m) = model(layers, 3);
            let ya = m.forward_t(&a, Some(&mask), false).unwrap();
            let yb = m.forward_t(&b, Some(&mask), false).unwrap();
            let d2 = (ya.narrow(1, 2, 1).unwrap() - yb.narrow(1, 2, 1).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert_eq!(d2 > 1e-6, moves, "{layers} layers: diff {d2}");
            // Other positions see token 2 through attention in both cases.
            let d0 = (ya.narrow(1, 0, 1).unwrap() - yb.narrow(1, 0, 1).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d0 > 1e-6);
        }
    }

    /// The first layer is the attention/FFN formula with queries from g, keys from h.
    #[test]
    fn first_layer_matches_formula() {
        let dev = Device::Cpu;
        let (_, m) = model(1, 1);
        let g = crate::rng::randn(&mut crate::rng::seeded(0, 0), &[1, 4, 8], 1.0, &dev).unwrap();
        let h = crate::rng::randn(&mut crate::rng::seeded(0, 1), &[1, 4, 8], 1.0, &dev).unwrap();
        let c = LayerCtx::default();
        let got = m.first.forward_t(&g, &h, &c).unwrap();
        let l = &m.first;
        let x = l
            .norm1
            .forward_t(
                &(&g + l.attn.forward(&g, &h, None).unwrap()).unwrap(),
                None,
                false,
            )
            .unwrap();
        let want = l
            .norm2
            .forward_t(&(&x + l.ffn.forward(&x).unwrap()).unwrap(), None, false)
            .unwrap();
        let d = (got - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-6);
    }

    #[test]
    fn every_variable_gets_a_gradient() {
        let dev = Device::Cpu;
        let (p, m) = model(2, 0);
        let x: Vec<u32> = (0..10).map(|i| (i * 3 % 7) as u32).collect();
        let b = Batch::from_vecs(x.clone(), x, vec![1.0; 10], 2, 5, None, &dev).unwrap();
        let mask = Mask::no_self(5).to_attn(&dev).unwrap();
        let logits = m.forward_t(&b.x, Some(&mask), true).unwrap();
        let (loss, _, _) = masked_loss(&logits, &b).unwrap();
        let dead = vars_without_gradient(&p, &loss).unwrap();
        assert!(dead.is_empty(), "no gradient for {dead:?}");
    }
}
