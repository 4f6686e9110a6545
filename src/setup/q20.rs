//! Setup of question 20: the models (Post-LN or Pre-LN encoders with dropout), the arms
//! of the warmup grid, the schedule table, and the dropout measurements (placement
//! against a hand-written forward pass, inverted dropout's expectation through one
//! linear layer and through a trained model, test-time dropout on held-out data).

use std::fmt;

use anyhow::Result;
use candle_core::{DType, Device, Module, Tensor, D};

use crate::core::dropout::Dropout;
use crate::core::layers::DROPOUT_STREAM;
use crate::core::{encoder, Encoder, EncoderConfig, LayerConfig, LayerCtx, Params, Placement};
use crate::fmt::{num, plural};
use crate::kit::{self, Grouped, Sweep};
use crate::output::chart::ChartSpec;
use crate::output::table::Table;
use crate::rng::{normal_vec, randn, seeded};
use crate::row;
use crate::stats::{self, Estimate};
use crate::train::schedule::noam_rate;
use crate::train::trainer::masked_loss;
use crate::train::{self, Batch, SeqModel, Task, TrainConfig, TrainLog};

/// Sizes of the models trained here.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Sizes {
    pub d_model: usize,
    pub heads: usize,
    pub vocab: usize,
    pub seq_len: usize,
}

/// "Post-LN" / "Pre-LN".
pub fn ln_name(p: Placement) -> &'static str {
    match p {
        Placement::PostLn => "Post-LN",
        Placement::PreLn => "Pre-LN",
    }
}

/// An encoder of `layers` blocks with LayerNorm `placement` and dropout `p_drop` on
/// every sublayer output and on embeddings + positions.
pub fn build(
    z: &Sizes,
    placement: Placement,
    layers: usize,
    p_drop: f64,
    seed: u64,
    params: &Params,
) -> Result<Encoder> {
    let mut layer = LayerConfig::new(z.d_model, z.heads);
    layer.placement = placement;
    layer.dropout = p_drop;
    let mut ec = EncoderConfig::new(z.vocab, z.seq_len, layers, layer);
    ec.emb_dropout = p_drop;
    ec.dropout_seed = seed;
    Ok(encoder(ec, params.vb())?)
}

/// One cell of the warmup grid: LayerNorm placement, warmup or not, peak rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arm {
    pub placement: Placement,
    pub warmup: bool,
    pub lr: f64,
}

impl Arm {
    /// "warmup" / "no warmup".
    pub fn schedule(&self) -> &'static str {
        if self.warmup {
            "warmup"
        } else {
            "no warmup"
        }
    }
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}, lr {}",
            ln_name(self.placement),
            self.schedule(),
            crate::fmt::num(self.lr)
        )
    }
}

/// Every arm of the grid: for each peak rate, Post-LN then Pre-LN, each without then
/// with warmup.
pub fn grid(lrs: &[f64]) -> Vec<Arm> {
    let mut arms = vec![];
    for &lr in lrs {
        for placement in [Placement::PostLn, Placement::PreLn] {
            for warmup in [false, true] {
                arms.push(Arm {
                    placement,
                    warmup,
                    lr,
                });
            }
        }
    }
    arms
}

/// A run's final held-out loss in units of ln V; a diverged run counts as uniform
/// output (1).
pub fn loss_in_ln_v(l: &TrainLog, ln_v: f64) -> f64 {
    let x = l.final_loss();
    if l.diverged || !x.is_finite() {
        1.0
    } else {
        x / ln_v
    }
}

/// The warmup grid, analysed: per-seed losses and warmup effects, paired by seed.
pub struct Grid {
    pub arms: Vec<Arm>,
    pub lrs: Vec<f64>,
    pub seeds: Vec<u64>,
    /// Final loss / ln V per arm (seed order).
    pub loss: Grouped,
    /// Per rate: per-seed warmup effect (loss without − with warmup, / ln V).
    pub post: Vec<Vec<f64>>,
    pub pre: Vec<Vec<f64>>,
    /// Per rate: Post-LN effect minus Pre-LN effect, paired by seed (95% t interval).
    pub gaps: Vec<Estimate>,
    /// Index of the rate whose mean gap is largest.
    pub best: usize,
}

