//! Q17. Where is the Transformer parallel?
//!
//! Claim (CLAIMS.md, Q17):
//! - Q17.1 The encoder processes the whole sequence at once through self-attention;
//!   an RNN must go step by step.
//!
//! Setup: one self-attention layer (the core's `MultiHeadAttention`) against one LSTM
//! and one GRU layer of the same width d (candle-nn's, weights from `Params`), forward
//! and backward of a (B, n, d) input, over n at two widths. Sequential steps are counted
//! by wrapping the RNN's `step` (candle-nn's `seq` calls it once per position, each
//! call needing the previous state); the attention layer is one call whatever n.
//! Wall-clock times come from child processes of this binary run with
//! `RAYON_NUM_THREADS` and `CANDLE_NUM_THREADS` set to 1 and to 2 (candle reads the
//! thread count for its matmuls from the environment and sizes its pools once per
//! process), alternating 1, 2, 1, 2, … so that load on the machine hits both alike.
//! The FLOP counts are the closed forms of the layers (multiply-add = 2 FLOPs), set
//! beside Vaswani et al. Table 1 (self-attention O(n²·d), recurrent O(n·d²); they
//! cross at n = d).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use candle_nn::rnn::{GRUConfig, LSTMConfig, RNN};
use transformer_claims::prelude::*;
use transformer_claims::rng::randn;
use transformer_claims::row;
use transformer_claims::verdict::all_of;

/// The hidden flag that makes the binary a timing child (first argument).
const CHILD_FLAG: &str = "--q17-timing-child";

#[derive(Serialize, serde::Deserialize, Clone)]
struct Grid {
    /// Sequence lengths n.
    ns: Vec<usize>,
    /// Layer widths d (must appear among the n so the Table-1 crossover n = d is timed).
    widths: Vec<usize>,
    /// Batch size B. One sequence: then the only parallel dimension besides the width
    /// is the sequence itself, which self-attention can use and a recurrence cannot.
    batch: usize,
    /// Attention heads (d_k = d / heads).
    heads: usize,
    /// Untimed warm-up runs, then at least `repeats` timed repeats per (d, n), more
    /// (up to `max_repeats`) while the cell has taken less than `cell_budget_s`.
    warmup: usize,
    repeats: usize,
    max_repeats: usize,
    cell_budget_s: f64,
    /// Seed for inputs and weights.
    seed: u64,
}

