//! Setup of question 14 (the feed-forward network): the position-wise check, the
//! parameter count and the ReLU/GELU training task.
//!
//! (c) Because the FFN is position-wise, its activation can be compared on independent
//! points: a stack of Pre-LN residual FFN sublayers (x + FFN(LN(x)), d_ff = 4·d_model,
//! no attention) trained on Gaussian inputs labelled by a random tanh teacher, ReLU
//! against GELU with the same seed ⇒ same init and data. (A token-counting encoder was
//! tried first: it learns in a phase transition whose timing varies by seed, so a
//! paired comparison at a short budget did not discriminate.)

use std::fmt;

use candle_core::{Device, IndexOp, Module, Tensor, Var};
use candle_nn::VarBuilder;

use crate::core::ffn::{ffn, Activation, Ffn};
use crate::core::layers::{encoder_layer, LayerConfig, LayerCtx};
use crate::core::linear::{linear, Linear};
use crate::core::max_abs;
use crate::core::norm::{layer_norm, LayerNorm};
use crate::core::params::Params;
use crate::experiment::Ctx;
use crate::output::chart::ChartSpec;
use crate::output::table::Table;
use crate::rng::{randn, seeded};
use crate::row;
use crate::train::tasks::{rows_batch, teacher_data, RowPool, TeacherData};
use crate::train::trainer::train;
use crate::train::{seeds::seed_list, Batch, SeqModel, TrainConfig};
use anyhow::{Context as _, Result};
use serde::Serialize;

/// The two activations compared, labelled in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Act(pub Activation);

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Activation::Relu => "ReLU",
            Activation::Gelu => "GELU (tanh)",
            Activation::GeluErf => "GELU (erf)",
        })
    }
}

/// The design. Decision thresholds live in `spec::q14`.
#[derive(Serialize)]
pub struct Config {
    /// (a) widths, sequence length and batch of the position-wise check.
    pub check_d: usize,
    pub check_len: usize,
    pub check_batch: usize,
    /// (b) d_model values at which the parameter share is counted (d_ff = 4·d_model).
    pub share_ds: Vec<usize>,
    /// (c) position-wise task: input features, classes, hidden units of the random
    /// tanh teacher, training pool (points drawn with replacement), held-out points
    /// (also the probe for dead units).
    pub d_in: usize,
    pub classes: usize,
    pub teacher_width: usize,
    pub pool: usize,
    pub probe: usize,
    /// (c) model: width and number of Pre-LN residual FFN blocks (d_ff = 4·d_model).
    pub d_model: usize,
    pub blocks: usize,
    /// (c) paired seeds per activation.
    pub seeds: usize,
    pub train: TrainConfig,
}

impl Config {
    pub fn new(ctx: &Ctx) -> Self {
        Config {
            check_d: 16,
            check_len: 6,
            check_batch: 2,
            share_ds: vec![32, 128, 512],
            d_in: 16,
            classes: 8,
            teacher_width: 64,
            pool: 8192,
            probe: 512,
            d_model: 32,
            blocks: 2,
            seeds: ctx.pick(5, 8),
            train: TrainConfig {
                steps: ctx.pick(150, 300),
                batch: 64,
                lr: 3e-3,
                eval_every: 10,
                eval_size: 512,
                ..TrainConfig::default()
            },
        }
    }
}

// ---------------------------------------------------------------- (a) position-wise

pub struct Positionwise {
    /// max |FFN(sequence) − FFN(token by token)|
    pub seq_vs_token: f64,
    /// max |∂y_t/∂x_s| over s ≠ t, for the FFN and for a whole encoder layer.
    pub ffn_cross: f64,
    pub layer_cross: f64,
    /// Frobenius norm of the diagonal blocks ∂y_t/∂x_t (FFN), mean over t.
    pub ffn_diag: f64,
    /// max |core ReLU FFN − max(0, xW₁+b₁)W₂+b₂ computed by hand|
    pub formula_err: f64,
}

