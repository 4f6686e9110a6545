//! Setup of question 13 (BatchNorm): the task, the model and the four measurements.
//!
//! A deep MLP (core `mlp`: Linear → BatchNorm or nothing → activation) on synthetic
//! classification: Gaussian inputs labelled by a random two-layer tanh teacher. The
//! features live in a table inside the model and the shared training loop feeds their
//! indices as one-token "sequences", so the loop, AdamW and the seeds are the ones every
//! experiment uses. BatchNorm against none is always compared paired: same seed ⇒ same
//! data, same weights (the plain net's biases start at zero, which is what BatchNorm's
//! β is).

use std::fmt;

use crate::core::mlp::{mlp, Mlp, MlpAct, MlpConfig};
use crate::core::norm::NormKind;
use crate::core::params::Params;
use crate::experiment::Ctx;
use crate::output::chart::ChartSpec;
use crate::output::table::Table;
use crate::rng::{index_vec, seeded};
use crate::row;
use crate::stats::{self, Estimate};
use crate::train::tasks::{rows_batch, teacher_data, RowPool, TeacherData};
use crate::train::trainer::{evaluate, masked_loss, train};
use crate::train::{Batch, SeqModel, TrainConfig, TrainLog};
use anyhow::Result;
use candle_core::{Device, Tensor};
use serde::Serialize;

/// The design: sizes, budgets and grids. Decision thresholds live in `spec::q13`.
#[derive(Serialize)]
pub struct Config {
    /// Input features, hidden width, hidden layers, classes of the student MLP.
    pub d_in: usize,
    pub width: usize,
    pub depth: usize,
    pub classes: usize,
    /// Hidden units of the random tanh teacher that labels the data.
    pub teacher_width: usize,
    /// Training pool for the speed and batch-size parts (large: close to fresh data).
    pub pool: usize,
    /// Held-out test points.
    pub test: usize,
    /// Paired seeds for the learning-rate sweeps and the gradient norms ...
    pub seeds: usize,
    /// ... and for the small-data and batch-size parts (noisier, cheaper per run).
    pub seeds_small: usize,
    /// Q13.1a/b: the two swept networks (ReLU at He init; sigmoid at the small init).
    pub speed: Vec<SpeedSetting>,
    /// Q13.1a/b: learning rates swept (AdamW, constant), steps per run, batch size,
    /// moving-average window of the training loss.
    pub lrs: Vec<f64>,
    pub speed_steps: usize,
    pub batch: usize,
    pub smooth: usize,
    /// Q13.3: points in the batch whose gradients are measured at initialization
    /// (small default init N(0, 1/fan_in)).
    pub grad_batch: usize,
    /// Q13.2: training-set sizes, steps and learning rate of the small-data runs.
    pub small_ns: Vec<usize>,
    pub gap_steps: usize,
    pub gap_lr: f64,
    /// Q13.L1/L2: batch sizes trained, steps and learning rate for each.
    pub batches: Vec<usize>,
    pub bs_steps: usize,
    pub bs_lr: f64,
}

/// One network of the learning-rate sweep.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SpeedSetting {
    pub act: MlpAct,
    /// Hidden weights N(0, gain²/fan_in): √2 is He init (ReLU), 1 the small default.
    pub gain: f64,
    /// "Converged" = the moving average of the training loss falls to this (chance
    /// is ln 4 ≈ 1.39).
    pub loss_threshold: f64,
}

impl fmt::Display for SpeedSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.act {
            MlpAct::Relu => write!(f, "ReLU"),
            MlpAct::Sigmoid => write!(f, "sigmoid"),
        }
    }
}

