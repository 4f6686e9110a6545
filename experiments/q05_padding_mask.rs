//! Q5. How is padding masked when computing attention scores?
//!
//! Claim (CLAIMS.md, Q5):
//! - Q5.1 Set masked positions' scores to −∞ (added to the scores) before the softmax.
//!
//! No training. A 2-layer Post-LN encoder from the model core with random weights:
//! (a) outputs at the real positions, padded (several pad lengths and pad contents)
//!     with the padding mask, against the unpadded sequence; and without the mask;
//! (b) attention mass that leaks onto pads for several fill values in f32, f16, bf16;
//! (c) query rows that are entirely padding (query and key padding masked): −∞ gives
//!     NaN, which a second layer spreads to the real positions and to every gradient;
//!     the core's guard (`Mask::to_attn`: finite bias and zeroed weights on empty rows)
//!     keeps everything finite and leaves the real positions unchanged;
//! (d) the gradient reaching the pad embeddings with and without the mask.

use candle_core::{Module, Var};
use transformer_claims::core::attention::attention_weights;
use transformer_claims::core::layers::LayerCtx;
use transformer_claims::core::mask::AttnMask;
use transformer_claims::prelude::*;
use transformer_claims::rng::{index_vec, randn};
use transformer_claims::row;
use transformer_claims::verdict::all_of;

#[derive(Serialize)]
struct Config {
    /// Model width, heads, layers and vocabulary of the random-weight encoder.
    d_model: usize,
    heads: usize,
    layers: usize,
    vocab: usize,
    /// Real (unpadded) length and batch size.
    real_len: usize,
    batch: usize,
    /// Numbers of pad positions appended.
    pad_lens: Vec<usize>,
    /// Standard deviation of the "noise" pad contents (embedding-level noise).
    noise_std: f64,
    /// Fill values added at masked places for the leak measurement (−∞ first).
    fills: Vec<f32>,
    /// Standard deviations of the random scores in the leak measurement.
    score_stds: Vec<f64>,
    /// Query rows in the leak measurement, keys per row, of which pads.
    leak_rows: usize,
    leak_keys: usize,
    leak_pads: usize,
    /// Q5.1 (a): with the mask the real-position outputs may differ from the unpadded
    /// run by at most this (float precision) in every configuration ...
    max_masked_diff: f64,
    /// ... and without the mask they must differ by at least this in every configuration.
    min_unmasked_diff: f64,
    /// Q5.1 (b): in f32 the pad mass for −∞, −1e9 and −1e4 must be at most this.
    max_leak: f64,
    /// Q5.1 (d): the largest gradient on a pad embedding with the −∞ mask must be at most this.
    max_pad_grad: f64,
    /// Answer rule: "incomplete" when −∞ on a fully padded query row gives NaN (which the
    /// answer does not mention); "correct" otherwise.
    answer_rule: &'static str,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            d_model: 32,
            heads: 4,
            layers: 2,
            vocab: 20,
            real_len: 8,
            batch: ctx.pick(4, 16),
            pad_lens: ctx.pick(vec![1, 4, 16], vec![1, 2, 4, 8, 16, 32, 64]),
            noise_std: 100.0,
            fills: vec![f32::NEG_INFINITY, -1e9, -1e4, -1e2, -10.0],
            score_stds: vec![1.0, 10.0],
            leak_rows: ctx.pick(256, 4096),
            leak_keys: 16,
            leak_pads: 8,
            max_masked_diff: 1e-5,
            min_unmasked_diff: 1e-3,
            max_leak: 1e-12,
            max_pad_grad: 0.0,
            answer_rule: "incomplete if an unguarded −∞ mask gives NaN on a fully padded query row; correct otherwise",
        }
    }
}

fn fill_name(f: f32) -> String {
    if f == f32::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{f:e}")
    }
}

/// Count of NaN entries.
fn nan_count(t: &Tensor) -> Result<usize> {
    let v = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    Ok(v.iter().filter(|x| x.is_nan()).count())
}

/// Run the encoder's layers and head on embeddings `x` (B, T, D).
fn run_layers(enc: &Encoder, x: &Tensor, mask: Option<&AttnMask>) -> Result<Tensor> {
    let c = LayerCtx {
        mask,
        valid: None,
        train: false,
    };
    let mut h = x.clone();
    for l in &enc.layers {
        h = l.forward_t(&h, &c)?;
    }
    let h = enc.final_norm.forward_t(&h, None, false)?;
    Ok(enc.head.forward(&h)?)
}

#[derive(Clone, Copy, PartialEq)]
enum PadContent {
    PadToken,
    RandomTokens,
    Noise,
}

