//! Q6. Why reduce the dimension of each head?
//!
//! Seed claim: projecting into several low-dimensional subspaces and concatenating
//! enriches the features and reduces computation. Split into its parts (declared in
//! src/spec/q06.rs):
//! - Q6.1a h heads of width d/h (B) cost less than one head of width d (A): decided on
//!   parameters and FLOPs counted from the computation.
//! - Q6.1b B is about h times cheaper than h heads of width d (C), same counts.
//! - Q6.1T B takes about as long as A in wall-clock time (reported, never locked).
//! - Q6.L1 (Bhojanapalli et al. 2020) a head of width d_k < n cannot express an
//!   arbitrary n×n attention pattern: the fit error falls with d_k and reaches ≈ 0 only
//!   at d_k ≈ n.
//!
//! Setup (src/setup/q06.rs): parameters counted from the built layers (checked
//! against the closed form), forward FLOPs in closed form; forward+backward of the
//! core's multi-head attention for A, B, C timed in interleaved rounds, each the
//! minimum of back-to-back wall-clock runs; random row-stochastic targets
//! P = softmax(β·G) fitted by softmax(Q Kᵀ) with Q, K ∈ R^{n×d_k}, error = mean
//! total-variation distance per row, per target.

use transformer_claims::fmt::{num, sig};
use transformer_claims::prelude::*;
use transformer_claims::rng::randn;
use transformer_claims::row;
use transformer_claims::setup::q06::{
    fit_low_rank, flops_closed, layouts, mha_cfg, params_closed, time_fb, FitConfig,
};
use transformer_claims::spec::q06;

#[derive(Serialize)]
struct Config {
    /// Model width d.
    d_model: usize,
    /// Number of heads h for B and C.
    heads: usize,
    /// Sequence length and batch size of the timed forward+backward.
    n: usize,
    batch: usize,
    /// Untimed warm-up rounds, then timed rounds; each round times A, B, C in turn,
    /// each the minimum wall-clock time of `inner` back-to-back runs.
    warmup: usize,
    repeats: usize,
    inner: usize,
    /// Low-rank fit: sequence lengths n and widths d_k (d_k ≤ n used).
    fit_ns: Vec<usize>,
    fit_d_ks: Vec<usize>,
    /// Target patterns per n (the same targets at every d_k). Quick mode uses all 8 too:
    /// with 4 its interval at d_k = n/4 was wider than the margin on a held-out seed.
    targets: usize,
    /// Target sharpness: P = softmax(beta·G), G standard normal.
    beta: f64,
    /// Adam steps and learning rate for the fit.
    fit_steps: usize,
    fit_lr: f64,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            d_model: 256,
            heads: 8,
            n: 128,
            batch: 2,
            warmup: 1,
            repeats: ctx.pick(3, 9),
            inner: ctx.pick(3, 5),
            fit_ns: ctx.pick(vec![16, 32], vec![16, 32, 64]),
            fit_d_ks: vec![1, 2, 4, 8, 16, 32, 64],
            targets: 8,
            beta: 2.0,
            fit_steps: ctx.pick(300, 600),
            fit_lr: 0.05,
        }
    }
}

/// Counted cost of A, B, C, and the timed one.
struct Cost {
    params: [f64; 3],
    flops: [f64; 3],
    /// Per round: wall B/A and C/B (ratios of the per-layout minima).
    ba: Estimate,
    cb: Estimate,
}

