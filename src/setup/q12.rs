//! Q12 (LayerNorm against BatchNorm): probe sentences and padded batches, the probes
//! of how batch statistics mix a sentence with its partners and its padding, the
//! probe of where a core layer normalizes, and the variable-length training tasks
//! (uniform counting, and Zipfian tokens with heavy-tailed lengths).

use std::fmt;

use anyhow::{bail, Result};
use candle_core::{Device, IndexOp, Module, Tensor, D};
use rand::Rng;

use crate::core::layers::{encoder_layer, LayerConfig, LayerCtx, Placement};
use crate::core::mask::{valid_positions, Mask};
use crate::core::max_abs_diff;
use crate::core::model::{encoder, Encoder, EncoderConfig, PosKind};
use crate::core::norm::{BatchNorm, Norm, NormKind};
use crate::core::params::Params;
use crate::experiment::Ctx;
use crate::fmt::num;
use crate::kit::{self, Grouped};
use crate::output::table::Table;
use crate::rng::{normal_vec, seeded, Rng64};
use crate::stats;
use crate::train::TrainConfig;
use crate::train::{Batch, SeqModel, Task};

/// A normalization arm, labelled in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm(pub NormKind);

impl Arm {
    pub const ALL: [Arm; 4] = [
        Arm(NormKind::Layer),
        Arm(NormKind::Batch),
        Arm(NormKind::MaskedBatch),
        Arm(NormKind::None),
    ];
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            NormKind::Layer => "LayerNorm",
            NormKind::Batch => "BatchNorm",
            NormKind::MaskedBatch => "masked BatchNorm",
            NormKind::None => "no norm",
        })
    }
}

// ---------------------------------------------------------------- probe data

/// A sentence of `len` token vectors, feature f ~ N(mu[f], 1), row-major len×d.
pub fn sentence(rng: &mut Rng64, len: usize, mu: &[f32]) -> Vec<f32> {
    let d = mu.len();
    let z = normal_vec(rng, len * d, 0.0, 1.0);
    z.iter().enumerate().map(|(i, v)| v + mu[i % d]).collect()
}

/// A padded batch: (B, T, d) inputs and the (B, T) real-token indicator.
pub struct Padded {
    pub x: Tensor,
    pub valid: Tensor,
}

/// Sentences padded with zero vectors (as a pad embedding would be) to `t`.
pub fn pad_batch(sents: &[Vec<f32>], d: usize, t: usize) -> Result<Padded> {
    let mut x = Vec::with_capacity(sents.len() * t * d);
    let mut lengths = vec![];
    for s in sents {
        let l = s.len() / d;
        if l > t {
            bail!("sentence of length {l} does not fit in {t}");
        }
        x.extend_from_slice(s);
        x.extend(std::iter::repeat_n(0f32, (t - l) * d));
        lengths.push(l);
    }
    let dev = Device::Cpu;
    Ok(Padded {
        x: Tensor::from_vec(x, (sents.len(), t, d), &dev)?,
        valid: valid_positions(&lengths, t, &dev)?,
    })
}

/// Normalize in training mode; the first sentence's first `len` outputs.
pub fn first_sentence_out(n: &Norm, b: &Padded, len: usize) -> Result<Tensor> {
    Ok(n.forward_t(&b.x, Some(&b.valid), true)?.i((0, 0..len))?)
}

pub fn mean_abs(a: &Tensor, b: &Tensor) -> Result<f64> {
    Ok((a - b)?.abs()?.mean_all()?.to_scalar::<f32>()? as f64)
}

/// Per-token mean and standard deviation over features, averaged over tokens: a
/// normalized tensor (γ = 1, β = 0) shows (0, 1).
pub fn token_moments(x: &Tensor) -> Result<(f64, f64)> {
    let m = x.mean_keepdim(D::Minus1)?;
    let sd = x
        .broadcast_sub(&m)?
        .sqr()?
        .mean_keepdim(D::Minus1)?
        .sqrt()?;
    Ok((
        m.abs()?.mean_all()?.to_scalar::<f32>()? as f64,
        sd.mean_all()?.to_scalar::<f32>()? as f64,
    ))
}