impl Grid {
    /// `sw` ran the arms of [`grid`]`(lrs)`.
    pub fn new(sw: &Sweep<Arm>, lrs: &[f64], ln_v: f64) -> Result<Self> {
        let loss = sw.metric(|l| loss_in_ln_v(l, ln_v));
        let arms = sw.arms.clone();
        let effect = |li: usize, p: usize| -> Vec<f64> {
            let (no, yes) = (
                loss.get(arms[4 * li + 2 * p]),
                loss.get(arms[4 * li + 2 * p + 1]),
            );
            no.iter().zip(yes).map(|(a, b)| a - b).collect()
        };
        let post: Vec<Vec<f64>> = (0..lrs.len()).map(|li| effect(li, 0)).collect();
        let pre: Vec<Vec<f64>> = (0..lrs.len()).map(|li| effect(li, 1)).collect();
        let gaps: Vec<Estimate> = post
            .iter()
            .zip(&pre)
            .map(|(a, b)| stats::paired_diff(a, b, 0.95))
            .collect();
        let best = (0..gaps.len())
            .max_by(|&a, &b| gaps[a].point.total_cmp(&gaps[b].point))
            .ok_or_else(|| anyhow::anyhow!("no peak rate"))?;
        Ok(Grid {
            arms,
            lrs: lrs.to_vec(),
            seeds: sw.seeds.clone(),
            loss,
            post,
            pre,
            gaps,
            best,
        })
    }

    /// Runs at rate index `li` whose loss is ≥ `line` · ln V: Post-LN without warmup,
    /// with warmup, Pre-LN without, with.
    pub fn fails(&self, li: usize, line: f64) -> [usize; 4] {
        let n = |k: usize| {
            self.loss
                .get(self.arms[4 * li + k])
                .iter()
                .filter(|&&x| x >= line)
                .count()
        };
        [n(0), n(1), n(2), n(3)]
    }

    /// Per seed (Post-LN failed without warmup − with) − (Pre-LN the same), failures
    /// as 0/1 at `line`, at peak rate `lr`: mean with a 95% t interval.
    pub fn fail_gap(&self, lr: f64, line: f64) -> Result<Estimate> {
        let li = self
            .lrs
            .iter()
            .position(|&x| x == lr)
            .ok_or_else(|| anyhow::anyhow!("peak rate {lr} is not in the grid"))?;
        let f = |k: usize, s: usize| (self.loss.get(self.arms[4 * li + k])[s] >= line) as u8 as f64;
        let d: Vec<f64> = (0..self.seeds.len())
            .map(|s| f(0, s) - f(1, s) - (f(2, s) - f(3, s)))
            .collect();
        Ok(stats::mean_ci(&d, 0.95))
    }

    /// One row per run.
    pub fn final_table(&self, sw: &Sweep<Arm>) -> Table {
        let mut t = Table::new(&[
            "arm",
            "placement",
            "schedule",
            "peak_lr",
            "seed",
            "final_loss",
            "final_acc",
            "loss_over_ln_v",
            "diverged",
        ]);
        for (ai, a) in self.arms.iter().enumerate() {
            for (si, s) in self.seeds.iter().enumerate() {
                let l = sw.log(ai, si);
                t.push(row![
                    a.to_string(),
                    ln_name(a.placement),
                    a.schedule(),
                    a.lr,
                    *s,
                    l.final_loss(),
                    l.final_acc(),
                    self.loss.get(a)[si],
                    l.diverged
                ]);
            }
        }
        t
    }

