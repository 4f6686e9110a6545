//! Q3. Why dot-product rather than additive attention? Cost and quality?
//!
//! The seed answer is off-topic (it talks about the Q/K projections), so the claims
//! are the literature's (CLAIMS.md, Q3):
//! - Q3.L1 Both are O(n²·d), but dot-product attention is much faster and leaner in
//!   practice: one matrix product, an n×m score tensor instead of n×m×d.
//! - Q3.L2 For small d_k the two perform alike; for large d_k additive beats
//!   *unscaled* dot-product (which is why the 1/√d_k scaling exists).
//!
//! Cost: forward+backward of one attention over a grid of n and d_k, timed (warm-up,
//! repeats, median) and with the peak heap bytes counted by the allocator.
//! Quality: one attention layer trained on key→value retrieval with additive,
//! unscaled dot and scaled dot scores, at a small and a large d_k, over seeds; the
//! projections are initialized so q and k components have variance ≈ 1.

use std::time::Instant;

use candle_core::{DType, Module};
use candle_nn::{Embedding, Init, VarBuilder};
use transformer_claims::core::attention::{additive_attention, AdditiveAttention};
use transformer_claims::core::linear::linear;
use transformer_claims::core::linear::Linear;
use transformer_claims::prelude::*;
use transformer_claims::rng::{randn, Rng64};
use transformer_claims::row;
use transformer_claims::train::{self, Batch, SeqModel, Task, TrainConfig};
use transformer_claims::verdict::all_of;

#[derive(Serialize)]
struct Config {
    /// Sequence lengths (queries = keys = n) for the cost grid.
    ns: Vec<usize>,
    /// Key widths d_k for the cost grid (additive uses d_a = d_k).
    cost_d_ks: Vec<usize>,
    /// Batch size in the cost grid.
    cost_batch: usize,
    /// Untimed warm-up runs, then timed repeats per grid point.
    warmup: usize,
    repeats: usize,
    /// Q3.L1: additive/dot ratio of time and of peak memory must be at least this at
    /// every grid point.
    min_ratio: f64,
    /// Q3.L1: log-log slope in n of the additive peak memory at the largest d_k must lie here.
    memory_slope_band: (f64, f64),
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
    /// Seeds per configuration.
    seeds: usize,
    train: TrainConfig,
    /// Q3.L2 is decided on the area under the held-out accuracy curve (mean accuracy
    /// over the evaluations of a fixed budget): the gap is one of learning speed.
    /// At large d_k, additive and scaled dot must beat unscaled dot by at least this (95% Welch CI lower bound) ...
    min_large_gap: f64,
    /// ... while at small d_k additive − unscaled must stay below this (point estimate).
    max_small_gap: f64,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            ns: ctx.pick(vec![32, 64, 128], vec![32, 64, 128, 256, 512]),
            cost_d_ks: vec![32, 128],
            cost_batch: 2,
            warmup: 1,
            repeats: ctx.pick(3, 7),
            min_ratio: 2.0,
            memory_slope_band: (1.7, 2.3),
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
            min_large_gap: 0.05,
            max_small_gap: 0.1,
        }
    }
}

// ---------------------------------------------------------------- cost

/// Forward + backward of one attention call; returns (seconds, peak extra bytes).
fn time_one(additive: bool, b: usize, n: usize, d: usize, seed: u64) -> Result<(f64, usize)> {
    let dev = Device::Cpu;
    let mut r = seeded(seed, 10);
    let q = Var::from_tensor(&randn(&mut r, &[b, n, d], 1.0, &dev)?)?;
    let k = Var::from_tensor(&randn(&mut r, &[b, n, d], 1.0, &dev)?)?;
    let v = Var::from_tensor(&randn(&mut r, &[b, n, d], 1.0, &dev)?)?;
    let params = Params::new(seed);
    let att = additive_attention(d, d, d, params.vb())?;
    let t0 = Instant::now();
    let (res, peak) = transformer_claims::alloc::peak_extra(|| -> Result<()> {
        let out = if additive {
            att.forward(q.as_tensor(), k.as_tensor(), v.as_tensor(), None)?
                .0
        } else {
            scaled_dot_product(
                q.as_tensor(),
                k.as_tensor(),
                v.as_tensor(),
                None,
                Scale::InvSqrtDk.factor(d),
            )?
            .0
        };
        let grads = out.sum_all()?.backward()?;
        drop(grads);
        Ok(())
    });
    res?;
    Ok((t0.elapsed().as_secs_f64(), peak))
}