impl Config {
    pub fn new(ctx: &Ctx) -> Self {
        Config {
            d_in: 16,
            width: 64,
            depth: ctx.pick(6, 8),
            classes: 4,
            teacher_width: 32,
            pool: 4096,
            test: 1024,
            seeds: ctx.pick(4, 8),
            seeds_small: ctx.pick(5, 10),
            speed: vec![
                SpeedSetting {
                    act: MlpAct::Relu,
                    gain: std::f64::consts::SQRT_2,
                    loss_threshold: 0.6,
                },
                SpeedSetting {
                    act: MlpAct::Sigmoid,
                    gain: 1.0,
                    loss_threshold: 0.9,
                },
            ],
            lrs: ctx.pick(vec![1e-3, 1e-2, 1e-1], vec![1e-3, 3e-3, 1e-2, 3e-2, 1e-1]),
            speed_steps: ctx.pick(150, 300),
            batch: 32,
            smooth: 10,
            grad_batch: 256,
            small_ns: vec![200, 1000],
            gap_steps: ctx.pick(150, 400),
            gap_lr: 3e-3,
            batches: ctx.pick(vec![2, 64], vec![2, 4, 64]),
            bs_steps: ctx.pick(200, 300),
            bs_lr: 3e-3,
        }
    }
}

/// The two arms, compared paired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arm {
    Plain,
    BatchNorm,
}

pub const ARMS: [Arm; 2] = [Arm::Plain, Arm::BatchNorm];

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arm::Plain => "plain",
            Arm::BatchNorm => "BatchNorm",
        })
    }
}

// ---------------------------------------------------------------- data and model

/// Features (train pool then test set) and their teacher labels for one seed.
pub fn make_data(cfg: &Config, seed: u64) -> Result<TeacherData> {
    teacher_data(
        seed,
        cfg.d_in,
        cfg.teacher_width,
        cfg.classes,
        cfg.pool + cfg.test,
    )
}

/// Consecutive batches of `size` covering rows lo..hi.
pub fn range_batches(lo: usize, hi: usize, size: usize, labels: &[u32]) -> Result<Vec<Batch>> {
    let idx: Vec<u32> = (lo as u32..hi as u32).collect();
    idx.chunks(size)
        .map(|c| Ok(rows_batch(c, labels, &Device::Cpu)?))
        .collect()
}

/// The MLP reading its inputs from the feature table by row index.
pub struct TableMlp {
    pub feats: Tensor,
    pub net: Mlp,
}

impl SeqModel for TableMlp {
    fn logits(&self, b: &Batch, train: bool) -> candle_core::Result<Tensor> {
        let x = self.feats.index_select(&b.x.flatten_all()?, 0)?;
        self.net.forward_t(&x, train)?.unsqueeze(1)
    }
}

pub fn net(
    cfg: &Config,
    data: &TeacherData,
    act: MlpAct,
    gain: f64,
    arm: Arm,
    seed: u64,
) -> Result<(TableMlp, Params)> {
    let params = Params::new(seed);
    let c = MlpConfig {
        d_in: cfg.d_in,
        width: cfg.width,
        depth: cfg.depth,
        classes: cfg.classes,
        act,
        norm: match arm {
            Arm::Plain => NormKind::None,
            Arm::BatchNorm => NormKind::Batch,
        },
        gain,
    };
    let m = TableMlp {
        feats: data.feats.clone(),
        net: mlp(c, params.vb())?,
    };
    Ok((m, params))
}

/// Train one net on the first `n` rows; returns the model and its log.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    cfg: &Config,
    data: &TeacherData,
    n: usize,
    act: MlpAct,
    gain: f64,
    arm: Arm,
    tc: &TrainConfig,
    seed: u64,
) -> Result<(TableMlp, TrainLog)> {
    let (model, params) = net(cfg, data, act, gain, arm, seed)?;
    let task = RowPool {
        n,
        labels: data.labels.clone(),
        classes: cfg.classes,
    };
    let log = train(&model, &params, &task, tc, seed)?;
    Ok((model, log))
}

/// The moving average of the training loss over `window` steps, at every step
/// (shorter windows at the start).
pub fn moving_average(log: &TrainLog, window: usize) -> Vec<f64> {
    let l: Vec<f64> = log.train_loss.iter().map(|p| p.1).collect();
    (1..=l.len())
        .map(|end| {
            let a = end.saturating_sub(window);
            l[a..end].iter().sum::<f64>() / (end - a) as f64
        })
        .collect()
}

