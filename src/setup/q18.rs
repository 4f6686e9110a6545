//! Setup of question 18: the core's encoder–decoder at random initialization, greedy
//! decoding step by step (with and without the key/value cache), one teacher-forced
//! pass with the causal mask, the dependency probe, and a thread-CPU clock.

use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, D};
use serde::Serialize;

use crate::core::*;
use crate::rng::{index_vec, seeded};

#[derive(Serialize)]
pub struct Config {
    /// Model width, heads, layers (encoder and decoder each); Post-LN.
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    /// Source and target vocabulary; token 0 is BOS.
    pub vocab: usize,
    /// Sentences decoded together.
    pub batch: usize,
    /// Source length.
    pub src_len: usize,
    /// Decoded length for the equality and dependency probes, and models checked.
    pub eq_len: usize,
    pub eq_instances: usize,
    /// Decoded lengths n timed.
    pub ns: Vec<usize>,
    /// Timing repeats per (n, method), interleaved, after one warm-up; the fastest
    /// repeat is the cost estimate (robust to a busy machine), the median is reported.
    pub repeats: usize,
    /// Clock: the thread's CPU time ("thread_cpu", clock_gettime), falling back to
    /// wall time where unavailable. Wall time is reported beside it.
    pub clock: &'static str,
    /// Threads the matrix kernels may use while timing. One thread: the comparison is
    /// then about n sequential steps against one batched pass, not about thread
    /// scheduling on a shared machine.
    pub timing_threads: usize,
}

impl Config {
    pub fn new(quick: bool) -> Self {
        let pick = |q, f| if quick { q } else { f };
        Config {
            d_model: 32,
            heads: 4,
            layers: 2,
            vocab: 16,
            batch: 4,
            src_len: 16,
            eq_len: pick(24, 64),
            eq_instances: pick(3, 10),
            ns: if quick {
                vec![8, 16, 32, 64]
            } else {
                vec![8, 16, 32, 64, 128]
            },
            repeats: pick(5, 7),
            clock: if thread_cpu_s().is_some() {
                "thread_cpu"
            } else {
                "wall"
            },
            timing_threads: 1,
        }
    }

    pub fn model(&self, seed: u64) -> Result<EncoderDecoder> {
        let layer = LayerConfig::new(self.d_model, self.heads);
        let max_len = self
            .ns
            .iter()
            .copied()
            .chain([self.eq_len, self.src_len])
            .max()
            .unwrap_or(1)
            + 1;
        let cfg = EncDecConfig::new(self.vocab, self.vocab, max_len, self.layers, layer);
        Ok(seeded_encoder_decoder(cfg, seed)?.1)
    }

    /// Instance `inst`: a model and the encoder memory of a random source batch.
    pub fn instance(&self, seed: u64, inst: u64) -> Result<(EncoderDecoder, Tensor)> {
        let m = self.model(seed * 1000 + inst)?;
        let mut r = seeded(seed, inst);
        let src = Tensor::from_vec(
            index_vec(&mut r, self.batch * self.src_len, self.vocab),
            (self.batch, self.src_len),
            &Device::Cpu,
        )?;
        let memory = m.memory(&src, &LayerCtx::default())?;
        Ok((m, memory))
    }
}

pub fn bos(b: usize) -> Result<Tensor> {
    Ok(Tensor::zeros((b, 1), DType::U32, &Device::Cpu)?)
}

/// Greedy decoding of n tokens.
pub struct Decoded {
    /// The decoder inputs (B, n): BOS and the first n−1 outputs.
    pub inputs: Tensor,
    /// The step logits (B, n, V).
    pub logits: Tensor,
}

pub fn greedy(m: &EncoderDecoder, memory: &Tensor, n: usize, cached: bool) -> Result<Decoded> {
    let b = memory.dim(0)?;
    let mut inputs = vec![bos(b)?];
    let mut logits = vec![];
    let mut cache = if cached {
        Some(m.init_cache(memory)?)
    } else {
        None
    };
    for t in 0..n {
        let l = match cache.as_mut() {
            Some(c) => m.step(&inputs[t], c)?,
            None => m.step_uncached(&Tensor::cat(&inputs, 1)?, memory)?,
        };
        let next = l.argmax(D::Minus1)?; // (B, 1)
        logits.push(l);
        if t + 1 < n {
            inputs.push(next);
        }
    }
    Ok(Decoded {
        inputs: Tensor::cat(&inputs, 1)?,
        logits: Tensor::cat(&logits, 1)?,
    })
}

/// One teacher-forced pass with the causal mask over given decoder inputs.
pub fn one_pass(m: &EncoderDecoder, memory: &Tensor, inputs: &Tensor) -> Result<Tensor> {
    let causal = Mask::causal(inputs.dim(1)?).to_attn(&Device::Cpu)?;
    let c = DecoderCtx {
        self_mask: Some(&causal),
        ..Default::default()
    };
    Ok(m.logits(inputs, memory, &c)?)
}