    /// Per arm: median loss / ln V with its min..max, failures under each line.
    pub fn summary_table(&self, lines: &[f64]) -> Table {
        let mut h = vec!["group", "schedule", "median", "min", "max", "n"];
        let names: Vec<String> = lines.iter().map(|l| format!("failed_at_{l}")).collect();
        h.extend(names.iter().map(|s| s.as_str()));
        let mut t = Table::new(&h);
        for a in &self.arms {
            let xs = self.loss.get(a);
            let e = Estimate::median_minmax(xs);
            let mut r = row![
                format!("{}, lr {}", ln_name(a.placement), num(a.lr)),
                a.schedule(),
                e.point,
                e.lo,
                e.hi,
                xs.len()
            ];
            for &line in lines {
                r.push(xs.iter().filter(|&&x| x >= line).count().to_string());
            }
            t.push(r);
        }
        t
    }

    /// Per rate: warmup's effect for Post-LN, Pre-LN and their paired difference.
    pub fn effect_table(&self) -> Table {
        let mut t = kit::estimate_table(&["peak_lr", "effect"], &["warmup_effect"]);
        for (li, &lr) in self.lrs.iter().enumerate() {
            let label = format!("lr {}", num(lr));
            let rows = [
                ("Post-LN", stats::mean_ci(&self.post[li], 0.95)),
                ("Pre-LN", stats::mean_ci(&self.pre[li], 0.95)),
                ("Post-LN minus Pre-LN (decided)", self.gaps[li]),
            ];
            for (what, e) in rows {
                kit::push_estimates(&mut t, vec![label.clone(), what.into()], &[e]);
            }
        }
        t
    }

    /// Post-LN without warmup: share of runs at or above each line, by peak rate,
    /// from the grid and from extra runs (`extra`: rate → losses / ln V).
    pub fn sweep_table(&self, extra: &[(f64, Vec<f64>)], lines: &[f64]) -> Table {
        let mut rates: Vec<(f64, Vec<f64>)> = self
            .lrs
            .iter()
            .enumerate()
            .map(|(li, &lr)| (lr, self.loss.get(self.arms[4 * li]).to_vec()))
            .chain(extra.iter().cloned())
            .collect();
        rates.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut t = Table::new(&["peak_lr", "line", "failure_share", "n"]);
        for (lr, xs) in &rates {
            for &line in lines {
                let share = xs.iter().filter(|&&x| x >= line).count() as f64 / xs.len() as f64;
                t.push(row![
                    format!("{} ({})", num(*lr), plural(xs.len(), "seed", "seeds")),
                    format!("loss ≥ {} · ln V", num(line)),
                    share,
                    xs.len()
                ]);
            }
        }
        t
    }
}

/// The Noam schedule for each (d_model, warmup) pair, every `stride` steps up to
/// `last` (and step 1).
pub fn schedule_table(schedules: &[(usize, usize)], last: usize, stride: usize) -> Table {
    let mut t = Table::new(&["schedule", "step", "lrate"]);
    for &(d, w) in schedules {
        let name = format!("d_model {d}, warmup {w}");
        t.push(row![name.clone(), 1usize, noam_rate(d, w, 1)]);
        let mut s = stride;
        while s <= last {
            t.push(row![name.clone(), s, noam_rate(d, w, s)]);
            s += stride;
        }
    }
    t
}

/// The schedule's largest value and the step where it is reached (searched over
/// steps 1..=4·warmup).
#[derive(Clone, Copy, Debug)]
pub struct Peak {
    pub value: f64,
    pub step: usize,
}

pub fn schedule_peak(d_model: usize, warmup: usize) -> Peak {
    let step = (1..=4 * warmup)
        .max_by(|&a, &b| noam_rate(d_model, warmup, a).total_cmp(&noam_rate(d_model, warmup, b)))
        .unwrap_or(0);
    Peak {
        value: noam_rate(d_model, warmup, step),
        step,
    }
}