/// First step at which the full-window moving average of the training loss is ≤
/// threshold; None when it never is (or the run diverged).
pub fn steps_to(log: &TrainLog, window: usize, threshold: f64) -> Option<usize> {
    if log.diverged {
        return None;
    }
    let l: Vec<f64> = log.train_loss.iter().map(|p| p.1).collect();
    (window..=l.len()).find_map(|end| {
        let m = l[end - window..end].iter().sum::<f64>() / window as f64;
        (m <= threshold).then_some(log.train_loss[end - 1].0)
    })
}

/// Geometric mean of per-seed ratios with the t interval of the mean log10.
pub fn geo_ci(ratios: &[f64]) -> Estimate {
    let logs: Vec<f64> = ratios.iter().map(|r| r.log10()).collect();
    stats::mean_ci(&logs, 0.95).map(|x| 10f64.powf(x))
}

// ---------------------------------------------------------------- Q13.1a/b: speed

/// One activation's learning-rate sweep, both arms, paired by seed.
pub struct Speed {
    pub setting: SpeedSetting,
    /// Per seed: plain ÷ BN steps to the threshold at each net's best rate. A run that
    /// never gets there counts as budget + 1 steps, so where the plain net never did
    /// the ratio is a lower bound.
    pub ratio: Vec<f64>,
    /// Seeds on which the plain net reached the threshold at no rate (ratio censored
    /// from below) / on which BatchNorm reached it at no rate (censored from above).
    pub plain_never: usize,
    pub bn_never: usize,
    /// Per seed: largest rate at which BN reaches the threshold ÷ the plain net's.
    /// Where the plain net reaches it at no rate, the plain net's is taken as the
    /// smallest rate tried, so the ratio is a lower bound.
    pub lr_ratio: Vec<f64>,
    /// Per arm and seed, the largest rate at which the net reached the threshold.
    pub top: [Vec<Option<f64>>; 2],
    /// Where the plain net reached the threshold at no rate on every seed and BN on
    /// every seed: the smallest per-seed lower bound of the rate ratio (BN's largest
    /// converging rate ÷ the smallest rate tried).
    pub lr_bound: Option<f64>,
    /// Geometric mean over seeds with the t interval of the mean log10.
    pub speedup: Estimate,
    /// Smallest over seeds of BN's largest converging rate (0 when none).
    pub bn_top_min: f64,
}