/// Dependency probe on one decoded sequence: change the token fed at step t (t ≥ 1)
/// and recompute step t; returns the max abs logit change per (step, sentence).
pub fn dependency(
    m: &EncoderDecoder,
    memory: &Tensor,
    dec: &Decoded,
    vocab: usize,
) -> Result<Vec<f64>> {
    let v = dec.inputs.to_vec2::<u32>()?;
    let n = v[0].len();
    let mut out = vec![];
    for t in 1..n {
        let mut alt = v.clone();
        for row in alt.iter_mut() {
            row[t] = (row[t] + 1) % vocab as u32;
        }
        let alt = Tensor::new(alt, &Device::Cpu)?.narrow(1, 0, t + 1)?;
        let l = m.step_uncached(&alt, memory)?;
        let d = (l - dec.logits.narrow(1, t, 1)?)?
            .abs()?
            .max(D::Minus1)?
            .flatten_all()?;
        out.extend(d.to_vec1::<f32>()?.into_iter().map(|x| x as f64));
    }
    Ok(out)
}

/// Parallel (Jacobi) passes from BOS + placeholder tokens until the greedy output is
/// reached, per sentence (the changing passes plus the one that confirms).
pub fn jacobi_passes(m: &EncoderDecoder, memory: &Tensor, n: usize) -> Result<Vec<usize>> {
    let b = memory.dim(0)?;
    let mut cur = Tensor::zeros((b, n), DType::U32, &Device::Cpu)?;
    let mut last_change = vec![0usize; b];
    for it in 1..=n + 1 {
        let pred = one_pass(m, memory, &cur)?.argmax(D::Minus1)?;
        let next = Tensor::cat(&[&bos(b)?, &pred.narrow(1, 0, n - 1)?], 1)?;
        let (a, bb) = (cur.to_vec2::<u32>()?, next.to_vec2::<u32>()?);
        for (row, (x, y)) in a.iter().zip(&bb).enumerate() {
            if x != y {
                last_change[row] = it;
            }
        }
        cur = next;
        if a == bb {
            break;
        }
    }
    Ok(last_change.into_iter().map(|l| l + 1).collect())
}

/// CPU time of the calling thread in seconds (clock_gettime(CLOCK_THREAD_CPUTIME_ID)
/// on Linux), or None elsewhere. On one thread this is the work done, unaffected by
/// other processes preempting us on a busy machine.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn thread_cpu_s() -> Option<f64> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn thread_cpu_s() -> Option<f64> {
    None
}

/// Seconds by the thread CPU clock where available, else wall clock.
pub struct Clock {
    wall: Instant,
    cpu: Option<f64>,
}

impl Clock {
    pub fn start() -> Self {
        Clock {
            cpu: thread_cpu_s(),
            wall: Instant::now(),
        }
    }
    /// (clock seconds, wall seconds)
    pub fn elapsed(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        match (self.cpu, thread_cpu_s()) {
            (Some(a), Some(b)) => (b - a, wall),
            _ => (wall, wall),
        }
    }
}

/// What is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    OnePass,
    Cached,
    Uncached,
}

pub const METHODS: [Method; 3] = [Method::OnePass, Method::Cached, Method::Uncached];

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::OnePass => "one teacher-forced pass",
            Method::Cached => "n steps, key/value cache",
            Method::Uncached => "n steps, no cache",
        })
    }
}

/// Times of every (n, method): [n index][method] → (clock seconds, wall seconds) per
/// repeat. Methods are interleaved in rotating order; the first round is a warm-up.
pub type Times = Vec<Vec<Vec<(f64, f64)>>>;

pub fn time_methods(cfg: &Config, seed: u64, mut tick: impl FnMut()) -> Result<Times> {
    let m = cfg.model(seed * 1000 + 999)?;
    let mut r = seeded(seed, 999);
    let src = Tensor::from_vec(
        index_vec(&mut r, cfg.batch * cfg.src_len, cfg.vocab),
        (cfg.batch, cfg.src_len),
        &Device::Cpu,
    )?;
    let memory = m.memory(&src, &LayerCtx::default())?;
    let prev_threads = std::env::var("RAYON_NUM_THREADS").ok();
    // candle reads this variable on every matrix product (candle_core::utils).
    std::env::set_var("RAYON_NUM_THREADS", cfg.timing_threads.to_string());
    let mut times: Times = vec![vec![vec![]; METHODS.len()]; cfg.ns.len()];
    for rep in 0..cfg.repeats + 1 {
        for (ni, &n) in cfg.ns.iter().enumerate() {
            // The one pass runs over the sequence greedy decoding produced.
            let inputs = greedy(&m, &memory, n, true)?.inputs;
            for k in 0..METHODS.len() {
                let meth = (k + rep + ni) % METHODS.len();
                let t0 = Clock::start();
                match METHODS[meth] {
                    Method::OnePass => drop(one_pass(&m, &memory, &inputs)?),
                    Method::Cached => drop(greedy(&m, &memory, n, true)?),
                    Method::Uncached => drop(greedy(&m, &memory, n, false)?),
                }
                if rep > 0 {
                    times[ni][meth].push(t0.elapsed());
                }
            }
            tick();
        }
    }
    match prev_threads {
        Some(v) => std::env::set_var("RAYON_NUM_THREADS", v),
        None => std::env::remove_var("RAYON_NUM_THREADS"),
    }
    Ok(times)
}
