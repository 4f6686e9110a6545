//! The one training loop: AdamW, a learning-rate schedule, periodic evaluation on a
//! fixed held-out set, curves recorded; a diverged run (non-finite loss) is recorded
//! as data and stops early instead of panicking.

use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::{Optimizer, ParamsAdamW};

use crate::core::fused::AdamW;
use serde::Serialize;

use super::schedule::Schedule;
use super::task::{Batch, Task};
use crate::core::params::Params;
use crate::rng::seeded;

/// A model that maps a batch to logits (B, T, classes).
pub trait SeqModel {
    fn logits(&self, b: &Batch, train: bool) -> Result<Tensor>;
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub weight_decay: f64,
    pub beta2: f64,
    pub schedule: Schedule,
    /// Evaluate every this many steps (and at the end).
    pub eval_every: usize,
    /// Held-out sequences for evaluation (drawn once, from a stream of their own).
    pub eval_size: usize,
    /// Loss above this (or non-finite) counts as divergence.
    pub diverge_loss: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 200,
            batch: 32,
            lr: 3e-3,
            weight_decay: 0.0,
            beta2: 0.999,
            schedule: Schedule::Constant,
            eval_every: 25,
            eval_size: 256,
            diverge_loss: 1e4,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TrainLog {
    /// (step, train loss) at every step.
    pub train_loss: Vec<(usize, f64)>,
    /// (step, eval loss, eval accuracy) at each evaluation.
    pub eval: Vec<(usize, f64, f64)>,
    pub diverged: bool,
}

impl TrainLog {
    pub fn final_acc(&self) -> f64 {
        self.eval.last().map(|e| e.2).unwrap_or(f64::NAN)
    }
    pub fn final_loss(&self) -> f64 {
        self.eval.last().map(|e| e.1).unwrap_or(f64::NAN)
    }
    /// Mean eval accuracy over all evaluations: area under the learning curve.
    pub fn auc(&self) -> f64 {
        if self.eval.is_empty() {
            return f64::NAN;
        }
        self.eval.iter().map(|e| e.2).sum::<f64>() / self.eval.len() as f64
    }
}

/// Weighted mean cross-entropy and (correct, scored) counts.
pub fn masked_loss(logits: &Tensor, b: &Batch) -> Result<(Tensor, f64, f64)> {
    let v = logits.dim(D::Minus1)?;
    let logits = logits.reshape(((), v))?;
    let y = b.y.flatten_all()?;
    let w = b.weight.flatten_all()?;
    let nll = crate::core::fused::cross_entropy_rows(&logits, &y)?;
    let total = w.sum_all()?;
    let loss = (nll * &w)?.sum_all()?.broadcast_div(&total)?;
    let pred = logits.argmax(D::Minus1)?;
    let correct = (pred.eq(&y)?.to_dtype(DType::F32)? * &w)?
        .sum_all()?
        .to_scalar::<f32>()? as f64;
    Ok((loss, correct, total.to_scalar::<f32>()? as f64))
}

/// The core encoder on token batches, with no attention mask.
impl SeqModel for crate::core::Encoder {
    fn logits(&self, b: &Batch, train: bool) -> Result<Tensor> {
        self.forward_t(
            &b.x,
            &crate::core::LayerCtx {
                train,
                ..Default::default()
            },
        )
    }
}

/// Loss and accuracy over a fixed set of batches, in eval mode.
pub fn evaluate(model: &dyn SeqModel, batches: &[Batch]) -> Result<(f64, f64)> {
    let (mut l, mut c, mut n) = (0.0, 0.0, 0.0);
    for b in batches {
        let (loss, correct, total) = masked_loss(&model.logits(b, false)?, b)?;
        l += loss.to_scalar::<f32>()? as f64 * total;
        c += correct;
        n += total;
    }
    Ok((l / n, c / n))
}

/// Train `model` (whose variables are in `params`) on `task`. Data come from `seed`
/// (stream 2 for training batches, 3 for the held-out set).
pub fn train(
    model: &dyn SeqModel,
    params: &Params,
    task: &dyn Task,
    cfg: &TrainConfig,
    seed: u64,
) -> Result<TrainLog> {
    train_with(model, params, task, cfg, seed, |_| {})
}

/// As [`train`], calling `on_step(step)` after every step (for progress bars).
pub fn train_with(
    model: &dyn SeqModel,
    params: &Params,
    task: &dyn Task,
    cfg: &TrainConfig,
    seed: u64,
    on_step: impl FnMut(usize),
) -> Result<TrainLog> {
    let dev: Device = params.device().clone();
    let mut held = seeded(seed, 3);
    let eval_batches: Vec<Batch> = {
        let per = cfg.batch.max(1).min(cfg.eval_size.max(1));
        let k = cfg.eval_size.div_ceil(per);
        (0..k)
            .map(|_| task.batch(&mut held, per, &dev))
            .collect::<Result<_>>()?
    };
    train_on(model, params, task, &eval_batches, cfg, seed, on_step)
}

/// As [`train_with`], evaluating on the given batches instead of drawing a held-out
/// set from `task` (real data: the held-out text is not where training batches come
/// from). Training batches come from `seed`, stream 2.
pub fn train_on(
    model: &dyn SeqModel,
    params: &Params,
    task: &dyn Task,
    eval_batches: &[Batch],
    cfg: &TrainConfig,
    seed: u64,
    mut on_step: impl FnMut(usize),
) -> Result<TrainLog> {
    let dev: Device = params.device().clone();
    let mut data = seeded(seed, 2);
    let mut opt = AdamW::new(
        params.vars(),
        ParamsAdamW {
            lr: cfg.lr,
            beta1: 0.9,
            beta2: cfg.beta2,
            eps: 1e-8,
            weight_decay: cfg.weight_decay,
        },
    )?;
    let mut log = TrainLog::default();
    for step in 1..=cfg.steps {
        opt.set_learning_rate(cfg.lr * cfg.schedule.factor(step));
        let b = task.batch(&mut data, cfg.batch, &dev)?;
        let (loss, _, _) = masked_loss(&model.logits(&b, true)?, &b)?;
        let lv = loss.to_scalar::<f32>()? as f64;
        log.train_loss.push((step, lv));
        if !lv.is_finite() || lv > cfg.diverge_loss {
            log.diverged = true;
            let (el, ea) = evaluate(model, eval_batches).unwrap_or((f64::NAN, 0.0));
            log.eval
                .push((step, el, if el.is_finite() { ea } else { 0.0 }));
            on_step(cfg.steps);
            break;
        }
        opt.backward_step(&loss)?;
        if step % cfg.eval_every.max(1) == 0 || step == cfg.steps {
            let (el, ea) = evaluate(model, eval_batches)?;
            log.eval.push((step, el, ea));
        }
        on_step(step);
    }
    Ok(log)
}

/// Which trainable variables get a zero (or missing) gradient from `loss`: the names.
pub fn vars_without_gradient(params: &Params, loss: &Tensor) -> Result<Vec<String>> {
    let grads = loss.backward()?;
    let mut dead = vec![];
    for (name, v) in params.named_vars() {
        let ok = match grads.get(v.as_tensor()) {
            Some(g) => g.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0,
            None => false,
        };
        if !ok {
            dead.push(name);
        }
    }
    Ok(dead)
}