/// The Jacobian blocks ‖∂y_t/∂x_s‖ by one backward pass per output coordinate.
pub fn jacobian_blocks(
    f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    x: &Var,
    len: usize,
    d: usize,
) -> Result<Vec<Vec<f64>>> {
    let mut blocks = vec![vec![0.0; len]; len];
    let y = f(x.as_tensor())?; // (1, T, d)
    for (t, block_row) in blocks.iter_mut().enumerate() {
        for j in 0..d {
            let g = y.i((0, t, j))?.backward()?;
            let gx = match g.get(x.as_tensor()) {
                Some(g) => g.i(0)?.to_vec2::<f32>()?,
                None => vec![vec![0.0; d]; len],
            };
            for (s, row) in gx.iter().enumerate() {
                block_row[s] += row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
            }
        }
    }
    Ok(blocks
        .into_iter()
        .map(|r| r.into_iter().map(f64::sqrt).collect())
        .collect())
}

pub fn part_positionwise(ctx: &mut Ctx, cfg: &Config) -> Result<Positionwise> {
    let dev = Device::Cpu;
    let (d, t) = (cfg.check_d, cfg.check_len);
    let params = Params::new(ctx.seed);
    let f = ffn(d, 4 * d, Activation::Relu, params.vb().pp("ffn"))?;
    let mut r = seeded(ctx.seed, 0);
    let x = randn(&mut r, &[cfg.check_batch, t, d], 1.0, &dev)?;
    let whole = f.forward(&x)?;
    let mut seq_vs_token = 0f64;
    for p in 0..t {
        let one = f.forward(&x.narrow(1, p, 1)?.contiguous()?)?;
        seq_vs_token = seq_vs_token.max(max_abs(&(one - whole.narrow(1, p, 1)?)?)?);
    }
    // The paper's formula, by hand: max(0, x W₁ᵀ + b₁) W₂ᵀ + b₂ on (B·T, d).
    let flat = x.reshape((cfg.check_batch * t, d))?;
    let b1 = f.w1.bias().context("w1 bias")?;
    let b2 = f.w2.bias().context("w2 bias")?;
    let h = flat
        .matmul(&f.w1.weight().t()?)?
        .broadcast_add(b1)?
        .maximum(0f32)?;
    let by_hand = h.matmul(&f.w2.weight().t()?)?.broadcast_add(b2)?;
    let formula_err = max_abs(&(by_hand - whole.reshape((cfg.check_batch * t, d))?)?)?;

    // Jacobians of one sequence: the FFN's, and a whole encoder layer's for contrast.
    let x1 = Var::from_tensor(&randn(&mut r, &[1, t, d], 1.0, &dev)?)?;
    let fb = jacobian_blocks(&|z: &Tensor| f.forward(z), &x1, t, d)?;
    let layer = encoder_layer(LayerConfig::new(d, 2), params.vb().pp("layer"))?;
    let lb = jacobian_blocks(
        &|z: &Tensor| layer.forward_t(z, &LayerCtx::default()),
        &x1,
        t,
        d,
    )?;
    let mut tab = Table::new(&["module", "output_pos", "input_pos", "jacobian_norm"]);
    let (mut ffn_cross, mut layer_cross, mut diag) = (0f64, 0f64, 0f64);
    for a in 0..t {
        for s in 0..t {
            tab.push(row!["FFN", a, s, fb[a][s]]);
            tab.push(row!["encoder layer", a, s, lb[a][s]]);
            if a != s {
                ffn_cross = ffn_cross.max(fb[a][s]);
                layer_cross = layer_cross.max(lb[a][s]);
            } else {
                diag += fb[a][s] / t as f64;
            }
        }
    }
    ctx.table("jacobian_blocks.csv", &tab)?;
    // Chart: ‖∂y_0/∂x_s‖ against input position s for both modules.
    let mut row0 = Table::new(&["module", "input_pos", "jacobian_norm"]);
    for s in 0..t {
        row0.push(row!["FFN", s, fb[0][s]]);
        row0.push(row!["encoder layer", s, lb[0][s]]);
    }
    ctx.table("jacobian_row0.csv", &row0)?;
    ctx.chart(
        ChartSpec::bars(
            "jacobian.png",
            "jacobian_row0.csv",
            "‖∂y₀/∂x_s‖: the FFN only looks at its own position (exact zeros drawn at 1e−9)",
            "input_pos",
            &["jacobian_norm"],
        )
        .series("module")
        .log_y()
        .y_floor(1e-9)
        .labels(
            "input position s (output position 0)",
            "Frobenius norm (log scale)",
        ),
    )?;
    Ok(Positionwise {
        seq_vs_token,
        ffn_cross,
        layer_cross,
        ffn_diag: diag,
        formula_err,
    })
}