// ---------------------------------------------------------------- probes

/// Probe sizes: sentence width, the probed sentence's length, partners per batch and
/// their length, the two padded lengths compared.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct ProbeSizes {
    pub d: usize,
    pub probe_len: usize,
    pub partners: usize,
    pub partner_len: usize,
    pub pad_to: (usize, usize),
}

/// How far one sentence's training-mode output moves, per norm: when its partners
/// change, and when its batch is padded further (max |Δ| over the sentence).
pub struct Invariance {
    pub partner: Grouped,
    pub padding: Grouped,
}

pub fn invariance(
    norms: &[(Arm, Norm)],
    s: &ProbeSizes,
    mu: &[f32],
    trials: usize,
    rng: &mut Rng64,
) -> Result<Invariance> {
    let (mut partner, mut padding) = (Grouped::new(), Grouped::new());
    for _ in 0..trials {
        let first = sentence(rng, s.probe_len, mu);
        let with_partners = |rng: &mut Rng64| -> Vec<Vec<f32>> {
            std::iter::once(first.clone())
                .chain((0..s.partners).map(|_| sentence(rng, s.partner_len, mu)))
                .collect()
        };
        let (pa, pb) = (with_partners(rng), with_partners(rng));
        let a = pad_batch(&pa, s.d, s.pad_to.0)?;
        let b = pad_batch(&pb, s.d, s.pad_to.0)?;
        let long = pad_batch(&pa, s.d, s.pad_to.1)?;
        for (arm, n) in norms.iter().filter(|(a, _)| a.0 != NormKind::None) {
            let oa = first_sentence_out(n, &a, s.probe_len)?;
            partner.push(
                arm,
                max_abs_diff(&oa, &first_sentence_out(n, &b, s.probe_len)?)?,
            );
            padding.push(
                arm,
                max_abs_diff(&oa, &first_sentence_out(n, &long, s.probe_len)?)?,
            );
        }
    }
    Ok(Invariance { partner, padding })
}

/// BatchNorm with pads in its statistics against masked BatchNorm, on `reps` batches
/// of `batch` sentences of length `len` padded to `pad_to` (width `mu.len()`): mean
/// |output difference| (per repeat), and the mean errors of the per-feature mean and
/// variance.
pub struct Pollution {
    pub pad_fraction: f64,
    pub output_error: Vec<f64>,
    pub mean_error: f64,
    pub var_error: f64,
}

pub fn pollution(
    bn: &Norm,
    masked: &Norm,
    (batch, len, pad_to): (usize, usize, usize),
    reps: usize,
    mu: &[f32],
    rng: &mut Rng64,
) -> Result<Pollution> {
    let d = mu.len();
    let (mut oe, mut me, mut ve) = (vec![], vec![], vec![]);
    for _ in 0..reps {
        let sents: Vec<Vec<f32>> = (0..batch).map(|_| sentence(rng, len, mu)).collect();
        let b = pad_batch(&sents, d, pad_to)?;
        let real = |o: Tensor| o.i((.., 0..len));
        let x = real(bn.forward_t(&b.x, Some(&b.valid), true)?)?;
        let y = real(masked.forward_t(&b.x, Some(&b.valid), true)?)?;
        oe.push(mean_abs(&x, &y)?);
        let (m1, v1) = BatchNorm::batch_stats(&b.x, None)?;
        let (m2, v2) = BatchNorm::batch_stats(&b.x, Some(&b.valid))?;
        me.push(mean_abs(&m1, &m2)?);
        ve.push(mean_abs(&v1, &v2)?);
    }
    Ok(Pollution {
        pad_fraction: 1.0 - len as f64 / pad_to as f64,
        output_error: oe,
        mean_error: stats::mean(&me),
        var_error: stats::mean(&ve),
    })
}

