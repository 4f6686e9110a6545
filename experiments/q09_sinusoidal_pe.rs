//! Q9. Sinusoidal position encoding: meaning, pros, cons.
//!
//! Claims (CLAIMS.md, Q9):
//! - Q9.1 Self-attention without position information is order-blind: permuting the
//!   input permutes the output the same way.
//! - Q9.2 The fixed sinusoidal encoding gives each absolute position a distinct code.
//! - Q9.L1 (literature) PE(p+k) is a fixed linear function M_k (a rotation) of PE(p).
//! - Q9.L2 (literature, the con) PE(p)·PE(p+k) depends only on k and is symmetric in
//!   ±k, so it carries distance but no direction; after W_Q, W_K the product depends
//!   on p again and the clean relative property is blurred.
//!
//! No training. Q9.1 runs the core's encoder layer (Post-LN, random weights) on random
//! inputs and permutations; the codes are the core's `position::sinusoidal` table (f32,
//! angles in f64) and, for the long-range distance and the linear fit, the same formula
//! in f64.

use transformer_claims::core::position::sinusoidal_values;
use transformer_claims::prelude::*;
use transformer_claims::rng::{normal_vec, randn};
use transformer_claims::row;
use transformer_claims::verdict::all_of;

#[derive(Serialize)]
struct Config {
    /// Model width (and code width) throughout.
    d_model: usize,
    /// Heads of the encoder layer used for the permutation test.
    heads: usize,
    /// Sequence length and batch of the permutation test.
    seq_len: usize,
    batch: usize,
    /// Random (layer, input, permutation) draws in the permutation test.
    perm_draws: usize,
    /// Q9.1: without positions, max |f(PX) − P f(X)| / max |f(X)| must be ≤ this ...
    max_blind_error: f64,
    /// ... and with sinusoidal positions added it must be ≥ this on every draw.
    min_pe_error: f64,
    /// Q9.2: pairwise distances between the f32 table's codes, brute force, positions 0..n.
    brute_positions: usize,
    /// Q9.2: the distance between PE(p) and PE(p+k) depends only on k (Σ 2 − 2cos ω_i k);
    /// minimum over k = 1..n in f64.
    long_positions: usize,
    /// Q9.2: supported if the minimum distance (both ways) is ≥ this (far above the
    /// ≈1e−6 rounding of an f32 code), refuted if below.
    min_distance: f64,
    /// Q9.L1: offsets k for which M_k is fitted.
    offsets: Vec<usize>,
    /// Q9.L1: positions drawn uniformly from 0..this for the fit and for a held-out check.
    fit_range: usize,
    fit_points: usize,
    /// Q9.L1: relative residual ‖A M − B‖/‖B‖ (fit and held out) must be ≤ this.
    max_fit_residual: f64,
    /// Q9.L2: offsets −K..K for PE(p)·PE(p+k).
    max_offset: usize,
    /// Q9.L2: base positions p at which the curve is drawn (p ≥ K).
    base_positions: Vec<usize>,
    /// Q9.L2: random (W_Q, W_K) draws, entries N(0, 1/d).
    projection_draws: usize,
    /// Q9.L2: raw codes: asymmetry and p-dependence (÷ max |PE·PE|) must be ≤ this ...
    max_raw_deviation: f64,
    /// ... and after W_Q, W_K both must be ≥ this (mean over draws, whole 95% CI).
    min_projected_deviation: f64,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            d_model: 64,
            heads: 4,
            seq_len: 16,
            batch: 4,
            perm_draws: ctx.pick(5, 20),
            max_blind_error: 1e-5,
            min_pe_error: 0.05,
            brute_positions: ctx.pick(1024, 4096),
            long_positions: 100_000,
            min_distance: 1e-3,
            offsets: vec![1, 5, 25, 100],
            fit_range: 100_000,
            fit_points: ctx.pick(400, 2000),
            max_fit_residual: 1e-9,
            max_offset: 32,
            base_positions: vec![32, 100, 500, 2000],
            projection_draws: ctx.pick(5, 20),
            max_raw_deviation: 1e-4,
            min_projected_deviation: 0.05,
        }
    }
}

