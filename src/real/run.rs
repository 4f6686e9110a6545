//! Training one arm on one seed, with a per-run record on disk so an interrupted track
//! resumes where it stopped and arms shared by several claims train once.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Device;

use crate::core::params::Params;
use crate::core::positional::{pos_model, PosModelConfig};
use crate::output::atomic;
use crate::train::task::{Batch, Task};
use crate::train::trainer::{evaluate, train_on, SeqModel, TrainLog};

use super::arms::{Arm, Family, Plan};
use super::corpus::{CharCorpus, MaskedLines, Windows};
use super::lm::{lm, PosLm};

/// What one run leaves: the losses the claims are decided on and the curve.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    pub arm: String,
    pub seed: u64,
    /// The arm's resolved configuration (a cached record is reused only if it matches).
    pub config: serde_json::Value,
    /// Held-out loss at the end (nats per character); a diverged run counts as ln V.
    pub final_loss: f64,
    /// Mean held-out loss over the evaluations (area under the loss curve).
    pub loss_area: f64,
    /// Held-out loss past the training length (position models that can extrapolate).
    pub long_loss: Option<f64>,
    pub diverged: bool,
    /// (step, held-out loss).
    pub curve: Vec<(usize, f64)>,
    /// Wall-clock seconds (data, never a decision).
    pub seconds: f64,
}

/// The data every arm draws from.
pub struct Data {
    pub corpus: CharCorpus,
    pub train_lines: Vec<Vec<u32>>,
    pub held_lines: Vec<Vec<u32>>,
}

impl Data {
    pub fn new(text: &str, plan: &Plan) -> Self {
        let corpus = CharCorpus::new(text);
        let train_lines = corpus.lines(&corpus.train, 1, plan.lines_max);
        let held_lines = corpus.lines(&corpus.held, 1, plan.lines_max);
        Self {
            corpus,
            train_lines,
            held_lines,
        }
    }
}

fn record_path(dir: &Path, arm: &str, seed: u64) -> PathBuf {
    dir.join(format!("{arm}-seed{seed}.json"))
}

/// The record of `arm` on `seed`: read from `runs_dir` when it exists with the same
/// configuration, otherwise trained and written there.
pub fn run_cached(
    arm: &Arm,
    seed: u64,
    plan: &Plan,
    data: &Data,
    runs_dir: &Path,
    say: &dyn Fn(&str),
) -> Result<RunRecord> {
    let config = serde_json::json!({ "arm": arm, "plan": plan });
    let p = record_path(runs_dir, &arm.name, seed);
    if let Ok(text) = std::fs::read_to_string(&p) {
        if let Ok(r) = serde_json::from_str::<RunRecord>(&text) {
            if r.config == config {
                return Ok(r);
            }
        }
    }
    let t0 = Instant::now();
    let mut r = run(arm, seed, plan, data).with_context(|| format!("{} seed {seed}", arm.name))?;
    r.seconds = t0.elapsed().as_secs_f64();
    r.config = config;
    say(&format!(
        "{} seed {seed}: held-out loss {:.4}{} in {:.0} s",
        arm.name,
        r.final_loss,
        if r.diverged { " (diverged)" } else { "" },
        r.seconds
    ));
    atomic::write_json(&p, &r)?;
    Ok(r)
}

/// A run's model, training task, held-out batches and (position models) the batches
/// past the training length.
type Setup<'a> = (
    Box<dyn SeqModel>,
    Box<dyn Task + 'a>,
    Vec<Batch>,
    Option<Vec<Batch>>,
);

fn run(arm: &Arm, seed: u64, plan: &Plan, data: &Data) -> Result<RunRecord> {
    let dev = Device::Cpu;
    let c = &data.corpus;
    let ln_v = (c.vocab() as f64).ln();
    let params = Params::new(seed);
    let mut lmc = arm.lm;
    lmc.dropout_seed = seed;
    let per = plan.batch;
    let (model, task, eval, long): Setup<'_> = match arm.family {
        Family::Causal | Family::Positions(_) => {
            let task = Windows {
                ids: &c.train,
                len: plan.seq,
                vocab: c.vocab(),
            };
            let held = Windows {
                ids: &c.held,
                len: plan.seq,
                vocab: c.vocab(),
            };
            let eval = held.fixed(plan.eval_windows, per, 0, &dev)?;
            match arm.family {
                Family::Positions(pos) => {
                    let cfg = PosModelConfig {
                        vocab_in: c.vocab(),
                        vocab_out: c.vocab(),
                        max_len: lmc.max_len,
                        d_model: lmc.layer.attn.d_model,
                        heads: lmc.layer.attn.heads,
                        layers: lmc.layers,
                        d_ff: lmc.layer.d_ff,
                        pos,
                        rope_base: 10000.0,
                        rel_max_dist: plan.seq,
                        causal: true,
                    };
                    let long = (lmc.max_len >= plan.long_seq)
                        .then(|| {
                            Windows {
                                ids: &c.held,
                                len: plan.long_seq,
                                vocab: c.vocab(),
                            }
                            .fixed(
                                plan.long_windows,
                                per,
                                plan.seq,
                                &dev,
                            )
                        })
                        .transpose()?;
                    let m = PosLm(pos_model(cfg, params.vb())?);
                    (Box::new(m), Box::new(task), eval, long)
                }
                _ => (Box::new(lm(lmc, params.vb())?), Box::new(task), eval, None),
            }
        }
        Family::Masked => {
            let mk = |lines| MaskedLines {
                lines,
                max_len: plan.lines_max,
                vocab: c.vocab(),
                pad: c.pad(),
                mask: c.mask(),
                rate: plan.mask_rate,
            };
            let eval = mk(&data.held_lines).fixed(plan.eval_windows * 2, plan.lines_batch, &dev)?;
            (
                Box::new(lm(lmc, params.vb())?),
                Box::new(mk(&data.train_lines)),
                eval,
                None,
            )
        }
    };
    let log: TrainLog = train_on(
        model.as_ref(),
        &params,
        task.as_ref(),
        &eval,
        &arm.train,
        seed,
        |_| {},
    )?;
    let diverged = log.diverged || !log.final_loss().is_finite();
    let cap = |x: f64| if x.is_finite() { x } else { ln_v };
    let mut curve: Vec<(usize, f64)> = log.eval.iter().map(|e| (e.0, cap(e.1))).collect();
    if diverged {
        // A diverged run stops early: the rest of its curve is the loss of a uniform guess.
        curve.retain(|e| e.0 % arm.train.eval_every.max(1) == 0 && e.0 < arm.train.steps);
        let every = arm.train.eval_every.max(1);
        let first = curve.last().map_or(every, |e| e.0 + every);
        curve.extend((first..arm.train.steps).step_by(every).map(|s| (s, ln_v)));
        curve.push((arm.train.steps, ln_v));
    }
    let final_loss = if diverged { ln_v } else { log.final_loss() };
    let loss_area = curve.iter().map(|e| e.1).sum::<f64>() / curve.len().max(1) as f64;
    let long_loss = match (&long, diverged) {
        (Some(b), false) => Some(evaluate(model.as_ref(), b)?.0),
        (Some(_), true) => Some(ln_v),
        _ => None,
    };
    Ok(RunRecord {
        arm: arm.name.clone(),
        seed,
        config: serde_json::Value::Null,
        final_loss,
        loss_area,
        long_loss,
        diverged,
        curve,
        seconds: 0.0,
    })
}