// ---------------------------------------------------------------- (b) parameter share

/// The FFN's share of one encoder layer's parameters at one d_model.
pub struct Share {
    pub d: usize,
    /// Counted from the core's parameters.
    pub counted: f64,
    /// (8d² + 5d)/(12d² + 13d).
    pub closed_form: f64,
}

pub fn part_share(ctx: &mut Ctx, cfg: &Config) -> Result<Vec<Share>> {
    let mut t = Table::new(&[
        "d_model",
        "d_ff",
        "ffn_params",
        "attention_params",
        "norm_params",
        "layer_params",
        "ffn_share",
        "closed_form_share",
    ]);
    let mut out = vec![];
    for &d in &cfg.share_ds {
        let p = Params::new(ctx.seed);
        let _layer = encoder_layer(LayerConfig::new(d, 4), p.vb())?;
        let (ffn_n, attn_n, total) = (p.count_prefix("ffn"), p.count_prefix("attn"), p.count());
        let df = 4 * d;
        let cf_ffn = 2 * d * df + df + d;
        let cf_total = cf_ffn + 4 * d * d + 4 * d + 4 * d;
        let share = ffn_n as f64 / total as f64;
        let cf = cf_ffn as f64 / cf_total as f64;
        t.push(row![
            d,
            df,
            ffn_n,
            attn_n,
            total - ffn_n - attn_n,
            total,
            share,
            cf
        ]);
        out.push(Share {
            d,
            counted: share,
            closed_form: cf,
        });
    }
    ctx.table("param_share.csv", &t)?;
    ctx.chart(
        ChartSpec::bars(
            "param_share.png",
            "param_share.csv",
            "Share of an encoder layer's parameters in the FFN (d_ff = 4·d_model)",
            "d_model",
            &["ffn_share", "closed_form_share"],
        )
        .name("ffn_share", "counted")
        .name("closed_form_share", "closed form (8d² + 5d)/(12d² + 13d)")
        .y_range(0.0, 1.0)
        .reference(0.6, "band 0.6")
        .reference(0.7, "band 0.7")
        .labels("d_model", "share of layer parameters"),
    )?;
    Ok(out)
}

// ---------------------------------------------------------------- (c) training

/// Features and teacher labels: Gaussian inputs labelled by a random two-layer tanh
/// network. Rows 0..pool are drawn for training, the rest are held out.
pub fn make_data(cfg: &Config, seed: u64) -> Result<TeacherData> {
    teacher_data(
        seed,
        cfg.d_in,
        cfg.teacher_width,
        cfg.classes,
        cfg.pool + cfg.probe,
    )
}

/// The FFN sublayers of a Pre-LN Transformer without attention: since the FFN is
/// position-wise, each position is an independent point. in → [x + FFN(LN(x))]×k →
/// LN → head.
pub struct FfnNet {
    pub feats: Tensor,
    pub inp: Linear,
    pub blocks: Vec<(LayerNorm, Ffn)>,
    pub final_norm: LayerNorm,
    pub head: Linear,
}

pub fn ffn_net(
    cfg: &Config,
    data: &TeacherData,
    act: Activation,
    vb: VarBuilder,
) -> Result<FfnNet> {
    let d = cfg.d_model;
    Ok(FfnNet {
        feats: data.feats.clone(),
        inp: linear(cfg.d_in, d, true, vb.pp("inp"))?,
        blocks: (0..cfg.blocks)
            .map(|i| {
                let v = vb.pp(format!("block{i}"));
                Ok((
                    layer_norm(d, v.pp("norm"))?,
                    ffn(d, 4 * d, act, v.pp("ffn"))?,
                ))
            })
            .collect::<Result<_>>()?,
        final_norm: layer_norm(d, vb.pp("final_norm"))?,
        head: linear(d, cfg.classes, true, vb.pp("head"))?,
    })
}