/// Mean |training-mode − inference-mode| output per real token feature, after
/// fitting the running statistics on `fit` batches of sentences of random length in
/// `len` (padded to its max), over `eval` further batches.
pub fn train_eval_gap(
    n: &Norm,
    mu: &[f32],
    batch: usize,
    len: (usize, usize),
    (fit, eval): (usize, usize),
    seed: u64,
) -> Result<Vec<f64>> {
    let d = mu.len();
    let make = |r: &mut Rng64| -> Result<Padded> {
        let sents: Vec<Vec<f32>> = (0..batch)
            .map(|_| {
                let l = r.gen_range(len.0..=len.1);
                sentence(r, l, mu)
            })
            .collect();
        pad_batch(&sents, d, len.1)
    };
    let mut r = seeded(seed, 23);
    for _ in 0..fit {
        let b = make(&mut r)?;
        n.forward_t(&b.x, Some(&b.valid), true)?;
    }
    let mut r = seeded(seed, 24);
    let mut gaps = vec![];
    for _ in 0..eval {
        let b = make(&mut r)?;
        let tr = n.forward_t(&b.x, Some(&b.valid), true)?;
        let ev = n.forward_t(&b.x, Some(&b.valid), false)?;
        let w = b.valid.unsqueeze(2)?;
        let diff = (tr - ev)?.abs()?.broadcast_mul(&w)?.sum_all()?;
        let cnt = (w.sum_all()?.to_scalar::<f32>()? as f64) * d as f64;
        gaps.push(diff.to_scalar::<f32>()? as f64 / cnt);
    }
    Ok(gaps)
}

// ---------------------------------------------------------------- where LN sits

/// One named point inside a layer's forward pass.
pub struct Point {
    pub name: &'static str,
    pub mean_abs: f64,
    pub std: f64,
    pub normalized: bool,
}

/// Where one core layer normalizes, found by recomposing it by hand.
pub struct Placed {
    pub placement: Placement,
    pub points: Vec<Point>,
    /// Normalization sites after the attention output and before the FFN
    /// pre-activation.
    pub between: usize,
    /// Normalization sites anywhere else.
    pub elsewhere: usize,
    /// Whether the norm between attention and FFN normalizes the attention output
    /// alone (false: it normalizes the residual sum).
    pub of_attention_alone: bool,
}

impl fmt::Display for Placed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sites: Vec<&str> = self
            .points
            .iter()
            .filter(|p| p.normalized)
            .map(|p| p.name)
            .collect();
        let p = match self.placement {
            Placement::PostLn => "Post-LN",
            Placement::PreLn => "Pre-LN",
        };
        write!(f, "{p}: normalized at {}", sites.join(", "))
    }
}