/// The dropout placement check of a Post-LN model.
#[derive(Clone, Copy, Debug)]
pub struct Structure {
    /// max |core train-mode forward − hand-written paper placement|.
    pub diff: f64,
    /// Share of zeroed entries in a 100 000-entry mask.
    pub zero_share: f64,
    /// max |eval-mode output at p − output of the same weights at p = 0|.
    pub eval_diff: f64,
}

/// Compare the core's train-mode forward with LN(x + drop(Sublayer(x))) written out by
/// hand (dropout also on embeddings + positions), replaying the same masks.
pub fn dropout_structure(
    z: &Sizes,
    layers: usize,
    p: f64,
    seed: u64,
    task: &dyn Task,
) -> Result<Structure> {
    let dev = Device::Cpu;
    let params = Params::new(seed);
    let m = build(z, Placement::PostLn, layers, p, seed, &params)?;
    let b = task.batch(&mut seeded(seed, 7), 4, &dev)?;
    let got = m.hidden(
        &b.x,
        &LayerCtx {
            train: true,
            ..LayerCtx::default()
        },
    )?;
    // Fresh generators on the same seed and streams reproduce the masks.
    let emb = Dropout::new(p, seed, DROPOUT_STREAM - 1);
    let mut x = emb.forward_t(&m.embed(&b.x)?, true)?;
    for (i, l) in m.layers.iter().enumerate() {
        let d1 = Dropout::new(p, seed, DROPOUT_STREAM + 2 * i as u64);
        let d2 = Dropout::new(p, seed, DROPOUT_STREAM + 2 * i as u64 + 1);
        let a = d1.forward_t(&l.attn.forward(&x, &x, None)?, true)?;
        let h = l.norm1.forward_t(&(&x + a)?, None, true)?;
        let f = d2.forward_t(&l.ffn.forward(&h)?, true)?;
        x = l.norm2.forward_t(&(&h + f)?, None, true)?;
    }
    let diff = (got - &x)?.abs()?.max_all()?.to_scalar::<f32>()? as f64;
    let probe = Dropout::new(p, seed, 99).mask_values(100_000);
    let zero_share = probe.iter().filter(|v| **v == 0.0).count() as f64 / probe.len() as f64;
    let e = m.hidden(&b.x, &LayerCtx::default())?;
    let p0 = Params::new(seed);
    let m0 = build(z, Placement::PostLn, layers, 0.0, seed, &p0)?;
    let e0 = m0.hidden(&b.x, &LayerCtx::default())?;
    let eval_diff = (e - e0)?.abs()?.max_all()?.to_scalar::<f32>()? as f64;
    Ok(Structure {
        diff,
        zero_share,
        eval_diff,
    })
}

/// ‖a − b‖ / ‖b‖ for host vectors.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// Inverted dropout + one linear layer, over independent replicates.
#[derive(Clone, Debug)]
pub struct LinearMc {
    /// Pass counts K.
    pub passes: Vec<usize>,
    /// `errors[r][i]`: relative error of the mean of `passes[i]` train-mode passes
    /// against the eval output, replicate r.
    pub errors: Vec<Vec<f64>>,
    /// Log-log slope of error against K, one per replicate.
    pub slopes: Vec<f64>,
    /// Dropout without the 1/(1 − p) scale and without test-time rescaling: relative
    /// error of the mean of the most passes (replicate 0).
    pub unscaled_err: f64,
}