#[derive(Serialize)]
struct Config {
    grid: Grid,
    /// Thread counts compared (children run with RAYON_NUM_THREADS / CANDLE_NUM_THREADS).
    threads: Vec<usize>,
    /// Child processes per thread count, alternated (1, 2, 1, 2, …).
    rounds: usize,
    /// Q17.1: at n = d (where Table 1's n²·d and n·d² are equal) each recurrent layer's
    /// time per FLOP must be at least this multiple of self-attention's, at every
    /// width. Times are the minimum over repeats (load on a shared machine only ever
    /// adds time); the per-repeat paired ratios' quartiles are reported beside it.
    min_time_per_flop_ratio: f64,
    /// Thread count the decision uses: one thread compares equal compute resources
    /// (the cost of n small sequential steps against a few large products) and is the
    /// least disturbed by other load on a shared machine; two-thread times and the
    /// speedups are reported beside it.
    decision_threads: usize,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            grid: Grid {
                ns: ctx.pick(vec![16, 32, 64, 128], vec![16, 32, 64, 128, 256, 512]),
                widths: vec![32, 128],
                batch: 1,
                heads: 4,
                warmup: 1,
                repeats: ctx.pick(3, 5),
                max_repeats: 15,
                cell_budget_s: ctx.pick(0.05, 0.2),
                seed: ctx.seed,
            },
            threads: vec![1, 2],
            rounds: ctx.pick(1, 2),
            min_time_per_flop_ratio: 2.0,
            decision_threads: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Model {
    Attention,
    Lstm,
    Gru,
}

const MODELS: [Model; 3] = [Model::Attention, Model::Lstm, Model::Gru];

impl Model {
    fn name(&self) -> &'static str {
        match self {
            Model::Attention => "self-attention",
            Model::Lstm => "LSTM",
            Model::Gru => "GRU",
        }
    }
    fn parse(s: &str) -> Option<Model> {
        MODELS.into_iter().find(|m| m.name() == s)
    }
    /// Forward FLOPs per layer for a batch of `b` (multiply-add = 2).
    fn flops(&self, b: usize, n: usize, d: usize) -> f64 {
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

/// An RNN that counts how often its `step` runs (each step needs the previous state).
struct Counting<R: RNN> {
    inner: R,
    steps: Cell<usize>,
}

impl<R: RNN> RNN for Counting<R> {
    type State = R::State;
    fn zero_state(&self, batch_dim: usize) -> candle_core::Result<Self::State> {
        self.inner.zero_state(batch_dim)
    }
    fn step(&self, input: &Tensor, state: &Self::State) -> candle_core::Result<Self::State> {
        self.steps.set(self.steps.get() + 1);
        self.inner.step(input, state)
    }
    fn states_to_tensor(&self, states: &[Self::State]) -> candle_core::Result<Tensor> {
        self.inner.states_to_tensor(states)
    }
}

/// A layer ready to run forward + backward on a fixed input; returns the number of
/// sequential layer calls (attention: one call over all positions; RNN: `step` calls).
struct Layer {
    model: Model,
    x: Var,
    attn: Option<MultiHeadAttention>,
    lstm: Option<Counting<candle_nn::LSTM>>,
    gru: Option<Counting<candle_nn::GRU>>,
}

impl Layer {
    fn new(model: Model, b: usize, n: usize, d: usize, heads: usize, seed: u64) -> Result<Self> {
        let dev = Device::Cpu;
        let mut r = seeded(seed, 17);
        let x = Var::from_tensor(&randn(&mut r, &[b, n, d], 1.0, &dev)?)?;
        let params = Params::new(seed);
        let vb = params.vb();
        let mut l = Layer {
            model,
            x,
            attn: None,
            lstm: None,
            gru: None,
        };
        match model {
            Model::Attention => {
                l.attn = Some(multi_head_attention(
                    MhaConfig::new(d, heads),
                    vb.pp("attn"),
                )?)
            }
            Model::Lstm => {
                l.lstm = Some(Counting {
                    inner: candle_nn::lstm(d, d, LSTMConfig::default(), vb.pp("lstm"))?,
                    steps: Cell::new(0),
                })
            }
            Model::Gru => {
                l.gru = Some(Counting {
                    inner: candle_nn::gru(d, d, GRUConfig::default(), vb.pp("gru"))?,
                    steps: Cell::new(0),
                })
            }
        }
        Ok(l)
    }

    /// Forward + backward; returns the sequential layer calls and the output shape.
    fn run(&self) -> Result<(usize, Vec<usize>)> {
        let x = self.x.as_tensor();
        let (out, steps) = match self.model {
            Model::Attention => {
                let a = self.attn.as_ref().context("attention layer")?;
                (a.forward(x, x, None)?, 1)
            }
            Model::Lstm => {
                let r = self.lstm.as_ref().context("lstm layer")?;
                r.steps.set(0);
                // states_to_tensor: (B, T, H).
                let s = r.states_to_tensor(&r.seq(x)?)?;
                (s, r.steps.get())
            }
            Model::Gru => {
                let r = self.gru.as_ref().context("gru layer")?;
                r.steps.set(0);
                // states_to_tensor: (B, T·H).
                let s = r.states_to_tensor(&r.seq(x)?)?;
                (s, r.steps.get())
            }
        };
        let dims = out.dims().to_vec();
        let grads = out.sum_all()?.backward()?;
        if grads.get(&self.x).is_none() {
            bail!("{}: no gradient reached the input", self.model.name());
        }
        Ok((steps, dims))
    }
}

// ---------------------------------------------------------------- child

/// One timing: model, d, n, repeat index, seconds.
type Timing = (Model, usize, usize, usize, f64);

fn child_main() -> ! {
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
                        println!(
                            "{}\t{d}\t{n}\t{}\t{s:e}",
                            layer.model.name(),
                            rep - g.warmup
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// Run this binary as a timing child with `threads` threads.
fn spawn_child(g: &Grid, threads: usize) -> Result<Vec<Timing>> {
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
        if f.len() != 5 {
            bail!("timing child: bad line {line:?}");
        }
        let m = Model::parse(f[0]).with_context(|| format!("bad model {}", f[0]))?;
        v.push((
            m,
            f[1].parse()?,
            f[2].parse()?,
            f[3].parse()?,
            f[4].parse()?,
        ));
    }
    Ok(v)
}

// ---------------------------------------------------------------- parent

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let g = &cfg.grid;
    for d in &g.widths {
        if !g.ns.contains(d) {
            bail!("width {d} must be among the sequence lengths");
        }
    }

    // (a) Sequential steps and output shapes, counted in-process (deterministic).
    let mut steps_t = Table::new(&["n", "model", "sequential_steps", "output_shape"]);
    let mut cx = Table::new(&[
        "d",
        "n",
        "table1_self_attention_n2d",
        "table1_recurrent_nd2",
        "flops_self_attention",
        "flops_lstm",
        "flops_gru",
        "attention_over_recurrent_table1",
    ]);
    let mut steps_ok = true;
    let d0 = g.widths[0];
    for &n in &g.ns {
        for m in MODELS {
            let (steps, dims) = Layer::new(m, g.batch, n, d0, g.heads, g.seed)?.run()?;
            let want = if m == Model::Attention { 1 } else { n };
            steps_ok &= steps == want;
            let shape = dims
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("x");
            steps_t.push(row![n, m.name(), steps, shape]);
        }
    }
    ctx.table("sequential_steps.csv", &steps_t)?;
    for &d in &g.widths {
        for &n in &g.ns {
            let (a, r) = ((n * n * d) as f64, (n * d * d) as f64);
            cx.push(row![
                d,
                n,
                a,
                r,
                Model::Attention.flops(g.batch, n, d),
                Model::Lstm.flops(g.batch, n, d),
                Model::Gru.flops(g.batch, n, d),
                a / r
            ]);
        }
    }
    ctx.table("complexity.csv", &cx)?;

    // (b) Wall-clock times from child processes, thread counts alternated.
    let pb = ctx.progress((cfg.rounds * cfg.threads.len()) as u64, "timing children");
    let mut times: BTreeMap<(usize, Model, usize, usize), Vec<f64>> = BTreeMap::new();
    for _ in 0..cfg.rounds {
        for &th in &cfg.threads {
            for (m, d, n, _, s) in spawn_child(g, th)? {
                times.entry((th, m, d, n)).or_default().push(s);
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let est = |th: usize, m: Model, d: usize, n: usize| -> Result<Estimate> {
        let v = times
            .get(&(th, m, d, n))
            .with_context(|| format!("no timing for {} d={d} n={n} ({th} threads)", m.name()))?;
        Ok(stats::median_range(v, 0.0, 1.0))
    };

    let mut tt = Table::new(&[
        "threads", "model", "d", "n", "median_s", "min_s", "max_s", "gflops",
    ]);
    let mut plot = Table::new(&["n", "layer", "median_ms", "min_ms", "max_ms"]);
    // Speedups are ratios of minimum times (load only ever adds time).
    let mut sp = Table::new(&["d", "n", "layer", "speedup_1_to_2_threads"]);
    let mut ratio = Table::new(&[
        "threads",
        "d",
        "n",
        "lstm_over_attention_time",
        "gru_over_attention_time",
        "lstm_over_attention_time_per_flop",
        "gru_over_attention_time_per_flop",
    ]);
    let tmax = *cfg.threads.iter().max().context("threads")?;
    let tmin = *cfg.threads.iter().min().context("threads")?;
    for &th in &cfg.threads {
        for &d in &g.widths {
            for &n in &g.ns {
                let mut e = BTreeMap::new();
                for m in MODELS {
                    let x = est(th, m, d, n)?;
                    tt.push(row![
                        th,
                        m.name(),
                        d,
                        n,
                        x.point,
                        x.lo,
                        x.hi,
                        3.0 * m.flops(g.batch, n, d) / x.point / 1e9
                    ]);
                    if th == cfg.decision_threads {
                        plot.push(row![
                            n,
                            format!("{} d={d}", m.name()),
                            x.point * 1e3,
                            x.lo * 1e3,
                            x.hi * 1e3
                        ]);
                    }
                    e.insert(m, x);
                }
                let a = e[&Model::Attention].point;
                let fa = Model::Attention.flops(g.batch, n, d);
                let (l, gr) = (e[&Model::Lstm].point, e[&Model::Gru].point);
                ratio.push(row![
                    th,
                    d,
                    n,
                    l / a,
                    gr / a,
                    (l / Model::Lstm.flops(g.batch, n, d)) / (a / fa),
                    (gr / Model::Gru.flops(g.batch, n, d)) / (a / fa)
                ]);
            }
        }
    }
    for &d in &g.widths {
        for &n in &g.ns {
            for m in MODELS {
                let s = est(tmin, m, d, n)?.lo / est(tmax, m, d, n)?.lo;
                sp.push(row![d, n, format!("{} d={d}", m.name()), s]);
            }
        }
    }
    ctx.table("timing_forward_backward.csv", &tt)?;
    ctx.table("timing_by_n.csv", &plot)?;
    ctx.table("timing_speedup.csv", &sp)?;
    ctx.table("timing_ratios.csv", &ratio)?;

    // Decision: at n = d, recurrent time per FLOP / attention time per FLOP, paired
    // within each repeat at the decision's thread count, pooled over rounds; median with the
    // interquartile range; worst case over widths and both recurrent layers.
    let mut worst: Option<(Estimate, String)> = None;
    let mut at_crossover = vec![];
    let mut other_threads = vec![];
    let mut short = vec![];
    let mut ratio_t = Table::new(&[
        "d",
        "layer",
        "ratio_of_minimum_times",
        "paired_median",
        "paired_q25",
        "paired_q75",
        "pairs",
    ]);
    for &d in &g.widths {
        let n = d;
        let fa = Model::Attention.flops(g.batch, n, d);
        for m in [Model::Lstm, Model::Gru] {
            let fr = m.flops(g.batch, n, d);
            let mut rs = vec![];
            let th = cfg.decision_threads;
            let a = times
                .get(&(th, Model::Attention, d, n))
                .context("attention timings")?;
            let r = times.get(&(th, m, d, n)).context("recurrent timings")?;
            rs.extend(a.iter().zip(r).map(|(a, r)| (r / fr) / (a / fa)));
            let q = stats::median_range(&rs, 0.25, 0.75);
            let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
            let e = Estimate::exact((min(r) / fr) / (min(a) / fa));
            if let (Some(a2), Some(r2)) = (
                times.get(&(tmax, Model::Attention, d, n)),
                times.get(&(tmax, m, d, n)),
            ) {
                let r2: Vec<f64> = a2
                    .iter()
                    .zip(r2)
                    .map(|(a, r)| (r / fr) / (a / fa))
                    .collect();
                other_threads.push(format!("{} d=n={d}: {:.1}×", m.name(), stats::median(&r2)));
            }
            ratio_t.push(row![d, m.name(), e.point, q.point, q.lo, q.hi, rs.len()]);
            short.push(format!("{} d=n={d}: {:.1}×", m.name(), e.point));
            at_crossover.push(format!(
                "{} d=n={d}: {:.1}× per FLOP (paired repeats: median {:.1}, IQR {:.1}–{:.1})",
                m.name(),
                e.point,
                q.point,
                q.lo,
                q.hi
            ));
            if worst.as_ref().map(|(w, _)| e.lo < w.lo).unwrap_or(true) {
                worst = Some((e, format!("{} at d=n={d}", m.name())));
            }
        }
    }
    ctx.table("timing_crossover_ratio.csv", &ratio_t)?;
    let (worst, worst_where) = worst.context("no crossover timings")?;
    let timing_v = Rule::AtLeast(cfg.min_time_per_flop_ratio).decide(&worst);
    let steps_v = Verdict::from_bool(steps_ok);

    // Measured crossover: the first n at which self-attention's minimum time reaches
    // the faster recurrent layer's (decision thread count), per width.
    let mut crossings = vec![];
    for &d in &g.widths {
        let th = cfg.decision_threads;
        let mut hit = None;
        for &n in &g.ns {
            let a = est(th, Model::Attention, d, n)?.lo;
            let r = est(th, Model::Lstm, d, n)?
                .lo
                .min(est(th, Model::Gru, d, n)?.lo);
            if a >= r {
                hit = Some(n);
                break;
            }
        }
        crossings.push(match hit {
            Some(n) => format!(
                "d={d}: self-attention is slower from n={n} (n/d = {})",
                n as f64 / d as f64
            ),
            None => format!(
                "d={d}: self-attention stays faster up to n={}",
                g.ns.last().copied().unwrap_or(0)
            ),
        });
    }

    // Speedups from one to two threads at the largest n, for the note.
    let nmax = *g.ns.iter().max().context("ns")?;
    let mut speedups = vec![];
    for &d in &g.widths {
        for m in MODELS {
            let s = est(tmin, m, d, nmax)?.lo / est(tmax, m, d, nmax)?.lo;
            speedups.push(format!("{} d={d}: {s:.2}×", m.name()));
        }
    }

    ctx.chart(
        ChartSpec::line(
            "sequential_steps.png",
            "sequential_steps.csv",
            "Sequential layer calls per forward pass (LSTM and GRU coincide at n)",
            "n",
            &["sequential_steps"],
        )
        .series("model")
        .log_x()
        .log_y()
        .labels("sequence length n", "sequential steps"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "time_by_n.png",
            "timing_by_n.csv",
            &format!(
                "Forward+backward time, B={}, {} thread(s), median and range",
                g.batch, cfg.decision_threads
            ),
            "n",
            &["median_ms"],
        )
        .interval("median_ms", "min_ms", "max_ms")
        .series("layer")
        .log_x()
        .log_y()
        .labels("sequence length n", "milliseconds"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "speedup.png",
            "timing_speedup.csv",
            &format!("Speedup from {tmin} to {tmax} threads"),
            "n",
            &["speedup_1_to_2_threads"],
        )
        .series("layer")
        .log_x()
        .labels("sequence length n", "time(1 thread) / time(2 threads)"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "table1_crossover.png",
            "complexity.csv",
            "Table 1: self-attention n²·d over recurrent n·d²",
            "n",
            &["attention_over_recurrent_table1"],
        )
        .series("d")
        .log_x()
        .log_y()
        .labels("sequence length n", "n²·d / n·d² = n / d"),
    )?;

    ctx.claim(
        Claim::with_verdict(
            "Q17.1",
            "The encoder processes the whole sequence at once through self-attention; an RNN must go step by step.",
            "recurrent/attention min time per FLOP at n = d (worst case)",
            worst,
            &format!(
                "supported if self-attention makes 1 sequential call at every n while LSTM and GRU make n, and at n = d (Table 1's crossover, equal n²·d and n·d²) each recurrent layer's forward+backward time per FLOP is ≥ {}× self-attention's at every width (minimum time over repeats at {} thread(s)); refuted otherwise",
                cfg.min_time_per_flop_ratio, cfg.decision_threads
            ),
            all_of(&[steps_v, timing_v]),
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "Worst case: {worst_where}. At n = d, {} thread(s): {}. Measured wall-clock crossover ({} thread(s)): {}. With {tmax} threads (median per FLOP): {}. Speedup from {tmin} to {tmax} threads at n={nmax}: {} (on a shared 2-core machine the thread speedups are informative only and are not part of the rule).",
            cfg.decision_threads,
            at_crossover.join("; "),
            cfg.decision_threads,
            crossings.join("; "),
            other_threads.join("; "),
            speedups.join(", ")
        )),
    );
    ctx.answer(Answer::Correct);
    ctx.literature("Vaswani et al. 2017, Table 1: self-attention costs O(n²·d) per layer with O(1) sequential operations and O(1) maximum path length; a recurrent layer costs O(n·d²) with O(n) sequential operations and O(n) path length. Self-attention is cheaper per layer when n < d.");
    ctx.corrected_answer(format!(
        "The seed answer is right about where the parallelism is: self-attention computes every position in one call of a few large matrix products (1 sequential step whatever n), while an LSTM or GRU makes n dependent steps, each a small matrix product waiting on the previous hidden state. Measured (B={}, one layer, forward+backward, one thread, minimum over repeats): at n = d, where Table 1's n²·d and n·d² are equal, the recurrent layers take at least {:.1}× the time per FLOP of self-attention ({}). The price of attention's parallelism is its O(n²·d) work: past n = d the n²·d term outgrows the recurrent n·d² (their ratio is n/d), so for long sequences attention costs more FLOPs, though it still needs only one sequential step. The parallelism is in training and in encoding; autoregressive decoding is still step by step (Q18).",
        g.batch,
        worst.point,
        short.join("; ")
    ));
    Ok(())
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some(CHILD_FLAG) {
        child_main();
    }
    transformer_claims::cli::main(
        "q17_parallelism",
        "Q17: where is the Transformer parallel? Times one self-attention layer against one LSTM and one GRU layer over n, counts sequential steps and measures the speedup from one to two threads.",
        run,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recurrent layers make one step per position, attention one call; every
    /// trainable variable of each layer gets a gradient; GRU's stacked states are
    /// (B, T·H) where LSTM's are (B, T, H).
    #[test]
    fn steps_shapes_and_gradients() {
        for m in MODELS {
            let l = Layer::new(m, 2, 5, 8, 2, 0).unwrap();
            let (steps, dims) = l.run().unwrap();
            match m {
                Model::Attention => assert_eq!((steps, dims), (1, vec![2, 5, 8])),
                Model::Lstm => assert_eq!((steps, dims), (5, vec![2, 5, 8])),
                Model::Gru => assert_eq!((steps, dims), (5, vec![2, 40])),
            }
        }
        // Gradients reach every weight.
        let params = Params::new(3);
        let vb = params.vb();
        let lstm = candle_nn::lstm(4, 4, LSTMConfig::default(), vb.pp("lstm")).unwrap();
        let gru = candle_nn::gru(4, 4, GRUConfig::default(), vb.pp("gru")).unwrap();
        let att = multi_head_attention(MhaConfig::new(4, 2), vb.pp("attn")).unwrap();
        let x = randn(&mut seeded(0, 0), &[2, 3, 4], 1.0, &Device::Cpu).unwrap();
        let loss = (lstm
            .states_to_tensor(&lstm.seq(&x).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            + gru
                .states_to_tensor(&gru.seq(&x).unwrap())
                .unwrap()
                .sum_all()
                .unwrap()
            + att
                .forward(&x, &x, None)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap())
        .unwrap();
        let missing =
            transformer_claims::train::trainer::vars_without_gradient(&params, &loss).unwrap();
        assert!(missing.is_empty(), "no gradient: {missing:?}");
    }

    #[test]
    fn table1_crossover_at_n_equals_d() {
        // Attention FLOPs beat LSTM's at n = d (12d³ vs 16d³) and lose past n = 2d.
        let d = 64;
        assert!(Model::Attention.flops(1, d, d) < Model::Lstm.flops(1, d, d));
        assert!(Model::Attention.flops(1, 4 * d, d) > Model::Lstm.flops(1, 4 * d, d));
    }
}
