//! Setup of question 10 (position encodings): the position tasks, the six encodings
//! compared, and the two encodings the model core does not have:
//!
//! - [`ComplexEmbedding`]: complex-valued word embeddings (Wang et al. 2020, ICLR,
//!   "Encoding word order in complex embeddings"): word j at position p is
//!   f(j, p)_c = r_{j,c} · e^{i(ω_{j,c}·p + θ_{j,c})} for each complex channel c, with
//!   amplitude r, frequency ω and phase θ trained per word and channel. In real
//!   arithmetic: the first d/2 channels hold the real parts, the last d/2 the imaginary
//!   parts. The angle ω·p + θ and its cosine and sine are computed in f64 (ω and θ cast
//!   up, gradients flow through the casts) and rounded once to f32, so f(j, p + k) is
//!   the element-wise rotation of f(j, p) by ω_{j,c}·k to f32 precision at any position.
//! - [`ShawRelative`]: relative position representations as in Shaw et al. 2018: learned
//!   vectors a^K, a^V per clipped distance clip(j − i, −K, K), added to the keys in the
//!   scores, e_ij = q_i·(k_j + a^K_ij)/√d_k, and to the values, z_i = Σ_j α_ij (v_j + a^V_ij).
//!
//! The four other encodings (learned absolute, sinusoidal, rotary, scalar relative bias)
//! are the core's `PosModel`.

use std::fmt;

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Embedding, Init, VarBuilder};
use rand::Rng;

use crate::core::attention::{attention_weights, multi_head_attention, MhaConfig};
use crate::core::ffn::{ffn, Activation};
use crate::core::fused::{bmm, bmm_nt, merge_heads, split_heads};
use crate::core::linear::{linear, Linear};
use crate::core::mask::{AttnMask, Mask};
use crate::core::norm::{layer_norm, LayerNorm};
use crate::core::positional::{
    pos_model, PosAttention, PosBlock, PosEncoding, PosModel, PosModelConfig,
};
use crate::rng::Rng64;
use crate::train::{Batch, SeqModel, Task};

/// The position encodings compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Encoding {
    Learned,
    Sinusoidal,
    Rotary,
    RelativeBias,
    Shaw,
    Complex,
}

/// Every encoding trained, in chart order.
pub const ENCODINGS: [Encoding; 6] = [
    Encoding::Learned,
    Encoding::Sinusoidal,
    Encoding::Complex,
    Encoding::Rotary,
    Encoding::RelativeBias,
    Encoding::Shaw,
];

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Learned => "learned absolute",
            Encoding::Sinusoidal => "sinusoidal",
            Encoding::Rotary => "rotary",
            Encoding::RelativeBias => "relative bias (scalar, scores)",
            Encoding::Shaw => "Shaw relative (scores and values)",
            Encoding::Complex => "complex word embedding",
        })
    }
}

impl Encoding {
    /// The core's encoding, where the core has it.
    fn core(&self) -> Option<PosEncoding> {
        match self {
            Encoding::Learned => Some(PosEncoding::Learned),
            Encoding::Sinusoidal => Some(PosEncoding::Sinusoidal),
            Encoding::Rotary => Some(PosEncoding::Rotary),
            Encoding::RelativeBias => Some(PosEncoding::RelativeBias),
            Encoding::Shaw | Encoding::Complex => None,
        }
    }
}

/// What a position-task sequence asks for at position t.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Target {
    /// The token `lag` back: distance `lag`, the same at every length.
    Lag(usize),
    /// The sequence's first token: distance t, so longer inputs need longer distances.
    First,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Lag(k) => write!(f, "copy the token {k} back"),
            Target::First => f.write_str("output the first token"),
        }
    }
}

/// A causal retrieval task on random tokens: one length per batch, uniform in
/// [min_len, max_len]; positions t < `score_from` (and those with no target) are not
/// scored.
#[derive(Clone, Debug)]
pub struct PositionTask {
    pub target: Target,
    pub vocab: usize,
    pub min_len: usize,
    pub max_len: usize,
    pub score_from: usize,
}