/// Recompose a core layer by hand (checked against the core's forward) and find the
/// points whose tokens have mean 0 and standard deviation 1 (γ = 1, β = 0).
pub fn probe_placement(
    placement: Placement,
    d_model: usize,
    heads: usize,
    x: &Tensor,
    seed: u64,
) -> Result<Placed> {
    let p = Params::new(seed);
    let mut lc = LayerConfig::new(d_model, heads);
    lc.placement = placement;
    let layer = encoder_layer(lc, p.vb())?;
    let nf = |n: &Norm, t: &Tensor| n.forward_t(t, None, false);
    let (named, out, alone): (Vec<(&'static str, Tensor)>, Tensor, bool) = match placement {
        Placement::PostLn => {
            let a = layer.attn.forward(x, x, None)?;
            let s1 = (x + &a)?;
            let h = nf(&layer.norm1, &s1)?;
            let pre = layer.ffn.w1.forward(&h)?;
            let f = layer.ffn.forward(&h)?;
            let s2 = (&h + &f)?;
            let o = nf(&layer.norm2, &s2)?;
            let alone = max_abs_diff(&nf(&layer.norm1, &a)?, &h)? < 1e-4;
            let pts = vec![
                ("x", x.clone()),
                ("attn", a),
                ("x+attn", s1),
                ("LN1", h),
                ("pre-act", pre),
                ("FFN", f),
                ("h+FFN", s2),
                ("out", o.clone()),
            ];
            (pts, o, alone)
        }
        Placement::PreLn => {
            let n1 = nf(&layer.norm1, x)?;
            let a = layer.attn.forward(&n1, &n1, None)?;
            let s1 = (x + &a)?;
            let n2 = nf(&layer.norm2, &s1)?;
            let pre = layer.ffn.w1.forward(&n2)?;
            let f = layer.ffn.forward(&n2)?;
            let o = (&s1 + &f)?;
            let alone = max_abs_diff(&nf(&layer.norm2, &a)?, &n2)? < 1e-4;
            let pts = vec![
                ("x", x.clone()),
                ("LN1", n1),
                ("attn", a),
                ("x+attn", s1),
                ("LN2", n2),
                ("pre-act", pre),
                ("FFN", f),
                ("out", o.clone()),
            ];
            (pts, o, alone)
        }
    };
    if max_abs_diff(&layer.forward_t(x, &LayerCtx::default())?, &out)? > 1e-4 {
        bail!("hand-composed {placement:?} layer differs from the core's forward");
    }
    let att_i = named.iter().position(|n| n.0 == "attn").unwrap_or(0);
    let pre_i = named.iter().position(|n| n.0 == "pre-act").unwrap_or(0);
    let (mut between, mut elsewhere) = (0, 0);
    let mut points = vec![];
    for (i, (name, t)) in named.iter().enumerate() {
        let (m, s) = token_moments(t)?;
        let normalized = m < 1e-3 && (s - 1.0).abs() < 1e-2;
        if normalized {
            if i > att_i && i < pre_i {
                between += 1;
            } else {
                elsewhere += 1;
            }
        }
        points.push(Point {
            name,
            mean_abs: m,
            std: s,
            normalized,
        });
    }
    Ok(Placed {
        placement,
        points,
        between,
        elsewhere,
        of_attention_alone: alone,
    })
}

// ---------------------------------------------------------------- training tasks

/// How sentence lengths are drawn.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub enum Lengths {
    /// Uniform on [min, max].
    Uniform { min: usize, max: usize },
    /// Discrete Pareto: ⌊min · u^(−1/alpha)⌋ for u uniform on (0, 1], cut at max.
    Pareto { min: usize, max: usize, alpha: f64 },
}

/// How tokens are drawn.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub enum Tokens {
    Uniform,
    /// p(k) ∝ k^(−s) for tokens k = 1..V.
    Zipf {
        s: f64,
    },
}

/// Variable-length counting: tokens 1..=V (0 is the pad); each position's target is
/// how many times its token occurs in the sentence (count − 1 as the class).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct CountTask {
    pub name: &'static str,
    pub vocab: usize,
    pub lengths: Lengths,
    pub tokens: Tokens,
}

impl fmt::Display for CountTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl CountTask {
    fn max(&self) -> usize {
        match self.lengths {
            Lengths::Uniform { max, .. } | Lengths::Pareto { max, .. } => max,
        }
    }
    pub fn length(&self, rng: &mut Rng64) -> usize {
        match self.lengths {
            Lengths::Uniform { min, max } => rng.gen_range(min..=max),
            Lengths::Pareto { min, max, alpha } => {
                let u: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
                ((min as f64 * u.powf(-1.0 / alpha)).floor() as usize).clamp(min, max)
            }
        }
    }
    pub fn token(&self, rng: &mut Rng64) -> u32 {
        match self.tokens {
            Tokens::Uniform => rng.gen_range(1..=self.vocab as u32),
            Tokens::Zipf { s } => {
                let w: Vec<f64> = (1..=self.vocab).map(|k| (k as f64).powf(-s)).collect();
                let mut r = rng.gen::<f64>() * w.iter().sum::<f64>();
                for (k, wk) in w.iter().enumerate() {
                    if r < *wk {
                        return k as u32 + 1;
                    }
                    r -= wk;
                }
                self.vocab as u32
            }
        }
    }
}