fn cost(ctx: &mut Ctx, cfg: &Config) -> Result<Cost> {
    let (d, h) = (cfg.d_model, cfg.heads);
    let lays = layouts(d, h);
    let mut t = Table::new(&[
        "layout",
        "heads",
        "d_head",
        "params",
        "params_millions",
        "forward_flops",
        "params_vs_a",
        "flops_vs_a",
    ]);
    let (mut params, mut flops, mut mods) = ([0.0; 3], [0.0; 3], vec![]);
    for (i, &l) in lays.iter().enumerate() {
        let p = Params::new(ctx.seed + i as u64);
        mods.push(multi_head_attention(mha_cfg(d, l), p.vb())?);
        if p.count() != params_closed(d, l) {
            bail!(
                "{l}: counted {} parameters, closed form {}",
                p.count(),
                params_closed(d, l)
            );
        }
        (params[i], flops[i]) = (p.count() as f64, flops_closed(cfg.batch, cfg.n, d, l));
    }
    for (i, l) in lays.iter().enumerate() {
        t.push(row![
            l.to_string(),
            l.heads,
            l.d_head,
            params[i],
            params[i] / 1e6,
            flops[i],
            params[i] / params[0],
            flops[i] / flops[0]
        ]);
    }
    ctx.table("cost.csv", &t)?;

    let pb = ctx.progress((cfg.warmup + cfg.repeats) as u64, "timing A, B, C");
    let x = Var::from_tensor(&randn(
        &mut seeded(ctx.seed, 0),
        &[cfg.batch, cfg.n, d],
        1.0,
        &Device::Cpu,
    )?)?;
    let mut rounds = Table::new(&[
        "round", "a_wall_s", "b_wall_s", "c_wall_s", "b_over_a", "c_over_b",
    ]);
    let (mut ba, mut cb, mut ts) = (vec![], vec![], [vec![], vec![], vec![]]);
    for round in 0..cfg.warmup + cfg.repeats {
        let mut t = [f64::INFINITY; 3];
        for (i, m) in mods.iter().enumerate() {
            for _ in 0..cfg.inner {
                t[i] = t[i].min(time_fb(m, &x)?);
            }
        }
        if round >= cfg.warmup {
            rounds.push(row![round, t[0], t[1], t[2], t[1] / t[0], t[2] / t[1]]);
            ba.push(t[1] / t[0]);
            cb.push(t[2] / t[1]);
            (0..3).for_each(|i| ts[i].push(t[i] * 1e3));
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    ctx.table("timing_rounds.csv", &rounds)?;
    let mut summary = kit::estimate_table(&["layout"], &["wall_ms"]);
    for (l, t) in lays.iter().zip(&ts) {
        kit::push_estimates(
            &mut summary,
            vec![l.to_string()],
            &[Estimate::median_minmax(t)],
        );
    }
    ctx.table("timing_summary.csv", &summary)?;

    ctx.chart(
        ChartSpec::bars(
            "cost_vs_a.png",
            "cost.csv",
            &format!("Cost relative to one head of width {d} (closed form)"),
            "layout",
            &["params_vs_a", "flops_vs_a"],
        )
        .name("params_vs_a", "parameters")
        .name("flops_vs_a", "forward FLOPs")
        .reference(1.0, "same as A")
        .reference(0.8, "Q6.1a threshold 0.8")
        .labels("layout", "relative to A"),
    )?;
    ctx.chart(
        ChartSpec::bars(
            "params.png",
            "cost.csv",
            &format!("Parameters of one attention layer (d = {d})"),
            "layout",
            &["params_millions"],
        )
        .name("params_millions", "parameters")
        .labels("layout", "parameters (millions)"),
    )?;
    ctx.chart(
        ChartSpec::bars(
            "time.png",
            "timing_summary.csv",
            "Forward+backward wall-clock time (median of per-round minima, range over rounds)",
            "layout",
            &["wall_ms"],
        )
        .interval("wall_ms", "wall_ms_lo", "wall_ms_hi")
        .labels("layout", "milliseconds"),
    )?;
    Ok(Cost {
        params,
        flops,
        ba: Estimate::median_minmax(&ba),
        cb: Estimate::median_minmax(&cb),
    })
}

/// Per n: errors at d_k = n and n/4, and every step's rise, with the detail text.
struct LowRank {
    full: Vec<Estimate>,
    low: Vec<Estimate>,
    rise: Vec<Estimate>,
    detail: String,
}

fn low_rank(ctx: &mut Ctx, cfg: &Config) -> Result<LowRank> {
    let f = FitConfig {
        targets: cfg.targets,
        beta: cfg.beta,
        steps: cfg.fit_steps,
        lr: cfg.fit_lr,
    };
    let n_fits: usize = cfg
        .fit_ns
        .iter()
        .map(|&n| cfg.fit_d_ks.iter().filter(|&&k| k <= n).count())
        .sum();
    let pb = ctx.progress(n_fits as u64, "fitting rank-d_k patterns");
    let mut t = kit::estimate_table(&["n", "d_k", "d_k_over_n"], &["mean_tv"]);
    let mut r = LowRank {
        full: vec![],
        low: vec![],
        rise: vec![],
        detail: String::new(),
    };
    let mut detail = vec![];
    for &n in &cfg.fit_ns {
        let mut errs: Vec<(usize, Estimate)> = vec![];
        for &dk in cfg.fit_d_ks.iter().filter(|&&k| k <= n) {
            let e = stats::mean_ci(&fit_low_rank(&f, ctx.seed, n, dk)?, 0.95);
            kit::push_estimates(
                &mut t,
                vec![
                    n.to_string(),
                    dk.to_string(),
                    (dk as f64 / n as f64).to_string(),
                ],
                &[e],
            );
            errs.push((dk, e));
            pb.inc(1);
        }
        let at = |k: usize| errs.iter().find(|(dk, _)| *dk == k).map(|p| p.1);
        let (Some(full), Some(low)) = (at(n), at(n / 4)) else {
            bail!("fit grid lacks d_k = {n} or {} for n = {n}", n / 4)
        };
        for w in errs.windows(2) {
            let (a, b) = (w[0].1, w[1].1);
            r.rise.push(Estimate::with_interval(
                b.point / a.point,
                b.lo.max(0.0) / a.hi,
                b.hi / a.lo.max(1e-12),
                0.95,
                a.n,
            ));
        }
        detail.push(format!(
            "n = {n}: TV {} at d_k = 1, {} at d_k = n/4, {} at d_k = n",
            sig(errs[0].1.point, 3),
            sig(low.point, 3),
            sig(full.point, 2)
        ));
        r.full.push(full);
        r.low.push(low);
    }
    pb.finish_and_clear();
    ctx.table("low_rank_fit.csv", &t)?;
    r.detail = detail.join("; ");
    for (file, x, title, xl) in [
        (
            "low_rank.png",
            "d_k",
            "Best rank-d_k fit of random attention patterns (95% CI over targets)",
            "d_k",
        ),
        (
            "low_rank_relative.png",
            "d_k_over_n",
            "Fit error against d_k / n",
            "d_k / n",
        ),
    ] {
        ctx.chart(
            ChartSpec::line(file, "low_rank_fit.csv", title, x, &["mean_tv"])
                .interval("mean_tv", "mean_tv_lo", "mean_tv_hi")
                .series("n")
                .series_format("n = {}")
                .log_x()
                .log_y()
                .reference(0.1, "Q6.L1: ≥ 0.1 at d_k = n/4")
                .reference(0.05, "Q6.L1: ≤ 0.05 at d_k = n")
                .labels(xl, "mean total-variation error"),
        )?;
    }
    Ok(r)
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let (d, h) = (cfg.d_model, cfg.heads);
    let c = cost(ctx, &cfg)?;
    let lr = low_rank(ctx, &cfg)?;
    let ([pa, pb, pc], [fa, fb, fc]) = (c.params, c.flops);

    ctx.decide(
        &q06::Q6_1A,
        Evidence::new()
            .exact(q06::PARAMS_BA, pb / pa)
            .exact(q06::FLOPS_BA, fb / fa),
    )?;
    ctx.note("Q6.1a", format!(
        "d = {d}, h = {h}, n = {}, batch {}: parameters B/A = {} (equal), forward FLOPs B/A = {} (B adds h − 1 extra softmax maps of n² entries). B is not cheaper than A; the wall-clock time is Q6.1T.",
        cfg.n, cfg.batch, num(pb / pa), sig(fb / fa, 4)
    ))?;
    ctx.decide(
        &q06::Q6_1B,
        Evidence::new()
            .exact(q06::PARAMS_CB, pc / pb)
            .exact(q06::FLOPS_CB, fc / fb),
    )?;
    ctx.note("Q6.1b", format!(
        "Parameters C/B = {}, forward FLOPs C/B = {} (h = {h}). Wall-clock forward+backward C/B = {} (range {} to {} over rounds); wall-clock ratios depend on the machine and its load, the counts do not.",
        sig(pc / pb, 3), sig(fc / fb, 3), sig(c.cb.point, 3), sig(c.cb.lo, 3), sig(c.cb.hi, 3)
    ))?;
    ctx.decide(&q06::Q6_1T, Evidence::new().with(q06::TIME_BA, c.ba))?;
    ctx.note("Q6.1T", format!(
        "Wall clock on this machine: per round the minimum of {} back-to-back runs of each layout, layouts interleaved; B/A median {} (range {} to {} over {} rounds). Where B is slower than A, the split and merge copies and the h softmax maps are the extra work; the ratio depends on the machine and its load.",
        cfg.inner, sig(c.ba.point, 3), sig(c.ba.lo, 3), sig(c.ba.hi, 3), cfg.repeats
    ))?;
    ctx.decide(
        &q06::Q6_L1,
        Evidence::new()
            .with_all(q06::FULL_RANK_TV, lr.full.clone())
            .with_all(q06::LOW_RANK_TV, lr.low.clone())
            .with_all(q06::RISE, lr.rise.clone()),
    )?;
    ctx.note(
        "Q6.L1",
        format!(
            "{}. {} target patterns per n, {} Adam steps per fit.",
            lr.detail, cfg.targets, cfg.fit_steps
        ),
    )?;

    ctx.answer(Answer::PartlyCorrect);
    ctx.key_chart("cost_vs_a.png");
    ctx.in_short(format!(
        "Reducing each head to d/h does not reduce computation: h heads of width d/h have the same parameters as one head of width d and {}× its FLOPs. What it avoids is the {}× cost of giving every head full width, so h attention patterns come at the price of one. The cost is per-head rank: a head of width d_k < n cannot fit an arbitrary n×n pattern.",
        sig(fb / fa, 3), sig(fc / fb, 2)
    ))?;
    ctx.literature("Vaswani et al. 2017, §3.2.2: \"Due to the reduced dimension of each head, the total computational cost is similar to that of single-head attention with full dimensionality.\"");
    ctx.literature("Bhojanapalli et al. 2020 (Low-rank bottleneck in multi-head attention models): with d_k = d/h < n each head's attention is rank-limited; setting the head size to n removes the bottleneck.");
    ctx.corrected_answer(format!(
        "Reducing each head to d/h keeps the total cost of multi-head attention about equal to one full-width head (same {} parameters, forward FLOPs ratio {}, wall-clock ratio {} on this CPU), not lower; what it saves is the h-fold cost of giving every head the full width (C/B: {}× parameters and {}× FLOPs; {}× wall-clock time on this CPU). The h subspaces let different heads attend to different patterns at that fixed budget. The price is per-head expressiveness: a head of width d_k < n cannot represent an arbitrary attention pattern (rank-d_k fits of random patterns: {}).",
        pa as usize, sig(fb / fa, 4), sig(c.ba.point, 3), sig(pc / pb, 3), sig(fc / fb, 3), sig(c.cb.point, 3), lr.detail
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main("q06_head_dim", "Q6: why reduce each head's dimension? Parameters, FLOPs and wall-clock time of one full head, h reduced heads and h full heads; the low-rank bottleneck of small heads.", run)
}
