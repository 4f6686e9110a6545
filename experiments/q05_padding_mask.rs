//! Q5. How is padding masked when computing attention scores?
//!
//! Claim (declared in src/spec/q05.rs), a check of this project's own attention:
//! - Q5.1 Adding −∞ to the scores of padded keys before the softmax removes the pads.
//!
//! No training. A 2-layer Post-LN encoder from the model core with random weights
//! (src/setup/q05.rs):
//! (a) outputs at the real positions, padded (several pad lengths and pad contents)
//!     with the padding mask, against the unpadded sequence; and without the mask;
//! (b) attention mass that leaks onto pads for several fill values in f32, f16, bf16;
//! (c) query rows that are entirely padding (query and key padding masked): −∞ gives
//!     NaN, which a second layer spreads to the real positions and to every gradient;
//!     the core's row guard (a finite bias and zeroed weights on rows with no valid
//!     key) keeps everything finite and leaves the real positions unchanged;
//! (d) the gradient reaching the pad embeddings with and without the mask.

use transformer_claims::core::attention::attention_weights;
use transformer_claims::core::mask::AttnMask;
use transformer_claims::fmt::{num, percent};
use transformer_claims::prelude::*;
use transformer_claims::rng::{index_vec, randn};
use transformer_claims::row;
use transformer_claims::setup::q05::{fill_name, nan_count, run_layers, PadContent, Padder};
use transformer_claims::spec::q05;

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
        }
    }
}

/// (a) Worst masked and least unmasked difference over pad lengths and contents.
struct Invariance {
    worst_masked: f64,
    least_unmasked: f64,
    bit_identical: bool,
}

fn invariance(ctx: &mut Ctx, cfg: &Config, p: &Padder, rng: &mut Rng64) -> Result<Invariance> {
    let dev = Device::Cpu;
    let (b, l) = (cfg.batch, cfg.real_len);
    let real_t = Tensor::from_vec(p.real.clone(), (b, l), &dev)?;
    let reference = run_layers(p.enc, &p.enc.embed(&real_t)?, None)?;
    let mut inv = Table::new(&[
        "pad_len",
        "pad_content",
        "max_diff_masked",
        "bit_identical_masked",
        "max_diff_unmasked",
    ]);
    let mut chart = Table::new(&["pad_len", "mask", "max_abs_diff"]);
    let mut r = Invariance {
        worst_masked: 0.0,
        least_unmasked: f64::INFINITY,
        bit_identical: true,
    };
    for &pad in &cfg.pad_lens {
        let (mut wm, mut wu) = (0f64, 0f64);
        for content in PadContent::ALL {
            let x = p.input(pad, content, rng)?;
            let mask = Mask::padding(&vec![l; b], l + pad, l + pad).to_attn(&dev)?;
            let with = run_layers(p.enc, &x, Some(&mask))?.narrow(1, 0, l)?;
            let without = run_layers(p.enc, &x, None)?.narrow(1, 0, l)?;
            let (dm, du) = (
                max_abs(&(&with - &reference)?)?,
                max_abs(&(&without - &reference)?)?,
            );
            let bits = with.flatten_all()?.to_vec1::<f32>()?
                == reference.flatten_all()?.to_vec1::<f32>()?;
            r.worst_masked = r.worst_masked.max(dm);
            r.least_unmasked = r.least_unmasked.min(du);
            r.bit_identical &= bits;
            (wm, wu) = (wm.max(dm), wu.max(du));
            inv.push(row![pad, content.to_string(), dm, bits, du]);
        }
        chart.push(row![pad, "with mask", wm]);
        chart.push(row![pad, "without mask", wu]);
    }
    ctx.table("invariance.csv", &inv)?;
    ctx.table("invariance_chart.csv", &chart)?;
    ctx.chart(
        ChartSpec::line(
            "invariance.png",
            "invariance_chart.csv",
            "Real-position outputs, padded vs unpadded (worst over pad contents)",
            "pad_len",
            &["max_abs_diff"],
        )
        .series("mask")
        .log_x()
        .log_y()
        .y_floor(1e-9)
        .reference(1e-5, "masked bound 1e-5")
        .reference(1e-3, "unmasked minimum 1e-3")
        .labels(
            "pad positions appended",
            "largest |difference| (0 drawn at 1e-9)",
        ),
    )?;
    Ok(r)
}

/// (b) Pad attention mass per dtype and fill.
struct Leak {
    worst_f32: f64,
    f32_minus10: f64,
    unsupported: Vec<String>,
}

