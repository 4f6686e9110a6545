//! Setup of question 16: the core's encoder and decoder layers at random
//! initialization; sublayer counts, attention shapes over length pairs, and the
//! causality probe (change target token j, compare decoder outputs, with the causal
//! mask and without it).

use anyhow::{bail, Result};
use candle_core::Device;
use serde::Serialize;

use crate::core::decoder::project_kv;
use crate::core::*;
use crate::rng::{index_vec, seeded};
use crate::setup::q15::{pos_diffs, tokens};
use crate::spec::q16::CHANGE_TOL;

#[derive(Serialize)]
pub struct Config {
    /// Model width, heads and layers (encoder and decoder each), Post-LN as in the paper.
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    /// Source and target vocabulary size.
    pub vocab: usize,
    /// (target length, source length) pairs whose attention shapes are read off.
    pub length_pairs: Vec<(usize, usize)>,
    /// Target and source length of the causality probe (different on purpose).
    pub tgt_len: usize,
    pub src_len: usize,
    /// Random models × random sentences probed (each with its own weights seed).
    pub instances: usize,
}

impl Config {
    pub fn new(instances: usize) -> Self {
        Config {
            d_model: 32,
            heads: 4,
            layers: 2,
            vocab: 16,
            length_pairs: vec![(7, 9), (9, 4), (1, 12), (12, 1), (6, 6)],
            tgt_len: 8,
            src_len: 11,
            instances,
        }
    }

    pub fn model(&self, seed: u64) -> Result<(Params, EncoderDecoder)> {
        let layer = LayerConfig::new(self.d_model, self.heads);
        let max_len = self
            .length_pairs
            .iter()
            .map(|&(t, s)| t.max(s))
            .chain([self.tgt_len, self.src_len])
            .max()
            .unwrap_or(1);
        let cfg = EncDecConfig::new(self.vocab, self.vocab, max_len, self.layers, layer);
        Ok(seeded_encoder_decoder(cfg, seed)?)
    }
}

/// Sublayers of the first encoder and decoder layer, counted from parameter names.
pub struct Sublayers {
    pub enc_attn: usize,
    pub enc_ffn: usize,
    pub enc_norm: usize,
    pub dec_attn: usize,
    pub dec_ffn: usize,
    pub dec_norm: usize,
}

pub fn sublayers(p: &Params) -> Sublayers {
    let names: Vec<String> = p.named_vars().into_iter().map(|(n, _)| n).collect();
    let count = |prefix: &str, suffix: &str| {
        names
            .iter()
            .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
            .count()
    };
    Sublayers {
        enc_attn: count("enc.layer0.", "wq.weight"),
        enc_ffn: count("enc.layer0.", "ffn.w1.weight"),
        enc_norm: count("enc.layer0.", "gamma"),
        dec_attn: count("dec.layer0.", "wq.weight"),
        dec_ffn: count("dec.layer0.", "ffn.w1.weight"),
        dec_norm: count("dec.layer0.", "gamma"),
    }
}

/// Query and key lengths of one attention call.
pub struct CallShape {
    pub tgt: usize,
    pub src: usize,
    pub module: &'static str,
    pub query_len: usize,
    pub key_len: usize,
    pub output_len: usize,
}

/// The lengths of the three attention calls of the first layers for each length pair.
pub fn call_shapes(cfg: &Config, m: &EncoderDecoder, seed: u64) -> Result<Vec<CallShape>> {
    let dev = Device::Cpu;
    let mut rng = seeded(seed, 0);
    let mut out = vec![];
    for &(t, s) in &cfg.length_pairs {
        let src = tokens(&index_vec(&mut rng, s, cfg.vocab))?;
        let tgt = tokens(&index_vec(&mut rng, t, cfg.vocab))?;
        let memory = m.memory(&src, &LayerCtx::default())?;
        let xs = m.encoder.embed(&src)?;
        let (eo, ew) = m.encoder.layers[0]
            .attn
            .forward_with_weights(&xs, &xs, None)?;
        let dl = &m.layers[0];
        let xt = m.embed_tgt(&tgt, 0)?;
        let causal = Mask::causal(t).to_attn(&dev)?;
        let (so, sw) = dl.self_attn.forward_with_weights(&xt, &xt, Some(&causal))?;
        let (co, cw) = dl.cross_attn.forward_with_weights(&xt, &memory, None)?;
        for (module, w, o) in [
            ("encoder self-attention", &ew, &eo),
            ("decoder self-attention", &sw, &so),
            ("decoder cross-attention", &cw, &co),
        ] {
            let (_, _, tq, tk) = w.dims4()?;
            out.push(CallShape {
                tgt: t,
                src: s,
                module,
                query_len: tq,
                key_len: tk,
                output_len: o.dim(1)?,
            });
        }
        // The cached cross keys have the source length, whatever the target length.
        let (k, _) = project_kv(&dl.cross_attn, &memory)?;
        if k.dim(2)? != s {
            bail!(
                "cross-attention keys have length {} for a source of {s}",
                k.dim(2)?
            );
        }
    }
    Ok(out)
}