/// y = drop(x)·W + b with x, W, b fixed; the mean of K train-mode outputs against the
/// eval output W·x + b, for each K in `passes`, on `replicates` independent mask sets.
pub fn linear_mc(
    d_in: usize,
    d_out: usize,
    p: f64,
    passes: &[usize],
    replicates: usize,
    seed: u64,
) -> Result<LinearMc> {
    let dev = Device::Cpu;
    let mut r = seeded(seed, 11);
    let x = randn(&mut r, &[1, d_in], 1.0, &dev)?;
    let w = Tensor::from_vec(
        normal_vec(&mut r, d_in * d_out, 0.0, (1.0 / d_in as f64).sqrt()),
        (d_in, d_out),
        &dev,
    )?;
    let bias = randn(&mut r, &[1, d_out], 0.1, &dev)?;
    let bias64 = bias.to_dtype(DType::F64)?;
    let eval_out = x
        .matmul(&w)?
        .broadcast_add(&bias)?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    let kmax = passes.iter().copied().max().unwrap_or(1);
    let (mut errors, mut slopes) = (vec![], vec![]);
    let mut unscaled_err = f64::NAN;
    for rep in 0..replicates {
        let drop = Dropout::new(p, seed, 100 + rep as u64);
        let masks = Tensor::from_vec(drop.mask_values(kmax * d_in), (kmax, d_in), &dev)?;
        let outs = masks
            .broadcast_mul(&x)?
            .matmul(&w)?
            .broadcast_add(&bias)?
            .to_dtype(DType::F64)?;
        let errs = passes
            .iter()
            .map(|&k| {
                let mean = outs.narrow(0, 0, k)?.mean(0)?.to_vec1::<f64>()?;
                Ok(rel_err(&mean, &eval_out))
            })
            .collect::<Result<Vec<f64>>>()?;
        let ks: Vec<f64> = passes.iter().map(|&k| k as f64).collect();
        slopes.push(stats::loglog_slope(&ks, &errs, 0.95).slope.point);
        errors.push(errs);
        if rep == 0 {
            // Keep units unscaled (mask · (1 − p)) and do not rescale at test time.
            let raw = (outs.broadcast_sub(&bias64)? * (1.0 - p))?.broadcast_add(&bias64)?;
            let m = raw.narrow(0, 0, kmax)?.mean(0)?.to_vec1::<f64>()?;
            unscaled_err = rel_err(&m, &eval_out);
        }
    }
    Ok(LinearMc {
        passes: passes.to_vec(),
        errors,
        slopes,
        unscaled_err,
    })
}

/// Held-out loss and accuracy with dropout off (eval mode) and left on (train mode),
/// and the share of scored positions whose prediction changes between two
/// dropout-on passes.
#[derive(Clone, Copy, Debug)]
pub struct TestModes {
    pub loss_off: f64,
    pub acc_off: f64,
    pub loss_on: f64,
    pub acc_on: f64,
    pub flip_share: f64,
}

pub fn test_modes(net: &dyn SeqModel, batches: &[Batch]) -> Result<TestModes> {
    let (mut l_off, mut a_off, mut l_on, mut a_on, mut flips, mut n) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for b in batches {
        let (l, c, tot) = masked_loss(&net.logits(b, false)?, b)?;
        l_off += l.to_scalar::<f32>()? as f64 * tot;
        a_off += c;
        let on1 = net.logits(b, true)?;
        let (l, c, _) = masked_loss(&on1, b)?;
        l_on += l.to_scalar::<f32>()? as f64 * tot;
        a_on += c;
        let on2 = net.logits(b, true)?;
        flips += on1
            .argmax(D::Minus1)?
            .ne(&on2.argmax(D::Minus1)?)?
            .to_dtype(DType::F32)?
            .mul(&b.weight)?
            .sum_all()?
            .to_scalar::<f32>()? as f64;
        n += tot;
    }
    Ok(TestModes {
        loss_off: l_off / n,
        acc_off: a_off / n,
        loss_on: l_on / n,
        acc_on: a_on / n,
        flip_share: flips / n,
    })
}