fn leak(ctx: &mut Ctx, cfg: &Config, rng: &mut Rng64) -> Result<Leak> {
    let dev = Device::Cpu;
    let (rows, keys, pads) = (cfg.leak_rows, cfg.leak_keys, cfg.leak_pads);
    let mut t = Table::new(&[
        "dtype",
        "fill",
        "score_std",
        "max_pad_mass",
        "mean_pad_mass",
        "full_row_nan_share",
        "supported",
    ]);
    let mut chart = Table::new(&["fill", "dtype", "neg_log10_max_pad_mass"]);
    let mut r = Leak {
        worst_f32: 0.0,
        f32_minus10: f64::NAN,
        unsupported: vec![],
    };
    // The first `rows` rows have `keys − pads` real keys; one extra row is all padding.
    let lens: Vec<usize> = (0..rows).map(|_| keys - pads).chain([0]).collect();
    let pmask = Mask::padding(&lens, 1, keys);
    for &sd in &cfg.score_stds {
        let scores = randn(rng, &[rows + 1, 1, 1, keys], sd, &dev)?;
        for (dt, dname) in [
            (DType::F32, "f32"),
            (DType::F16, "f16"),
            (DType::BF16, "bf16"),
        ] {
            for &fill in &cfg.fills {
                let m = (|| -> candle_core::Result<(f64, f64, f64)> {
                    let m = pmask.to_attn_unguarded(fill, &dev)?;
                    let m = AttnMask {
                        bias: m.bias.to_dtype(dt)?,
                        row_keep: None,
                    };
                    let w = attention_weights(&scores.to_dtype(dt)?, Some(&m))?
                        .to_dtype(DType::F64)?
                        .squeeze(1)?
                        .squeeze(1)?;
                    let mass = w.narrow(1, keys - pads, pads)?.sum(1)?.to_vec1::<f64>()?;
                    let part = &mass[..rows];
                    let full = w.narrow(0, rows, 1)?.flatten_all()?.to_vec1::<f64>()?;
                    let nan = full.iter().filter(|x| x.is_nan()).count() as f64 / keys as f64;
                    Ok((
                        part.iter().cloned().fold(0f64, f64::max),
                        stats::mean(part),
                        nan,
                    ))
                })();
                match m {
                    Ok((mx, mean, nan)) => {
                        t.push(row![dname, fill_name(fill), sd, mx, mean, nan, true]);
                        if sd == cfg.score_stds[0] {
                            // −log10 of the mass, capped at 45 (exact zero; f32 subnormals end near 1e-45).
                            chart.push(row![fill_name(fill), dname, -(mx.max(1e-45).log10())]);
                            if dt == DType::F32 && fill == -10.0 {
                                r.f32_minus10 = mx;
                            }
                        }
                        if dt == DType::F32 && fill <= -1e4 {
                            r.worst_f32 = r.worst_f32.max(mx);
                        }
                    }
                    Err(e) => {
                        t.push(row![
                            dname,
                            fill_name(fill),
                            sd,
                            f64::NAN,
                            f64::NAN,
                            f64::NAN,
                            false
                        ]);
                        r.unsupported.push(format!("{dname}: {e}"));
                    }
                }
            }
        }
    }
    ctx.table("leak.csv", &t)?;
    ctx.table("leak_chart.csv", &chart)?;
    ctx.chart(
        ChartSpec::bars(
            "leak.png",
            "leak_chart.csv",
            &format!("Pad attention suppressed: −log10(largest mass on {pads} pads of {keys} keys), scores N(0, {})", cfg.score_stds[0]),
            "fill",
            &["neg_log10_max_pad_mass"],
        )
        .series("dtype")
        .reference(12.0, "bound 1e-12 (f32)")
        .labels("fill value added at padded keys", "−log10 pad mass (45 = exactly 0)"),
    )?;
    Ok(r)
}

/// (c) Fully padded query rows: NaN shares under each handling.
struct FullRows {
    unguarded_nan: f64,
    guarded_nan: f64,
    guarded_grad_nan: f64,
}