fn pe64(p: f64, d: usize) -> Vec<f64> {
    (0..d)
        .map(|c| {
            let w = 10000f64.powf(-2.0 * (c / 2) as f64 / d as f64);
            if c % 2 == 0 {
                (p * w).sin()
            } else {
                (p * w).cos()
            }
        })
        .collect()
}

/// Least squares min ‖A X − B‖ by Householder QR, in f64. A is n×d (rows), B n×m.
/// Returns X (d×m, rows). Errors if A is rank-deficient to working precision.
fn lstsq(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let (n, d, m) = (a.len(), a[0].len(), b[0].len());
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    for j in 0..d {
        let norm = (j..n).map(|i| a[i][j] * a[i][j]).sum::<f64>().sqrt();
        if norm < 1e-300 {
            bail!("rank-deficient design in least squares");
        }
        let alpha = if a[j][j] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (j..n).map(|i| a[i][j]).collect();
        v[0] -= alpha;
        let vn = v.iter().map(|x| x * x).sum::<f64>();
        if vn == 0.0 {
            continue;
        }
        for c in j..d {
            let s = (j..n).map(|i| v[i - j] * a[i][c]).sum::<f64>() * 2.0 / vn;
            for i in j..n {
                a[i][c] -= s * v[i - j];
            }
        }
        for c in 0..m {
            let s = (j..n).map(|i| v[i - j] * b[i][c]).sum::<f64>() * 2.0 / vn;
            for i in j..n {
                b[i][c] -= s * v[i - j];
            }
        }
    }
    let mut x = vec![vec![0.0; m]; d];
    for c in 0..m {
        for j in (0..d).rev() {
            let s = b[j][c] - (j + 1..d).map(|l| a[j][l] * x[l][c]).sum::<f64>();
            x[j][c] = s / a[j][j];
        }
    }
    Ok(x)
}