impl PadContent {
    const ALL: [PadContent; 3] = [
        PadContent::PadToken,
        PadContent::RandomTokens,
        PadContent::Noise,
    ];
    fn name(&self) -> &'static str {
        match self {
            PadContent::PadToken => "pad token",
            PadContent::RandomTokens => "random tokens",
            PadContent::Noise => "noise x100",
        }
    }
}

/// Embeddings (B, L+P, D) of the real tokens followed by P pads of the given content.
fn padded_input(
    enc: &Encoder,
    real: &[u32],
    cfg: &Config,
    pad: usize,
    content: PadContent,
    rng: &mut Rng64,
) -> Result<Tensor> {
    let (b, l, dev) = (cfg.batch, cfg.real_len, Device::Cpu);
    let pads: Vec<u32> = match content {
        PadContent::PadToken => vec![0; b * pad],
        _ => index_vec(rng, b * pad, cfg.vocab),
    };
    let mut toks: Vec<u32> = Vec::with_capacity(b * (l + pad));
    for i in 0..b {
        toks.extend(&real[i * l..(i + 1) * l]);
        toks.extend(&pads[i * pad..(i + 1) * pad]);
    }
    let x = enc.embed(&Tensor::from_vec(toks, (b, l + pad), &dev)?)?;
    if content == PadContent::Noise {
        let noise = randn(rng, &[b, pad, cfg.d_model], cfg.noise_std, &dev)?;
        Ok(Tensor::cat(&[&x.narrow(1, 0, l)?, &noise], 1)?)
    } else {
        Ok(x)
    }
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let dev = Device::Cpu;
    let params = Params::new(ctx.seed);
    let max_pad = *cfg.pad_lens.iter().max().unwrap_or(&1);
    let mut ecfg = EncoderConfig::new(
        cfg.vocab,
        cfg.real_len + max_pad,
        cfg.layers,
        LayerConfig::new(cfg.d_model, cfg.heads),
    );
    ecfg.pos = PosKind::Sinusoidal;
    let enc = encoder(ecfg, params.vb())?;
    let mut rng = seeded(ctx.seed, 0);
    let (b, l) = (cfg.batch, cfg.real_len);
    let real = index_vec(&mut rng, b * l, cfg.vocab);
    let real_t = Tensor::from_vec(real.clone(), (b, l), &dev)?;
    let reference = run_layers(&enc, &enc.embed(&real_t)?, None)?;

    // (a) invariance over pad length and contents.
    let mut inv = Table::new(&[
        "pad_len",
        "pad_content",
        "max_diff_masked",
        "bit_identical_masked",
        "max_diff_unmasked",
    ]);
    let (mut worst_masked, mut least_unmasked) = (0f64, f64::INFINITY);
    for &pad in &cfg.pad_lens {
        for content in PadContent::ALL {
            let x = padded_input(&enc, &real, &cfg, pad, content, &mut rng)?;
            let t = l + pad;
            let mask = Mask::padding(&vec![l; b], t, t).to_attn(&dev)?;
            let with = run_layers(&enc, &x, Some(&mask))?.narrow(1, 0, l)?;
            let without = run_layers(&enc, &x, None)?.narrow(1, 0, l)?;
            let dm = max_abs(&(&with - &reference)?)?;
            let du = max_abs(&(&without - &reference)?)?;
            let bits = with.flatten_all()?.to_vec1::<f32>()?
                == reference.flatten_all()?.to_vec1::<f32>()?;
            worst_masked = worst_masked.max(dm);
            least_unmasked = least_unmasked.min(du);
            inv.push(row![pad, content.name(), dm, bits, du]);
        }
    }
    ctx.table("invariance.csv", &inv)?;
    let mut inv_chart = Table::new(&["pad_len", "mask", "max_abs_diff"]);
    for &pad in &cfg.pad_lens {
        let rows: Vec<&Vec<String>> = inv
            .rows
            .iter()
            .filter(|r| r[0] == pad.to_string())
            .collect();
        let worst = |c: usize| {
            rows.iter()
                .map(|r| r[c].parse::<f64>().unwrap_or(f64::NAN))
                .fold(0f64, f64::max)
        };
        // A floor so that exact zeros show on the log axis.
        inv_chart.push(row![pad, "with mask", worst(2).max(1e-9)]);
        inv_chart.push(row![pad, "without mask", worst(4).max(1e-9)]);
    }
    ctx.table("invariance_chart.csv", &inv_chart)?;
    ctx.chart(
        ChartSpec::line(
            "invariance.png",
            "invariance_chart.csv",
            "Real-position outputs: padded vs unpadded (worst over pad contents)",
            "pad_len",
            &["max_abs_diff"],
        )
        .series("mask")
        .log_x()
        .log_y()
        .labels("pad positions appended", "max |difference| (floor 1e-9)"),
    )?;

    // (b) attention mass on pads, per dtype and fill.
    let mut leak = Table::new(&[
        "dtype",
        "fill",
        "score_std",
        "max_pad_mass",
        "mean_pad_mass",
        "full_row_nan_share",
        "supported",
    ]);
    let mut leak_chart = Table::new(&["fill", "dtype", "neg_log10_max_pad_mass"]);
    let mut worst_f32_leak = 0f64;
    let mut unsupported = vec![];
    let (rows, keys, pads) = (cfg.leak_rows, cfg.leak_keys, cfg.leak_pads);
    // The first `rows` rows have `keys − pads` real keys; one extra row is all padding.
    let lens: Vec<usize> = (0..rows).map(|_| keys - pads).chain([0]).collect();
    let pmask = Mask::padding(&lens, 1, keys);
    for &sd in &cfg.score_stds {
        let scores = randn(&mut rng, &[rows + 1, 1, 1, keys], sd, &dev)?;
        for (dt, dname) in [
            (DType::F32, "f32"),
            (DType::F16, "f16"),
            (DType::BF16, "bf16"),
        ] {
            for &fill in &cfg.fills {
                let r = (|| -> candle_core::Result<(f64, f64, f64)> {
                    let m = pmask.to_attn_unguarded(fill, &dev)?;
                    let m = AttnMask {
                        bias: m.bias.to_dtype(dt)?,
                        row_keep: None,
                    };
                    let w = attention_weights(&scores.to_dtype(dt)?, Some(&m))?
                        .to_dtype(DType::F64)?
                        .squeeze(1)?
                        .squeeze(1)?;
                    let pad_mass = w.narrow(1, keys - pads, pads)?.sum(1)?.to_vec1::<f64>()?;
                    let part = &pad_mass[..rows];
                    let mx = part.iter().cloned().fold(0f64, f64::max);
                    let mean = part.iter().sum::<f64>() / rows as f64;
                    let full = w.narrow(0, rows, 1)?.flatten_all()?.to_vec1::<f64>()?;
                    let nan = full.iter().filter(|x| x.is_nan()).count() as f64 / keys as f64;
                    Ok((mx, mean, nan))
                })();
                match r {
                    Ok((mx, mean, nan)) => {
                        leak.push(row![dname, fill_name(fill), sd, mx, mean, nan, true]);
                        if sd == cfg.score_stds[0] {
                            // −log10 of the mass, capped at 45 (exact zero; f32 subnormals end near 1e-45).
                            leak_chart.push(row![fill_name(fill), dname, -(mx.max(1e-45).log10())]);
                        }
                        if dt == DType::F32 && fill <= -1e4 {
                            worst_f32_leak = worst_f32_leak.max(mx);
                        }
                    }
                    Err(e) => {
                        leak.push(row![
                            dname,
                            fill_name(fill),
                            sd,
                            f64::NAN,
                            f64::NAN,
                            f64::NAN,
                            false
                        ]);
                        unsupported.push(format!("{dname}: {e}"));
                    }
                }
            }
        }
    }
    ctx.table("leak.csv", &leak)?;
    ctx.table("leak_chart.csv", &leak_chart)?;
    ctx.chart(
        ChartSpec::bars(
            "leak.png",
            "leak_chart.csv",
            &format!(
                "Pad attention suppressed: −log10(largest mass on {} pads of {} keys), scores N(0,{})",
                pads, keys, cfg.score_stds[0]
            ),
            "fill",
            &["neg_log10_max_pad_mass"],
        )
        .series("dtype")
        .labels("fill value added at padded keys", "−log10 pad mass (45 = exactly 0)"),
    )?;

    // (c) fully padded query rows: query and key padding both masked.
    let lens_c: Vec<usize> = (0..b)
        .map(|i| if i == b - 1 { 0 } else { l - (i % 3) })
        .collect();
    let pad_c = 4;
    let t = l + pad_c;
    let x = padded_input(&enc, &real, &cfg, pad_c, PadContent::RandomTokens, &mut rng)?;
    let qk_mask = Mask::from_fn(b, t, t, |bi, i, j| i < lens_c[bi] && j < lens_c[bi]);
    let key_mask = Mask::padding(&lens_c, t, t);
    let wvec: Vec<f32> = (0..b * t)
        .map(|p| if p % t < lens_c[p / t] { 1.0 } else { 0.0 })
        .collect();
    let wts = Tensor::from_vec(wvec, (b, t, 1), &dev)?;
    let mut full = Table::new(&[
        "handling",
        "nan_share_all_outputs",
        "nan_share_real_outputs",
        "nan_share_param_grads",
        "max_diff_real_vs_key_only_mask",
    ]);
    let key_only = run_layers(&enc, &x, Some(&key_mask.to_attn(&dev)?))?;
    let n_real: usize = lens_c.iter().sum();
    let mut unguarded_nan = 0f64;
    let mut guarded_nan = (0f64, 0f64);
    for (name, m) in [
        (
            "-inf, unguarded",
            qk_mask.to_attn_unguarded(f32::NEG_INFINITY, &dev)?,
        ),
        ("-1e9, unguarded", qk_mask.to_attn_unguarded(-1e9, &dev)?),
        ("-inf + row guard (core)", qk_mask.to_attn(&dev)?),
    ] {
        let out = run_layers(&enc, &x, Some(&m))?;
        let all_nan = nan_count(&out)? as f64 / out.elem_count() as f64;
        let vocab = out.dim(2)?;
        let outv = out.flatten_all()?.to_vec1::<f32>()?;
        let mut real_nan = 0usize;
        let mut diff = 0f64;
        let kov = key_only.flatten_all()?.to_vec1::<f32>()?;
        for bi in 0..b {
            for i in 0..lens_c[bi] {
                for c in 0..vocab {
                    let idx = (bi * t + i) * vocab + c;
                    if outv[idx].is_nan() {
                        real_nan += 1;
                    }
                    diff = diff.max((outv[idx] as f64 - kov[idx] as f64).abs());
                }
            }
        }
        let real_share = real_nan as f64 / (n_real * vocab).max(1) as f64;
        if real_nan > 0 {
            diff = f64::NAN;
        }
        // Loss over the real positions only (weight 0 at pads): NaN still reaches the gradients.
        let loss = out.broadcast_mul(&wts)?.sum_all()?;
        let grads = loss.backward()?;
        let (mut gn, mut gt) = (0usize, 0usize);
        for v in params.vars() {
            if let Some(g) = grads.get(v.as_tensor()) {
                gn += nan_count(g)?;
                gt += g.elem_count();
            }
        }
        let gshare = gn as f64 / gt.max(1) as f64;
        if name.starts_with("-inf, unguarded") {
            unguarded_nan = all_nan;
        }
        if name.contains("guard (core)") {
            guarded_nan = (all_nan, gshare);
        }
        full.push(row![name, all_nan, real_share, gshare, diff]);
    }
    ctx.table("fully_masked_rows.csv", &full)?;
    ctx.chart(
        ChartSpec::bars(
            "fully_masked_rows.png",
            "fully_masked_rows.csv",
            "Query+key padding mask with fully padded query rows (2 layers)",
            "handling",
            &[
                "nan_share_all_outputs",
                "nan_share_real_outputs",
                "nan_share_param_grads",
            ],
        )
        .labels("mask handling", "share of values that are NaN"),
    )?;

    // (d) gradient reaching the pad embeddings.
    let pad_d = 8;
    let t = l + pad_d;
    let x0 = padded_input(&enc, &real, &cfg, pad_d, PadContent::RandomTokens, &mut rng)?;
    let probe = randn(&mut rng, &[b, l, cfg.vocab], 1.0, &dev)?;
    let mut grad_t = Table::new(&["mask", "max_abs_grad_pad", "max_abs_grad_real"]);
    let mut pad_grad_inf = f64::NAN;
    let pm = Mask::padding(&vec![l; b], t, t);
    let masks: Vec<(String, Option<AttnMask>)> = vec![
        ("-inf".into(), Some(pm.to_attn(&dev)?)),
        ("-1e9".into(), Some(pm.to_attn_with(-1e9, &dev)?)),
        ("-1e4".into(), Some(pm.to_attn_with(-1e4, &dev)?)),
        ("none".into(), None),
    ];
    for (name, m) in &masks {
        let xv = Var::from_tensor(&x0)?;
        let out = run_layers(&enc, xv.as_tensor(), m.as_ref())?.narrow(1, 0, l)?;
        let loss = (out * &probe)?.sum_all()?;
        let g = loss.backward()?;
        let gx = g
            .get(xv.as_tensor())
            .context("no gradient for the input")?
            .clone();
        let gp = max_abs(&gx.narrow(1, l, pad_d)?)?;
        let gr = max_abs(&gx.narrow(1, 0, l)?)?;
        if name == "-inf" {
            pad_grad_inf = gp;
        }
        grad_t.push(row![name.as_str(), gp, gr]);
    }
    ctx.table("pad_gradients.csv", &grad_t)?;

    let v = all_of(&[
        Rule::AtMost(cfg.max_masked_diff).decide(&Estimate::exact(worst_masked)),
        Rule::AtLeast(cfg.min_unmasked_diff).decide(&Estimate::exact(least_unmasked)),
        Rule::AtMost(cfg.max_leak).decide(&Estimate::exact(worst_f32_leak)),
        Rule::AtMost(cfg.max_pad_grad).decide(&Estimate::exact(pad_grad_inf)),
    ]);
    let bits_all = inv.rows.iter().all(|r| r[3] == "true");
    let f16_note = if unsupported.is_empty() {
        "f16 and bf16 ran on candle's CPU backend".to_string()
    } else {
        format!(
            "not supported on candle's CPU backend: {}",
            unsupported.join("; ")
        )
    };
    let leak_of = |dt: &str, fill: &str| -> f64 {
        leak.rows
            .iter()
            .find(|r| r[0] == dt && r[1] == fill && r[2] == cfg.score_stds[0].to_string())
            .and_then(|r| r[3].parse().ok())
            .unwrap_or(f64::NAN)
    };
    ctx.claim(
        Claim::with_verdict(
            "Q5.1",
            "Set masked positions' scores to −∞ (added to the scores) before the softmax.",
            "max |real-position output, padded with mask − unpadded| over pad lengths and contents",
            Estimate::exact(worst_masked),
            &format!(
                "supported if, over every pad length and content, the masked difference is ≤ {:e} while the unmasked one is ≥ {:e}, the f32 pad mass for −∞, −1e9, −1e4 is ≤ {:e}, and the largest gradient on a pad embedding under −∞ is ≤ {}; refuted if any part fails",
                cfg.max_masked_diff, cfg.min_unmasked_diff, cfg.max_leak, cfg.max_pad_grad
            ),
            v,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "With the mask the real outputs are {} (worst diff {:.1e}); without it they move by ≥ {:.2e}. Largest pad mass in f32: {:.1e} for −∞/−1e9/−1e4 (−10 leaks {:.1e}); {f16_note}. Caveat the answer omits: a query row with no real key (query-side padding, or an empty sequence) gives NaN under −∞ — {:.0}% of outputs here, and with two layers the NaN reaches real positions and the gradients even though the loss gives pads weight 0; the core's guard (finite bias, weights zeroed on empty rows) gives {:.0}% NaN outputs and {:.0}% NaN gradients. Pad-embedding gradient under −∞: {:e}.",
            if bits_all { "bit-identical".to_string() } else { "equal to float precision".to_string() },
            worst_masked,
            least_unmasked,
            worst_f32_leak,
            leak_of("f32", "-1e1"),
            unguarded_nan * 100.0,
            guarded_nan.0 * 100.0,
            guarded_nan.1 * 100.0,
            pad_grad_inf
        )),
    );
    ctx.answer(if unguarded_nan > 0.0 {
        Answer::Incomplete
    } else {
        Answer::Correct
    });
    ctx.literature("Vaswani et al. 2017, 3.2.3: illegal connections are masked out by setting the softmax input to −∞.");
    ctx.literature("Common implementations use a large finite negative (−1e9, or the dtype's minimum in f16) instead of −∞, and must special-case rows with no valid key.");
    ctx.corrected_answer(format!(
        "Add a bias of −∞ (or a large negative number such as −1e9; in f16 use the dtype's minimum, −1e9 overflows to −∞) to the scores of padded keys before the softmax, so their weights are exactly 0: the real positions' outputs then do not depend on the pads at all (measured: {}, over pad lengths and contents), and no gradient reaches the pad embeddings. Two cautions: a query row with no valid key at all (a padded query under a query-and-key mask, or an empty sequence) becomes softmax(−∞,…,−∞) = 0/0 = NaN, which propagates to real positions in later layers and to every gradient — give such rows a finite bias and zero their output (or mask only keys and ignore pad outputs in the loss); and mask padded positions out of the loss too.",
        if bits_all { "bit-identical" } else { "identical to float precision" }
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q05_padding_mask",
        "Q5: padding masks. Real-position invariance to pads with and without the mask, pad attention mass per fill value and dtype, fully padded query rows (NaN and the guard), gradients reaching pads.",
        run,
    )
}
