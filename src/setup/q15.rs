//! Setup of question 15: an encoder–decoder at random initialization and the probes of
//! its cross-attention (shapes over length pairs, dependency probes, the seed answer's
//! recipe taken literally).

use anyhow::{bail, Result};
use candle_core::{Device, Module, Tensor, D};
use serde::Serialize;

use crate::core::attention::scaled_dot_product;
use crate::core::*;
use crate::rng::{index_vec, randn, seeded};
use crate::spec::q15::{CHANGE_TOL, SAME_TOL};

#[derive(Serialize)]
pub struct Config {
    /// Model width, heads, layers (encoder and decoder each); Post-LN as in the paper.
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    /// Source and target vocabulary size.
    pub vocab: usize,
    /// (target length, source length) pairs for the shape check.
    pub length_pairs: Vec<(usize, usize)>,
    /// Target and source length of the dependency probes.
    pub tgt_len: usize,
    pub src_len: usize,
    /// Random models × inputs probed (each with its own weight seed).
    pub instances: usize,
    /// Standard deviation of the noise added to one memory row / one query row.
    pub perturb_std: f64,
    /// Answer rating: the literal recipe counts as right if its relative error
    /// ‖recipe − attention‖/‖attention‖ is at most this.
    pub recipe_rel_tol: f64,
}

impl Config {
    pub fn new(instances: usize) -> Self {
        Config {
            d_model: 32,
            heads: 4,
            layers: 2,
            vocab: 16,
            length_pairs: vec![(5, 9), (9, 5), (1, 12), (12, 1), (7, 7)],
            tgt_len: 6,
            src_len: 10,
            instances,
            perturb_std: 1.0,
            recipe_rel_tol: 0.1,
        }
    }

    pub fn model(&self, seed: u64) -> Result<EncoderDecoder> {
        let layer = LayerConfig::new(self.d_model, self.heads);
        let max_len = self
            .length_pairs
            .iter()
            .map(|&(t, s)| t.max(s))
            .chain([self.tgt_len, self.src_len])
            .max()
            .unwrap_or(1);
        let cfg = EncDecConfig::new(self.vocab, self.vocab, max_len, self.layers, layer);
        Ok(seeded_encoder_decoder(cfg, seed)?.1)
    }
}

pub fn tokens(v: &[u32]) -> Result<Tensor> {
    Ok(Tensor::from_vec(v.to_vec(), (1, v.len()), &Device::Cpu)?)
}

/// Per-position max abs difference of two (1, T, D) tensors.
pub fn pos_diffs(a: &Tensor, b: &Tensor) -> Result<Vec<f64>> {
    Ok((a - b)?
        .abs()?
        .max(D::Minus1)?
        .squeeze(0)?
        .to_vec1::<f32>()?
        .into_iter()
        .map(|x| x as f64)
        .collect())
}

/// `x` with `noise` (1, 1, D) added at row `r`.
fn bump_row(x: &Tensor, r: usize, noise: &Tensor) -> Result<Tensor> {
    let t = x.dim(1)?;
    let mut parts = vec![];
    if r > 0 {
        parts.push(x.narrow(1, 0, r)?);
    }
    parts.push((x.narrow(1, r, 1)? + noise)?);
    if r + 1 < t {
        parts.push(x.narrow(1, r + 1, t - r - 1)?);
    }
    Ok(Tensor::cat(&parts, 1)?)
}

fn rel_err(a: &Tensor, b: &Tensor) -> Result<f64> {
    let num = (a - b)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    let den = b.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    Ok((num / den).sqrt())
}

/// One (target, source) length pair: the lengths read off every tensor.
pub struct ShapeRow {
    pub tgt: usize,
    pub src: usize,
    pub memory_len: usize,
    pub weight_rows: usize,
    pub weight_cols: usize,
    pub max_row_sum_error: f64,
    pub cross_out_len: usize,
    pub logits_len: usize,
}