impl PositionTask {
    /// The same task at one fixed length, scored from position `score_from`.
    pub fn at(&self, len: usize, score_from: usize) -> Self {
        Self {
            min_len: len,
            max_len: len,
            score_from,
            ..self.clone()
        }
    }
}

impl Task for PositionTask {
    fn vocab_in(&self) -> usize {
        self.vocab
    }
    fn vocab_out(&self) -> usize {
        self.vocab
    }
    fn max_len(&self) -> usize {
        self.max_len
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> Result<Batch> {
        let t = rng.gen_range(self.min_len..=self.max_len);
        let first = match self.target {
            Target::Lag(k) => k,
            Target::First => 1,
        };
        let (mut x, mut y, mut w) = (vec![], vec![], vec![]);
        for _ in 0..size {
            let s: Vec<u32> = (0..t)
                .map(|_| rng.gen_range(0..self.vocab as u32))
                .collect();
            for i in 0..t {
                let scored = i >= first && i >= self.score_from;
                y.push(match self.target {
                    _ if !scored => 0,
                    Target::Lag(k) => s[i - k],
                    Target::First => s[0],
                });
                w.push(if scored { 1f32 } else { 0f32 });
            }
            x.extend(s);
        }
        Batch::from_vecs(x, y, w, size, t, None, dev)
    }
}

/// Complex-valued word embeddings (see the module docs).
#[derive(Clone, Debug)]
pub struct ComplexEmbedding {
    /// Amplitude r (vocab, d/2).
    pub r: Tensor,
    /// Frequency ω (vocab, d/2), radians per position.
    pub omega: Tensor,
    /// Phase θ (vocab, d/2).
    pub theta: Tensor,
    pub d: usize,
}

/// Complex embeddings of width `d` (even): r ~ N(0, 1), ω ~ U(0, 1), θ ~ U(−π, π).
pub fn complex_embedding(vocab: usize, d: usize, vb: VarBuilder) -> Result<ComplexEmbedding> {
    if !d.is_multiple_of(2) {
        candle_core::bail!("complex embedding width must be even, got {d}")
    }
    let h = d / 2;
    let pi = std::f64::consts::PI;
    Ok(ComplexEmbedding {
        r: vb.get_with_hints(
            (vocab, h),
            "r",
            Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        )?,
        omega: vb.get_with_hints((vocab, h), "omega", Init::Uniform { lo: 0.0, up: 1.0 })?,
        theta: vb.get_with_hints((vocab, h), "theta", Init::Uniform { lo: -pi, up: pi })?,
        d,
    })
}

impl ComplexEmbedding {
    /// f(word, position) for parallel lists of words and positions: (N, d).
    pub fn embed_at(&self, words: &Tensor, positions: &[usize]) -> Result<Tensor> {
        let n = positions.len();
        let pos: Vec<f64> = positions.iter().map(|&p| p as f64).collect();
        let pos = Tensor::from_vec(pos, (n, 1), words.device())?;
        let r = self.r.index_select(words, 0)?;
        let omega = self.omega.index_select(words, 0)?.to_dtype(DType::F64)?;
        let theta = self.theta.index_select(words, 0)?.to_dtype(DType::F64)?;
        let phase = omega.broadcast_mul(&pos)?.add(&theta)?;
        let re = (&r * phase.cos()?.to_dtype(DType::F32)?)?;
        let im = (&r * phase.sin()?.to_dtype(DType::F32)?)?;
        Tensor::cat(&[re, im], 1)
    }

    /// Embeddings (B, T, d) of tokens (B, T) at positions 0..T.
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let pos: Vec<usize> = (0..b * t).map(|i| i % t).collect();
        self.embed_at(&tokens.flatten_all()?, &pos)?
            .reshape((b, t, self.d))
    }

