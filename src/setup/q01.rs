//! Setup of question 1: the cost count of multi-head attention, its timing, the
//! two-offset pair task, the causal one-layer model, and the per-head measurements
//! (attention mass on each target offset, accuracy with one head zeroed).

use std::fmt;
use std::time::Instant;

use anyhow::{ensure, Result};
use candle_core::{Device, Module, Tensor, Var};

use crate::core::fused::{merge_heads, split_heads};
use crate::core::layers::{LayerConfig, LayerCtx, Placement};
use crate::core::mask::{AttnMask, Mask};
use crate::core::model::{encoder, Encoder, EncoderConfig, PosKind};
use crate::core::{
    multi_head_attention, scaled_dot_product, MhaConfig, MultiHeadAttention, Params,
};
use crate::kit::{self, Grouped};
use crate::output::chart::ChartSpec;
use crate::output::table::Table;
use crate::rng::{randn, Rng64};
use crate::row;
use crate::stats::{self, Estimate};
use crate::train::trainer::masked_loss;
use crate::train::{Batch, SeqModel, Task};

/// A head count, labelled "h = 4" in tables and legends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Heads(pub usize);

impl fmt::Display for Heads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h = {}", self.0)
    }
}

// ---------------------------------------------------------------- cost, counted

/// FLOPs of one forward+backward pass of multi-head self-attention over one sequence
/// of n tokens, d_model d, h heads of width d/h, with biases. A multiply-add is 2
/// FLOPs; each element-wise operation is 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlopCount {
    /// Matrix products: projections (4 of n×d by d×d) and the per-head products
    /// QKᵀ and PV; forward once, backward twice (gradient of each operand).
    pub matmul: f64,
    /// Work on the h·n² scores: forward scale (1) and softmax (max, subtract, exp,
    /// sum, divide: 5); backward softmax (multiply, row sum, subtract, multiply: 4)
    /// and scale (1). 11 per score.
    pub scores: f64,
    /// Bias adds and their gradients, and summing the three input gradients.
    pub other: f64,
}

impl FlopCount {
    pub fn new(n: usize, d: usize, h: usize) -> Self {
        let (n, d, h) = (n as f64, d as f64, h as f64);
        // Forward: 4 projections 2nd² each; QKᵀ is h × 2·n·n·(d/h) = 2n²d; PV the same.
        let fwd = 4.0 * 2.0 * n * d * d + 2.0 * (2.0 * n * n * d);
        Self {
            matmul: 3.0 * fwd,
            scores: 11.0 * h * n * n,
            other: 4.0 * n * d + 4.0 * n * d + 2.0 * n * d,
        }
    }

    pub fn total(&self) -> f64 {
        self.matmul + self.scores + self.other
    }
}

/// Parameters of multi-head attention in closed form: W_Q, W_K, W_V, W_O (d×d each,
/// since h·d_k = d) and their biases.
pub fn mha_params_closed_form(d: usize) -> usize {
    4 * d * d + 4 * d
}

// ---------------------------------------------------------------- cost, timed

/// One forward+backward of the core's multi-head self-attention; seconds.
fn time_one(mha: &MultiHeadAttention, x: &Var) -> Result<f64> {
    let t0 = Instant::now();
    let out = mha.forward(x.as_tensor(), x.as_tensor(), None)?;
    let grads = out.sqr()?.sum_all()?.backward()?;
    drop(grads);
    Ok(t0.elapsed().as_secs_f64())
}

/// Timing of one (h, n) point: parameter count and the times of the repeats.
pub struct CostPoint {
    pub h: usize,
    pub n: usize,
    pub params: usize,
    pub times: Vec<f64>,
}