/// The learning-rate sweep for one setting; writes its runs, curves and summary.
pub fn speed(ctx: &mut Ctx, cfg: &Config, s: SpeedSetting, seeds: &[u64]) -> Result<Speed> {
    let tag = s.act.name();
    let pb = ctx.progress(
        (2 * cfg.lrs.len() * seeds.len()) as u64,
        &format!("{s}: learning-rate sweep"),
    );
    let mut runs = Table::new(&[
        "norm",
        "lr",
        "seed",
        "steps_to_threshold",
        "reached",
        "final_loss_ma",
        "diverged",
    ]);
    // steps[arm][seed][lr]
    let mut steps = vec![vec![vec![None; cfg.lrs.len()]; seeds.len()]; 2];
    for (ai, arm) in ARMS.into_iter().enumerate() {
        let mut curves = Table::new(&["lr", "step", "train_loss_ma"]);
        for (li, &lr) in cfg.lrs.iter().enumerate() {
            let tc = TrainConfig {
                steps: cfg.speed_steps,
                batch: cfg.batch,
                lr,
                eval_every: cfg.speed_steps,
                eval_size: 64,
                ..TrainConfig::default()
            };
            let mut sum = vec![0.0; cfg.speed_steps];
            let mut cnt = vec![0usize; cfg.speed_steps];
            for (si, &seed) in seeds.iter().enumerate() {
                let data = make_data(cfg, seed)?;
                let (_, log) = fit(cfg, &data, cfg.pool, s.act, s.gain, arm, &tc, seed)?;
                let st = steps_to(&log, cfg.smooth, s.loss_threshold);
                steps[ai][si][li] = st;
                let ma = moving_average(&log, cfg.smooth);
                for (i, v) in ma.iter().enumerate() {
                    if v.is_finite() {
                        sum[i] += v;
                        cnt[i] += 1;
                    }
                }
                runs.push(row![
                    arm.to_string(),
                    lr,
                    seed,
                    st.map(|v| v.to_string()).unwrap_or_default(),
                    st.is_some(),
                    ma.last().copied().unwrap_or(f64::NAN),
                    log.diverged
                ]);
                pb.inc(1);
            }
            for i in (cfg.smooth - 1..cfg.speed_steps).step_by(5) {
                if cnt[i] == seeds.len() {
                    curves.push(row![lr, i + 1, sum[i] / cnt[i] as f64]);
                }
            }
        }
        let file = format!(
            "loss_curves_{tag}_{}",
            if ai == 0 { "plain" } else { "batchnorm" }
        );
        ctx.table(&format!("{file}.csv"), &curves)?;
        ctx.chart(
            ChartSpec::line(
                &format!("{file}.png"),
                &format!("{file}.csv"),
                &format!(
                    "{s} MLP, {arm}: training loss ({}-step moving average, mean over seeds)",
                    cfg.smooth
                ),
                "step",
                &["train_loss_ma"],
            )
            .series("lr")
            .series_format("lr = {}")
            .log_y()
            .no_markers()
            .reference(s.loss_threshold, "convergence threshold")
            .labels("step", "training loss"),
        )?;
    }
    pb.finish_and_clear();
    ctx.table(&format!("speed_runs_{tag}.csv"), &runs)?;

    let cap = (cfg.speed_steps + 1) as f64;
    let best = |ai: usize, si: usize| {
        (0..cfg.lrs.len())
            .filter_map(|li| steps[ai][si][li])
            .min()
            .map(|x| x as f64)
    };
    let top = |ai: usize, si: usize| {
        (0..cfg.lrs.len())
            .rev()
            .find(|&li| steps[ai][si][li].is_some())
            .map(|li| cfg.lrs[li])
    };
    let (mut ratio, mut lr_ratio) = (vec![], vec![]);
    let (mut plain_never, mut bn_never) = (0, 0);
    let mut bn_top_min = f64::INFINITY;
    for si in 0..seeds.len() {
        let (bp, bb) = (best(0, si), best(1, si));
        plain_never += bp.is_none() as usize;
        bn_never += bb.is_none() as usize;
        ratio.push(bp.unwrap_or(cap) / bb.unwrap_or(cap));
        let (tp, tb) = (top(0, si), top(1, si));
        bn_top_min = bn_top_min.min(tb.unwrap_or(0.0));
        lr_ratio.push(tb.unwrap_or(cfg.lrs[0]) / tp.unwrap_or(cfg.lrs[0]));
    }
    let mut summary = Table::new(&["norm", "lr", "reached_share", "mean_steps_capped"]);
    for (ai, arm) in ARMS.into_iter().enumerate() {
        for (li, &lr) in cfg.lrs.iter().enumerate() {
            let v: Vec<f64> = (0..seeds.len())
                .map(|si| steps[ai][si][li].map(|x| x as f64).unwrap_or(cap))
                .collect();
            let reached = (0..seeds.len())
                .filter(|&si| steps[ai][si][li].is_some())
                .count() as f64
                / seeds.len() as f64;
            summary.push(row![arm.to_string(), lr, reached, stats::mean(&v)]);
        }
    }
    ctx.table(&format!("speed_summary_{tag}.csv"), &summary)?;
    ctx.chart(
        ChartSpec::line(
            &format!("steps_vs_lr_{tag}.png"),
            &format!("speed_summary_{tag}.csv"),
            &format!(
                "{s} MLP: steps until the training loss ≤ {} (never reached = {})",
                crate::fmt::num(s.loss_threshold),
                cap
            ),
            "lr",
            &["mean_steps_capped"],
        )
        .series("norm")
        .log_x()
        .reference(cap, "never reached (budget + 1)")
        .labels(
            "learning rate (AdamW)",
            "steps to threshold (mean over seeds)",
        ),
    )?;
    let top_all: [Vec<Option<f64>>; 2] =
        [0, 1].map(|ai| (0..seeds.len()).map(|si| top(ai, si)).collect());
    let lr_bound = (plain_never == seeds.len() && bn_never == 0).then(|| bn_top_min / cfg.lrs[0]);
    Ok(Speed {
        setting: s,
        top: top_all,
        lr_bound,
        speedup: geo_ci(&ratio),
        ratio,
        plain_never,
        bn_never,
        lr_ratio,
        bn_top_min,
    })
}