/// Relative gap between the mean of K train-mode logits and the eval logits on one
/// batch, for each K in `passes` (increasing; passes are accumulated).
pub fn nonlinear_gap(net: &dyn SeqModel, b: &Batch, passes: &[usize]) -> Result<Vec<f64>> {
    let ev = net.logits(b, false)?.to_dtype(DType::F64)?;
    let evv = ev.flatten_all()?.to_vec1::<f64>()?;
    let mut acc = ev.zeros_like()?;
    let mut done = 0;
    let mut out = vec![];
    for &k in passes {
        while done < k {
            acc = (acc + net.logits(b, true)?.to_dtype(DType::F64)?)?;
            done += 1;
        }
        let mean = (&acc / k as f64)?.flatten_all()?.to_vec1::<f64>()?;
        out.push(rel_err(&mean, &evv));
    }
    Ok(out)
}

/// A Pre-LN model trained with dropout on `task`, then measured: test modes on the
/// held-out set (`eval_size` sequences, stream 5) and the nonlinear expectation gap on
/// one batch of 4 (stream 6).
pub struct DropoutRun {
    pub modes: TestModes,
    pub nonlinear: Vec<f64>,
}

pub fn dropout_run(
    z: &Sizes,
    layers: usize,
    p: f64,
    tc: &TrainConfig,
    task: &dyn Task,
    passes: &[usize],
    seed: u64,
) -> Result<DropoutRun> {
    let dev = Device::Cpu;
    let params = Params::new(seed);
    let net = build(z, Placement::PreLn, layers, p, seed, &params)?;
    train::trainer::train(&net, &params, task, tc, seed)?;
    let mut held = seeded(seed, 5);
    let batches: Vec<Batch> = (0..tc.eval_size / tc.batch)
        .map(|_| task.batch(&mut held, tc.batch, &dev))
        .collect::<candle_core::Result<_>>()?;
    let modes = test_modes(&net, &batches)?;
    let b = task.batch(&mut seeded(seed, 6), 4, &dev)?;
    Ok(DropoutRun {
        modes,
        nonlinear: nonlinear_gap(&net, &b, passes)?,
    })
}

/// Post-LN without warmup at each of `lrs` (the peak-rate sweep).
pub fn post_ln_no_warmup(lrs: &[f64]) -> Vec<Arm> {
    lrs.iter()
        .map(|&lr| Arm {
            placement: Placement::PostLn,
            warmup: false,
            lr,
        })
        .collect()
}

impl Structure {
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["check", "value"]);
        t.push(row!["max |core − hand-written| (train mode)", self.diff]);
        t.push(row!["zeroed share of a mask", self.zero_share]);
        t.push(row!["max |eval(p) − eval(p = 0)|", self.eval_diff]);
        t
    }
}

impl LinearMc {
    /// Relative error at the most passes: mean over replicates, 95% t interval.
    pub fn last_error(&self) -> Estimate {
        let k = self.passes.len() - 1;
        let e: Vec<f64> = self.errors.iter().map(|r| r[k]).collect();
        stats::mean_ci(&e, 0.95)
    }
}

/// Mean of K train-mode passes against eval mode: the exact case (linear) and the
/// trained models, mean over replicates / seeds with 95% t intervals.
pub fn expectation_table(lin: &LinearMc, runs: &[DropoutRun], passes: &[usize]) -> Table {
    let mut t = kit::estimate_table(&["case", "passes"], &["relative_error"]);
    let mut push = |case: &str, k: usize, e: Vec<f64>| {
        let keys = vec![case.to_string(), k.to_string()];
        kit::push_estimates(&mut t, keys, &[stats::mean_ci(&e, 0.95)]);
    };
    for (i, &k) in lin.passes.iter().enumerate() {
        let e = lin.errors.iter().map(|r| r[i]).collect();
        push("inverted dropout + linear (exact)", k, e);
    }
    for (i, &k) in passes.iter().enumerate() {
        let e = runs.iter().map(|r| r.nonlinear[i]).collect();
        push("inverted dropout, trained Transformer (approximate)", k, e);
    }
    t
}