impl Task for CountTask {
    fn vocab_in(&self) -> usize {
        self.vocab + 1
    }
    fn vocab_out(&self) -> usize {
        self.max()
    }
    fn max_len(&self) -> usize {
        self.max()
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> candle_core::Result<Batch> {
        let t = self.max();
        let (mut x, mut y, mut w, mut lengths) = (vec![], vec![], vec![], vec![]);
        for _ in 0..size {
            let l = self.length(rng);
            let s: Vec<u32> = (0..l).map(|_| self.token(rng)).collect();
            for i in 0..t {
                if i < l {
                    let c = s.iter().filter(|&&v| v == s[i]).count() as u32;
                    x.push(s[i]);
                    y.push(c - 1);
                    w.push(1.0);
                } else {
                    x.push(0);
                    y.push(0);
                    w.push(0.0);
                }
            }
            lengths.push(l);
        }
        Batch::from_vecs(x, y, w, size, t, Some(lengths), dev)
    }
}

/// Q12.3's training grid: tasks × normalizations × learning rates, one-layer
/// encoders, the same seeds for every arm.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainGrid {
    pub tasks: Vec<CountTask>,
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    /// Each arm gets the rate with the best mean area under its accuracy curve.
    pub lrs: Vec<f64>,
    pub train: TrainConfig,
}

/// Per-run metrics by arm label ("task, norm, lr = x"), the best rate's label per
/// (task, norm), and the grid as a table.
pub struct GridResult {
    pub auc: Grouped,
    pub acc: Grouped,
    best: Vec<((String, String), String)>,
    pub lr_table: Table,
}

impl GridResult {
    /// The arm label of `arm` on `task` at its best learning rate.
    pub fn best(&self, task: &CountTask, arm: Arm) -> &str {
        let key = (task.name.to_string(), arm.to_string());
        self.best
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, l)| l.as_str())
            .unwrap_or("")
    }
}

/// Train every task × normalization × learning rate over `seeds` (writes the
/// `training_*.csv` files) and pick each arm's best rate.
pub fn train_grid(ctx: &Ctx, g: &TrainGrid, seeds: &[u64]) -> Result<GridResult> {
    let runs: Vec<(usize, Arm, f64)> = (0..g.tasks.len())
        .flat_map(|t| {
            Arm::ALL
                .iter()
                .flat_map(move |&a| g.lrs.iter().map(move |&lr| (t, a, lr)))
        })
        .collect();
    let label = |&(t, a, lr): &(usize, Arm, f64)| format!("{}, {a}, lr = {}", g.tasks[t], num(lr));
    let labels: Vec<String> = runs.iter().map(label).collect();
    let sw = kit::sweep(
        ctx,
        "training four norms × rates",
        &labels,
        seeds,
        |l, seed| {
            let (t, a, lr) = runs[labels.iter().position(|x| x == l).expect("arm")];
            let p = Params::new(seed);
            let m = PaddedEncoder::new(&g.tasks[t], a, g.d_model, g.heads, g.layers, &p)?;
            let tc = TrainConfig {
                lr,
                ..g.train.clone()
            };
            Ok(crate::train::trainer::train(
                &m,
                &p,
                &g.tasks[t],
                &tc,
                seed,
            )?)
        },
    )?;
    sw.write(ctx, "training", "arm")?;
    let (auc, acc) = (sw.metric(|l| l.auc()), sw.metric(|l| l.final_acc()));
    let mut lr_table = Table::new(&["task", "norm", "lr", "mean_auc", "mean_final_acc", "best"]);
    let mut best = vec![];
    for (ti, task) in g.tasks.iter().enumerate() {
        for a in Arm::ALL {
            let cands: Vec<String> = runs
                .iter()
                .filter(|r| r.0 == ti && r.1 == a)
                .map(label)
                .collect();
            let means: Vec<f64> = cands.iter().map(|l| stats::mean(auc.get(l))).collect();
            let b = (0..means.len()).fold(0, |m, i| if means[i] > means[m] { i } else { m });
            for (i, (l, lr)) in cands.iter().zip(&g.lrs).enumerate() {
                lr_table.push(crate::row![
                    task.name,
                    a.to_string(),
                    *lr,
                    means[i],
                    stats::mean(acc.get(l)),
                    i == b
                ]);
            }
            best.push(((task.name.to_string(), a.to_string()), cands[b].clone()));
        }
    }
    Ok(GridResult {
        auc,
        acc,
        best,
        lr_table,
    })
}