// ---------------------------------------------------------------- Q13.3: gradients

/// Per activation, the log10 first/last hidden-layer gradient ratio per seed.
pub struct GradRatios {
    pub act: MlpAct,
    pub plain: Vec<f64>,
    pub bn: Vec<f64>,
}

/// Per-layer gradient norms at initialization (small default init).
pub fn grads(ctx: &mut Ctx, cfg: &Config, seeds: &[u64]) -> Result<Vec<GradRatios>> {
    let mut t = Table::new(&["act", "norm", "seed", "layer", "grad_norm"]);
    let mut summary = Table::new(&["setting", "layer", "grad_norm_geomean"]);
    let mut out = vec![];
    for act in [MlpAct::Sigmoid, MlpAct::Relu] {
        let mut ratios = [vec![], vec![]];
        for (ai, arm) in ARMS.into_iter().enumerate() {
            let mut logsum = vec![0.0; cfg.depth];
            for &s in seeds {
                let data = make_data(cfg, s)?;
                let (model, _params) = net(cfg, &data, act, 1.0, arm, s)?;
                let idx = index_vec(&mut seeded(s, 5), cfg.grad_batch, cfg.pool);
                let b = rows_batch(&idx, &data.labels, &Device::Cpu)?;
                let (loss, _, _) = masked_loss(&model.logits(&b, true)?, &b)?;
                let g = loss.backward()?;
                let mut norms = vec![];
                for (layer, w) in model.net.hidden_weights().iter().enumerate() {
                    let n = match g.get(w) {
                        Some(g) => g.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()? as f64,
                        None => 0.0,
                    };
                    t.push(row![act.name(), arm.to_string(), s, layer + 1, n]);
                    logsum[layer] += n.max(1e-30).log10();
                    norms.push(n.max(1e-30));
                }
                ratios[ai].push((norms[0] / norms[cfg.depth - 1]).log10());
            }
            for (layer, v) in logsum.iter().enumerate() {
                summary.push(row![
                    format!("{}, {arm}", act.name()),
                    layer + 1,
                    10f64.powf(v / seeds.len() as f64)
                ]);
            }
        }
        let [plain, bn] = ratios;
        out.push(GradRatios { act, plain, bn });
    }
    ctx.table("grad_norms.csv", &t)?;
    ctx.table("grad_norms_summary.csv", &summary)?;
    ctx.chart(
        ChartSpec::line(
            "grad_norms.png",
            "grad_norms_summary.csv",
            &format!(
                "Gradient norm of each hidden layer's weights at init ({} layers)",
                cfg.depth
            ),
            "layer",
            &["grad_norm_geomean"],
        )
        .series("setting")
        .log_y()
        .y_floor(1e-12)
        .labels(
            "hidden layer (1 = next to the input)",
            "‖∇W‖ (geometric mean over seeds)",
        ),
    )?;
    Ok(out)
}

// ---------------------------------------------------------------- Q13.2: small data

/// Train−test gaps at one training-set size, per arm, paired by seed.
pub struct Gap {
    pub n: usize,
    /// plain − BN train−test accuracy gap (paired).
    pub reduction: Estimate,
    pub gap: [Estimate; 2],
    pub test: [Estimate; 2],
}