/// One row per trained model: loss and accuracy with dropout off and on.
pub fn modes_table(seeds: &[u64], runs: &[DropoutRun]) -> Table {
    let mut t = Table::new(&[
        "seed",
        "loss_off",
        "acc_off",
        "loss_on",
        "acc_on",
        "flip_share",
    ]);
    for (s, r) in seeds.iter().zip(runs) {
        let m = &r.modes;
        t.push(row![
            *s,
            m.loss_off,
            m.acc_off,
            m.loss_on,
            m.acc_on,
            m.flip_share
        ]);
    }
    t
}

/// Mean over seeds of one metric with dropout off and on (95% t intervals).
pub fn test_mode_table(metric: &str, off: &[f64], on: &[f64]) -> Table {
    let mut t = kit::estimate_table(&["mode"], &[metric]);
    kit::push_estimates(
        &mut t,
        vec!["dropout off (eval)".into()],
        &[stats::mean_ci(off, 0.95)],
    );
    kit::push_estimates(
        &mut t,
        vec!["dropout on at test".into()],
        &[stats::mean_ci(on, 0.95)],
    );
    t
}

/// The warmup charts: the decided effect (shown first), final losses against both
/// failure lines, and the Post-LN failure share by peak rate.
pub fn warmup_charts(layers: usize, seeds: usize, margin: f64, lines: [f64; 2]) -> Vec<ChartSpec> {
    vec![
        ChartSpec::bars(
            "warmup_effect.png",
            "warmup_effect.csv",
            &format!(
                "Warmup's effect on final loss, {layers}-block models (mean, 95% CI over {})",
                plural(seeds, "seed", "seeds")
            ),
            "peak_lr",
            &["warmup_effect"],
        )
        .interval("warmup_effect", "warmup_effect_lo", "warmup_effect_hi")
        .series("effect")
        .reference(
            margin,
            &format!("margin {} · ln V (Post-LN minus Pre-LN)", num(margin)),
        )
        .reference(0.0, "no effect")
        .labels(
            "peak learning rate",
            "loss without − with warmup, in units of ln V",
        ),
        ChartSpec::bars(
            "warmup_loss.png",
            "warmup_summary.csv",
            &format!(
                "{layers}-block models: final held-out loss / ln V (median, min..max over seeds)"
            ),
            "group",
            &["median"],
        )
        .interval("median", "min", "max")
        .series("schedule")
        .reference(
            lines[0],
            &format!("failure line {} · ln V (declared)", num(lines[0])),
        )
        .reference(lines[1], &format!("stricter line {} · ln V", num(lines[1])))
        .y_range(0.0, 1.2)
        .labels("placement, peak learning rate", "final loss / ln V"),
        ChartSpec::bars(
            "lr_sweep.png",
            "lr_sweep_summary.csv",
            "Post-LN without warmup: share of runs failed, by peak learning rate",
            "peak_lr",
            &["failure_share"],
        )
        .series("line")
        .series_format("failure: {}")
        .y_range(0.0, 1.0)
        .labels("peak learning rate", "share of runs failed"),
    ]
}

/// The dropout charts: expectation against K, and test-time accuracy and loss.
pub fn dropout_charts(p: f64, seeds: usize, vocab: usize, tolerance: f64) -> Vec<ChartSpec> {
    let ln_v = (vocab as f64).ln();
    let test = |metric: &str, png: &str, hi: f64| {
        let csv = format!("dropout_test_{metric}.csv");
        ChartSpec::bars(
            png,
            &csv,
            &format!(
                "Models trained with dropout {}: held-out {metric} (mean, 95% CI over {})",
                num(p),
                plural(seeds, "seed", "seeds")
            ),
            "mode",
            &[metric],
        )
        .interval(metric, &format!("{metric}_lo"), &format!("{metric}_hi"))
        .y_range(0.0, hi)
        .labels("at test time", &format!("held-out {metric}"))
    };
    vec![
        ChartSpec::line(
            "dropout_expectation.png",
            "dropout_expectation.csv",
            "Mean of K train-mode passes against the eval-mode output",
            "passes",
            &["relative_error"],
        )
        .interval("relative_error", "relative_error_lo", "relative_error_hi")
        .series("case")
        .log_x()
        .log_y()
        .reference(tolerance, "tolerance at K = 10 000 (exact case)")
        .labels("train-mode passes K", "‖mean − eval‖ / ‖eval‖"),
        test("accuracy", "dropout_test.png", 1.0)
            .reference(1.0 / vocab as f64, &format!("chance 1/{vocab}")),
        test("loss", "dropout_test_loss.png", ln_v).reference(ln_v, "ln V (uniform output)"),
    ]
}