impl CostPoint {
    /// The fastest repeat: on a shared machine noise only ever adds time.
    pub fn fastest(&self) -> f64 {
        self.times.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// Times forward+backward at width `d` for every h and n, the head counts interleaved
/// within each repeat so that a burst of load hits all of them alike.
#[allow(clippy::too_many_arguments)]
pub fn measure_cost(
    d: usize,
    heads: &[usize],
    ns: &[usize],
    batch: usize,
    warmup: usize,
    repeats: usize,
    seed: u64,
    rng: &mut Rng64,
    mut tick: impl FnMut(),
) -> Result<Vec<CostPoint>> {
    let mut out = vec![];
    for &n in ns {
        let x = Var::from_tensor(&randn(rng, &[batch, n, d], 1.0, &Device::Cpu)?)?;
        let mut models = vec![];
        for &h in heads {
            let p = Params::new(seed);
            let m = multi_head_attention(MhaConfig::new(d, h), p.vb())?;
            models.push((h, p.count(), m));
        }
        let mut times = vec![vec![]; models.len()];
        for rep in 0..warmup + repeats {
            for (i, (_, _, m)) in models.iter().enumerate() {
                let s = time_one(m, &x)?;
                if rep >= warmup {
                    times[i].push(s);
                }
            }
        }
        for ((h, params, _), ts) in models.into_iter().zip(times) {
            out.push(CostPoint {
                h,
                n,
                params,
                times: ts,
            });
            tick();
        }
    }
    Ok(out)
}

/// The counted cost at every (h, n): `flops.csv`, the parameter ratio to one head at
/// each h ≥ 2, and the FLOP ratio at each h ≥ 2 and n, largest first.
pub struct CountedCost {
    pub table: Table,
    pub param_ratios: Vec<f64>,
    pub flop_ratios: Vec<f64>,
}

/// Count parameters (from the built models in `points`) and FLOPs at every n in `ns`.
pub fn counted_cost(d: usize, ns: &[usize], points: &[CostPoint]) -> Result<CountedCost> {
    let params_of = |h: usize| points.iter().find(|p| p.h == h).map(|p| p.params);
    let p1 = params_of(1).ok_or_else(|| anyhow::anyhow!("h = 1 must be counted"))?;
    let mut heads: Vec<usize> = points.iter().map(|p| p.h).collect();
    heads.sort_unstable();
    heads.dedup();
    let mut table = Table::new(&[
        "heads",
        "n",
        "params",
        "params_closed_form",
        "flops",
        "score_flops",
        "flop_ratio",
    ]);
    let (mut param_ratios, mut flop_ratios) = (vec![], vec![]);
    for (i, &n) in ns.iter().enumerate() {
        let base = FlopCount::new(n, d, 1).total();
        for &h in &heads {
            let params = params_of(h).unwrap_or(0);
            let f = FlopCount::new(n, d, h);
            let r = f.total() / base;
            table.push(row![
                Heads(h).to_string(),
                n,
                params,
                mha_params_closed_form(d),
                f.total(),
                f.scores,
                r
            ]);
            if h != 1 {
                flop_ratios.push(r);
                if i == 0 {
                    param_ratios.push(params as f64 / p1 as f64);
                }
            }
        }
    }
    flop_ratios.sort_by(|a, b| b.total_cmp(a));
    Ok(CountedCost {
        table,
        param_ratios,
        flop_ratios,
    })
}

/// The timed cost: `timing_ratio.csv` and the time ratio to one head (fastest repeat
/// over fastest repeat) at each h ≥ 2 and n.
pub struct TimedCost {
    pub table: Table,
    pub ratios: Vec<f64>,
}

impl TimedCost {
    /// Geometric mean of the ratios, with their min..max range.
    pub fn estimate(&self) -> Estimate {
        let r = &self.ratios;
        let geo = (r.iter().map(|x| x.ln()).sum::<f64>() / r.len() as f64).exp();
        Estimate::range(
            geo,
            stats::quantile(r, 0.0),
            stats::quantile(r, 1.0),
            r.len(),
        )
    }
}

pub fn timed_cost(points: &[CostPoint]) -> Result<TimedCost> {
    let mut table = Table::new(&[
        "heads",
        "n",
        "fastest_s",
        "median_s",
        "slowest_s",
        "time_ratio",
    ]);
    let mut ratios = vec![];
    for p in points {
        let base = points
            .iter()
            .find(|b| b.n == p.n && b.h == 1)
            .ok_or_else(|| anyhow::anyhow!("h = 1 must be timed"))?;
        let e = Estimate::median_minmax(&p.times);
        let r = p.fastest() / base.fastest();
        table.push(row![Heads(p.h).to_string(), p.n, e.lo, e.point, e.hi, r]);
        if p.h != 1 {
            ratios.push(r);
        }
    }
    Ok(TimedCost { table, ratios })
}

/// The charts of the cost part, with Q1.1's band and Q1.1T's band as reference lines.
pub fn cost_charts(d: usize, batch: usize) -> Vec<ChartSpec> {
    vec![
        ChartSpec::line(
            "flop_ratio.png",
            "flops.csv",
            &format!("Counted forward+backward FLOPs, d_model = {d}: h heads over one head"),
            "n",
            &["flop_ratio"],
        )
        .series("heads")
        .log_x()
        .reference(0.8, "band 0.8")
        .reference(1.25, "band 1.25")
        .labels("sequence length n", "FLOPs(h) / FLOPs(1)"),
        ChartSpec::line(
            "time_ratio.png",
            "timing_ratio.csv",
            "Measured time, h heads over one head (fastest of repeats)",
            "n",
            &["time_ratio"],
        )
        .series("heads")
        .log_x()
        .reference(0.5, "band 0.5")
        .reference(3.0, "band 3")
        .reference(1.0, "equal")
        .labels("sequence length n", "time(h) / time(1)"),
        ChartSpec::line(
            "time_vs_n.png",
            "timing_ratio.csv",
            &format!("Multi-head attention forward+backward, d_model = {d}, batch {batch}"),
            "n",
            &["median_s"],
        )
        .interval("median_s", "fastest_s", "slowest_s")
        .series("heads")
        .log_x()
        .log_y()
        .labels(
            "sequence length n",
            "seconds (median; bars fastest..slowest)",
        ),
    ]
}

// ---------------------------------------------------------------- the pair task

/// y_i = the ordered pair (x[i−a], x[i−b]) as one class a·V + b, scored where
/// i ≥ max(a, b): every scored position must read two different places at once.
pub struct PairTask {
    pub vocab: usize,
    pub len: usize,
    pub a: usize,
    pub b: usize,
}

impl PairTask {
    /// The first scored position.
    pub fn first(&self) -> usize {
        self.a.max(self.b)
    }
}

impl Task for PairTask {
    fn vocab_in(&self) -> usize {
        self.vocab
    }
    fn vocab_out(&self) -> usize {
        self.vocab * self.vocab
    }
    fn max_len(&self) -> usize {
        self.len
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> candle_core::Result<Batch> {
        use rand::Rng;
        let t = self.len;
        let first = self.first();
        let (mut x, mut y, mut w) = (
            Vec::with_capacity(size * t),
            Vec::with_capacity(size * t),
            Vec::with_capacity(size * t),
        );
        for _ in 0..size {
            let s: Vec<u32> = (0..t)
                .map(|_| rng.gen_range(0..self.vocab as u32))
                .collect();
            for i in 0..t {
                x.push(s[i]);
                if i >= first {
                    y.push(s[i - self.a] * self.vocab as u32 + s[i - self.b]);
                    w.push(1.0);
                } else {
                    y.push(0);
                    w.push(0.0);
                }
            }
        }
        Batch::from_vecs(x, y, w, size, t, None, dev)
    }
}

/// The core's one-layer Post-LN encoder with a causal mask (position i reads ≤ i).
pub struct Causal {
    pub enc: Encoder,
    pub mask: AttnMask,
}

impl SeqModel for Causal {
    fn logits(&self, b: &Batch, train: bool) -> candle_core::Result<Tensor> {
        let c = LayerCtx {
            mask: Some(&self.mask),
            valid: None,
            train,
        };
        self.enc.forward_t(&b.x, &c)
    }
}

pub fn model(task: &PairTask, d: usize, h: usize, params: &Params) -> Result<Causal> {
    let mut cfg = EncoderConfig::new(task.vocab, task.len, 1, LayerConfig::new(d, h));
    cfg.vocab_out = task.vocab_out();
    cfg.pos = PosKind::Learned;
    Ok(Causal {
        enc: encoder(cfg, params.vb())?,
        mask: Mask::causal(task.len).to_attn(&Device::Cpu)?,
    })
}

impl Causal {
    /// Eval-mode logits with each head's output multiplied by `keep[head]` before the
    /// output projection (1 keeps a head, 0 ablates it), and the attention weights
    /// (B, h, T, T).
    pub fn forward_heads(&self, tokens: &Tensor, keep: &[f32]) -> Result<(Tensor, Tensor)> {
        ensure!(self.enc.layers.len() == 1, "one layer expected");
        let l = &self.enc.layers[0];
        ensure!(
            l.cfg.placement == Placement::PostLn && l.cfg.residual,
            "Post-LN with residuals expected"
        );
        let a = &l.attn;
        let h = a.cfg.heads;
        ensure!(keep.len() == h, "one keep factor per head");
        let x = self.enc.embed(tokens)?;
        let (q, k) = a.qk(&x, &x)?;
        let v = split_heads(&a.wv.forward(&x)?, h)?;
        let (o, w) =
            scaled_dot_product(&q, &k, &v, Some(&self.mask), a.cfg.scale.factor(a.cfg.d_k))?;
        let keep = Tensor::from_slice(keep, (1, h, 1, 1), x.device())?;
        let att =
            a.wo.forward(&merge_heads(&o.broadcast_mul(&keep)?.contiguous()?)?)?;
        let x1 = l.norm1.forward_t(&(x + att)?, None, false)?;
        let x2 = l
            .norm2
            .forward_t(&(&x1 + l.ffn.forward(&x1)?)?, None, false)?;
        let hid = self.enc.final_norm.forward_t(&x2, None, false)?;
        Ok((self.enc.head.forward(&hid)?, w))
    }
}

/// What one trained model's heads do on a held-out batch.
#[derive(Clone, Debug)]
pub struct HeadReport {
    /// Per head: mean attention mass on offset a and on offset b (scored queries).
    pub mass: Vec<[f64; 2]>,
    /// Held-out accuracy with every head.
    pub acc: f64,
    /// Held-out accuracy with each head zeroed in turn.
    pub ablated: Vec<f64>,
}

impl HeadReport {
    /// The weaker of the two offsets' masses from heads of their own: the best
    /// min(mass(p, a), mass(q, b)) over distinct heads p ≠ q. With one head, the
    /// weaker of its two masses (it must serve both offsets).
    pub fn coverage(&self) -> f64 {
        let h = self.mass.len();
        if h == 1 {
            return self.mass[0][0].min(self.mass[0][1]);
        }
        let mut best = 0f64;
        for p in 0..h {
            for q in 0..h {
                if p != q {
                    best = best.max(self.mass[p][0].min(self.mass[q][1]));
                }
            }
        }
        best
    }

    /// Accuracy lost by zeroing the head whose removal hurts most.
    pub fn max_drop(&self) -> f64 {
        self.ablated
            .iter()
            .map(|a| self.acc - a)
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The median accuracy lost over single-head ablations.
    pub fn median_drop(&self) -> f64 {
        let d: Vec<f64> = self.ablated.iter().map(|a| self.acc - a).collect();
        stats::median(&d)
    }
}

/// Attention mass per head on the two target offsets and accuracy under single-head
/// ablation, on batch `b`.
pub fn head_report(m: &Causal, task: &PairTask, b: &Batch) -> Result<HeadReport> {
    let h = m.enc.layers[0].attn.cfg.heads;
    let acc_with = |keep: &[f32]| -> Result<(f64, Tensor)> {
        let (logits, w) = m.forward_heads(&b.x, keep)?;
        let (_, correct, total) = masked_loss(&logits, b)?;
        Ok((correct / total, w))
    };
    let (acc, w) = acc_with(&vec![1.0; h])?;
    let (bs, _, t, _) = w.dims4()?;
    let wv = w.flatten_all()?.to_vec1::<f32>()?;
    let mut mass = vec![[0f64; 2]; h];
    let first = task.first();
    let count = (bs * (t - first)) as f64;
    for bi in 0..bs {
        for (hi, m) in mass.iter_mut().enumerate() {
            for i in first..t {
                let row = ((bi * h + hi) * t + i) * t;
                m[0] += wv[row + i - task.a] as f64 / count;
                m[1] += wv[row + i - task.b] as f64 / count;
            }
        }
    }
    let mut ablated = vec![];
    if h > 1 {
        for hi in 0..h {
            let mut keep = vec![1.0; h];
            keep[hi] = 0.0;
            ablated.push(acc_with(&keep)?.0);
        }
    }
    Ok(HeadReport { mass, acc, ablated })
}

/// The head measurements of every trained model, summarized: per head mass
/// (`head_mass.csv`), per h the coverage and ablation drops with 95% intervals over
/// seeds (`heads.csv`), and the samples behind them.
pub struct HeadSummary {
    pub mass: Table,
    pub table: Table,
    pub coverage: Grouped,
    pub drop: Grouped,
    pub median: Grouped,
}

/// `reports`: (h, seed, report) for every trained model.
pub fn summarize_heads(reports: &[(usize, u64, HeadReport)], heads: &[usize]) -> HeadSummary {
    let mut mass = Table::new(&[
        "heads",
        "seed",
        "head",
        "mass_offset_a",
        "mass_offset_b",
        "accuracy_without_head",
    ]);
    let (mut coverage, mut drop, mut median) = (Grouped::new(), Grouped::new(), Grouped::new());
    for (h, s, r) in reports {
        for (i, m) in r.mass.iter().enumerate() {
            mass.push(row![
                Heads(*h).to_string(),
                *s,
                i,
                m[0],
                m[1],
                r.ablated.get(i).copied().unwrap_or(f64::NAN)
            ]);
        }
        coverage.push(Heads(*h), r.coverage());
        if *h > 1 {
            drop.push(Heads(*h), r.max_drop());
            median.push(Heads(*h), r.median_drop());
        }
    }
    let mut table = kit::estimate_table(&["heads"], &["coverage", "largest_drop", "median_drop"]);
    for &h in heads {
        let e = |g: &Grouped| {
            if h == 1 {
                Estimate::exact(f64::NAN)
            } else {
                g.mean_ci(Heads(h))
            }
        };
        kit::push_estimates(
            &mut table,
            vec![Heads(h).to_string()],
            &[coverage.mean_ci(Heads(h)), e(&drop), e(&median)],
        );
    }
    HeadSummary {
        mass,
        table,
        coverage,
        drop,
        median,
    }
}

/// The charts of the capability part; the first (paired AUC gaps, with Q1.2's margin)
/// is the key chart. Thresholds of Q1.2b and Q1.2c drawn as reference lines.
pub fn capability_charts(steps: usize, (a, b): (usize, usize)) -> Vec<ChartSpec> {
    vec![
        ChartSpec::bars(
            "auc_gaps.png",
            "auc_gaps.csv",
            &format!("AUC gain over one head, {steps} steps (95% paired CI)"),
            "heads",
            &["auc_gap"],
        )
        .interval("auc_gap", "auc_gap_lo", "auc_gap_hi")
        .name("auc_gap", "AUC(h) − AUC(1)")
        .reference(0.05, "margin 0.05")
        .reference(0.0, "no gain")
        .labels(
            "heads (d_k = d_model/h)",
            "gain in area under the accuracy curve",
        ),
        ChartSpec::line(
            "learning_curves.png",
            "training_curves_mean.csv",
            "Pair task: held-out accuracy (mean over seeds, 95% CI)",
            "step",
            &["eval_acc"],
        )
        .interval("eval_acc", "eval_acc_lo", "eval_acc_hi")
        .series("heads")
        .y_range(0.0, 1.0)
        .labels("step", "held-out accuracy"),
        ChartSpec::bars(
            "specialization.png",
            "heads.csv",
            &format!("Attention mass each offset (i−{a}, i−{b}) gets from a head of its own"),
            "heads",
            &["coverage"],
        )
        .interval("coverage", "coverage_lo", "coverage_hi")
        .name("coverage", "weaker offset's mass (one head: shared)")
        .reference(0.5, "threshold 0.5")
        .y_range(0.0, 1.0)
        .labels("heads", "attention mass"),
        ChartSpec::bars(
            "ablation.png",
            "heads.csv",
            "Accuracy lost by zeroing one head (95% CI over seeds)",
            "heads",
            &["largest_drop", "median_drop"],
        )
        .interval("largest_drop", "largest_drop_lo", "largest_drop_hi")
        .interval("median_drop", "median_drop_lo", "median_drop_hi")
        .name("largest_drop", "most-used head")
        .name("median_drop", "median head")
        .reference(0.25, "threshold 0.25")
        .y_range(0.0, 1.0)
        .labels("heads", "held-out accuracy lost"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    /// With every head kept, the manual forward pass equals the encoder's.
    #[test]
    fn forward_heads_matches_encoder() {
        let task = PairTask {
            vocab: 5,
            len: 8,
            a: 2,
            b: 5,
        };
        let p = Params::new(3);
        let m = model(&task, 16, 4, &p).unwrap();
        let b = task.batch(&mut seeded(0, 1), 3, &Device::Cpu).unwrap();
        let want = m.logits(&b, false).unwrap();
        let (got, w) = m.forward_heads(&b.x, &[1.0; 4]).unwrap();
        let d = crate::core::max_abs_diff(&want, &got).unwrap();
        assert!(d < 1e-5, "{d}");
        assert_eq!(w.dims(), &[3, 4, 8, 8]);
        // Zeroing a head changes the output.
        let (abl, _) = m.forward_heads(&b.x, &[0.0, 1.0, 1.0, 1.0]).unwrap();
        assert!(crate::core::max_abs_diff(&want, &abl).unwrap() > 1e-4);
        let r = head_report(&m, &task, &b).unwrap();
        assert_eq!(r.mass.len(), 4);
        assert_eq!(r.ablated.len(), 4);
    }

    #[test]
    fn flops_grow_only_in_the_score_term() {
        let one = FlopCount::new(128, 128, 1);
        let many = FlopCount::new(128, 128, 16);
        assert_eq!(one.matmul, many.matmul);
        assert_eq!(many.scores, 16.0 * one.scores);
        // 3 × (8nd² + 4n²d) at n = d = 128.
        assert_eq!(one.matmul, 3.0 * 12.0 * 128f64.powi(3));
    }

    #[test]
    fn coverage_needs_distinct_heads() {
        let r = HeadReport {
            mass: vec![[0.9, 0.05], [0.8, 0.1]],
            acc: 1.0,
            ablated: vec![0.5, 0.9],
        };
        assert!((r.coverage() - 0.1).abs() < 1e-12);
        assert!((r.max_drop() - 0.5).abs() < 1e-12);
    }
}