/// Small-data runs at each training-set size (ReLU, small init, as before).
pub fn gaps(ctx: &mut Ctx, cfg: &Config, seeds: &[u64]) -> Result<Vec<Gap>> {
    let pb = ctx.progress(
        (2 * cfg.small_ns.len() * seeds.len()) as u64,
        "small-data runs",
    );
    let mut t = Table::new(&["n_train", "norm", "seed", "train_acc", "test_acc", "gap"]);
    let mut s = Table::new(&["n_train", "norm", "gap", "gap_lo", "gap_hi", "test_acc"]);
    let mut r = Table::new(&["n_train", "reduction", "lo", "hi"]);
    let tc = TrainConfig {
        steps: cfg.gap_steps,
        batch: cfg.batch,
        lr: cfg.gap_lr,
        eval_every: cfg.gap_steps,
        eval_size: 64,
        ..TrainConfig::default()
    };
    let mut out = vec![];
    for &n in &cfg.small_ns {
        let (mut gaps, mut tests) = ([vec![], vec![]], [vec![], vec![]]);
        for (ai, arm) in ARMS.into_iter().enumerate() {
            for &seed in seeds {
                let data = make_data(cfg, seed)?;
                let (model, _) = fit(cfg, &data, n, MlpAct::Relu, 1.0, arm, &tc, seed)?;
                let (_, tr) = evaluate(&model, &range_batches(0, n, 256, &data.labels)?)?;
                let (_, te) = evaluate(
                    &model,
                    &range_batches(cfg.pool, cfg.pool + cfg.test, 256, &data.labels)?,
                )?;
                t.push(row![n, arm.to_string(), seed, tr, te, tr - te]);
                gaps[ai].push(tr - te);
                tests[ai].push(te);
                pb.inc(1);
            }
        }
        let g = Gap {
            n,
            reduction: stats::paired_diff(&gaps[0], &gaps[1], 0.95),
            gap: [0, 1].map(|i| stats::mean_ci(&gaps[i], 0.95)),
            test: [0, 1].map(|i| stats::mean_ci(&tests[i], 0.95)),
        };
        for (ai, arm) in ARMS.into_iter().enumerate() {
            let e = g.gap[ai];
            s.push(row![
                n,
                arm.to_string(),
                e.point,
                e.lo,
                e.hi,
                g.test[ai].point
            ]);
        }
        r.push(row![n, g.reduction.point, g.reduction.lo, g.reduction.hi]);
        out.push(g);
    }
    pb.finish_and_clear();
    ctx.table("small_data.csv", &t)?;
    ctx.table("small_data_summary.csv", &s)?;
    ctx.table("gap_reduction.csv", &r)?;
    ctx.chart(
        ChartSpec::bars(
            "small_data.png",
            "small_data_summary.csv",
            &format!(
                "Train − test accuracy gap after {} steps (95% CI)",
                cfg.gap_steps
            ),
            "n_train",
            &["gap"],
        )
        .interval("gap", "gap_lo", "gap_hi")
        .series("norm")
        .labels("training points", "train − test accuracy"),
    )?;
    ctx.chart(
        ChartSpec::bars(
            "gap_reduction.png",
            "gap_reduction.csv",
            "Q13.2: how much BatchNorm shrinks the train − test gap (plain − BN, paired, 95% CI)",
            "n_train",
            &["reduction"],
        )
        .interval("reduction", "lo", "hi")
        .name("reduction", "gap plain − gap BatchNorm")
        .reference(0.02, "supported above 0.02")
        .reference(-0.02, "refuted below −0.02")
        .reference(0.0, "no effect")
        .labels("training points", "accuracy-gap reduction"),
    )?;
    Ok(out)
}

// ---------------------------------------------------------------- Q13.L1/L2: batch size

pub struct BatchSizes {
    /// plain − BN test accuracy at the smallest batch, paired.
    pub small_loss: Estimate,
    /// BN relative train/eval logit discrepancy at each batch size.
    pub discrepancy: Vec<Estimate>,
    /// Mean test accuracy [plain, BN] per batch size.
    pub acc: Vec<[f64; 2]>,
    /// BN test accuracy in train mode (batch statistics) per batch size.
    pub acc_train_mode: Vec<f64>,
}

