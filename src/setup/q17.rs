//! Setup of question 17: one self-attention layer (the core's) against one LSTM and
//! one GRU layer of the same width (candle-nn's), forward and backward of a (B, n, d)
//! input. The dependency depth is counted along the data flow: every recurrent state
//! carries the length of the chain of `step` calls that produced it (candle-nn's `seq`
//! feeds step t the state step t−1 returned), while self-attention's one call reads
//! only the input. Wall-clock times come from child processes of the experiment's
//! binary, run with a given number of threads.

use std::fmt;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor, Var};
use candle_nn::rnn::{GRUConfig, LSTMConfig, RNN};
use serde::{Deserialize, Serialize};

use crate::core::*;
use crate::rng::{randn, seeded};

/// The hidden flag that makes the binary a timing child (first argument).
pub const CHILD_FLAG: &str = "--q17-timing-child";

#[derive(Serialize, Deserialize, Clone)]
pub struct Grid {
    /// Sequence lengths n.
    pub ns: Vec<usize>,
    /// Layer widths d (each among the n, so that Table 1's crossover n = d is timed).
    pub widths: Vec<usize>,
    /// Batch size B. One sequence: then the only parallel dimension besides the width
    /// is the sequence itself, which self-attention can use and a recurrence cannot.
    pub batch: usize,
    /// Attention heads (d_k = d / heads).
    pub heads: usize,
    /// Untimed warm-up runs, then at least `repeats` timed repeats per (d, n), more
    /// (up to `max_repeats`) while the cell has taken less than `cell_budget_s`.
    pub warmup: usize,
    pub repeats: usize,
    pub max_repeats: usize,
    pub cell_budget_s: f64,
    /// Seed for inputs and weights.
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Model {
    Attention,
    Lstm,
    Gru,
}

pub const MODELS: [Model; 3] = [Model::Attention, Model::Lstm, Model::Gru];

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Model::Attention => "self-attention",
            Model::Lstm => "LSTM",
            Model::Gru => "GRU",
        })
    }
}

impl Model {
    pub fn parse(s: &str) -> Option<Model> {
        MODELS.into_iter().find(|m| m.to_string() == s)
    }

    /// Forward FLOPs per layer for a batch of `b` (multiply-add = 2).
    pub fn flops(&self, b: usize, n: usize, d: usize) -> f64 {
        let (b, n, d) = (b as f64, n as f64, d as f64);
        b * match self {
            // Q, K, V, O projections 4·2nd², scores 2n²d, weighted sum 2n²d.
            Model::Attention => 8.0 * n * d * d + 4.0 * n * n * d,
            // Per step x·W_ih and h·W_hh, each d × 4d.
            Model::Lstm => 16.0 * n * d * d,
            // Per step x·W_ih and h·W_hh, each d × 3d.
            Model::Gru => 12.0 * n * d * d,
        }
    }
}

/// A recurrent state with the length of the chain of dependent steps behind it.
#[derive(Clone)]
pub struct Traced<S> {
    pub inner: S,
    pub depth: usize,
}

/// An RNN whose states carry their dependency depth: a step's output depth is one more
/// than the depth of the state it was given (the input row depends on nothing).
pub struct DepthRnn<R: RNN> {
    pub inner: R,
}

impl<R: RNN> RNN for DepthRnn<R> {
    type State = Traced<R::State>;
    fn zero_state(&self, batch_dim: usize) -> candle_core::Result<Self::State> {
        Ok(Traced {
            inner: self.inner.zero_state(batch_dim)?,
            depth: 0,
        })
    }
    fn step(&self, input: &Tensor, state: &Self::State) -> candle_core::Result<Self::State> {
        Ok(Traced {
            inner: self.inner.step(input, &state.inner)?,
            depth: state.depth + 1,
        })
    }
    fn states_to_tensor(&self, states: &[Self::State]) -> candle_core::Result<Tensor> {
        let inner: Vec<R::State> = states.iter().map(|s| s.inner.clone()).collect();
        self.inner.states_to_tensor(&inner)
    }
}

enum Net {
    Attention(MultiHeadAttention),
    Lstm(DepthRnn<candle_nn::LSTM>),
    Gru(DepthRnn<candle_nn::GRU>),
}

/// A layer ready to run forward + backward on a fixed input.
pub struct Layer {
    pub model: Model,
    x: Var,
    net: Net,
}

/// What one forward + backward pass gives: the dependency depth of the output (the
/// longest chain of layer calls each needing the one before) and the output shape.
pub struct Pass {
    pub depth: usize,
    pub dims: Vec<usize>,
}