impl FfnNet {
    /// Logits and, per block, the FFN pre-activations x W₁ + b₁.
    pub fn run(&self, b: &Batch) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
        let x = self.feats.index_select(&b.x.flatten_all()?, 0)?;
        let mut x = self.inp.forward(&x)?;
        let mut pre = vec![];
        for (n, f) in &self.blocks {
            let z = f.w1.forward(&n.forward(&x)?)?;
            x = (&x + f.w2.forward(&f.act.apply(&z)?)?)?;
            pre.push(z);
        }
        let logits = self.head.forward(&self.final_norm.forward(&x)?)?;
        Ok((logits.unsqueeze(1)?, pre))
    }
}

impl SeqModel for FfnNet {
    fn logits(&self, b: &Batch, _train: bool) -> candle_core::Result<Tensor> {
        Ok(self.run(b)?.0)
    }
}

/// Share of FFN hidden units (all blocks) with no positive pre-activation on `b`.
pub fn dead_share(m: &FfnNet, b: &Batch) -> Result<f64> {
    let (mut dead, mut total) = (0usize, 0usize);
    for z in m.run(b)?.1 {
        let mx = z.max(0)?.to_vec1::<f32>()?;
        dead += mx.iter().filter(|v| **v <= 0.0).count();
        total += mx.len();
    }
    Ok(dead as f64 / total as f64)
}

pub struct TrainResult {
    pub auc: [Vec<f64>; 2],
    /// Mean eval loss over the evaluations (area under the loss curve).
    pub loss_auc: [Vec<f64>; 2],
    pub final_acc: [Vec<f64>; 2],
    pub dead_init: Vec<f64>,
    pub dead_end: Vec<f64>,
    /// Per seed: (ReLU − GELU) loss area ÷ ReLU's.
    pub loss_rel: Vec<f64>,
}