    /// The defining property, measured: over every word, each position p in
    /// `positions` and each shift k in `shifts`, the largest
    /// ‖f(j, p + k) − e^{iω_j k} ⊙ f(j, p)‖ / ‖f(j, p)‖, with the rotation by ω_j·k
    /// applied in f64 to the f32 embedding.
    pub fn rotation_error(&self, positions: &[usize], shifts: &[usize]) -> Result<f64> {
        let (vocab, h) = self.r.dims2()?;
        let omega = self.omega.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let dev = self.r.device();
        let mut words = vec![];
        let mut pos = vec![];
        for j in 0..vocab {
            for &p in positions {
                words.push(j as u32);
                pos.push(p);
            }
        }
        let wt = Tensor::from_vec(words.clone(), words.len(), dev)?;
        let base = self.embed_at(&wt, &pos)?.to_vec2::<f32>()?;
        let mut worst: f64 = 0.0;
        for &k in shifts {
            let moved: Vec<usize> = pos.iter().map(|p| p + k).collect();
            let at = self.embed_at(&wt, &moved)?.to_vec2::<f32>()?;
            for (row, (a, b)) in base.iter().zip(&at).enumerate() {
                let j = words[row] as usize;
                let (mut err, mut norm) = (0.0f64, 0.0f64);
                for c in 0..h {
                    let (re, im) = (a[c] as f64, a[c + h] as f64);
                    let ang = omega[j][c] * k as f64;
                    let (cs, sn) = (ang.cos(), ang.sin());
                    let (rre, rim) = (re * cs - im * sn, re * sn + im * cs);
                    err += (b[c] as f64 - rre).powi(2) + (b[c + h] as f64 - rim).powi(2);
                    norm += re * re + im * im;
                }
                if norm > 0.0 {
                    worst = worst.max((err / norm).sqrt());
                }
            }
        }
        Ok(worst)
    }
}

/// Shaw et al. relative position representations for one layer (shared by the heads).
#[derive(Clone, Debug)]
pub struct ShawRelative {
    /// a^K (2K+1, d_k): row K + δ is the key term for distance j − i = δ.
    pub key: Tensor,
    /// a^V (2K+1, d_v): the value term.
    pub value: Tensor,
    pub max_dist: usize,
}

/// Shaw terms of widths `d_k`, `d_v`, distances clipped at `max_dist`, initialized to 0.
pub fn shaw_relative(
    d_k: usize,
    d_v: usize,
    max_dist: usize,
    vb: VarBuilder,
) -> Result<ShawRelative> {
    let rows = 2 * max_dist + 1;
    Ok(ShawRelative {
        key: vb.get_with_hints((rows, d_k), "key", Init::Const(0.0))?,
        value: vb.get_with_hints((rows, d_v), "value", Init::Const(0.0))?,
        max_dist,
    })
}

impl ShawRelative {
    /// The (T, T) row indices clip(j − i, −K, K) + K, flattened.
    fn index(&self, t: usize, dev: &Device) -> Result<Tensor> {
        let k = self.max_dist as i64;
        let idx: Vec<u32> = (0..t * t)
            .map(|n| {
                let (i, j) = ((n / t) as i64, (n % t) as i64);
                ((j - i).clamp(-k, k) + k) as u32
            })
            .collect();
        Tensor::from_vec(idx, t * t, dev)
    }

    /// a^K and a^V gathered for queries and keys at 0..t: (T, T, d_k) and (T, T, d_v).
    pub fn terms(&self, t: usize) -> Result<(Tensor, Tensor)> {
        let idx = self.index(t, self.key.device())?;
        let ak = self.key.index_select(&idx, 0)?.reshape((t, t, ()))?;
        let av = self.value.index_select(&idx, 0)?.reshape((t, t, ()))?;
        Ok((ak, av))
    }

    /// max |a(i, j) − a(i+1, j+1)| over both gathered terms up to length t: 0 when the
    /// terms depend on (i, j) only through j − i.
    pub fn shift_deviation(&self, t: usize) -> Result<f64> {
        let (ak, av) = self.terms(t)?;
        let mut worst: f64 = 0.0;
        for a in [ak, av] {
            let lead = a.narrow(0, 1, t - 1)?.narrow(1, 1, t - 1)?;
            let lag = a.narrow(0, 0, t - 1)?.narrow(1, 0, t - 1)?;
            let d = (lead - lag)?.abs()?.max_keepdim(0)?.flatten_all()?.max(0)?;
            worst = worst.max(d.to_scalar::<f32>()? as f64);
        }
        Ok(worst)
    }
}

