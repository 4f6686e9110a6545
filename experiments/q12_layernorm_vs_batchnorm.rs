//! Q12. Why LayerNorm and not BatchNorm? Where is LayerNorm?
//!
//! Claims (CLAIMS.md, Q12):
//! - Q12.1 LayerNorm sits between the multi-head attention and the activation layer.
//! - Q12.2 Sentences vary in length and unrelated sentences share a batch, so
//!   per-token normalization (LN) suits NLP better than batch statistics (BN): the
//!   mechanism — batch statistics mix a sentence with its partners and with padding.
//! - Q12.3 The training outcome: on a variable-length task, small encoders with LN
//!   train better than with BN (pads in the statistics). Reported as measured.
//!
//! Probes (no training) use the core's `Norm` of every `NormKind` in training mode on
//! padded batches of "sentences" (token vectors with a fixed per-feature mean, pads
//! = 0 as a pad embedding would be): (a) how much one sentence's normalized output
//! moves when its partners change and when the padding grows; (b) the error that pads
//! put into BN statistics against masked BN, by pad fraction; (c) the gap between
//! training-mode and inference-mode (running statistics) outputs on variable-length
//! data. (d) Post-LN and Pre-LN core layers are probed for where normalization is
//! applied. (e) Small core encoders are trained with LN, BN, masked BN and none at two
//! batch sizes over seeds on a variable-length counting task.

use transformer_claims::core::layers::{LayerConfig, LayerCtx};
use transformer_claims::core::model::{encoder, Encoder, EncoderConfig, PosKind};
use transformer_claims::prelude::*;
use transformer_claims::rng::{normal_vec, Rng64};
use transformer_claims::row;
use transformer_claims::train::{self, Batch, SeqModel, Task, TrainConfig};
use transformer_claims::verdict::all_of;

#[derive(Serialize)]
struct Config {
    /// Feature width of the probe sentences.
    d: usize,
    /// Standard deviation of the per-feature means of the token vectors (their mean is
    /// not 0, as for real embeddings; pads are the zero vector).
    feature_mean_std: f64,
    /// Invariance probe: repetitions; the probed sentence's length; partners per
    /// batch and their length; padded lengths compared (short, long).
    trials: usize,
    probe_len: usize,
    partners: usize,
    partner_len: usize,
    pad_to: (usize, usize),
    /// Q12.2: BN's output must move by at least this (10th percentile over trials)
    /// with partners and with padding ...
    min_bn_change: f64,
    /// ... while LN's output moves by at most this (max over trials).
    max_ln_change: f64,
    /// Padding pollution: sentences per batch and their length; padded lengths swept.
    pollution_batch: usize,
    pollution_len: usize,
    pollution_pad_to: Vec<usize>,
    /// Train/inference mismatch: batches used to fit the running statistics, batches
    /// evaluated, batch sizes, and the length range of the sentences (padded to max).
    mismatch_fit_batches: usize,
    mismatch_eval_batches: usize,
    mismatch_batch_sizes: Vec<usize>,
    mismatch_len: (usize, usize),
    /// Training: task vocabulary, length range (padded to the max), model size.
    vocab: usize,
    train_len: (usize, usize),
    d_model: usize,
    heads: usize,
    layers: usize,
    /// Batch sizes compared.
    batch_sizes: Vec<usize>,
    /// Seeds per (norm, batch size); the same seeds for every norm (paired).
    seeds: usize,
    train: TrainConfig,
    /// Q12.3: decided by an exact two-sided sign test over all paired runs (every seed
    /// at every batch size; same seed ⇒ same data and held-out set) of LN − BN area
    /// under the accuracy curve: supported if LN is better in significantly many
    /// pairs at this level, refuted if BN is, inconclusive otherwise. (A first rule,
    /// "95% paired CI beyond ±0.02 at every batch size", flipped between inconclusive
    /// and refuted across seeds although every pair had the same sign.)
    train_sign_alpha: f64,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            d: 16,
            feature_mean_std: 1.0,
            trials: ctx.pick(30, 200),
            probe_len: 6,
            partners: 3,
            partner_len: 12,
            pad_to: (12, 24),
            min_bn_change: 0.05,
            max_ln_change: 1e-4,
            pollution_batch: 8,
            pollution_len: 8,
            pollution_pad_to: vec![8, 9, 10, 12, 14, 16, 20, 24, 32],
            mismatch_fit_batches: ctx.pick(100, 300),
            mismatch_eval_batches: ctx.pick(20, 100),
            mismatch_batch_sizes: vec![4, 32],
            mismatch_len: (2, 16),
            vocab: 6,
            train_len: (4, 16),
            d_model: 32,
            heads: 4,
            layers: 1,
            batch_sizes: vec![4, 32],
            seeds: ctx.pick(3, 6),
            train: TrainConfig {
                steps: ctx.pick(120, 400),
                batch: 32,
                lr: 3e-3,
                eval_every: 15,
                eval_size: ctx.pick(128, 256),
                ..TrainConfig::default()
            },
            train_sign_alpha: 0.05,
        }
    }
}