/// The core encoder with a padding mask and the real-token indicator for masked BN.
pub struct PaddedEncoder {
    pub enc: Encoder,
}

impl PaddedEncoder {
    /// A one-block-or-more Post-LN encoder for `task` with normalization `arm`.
    pub fn new(
        task: &CountTask,
        arm: Arm,
        d_model: usize,
        heads: usize,
        layers: usize,
        p: &Params,
    ) -> Result<Self> {
        let mut lc = LayerConfig::new(d_model, heads);
        lc.norm = arm.0;
        let mut ec = EncoderConfig::new(task.vocab_in(), task.max_len(), layers, lc);
        ec.vocab_out = task.vocab_out();
        ec.pos = PosKind::Sinusoidal;
        Ok(PaddedEncoder {
            enc: encoder(ec, p.vb())?,
        })
    }
}

impl SeqModel for PaddedEncoder {
    fn logits(&self, b: &Batch, train: bool) -> candle_core::Result<Tensor> {
        let (_, t) = b.x.dims2()?;
        let dev = b.x.device();
        let lengths = b.lengths.clone().unwrap_or_default();
        let mask = Mask::padding(&lengths, t, t).to_attn(dev)?;
        let valid = valid_positions(&lengths, t, dev)?;
        let c = LayerCtx {
            mask: Some(&mask),
            valid: Some(&valid),
            train,
        };
        self.enc.forward_t(&b.x, &c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_counts(t: &CountTask) {
        let b = t.batch(&mut seeded(0, 0), 16, &Device::Cpu).unwrap();
        let x = b.x.to_vec2::<u32>().unwrap();
        let y = b.y.to_vec2::<u32>().unwrap();
        for (i, l) in b.lengths.unwrap().iter().enumerate() {
            for j in 0..t.max_len() {
                if j < *l {
                    let c = x[i][..*l].iter().filter(|&&v| v == x[i][j]).count() as u32;
                    assert_eq!(y[i][j], c - 1);
                } else {
                    assert_eq!(x[i][j], 0);
                }
            }
        }
    }

    #[test]
    fn count_task_targets_are_counts() {
        check_counts(&CountTask {
            name: "u",
            vocab: 3,
            lengths: Lengths::Uniform { min: 2, max: 6 },
            tokens: Tokens::Uniform,
        });
        check_counts(&CountTask {
            name: "z",
            vocab: 8,
            lengths: Lengths::Pareto {
                min: 3,
                max: 24,
                alpha: 1.0,
            },
            tokens: Tokens::Zipf { s: 1.0 },
        });
    }

    #[test]
    fn zipf_and_pareto_are_skewed() {
        let t = CountTask {
            name: "z",
            vocab: 16,
            lengths: Lengths::Pareto {
                min: 3,
                max: 48,
                alpha: 1.0,
            },
            tokens: Tokens::Zipf { s: 1.0 },
        };
        let mut r = seeded(1, 0);
        let toks: Vec<u32> = (0..20_000).map(|_| t.token(&mut r)).collect();
        let ones = toks.iter().filter(|&&k| k == 1).count() as f64 / 20_000.0;
        // p(1) = 1 / H_16 ≈ 0.296.
        assert!((ones - 0.296).abs() < 0.02, "{ones}");
        let lens: Vec<usize> = (0..20_000).map(|_| t.length(&mut r)).collect();
        assert!(lens.iter().all(|&l| (3..=48).contains(&l)));
        let long = lens.iter().filter(|&&l| l >= 24).count() as f64 / 20_000.0;
        // P(L ≥ 24) = 3/24 = 0.125 for a Pareto tail of index 1.
        assert!((long - 0.125).abs() < 0.02, "{long}");
    }
}