impl ShapeRow {
    pub fn ok(&self) -> bool {
        self.memory_len == self.src
            && self.weight_rows == self.tgt
            && self.weight_cols == self.src
            && self.max_row_sum_error < 1e-5
            && self.cross_out_len == self.tgt
            && self.logits_len == self.tgt
    }
}

/// Shapes of the first cross-attention and of the logits for each length pair.
pub fn shapes(cfg: &Config, seed: u64) -> Result<Vec<ShapeRow>> {
    let m = cfg.model(seed * 1000)?;
    let mut rng = seeded(seed, 0);
    let mut out = vec![];
    for &(t, s) in &cfg.length_pairs {
        let src = tokens(&index_vec(&mut rng, s, cfg.vocab))?;
        let tgt = tokens(&index_vec(&mut rng, t, cfg.vocab))?;
        let memory = m.memory(&src, &LayerCtx::default())?;
        let xt = m.embed_tgt(&tgt, 0)?;
        let (co, cw) = m.layers[0]
            .cross_attn
            .forward_with_weights(&xt, &memory, None)?;
        let (_, _, wr, wc) = cw.dims4()?;
        let rs = (cw.sum(D::Minus1)? - 1.0)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()? as f64;
        out.push(ShapeRow {
            tgt: t,
            src: s,
            memory_len: memory.dim(1)?,
            weight_rows: wr,
            weight_cols: wc,
            max_row_sum_error: rs,
            cross_out_len: co.dim(1)?,
            logits_len: m.forward_causal(&src, &tgt)?.dim(1)?,
        });
    }
    Ok(out)
}

/// What the dependency probes found over all instances.
pub struct Probes {
    /// [memory row s]: smallest change over targets and instances (cross-attention,
    /// decoder output).
    pub mem_min_cross: Vec<f64>,
    pub mem_min_dec: Vec<f64>,
    pub mem_pairs: usize,
    pub mem_changed: usize,
    /// [perturbed query row j][output row i]: largest change over instances.
    pub q_max: Vec<Vec<f64>>,
    pub off_pairs: usize,
    pub off_same: usize,
    pub on_pairs: usize,
    pub on_changed: usize,
    pub worst_off: f64,
    /// One query alone against its batched row.
    pub worst_alone: f64,
    /// Relative error of the literal recipe: X·Mᵀ·M, and (QKᵀ)V without softmax.
    pub recipe_raw: Vec<f64>,
    pub recipe_proj: Vec<f64>,
}