/// Self-attention with Shaw terms, on x (B, T, d) with the block's projections.
pub fn shaw_attention(
    attn: &PosAttention,
    shaw: &ShawRelative,
    x: &Tensor,
    mask: Option<&AttnMask>,
) -> Result<Tensor> {
    let mha = &attn.mha;
    let (b, t, _) = x.dims3()?;
    let h = mha.cfg.heads;
    let (q, k) = mha.qk(x, x)?; // (B, h, T, d_k)
    let (ak, av) = shaw.terms(t)?;
    // q_i·a^K_ij for every (i, j): queries regrouped by position, (T, B·h, d_k).
    let qt = q.reshape((b * h, t, ()))?.transpose(0, 1)?.contiguous()?;
    let rel = bmm_nt(&qt, &ak)?.transpose(0, 1)?.reshape((b, h, t, t))?;
    let s = ((bmm_nt(&q, &k)? + rel)? * mha.cfg.scale.factor(mha.cfg.d_k))?;
    let w = attention_weights(&s, mask)?;
    let v = split_heads(&mha.wv.forward(x)?, h)?;
    // Σ_j α_ij a^V_ij: weights regrouped by query position, (T, B·h, T) · (T, T, d_v).
    let wt = w.reshape((b * h, t, t))?.transpose(0, 1)?.contiguous()?;
    let rel_v = bmm(&wt, &av)?.transpose(0, 1)?.reshape((b, h, t, ()))?;
    mha.wo.forward(&merge_heads(&(bmm(&w, &v)? + rel_v)?)?)
}

/// Model sizes shared by every encoding.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct NetConfig {
    pub vocab: usize,
    /// The longest input (rows of the absolute tables).
    pub max_len: usize,
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub d_ff: usize,
    pub rope_base: f64,
    /// Relative encodings: distances clipped to [−K, K].
    pub rel_max_dist: usize,
}

/// A model with one of the six encodings.
pub enum Net {
    /// Learned, sinusoidal, rotary, relative bias: the core's model.
    Core(PosModel),
    /// Shaw or complex: token (or complex) embedding, Pre-LN causal blocks, read-out.
    Own(OwnNet),
}

pub struct OwnNet {
    pub embed: Option<Embedding>,
    pub complex: Option<ComplexEmbedding>,
    pub blocks: Vec<PosBlock>,
    /// One per block for Shaw; empty otherwise.
    pub shaw: Vec<ShawRelative>,
    pub final_norm: LayerNorm,
    pub head: Linear,
}

/// Build the model for `enc` (variables from `vb`; causal attention).
pub fn net(enc: Encoding, c: NetConfig, vb: VarBuilder) -> Result<Net> {
    if let Some(pos) = enc.core() {
        let cfg = PosModelConfig {
            vocab_in: c.vocab,
            vocab_out: c.vocab,
            max_len: c.max_len,
            d_model: c.d_model,
            heads: c.heads,
            layers: c.layers,
            d_ff: c.d_ff,
            pos,
            rope_base: c.rope_base,
            rel_max_dist: c.rel_max_dist,
            causal: true,
        };
        return Ok(Net::Core(pos_model(cfg, vb)?));
    }
    let d = c.d_model;
    let mha_cfg = MhaConfig::new(d, c.heads);
    let (embed, complex) = if enc == Encoding::Complex {
        (None, Some(complex_embedding(c.vocab, d, vb.pp("complex"))?))
    } else {
        let table = vb.get_with_hints(
            (c.vocab, d),
            "embed.weight",
            Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        )?;
        (Some(Embedding::new(table, d)), None)
    };
    let (mut blocks, mut shaw) = (vec![], vec![]);
    for l in 0..c.layers {
        let vb = vb.pp(format!("block{l}"));
        if enc == Encoding::Shaw {
            shaw.push(shaw_relative(
                mha_cfg.d_k,
                mha_cfg.d_v,
                c.rel_max_dist,
                vb.pp("shaw"),
            )?);
        }
        blocks.push(PosBlock {
            attn: PosAttention {
                mha: multi_head_attention(mha_cfg, vb.pp("attn"))?,
                rope: None,
                rel: None,
            },
            ffn: ffn(d, c.d_ff, Activation::Relu, vb.pp("ffn"))?,
            norm1: layer_norm(d, vb.pp("norm1"))?,
            norm2: layer_norm(d, vb.pp("norm2"))?,
        });
    }
    Ok(Net::Own(OwnNet {
        embed,
        complex,
        blocks,
        shaw,
        final_norm: layer_norm(d, vb.pp("final_norm"))?,
        head: linear(d, c.vocab, true, vb.pp("head"))?,
    }))
}