impl Layer {
    pub fn new(
        model: Model,
        b: usize,
        n: usize,
        d: usize,
        heads: usize,
        seed: u64,
    ) -> Result<Self> {
        let mut r = seeded(seed, 17);
        let x = Var::from_tensor(&randn(&mut r, &[b, n, d], 1.0, &Device::Cpu)?)?;
        let params = Params::new(seed);
        let vb = params.vb();
        let net = match model {
            Model::Attention => Net::Attention(multi_head_attention(
                MhaConfig::new(d, heads),
                vb.pp("attn"),
            )?),
            Model::Lstm => Net::Lstm(DepthRnn {
                inner: candle_nn::lstm(d, d, LSTMConfig::default(), vb.pp("lstm"))?,
            }),
            Model::Gru => Net::Gru(DepthRnn {
                inner: candle_nn::gru(d, d, GRUConfig::default(), vb.pp("gru"))?,
            }),
        };
        Ok(Layer { model, x, net })
    }

    /// Forward + backward.
    pub fn run(&self) -> Result<Pass> {
        let x = self.x.as_tensor();
        let (out, depth) = match &self.net {
            // One call over all positions, reading only the input: depth 1.
            Net::Attention(a) => (a.forward(x, x, None)?, 1),
            Net::Lstm(r) => {
                let states = r.seq(x)?;
                let depth = states.iter().map(|s| s.depth).max().unwrap_or(0);
                // (B, T, H).
                (r.states_to_tensor(&states)?, depth)
            }
            Net::Gru(r) => {
                let states = r.seq(x)?;
                let depth = states.iter().map(|s| s.depth).max().unwrap_or(0);
                // (B, T·H).
                (r.states_to_tensor(&states)?, depth)
            }
        };
        let dims = out.dims().to_vec();
        let grads = out.sum_all()?.backward()?;
        if grads.get(&self.x).is_none() {
            bail!("{}: no gradient reached the input", self.model);
        }
        Ok(Pass { depth, dims })
    }
}

/// One timed forward + backward pass.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub model: Model,
    pub d: usize,
    pub n: usize,
    pub seconds: f64,
}

/// The timing child: runs the grid and prints one line per timed repeat.
pub fn child_main() -> ! {
    let code = match child_run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            1
        }
    };
    std::process::exit(code)
}

fn child_run() -> Result<()> {
    let spec = std::env::args()
        .nth(2)
        .context("timing child: no grid given")?;
    let g: Grid = serde_json::from_str(&spec).context("timing child: bad grid")?;
    println!("threads\t{}", candle_core::utils::get_num_threads());
    for &d in &g.widths {
        for &n in &g.ns {
            let layers = MODELS
                .iter()
                .map(|&m| Layer::new(m, g.batch, n, d, g.heads, g.seed))
                .collect::<Result<Vec<_>>>()?;
            // The three layers take turns within each repeat, so a burst of load on the
            // machine falls on one repeat of all three rather than on one layer.
            let start = Instant::now();
            for rep in 0..g.warmup + g.max_repeats {
                if rep >= g.warmup + g.repeats && start.elapsed().as_secs_f64() > g.cell_budget_s {
                    break;
                }
                for layer in &layers {
                    let t0 = Instant::now();
                    layer.run()?;
                    let s = t0.elapsed().as_secs_f64();
                    if rep >= g.warmup {
                        println!("{}\t{d}\t{n}\t{s:e}", layer.model);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Run the current binary as a timing child with `threads` threads (candle reads the
/// thread count from the environment and sizes its pools once per process).
pub fn spawn_child(g: &Grid, threads: usize) -> Result<Vec<Timing>> {
    let exe = std::env::current_exe().context("cannot find this program to re-run it")?;
    let out = Command::new(exe)
        .arg(CHILD_FLAG)
        .arg(serde_json::to_string(g)?)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .env("CANDLE_NUM_THREADS", threads.to_string())
        .output()
        .context("cannot start the timing child")?;
    if !out.status.success() {
        bail!(
            "timing child ({threads} threads) failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8(out.stdout)?;
    let mut v = vec![];
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.first() == Some(&"threads") {
            let got: usize = f.get(1).context("threads line")?.parse()?;
            if got != threads {
                bail!("timing child asked for {threads} threads but candle uses {got}");
            }
            continue;
        }
        if f.len() != 4 {
            bail!("timing child: bad line {line:?}");
        }
        v.push(Timing {
            model: Model::parse(f[0]).with_context(|| format!("bad model {}", f[0]))?,
            d: f[1].parse()?,
            n: f[2].parse()?,
            seconds: f[3].parse()?,
        });
    }
    Ok(v)
}
