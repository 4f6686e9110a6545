//! The Transformer decoder: a layer with causally masked self-attention, cross-attention
//! over the encoder output (the "memory") and an FFN, each sublayer with its residual and
//! normalization in the configured [`Placement`]; a small encoder–decoder model (the
//! core [`Encoder`]'s hidden states as memory, target embedding, decoder stack, read-out);
//! and incremental decoding with a key/value cache.
//!
//! The cache keeps, per layer, the projected self-attention keys and values of every
//! target position decoded so far (B, h, t, d_k) and the cross-attention keys and values
//! of the memory, computed once (B, h, S, d_k). A step then projects only the new
//! position. Under a causal mask a position's keys and values never change once
//! computed, so cached decoding gives the teacher-forced logits (tested below). This
//! holds for LayerNorm (per token) and no norm; BatchNorm in train mode mixes positions
//! through its batch statistics and breaks causality, so decode with `train = false`.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use super::attention::{multi_head_attention, scaled_dot_product, MultiHeadAttention};
use super::ffn::{ffn, Ffn};
use super::fused::split_heads;
use super::layers::{LayerConfig, LayerCtx, Placement};
use super::linear::{linear, Linear};
use super::mask::{AttnMask, Mask};
use super::model::{encoder, token_and_position, Encoder, EncoderConfig, PosKind};
use super::norm::{norm, Norm};

/// Inputs a decoder layer may need beside the hidden states and the memory.
#[derive(Clone, Copy, Default)]
pub struct DecoderCtx<'a> {
    /// Self-attention mask (B|1, 1, T, T); the causal mask for a decoder. `None` lets
    /// every target position see every other (the "no mask" contrast).
    pub self_mask: Option<&'a AttnMask>,
    /// Cross-attention mask (B|1, 1, T, S), e.g. source padding.
    pub cross_mask: Option<&'a AttnMask>,
    /// (B, T) 0/1 real-token indicator, for masked BatchNorm.
    pub valid: Option<&'a Tensor>,
    pub train: bool,
}

#[derive(Clone, Debug)]
pub struct DecoderLayer {
    /// Masked self-attention over the target positions.
    pub self_attn: MultiHeadAttention,
    /// Queries from the decoder, keys and values from the memory.
    pub cross_attn: MultiHeadAttention,
    pub ffn: Ffn,
    pub norm1: Norm,
    pub norm2: Norm,
    pub norm3: Norm,
    pub cfg: LayerConfig,
}

pub fn decoder_layer(cfg: LayerConfig, vb: VarBuilder) -> Result<DecoderLayer> {
    let d = cfg.attn.d_model;
    Ok(DecoderLayer {
        self_attn: multi_head_attention(cfg.attn, vb.pp("self_attn"))?,
        cross_attn: multi_head_attention(cfg.attn, vb.pp("cross_attn"))?,
        ffn: ffn(d, cfg.d_ff, cfg.act, vb.pp("ffn"))?,
        norm1: norm(cfg.norm, d, vb.pp("norm1"))?,
        norm2: norm(cfg.norm, d, vb.pp("norm2"))?,
        norm3: norm(cfg.norm, d, vb.pp("norm3"))?,
        cfg,
    })
}

/// One sublayer with its residual and norm, in the configured placement (the same
/// arrangement as the encoder layer's).
fn sublayer(
    cfg: &LayerConfig,
    x: &Tensor,
    n: &Norm,
    valid: Option<&Tensor>,
    train: bool,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    match (cfg.placement, cfg.residual) {
        (Placement::PostLn, true) => n.forward_t(&(x + f(x)?)?, valid, train),
        (Placement::PostLn, false) => n.forward_t(&f(x)?, valid, train),
        (Placement::PreLn, true) => x + f(&n.forward_t(x, valid, train)?)?,
        (Placement::PreLn, false) => f(&n.forward_t(x, valid, train)?),
    }
}

/// Per-head keys and values of `xkv` (B, T, D) under `mha`'s projections.
pub fn project_kv(mha: &MultiHeadAttention, xkv: &Tensor) -> Result<(Tensor, Tensor)> {
    let c = mha.cfg;
    let k = match &mha.wk {
        Some(wk) => wk.forward(xkv)?,
        None => mha.wq.forward(xkv)?,
    };
    let v = mha.wv.forward(xkv)?;
    Ok((split_heads(&k, c.heads)?, split_heads(&v, c.heads)?))
}