const KINDS: [NormKind; 4] = [
    NormKind::Layer,
    NormKind::Batch,
    NormKind::MaskedBatch,
    NormKind::None,
];

fn kind_name(k: NormKind) -> &'static str {
    match k {
        NormKind::Layer => "LayerNorm",
        NormKind::Batch => "BatchNorm",
        NormKind::MaskedBatch => "masked BatchNorm",
        NormKind::None => "none",
    }
}

// ---------------------------------------------------------------- probe data

/// A sentence of `len` token vectors, feature f ~ N(mu[f], 1).
fn sentence(rng: &mut Rng64, len: usize, mu: &[f32]) -> Vec<f32> {
    let d = mu.len();
    let z = normal_vec(rng, len * d, 0.0, 1.0);
    z.iter().enumerate().map(|(i, v)| v + mu[i % d]).collect()
}

/// Sentences (row-major len×d) padded with zero vectors to `t`: (B, T, d) and valid (B, T).
fn pad_batch(sents: &[Vec<f32>], d: usize, t: usize) -> Result<(Tensor, Tensor, Vec<usize>)> {
    let mut x = Vec::with_capacity(sents.len() * t * d);
    let mut lengths = vec![];
    for s in sents {
        let l = s.len() / d;
        if l > t {
            bail!("sentence of length {l} does not fit in {t}");
        }
        x.extend_from_slice(s);
        x.extend(std::iter::repeat(0f32).take((t - l) * d));
        lengths.push(l);
    }
    let dev = Device::Cpu;
    Ok((
        Tensor::from_vec(x, (sents.len(), t, d), &dev)?,
        valid_positions(&lengths, t, &dev)?,
        lengths,
    ))
}

/// Normalize in training mode; return the first sentence's first `len` outputs.
fn first_sentence_out(n: &Norm, x: &Tensor, valid: &Tensor, len: usize) -> Result<Tensor> {
    Ok(n.forward_t(x, Some(valid), true)?.i((0, 0..len))?)
}

fn mean_abs(a: &Tensor, b: &Tensor) -> Result<f64> {
    Ok((a - b)?.abs()?.mean_all()?.to_scalar::<f32>()? as f64)
}

/// Per-token mean and standard deviation over features, averaged over tokens: a
/// normalized tensor (γ = 1, β = 0) shows (0, 1).
fn token_moments(x: &Tensor) -> Result<(f64, f64)> {
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

/// Exact two-sided sign test: the probability, with no difference, of a split at
/// least as uneven as `a` against `b` (ties left out).
fn sign_test(a: usize, b: usize) -> f64 {
    let n = a + b;
    if n == 0 {
        return 1.0;
    }
    let k = a.min(b);
    // Σ_{i ≤ k} C(n, i) / 2ⁿ, computed in f64 (n is small).
    let mut c = 1.0f64;
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            c *= (n - i + 1) as f64 / i as f64;
        }
        tail += c;
    }
    (2.0 * tail / 2f64.powi(n as i32)).min(1.0)
}

// ---------------------------------------------------------------- training task

/// Variable-length counting: tokens 1..=V (0 is the pad), each position's target is
/// how many times its token occurs in the sentence (0..len−1 classes, as count−1).
struct CountTask {
    vocab: usize,
    min_len: usize,
    max_len: usize,
}