fn fully_masked(
    ctx: &mut Ctx,
    cfg: &Config,
    p: &Padder,
    params: &Params,
    rng: &mut Rng64,
) -> Result<FullRows> {
    let dev = Device::Cpu;
    let (b, l, pad) = (cfg.batch, cfg.real_len, 4);
    let t = l + pad;
    let lens: Vec<usize> = (0..b)
        .map(|i| if i == b - 1 { 0 } else { l - (i % 3) })
        .collect();
    let x = p.input(pad, PadContent::RandomTokens, rng)?;
    let qk_mask = Mask::from_fn(b, t, t, |bi, i, j| i < lens[bi] && j < lens[bi]);
    let wvec: Vec<f32> = (0..b * t)
        .map(|q| if q % t < lens[q / t] { 1.0 } else { 0.0 })
        .collect();
    let wts = Tensor::from_vec(wvec, (b, t, 1), &dev)?;
    let key_only = run_layers(p.enc, &x, Some(&Mask::padding(&lens, t, t).to_attn(&dev)?))?;
    let kov = key_only.flatten_all()?.to_vec1::<f32>()?;
    let mut tab = Table::new(&[
        "handling",
        "nan_share_all_outputs",
        "nan_share_real_outputs",
        "nan_share_param_grads",
        "max_diff_real_vs_key_only_mask",
    ]);
    let mut r = FullRows {
        unguarded_nan: 0.0,
        guarded_nan: 0.0,
        guarded_grad_nan: 0.0,
    };
    let handlings = [
        (
            "−∞, unguarded",
            qk_mask.to_attn_unguarded(f32::NEG_INFINITY, &dev)?,
        ),
        ("−1e9, unguarded", qk_mask.to_attn_unguarded(-1e9, &dev)?),
        ("−∞ with row guard", qk_mask.to_attn(&dev)?),
    ];
    for (i, (name, m)) in handlings.iter().enumerate() {
        let out = run_layers(p.enc, &x, Some(m))?;
        let all_nan = nan_count(&out)? as f64 / out.elem_count() as f64;
        let vocab = out.dim(2)?;
        let outv = out.flatten_all()?.to_vec1::<f32>()?;
        let (mut real_nan, mut diff) = (0usize, 0f64);
        for (bi, &len) in lens.iter().enumerate() {
            for idx in (0..len * vocab).map(|j| bi * t * vocab + j) {
                real_nan += outv[idx].is_nan() as usize;
                diff = diff.max((outv[idx] as f64 - kov[idx] as f64).abs());
            }
        }
        let n_real: usize = lens.iter().sum();
        let real_share = real_nan as f64 / (n_real * vocab).max(1) as f64;
        if real_nan > 0 {
            diff = f64::NAN;
        }
        // Loss over the real positions only (weight 0 at pads): NaN still reaches the gradients.
        let grads = out.broadcast_mul(&wts)?.sum_all()?.backward()?;
        let (mut gn, mut gt) = (0usize, 0usize);
        for v in params.vars() {
            if let Some(g) = grads.get(v.as_tensor()) {
                gn += nan_count(g)?;
                gt += g.elem_count();
            }
        }
        let gshare = gn as f64 / gt.max(1) as f64;
        match i {
            0 => r.unguarded_nan = all_nan,
            2 => (r.guarded_nan, r.guarded_grad_nan) = (all_nan, gshare),
            _ => {}
        }
        tab.push(row![*name, all_nan, real_share, gshare, diff]);
    }
    ctx.table("fully_masked_rows.csv", &tab)?;
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
        .name("nan_share_all_outputs", "all outputs")
        .name("nan_share_real_outputs", "outputs at real positions")
        .name("nan_share_param_grads", "parameter gradients")
        .y_range(0.0, 1.0)
        .labels("mask handling", "share of values that are NaN"),
    )?;
    Ok(r)
}