/// Attention of the queries from `xq` (B, Tq, D) over already projected per-head keys
/// and values (B, h, Tk, ·); returns (B, Tq, D) after the output projection.
pub fn attend_projected(
    mha: &MultiHeadAttention,
    xq: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&AttnMask>,
) -> Result<Tensor> {
    let c = mha.cfg;
    let q = split_heads(&mha.wq.forward(xq)?, c.heads)?;
    let (o, _) = scaled_dot_product(&q, k, v, mask, c.scale.factor(c.d_k))?;
    mha.wo.forward(&super::fused::merge_heads(&o)?)
}

/// One layer's key/value cache.
#[derive(Clone, Debug)]
pub struct LayerCache {
    /// Self-attention keys and values of the positions decoded so far, (B, h, t, ·).
    pub self_k: Option<Tensor>,
    pub self_v: Option<Tensor>,
    /// Cross-attention keys and values of the memory, (B, h, S, ·), computed once.
    pub cross_k: Tensor,
    pub cross_v: Tensor,
}

impl DecoderLayer {
    /// The whole target at once (teacher forcing): x (B, T, D), memory (B, S, D).
    pub fn forward_t(&self, x: &Tensor, memory: &Tensor, c: &DecoderCtx) -> Result<Tensor> {
        let cfg = &self.cfg;
        let x = sublayer(cfg, x, &self.norm1, c.valid, c.train, |h| {
            self.self_attn.forward(h, h, c.self_mask)
        })?;
        let x = sublayer(cfg, &x, &self.norm2, c.valid, c.train, |h| {
            self.cross_attn.forward(h, memory, c.cross_mask)
        })?;
        sublayer(cfg, &x, &self.norm3, c.valid, c.train, |h| {
            self.ffn.forward(h)
        })
    }

    /// A fresh cache for this layer: the memory's cross-attention keys and values.
    pub fn init_cache(&self, memory: &Tensor) -> Result<LayerCache> {
        let (cross_k, cross_v) = project_kv(&self.cross_attn, memory)?;
        Ok(LayerCache {
            self_k: None,
            self_v: None,
            cross_k,
            cross_v,
        })
    }