struct CostPoint {
    d: usize,
    n: usize,
    time: [f64; 2],
    mem: [f64; 2],
}

fn measure_cost(ctx: &Ctx, cfg: &Config) -> Result<Vec<CostPoint>> {
    let pb = ctx.progress(
        (cfg.ns.len() * cfg.cost_d_ks.len()) as u64,
        "timing forward+backward",
    );
    let mut t = Table::new(&[
        "d_k", "n", "method", "median_s", "min_s", "max_s", "peak_mib", "gflops",
    ]);
    let mut pts = vec![];
    for &d in &cfg.cost_d_ks {
        for &n in &cfg.ns {
            let mut p = CostPoint {
                d,
                n,
                time: [0.0; 2],
                mem: [0.0; 2],
            };
            for (i, additive) in [false, true].into_iter().enumerate() {
                let mut ts = vec![];
                let mut mem = 0usize;
                for rep in 0..cfg.warmup + cfg.repeats {
                    let (s, m) = time_one(additive, cfg.cost_batch, n, d, ctx.seed + rep as u64)?;
                    if rep >= cfg.warmup {
                        ts.push(s);
                        mem = mem.max(m);
                    }
                }
                let e = stats::median_range(&ts, 0.0, 1.0);
                // Forward FLOPs (backward ≈ 2×): dot 2·(2·b·n²·d); additive adds b·n²·d adds,
                // tanh and the v-product (≈ 3·b·n²·d) plus the weighted sum 2·b·n²·d.
                let nn = (cfg.cost_batch * n * n * d) as f64;
                let flops = 3.0 * if additive { 5.0 * nn } else { 4.0 * nn };
                let name = if additive { "additive" } else { "dot" };
                t.push(row![
                    d,
                    n,
                    name,
                    e.point,
                    e.lo,
                    e.hi,
                    mem as f64 / 1048576.0,
                    flops / e.point / 1e9
                ]);
                p.time[i] = e.point;
                p.mem[i] = mem as f64;
            }
            pts.push(p);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    ctx.table("timing_cost.csv", &t)?;
    Ok(pts)
}

// ---------------------------------------------------------------- quality

#[derive(Clone, Copy, Debug, PartialEq)]
enum Method {
    Additive,
    DotUnscaled,
    DotScaled,
}

impl Method {
    const ALL: [Method; 3] = [Method::Additive, Method::DotUnscaled, Method::DotScaled];
    fn name(&self) -> &'static str {
        match self {
            Method::Additive => "additive",
            Method::DotUnscaled => "dot unscaled",
            Method::DotScaled => "dot scaled",
        }
    }
}

/// Key→value retrieval: `pairs` distinct keys each with a value, then a query key;
/// the target is the query's value. Tokens: keys 0..K, values K..K+V.
struct Retrieval {
    pairs: usize,
    keys: usize,
    values: usize,
}

impl Task for Retrieval {
    fn vocab_in(&self) -> usize {
        self.keys + self.values
    }
    fn vocab_out(&self) -> usize {
        self.values
    }
    fn max_len(&self) -> usize {
        2 * self.pairs + 1
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> candle_core::Result<Batch> {
        use rand::seq::SliceRandom;
        use rand::Rng;
        let t = self.max_len();
        let (mut x, mut y) = (Vec::with_capacity(size * t), Vec::with_capacity(size));
        let all: Vec<u32> = (0..self.keys as u32).collect();
        for _ in 0..size {
            let ks: Vec<u32> = all.choose_multiple(rng, self.pairs).cloned().collect();
            let vs: Vec<u32> = (0..self.pairs)
                .map(|_| rng.gen_range(0..self.values as u32))
                .collect();
            let j = rng.gen_range(0..self.pairs);
            x.extend(&ks);
            x.extend(vs.iter().map(|v| v + self.keys as u32));
            x.push(ks[j]);
            y.push(vs[j]);
        }
        Ok(Batch {
            x: Tensor::from_vec(x, (size, t), dev)?,
            y: Tensor::from_vec(y, (size, 1), dev)?,
            weight: Tensor::ones((size, 1), DType::F32, dev)?,
            lengths: None,
        })
    }
}

/// One attention read-out: the query attends over the keys and reads their values.
struct Reader {
    embed: Embedding,
    method: Method,
    wq: Linear,
    wk: Linear,
    additive: Option<AdditiveAttention>,
    wv: Linear,
    out: Linear,
    pairs: usize,
    d_k: usize,
}

fn reader(
    task: &Retrieval,
    d_model: usize,
    d_k: usize,
    d_a: usize,
    method: Method,
    vb: VarBuilder,
) -> Result<Reader> {
    let table = vb.get_with_hints(
        (task.vocab_in(), d_model),
        "embed",
        Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
    )?;
    Ok(Reader {
        embed: Embedding::new(table, d_model),
        method,
        // N(0, 1/d_model) weights on unit-variance embeddings: q, k components of variance ≈ 1.
        wq: linear(d_model, d_k, false, vb.pp("wq"))?,
        wk: linear(d_model, d_k, false, vb.pp("wk"))?,
        additive: if method == Method::Additive {
            Some(additive_attention(d_k, d_k, d_a, vb.pp("add"))?)
        } else {
            None
        },
        wv: linear(d_model, d_model, false, vb.pp("wv"))?,
        out: linear(d_model, task.vocab_out(), true, vb.pp("out"))?,
        pairs: task.pairs,
        d_k,
    })
}

impl SeqModel for Reader {
    fn logits(&self, b: &Batch, _train: bool) -> candle_core::Result<Tensor> {
        let e = self.embed.forward(&b.x)?; // (B, 2p+1, d)
        let p = self.pairs;
        let keys = e.narrow(1, 0, p)?;
        let vals = e.narrow(1, p, p)?;
        let query = e.narrow(1, 2 * p, 1)?;
        let q = self.wq.forward(&query)?;
        let k = self.wk.forward(&keys)?;
        let v = self.wv.forward(&vals)?;
        let o = match self.method {
            Method::Additive => {
                self.additive
                    .as_ref()
                    .expect("additive layer")
                    .forward(&q, &k, &v, None)?
                    .0
            }
            Method::DotUnscaled => scaled_dot_product(&q, &k, &v, None, 1.0)?.0,
            Method::DotScaled => {
                scaled_dot_product(&q, &k, &v, None, Scale::InvSqrtDk.factor(self.d_k))?.0
            }
        };
        self.out.forward(&o) // (B, 1, values)
    }
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;

    // Cost.
    let pts = measure_cost(ctx, &cfg)?;
    let mut ratio_t = Table::new(&["d_k", "n", "time_ratio", "memory_ratio"]);
    for p in &pts {
        ratio_t.push(row![p.d, p.n, p.time[1] / p.time[0], p.mem[1] / p.mem[0]]);
    }
    ctx.table("timing_ratio.csv", &ratio_t)?;
    let mut mem_t = Table::new(&["d_k", "n", "method", "peak_mib"]);
    for p in &pts {
        for (i, m) in ["dot", "additive"].iter().enumerate() {
            mem_t.push(row![p.d, p.n, *m, p.mem[i] / 1048576.0]);
        }
    }
    ctx.table("memory.csv", &mem_t)?;
    let dmax = *cfg.cost_d_ks.last().expect("d_ks");
    let top: Vec<&CostPoint> = pts.iter().filter(|p| p.d == dmax).collect();
    let ns: Vec<f64> = top.iter().map(|p| p.n as f64).collect();
    let slope = |i: usize, mem: bool| {
        stats::loglog_slope(
            &ns,
            &top.iter()
                .map(|p| if mem { p.mem[i] } else { p.time[i] })
                .collect::<Vec<_>>(),
            0.95,
        )
    };
    let (t_dot, t_add, m_dot, m_add) = (
        slope(0, false),
        slope(1, false),
        slope(0, true),
        slope(1, true),
    );
    let mut slope_t = Table::new(&["quantity", "method", "slope", "slope_lo", "slope_hi"]);
    for (q, m, f) in [
        ("time", "dot", &t_dot),
        ("time", "additive", &t_add),
        ("memory", "dot", &m_dot),
        ("memory", "additive", &m_add),
    ] {
        slope_t.push(row![q, m, f.slope.point, f.slope.lo, f.slope.hi]);
    }
    ctx.table("timing_slopes.csv", &slope_t)?;
    let tr: Vec<f64> = pts.iter().map(|p| p.time[1] / p.time[0]).collect();
    let mr: Vec<f64> = pts.iter().map(|p| p.mem[1] / p.mem[0]).collect();
    let geo = |v: &[f64]| (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp();
    let fold = |v: &[f64]| {
        v.iter()
            .fold((f64::INFINITY, 0f64), |(a, b), &x| (a.min(x), b.max(x)))
    };
    let (tmin, tmax) = fold(&tr);
    let (mmin, mmax) = fold(&mr);
    let time_est = Estimate::with_interval(geo(&tr), tmin, tmax, 1.0, tr.len());
    let mem_est = Estimate::with_interval(geo(&mr), mmin, mmax, 1.0, mr.len());

    ctx.chart(
        ChartSpec::line(
            "time_vs_n.png",
            "timing_cost.csv",
            "Forward+backward time (median)",
            "n",
            &["median_s"],
        )
        .interval("median_s", "min_s", "max_s")
        .series("method")
        .log_x()
        .log_y()
        .labels("n (queries = keys), both d_k", "seconds"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "memory_vs_n.png",
            "memory.csv",
            "Peak heap during forward+backward",
            "n",
            &["peak_mib"],
        )
        .series("method")
        .log_x()
        .log_y()
        .labels("n, both d_k", "MiB"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "ratio_vs_n.png",
            "timing_ratio.csv",
            "Additive / dot-product",
            "n",
            &["time_ratio", "memory_ratio"],
        )
        .log_x()
        .labels("n, both d_k", "ratio"),
    )?;

    let v_l1 = all_of(&[
        Rule::AtLeast(cfg.min_ratio).decide(&time_est),
        Rule::AtLeast(cfg.min_ratio).decide(&mem_est),
        Rule::Within(cfg.memory_slope_band.0, cfg.memory_slope_band.1).decide(&m_add.slope),
    ]);
    ctx.claim(
        Claim::with_verdict(
            "Q3.L1",
            "Both are O(n²·d), but dot-product attention is much faster and leaner in practice.",
            "additive/dot time ratio (geometric mean; interval = min..max over the grid)",
            time_est,
            &format!(
                "supported if time and peak-memory ratios are ≥ {} at every (n, d_k) and the additive memory slope in n at d_k={dmax} lies in [{}, {}]; refuted if a ratio's whole range is below {} or the slope lies outside",
                cfg.min_ratio, cfg.memory_slope_band.0, cfg.memory_slope_band.1, cfg.min_ratio
            ),
            v_l1,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "Peak-memory ratio {:.1}× (range {:.1}–{:.1}×). Growth exponents in n at d_k={dmax}: time dot {:.2}, additive {:.2}; memory dot {:.2}, additive {:.2}. Timings are wall-clock on this machine; only ratios from one run are used.",
            mem_est.point, mmin, mmax, t_dot.slope.point, t_add.slope.point, m_dot.slope.point, m_add.slope.point
        )),
    );

    // Quality.
    let task = Retrieval {
        pairs: cfg.pairs,
        keys: cfg.keys,
        values: cfg.values,
    };
    let seeds = train::seeds::seed_list(ctx.seed, cfg.seeds);
    let pb = ctx.progress(
        (2 * Method::ALL.len() * seeds.len() * cfg.train.steps) as u64,
        "training retrieval",
    );
    let mut curves = Table::new(&["d_k", "method", "seed", "step", "eval_acc", "eval_loss"]);
    let mut finals = Table::new(&[
        "d_k",
        "method",
        "seed",
        "auc",
        "final_acc",
        "final_loss",
        "diverged",
    ]);
    let mut acc = std::collections::BTreeMap::<(usize, &str), Vec<f64>>::new();
    for d_k in [cfg.small_d_k, cfg.large_d_k] {
        for m in Method::ALL {
            for &s in &seeds {
                let params = Params::new(s);
                let model = reader(&task, cfg.d_model, d_k, cfg.additive_width, m, params.vb())?;
                let log =
                    train::trainer::train_with(&model, &params, &task, &cfg.train, s, |_| {
                        pb.inc(1)
                    })?;
                for &(step, l, a) in &log.eval {
                    curves.push(row![d_k, m.name(), s, step, a, l]);
                }
                finals.push(row![
                    d_k,
                    m.name(),
                    s,
                    log.auc(),
                    log.final_acc(),
                    log.final_loss(),
                    log.diverged
                ]);
                acc.entry((d_k, m.name())).or_default().push(log.auc());
            }
        }
    }
    pb.finish_and_clear();
    ctx.table("training_curves.csv", &curves)?;
    ctx.table("training_final.csv", &finals)?;
    let mut summary = Table::new(&["setting", "method", "mean_auc", "lo", "hi"]);
    for d_k in [cfg.small_d_k, cfg.large_d_k] {
        for m in Method::ALL {
            let e = stats::mean_ci(&acc[&(d_k, m.name())], 0.95);
            summary.push(row![
                format!("d_k={d_k}"),
                m.name(),
                e.point,
                e.lo.max(0.0),
                e.hi.min(1.0)
            ]);
        }
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
            "setting",
            &["mean_auc"],
        )
        .interval("mean_auc", "lo", "hi")
        .series("method")
        .labels("key width", "area under the accuracy curve"),
    )?;
    let get = |d: usize, m: Method| &acc[&(d, m.name())];
    let large_add = stats::welch(
        get(cfg.large_d_k, Method::Additive),
        get(cfg.large_d_k, Method::DotUnscaled),
        0.95,
    );
    let large_scaled = stats::welch(
        get(cfg.large_d_k, Method::DotScaled),
        get(cfg.large_d_k, Method::DotUnscaled),
        0.95,
    );
    let small_gap = stats::mean(get(cfg.small_d_k, Method::Additive))
        - stats::mean(get(cfg.small_d_k, Method::DotUnscaled));
    let v_l2 = all_of(&[
        Rule::AtLeast(cfg.min_large_gap).decide(&large_add.diff),
        Rule::AtLeast(cfg.min_large_gap).decide(&large_scaled.diff),
        Verdict::from_bool(small_gap < cfg.max_small_gap),
    ]);
    ctx.claim(
        Claim::with_verdict(
            "Q3.L2",
            "For small d_k additive and dot-product attention perform alike; for large d_k additive beats unscaled dot-product, and scaling closes the gap.",
            &format!("area under the accuracy curve, additive − unscaled dot, d_k={}", cfg.large_d_k),
            large_add.diff,
            &format!(
                "supported if at d_k={} both additive and scaled dot beat unscaled dot by ≥ {} (95% Welch CI lower bound) and at d_k={} additive − unscaled is < {}; refuted if a large-d_k CI lies wholly below {} or the small-d_k gap is ≥ {}",
                cfg.large_d_k, cfg.min_large_gap, cfg.small_d_k, cfg.max_small_gap, cfg.min_large_gap, cfg.max_small_gap
            ),
            v_l2,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "At d_k={}: scaled − unscaled dot = {:.3} [{:.3}, {:.3}]; at d_k={}: additive − unscaled = {:.3}. {} seeds, {} steps each.",
            cfg.large_d_k, large_scaled.diff.point, large_scaled.diff.lo, large_scaled.diff.hi, cfg.small_d_k, small_gap, cfg.seeds, cfg.train.steps
        )),
    );
    ctx.answer(Answer::OffTopic);
    ctx.literature("Vaswani et al. 2017, 3.2.1: the two are similar in theoretical complexity, dot-product is much faster and more space-efficient in practice; additive outperforms unscaled dot-product for large d_k.");
    ctx.literature("Britz et al. 2017: unscaled multiplicative attention fell from 22.03 BLEU at d=128 to 18.22 at d=1024, while additive held 22.23 → 22.10.");
    ctx.corrected_answer(format!(
        "Both score every query against every key, so both cost O(n²·d); but dot-product attention is a single matrix product while additive attention builds an n×m×d tensor and runs tanh over it. Measured here (forward+backward): additive is {:.0}× slower (range {:.0}–{:.0}×) and needs {:.0}× the peak memory. In quality they are close at small d_k; at large d_k ({}) unscaled dot-product trains worse (additive − unscaled accuracy {:.2}), because its logits have variance d_k and saturate the softmax — which is exactly why the Transformer scales by 1/√d_k (scaled − unscaled {:.2}).",
        time_est.point, tmin, tmax, mem_est.point, cfg.large_d_k, large_add.diff.point, large_scaled.diff.point
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q03_additive_vs_dot",
        "Q3: additive vs dot-product attention. Times and sizes forward+backward of both over n and d_k, and trains both (and unscaled dot) on retrieval at small and large d_k.",
        run,
    )
}