impl OwnNet {
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let t = tokens.dim(1)?;
        let mut x = match (&self.complex, &self.embed) {
            (Some(c), _) => c.forward(tokens)?,
            (None, Some(e)) => e.forward(tokens)?,
            (None, None) => candle_core::bail!("no embedding"),
        };
        let mask = Mask::causal(t).to_attn(tokens.device())?;
        for (l, b) in self.blocks.iter().enumerate() {
            let xn = b.norm1.forward(&x)?;
            let h = match self.shaw.get(l) {
                Some(s) => shaw_attention(&b.attn, s, &xn, Some(&mask))?,
                None => b.attn.forward(&xn, Some(&mask))?,
            };
            x = (x + h)?;
            let h = b.ffn.forward(&b.norm2.forward(&x)?)?;
            x = (x + h)?;
        }
        self.head.forward(&self.final_norm.forward(&x)?)
    }
}

impl SeqModel for Net {
    fn logits(&self, b: &Batch, _train: bool) -> Result<Tensor> {
        match self {
            Net::Core(m) => m.forward(&b.x),
            Net::Own(m) => m.forward(&b.x),
        }
    }
}

impl Net {
    /// The largest |term(i, j) − term(i+1, j+1)| of the relative terms (scalar bias or
    /// Shaw's a^K, a^V) over queries and keys at 0..t; None for the other encodings.
    pub fn relative_shift_deviation(&self, t: usize) -> Result<Option<f64>> {
        let mut worst: Option<f64> = None;
        match self {
            Net::Core(m) => {
                for block in &m.blocks {
                    if let Some(rb) = &block.attn.rel {
                        let b = rb.bias(t, t)?.squeeze(0)?;
                        let lead = b.narrow(1, 1, t - 1)?.narrow(2, 1, t - 1)?;
                        let lag = b.narrow(1, 0, t - 1)?.narrow(2, 0, t - 1)?;
                        let d = (lead - lag)?.abs()?.flatten_all()?.max(D::Minus1)?;
                        let d = d.to_scalar::<f32>()? as f64;
                        worst = Some(worst.unwrap_or(0.0).max(d));
                    }
                }
            }
            Net::Own(m) => {
                for s in &m.shaw {
                    worst = Some(worst.unwrap_or(0.0).max(s.shift_deviation(t)?));
                }
            }
        }
        Ok(worst)
    }

    /// The complex embedding, if this model has one.
    pub fn complex(&self) -> Option<&ComplexEmbedding> {
        match self {
            Net::Own(m) => m.complex.as_ref(),
            Net::Core(_) => None,
        }
    }
}

/// Rotary shift test: the worst relative deviation of the score when both positions
/// move by `shift`, for each shift, three ways.
#[derive(Clone, Debug)]
pub struct ShiftRow {
    pub shift: usize,
    /// Rotary with angles in f64, rounded once to f32 (the core's default).
    pub rope_f64: f64,
    /// Rotary with angles computed in f32 (contrast).
    pub rope_f32: f64,
    /// Rotary f64-angle scores against exact f64 scores.
    pub rope_vs_exact: f64,
    /// Additive sinusoidal code, (q + PE_m)·(k + PE_n) (contrast: not shift-invariant).
    pub additive: f64,
}