pub fn batch_sizes(ctx: &mut Ctx, cfg: &Config, seeds: &[u64]) -> Result<BatchSizes> {
    let pb = ctx.progress(
        (2 * cfg.batches.len() * seeds.len()) as u64,
        "batch-size runs",
    );
    let mut t = Table::new(&[
        "norm",
        "batch",
        "seed",
        "test_acc",
        "test_acc_train_mode",
        "discrepancy",
    ]);
    let mut summary = Table::new(&["batch", "norm", "test_acc", "lo", "hi"]);
    let mut res = BatchSizes {
        small_loss: Estimate::exact(f64::NAN),
        discrepancy: vec![],
        acc: vec![],
        acc_train_mode: vec![],
    };
    for (k, &bsz) in cfg.batches.iter().enumerate() {
        let tc = TrainConfig {
            steps: cfg.bs_steps,
            batch: bsz,
            lr: cfg.bs_lr,
            eval_every: cfg.bs_steps,
            eval_size: 64,
            ..TrainConfig::default()
        };
        let mut accs = [vec![], vec![]];
        let (mut disc, mut tm) = (vec![], vec![]);
        for (ai, arm) in ARMS.into_iter().enumerate() {
            for &s in seeds {
                let data = make_data(cfg, s)?;
                let (model, _) = fit(cfg, &data, cfg.pool, MlpAct::Relu, 1.0, arm, &tc, s)?;
                let test = range_batches(cfg.pool, cfg.pool + cfg.test, 256, &data.labels)?;
                let (_, te) = evaluate(&model, &test)?;
                // Same test points in batches of the training size, with batch
                // statistics (train mode) against running averages (eval mode). Train
                // mode also moves the running averages, so it comes last.
                let small = range_batches(cfg.pool, cfg.pool + cfg.test, bsz, &data.labels)?;
                let (mut num, mut den, mut correct) = (0.0, 0.0, 0.0);
                for b in &small {
                    let ze = model.logits(b, false)?;
                    let zt = model.logits(b, true)?;
                    num += (&zt - &ze)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
                    den += ze.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
                    let (_, c, _) = masked_loss(&zt, b)?;
                    correct += c;
                }
                let d = (num / den).sqrt();
                let acc_tm = correct / cfg.test as f64;
                t.push(row![arm.to_string(), bsz, s, te, acc_tm, d]);
                accs[ai].push(te);
                if arm == Arm::BatchNorm {
                    disc.push(d);
                    tm.push(acc_tm);
                }
                pb.inc(1);
            }
        }
        for (ai, arm) in ARMS.into_iter().enumerate() {
            let e = stats::mean_ci(&accs[ai], 0.95);
            summary.push(row![bsz, arm.to_string(), e.point, e.lo, e.hi]);
        }
        if k == 0 {
            res.small_loss = stats::paired_diff(&accs[0], &accs[1], 0.95);
        }
        res.discrepancy.push(stats::mean_ci(&disc, 0.95));
        res.acc.push([stats::mean(&accs[0]), stats::mean(&accs[1])]);
        res.acc_train_mode.push(stats::mean(&tm));
    }
    pb.finish_and_clear();
    ctx.table("batch_size.csv", &t)?;
    ctx.table("batch_size_summary.csv", &summary)?;
    ctx.chart(
        ChartSpec::bars(
            "batch_size.png",
            "batch_size_summary.csv",
            &format!(
                "Test accuracy after {} steps at each batch size (95% CI)",
                cfg.bs_steps
            ),
            "batch",
            &["test_acc"],
        )
        .interval("test_acc", "lo", "hi")
        .series("norm")
        .y_range(0.0, 1.0)
        .reference(0.25, "chance (4 classes)")
        .labels("batch size", "test accuracy (eval mode)"),
    )?;
    Ok(res)
}

/// The decided quantity of Q13.1a/b per network: BatchNorm's extra speed (plain ÷ BN
/// steps − 1) with its interval and the rule's two lines.
pub fn speedup_chart(ctx: &mut Ctx, speeds: &[Speed]) -> Result<()> {
    let mut t = Table::new(&["network", "extra_speed", "lo", "hi"]);
    for s in speeds {
        let e = s.speedup.map(|x| x - 1.0);
        t.push(row![s.setting.to_string(), e.point, e.lo, e.hi]);
    }
    ctx.table("speedup.csv", &t)?;
    ctx.chart(
        ChartSpec::bars(
            "speedup.png",
            "speedup.csv",
            "Q13.1: BatchNorm's speed-up to the loss threshold at each net's best rate (95% CI)",
            "network",
            &["extra_speed"],
        )
        .interval("extra_speed", "lo", "hi")
        .name("extra_speed", "plain ÷ BatchNorm steps − 1")
        .reference(0.5, "supported above 0.5 (1.5× as fast)")
        .reference(-0.2, "refuted below −0.2")
        .labels("network", "extra speed with BatchNorm (0 = same)"),
    )
}