    /// One new position x_t (B, 1, D): its keys and values join the cache, its query
    /// attends over every cached position (all earlier ones and itself, so no mask is
    /// needed) and over the cached memory. Norms run in eval mode.
    pub fn step(
        &self,
        x: &Tensor,
        cache: &mut LayerCache,
        cross_mask: Option<&AttnMask>,
    ) -> Result<Tensor> {
        let cfg = &self.cfg;
        let x = sublayer(cfg, x, &self.norm1, None, false, |h| {
            let (k, v) = project_kv(&self.self_attn, h)?;
            let (k, v) = match (&cache.self_k, &cache.self_v) {
                (Some(pk), Some(pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
                _ => (k, v),
            };
            let out = attend_projected(&self.self_attn, h, &k, &v, None)?;
            cache.self_k = Some(k);
            cache.self_v = Some(v);
            Ok(out)
        })?;
        let x = sublayer(cfg, &x, &self.norm2, None, false, |h| {
            attend_projected(
                &self.cross_attn,
                h,
                &cache.cross_k,
                &cache.cross_v,
                cross_mask,
            )
        })?;
        sublayer(cfg, &x, &self.norm3, None, false, |h| self.ffn.forward(h))
    }
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct EncDecConfig {
    pub src_vocab: usize,
    pub tgt_vocab: usize,
    /// Longest source and target length (positions table size).
    pub max_len: usize,
    pub enc_layers: usize,
    pub dec_layers: usize,
    /// Used by both the encoder and the decoder layers.
    pub layer: LayerConfig,
    pub pos: PosKind,
    /// Standard deviation of the token embeddings at initialization.
    pub embed_std: f64,
}

impl EncDecConfig {
    pub fn new(
        src_vocab: usize,
        tgt_vocab: usize,
        max_len: usize,
        layers: usize,
        layer: LayerConfig,
    ) -> Self {
        Self {
            src_vocab,
            tgt_vocab,
            max_len,
            enc_layers: layers,
            dec_layers: layers,
            layer,
            pos: PosKind::Sinusoidal,
            embed_std: 1.0,
        }
    }
}

/// Encoder–decoder: `encoder.hidden(src)` is the memory; the target is embedded, run
/// through the decoder stack (causal self-attention, cross-attention, FFN) and read out.
///
/// The core [`Encoder`] carries its own read-out `head`; here it is built 1 wide and
/// unused (it gets no gradient: names `enc.head.*`).
#[derive(Clone, Debug)]
pub struct EncoderDecoder {
    pub encoder: Encoder,
    pub tgt_embed: Embedding,
    pub pos: Option<Tensor>,
    pub layers: Vec<DecoderLayer>,
    pub final_norm: Norm,
    pub head: Linear,
    pub cfg: EncDecConfig,
}

/// An encoder–decoder with weights from the seeded host generator, with its
/// parameters (for counting or listing them).
pub fn seeded_encoder_decoder(
    cfg: EncDecConfig,
    seed: u64,
) -> Result<(super::params::Params, EncoderDecoder)> {
    let p = super::params::Params::new(seed);
    let m = encoder_decoder(cfg, p.vb())?;
    Ok((p, m))
}

pub fn encoder_decoder(cfg: EncDecConfig, vb: VarBuilder) -> Result<EncoderDecoder> {
    let d = cfg.layer.attn.d_model;
    let mut ecfg = EncoderConfig::new(cfg.src_vocab, cfg.max_len, cfg.enc_layers, cfg.layer);
    ecfg.vocab_out = 1;
    ecfg.pos = cfg.pos;
    ecfg.embed_std = cfg.embed_std;
    let enc = encoder(ecfg, vb.pp("enc"))?;
    let vb = vb.pp("dec");
    let (tgt_embed, pos) =
        token_and_position(cfg.tgt_vocab, cfg.max_len, d, cfg.pos, cfg.embed_std, &vb)?;
    let layers = (0..cfg.dec_layers)
        .map(|i| decoder_layer(cfg.layer, vb.pp(format!("layer{i}"))))
        .collect::<Result<Vec<_>>>()?;
    let final_kind = cfg.layer.final_norm_kind();
    Ok(EncoderDecoder {
        encoder: enc,
        tgt_embed,
        pos,
        layers,
        final_norm: norm(final_kind, d, vb.pp("final_norm"))?,
        head: linear(d, cfg.tgt_vocab, true, vb.pp("head"))?,
        cfg,
    })
}

/// The whole model's cache: one per decoder layer, and the next position.
#[derive(Clone, Debug)]
pub struct KvCache {
    pub layers: Vec<LayerCache>,
    pub pos: usize,
}

impl KvCache {
    /// Floats held in the self-attention caches.
    pub fn self_elems(&self) -> usize {
        self.layers
            .iter()
            .map(|l| {
                l.self_k.as_ref().map_or(0, |t| t.elem_count())
                    + l.self_v.as_ref().map_or(0, |t| t.elem_count())
            })
            .sum()
    }
}

impl EncoderDecoder {
    /// The encoder output (B, S, D) the decoder attends over.
    pub fn memory(&self, src: &Tensor, c: &LayerCtx) -> Result<Tensor> {
        self.encoder.hidden(src, c)
    }

    /// Target token embeddings plus positions `offset..offset+T`, (B, T, D).
    pub fn embed_tgt(&self, tokens: &Tensor, offset: usize) -> Result<Tensor> {
        let x = self.tgt_embed.forward(tokens)?;
        match &self.pos {
            Some(p) => {
                let t = tokens.dim(1)?;
                if offset + t > p.dim(0)? {
                    candle_core::bail!(
                        "target position {} beyond max_len {}",
                        offset + t,
                        p.dim(0)?
                    )
                }
                x.broadcast_add(&p.narrow(0, offset, t)?)
            }
            None => Ok(x),
        }
    }

    /// Decoder hidden states (B, T, D) from embedded target `x`, given the masks in `c`.
    pub fn decode_embedded(&self, x: &Tensor, memory: &Tensor, c: &DecoderCtx) -> Result<Tensor> {
        let mut x = x.clone();
        for l in &self.layers {
            x = l.forward_t(&x, memory, c)?;
        }
        self.final_norm.forward_t(&x, c.valid, c.train)
    }

    /// Decoder hidden states for target tokens (B, T).
    pub fn decode(&self, tgt: &Tensor, memory: &Tensor, c: &DecoderCtx) -> Result<Tensor> {
        self.decode_embedded(&self.embed_tgt(tgt, 0)?, memory, c)
    }

    /// Logits (B, T, tgt_vocab) for target tokens (B, T) over `memory`.
    pub fn logits(&self, tgt: &Tensor, memory: &Tensor, c: &DecoderCtx) -> Result<Tensor> {
        self.head.forward(&self.decode(tgt, memory, c)?)
    }

    /// Teacher-forced logits in one pass with the causal mask (eval-mode norms).
    pub fn forward_causal(&self, src: &Tensor, tgt_in: &Tensor) -> Result<Tensor> {
        let memory = self.memory(src, &LayerCtx::default())?;
        let causal = Mask::causal(tgt_in.dim(1)?).to_attn(tgt_in.device())?;
        let c = DecoderCtx {
            self_mask: Some(&causal),
            ..Default::default()
        };
        self.logits(tgt_in, &memory, &c)
    }

    pub fn init_cache(&self, memory: &Tensor) -> Result<KvCache> {
        Ok(KvCache {
            layers: self
                .layers
                .iter()
                .map(|l| l.init_cache(memory))
                .collect::<Result<Vec<_>>>()?,
            pos: 0,
        })
    }

    /// One decoding step with the cache: token (B, 1) at position `cache.pos`; returns
    /// its logits (B, 1, tgt_vocab).
    pub fn step(&self, token: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let mut x = self.embed_tgt(token, cache.pos)?;
        for (l, lc) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = l.step(&x, lc, None)?;
        }
        cache.pos += 1;
        self.head
            .forward(&self.final_norm.forward_t(&x, None, false)?)
    }

    /// One decoding step without a cache: rerun the whole prefix (B, t+1) through the
    /// decoder with the causal mask and keep the last position's logits (B, 1, V).
    pub fn step_uncached(&self, prefix: &Tensor, memory: &Tensor) -> Result<Tensor> {
        let t = prefix.dim(1)?;
        let causal = Mask::causal(t).to_attn(prefix.device())?;
        let c = DecoderCtx {
            self_mask: Some(&causal),
            ..Default::default()
        };
        self.logits(prefix, memory, &c)?.narrow(1, t - 1, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::params::Params;
    use crate::core::testing::naive;
    use crate::rng::{index_vec, randn, seeded};
    use crate::train::task::Batch;
    use crate::train::trainer::{masked_loss, vars_without_gradient};
    use candle_core::{Device, IndexOp};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        crate::core::max_abs_diff(a, b).unwrap() as f32
    }

    fn rows(t: &Tensor) -> Vec<Vec<f32>> {
        t.squeeze(0).unwrap().to_vec2::<f32>().unwrap()
    }

    /// Multi-head attention by loops: project, attend per head, concatenate, project.
    fn naive_mha(
        mha: &MultiHeadAttention,
        xq: &Tensor,
        xkv: &Tensor,
        allowed: impl Fn(usize, usize) -> bool + Copy,
    ) -> Tensor {
        let c = mha.cfg;
        let q = rows(&mha.wq.forward(xq).unwrap());
        let k = rows(&mha.wk.as_ref().unwrap().forward(xkv).unwrap());
        let v = rows(&mha.wv.forward(xkv).unwrap());
        let cols = |m: &Vec<Vec<f32>>, h: usize, w: usize| -> Vec<Vec<f32>> {
            m.iter().map(|r| r[h * w..(h + 1) * w].to_vec()).collect()
        };
        let mut cat = vec![vec![]; q.len()];
        let scale = 1.0 / (c.d_k as f32).sqrt();
        for h in 0..c.heads {
            let o = naive(
                &cols(&q, h, c.d_k),
                &cols(&k, h, c.d_k),
                &cols(&v, h, c.d_v),
                allowed,
                scale,
            );
            for (r, oi) in cat.iter_mut().zip(o) {
                r.extend(oi);
            }
        }
        let cat = Tensor::new(cat, xq.device()).unwrap();
        mha.wo.forward(&cat).unwrap().unsqueeze(0).unwrap()
    }

    #[test]
    fn self_and_cross_attention_match_loops() {
        let dev = Device::Cpu;
        let p = Params::new(0);
        let layer = decoder_layer(LayerConfig::new(8, 2), p.vb()).unwrap();
        let mut r = seeded(1, 0);
        let (t, s) = (5, 7);
        let x = randn(&mut r, &[1, t, 8], 1.0, &dev).unwrap();
        let mem = randn(&mut r, &[1, s, 8], 1.0, &dev).unwrap();
        let causal = Mask::causal(t).to_attn(&dev).unwrap();
        let got = layer.self_attn.forward(&x, &x, Some(&causal)).unwrap();
        let want = naive_mha(&layer.self_attn, &x, &x, |i, j| j <= i);
        assert!(max_diff(&got, &want) < 1e-5);
        // Cross-attention: target-length output over a source of another length.
        let got = layer.cross_attn.forward(&x, &mem, None).unwrap();
        assert_eq!(got.dims(), &[1, t, 8]);
        let want = naive_mha(&layer.cross_attn, &x, &mem, |_, _| true);
        assert!(max_diff(&got, &want) < 1e-5);
        // The cached projection path agrees with the module.
        let (k, v) = project_kv(&layer.cross_attn, &mem).unwrap();
        let alt = attend_projected(&layer.cross_attn, &x, &k, &v, None).unwrap();
        assert!(max_diff(&alt, &want) < 1e-5);
    }

    #[test]
    fn layer_output_before_j_ignores_inputs_from_j_on() {
        let dev = Device::Cpu;
        let p = Params::new(2);
        let layer = decoder_layer(LayerConfig::new(8, 2), p.vb()).unwrap();
        let mut r = seeded(3, 0);
        let x = randn(&mut r, &[1, 6, 8], 1.0, &dev).unwrap();
        let mem = randn(&mut r, &[1, 4, 8], 1.0, &dev).unwrap();
        let causal = Mask::causal(6).to_attn(&dev).unwrap();
        let c = DecoderCtx {
            self_mask: Some(&causal),
            ..Default::default()
        };
        let y = layer.forward_t(&x, &mem, &c).unwrap();
        let bump = randn(&mut r, &[1, 3, 8], 1.0, &dev).unwrap();
        let x2 = Tensor::cat(&[&x.i((.., 0..3, ..)).unwrap(), &bump], 1).unwrap();
        let y2 = layer.forward_t(&x2, &mem, &c).unwrap();
        assert_eq!(
            y.i((.., 0..3, ..))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
            y2.i((.., 0..3, ..))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        );
        assert!(max_diff(&y.i((.., 3.., ..)).unwrap(), &y2.i((.., 3.., ..)).unwrap()) > 1e-3);
    }

    #[test]
    fn cached_steps_equal_teacher_forced_pass() {
        let dev = Device::Cpu;
        for placement in [Placement::PostLn, Placement::PreLn] {
            let p = Params::new(4);
            let mut layer = LayerConfig::new(16, 4);
            layer.placement = placement;
            let m = encoder_decoder(EncDecConfig::new(9, 11, 12, 2, layer), p.vb()).unwrap();
            let mut r = seeded(5, 0);
            let (b, s, t) = (2, 7, 10);
            let src = Tensor::from_vec(index_vec(&mut r, b * s, 9), (b, s), &dev).unwrap();
            let tgt = Tensor::from_vec(index_vec(&mut r, b * t, 11), (b, t), &dev).unwrap();
            let full = m.forward_causal(&src, &tgt).unwrap();
            let memory = m.memory(&src, &LayerCtx::default()).unwrap();
            let mut cache = m.init_cache(&memory).unwrap();
            let mut cached = vec![];
            let mut uncached = vec![];
            for i in 0..t {
                cached.push(m.step(&tgt.narrow(1, i, 1).unwrap(), &mut cache).unwrap());
                uncached.push(
                    m.step_uncached(&tgt.narrow(1, 0, i + 1).unwrap(), &memory)
                        .unwrap(),
                );
            }
            let cached = Tensor::cat(&cached, 1).unwrap();
            let uncached = Tensor::cat(&uncached, 1).unwrap();
            assert_eq!(cached.dims(), full.dims());
            assert!(max_diff(&cached, &full) < 1e-4, "{placement:?}");
            assert!(max_diff(&uncached, &full) < 1e-4, "{placement:?}");
            assert_eq!(cache.pos, t);
            assert_eq!(cache.self_elems(), 2 * 2 * b * t * 16);
        }
    }

    #[test]
    fn every_variable_gets_a_gradient() {
        let dev = Device::Cpu;
        for (placement, pos) in [
            (Placement::PostLn, PosKind::Learned),
            (Placement::PreLn, PosKind::Sinusoidal),
        ] {
            let p = Params::new(6);
            let mut layer = LayerConfig::new(16, 4);
            layer.placement = placement;
            let mut cfg = EncDecConfig::new(9, 11, 6, 2, layer);
            cfg.pos = pos;
            let m = encoder_decoder(cfg, p.vb()).unwrap();
            let mut r = seeded(7, 0);
            let src = Tensor::from_vec(index_vec(&mut r, 18, 9), (3, 6), &dev).unwrap();
            let tgt = index_vec(&mut r, 18, 11);
            let y = index_vec(&mut r, 18, 11);
            let b = Batch::from_vecs(tgt, y, vec![1.0; 18], 3, 6, None, &dev).unwrap();
            let logits = m.forward_causal(&src, &b.x).unwrap();
            let (loss, _, _) = masked_loss(&logits, &b).unwrap();
            let dead = vars_without_gradient(&p, &loss).unwrap();
            // The encoder's own read-out is unused in an encoder–decoder.
            let dead: Vec<_> = dead
                .into_iter()
                .filter(|n| !n.starts_with("enc.head."))
                .collect();
            assert!(dead.is_empty(), "{placement:?}: no gradient for {dead:?}");
        }
    }
}