/// What the causality probe found.
pub struct Causality {
    /// [changed position j][output position i][0: causal mask, 1: none]: largest
    /// change over instances.
    pub diff_max: Vec<Vec<[f64; 2]>>,
    pub before_total: usize,
    pub before_identical: usize,
    pub before_changed_unmasked: usize,
    pub after_total: usize,
    pub after_changed: usize,
    pub src_total: usize,
    pub src_changed: usize,
    pub worst_before: f64,
    pub smallest_after: f64,
}

pub fn causality(cfg: &Config, seed: u64, mut tick: impl FnMut()) -> Result<Causality> {
    let (t, s) = (cfg.tgt_len, cfg.src_len);
    let causal = Mask::causal(t).to_attn(&Device::Cpu)?;
    let mut c = Causality {
        diff_max: vec![vec![[0f64; 2]; t]; t],
        before_total: 0,
        before_identical: 0,
        before_changed_unmasked: 0,
        after_total: 0,
        after_changed: 0,
        src_total: 0,
        src_changed: 0,
        worst_before: 0.0,
        smallest_after: f64::INFINITY,
    };
    for inst in 0..cfg.instances {
        let (_, m) = cfg.model(seed * 1000 + 1 + inst as u64)?;
        let mut r = seeded(seed, 100 + inst as u64);
        let src_v = index_vec(&mut r, s, cfg.vocab);
        let tgt_v = index_vec(&mut r, t, cfg.vocab);
        let memory = m.memory(&tokens(&src_v)?, &LayerCtx::default())?;
        for (mi, mask) in [Some(&causal), None].into_iter().enumerate() {
            let dc = DecoderCtx {
                self_mask: mask,
                ..Default::default()
            };
            let base = m.decode(&tokens(&tgt_v)?, &memory, &dc)?;
            for j in 0..t {
                let mut v2 = tgt_v.clone();
                v2[j] = (v2[j] + 1 + index_vec(&mut r, 1, cfg.vocab - 1)[0]) % cfg.vocab as u32;
                let d = pos_diffs(&base, &m.decode(&tokens(&v2)?, &memory, &dc)?)?;
                for (i, &x) in d.iter().enumerate() {
                    c.diff_max[j][i][mi] = c.diff_max[j][i][mi].max(x);
                    match (i < j, mi == 0) {
                        (true, true) => {
                            c.before_total += 1;
                            c.before_identical += (x == 0.0) as usize;
                            c.worst_before = c.worst_before.max(x);
                        }
                        (true, false) => c.before_changed_unmasked += (x > CHANGE_TOL) as usize,
                        (false, true) => {
                            c.after_total += 1;
                            c.after_changed += (x > CHANGE_TOL) as usize;
                            c.smallest_after = c.smallest_after.min(x);
                        }
                        (false, false) => {}
                    }
                }
            }
            if mi == 0 {
                // Change one source token: every decoder output should move.
                let sj = index_vec(&mut r, 1, s)[0] as usize;
                let mut s2 = src_v.clone();
                s2[sj] = (s2[sj] + 1) % cfg.vocab as u32;
                let mem2 = m.memory(&tokens(&s2)?, &LayerCtx::default())?;
                let d = pos_diffs(&base, &m.decode(&tokens(&tgt_v)?, &mem2, &dc)?)?;
                c.src_total += t;
                c.src_changed += d.iter().filter(|&&x| x > CHANGE_TOL).count();
            }
        }
        tick();
    }
    Ok(c)
}