fn rel_residual(a: &[Vec<f64>], b: &[Vec<f64>], x: &[Vec<f64>]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (ar, br) in a.iter().zip(b) {
        for (c, bv) in br.iter().enumerate() {
            let pred: f64 = ar.iter().zip(x).map(|(av, xr)| av * xr[c]).sum();
            num += (pred - bv).powi(2);
            den += bv * bv;
        }
    }
    (num / den).sqrt()
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let dev = Device::Cpu;
    let d = cfg.d_model;

    // ------------------------------------------------ Q9.1 permutation equivariance
    let mut perm_t = Table::new(&["draw", "positions", "relative_error"]);
    let (mut blind, mut with_pe) = (vec![], vec![]);
    let pe = sinusoidal(cfg.seq_len, d, &dev)?;
    for draw in 0..cfg.perm_draws {
        let params = Params::new(ctx.seed * 1000 + draw as u64);
        let layer = encoder_layer(LayerConfig::new(d, cfg.heads), params.vb())?;
        let mut r = seeded(ctx.seed, 100 + draw as u64);
        let x = randn(&mut r, &[cfg.batch, cfg.seq_len, d], 1.0, &dev)?;
        let mut perm: Vec<u32> = (0..cfg.seq_len as u32).collect();
        {
            use rand::seq::SliceRandom;
            perm.shuffle(&mut r);
        }
        let pi = Tensor::new(perm.as_slice(), &dev)?;
        let c = LayerCtx::default();
        for (name, add_pe) in [("none", false), ("sinusoidal", true)] {
            let f = |x: &Tensor| -> Result<Tensor> {
                let x = if add_pe {
                    x.broadcast_add(&pe)?
                } else {
                    x.clone()
                };
                Ok(layer.forward_t(&x, &c)?)
            };
            let fx = f(&x)?;
            let a = f(&x.index_select(&pi, 1)?)?;
            let b = fx.index_select(&pi, 1)?;
            let err = max_abs(&(a - b)?)? / max_abs(&fx)?;
            perm_t.push(row![draw, name, err]);
            if add_pe {
                with_pe.push(err);
            } else {
                blind.push(err);
            }
        }
    }
    ctx.table("permutation.csv", &perm_t)?;
    let blind_max = blind.iter().cloned().fold(0.0, f64::max);
    let pe_min = with_pe.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut perm_sum = Table::new(&["positions", "max_error", "min_error"]);
    perm_sum.push(row![
        "none",
        blind_max,
        blind.iter().cloned().fold(f64::INFINITY, f64::min)
    ]);
    perm_sum.push(row![
        "sinusoidal",
        with_pe.iter().cloned().fold(0.0, f64::max),
        pe_min
    ]);
    ctx.table("permutation_summary.csv", &perm_sum)?;
    ctx.chart(
        ChartSpec::bars(
            "permutation_error.png",
            "permutation_summary.csv",
            "Encoder layer: |f(PX) − P f(X)| / |f(X)| (worst draw)",
            "positions",
            &["max_error"],
        )
        .log_y()
        .labels("positions added to the input", "relative error"),
    )?;
    let v91 = all_of(&[
        Verdict::from_bool(blind_max <= cfg.max_blind_error),
        Verdict::from_bool(pe_min >= cfg.min_pe_error),
    ]);
    ctx.claim(
        Claim::with_verdict(
            "Q9.1",
            "Self-attention without position information is order-blind: permuting the input permutes the output the same way.",
            "max over draws of |f(PX) − P f(X)| / max|f(X)|, encoder layer without positions",
            Estimate::with_interval(blind_max, 0.0, blind_max, 1.0, blind.len()),
            &format!(
                "supported if without positions the worst relative error is ≤ {} and with sinusoidal positions every draw's error is ≥ {}; refuted otherwise",
                cfg.max_blind_error, cfg.min_pe_error
            ),
            v91,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "Core Post-LN encoder layer (d_model {d}, {} heads), {} random layers/inputs/permutations of length {}. Without positions the error is float rounding (worst {:.1e}); with the sinusoidal code added it is ≥ {:.2} on every draw.",
            cfg.heads, cfg.perm_draws, cfg.seq_len, blind_max, pe_min
        )),
    );

    // ------------------------------------------------ Q9.2 distinct codes
    let table = sinusoidal_values(cfg.brute_positions, d);
    let mut brute_min = f64::INFINITY;
    let mut nearest_by_k = vec![f64::INFINITY; cfg.brute_positions];
    for p in 0..cfg.brute_positions {
        let a = &table[p * d..(p + 1) * d];
        for q in p + 1..cfg.brute_positions {
            let b = &table[q * d..(q + 1) * d];
            let dist = a
                .iter()
                .zip(b)
                .map(|(x, y)| ((*x as f64) - (*y as f64)).powi(2))
                .sum::<f64>()
                .sqrt();
            brute_min = brute_min.min(dist);
            let k = q - p;
            nearest_by_k[k] = nearest_by_k[k].min(dist);
        }
    }
    // Closed form: |PE(p) − PE(p+k)|² = Σ_i 2 − 2 cos(ω_i k), the same for every p.
    let omegas: Vec<f64> = (0..d / 2)
        .map(|i| 10000f64.powf(-2.0 * i as f64 / d as f64))
        .collect();
    let dist_k = |k: f64| -> f64 {
        omegas
            .iter()
            .map(|w| 2.0 - 2.0 * (w * k).cos())
            .sum::<f64>()
            .sqrt()
    };
    let mut long_min = f64::INFINITY;
    let mut argmin = 0;
    let mut dist_t = Table::new(&["k", "distance", "brute_min_distance"]);
    for k in 1..=cfg.long_positions {
        let dk = dist_k(k as f64);
        if dk < long_min {
            long_min = dk;
            argmin = k;
        }
        // Log-spaced rows for the chart.
        let show = k <= 16 || (k as f64).log10().fract() < 1e-9 || k % (k / 16).max(1) == 0;
        if show && (k <= 16 || k.is_power_of_two() || k % 1000 == 0) {
            let brute = if k < cfg.brute_positions {
                nearest_by_k[k]
            } else {
                f64::NAN
            };
            dist_t.push(row![k, dk, brute]);
        }
    }
    ctx.table("code_distance.csv", &dist_t)?;
    ctx.chart(
        ChartSpec::line(
            "code_distance.png",
            "code_distance.csv",
            &format!("|PE(p) − PE(p+k)| (d = {d}): never near 0"),
            "k",
            &["distance", "brute_min_distance"],
        )
        .log_x()
        .labels("offset k", "Euclidean distance"),
    )?;
    let overall_min = brute_min.min(long_min);
    ctx.claim(
        Claim::decide(
            "Q9.2",
            "The fixed sinusoidal encoding gives each absolute position a distinct code.",
            &format!(
                "minimum distance between two codes (f32 table up to {}, brute force; closed form up to {})",
                cfg.brute_positions, cfg.long_positions
            ),
            Estimate::exact(overall_min),
            Rule::AtLeast(cfg.min_distance),
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "Brute force over all pairs of the core's f32 table (positions < {}): min {:.4}. Closed form over offsets 1..{}: min {:.4} at k = {}. The code norm is √(d/2) = {:.2}.",
            cfg.brute_positions, brute_min, cfg.long_positions, long_min, argmin, (d as f64 / 2.0).sqrt()
        )),
    );

    // ------------------------------------------------ Q9.L1 linear map M_k
    let mut rfit = seeded(ctx.seed, 7);
    let draw_pos = |r: &mut Rng64, n: usize| -> Vec<f64> {
        use rand::Rng;
        (0..n)
            .map(|_| r.gen_range(0..cfg.fit_range) as f64)
            .collect()
    };
    let mut fit_t = Table::new(&[
        "k",
        "fit_residual",
        "heldout_residual",
        "max_deviation_from_rotation",
    ]);
    let mut worst_res: f64 = 0.0;
    let mut worst_rot: f64 = 0.0;
    for &k in &cfg.offsets {
        let ptrain = draw_pos(&mut rfit, cfg.fit_points);
        let ptest = draw_pos(&mut rfit, cfg.fit_points);
        let a: Vec<Vec<f64>> = ptrain.iter().map(|&p| pe64(p, d)).collect();
        let b: Vec<Vec<f64>> = ptrain.iter().map(|&p| pe64(p + k as f64, d)).collect();
        let x = lstsq(&a, &b)?; // PE(p+k)ᵀ ≈ PE(p)ᵀ X, so M_k = Xᵀ
        let res_fit = rel_residual(&a, &b, &x);
        let at: Vec<Vec<f64>> = ptest.iter().map(|&p| pe64(p, d)).collect();
        let bt: Vec<Vec<f64>> = ptest.iter().map(|&p| pe64(p + k as f64, d)).collect();
        let res_test = rel_residual(&at, &bt, &x);
        // Closed form: per frequency, (sin, cos)(p+k) = rotation by ω k of (sin, cos)(p).
        let mut dev_rot: f64 = 0.0;
        for row in 0..d {
            for col in 0..d {
                let (i, j) = (row / 2, col / 2);
                let want = if i != j {
                    0.0
                } else {
                    let (c, s) = ((omegas[i] * k as f64).cos(), (omegas[i] * k as f64).sin());
                    // M[out, in]: sin' = sin·c + cos·s ; cos' = cos·c − sin·s
                    match (row % 2, col % 2) {
                        (0, 0) => c,
                        (0, 1) => s,
                        (1, 0) => -s,
                        _ => c,
                    }
                };
                dev_rot = dev_rot.max((x[col][row] - want).abs());
            }
        }
        fit_t.push(row![k, res_fit, res_test, dev_rot]);
        worst_res = worst_res.max(res_fit).max(res_test);
        worst_rot = worst_rot.max(dev_rot);
    }
    ctx.table("linear_map_fit.csv", &fit_t)?;
    ctx.claim(
        Claim::decide(
            "Q9.L1",
            "PE(p+k) is a fixed linear function of PE(p) (a block rotation M_k that does not depend on p).",
            "worst relative residual of the least-squares fit PE(p+k) ≈ M_k PE(p), fit and held-out positions",
            Estimate::exact(worst_res),
            Rule::AtMost(cfg.max_fit_residual),
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "General d×d least squares (Householder QR, f64) on {} random positions in 0..{}, checked on {} others, for k in {:?}; the fitted M_k differs from the closed-form rotation by at most {:.1e} per entry.",
            cfg.fit_points, cfg.fit_range, cfg.fit_points, cfg.offsets, worst_rot
        )),
    );

    // ------------------------------------------------ Q9.L2 direction blindness
    let kmax = cfg.max_offset as i64;
    let pmax = *cfg.base_positions.iter().max().expect("positions");
    let tab = sinusoidal_values(pmax + cfg.max_offset + 1, d);
    let code =
        |p: usize| -> Vec<f64> { tab[p * d..(p + 1) * d].iter().map(|&v| v as f64).collect() };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let matvec = |m: &[f32], v: &[f64]| -> Vec<f64> {
        (0..d)
            .map(|r| (0..d).map(|c| m[r * d + c] as f64 * v[c]).sum())
            .collect()
    };
    // curve[p][k + K]
    let curves = |wq: Option<&[f32]>, wk: Option<&[f32]>| -> Vec<Vec<f64>> {
        cfg.base_positions
            .iter()
            .map(|&p| {
                (-kmax..=kmax)
                    .map(|k| {
                        let a = code(p);
                        let b = code((p as i64 + k) as usize);
                        match (wq, wk) {
                            (Some(q), Some(kk)) => dot(&matvec(q, &a), &matvec(kk, &b)),
                            _ => dot(&a, &b),
                        }
                    })
                    .collect()
            })
            .collect()
    };
    // (asymmetry, p-dependence), both ÷ max |value|.
    let deviations = |c: &[Vec<f64>]| -> (f64, f64) {
        let scale = c.iter().flatten().fold(0f64, |m, v| m.max(v.abs()));
        let mid = kmax as usize;
        let mut asym: f64 = 0.0;
        let mut pdep: f64 = 0.0;
        for row in c {
            for k in 1..=mid {
                asym = asym.max((row[mid + k] - row[mid - k]).abs());
            }
            for (v, v0) in row.iter().zip(&c[0]) {
                pdep = pdep.max((v - v0).abs());
            }
        }
        (asym / scale, pdep / scale)
    };
    let raw = curves(None, None);
    let (raw_asym, raw_pdep) = deviations(&raw);
    let mut dot_t = Table::new(&["k", "curve", "dot"]);
    for (pi, p) in cfg.base_positions.iter().enumerate() {
        for (ki, k) in (-kmax..=kmax).enumerate() {
            dot_t.push(row![k, format!("PE·PE, p={p}"), raw[pi][ki]]);
        }
    }
    let mut rproj = seeded(ctx.seed, 9);
    let (mut pasym, mut ppdep) = (vec![], vec![]);
    let mut proj_t = Table::new(&["draw", "asymmetry", "p_dependence"]);
    for draw in 0..cfg.projection_draws {
        let std = 1.0 / (d as f64).sqrt();
        let wq = normal_vec(&mut rproj, d * d, 0.0, std);
        let wk = normal_vec(&mut rproj, d * d, 0.0, std);
        let c = curves(Some(&wq), Some(&wk));
        let (a, p) = deviations(&c);
        proj_t.push(row![draw, a, p]);
        pasym.push(a);
        ppdep.push(p);
        if draw == 0 {
            for (pi, p) in cfg.base_positions.iter().enumerate() {
                for (ki, k) in (-kmax..=kmax).enumerate() {
                    dot_t.push(row![k, format!("W_Q·PE · W_K·PE, p={p}"), c[pi][ki]]);
                }
            }
        }
    }
    ctx.table("dot_vs_offset.csv", &dot_t)?;
    ctx.table("projected_deviation.csv", &proj_t)?;
    let mut dev_sum = Table::new(&["codes", "asymmetry", "p_dependence"]);
    dev_sum.push(row!["raw PE", raw_asym, raw_pdep]);
    dev_sum.push(row![
        "after W_Q, W_K (mean)",
        stats::mean(&pasym),
        stats::mean(&ppdep)
    ]);
    ctx.table("direction_summary.csv", &dev_sum)?;
    ctx.chart(
        ChartSpec::line(
            "dot_vs_offset.png",
            "dot_vs_offset.csv",
            "PE(p)·PE(p+k): one symmetric curve for every p; after W_Q, W_K: neither",
            "k",
            &["dot"],
        )
        .series("curve")
        .labels("offset k", "dot product"),
    )?;
    ctx.chart(
        ChartSpec::bars(
            "direction_deviation.png",
            "direction_summary.csv",
            "Asymmetry in ±k and dependence on p (÷ max |dot|)",
            "codes",
            &["asymmetry", "p_dependence"],
        )
        .labels("", "relative deviation"),
    )?;
    let pa = stats::mean_ci(&pasym, 0.95);
    let pp = stats::mean_ci(&ppdep, 0.95);
    let v_l2 = all_of(&[
        Verdict::from_bool(raw_asym <= cfg.max_raw_deviation),
        Verdict::from_bool(raw_pdep <= cfg.max_raw_deviation),
        Rule::AtLeast(cfg.min_projected_deviation).decide(&pa),
        Rule::AtLeast(cfg.min_projected_deviation).decide(&pp),
    ]);
    ctx.claim(
        Claim::with_verdict(
            "Q9.L2",
            "PE(p)·PE(p+k) depends only on k and is symmetric in ±k (distance without direction); random W_Q, W_K blur this relative property.",
            "raw codes: max |PE(p)·PE(p+k) − PE(p)·PE(p−k)| / max|PE·PE|",
            Estimate::exact(raw_asym),
            &format!(
                "supported if for the raw codes both the ±k asymmetry and the p-dependence are ≤ {} (÷ max |dot|) while after random W_Q, W_K the mean of each over draws is ≥ {} (whole 95% CI); refuted if a raw deviation exceeds {} or a projected CI lies below {}",
                cfg.max_raw_deviation, cfg.min_projected_deviation, cfg.max_raw_deviation, cfg.min_projected_deviation
            ),
            v_l2,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "Raw: asymmetry {:.1e}, p-dependence {:.1e} (f32 rounding). After W_Q, W_K ({} draws): asymmetry {:.2} [{:.2}, {:.2}], p-dependence {:.2} [{:.2}, {:.2}]. The raw symmetry is the con: a dot-product score on PE alone cannot tell i−4 from i+4.",
            raw_asym, raw_pdep, cfg.projection_draws, pa.point, pa.lo, pa.hi, pp.point, pp.lo, pp.hi
        )),
    );

    ctx.answer(Answer::Incomplete);
    ctx.literature("Vaswani et al. 2017, 3.5: sinusoids chosen because for any fixed k, PE(pos+k) is a linear function of PE(pos), which may let the model attend by relative position; they may extrapolate to longer sequences.");
    ctx.literature("Yan et al. 2019 (TENER): PE(t)·PE(t+k) depends only on k and is symmetric, so it has distance but no direction, and the projections W_Q, W_K blur even the distance awareness.");
    ctx.corrected_answer(format!(
        "Meaning (the seed answer): self-attention is permutation-equivariant — measured, an encoder layer without positions gives f(PX) = P f(X) to {:.0e}, with sinusoidal codes added the error is ≥ {:.2}; the fixed code marks each absolute position, and no two of the first {} positions get codes closer than {:.3} (d={d}). Pros (missing from the seed answer): no parameters, any length, and PE(p+k) = M_k PE(p) exactly with a block rotation M_k (fit residual {:.0e}), so relative offsets are linear functions of the code. Cons (missing): PE(p)·PE(p+k) depends only on |k| — symmetric in ±k, no direction — and once W_Q, W_K are applied the product depends on p again (relative deviation {:.2}), so the relative property is blurred; it is also added to, and mixed with, the token embedding. Relative and rotary encodings (Q10) address these.",
        blind_max, pe_min, cfg.long_positions, overall_min, worst_res, pp.point
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q09_sinusoidal_pe",
        "Q9: the sinusoidal position encoding. Permutation equivariance without positions, distinct codes, the linear map PE(p)→PE(p+k), and the ±k symmetry of PE·PE before and after W_Q, W_K.",
        run,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lstsq_recovers_a_known_map() {
        let a: Vec<Vec<f64>> = (0..10)
            .map(|i| vec![1.0, i as f64, (i * i) as f64 * 0.1])
            .collect();
        let xt = [[2.0, -1.0], [0.5, 0.0], [1.0, 3.0]];
        let b: Vec<Vec<f64>> = a
            .iter()
            .map(|r| {
                (0..2)
                    .map(|c| (0..3).map(|j| r[j] * xt[j][c]).sum())
                    .collect()
            })
            .collect();
        let x = lstsq(&a, &b).unwrap();
        for j in 0..3 {
            for c in 0..2 {
                assert!((x[j][c] - xt[j][c]).abs() < 1e-10);
            }
        }
        assert!(rel_residual(&a, &b, &x) < 1e-12);
    }
}