pub fn probes(cfg: &Config, seed: u64, mut tick: impl FnMut()) -> Result<Probes> {
    let dev = Device::Cpu;
    let (t, s, d) = (cfg.tgt_len, cfg.src_len, cfg.d_model);
    let causal = Mask::causal(t).to_attn(&dev)?;
    let dctx = DecoderCtx {
        self_mask: Some(&causal),
        ..Default::default()
    };
    let mut p = Probes {
        mem_min_cross: vec![f64::INFINITY; s],
        mem_min_dec: vec![f64::INFINITY; s],
        mem_pairs: 0,
        mem_changed: 0,
        q_max: vec![vec![0f64; t]; t],
        off_pairs: 0,
        off_same: 0,
        on_pairs: 0,
        on_changed: 0,
        worst_off: 0.0,
        worst_alone: 0.0,
        recipe_raw: vec![],
        recipe_proj: vec![],
    };
    for inst in 0..cfg.instances {
        let m = cfg.model(seed * 1000 + 1 + inst as u64)?;
        let mut r = seeded(seed, 100 + inst as u64);
        let src = tokens(&index_vec(&mut r, s, cfg.vocab))?;
        let tgt = tokens(&index_vec(&mut r, t, cfg.vocab))?;
        let memory = m.memory(&src, &LayerCtx::default())?;
        let ca = &m.layers[0].cross_attn;
        // The query stream the first cross-attention sees (Post-LN: the output of the
        // masked self-attention sublayer), here random.
        let xq = randn(&mut r, &[1, t, d], 1.0, &dev)?;
        let cross = ca.forward(&xq, &memory, None)?;
        let dec = m.decode(&tgt, &memory, &dctx)?;
        // Memory row sp → cross-attention output and decoder output at each target.
        for sp in 0..s {
            let noise = randn(&mut r, &[1, 1, d], cfg.perturb_std, &dev)?;
            let mem2 = bump_row(&memory, sp, &noise)?;
            let dc = pos_diffs(&cross, &ca.forward(&xq, &mem2, None)?)?;
            let dd = pos_diffs(&dec, &m.decode(&tgt, &mem2, &dctx)?)?;
            for i in 0..t {
                p.mem_min_cross[sp] = p.mem_min_cross[sp].min(dc[i]);
                p.mem_min_dec[sp] = p.mem_min_dec[sp].min(dd[i]);
                p.mem_pairs += 2;
                p.mem_changed += (dc[i] > CHANGE_TOL) as usize + (dd[i] > CHANGE_TOL) as usize;
            }
        }
        // Query row j → cross-attention output at target i.
        for j in 0..t {
            let noise = randn(&mut r, &[1, 1, d], cfg.perturb_std, &dev)?;
            let dq = pos_diffs(
                &cross,
                &ca.forward(&bump_row(&xq, j, &noise)?, &memory, None)?,
            )?;
            for (i, &x) in dq.iter().enumerate() {
                p.q_max[j][i] = p.q_max[j][i].max(x);
                if i == j {
                    p.on_pairs += 1;
                    p.on_changed += (x > CHANGE_TOL) as usize;
                } else {
                    p.off_pairs += 1;
                    p.off_same += (x <= SAME_TOL) as usize;
                    p.worst_off = p.worst_off.max(x);
                }
            }
        }
        // Row i alone: one query over the whole memory.
        for i in 0..t {
            let alone = ca.forward(&xq.narrow(1, i, 1)?, &memory, None)?;
            p.worst_alone = p
                .worst_alone
                .max(pos_diffs(&cross.narrow(1, i, 1)?, &alone)?[0]);
        }
        // The literal recipe. Raw: X·Mᵀ·M (no projections, no softmax).
        let raw = xq.matmul(&memory.t()?)?.matmul(&memory)?;
        p.recipe_raw.push(rel_err(&raw, &cross)?);
        // With the learned projections, per head, but softmax(QKᵀ/√d_k)V replaced by
        // (QKᵀ)V.
        let c = ca.cfg;
        let heads = |x: &Tensor, w: usize| -> Result<Tensor> {
            Ok(x.reshape((1, x.dim(1)?, c.heads, w))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = heads(&ca.wq.forward(&xq)?, c.d_k)?;
        let Some(wk) = ca.wk.as_ref() else {
            bail!("cross-attention without its own W_K")
        };
        let k = heads(&wk.forward(&memory)?, c.d_k)?;
        let v = heads(&ca.wv.forward(&memory)?, c.d_v)?;
        let merge = |o: Tensor| -> Result<Tensor> {
            Ok(ca
                .wo
                .forward(&o.transpose(1, 2)?.reshape((1, t, c.heads * c.d_v))?)?)
        };
        let no_softmax = merge(q.matmul(&k.t()?)?.matmul(&v)?)?;
        let (proper, _) = scaled_dot_product(&q, &k, &v, None, c.scale.factor(c.d_k))?;
        if rel_err(&merge(proper)?, &cross)? > 1e-5 {
            bail!("per-head recomputation disagrees with the core's cross-attention");
        }
        p.recipe_proj.push(rel_err(&no_softmax, &cross)?);
        tick();
    }
    Ok(p)
}

/// a / b as a share (0 when b is 0).
pub fn share(a: usize, b: usize) -> f64 {
    a as f64 / b.max(1) as f64
}