pub fn part_train(ctx: &mut Ctx, cfg: &Config) -> Result<TrainResult> {
    let seeds = seed_list(ctx.seed, cfg.seeds);
    let acts = [Act(Activation::Relu), Act(Activation::Gelu)];
    let pb = ctx.progress((2 * seeds.len()) as u64, "training ReLU / GELU");
    let mut curves = Table::new(&["act", "seed", "step", "eval_acc", "eval_loss"]);
    let mut finals = Table::new(&["act", "seed", "auc", "final_acc", "final_loss", "diverged"]);
    let mut dead_t = Table::new(&["seed", "dead_share_init", "dead_share_trained"]);
    let mut res = TrainResult {
        auc: [vec![], vec![]],
        loss_auc: [vec![], vec![]],
        final_acc: [vec![], vec![]],
        dead_init: vec![],
        dead_end: vec![],
        loss_rel: vec![],
    };
    let mut mean_curve: Vec<Vec<(usize, f64, f64)>> = vec![vec![], vec![]];
    for (ai, act) in acts.iter().enumerate() {
        let name = &act.to_string();
        for &s in &seeds {
            let data = make_data(cfg, s)?;
            let task = RowPool {
                n: cfg.pool,
                labels: data.labels.clone(),
                classes: cfg.classes,
            };
            let probe_idx: Vec<u32> = (cfg.pool as u32..(cfg.pool + cfg.probe) as u32).collect();
            let probe = rows_batch(&probe_idx, &data.labels, &Device::Cpu)?;
            let params = Params::new(s);
            let m = ffn_net(cfg, &data, act.0, params.vb())?;
            let d0 = if ai == 0 {
                dead_share(&m, &probe)?
            } else {
                0.0
            };
            let log = train(&m, &params, &task, &cfg.train, s)?;
            for (i, &(step, l, a)) in log.eval.iter().enumerate() {
                curves.push(row![*name, s, step, a, l]);
                if mean_curve[ai].len() <= i {
                    mean_curve[ai].push((step, 0.0, 0.0));
                }
                mean_curve[ai][i].1 += a / seeds.len() as f64;
                mean_curve[ai][i].2 += l / seeds.len() as f64;
            }
            finals.push(row![
                *name,
                s,
                log.auc(),
                log.final_acc(),
                log.final_loss(),
                log.diverged
            ]);
            res.auc[ai].push(log.auc());
            res.loss_auc[ai]
                .push(log.eval.iter().map(|e| e.1).sum::<f64>() / log.eval.len().max(1) as f64);
            res.final_acc[ai].push(log.final_acc());
            if ai == 0 {
                let d1 = dead_share(&m, &probe)?;
                dead_t.push(row![s, d0, d1]);
                res.dead_init.push(d0);
                res.dead_end.push(d1);
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    ctx.table("training_curves.csv", &curves)?;
    ctx.table("training_final.csv", &finals)?;
    ctx.table("dead_relu.csv", &dead_t)?;
    let mut mc = Table::new(&["act", "step", "mean_eval_acc", "mean_eval_loss"]);
    for (ai, act) in acts.iter().enumerate() {
        for &(step, a, l) in &mean_curve[ai] {
            mc.push(row![act.to_string(), step, a, l]);
        }
    }
    ctx.table("mean_curves.csv", &mc)?;
    ctx.chart(
        ChartSpec::line(
            "learning_curves.png",
            "mean_curves.csv",
            "Position-wise FFN stack: held-out accuracy (mean over paired seeds)",
            "step",
            &["mean_eval_acc"],
        )
        .series("act")
        .y_range(0.0, 1.0)
        .reference(1.0 / cfg.classes as f64, "chance")
        .labels("step", "held-out accuracy"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "loss_curves.png",
            "mean_curves.csv",
            "Held-out loss (mean over paired seeds); Q14.L3 compares its area",
            "step",
            &["mean_eval_loss"],
        )
        .series("act")
        .log_y()
        .labels("step", "held-out loss"),
    )?;
    let mut pd = Table::new(&[
        "seed",
        "loss_area_relu_minus_gelu",
        "loss_area_relative",
        "acc_area_gelu_minus_relu",
        "final_acc_gelu_minus_relu",
    ]);
    let mut gap = Table::new(&["seed", "relative_gap", "lo", "hi"]);
    for (i, &s) in seeds.iter().enumerate() {
        let rel = (res.loss_auc[0][i] - res.loss_auc[1][i]) / res.loss_auc[0][i];
        res.loss_rel.push(rel);
        pd.push(row![
            s,
            res.loss_auc[0][i] - res.loss_auc[1][i],
            rel,
            res.auc[1][i] - res.auc[0][i],
            res.final_acc[1][i] - res.final_acc[0][i]
        ]);
        gap.push(row![format!("seed {s}"), rel, rel, rel]);
    }
    let m = crate::stats::mean_ci(&res.loss_rel, 0.95);
    gap.push(row!["mean (95% CI)", m.point, m.lo, m.hi]);
    ctx.table("paired_diff.csv", &pd)?;
    ctx.table("loss_area_gap.csv", &gap)?;
    ctx.chart(
        ChartSpec::bars(
            "loss_area_gap.png",
            "loss_area_gap.csv",
            "Q14.L3: GELU's lower loss area, as a share of ReLU's (paired; > 0 favours GELU)",
            "seed",
            &["relative_gap"],
        )
        .interval("relative_gap", "lo", "hi")
        .name("relative_gap", "(ReLU − GELU) ÷ ReLU loss area")
        .reference(0.02, "supported above 0.02")
        .reference(-0.02, "refuted below −0.02")
        .reference(0.0, "no difference")
        .labels("paired seed", "relative loss-area gap"),
    )?;
    ctx.chart(
        ChartSpec::bars(
            "paired_diff.png",
            "paired_diff.csv",
            "GELU's advantage per seed (same init and data; > 0 favours GELU)",
            "seed",
            &[
                "loss_area_relu_minus_gelu",
                "acc_area_gelu_minus_relu",
                "final_acc_gelu_minus_relu",
            ],
        )
        .name("loss_area_relu_minus_gelu", "loss area, ReLU − GELU")
        .name("acc_area_gelu_minus_relu", "accuracy area, GELU − ReLU")
        .name("final_acc_gelu_minus_relu", "final accuracy, GELU − ReLU")
        .labels("seed", "difference"),
    )?;
    Ok(res)
}