/// Random q, k (`pairs` draws of width `d`) at base positions in 0..`base_range`, moved
/// by each of `shifts`: max over draws of |score(m+s, n+s) − score(m, n)| / (|q||k|).
pub fn rope_shift_test(
    rng: &mut Rng64,
    d: usize,
    pairs: usize,
    base_range: usize,
    shifts: &[usize],
    rope_base: f64,
) -> Result<Vec<ShiftRow>> {
    let dev = Device::Cpu;
    let n = pairs;
    let qv = crate::rng::normal_vec(rng, n * d, 0.0, 1.0);
    let kv = crate::rng::normal_vec(rng, n * d, 0.0, 1.0);
    let q = Tensor::from_vec(qv.clone(), (n, d), &dev)?;
    let k = Tensor::from_vec(kv.clone(), (n, d), &dev)?;
    let (m0, n0): (Vec<usize>, Vec<usize>) = (0..n)
        .map(|_| (rng.gen_range(0..base_range), rng.gen_range(0..base_range)))
        .unzip();
    let row = |v: &[f32], i: usize| -> Vec<f64> {
        v[i * d..(i + 1) * d].iter().map(|&x| x as f64).collect()
    };
    let norms: Vec<f64> = (0..n)
        .map(|i| {
            let a: f64 = row(&qv, i).iter().map(|x| x * x).sum();
            let b: f64 = row(&kv, i).iter().map(|x| x * x).sum();
            (a * b).sqrt()
        })
        .collect();
    let rope64 = crate::core::rope::Rope::new(d, rope_base)?;
    let rope32 = rope64.with_angles(crate::core::rope::AngleMode::F32);
    let moved = |s: usize, v: &[usize]| -> Vec<usize> { v.iter().map(|p| p + s).collect() };
    let dots = |a: &Tensor, b: &Tensor| -> Result<Vec<f64>> {
        Ok((a * b)?
            .sum(1)?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|v| v as f64)
            .collect())
    };
    let rope_scores = |rope: &crate::core::rope::Rope, s: usize| -> Result<Vec<f64>> {
        dots(
            &rope.apply_at(&q, &moved(s, &m0))?,
            &rope.apply_at(&k, &moved(s, &n0))?,
        )
    };
    let additive = |s: usize| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let (a, b) = (sinusoid_at(m0[i] + s, d), sinusoid_at(n0[i] + s, d));
                let (qi, ki) = (row(&qv, i), row(&kv, i));
                (0..d).map(|c| (qi[c] + a[c]) * (ki[c] + b[c])).sum()
            })
            .collect()
    };
    // Exact scores in f64; they depend on n − m only.
    let exact: Vec<f64> = (0..n)
        .map(|i| {
            let a = rope64.rotate_f64(&row(&qv, i), m0[i]);
            let b = rope64.rotate_f64(&row(&kv, i), n0[i]);
            a.iter().zip(&b).map(|(x, y)| x * y).sum()
        })
        .collect();
    let worst = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .zip(&norms)
            .map(|((x, y), nn)| (x - y).abs() / nn)
            .fold(0.0, f64::max)
    };
    let (base64, base32, base_add) = (
        rope_scores(&rope64, 0)?,
        rope_scores(&rope32, 0)?,
        additive(0),
    );
    let mut rows = vec![];
    for &s in shifts {
        let s64 = rope_scores(&rope64, s)?;
        rows.push(ShiftRow {
            shift: s,
            rope_f64: worst(&s64, &base64),
            rope_f32: worst(&rope_scores(&rope32, s)?, &base32),
            rope_vs_exact: worst(&s64, &exact),
            additive: worst(&additive(s), &base_add),
        });
    }
    Ok(rows)
}

/// Test accuracies of one task: `acc[encoding][length][seed]`.
#[derive(Clone, Debug)]
pub struct Accuracy {
    pub lens: Vec<usize>,
    pub acc: Vec<Vec<Vec<f64>>>,
}