/// (d) Largest gradient on a pad embedding under the −∞ mask (and others, tabled).
fn pad_gradients(ctx: &mut Ctx, cfg: &Config, p: &Padder, rng: &mut Rng64) -> Result<f64> {
    let dev = Device::Cpu;
    let (b, l, pad) = (cfg.batch, cfg.real_len, 8);
    let x0 = p.input(pad, PadContent::RandomTokens, rng)?;
    let probe = randn(rng, &[b, l, cfg.vocab], 1.0, &dev)?;
    let pm = Mask::padding(&vec![l; b], l + pad, l + pad);
    let mut t = Table::new(&["mask", "max_abs_grad_pad", "max_abs_grad_real"]);
    let mut inf_grad = f64::NAN;
    for (name, m) in [
        ("−∞", Some(pm.to_attn(&dev)?)),
        ("−1e9", Some(pm.to_attn_with(-1e9, &dev)?)),
        ("−1e4", Some(pm.to_attn_with(-1e4, &dev)?)),
        ("none", None),
    ] {
        let xv = Var::from_tensor(&x0)?;
        let out = run_layers(p.enc, xv.as_tensor(), m.as_ref())?.narrow(1, 0, l)?;
        let g = (out * &probe)?.sum_all()?.backward()?;
        let gx = g.get(xv.as_tensor()).context("no gradient for the input")?;
        let gp = max_abs(&gx.narrow(1, l, pad)?)?;
        if name == "−∞" {
            inf_grad = gp;
        }
        t.push(row![name, gp, max_abs(&gx.narrow(1, 0, l)?)?]);
    }
    ctx.table("pad_gradients.csv", &t)?;
    Ok(inf_grad)
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
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
    let p = Padder {
        enc: &enc,
        real: index_vec(&mut rng, cfg.batch * cfg.real_len, cfg.vocab),
        batch: cfg.batch,
        real_len: cfg.real_len,
        vocab: cfg.vocab,
        d_model: cfg.d_model,
        noise_std: cfg.noise_std,
    };
    let inv = invariance(ctx, &cfg, &p, &mut rng)?;
    let lk = leak(ctx, &cfg, &mut rng)?;
    let full = fully_masked(ctx, &cfg, &p, &params, &mut rng)?;
    let pad_grad = pad_gradients(ctx, &cfg, &p, &mut rng)?;

    ctx.decide(
        &q05::Q5_1,
        Evidence::new()
            .exact(q05::MASKED_DIFF, inv.worst_masked)
            .exact(q05::UNMASKED_DIFF, inv.least_unmasked)
            .exact(q05::F32_LEAK, lk.worst_f32)
            .exact(q05::PAD_GRAD, pad_grad),
    )?;
    let same = if inv.bit_identical {
        "bit-identical"
    } else {
        "equal within float precision"
    };
    let f16 = if lk.unsupported.is_empty() {
        "f16 and bf16 ran on candle's CPU backend".to_string()
    } else {
        format!(
            "not supported on candle's CPU backend: {}",
            lk.unsupported.join("; ")
        )
    };
    ctx.note("Q5.1", format!(
        "With the mask the real outputs are {same} (largest difference {}); without it they move by at least {}. Largest pad mass in f32: {} for −∞, −1e9 and −1e4 (a fill of −10 leaks {}); {f16}. Caveat the answer omits: a query row with no real key (query-side padding, or an empty sequence) gives NaN under −∞ ({} of outputs here), and with two layers the NaN reaches real positions and the gradients even though the loss gives pads weight 0; the core's row guard (finite bias, weights zeroed on empty rows) gives {} NaN outputs and {} NaN gradients. Largest pad-embedding gradient under −∞: {}.",
        num(inv.worst_masked), num(inv.least_unmasked), num(lk.worst_f32), num(lk.f32_minus10),
        percent(full.unguarded_nan), percent(full.guarded_nan), percent(full.guarded_grad_nan), num(pad_grad),
    ))?;
    ctx.answer(if full.unguarded_nan > 0.0 {
        Answer::Incomplete
    } else {
        Answer::Correct
    });
    ctx.key_chart("invariance.png");
    ctx.in_short(format!(
        "Add −∞ (or a large negative such as −1e9; in f16 the dtype's minimum) to the scores of padded keys before the softmax: their weights become exactly 0, and real-position outputs match the unpadded run ({same}; largest difference {}). The answer omits one case: a query row with no valid key gives softmax of all −∞ = NaN, which spreads to real positions and gradients; guard such rows.",
        num(inv.worst_masked)
    ))?;
    ctx.literature("Vaswani et al. 2017, 3.2.3: illegal connections are masked out by setting the softmax input to −∞.");
    ctx.literature("Common implementations use a large finite negative (−1e9, or the dtype's minimum in f16) instead of −∞, and must special-case rows with no valid key.");
    ctx.corrected_answer(format!(
        "Add a bias of −∞ (or a large negative number such as −1e9; in f16 use the dtype's minimum, since −1e9 overflows to −∞) to the scores of padded keys before the softmax, so their weights are exactly 0: the real positions' outputs then do not depend on the pads at all (measured on this project's encoder: {same}, over pad lengths and contents), and no gradient reaches the pad embeddings. Two cautions: a query row with no valid key at all (a padded query under a query-and-key mask, or an empty sequence) becomes softmax(−∞, …, −∞) = 0/0 = NaN, which propagates to real positions in later layers and to every gradient: give such rows a finite bias and zero their output (or mask only keys and ignore pad outputs in the loss); and mask padded positions out of the loss too."
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