/// The section the question asks for: the schedule with its constants, where dropout
/// sits, what changes at test time. `peak`: the schedule's peak at d_model 512;
/// `acc_cost`: measured accuracy lost with dropout left on.
pub fn settings_section(peak: f64, acc_cost: f64) -> String {
    format!(
        "**Learning rate** (Vaswani et al. 2017, 5.3):\n\n\
$$\\text{{lrate}} = d_{{\\text{{model}}}}^{{-0.5}} \\cdot \\min\\left(\\text{{step}}^{{-0.5}},\\ \\text{{step}} \\cdot \\text{{warmup}}^{{-1.5}}\\right)$$\n\n\
with warmup = 4000 steps: the rate rises linearly for 4000 steps, peaks at step 4000 at {} for d_model = 512 \
(computed here; the paper's value is 6.99e−4), then decays as step^−0.5. Optimizer: Adam with β₁ = 0.9, β₂ = 0.98, \
ε = 1e−9. Warmup matters most for the original Post-LN arrangement (Xiong et al. 2020; Q20.L1).\n\n\
**Dropout** (5.4): P_drop = 0.1 in the base model (0.3 for the big English–German model), applied\n\
- to the output of each sublayer (attention, feed-forward), before it is added to the residual and normalized: \
LN(x + Dropout(Sublayer(x)));\n\
- to the sums of token embeddings and positional encodings, in encoder and decoder.\n\n\
This code's placement is checked against a hand-written forward pass (Q20.L2).\n\n\
**At test time** dropout is switched off. With inverted dropout (kept units scaled by 1/(1 − p) during training, \
as in PyTorch and here) the network is used unchanged; with the original formulation the weights must be \
multiplied by (1 − p) at test. Through one linear layer the eval output is exactly the mean over dropout masks; \
through a nonlinear network only approximately (Q20.L3). Leaving dropout on at test makes predictions random and \
costs accuracy (here {} on average).",
        num(peak),
        num(acc_cost)
    )
}

/// A number with its sign written out: "+0.42", "−0.15".
pub fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", num(x))
    } else {
        num(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_are_written_out() {
        assert_eq!(signed(0.424), "+0.424");
        assert_eq!(signed(-0.147), "−0.147");
        assert_eq!(signed(0.0), "0");
    }

    #[test]
    fn paper_peak_at_warmup() {
        let p = schedule_peak(512, 4000);
        assert_eq!(p.step, 4000);
        assert!((p.value - 6.99e-4).abs() / 6.99e-4 < 1e-3);
    }

    #[test]
    fn arms_read_as_words() {
        let a = grid(&[0.01]);
        assert_eq!(a.len(), 4);
        assert_eq!(a[0].to_string(), "Post-LN, no warmup, lr 0.01");
        assert_eq!(a[3].to_string(), "Pre-LN, warmup, lr 0.01");
    }

    #[test]
    fn linear_mc_error_falls_like_monte_carlo() {
        let m = linear_mc(64, 16, 0.1, &[10, 100, 1000, 10_000], 2, 0).unwrap();
        for s in &m.slopes {
            assert!((-0.75..=-0.25).contains(s), "slope {s}");
        }
        assert!(m.errors.iter().all(|e| e[3] < 0.03));
        assert!((m.unscaled_err - 0.1).abs() < 0.03);
    }
}