impl Accuracy {
    /// Accuracies over seeds of encoding `e` at length `len`.
    pub fn at(&self, e: Encoding, len: usize) -> &[f64] {
        let ei = ENCODINGS.iter().position(|&x| x == e).expect("encoding");
        let li = self
            .lens
            .iter()
            .position(|&x| x == len)
            .expect("test length");
        &self.acc[ei][li]
    }

    pub fn mean(&self, e: Encoding, len: usize) -> f64 {
        crate::stats::mean(self.at(e, len))
    }

    /// Per seed at `len`: (mean of rotary and relative bias − mean of learned and
    /// sinusoidal, min(rotary, relative bias) − max(learned, sinusoidal)).
    pub fn margins(&self, len: usize) -> Vec<(f64, f64)> {
        let (rot, rel) = (
            self.at(Encoding::Rotary, len),
            self.at(Encoding::RelativeBias, len),
        );
        let (lrn, sin) = (
            self.at(Encoding::Learned, len),
            self.at(Encoding::Sinusoidal, len),
        );
        (0..rot.len())
            .map(|s| {
                (
                    (rot[s] + rel[s]) / 2.0 - (lrn[s] + sin[s]) / 2.0,
                    rot[s].min(rel[s]) - lrn[s].max(sin[s]),
                )
            })
            .collect()
    }

    /// One row per encoding and length: mean, min, max over seeds.
    pub fn summary(&self) -> crate::output::table::Table {
        let mut t = crate::kit::estimate_table(&["encoding", "length"], &["accuracy"]);
        for e in ENCODINGS {
            for &len in &self.lens {
                let v = self.at(e, len);
                let est = crate::stats::Estimate::median_minmax(v);
                let mean = crate::stats::Estimate {
                    point: crate::stats::mean(v),
                    ..est
                };
                crate::kit::push_estimates(&mut t, vec![e.to_string(), len.to_string()], &[mean]);
            }
        }
        t
    }
}

/// What training every encoding on one task gave.
pub struct TaskRuns {
    pub sweep: crate::kit::Sweep<Encoding>,
    pub acc: Accuracy,
    /// Names of variables without gradient at initialization, per encoding (all seeds).
    pub dead: Vec<(Encoding, Vec<String>)>,
    /// Largest shift deviation of the trained relative terms, per relative encoding.
    pub rel_shift: Vec<(Encoding, f64)>,
    /// Largest rotation error of the trained complex embeddings over seeds.
    pub rotation: f64,
}

/// Train every encoding on `task` over `seeds`, then test at each of `lens` (positions
/// ≥ `score_past` scored at lengths above it; all positions at lengths up to it).
/// `rotation_at` = (positions, shifts) for the complex embedding's rotation test.
#[allow(clippy::too_many_arguments)]
pub fn train_and_test(
    ctx: &crate::experiment::Ctx,
    what: &str,
    task: &PositionTask,
    net_cfg: NetConfig,
    train_cfg: &crate::train::TrainConfig,
    seeds: &[u64],
    lens: &[usize],
    score_past: usize,
    test_size: usize,
    test_stream: u64,
    rotation_at: (&[usize], &[usize]),
) -> anyhow::Result<TaskRuns> {
    let dev = Device::Cpu;
    let mut acc = vec![vec![vec![]; lens.len()]; ENCODINGS.len()];
    let mut dead: Vec<(Encoding, Vec<String>)> = ENCODINGS.iter().map(|&e| (e, vec![])).collect();
    let mut rel_shift: Vec<(Encoding, f64)> = vec![];
    let mut rotation: f64 = 0.0;
    let sweep = crate::kit::sweep(ctx, what, &ENCODINGS, seeds, |&enc, s| {
        let ei = ENCODINGS.iter().position(|&x| x == enc).expect("encoding");
        let params = crate::core::params::Params::new(s);
        let model = net(enc, net_cfg, params.vb())?;
        let b = task.batch(&mut crate::rng::seeded(s, 50), 8, &dev)?;
        let (loss, _, _) = crate::train::trainer::masked_loss(&model.logits(&b, true)?, &b)?;
        for name in crate::train::trainer::vars_without_gradient(&params, &loss)? {
            if !dead[ei].1.contains(&name) {
                dead[ei].1.push(name);
            }
        }
        let log = crate::train::trainer::train(&model, &params, task, train_cfg, s)?;
        for (li, &len) in lens.iter().enumerate() {
            let fixed = task.at(len, if len > score_past { score_past } else { 0 });
            let mut hr = crate::rng::seeded(s, test_stream + len as u64);
            let batches = (0..test_size.div_ceil(32))
                .map(|_| fixed.batch(&mut hr, 32, &dev))
                .collect::<Result<Vec<_>>>()?;
            acc[ei][li].push(crate::train::trainer::evaluate(&model, &batches)?.1);
        }
        if let Some(d) = model.relative_shift_deviation(*lens.iter().max().unwrap_or(&2))? {
            match rel_shift.iter_mut().find(|(e, _)| *e == enc) {
                Some((_, w)) => *w = w.max(d),
                None => rel_shift.push((enc, d)),
            }
        }
        if let Some(c) = model.complex() {
            rotation = rotation.max(c.rotation_error(rotation_at.0, rotation_at.1)?);
        }
        Ok(log)
    })?;
    Ok(TaskRuns {
        sweep,
        acc: Accuracy {
            lens: lens.to_vec(),
            acc,
        },
        dead,
        rel_shift,
        rotation,
    })
}

