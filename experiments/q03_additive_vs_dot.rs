//! Q3. Why dot-product rather than additive attention? Cost and quality?
//!
//! The seed answer is off-topic (it talks about the Q/K projections), so the claims
//! are the literature's (declared in src/spec/q03.rs):
//! - Q3.L1 Both cost O(n²·d) FLOPs, but additive attention must hold an n×m×d_a
//!   tensor for the backward pass (closed form, counted from the computation).
//! - Q3.L1T Dot-product attention is much faster in practice (wall clock; reported,
//!   never locked).
//! - Q3.L2 Additive beats *unscaled* dot-product only at large d_k, which is why the
//!   1/√d_k scaling exists; at small d_k additive is not better.
//!
//! Setup (src/setup/q03.rs): closed-form FLOPs and held floats over a grid of n and
//! d_k; forward+backward of each scorer timed (arms interleaved, min of repeats) with
//! the peak heap counted by the allocator; one attention layer trained on key→value
//! retrieval with additive, unscaled-dot and scaled-dot scores at a small and a large
//! d_k over seeds, with q, k components of variance ≈ 1.

use transformer_claims::fmt::{self, num, sig};
use transformer_claims::prelude::*;
use transformer_claims::row;
use transformer_claims::setup::q03::{
    floats_held, flops_per_pair, flops_total, reader, time_one, Arm, Method, Retrieval, Scorer,
};
use transformer_claims::spec::q03;
use transformer_claims::train::{self, TrainConfig};

#[derive(Serialize)]
struct Config {
    /// Sequence lengths (queries = keys = n) for the cost grid.
    ns: Vec<usize>,
    /// Key widths d_k for the cost grid (additive uses d_a = d_k).
    cost_d_ks: Vec<usize>,
    /// Batch size in the cost grid.
    cost_batch: usize,
    /// Untimed warm-up runs, then timed repeats per grid point (arms interleaved; the
    /// minimum is kept).
    warmup: usize,
    repeats: usize,
    /// Retrieval task: key/value pairs per example, key and value vocabularies.
    pairs: usize,
    keys: usize,
    values: usize,
    /// Model width (embeddings) for the retrieval model.
    d_model: usize,
    /// Hidden width d_a of the additive scorer vᵀtanh(W₁q + W₂k) in the training runs.
    additive_width: usize,
    /// Small and large d_k for the quality comparison.
    small_d_k: usize,
    large_d_k: usize,
    /// Seeds per arm. Q3.L2 is decided on the area under the held-out accuracy curve
    /// (mean accuracy over the evaluations of a fixed budget).
    seeds: usize,
    train: TrainConfig,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            ns: ctx.pick(vec![32, 64, 128], vec![32, 64, 128, 256, 512]),
            cost_d_ks: vec![32, 128],
            cost_batch: 2,
            warmup: 1,
            repeats: ctx.pick(3, 7),
            pairs: 8,
            keys: 64,
            values: 64,
            d_model: 64,
            additive_width: 64,
            small_d_k: 8,
            large_d_k: 1024,
            seeds: ctx.pick(4, 8),
            train: TrainConfig {
                steps: ctx.pick(100, 200),
                batch: 32,
                lr: 3e-3,
                eval_every: 10,
                eval_size: ctx.pick(128, 256),
                ..TrainConfig::default()
            },
        }
    }
}

/// One grid point: min wall seconds and peak heap bytes, dot then additive.
struct CostPoint {
    d: usize,
    n: usize,
    time: [f64; 2],
    heap: [f64; 2],
}

const SCORERS: [Scorer; 2] = [Scorer::Dot, Scorer::Additive];

