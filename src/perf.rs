//! Speed of the model core (`harness bench`): the reference training step split into
//! forward, backward and optimizer; attention forward+backward at a few sizes; f32
//! matmul throughput. Times are medians over repeated runs after a warm-up; results go
//! to `results/perf/` as `timing_*.csv` with charts drawn from them.
//!
//! The reference step (also implemented in JAX and PyTorch under `bench/`, for a side-by-side
//! ratio): token batch 32 × 64, d_model 128, 4 heads, 2 Post-LN encoder layers,
//! d_ff 512 with GELU, vocabulary 64, f32, cross-entropy on every position, AdamW.

use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::core::{encoder, Activation, EncoderConfig, LayerConfig, LayerCtx, Params};
use crate::rng::{index_vec, randn, seeded};
use crate::train::task::Batch;
use crate::train::trainer::masked_loss;

/// Sizes of the reference step.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct StepConfig {
    pub batch: usize,
    pub seq: usize,
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub d_ff: usize,
    pub vocab: usize,
}

impl Default for StepConfig {
    fn default() -> Self {
        Self {
            batch: 32,
            seq: 64,
            d_model: 128,
            heads: 4,
            layers: 2,
            d_ff: 512,
            vocab: 64,
        }
    }
}

impl StepConfig {
    /// Approximate FLOPs of one training step (forward ×3 for forward+backward).
    pub fn flops(&self) -> f64 {
        let (b, t, d, f, v) = (
            self.batch as f64,
            self.seq as f64,
            self.d_model as f64,
            self.d_ff as f64,
            self.vocab as f64,
        );
        let per_layer = 2.0 * b * t * (4.0 * d * d + 2.0 * d * f) + 2.0 * 2.0 * b * t * t * d;
        3.0 * (self.layers as f64 * per_layer + 2.0 * b * t * d * v)
    }
}

/// Median seconds of (forward, backward, optimizer, whole step) over `reps` steps.
pub fn reference_step(cfg: StepConfig, warmup: usize, reps: usize) -> Result<[f64; 4]> {
    let dev = Device::Cpu;
    let params = Params::new(0);
    let mut layer = LayerConfig::new(cfg.d_model, cfg.heads);
    layer.d_ff = cfg.d_ff;
    layer.act = Activation::Gelu;
    let model = encoder(
        EncoderConfig::new(cfg.vocab, cfg.seq, cfg.layers, layer),
        params.vb(),
    )?;
    let mut r = seeded(0, 7);
    let n = cfg.batch * cfg.seq;
    let b = Batch::from_vecs(
        index_vec(&mut r, n, cfg.vocab),
        index_vec(&mut r, n, cfg.vocab),
        vec![1.0; n],
        cfg.batch,
        cfg.seq,
        None,
        &dev,
    )?;
    let mut opt = AdamW::new(
        params.vars(),
        ParamsAdamW {
            lr: 1e-3,
            ..Default::default()
        },
    )?;
    let mut times: [Vec<f64>; 4] = Default::default();
    for i in 0..warmup + reps {
        let t0 = Instant::now();
        let logits = model.forward_t(
            &b.x,
            &LayerCtx {
                train: true,
                ..Default::default()
            },
        )?;
        let (loss, _, _) = masked_loss(&logits, &b)?;
        let _ = loss.to_scalar::<f32>()?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        opt.step(&grads)?;
        let t3 = Instant::now();
        if i >= warmup {
            for (k, (a, z)) in [(t0, t1), (t1, t2), (t2, t3), (t0, t3)]
                .into_iter()
                .enumerate()
            {
                times[k].push((z - a).as_secs_f64());
            }
        }
    }
    Ok(times.map(|v| crate::stats::median(&v)))
}

/// Median seconds of one scaled dot-product attention forward+backward on (b, h, n, d_k).
pub fn attention_fwd_bwd(b: usize, h: usize, n: usize, d_k: usize, reps: usize) -> Result<f64> {
    let dev = Device::Cpu;
    let mut r = seeded(1, 8);
    let mk = |r: &mut crate::rng::Rng64| -> Result<candle_core::Var> {
        Ok(candle_core::Var::from_tensor(&randn(
            r,
            &[b, h, n, d_k],
            1.0,
            &dev,
        )?)?)
    };
    let (q, k, v) = (mk(&mut r)?, mk(&mut r)?, mk(&mut r)?);
    let mut ts = vec![];
    for i in 0..reps + 1 {
        let t0 = Instant::now();
        let (o, _) = crate::core::scaled_dot_product(
            q.as_tensor(),
            k.as_tensor(),
            v.as_tensor(),
            None,
            1.0 / (d_k as f64).sqrt(),
        )?;
        let g = o.sum_all()?.backward()?;
        drop(g);
        if i > 0 {
            ts.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok(crate::stats::median(&ts))
}

/// f32 GFLOP/s of an n×n by n×n matmul (median of `reps`).
pub fn matmul_gflops(n: usize, reps: usize) -> Result<f64> {
    let dev = Device::Cpu;
    let mut r = seeded(2, 9);
    let a = randn(&mut r, &[n, n], 1.0, &dev)?;
    let b = randn(&mut r, &[n, n], 1.0, &dev)?;
    let mut ts = vec![];
    for i in 0..reps + 1 {
        let t0 = Instant::now();
        let c: Tensor = a.matmul(&b)?;
        drop(c);
        if i > 0 {
            ts.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok(2.0 * (n as f64).powi(3) / crate::stats::median(&ts) / 1e9)
}