/// "learned 0.99 / 0.5 / 0.28, …" for every encoding at L, 2L, 4L.
pub fn means_text(acc: &Accuracy, l: usize) -> String {
    ENCODINGS
        .iter()
        .map(|&e| {
            let m = |len| crate::fmt::sig(acc.mean(e, len), 2);
            format!("{e} {} / {} / {}", m(l), m(2 * l), m(4 * l))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub struct Margins {
    pub table: crate::output::table::Table,
    pub copy_class: Vec<f64>,
    pub copy_strict: Vec<f64>,
    pub first_class: Vec<f64>,
    /// (seed index, length) of the worst strict margin.
    pub worst_strict: (usize, usize),
}

/// Per seed at 2L and 4L: the class-mean and strict margins on both tasks; a summary
/// table (rule, length, mean, min, max).
pub fn margin_table(copy: &Accuracy, first: &Accuracy, l: usize) -> Margins {
    let mut m = Margins {
        table: crate::kit::estimate_table(&["rule", "length"], &["margin"]),
        copy_class: vec![],
        copy_strict: vec![],
        first_class: vec![],
        worst_strict: (0, 0),
    };
    let mut worst = f64::INFINITY;
    for len in [2 * l, 4 * l] {
        let (cc, cs): (Vec<f64>, Vec<f64>) = copy.margins(len).into_iter().unzip();
        let fc: Vec<f64> = first.margins(len).into_iter().map(|x| x.0).collect();
        for (s, &x) in cs.iter().enumerate() {
            if x < worst {
                worst = x;
                m.worst_strict = (s, len);
            }
        }
        for (rule, v) in [
            ("copy-4-back, class means (current rule)", &cc),
            (
                "copy-4-back, worst relative − best absolute (original rule)",
                &cs,
            ),
            ("first token, class means", &fc),
        ] {
            let e = crate::stats::Estimate::median_minmax(v);
            let e = crate::stats::Estimate {
                point: crate::stats::mean(v),
                ..e
            };
            crate::kit::push_estimates(&mut m.table, vec![rule.into(), len.to_string()], &[e]);
        }
        m.copy_class.extend(cc);
        m.copy_strict.extend(cs);
        m.first_class.extend(fc);
    }
    m
}

/// The sinusoidal code of position p, width d, in f64 (sin on even, cos on odd channels).
pub fn sinusoid_at(p: usize, d: usize) -> Vec<f64> {
    (0..d)
        .map(|c| {
            let w = 10000f64.powf(-2.0 * (c / 2) as f64 / d as f64);
            if c % 2 == 0 {
                (p as f64 * w).sin()
            } else {
                (p as f64 * w).cos()
            }
        })
        .collect()
}