fn measure_cost(ctx: &Ctx, cfg: &Config) -> Result<Vec<CostPoint>> {
    let grid: Vec<(usize, usize)> = cfg
        .cost_d_ks
        .iter()
        .flat_map(|&d| cfg.ns.iter().map(move |&n| (d, n)))
        .collect();
    let pb = ctx.progress(grid.len() as u64, "timing forward+backward");
    let mut pts = vec![];
    for (d, n) in grid {
        let mut p = CostPoint {
            d,
            n,
            time: [f64::INFINITY; 2],
            heap: [0.0; 2],
        };
        // Arms interleaved within each repeat, so a busy spell hits both alike.
        for rep in 0..cfg.warmup + cfg.repeats {
            for (i, s) in SCORERS.into_iter().enumerate() {
                let (secs, heap) = time_one(s, cfg.cost_batch, n, d, ctx.seed + rep as u64)?;
                if rep >= cfg.warmup {
                    p.time[i] = p.time[i].min(secs);
                    p.heap[i] = p.heap[i].max(heap as f64);
                }
            }
        }
        pts.push(p);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(pts)
}

fn geo_range(v: &[f64]) -> Estimate {
    let geo = (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp();
    let e = Estimate::median_minmax(v);
    Estimate::range(geo, e.lo, e.hi, v.len())
}

/// What the answer quotes from the cost part.
struct CostFacts {
    flop_ratio: f64,
    held: Estimate,
    time: Estimate,
}

fn cost(ctx: &mut Ctx, cfg: &Config) -> Result<CostFacts> {
    let pts = measure_cost(ctx, cfg)?;
    let b = cfg.cost_batch;
    let mut t = Table::new(&[
        "series",
        "method",
        "d_k",
        "n",
        "min_s",
        "gflop_per_s",
        "peak_mib",
    ]);
    let mut ratios = Table::new(&["series", "d_k", "n", "ratio"]);
    let mut times = Table::new(&["series", "d_k", "n", "time_ratio"]);
    let (mut tr, mut held, mut heap, mut rate) = (vec![], vec![], vec![], vec![]);
    for p in &pts {
        for (i, s) in SCORERS.into_iter().enumerate() {
            let f = flops_total(s, b, p.n, p.d, p.d);
            let series = format!("{s}, d_k = {}", p.d);
            t.push(row![
                series,
                s.to_string(),
                p.d,
                p.n,
                p.time[i],
                f / p.time[i] / 1e9,
                p.heap[i] / 1048576.0
            ]);
        }
        let per_pair =
            flops_per_pair(Scorer::Additive, p.d, p.d) / flops_per_pair(Scorer::Dot, p.d, p.d);
        let h = floats_held(Scorer::Additive, b, p.n, p.d, p.d)
            / floats_held(Scorer::Dot, b, p.n, p.d, p.d);
        for (what, r) in [
            ("FLOPs per pair (closed form)", per_pair),
            ("floats held for backward (closed form)", h),
            ("peak heap (measured)", p.heap[1] / p.heap[0]),
        ] {
            ratios.push(row![format!("{what}, d_k = {}", p.d), p.d, p.n, r]);
        }
        times.push(row![
            format!("time, d_k = {}", p.d),
            p.d,
            p.n,
            p.time[1] / p.time[0]
        ]);
        tr.push(p.time[1] / p.time[0]);
        held.push(h);
        heap.push(p.heap[1] / p.heap[0]);
        let fl = |s| flops_total(s, b, p.n, p.d, p.d);
        rate.push((
            fl(Scorer::Dot) / p.time[0] / 1e9,
            fl(Scorer::Additive) / p.time[1] / 1e9,
        ));
    }
    ctx.table("timing_cost.csv", &t)?;
    ctx.table("cost_ratio.csv", &ratios)?;
    ctx.table("timing_ratio.csv", &times)?;
    let flop_ratios: Vec<f64> = cfg
        .cost_d_ks
        .iter()
        .map(|&d| flops_per_pair(Scorer::Additive, d, d) / flops_per_pair(Scorer::Dot, d, d))
        .collect();
    let max_flop = flop_ratios.iter().cloned().fold(0.0, f64::max);
    let min_held = held.iter().cloned().fold(f64::INFINITY, f64::min);
    ctx.decide(
        &q03::Q3_L1,
        Evidence::new()
            .exact(q03::FLOP_RATIO, max_flop)
            .exact(q03::HELD_RATIO, min_held),
    )?;
    let heap_e = Estimate::median_minmax(&heap);
    let held_e = Estimate::median_minmax(&held);
    ctx.note("Q3.L1", format!(
        "FLOPs per pair, additive/dot: {} (d_k = {}, d_a = d_k; tanh counted as 1 FLOP). Floats held for backward, additive/dot: {} to {} over n from {} to {}; the additive n×n×d_a tanh output is the difference. Measured peak heap (candle also keeps the pre-tanh sum and backward temporaries): {} to {}×.",
        flop_ratios.iter().map(|r| sig(*r, 3)).collect::<Vec<_>>().join(" and "),
        cfg.cost_d_ks.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" and "),
        sig(held_e.lo, 3), sig(held_e.hi, 3), cfg.ns[0], cfg.ns[cfg.ns.len() - 1],
        sig(heap_e.lo, 3), sig(heap_e.hi, 3),
    ))?;
    let time_e = geo_range(&tr);
    ctx.decide(&q03::Q3_L1T, Evidence::new().with(q03::TIME_RATIO, time_e))?;
    let dot_rate = Estimate::median_minmax(&rate.iter().map(|r| r.0).collect::<Vec<_>>());
    let add_rate = Estimate::median_minmax(&rate.iter().map(|r| r.1).collect::<Vec<_>>());
    ctx.note("Q3.L1T", format!(
        "Time ratio = FLOP ratio × (dot-product FLOP rate / additive FLOP rate). The FLOP ratio is only {} to {}; the rest is the rate: dot-product runs as two fused, cache-blocked matrix products at {} to {} GFLOP/s (each loaded float is reused about d times), while additive's n²·d_a element-wise passes (broadcast sum, tanh, the matrix-vector product with v, and in the backward pass 1 − H², dH and two broadcast reductions) each stream B·n²·d_a floats through memory and run through candle's generic, unfused CPU ops at {} to {} GFLOP/s. A reference framework with vectorised, multi-threaded element-wise kernels measured 27 to 38× on the same sizes; the ratio is a property of the implementation, the FLOP and memory counts of Q3.L1 are not. Wall clock on this machine, min of {} interleaved repeats.",
        sig(flop_ratios[0], 3), sig(max_flop, 3), sig(dot_rate.lo, 3), sig(dot_rate.hi, 3),
        sig(add_rate.lo, 3), sig(add_rate.hi, 3), cfg.repeats,
    ))?;

    ctx.chart(
        ChartSpec::line(
            "cost_ratio.png",
            "cost_ratio.csv",
            "Additive / dot-product: FLOPs and memory",
            "n",
            &["ratio"],
        )
        .series("series")
        .log_x()
        .log_y()
        .reference(3.0, "FLOP bound 3×")
        .reference(4.0, "held-floats threshold 4×")
        .labels("n (queries = keys)", "additive / dot-product"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "ratio_vs_n.png",
            "timing_ratio.csv",
            "Additive / dot-product forward+backward time (min of repeats)",
            "n",
            &["time_ratio"],
        )
        .series("series")
        .log_x()
        .log_y()
        .reference(2.0, "threshold 2×")
        .labels("n (queries = keys)", "time ratio"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "time_vs_n.png",
            "timing_cost.csv",
            "Forward+backward time (min of repeats)",
            "n",
            &["min_s"],
        )
        .series("series")
        .log_x()
        .log_y()
        .labels("n (queries = keys)", "seconds"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "memory_vs_n.png",
            "timing_cost.csv",
            "Peak heap during forward+backward",
            "n",
            &["peak_mib"],
        )
        .series("series")
        .log_x()
        .log_y()
        .labels("n (queries = keys)", "MiB"),
    )?;
    Ok(CostFacts {
        flop_ratio: max_flop,
        held: held_e,
        time: time_e,
    })
}

/// The Welch gaps behind Q3.L2.
struct QualityFacts {
    large_add: Estimate,
    large_scaled: Estimate,
    small: Estimate,
}

fn quality(ctx: &mut Ctx, cfg: &Config) -> Result<QualityFacts> {
    let task = Retrieval {
        pairs: cfg.pairs,
        keys: cfg.keys,
        values: cfg.values,
    };
    let arms: Vec<Arm> = [cfg.small_d_k, cfg.large_d_k]
        .into_iter()
        .flat_map(|d_k| Method::ALL.map(|method| Arm { method, d_k }))
        .collect();
    let seeds = train::seeds::seed_list(ctx.seed, cfg.seeds);
    let sw = kit::sweep(ctx, "training retrieval", &arms, &seeds, |a, s| {
        let params = Params::new(s);
        let model = reader(
            &task,
            cfg.d_model,
            a.d_k,
            cfg.additive_width,
            a.method,
            params.vb(),
        )?;
        Ok(train::trainer::train(
            &model, &params, &task, &cfg.train, s,
        )?)
    })?;
    sw.write(ctx, "training", "arm")?;
    let auc = sw.metric(|l| l.auc());
    let mut summary = kit::estimate_table(&["key width", "method"], &["auc"]);
    for a in &arms {
        let keys = vec![format!("d_k = {}", a.d_k), a.method.to_string()];
        kit::push_estimates(&mut summary, keys, &[auc.mean_ci(a)]);
    }
    ctx.table("training_summary.csv", &summary)?;
    ctx.chart(
        ChartSpec::bars(
            "accuracy.png",
            "training_summary.csv",
            &format!(
                "Retrieval: mean held-out accuracy over {} steps (95% CI over seeds)",
                cfg.train.steps
            ),
            "key width",
            &["auc"],
        )
        .interval("auc", "auc_lo", "auc_hi")
        .series("method")
        .y_range(0.0, 1.0)
        .labels("key width", "area under the accuracy curve"),
    )?;
    let arm = |method, d_k| auc.get(Arm { method, d_k }).to_vec();
    let gap = |m, d_k| stats::welch(&arm(m, d_k), &arm(Method::DotUnscaled, d_k), 0.95).diff;
    let (large_add, large_scaled) = (
        gap(Method::Additive, cfg.large_d_k),
        gap(Method::DotScaled, cfg.large_d_k),
    );
    let small = gap(Method::Additive, cfg.small_d_k);
    ctx.decide(
        &q03::Q3_L2,
        Evidence::new()
            .with(q03::LARGE_ADDITIVE_GAP, large_add)
            .with(q03::LARGE_SCALED_GAP, large_scaled)
            .with(q03::SMALL_GAP, small),
    )?;
    let m = |method, d_k| num(stats::mean(&arm(method, d_k)));
    ctx.note("Q3.L2", format!(
        "Mean AUC at d_k = {l}: additive {}, unscaled dot {}, scaled dot {}; at d_k = {s}: additive {}, unscaled dot {}, scaled dot {}. {} seeds × {} steps per arm. Locked in full mode only: quick mode's 4 seeds × 100 steps give the small-d_k gap an interval about ±0.15 wide, wider than its 0.1 margin.",
        m(Method::Additive, cfg.large_d_k), m(Method::DotUnscaled, cfg.large_d_k), m(Method::DotScaled, cfg.large_d_k),
        m(Method::Additive, cfg.small_d_k), m(Method::DotUnscaled, cfg.small_d_k), m(Method::DotScaled, cfg.small_d_k),
        cfg.seeds, cfg.train.steps, l = cfg.large_d_k, s = cfg.small_d_k,
    ))?;
    Ok(QualityFacts {
        large_add,
        large_scaled,
        small,
    })
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let c = cost(ctx, &cfg)?;
    let q = quality(ctx, &cfg)?;
    ctx.answer(Answer::OffTopic);
    ctx.key_chart("cost_ratio.png");
    ctx.in_short(format!(
        "Both score every query against every key, so both cost O(n²·d) FLOPs (additive needs {}× per pair). Dot-product is one matrix product; additive must keep an n×m×d_a tanh tensor for the backward pass, at least {}× the memory, and is much slower in practice. At d_k = {} unscaled dot-product trains worse than additive (accuracy gap {}); scaling by 1/√d_k closes it.",
        sig(c.flop_ratio, 2), sig(c.held.lo, 2), cfg.large_d_k, sig(q.large_add.point, 2)
    ))?;
    ctx.corrected_answer(format!(
        "The seed answer explains the Q/K projections, not the comparison. Both score every (query, key) pair, so both cost O(n²·d): counted from the computation, additive needs {}× the forward+backward FLOPs of dot-product per pair. The difference is in memory and in how the work runs: additive must keep its n×m×d_a tanh output for the backward pass ({} to {}× the floats dot-product keeps here), and its element-wise passes are memory-bound, while dot-product is one matrix product. Measured on this CPU (candle, forward+backward), additive was {}× slower (range {} to {}×); how much slower depends on the implementation (a reference framework: 27 to 38×). In quality (one attention layer, synthetic retrieval, toy scale): at d_k = {} additive is not better than unscaled dot (gap {}, 95% CI {}); at d_k = {} unscaled dot falls behind (additive − unscaled {}, scaled − unscaled {}), because its logits have variance d_k and saturate the softmax: that is why the Transformer scales by 1/√d_k.",
        sig(c.flop_ratio, 3), sig(c.held.lo, 3), sig(c.held.hi, 3), sig(c.time.point, 3), sig(c.time.lo, 3), sig(c.time.hi, 3),
        cfg.small_d_k, num(q.small.point), fmt::interval(q.small.lo, q.small.hi), cfg.large_d_k, num(q.large_add.point), num(q.large_scaled.point)
    ));
    ctx.literature("Vaswani et al. 2017, 3.2.1: the two are similar in theoretical complexity, dot-product is much faster and more space-efficient in practice; additive outperforms unscaled dot-product for large d_k.");
    ctx.literature("Britz et al. 2017: unscaled multiplicative attention fell from 22.03 BLEU at d=128 to 18.22 at d=1024, while additive held 22.23 → 22.10.");
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q03_additive_vs_dot",
        "Q3: additive vs dot-product attention. Counts FLOPs and floats held for backward, times forward+backward of both over n and d_k, and trains both (and unscaled dot) on retrieval at small and large d_k.",
        run,
    )
}
