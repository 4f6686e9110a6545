//! Q9. Sinusoidal position encoding: meaning, pros, cons.
//!
//! Claims (declared in src/spec/q09.rs):
//! - Q9.1 Self-attention without position information is order-blind: permuting the
//!   input permutes the output the same way.
//! - Q9.2 The fixed sinusoidal encoding gives each absolute position a distinct code.
//! - Q9.L1 (literature) PE(p+k) is a fixed linear function M_k (a rotation) of PE(p).
//! - Q9.L2 (literature, the con) PE(p)·PE(p+k) depends only on k and is symmetric in
//!   ±k, so it carries distance but no direction; after W_Q, W_K the product depends
//!   on p again and the clean relative property is blurred.
//!
//! Setup (src/setup/q09.rs): no training. Q9.1 runs the core's encoder layer (Post-LN,
//! random weights) on random inputs and permutations; the codes are the core's
//! `position::sinusoidal` table (f32, angles in f64) and, for the long-range distance
//! and the linear fit, the same formula in f64.

use transformer_claims::fmt;
use transformer_claims::prelude::*;
use transformer_claims::row;
use transformer_claims::setup::q09::{self as setup, DotCurves};
use transformer_claims::spec::q09;

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
    /// Q9.2: brute-force pairwise distances over the f32 table, positions 0..n.
    brute_positions: usize,
    /// Q9.2: closed-form distance Σ 2 − 2cos ω_i k for offsets k = 1..n (f64).
    long_positions: usize,
    /// Q9.L1: offsets k for which M_k is fitted.
    offsets: Vec<usize>,
    /// Q9.L1: positions drawn uniformly from 0..this for the fit and for a held-out check.
    fit_range: usize,
    fit_points: usize,
    /// Q9.L2: offsets −K..K for PE(p)·PE(p+k).
    max_offset: usize,
    /// Q9.L2: base positions p at which the curve is drawn (p ≥ K).
    base_positions: Vec<usize>,
    /// Q9.L2: random (W_Q, W_K) draws, entries N(0, 1/d).
    projection_draws: usize,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            d_model: 64,
            heads: 4,
            seq_len: 16,
            batch: 4,
            perm_draws: ctx.pick(5, 20),
            brute_positions: ctx.pick(1024, 4096),
            long_positions: 100_000,
            offsets: vec![1, 5, 25, 100],
            fit_range: 100_000,
            fit_points: ctx.pick(400, 2000),
            max_offset: 32,
            base_positions: vec![32, 100, 500, 2000],
            projection_draws: ctx.pick(5, 20),
        }
    }
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let d = cfg.d_model;

    // Q9.1: permutation equivariance without positions, broken by the code.
    let perm = setup::permutation_errors(
        ctx.seed,
        cfg.perm_draws,
        d,
        cfg.heads,
        cfg.seq_len,
        cfg.batch,
    )?;
    let mut perm_t = Table::new(&["draw", "positions", "relative_error"]);
    for (i, (b, p)) in perm.blind.iter().zip(&perm.with_pe).enumerate() {
        perm_t.push(row![i, "none", *b]);
        perm_t.push(row![i, "sinusoidal", *p]);
    }
    ctx.table("permutation.csv", &perm_t)?;
    let (blind, with_pe) = (
        Estimate::median_minmax(&perm.blind),
        Estimate::median_minmax(&perm.with_pe),
    );
    let mut perm_sum = Table::new(&["positions", "max_error", "min_error"]);
    perm_sum.push(row!["no positions", blind.hi, blind.lo]);
    perm_sum.push(row!["sinusoidal positions added", with_pe.hi, with_pe.lo]);
    ctx.table("permutation_summary.csv", &perm_sum)?;
    ctx.chart(
        ChartSpec::bars(
            "permutation_error.png",
            "permutation_summary.csv",
            "Encoder layer: |f(PX) − P f(X)| / |f(X)| over random draws",
            "positions",
            &["max_error", "min_error"],
        )
        .name("max_error", "worst draw")
        .name("min_error", "best draw")
        .log_y()
        .y_floor(1e-9)
        .reference(1e-5, "order-blind if ≤ 1e−5")
        .reference(0.05, "order-aware if ≥ 0.05")
        .labels("input to the layer", "relative permutation error (log)"),
    )?;
    ctx.decide(
        &q09::Q9_1,
        Evidence::new()
            .with(q09::BLIND_ERROR, blind)
            .with(q09::PE_ERROR, with_pe),
    )?;
    ctx.note(
        "Q9.1",
        format!(
            "Core Post-LN encoder layer (d_model {d}, {} heads), {} random layers, inputs and permutations of length {}. Without positions the error is float rounding (worst {}); with the sinusoidal code added it is ≥ {} on every draw.",
            cfg.heads, cfg.perm_draws, cfg.seq_len, fmt::sig(blind.hi, 2), fmt::sig(with_pe.lo, 2)
        ),
    )?;

    // Q9.2: distinct codes.
    let dist = setup::code_distances(d, cfg.brute_positions, cfg.long_positions);
    let om = setup::omegas(d);
    let mut dist_t = Table::new(&["k", "distance", "brute_min_distance"]);
    for k in (1..=cfg.long_positions).filter(|&k| setup::shown_offset(k)) {
        let brute = dist.brute_by_k.get(k).copied().unwrap_or(f64::NAN);
        dist_t.push(row![k, setup::code_distance_closed(&om, k as f64), brute]);
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
        .name("distance", "closed form (any p)")
        .name("brute_min_distance", "f32 table, closest pair at this k")
        .reference(1e-3, "distinct if ≥ 0.001")
        .log_x()
        .labels("offset k", "Euclidean distance"),
    )?;
    let overall_min = dist.brute_min.min(dist.long_min);
    ctx.decide(
        &q09::Q9_2,
        Evidence::new().exact(q09::MIN_DISTANCE, overall_min),
    )?;
    ctx.note(
        "Q9.2",
        format!(
            "Brute force over all pairs of the core's f32 table (positions < {}): min {}. Closed form over offsets 1..{}: min {} at k = {}. The code norm is √(d/2) = {}.",
            cfg.brute_positions, fmt::num(dist.brute_min), cfg.long_positions, fmt::num(dist.long_min), dist.argmin, fmt::sig((d as f64 / 2.0).sqrt(), 3)
        ),
    )?;

    // Q9.L1: the linear map M_k.
    let mut rfit = seeded(ctx.seed, 7);
    let fits = cfg
        .offsets
        .iter()
        .map(|&k| setup::fit_linear_map(&mut rfit, d, k, cfg.fit_range, cfg.fit_points))
        .collect::<Result<Vec<_>>>()?;
    let mut fit_t = Table::new(&[
        "k",
        "fit_residual",
        "heldout_residual",
        "max_deviation_from_rotation",
    ]);
    for f in &fits {
        fit_t.push(row![
            f.k,
            f.fit_residual,
            f.heldout_residual,
            f.rotation_deviation
        ]);
    }
    ctx.table("linear_map_fit.csv", &fit_t)?;
    let worst_res = fits
        .iter()
        .map(|f| f.fit_residual.max(f.heldout_residual))
        .fold(0.0, f64::max);
    let worst_rot = fits
        .iter()
        .map(|f| f.rotation_deviation)
        .fold(0.0, f64::max);
    ctx.decide(
        &q09::Q9_L1,
        Evidence::new().exact(q09::FIT_RESIDUAL, worst_res),
    )?;
    ctx.note(
        "Q9.L1",
        format!(
            "General d×d least squares (Householder QR, f64) on {} random positions in 0..{}, checked on {} others, for k = {}; the fitted M_k differs from the closed-form rotation by at most {} per entry.",
            cfg.fit_points, cfg.fit_range, cfg.fit_points,
            cfg.offsets.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "),
            fmt::sig(worst_rot, 2)
        ),
    )?;

    // Q9.L2: direction blindness of PE·PE, blurred by W_Q, W_K.
    let (bases, kmax) = (&cfg.base_positions, cfg.max_offset);
    let raw = setup::dot_curves(d, bases, kmax, None);
    let (raw_asym, raw_pdep) = raw.deviations();
    let mut dot_t = Table::new(&["k", "curve", "dot"]);
    let push_curves = |t: &mut Table, c: &DotCurves, what: &str| {
        for (p, vals) in bases.iter().zip(&c.values) {
            for (i, v) in vals.iter().enumerate() {
                t.push(row![i as i64 - kmax as i64, format!("{what}, p = {p}"), *v]);
            }
        }
    };
    push_curves(&mut dot_t, &raw, "PE·PE");
    let mut rproj = seeded(ctx.seed, 9);
    let (mut pasym, mut ppdep) = (vec![], vec![]);
    let mut proj_t = Table::new(&["draw", "asymmetry", "p_dependence"]);
    for draw in 0..cfg.projection_draws {
        let (wq, wk) = setup::random_projections(&mut rproj, d);
        let c = setup::dot_curves(d, bases, kmax, Some((&wq, &wk)));
        let (a, p) = c.deviations();
        proj_t.push(row![draw, a, p]);
        pasym.push(a);
        ppdep.push(p);
        if draw == 0 {
            push_curves(&mut dot_t, &c, "W_Q·PE · W_K·PE");
        }
    }
    ctx.table("dot_vs_offset.csv", &dot_t)?;
    ctx.table("projected_deviation.csv", &proj_t)?;
    let (pa, pp) = (stats::mean_ci(&pasym, 0.95), stats::mean_ci(&ppdep, 0.95));
    let mut dev_sum = kit::estimate_table(&["codes"], &["asymmetry", "p_dependence"]);
    kit::push_estimates(
        &mut dev_sum,
        vec!["raw PE".into()],
        &[Estimate::exact(raw_asym), Estimate::exact(raw_pdep)],
    );
    kit::push_estimates(
        &mut dev_sum,
        vec!["after random W_Q, W_K".into()],
        &[pa, pp],
    );
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
        .interval("asymmetry", "asymmetry_lo", "asymmetry_hi")
        .interval("p_dependence", "p_dependence_lo", "p_dependence_hi")
        .name("asymmetry", "asymmetry in ±k")
        .name("p_dependence", "dependence on p")
        .log_y()
        .y_floor(1e-10)
        .reference(1e-4, "raw codes: ≤ 1e−4")
        .reference(0.05, "projected: ≥ 0.05")
        .labels("codes", "relative deviation (log)"),
    )?;
    ctx.decide(
        &q09::Q9_L2,
        Evidence::new()
            .exact(q09::RAW_ASYMMETRY, raw_asym)
            .exact(q09::RAW_P_DEPENDENCE, raw_pdep)
            .with(q09::PROJECTED_ASYMMETRY, pa)
            .with(q09::PROJECTED_P_DEPENDENCE, pp),
    )?;
    ctx.note(
        "Q9.L2",
        format!(
            "Raw: asymmetry {}, p-dependence {} (f32 rounding). After W_Q, W_K ({} draws): asymmetry {} {}, p-dependence {} {}. The raw symmetry is the con: a dot-product score on PE alone cannot tell i − 4 from i + 4.",
            fmt::sig(raw_asym, 2), fmt::sig(raw_pdep, 2), cfg.projection_draws,
            fmt::sig(pa.point, 3), fmt::interval(pa.lo, pa.hi), fmt::sig(pp.point, 3), fmt::interval(pp.lo, pp.hi)
        ),
    )?;

    ctx.answer(Answer::Incomplete);
    ctx.key_chart("permutation_error.png");
    ctx.in_short(format!(
        "Self-attention alone is order-blind: permuting the input only permutes the output (error {} without positions, ≥ {} with the code added), so a position code is needed. The sinusoidal code gives every position a distinct vector and PE(p+k) is a fixed rotation of PE(p); but PE(p)·PE(p+k) is symmetric in ±k (no direction), and W_Q, W_K blur the relative property.",
        fmt::sig(blind.hi, 2), fmt::sig(with_pe.lo, 2)
    ))?;
    ctx.section(
        "Advantages and disadvantages",
        format!(
            "Advantages:\n\
             - Breaks the order-blindness of attention: with the code added, permuting the input changes the output by ≥ {} (Q9.1).\n\
             - Every position gets its own code: no two of the first {} positions are closer than {} (Q9.2).\n\
             - A relative offset is a fixed linear map: PE(p+k) = M_k PE(p), a block rotation (fit residual {}), which lets attention express relative position (Q9.L1).\n\
             - No parameters to learn, and a code for any length, including lengths not seen in training (literature: Vaswani et al. 2017, section 3.5).\n\n\
             Disadvantages:\n\
             - PE(p)·PE(p+k) depends on |k| only: distance without direction (asymmetry {}, Q9.L2).\n\
             - After W_Q, W_K the product depends on p again and is no longer symmetric (p-dependence {}): the clean relative property is blurred (Q9.L2).\n\
             - The code is added to the token embedding, so position and content share one vector and mix in the attention scores (literature: Ke et al. 2021, TUPE).\n\
             - Extrapolation beyond the trained length is poor in practice (literature: Press et al. 2022, ALiBi); relative and rotary encodings (Q10) address these.",
            fmt::sig(with_pe.lo, 2), cfg.long_positions, fmt::sig(overall_min, 3), fmt::sig(worst_res, 2),
            fmt::sig(raw_asym, 2), fmt::sig(pp.point, 3)
        ),
    );
    ctx.literature("Vaswani et al. 2017, section 3.5: sinusoids chosen because for any fixed k, PE(pos+k) is a linear function of PE(pos), which may let the model attend by relative position; they may extrapolate to longer sequences.");
    ctx.literature("Yan et al. 2019 (TENER): PE(t)·PE(t+k) depends only on k and is symmetric, so it has distance but no direction, and the projections W_Q, W_K blur even the distance awareness.");
    ctx.corrected_answer(format!(
        "Meaning (the seed answer): self-attention is permutation-equivariant. Measured on a random encoder layer without positions, f(PX) = P f(X) to {}; with sinusoidal codes added the error is ≥ {}. The fixed code marks each absolute position: no two of the first {} positions get codes closer than {} (d = {d}). Pros (missing from the seed answer): no parameters, any length, and PE(p+k) = M_k PE(p) exactly with a block rotation M_k (fit residual {}), so relative offsets are linear functions of the code. Cons (missing): PE(p)·PE(p+k) depends only on |k|, symmetric in ±k, so it has no direction; once W_Q, W_K are applied the product depends on p again (relative deviation {}), so the relative property is blurred; and the code is added to, and mixed with, the token embedding. Relative and rotary encodings (Q10) address these. Scope: d = 64, random weights, no training.",
        fmt::sig(blind.hi, 2), fmt::sig(with_pe.lo, 2), cfg.long_positions, fmt::sig(overall_min, 4), fmt::sig(worst_res, 2), fmt::sig(pp.point, 3)
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