impl Task for CountTask {
    fn vocab_in(&self) -> usize {
        self.vocab + 1
    }
    fn vocab_out(&self) -> usize {
        self.max_len
    }
    fn max_len(&self) -> usize {
        self.max_len
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> candle_core::Result<Batch> {
        use rand::Rng;
        let t = self.max_len;
        let (mut x, mut y, mut w, mut lengths) = (vec![], vec![], vec![], vec![]);
        for _ in 0..size {
            let l = rng.gen_range(self.min_len..=self.max_len);
            let s: Vec<u32> = (0..l)
                .map(|_| rng.gen_range(1..=self.vocab as u32))
                .collect();
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

/// The core encoder with a padding mask and the valid-token indicator for masked BN.
struct Padded {
    enc: Encoder,
}

impl SeqModel for Padded {
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

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let d = cfg.d;
    let mu = normal_vec(&mut seeded(ctx.seed, 20), d, 0.0, cfg.feature_mean_std);
    let params = Params::new(ctx.seed);
    let norms: Vec<(NormKind, Norm)> = KINDS
        .iter()
        .map(|&k| Ok((k, norm(k, d, params.vb().pp(kind_name(k)))?)))
        .collect::<Result<_>>()?;

    // ---- (a) invariance to partners and padding.
    let mut r = seeded(ctx.seed, 21);
    let mut inv = Table::new(&["trial", "norm", "partner_change", "padding_change"]);
    let mut partner = std::collections::BTreeMap::<&str, Vec<f64>>::new();
    let mut padding = std::collections::BTreeMap::<&str, Vec<f64>>::new();
    for trial in 0..cfg.trials {
        let s = sentence(&mut r, cfg.probe_len, &mu);
        let draw = |r: &mut Rng64| -> Vec<Vec<f32>> {
            (0..cfg.partners)
                .map(|_| sentence(r, cfg.partner_len, &mu))
                .collect()
        };
        let pa = draw(&mut r);
        let pb = draw(&mut r);
        let with = |ps: &[Vec<f32>]| -> Vec<Vec<f32>> {
            std::iter::once(s.clone())
                .chain(ps.iter().cloned())
                .collect()
        };
        let (xa, va, _) = pad_batch(&with(&pa), d, cfg.pad_to.0)?;
        let (xb, vb, _) = pad_batch(&with(&pb), d, cfg.pad_to.0)?;
        let (xl, vl, _) = pad_batch(&with(&pa), d, cfg.pad_to.1)?;
        for (k, n) in &norms {
            if *k == NormKind::None {
                continue;
            }
            let oa = first_sentence_out(n, &xa, &va, cfg.probe_len)?;
            let ob = first_sentence_out(n, &xb, &vb, cfg.probe_len)?;
            let ol = first_sentence_out(n, &xl, &vl, cfg.probe_len)?;
            let (cp, cd) = (max_abs_diff(&oa, &ob)?, max_abs_diff(&oa, &ol)?);
            inv.push(row![trial, kind_name(*k), cp, cd]);
            partner.entry(kind_name(*k)).or_default().push(cp);
            padding.entry(kind_name(*k)).or_default().push(cd);
        }
    }
    ctx.table("invariance.csv", &inv)?;
    let mut inv_sum = Table::new(&["norm", "change", "median_max_abs_change", "p10", "p90"]);
    for k in [NormKind::Layer, NormKind::Batch, NormKind::MaskedBatch] {
        for (what, m) in [("partners", &partner), ("padding", &padding)] {
            let e = stats::median_range(&m[kind_name(k)], 0.1, 0.9);
            inv_sum.push(row![kind_name(k), what, e.point, e.lo, e.hi]);
        }
    }
    ctx.table("invariance_summary.csv", &inv_sum)?;
    ctx.chart(
        ChartSpec::bars(
            "invariance.png",
            "invariance_summary.csv",
            &format!(
                "How far one sentence's normalized output moves (max |Δ|, median, bars 10–90%, {} trials)",
                cfg.trials
            ),
            "change",
            &["median_max_abs_change"],
        )
        .interval("median_max_abs_change", "p10", "p90")
        .series("norm")
        .labels("what changed in the batch", "max |Δ output| over the sentence"),
    )?;

    // ---- (b) padding pollution of the statistics.
    let mut r = seeded(ctx.seed, 22);
    let bn = &norms[1].1;
    let mbn = &norms[2].1;
    let mut pol = Table::new(&[
        "pad_fraction",
        "output_error",
        "lo",
        "hi",
        "mean_stat_error",
        "var_stat_error",
    ]);
    let (mut fracs, mut errs) = (vec![], vec![]);
    let reps = (cfg.trials / 5).max(5);
    for &t in &cfg.pollution_pad_to {
        let f = 1.0 - cfg.pollution_len as f64 / t as f64;
        let (mut oe, mut me, mut ve) = (vec![], vec![], vec![]);
        for _ in 0..reps {
            let sents: Vec<Vec<f32>> = (0..cfg.pollution_batch)
                .map(|_| sentence(&mut r, cfg.pollution_len, &mu))
                .collect();
            let (x, v, _) = pad_batch(&sents, d, t)?;
            let real = |o: Tensor| o.i((.., 0..cfg.pollution_len));
            let a = real(bn.forward_t(&x, Some(&v), true)?)?;
            let b = real(mbn.forward_t(&x, Some(&v), true)?)?;
            oe.push(mean_abs(&a, &b)?);
            let (m1, v1) = BatchNorm::batch_stats(&x, None)?;
            let (m2, v2) = BatchNorm::batch_stats(&x, Some(&v))?;
            me.push(mean_abs(&m1, &m2)?);
            ve.push(mean_abs(&v1, &v2)?);
        }
        let e = stats::mean_ci(&oe, 0.95);
        pol.push(row![
            f,
            e.point,
            e.lo,
            e.hi,
            stats::mean(&me),
            stats::mean(&ve)
        ]);
        fracs.push(f);
        errs.push(e.point);
    }
    ctx.table("padding_pollution.csv", &pol)?;
    ctx.chart(
        ChartSpec::line(
            "padding_pollution.png",
            "padding_pollution.csv",
            "BatchNorm with pads in its statistics vs masked BatchNorm",
            "pad_fraction",
            &["output_error", "mean_stat_error", "var_stat_error"],
        )
        .interval("output_error", "lo", "hi")
        .labels(
            "fraction of batch positions that are padding",
            "mean |difference|",
        ),
    )?;
    let pol_fit = stats::linear_fit(&fracs, &errs, 0.95);
    let monotone = errs.windows(2).all(|w| w[1] >= w[0]);

    // ---- (c) train/inference mismatch of running statistics.
    let mut mm = Table::new(&["norm", "batch", "train_vs_eval_gap", "lo", "hi"]);
    let mut mismatch = std::collections::BTreeMap::<(&str, usize), f64>::new();
    for &bs in &cfg.mismatch_batch_sizes {
        for k in [NormKind::Batch, NormKind::MaskedBatch] {
            let fresh = Params::new(ctx.seed);
            let n = norm(k, d, fresh.vb())?;
            let mut r = seeded(ctx.seed, 23);
            let make = |r: &mut Rng64| -> Result<(Tensor, Tensor, Vec<usize>)> {
                use rand::Rng;
                let sents: Vec<Vec<f32>> = (0..bs)
                    .map(|_| {
                        let l = r.gen_range(cfg.mismatch_len.0..=cfg.mismatch_len.1);
                        sentence(r, l, &mu)
                    })
                    .collect();
                pad_batch(&sents, d, cfg.mismatch_len.1)
            };
            for _ in 0..cfg.mismatch_fit_batches {
                let (x, v, _) = make(&mut r)?;
                n.forward_t(&x, Some(&v), true)?;
            }
            let mut gaps = vec![];
            let mut r = seeded(ctx.seed, 24);
            for _ in 0..cfg.mismatch_eval_batches {
                let (x, v, _) = make(&mut r)?;
                let tr = n.forward_t(&x, Some(&v), true)?;
                let ev = n.forward_t(&x, Some(&v), false)?;
                // Mean |train − eval| over real tokens only.
                let w = v.unsqueeze(2)?;
                let diff = (tr - ev)?.abs()?.broadcast_mul(&w)?.sum_all()?;
                let cnt = (w.sum_all()?.to_scalar::<f32>()? as f64) * d as f64;
                gaps.push(diff.to_scalar::<f32>()? as f64 / cnt);
            }
            let e = stats::mean_ci(&gaps, 0.95);
            mm.push(row![kind_name(k), bs, e.point, e.lo, e.hi]);
            mismatch.insert((kind_name(k), bs), e.point);
        }
    }
    ctx.table("train_eval_mismatch.csv", &mm)?;
    ctx.chart(
        ChartSpec::bars(
            "train_eval_mismatch.png",
            "train_eval_mismatch.csv",
            "Training-mode vs inference-mode output on variable-length batches",
            "batch",
            &["train_vs_eval_gap"],
        )
        .interval("train_vs_eval_gap", "lo", "hi")
        .series("norm")
        .labels("batch size", "mean |train − eval| per real token feature"),
    )?;

    // ---- Q12.2 verdict: the mechanism.
    let q = |m: &std::collections::BTreeMap<&str, Vec<f64>>, k: NormKind| {
        stats::median_range(&m[kind_name(k)], 0.1, 0.9)
    };
    let ln_max = partner[kind_name(NormKind::Layer)]
        .iter()
        .chain(&padding[kind_name(NormKind::Layer)])
        .fold(0f64, |a, &b| a.max(b));
    let bn_partner = q(&partner, NormKind::Batch);
    let bn_padding = q(&padding, NormKind::Batch);
    let mbn_padding = q(&padding, NormKind::MaskedBatch);
    let v122 = all_of(&[
        Rule::AtLeast(cfg.min_bn_change).decide(&bn_partner),
        Rule::AtLeast(cfg.min_bn_change).decide(&bn_padding),
        Rule::AtMost(cfg.max_ln_change).decide(&Estimate::exact(ln_max)),
        Rule::AtLeast(0.0).decide(&Estimate::with_interval(
            pol_fit.slope.point,
            pol_fit.slope.lo,
            pol_fit.slope.hi,
            0.95,
            fracs.len(),
        )),
    ]);
    ctx.claim(
        Claim::with_verdict(
            "Q12.2",
            "Sentences vary in length and unrelated sentences share a batch: BatchNorm's statistics mix a sentence with its partners and its padding, per-token LayerNorm does not.",
            "max |Δ| of one sentence's BatchNorm output when its batch partners change (median over trials, interval 10–90%)",
            bn_partner,
            &format!(
                "supported if, in training mode, BN's output moves by ≥ {} (10th percentile over trials) both when partners change and when padding grows, LN's moves by ≤ {} (max over trials), and the BN−masked-BN error grows with the pad fraction (slope CI ≥ 0); refuted if any part is wholly on the other side",
                cfg.min_bn_change, cfg.max_ln_change
            ),
            v122,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "BN output change with padding {:.3} [{:.3}, {:.3}]; LN max change {:.1e}; masked BN ignores padding (change {:.1e}) but still moves with partners ({:.3}). Pad pollution grows from {:.3} at pad fraction 0 to {:.3} at {:.2} (slope {:.2} [{:.2}, {:.2}], monotone: {monotone}). Train/inference gap of the running statistics: BN {:.3} (batch {}), {:.3} (batch {}); masked BN {:.3}, {:.3}. In eval mode BN is a fixed per-feature affine map, so padding matters only in training mode and through biased running statistics.",
            bn_padding.point, bn_padding.lo, bn_padding.hi, ln_max, mbn_padding.hi,
            q(&partner, NormKind::MaskedBatch).point,
            errs.first().copied().unwrap_or(f64::NAN), errs.last().copied().unwrap_or(f64::NAN), fracs.last().copied().unwrap_or(f64::NAN),
            pol_fit.slope.point, pol_fit.slope.lo, pol_fit.slope.hi,
            mismatch[&("BatchNorm", cfg.mismatch_batch_sizes[0])], cfg.mismatch_batch_sizes[0],
            mismatch[&("BatchNorm", cfg.mismatch_batch_sizes[1])], cfg.mismatch_batch_sizes[1],
            mismatch[&("masked BatchNorm", cfg.mismatch_batch_sizes[0])],
            mismatch[&("masked BatchNorm", cfg.mismatch_batch_sizes[1])],
        )),
    );

    // ---- (d) where the normalization sits: probe Post-LN and Pre-LN core layers.
    let mut place = Table::new(&[
        "placement",
        "point",
        "token_mean_abs",
        "token_std",
        "normalized",
    ]);
    let x = transformer_claims::rng::randn(
        &mut seeded(ctx.seed, 25),
        &[4, 10, cfg.d_model],
        1.0,
        &Device::Cpu,
    )?;
    // A shift and scale so that un-normalized points are visibly off (0, 1).
    let x = ((x * 3.0)? + 2.0)?;
    let is_norm = |(m, s): (f64, f64)| m < 1e-3 && (s - 1.0).abs() < 1e-2;
    let mut sites_elsewhere = 0usize;
    let mut ln_input_is_attention_output = true;
    let mut probe_text = vec![];
    for placement in [Placement::PreLn, Placement::PostLn] {
        let p = Params::new(ctx.seed);
        let mut lc = LayerConfig::new(cfg.d_model, cfg.heads);
        lc.placement = placement;
        let layer = encoder_layer(lc, p.vb())?;
        let c = LayerCtx::default();
        let nf = |n: &Norm, t: &Tensor| n.forward_t(t, None, false);
        // Recompose the layer by hand and check it equals the core's forward.
        let (points, out): (Vec<(&str, Tensor)>, Tensor) = match placement {
            Placement::PostLn => {
                let a = layer.attn.forward(&x, &x, None)?;
                let s1 = (&x + &a)?;
                let h = nf(&layer.norm1, &s1)?;
                let pre = layer.ffn.w1.forward(&h)?;
                let f = layer.ffn.forward(&h)?;
                let s2 = (&h + &f)?;
                let o = nf(&layer.norm2, &s2)?;
                // Is norm1's input the attention output alone (the seed's placement)?
                ln_input_is_attention_output &= max_abs_diff(&nf(&layer.norm1, &a)?, &h)? < 1e-4;
                (
                    vec![
                        ("x", x.clone()),
                        ("attn", a),
                        ("x+attn", s1),
                        ("LN1", h),
                        ("pre-act", pre),
                        ("FFN", f),
                        ("h+FFN", s2),
                        ("out", o.clone()),
                    ],
                    o,
                )
            }
            Placement::PreLn => {
                let n1 = nf(&layer.norm1, &x)?;
                let a = layer.attn.forward(&n1, &n1, None)?;
                let s1 = (&x + &a)?;
                let n2 = nf(&layer.norm2, &s1)?;
                let pre = layer.ffn.w1.forward(&n2)?;
                let f = layer.ffn.forward(&n2)?;
                let o = (&s1 + &f)?;
                ln_input_is_attention_output &= max_abs_diff(&nf(&layer.norm2, &a)?, &n2)? < 1e-4;
                (
                    vec![
                        ("x", x.clone()),
                        ("LN1", n1),
                        ("attn", a),
                        ("x+attn", s1),
                        ("LN2", n2),
                        ("pre-act", pre),
                        ("FFN", f),
                        ("out", o.clone()),
                    ],
                    o,
                )
            }
        };
        let core_out = layer.forward_t(&x, &c)?;
        if max_abs_diff(&core_out, &out)? > 1e-4 {
            bail!("hand-composed {placement:?} layer differs from the core's forward");
        }
        // Normalization sites: the points whose tokens are (mean 0, std 1). A site is
        // "between attention and activation" if it comes after the attention output
        // and before the FFN pre-activation.
        let names: Vec<&str> = points.iter().map(|p| p.0).collect();
        let att_i = names.iter().position(|n| *n == "attn").unwrap_or(0);
        let pre_i = names.iter().position(|n| *n == "pre-act").unwrap_or(0);
        let mut sites = vec![];
        for (i, (name, t)) in points.iter().enumerate() {
            let mo = token_moments(t)?;
            let normalized = is_norm(mo);
            place.push(row![
                format!("{placement:?}"),
                *name,
                mo.0,
                mo.1,
                normalized
            ]);
            if normalized {
                sites.push(*name);
                if !(i > att_i && i < pre_i) {
                    sites_elsewhere += 1;
                }
            }
        }
        probe_text.push(format!("{placement:?}: normalized at {}", sites.join(", ")));
    }
    ctx.table("ln_placement.csv", &place)?;
    ctx.chart(
        ChartSpec::bars(
            "ln_placement.png",
            "ln_placement.csv",
            "Per-token std along one encoder layer (1 = normalized, γ=1, β=0)",
            "point",
            &["token_std"],
        )
        .series("placement")
        .labels(
            "point in the layer (x input, attn attention output, LNk norm output, pre-act FFN W₁h+b₁, out layer output)",
            "per-token std over features",
        ),
    )?;
    let v121 = if sites_elsewhere == 0 && ln_input_is_attention_output {
        Verdict::Supported
    } else {
        Verdict::Refuted
    };
    ctx.claim(
        Claim::with_verdict(
            "Q12.1",
            "LayerNorm sits between the multi-head attention and the activation layer.",
            "normalization sites per two layers (Post-LN + Pre-LN) that are not between the attention output and the FFN activation",
            Estimate::exact(sites_elsewhere as f64),
            "supported if every normalization site found by probing lies between the attention output and the FFN pre-activation and normalizes the attention output itself; refuted otherwise",
            v121,
        )
        .expect(Verdict::Refuted)
        .literature(Verdict::Refuted)
        .note(format!(
            "{}. In Post-LN (Vaswani et al.) LN normalizes the residual sum x + Sublayer(x), after attention and again after the FFN; in Pre-LN it precedes each sublayer. The input of the LN after attention is the residual sum, not the attention output (LN(attention) reproduces it: {ln_input_is_attention_output}).",
            probe_text.join("; ")
        )),
    );

    // ---- (e) training outcome.
    let task = CountTask {
        vocab: cfg.vocab,
        min_len: cfg.train_len.0,
        max_len: cfg.train_len.1,
    };
    let seeds = train::seeds::seed_list(ctx.seed, cfg.seeds);
    let pb = ctx.progress(
        (KINDS.len() * cfg.batch_sizes.len() * seeds.len() * cfg.train.steps) as u64,
        "training LN / BN / masked BN / none",
    );
    let mut finals = Table::new(&[
        "norm",
        "batch",
        "seed",
        "auc",
        "final_acc",
        "final_loss",
        "diverged",
    ]);
    let mut curves = std::collections::BTreeMap::<(usize, &str, usize), Vec<f64>>::new();
    let mut auc = std::collections::BTreeMap::<(usize, &str), Vec<f64>>::new();
    for &bs in &cfg.batch_sizes {
        let mut tc = cfg.train.clone();
        tc.batch = bs;
        for k in KINDS {
            for &s in &seeds {
                let p = Params::new(s);
                let mut lc = LayerConfig::new(cfg.d_model, cfg.heads);
                lc.norm = k;
                let mut ec = EncoderConfig::new(task.vocab_in(), task.max_len, cfg.layers, lc);
                ec.vocab_out = task.vocab_out();
                ec.pos = PosKind::Sinusoidal;
                let m = Padded {
                    enc: encoder(ec, p.vb())?,
                };
                let log = train::trainer::train_with(&m, &p, &task, &tc, s, |_| pb.inc(1))?;
                for &(step, _, a) in &log.eval {
                    curves.entry((bs, kind_name(k), step)).or_default().push(a);
                }
                finals.push(row![
                    kind_name(k),
                    bs,
                    s,
                    log.auc(),
                    log.final_acc(),
                    log.final_loss(),
                    log.diverged
                ]);
                auc.entry((bs, kind_name(k))).or_default().push(log.auc());
            }
        }
    }
    pb.finish_and_clear();
    ctx.table("training_final.csv", &finals)?;
    let mut ct = Table::new(&["batch", "norm", "step", "mean_eval_acc"]);
    for ((bs, k, step), a) in &curves {
        ct.push(row![*bs, *k, *step, stats::mean(a)]);
    }
    ctx.table("training_curves_mean.csv", &ct)?;
    let mut summ = Table::new(&["setting", "norm", "mean_auc", "lo", "hi"]);
    for &bs in &cfg.batch_sizes {
        for k in KINDS {
            let e = stats::mean_ci(&auc[&(bs, kind_name(k))], 0.95);
            summ.push(row![
                format!("batch {bs}"),
                kind_name(k),
                e.point,
                e.lo.max(0.0),
                e.hi.min(1.0)
            ]);
        }
    }
    ctx.table("training_summary.csv", &summ)?;
    ctx.chart(
        ChartSpec::bars(
            "training_auc.png",
            "training_summary.csv",
            &format!(
                "Counting task, lengths {}–{}: held-out accuracy over {} steps (95% CI over seeds)",
                cfg.train_len.0, cfg.train_len.1, cfg.train.steps
            ),
            "setting",
            &["mean_auc"],
        )
        .interval("mean_auc", "lo", "hi")
        .series("norm")
        .labels("batch size", "area under the accuracy curve (eval mode)"),
    )?;
    let mut gaps = Table::new(&["batch", "comparison", "auc_gap", "lo", "hi"]);
    let mut ln_bn = vec![];
    let mut gap_text = vec![];
    for &bs in &cfg.batch_sizes {
        let ln = &auc[&(bs, "LayerNorm")];
        for other in ["BatchNorm", "masked BatchNorm", "none"] {
            let g = stats::paired_diff(ln, &auc[&(bs, other)], 0.95);
            gaps.push(row![
                bs,
                format!("LayerNorm − {other}"),
                g.point,
                g.lo,
                g.hi
            ]);
            gap_text.push(format!(
                "batch {bs}: LN − {other} {:+.3} [{:+.3}, {:+.3}]",
                g.point, g.lo, g.hi
            ));
            if other == "BatchNorm" {
                ln_bn.push(g);
            }
        }
    }
    ctx.table("training_gaps.csv", &gaps)?;
    // Every (batch size, seed) pair: LN − BN.
    let mut pair_diffs = vec![];
    for &bs in &cfg.batch_sizes {
        let (ln, bn) = (&auc[&(bs, "LayerNorm")], &auc[&(bs, "BatchNorm")]);
        pair_diffs.extend(ln.iter().zip(bn).map(|(a, b)| a - b));
    }
    let ln_wins = pair_diffs.iter().filter(|&&x| x > 0.0).count();
    let bn_wins = pair_diffs.iter().filter(|&&x| x < 0.0).count();
    let p_sign = sign_test(ln_wins, bn_wins);
    let v123 = if p_sign < cfg.train_sign_alpha && ln_wins > bn_wins {
        Verdict::Supported
    } else if p_sign < cfg.train_sign_alpha && bn_wins > ln_wins {
        Verdict::Refuted
    } else {
        Verdict::Inconclusive
    };
    let headline = stats::mean_ci(&pair_diffs, 0.95);
    ctx.claim(
        Claim::with_verdict(
            "Q12.3",
            "On variable-length batches, a small encoder trains better with LayerNorm than with BatchNorm (pads in the statistics).",
            "area under the eval-mode accuracy curve, LN − BN, mean over all paired runs (seeds × batch sizes), 95% t interval",
            headline,
            &format!(
                "exact two-sided sign test over the {} paired runs (seeds × batch sizes {:?}) of LN − BN: supported if p < {} with LN ahead, refuted if p < {} with BN ahead, inconclusive otherwise",
                pair_diffs.len(), cfg.batch_sizes, cfg.train_sign_alpha, cfg.train_sign_alpha
            ),
            v123,
        )
        .expect(Verdict::Refuted)
        .literature(Verdict::Supported)
        .note(format!(
            "Measured at CPU scale ({} seeds, {} steps, d_model {}, {} layer, Post-LN placement): LN ahead in {ln_wins} and BN ahead in {bn_wins} of {} paired runs (sign test p = {:.4}); {}. Positive gaps favour LN. Expected refuted from the runs at seeds 0..4 and in full mode, against the literature (Shen et al. 2020: naive BN worse than LN on real NLP tasks at scale): on this small counting task with a padding mask, BN with pads in its statistics learned faster than LN, as the earlier attempt also found LN not ahead. This is a statement about this scale and task, not about large NLP models; in eval mode BN is a fixed affine map, so pads hurt it only through its training-time statistics.",
            cfg.seeds, cfg.train.steps, cfg.d_model, cfg.layers, pair_diffs.len(), p_sign, gap_text.join("; ")
        )),
    );

    ctx.answer(match (v121, v122) {
        (Verdict::Supported, Verdict::Supported) => Answer::Correct,
        (Verdict::Supported, _) | (_, Verdict::Supported) => Answer::PartlyCorrect,
        _ => Answer::Incomplete,
    });
    ctx.literature("Vaswani et al. 2017 (Post-LN): the output of each sublayer is LayerNorm(x + Sublayer(x)), after attention and after the FFN. Xiong et al. 2020 (Pre-LN): x + Sublayer(LN(x)), with a final LN; trains without warm-up.");
    ctx.literature("Shen et al. 2020 (PowerNorm): batch statistics fluctuate strongly in NLP; naive BatchNorm underperforms LayerNorm in Transformers.");
    ctx.corrected_answer(format!(
        "Placement: LayerNorm is applied to the residual sum after each sublayer, LN(x + Sublayer(x)), once after self-attention and once after the FFN (Post-LN, the original); Pre-LN moves it before each sublayer. It is not a single norm \"between attention and the activation\" (probe: {}). Why LN: its statistics are per token, so a sentence's output does not depend on which sentences share its batch or how much padding there is (max change {:.0e}); BatchNorm's statistics pool over the batch, so in training the output of one sentence moved by {:.2} when its partners changed and by {:.2} when padding grew, pads pollute the statistics more the more of the batch they fill, and running statistics fitted on padded batches disagree with training-mode outputs at inference. Whether LN then trains better is a separate matter: on a small variable-length counting task LN was ahead of BN in {ln_wins} of {} paired runs (LN − BN accuracy area by batch size: {}; Q12.3 {}), so the case for LN rests on the mechanism and on results at scale (Shen et al. 2020), not on small models.",
        probe_text.join("; "), ln_max, bn_partner.point, bn_padding.point,
        pair_diffs.len(),
        ln_bn.iter().map(|g| format!("{:+.3}", g.point)).collect::<Vec<_>>().join(", "),
        v123.as_str()
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q12_layernorm_vs_batchnorm",
        "Q12: LayerNorm vs BatchNorm on variable-length batches. Probes how batch statistics mix partners and padding, the train/inference gap, where LN sits in Post-LN and Pre-LN layers, and trains LN, BN, masked BN and no-norm encoders.",
        run,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_test_matches_binomial() {
        // 6 of 6: 2/64; 5 of 6: 2·7/64; 3 of 6: 1.
        assert!((sign_test(0, 6) - 2.0 / 64.0).abs() < 1e-12);
        assert!((sign_test(5, 1) - 14.0 / 64.0).abs() < 1e-12);
        assert_eq!(sign_test(3, 3), 1.0);
        assert_eq!(sign_test(0, 0), 1.0);
    }

    #[test]
    fn count_task_targets_are_counts() {
        let t = CountTask {
            vocab: 3,
            min_len: 2,
            max_len: 6,
        };
        let b = t.batch(&mut seeded(0, 0), 8, &Device::Cpu).unwrap();
        let x = b.x.to_vec2::<u32>().unwrap();
        let y = b.y.to_vec2::<u32>().unwrap();
        for (i, l) in b.lengths.unwrap().iter().enumerate() {
            for j in 0..6 {
                if j < *l {
                    let c = x[i][..*l].iter().filter(|&&v| v == x[i][j]).count() as u32;
                    assert_eq!(y[i][j], c - 1);
                } else {
                    assert_eq!(x[i][j], 0);
                }
            }
        }
    }
}
