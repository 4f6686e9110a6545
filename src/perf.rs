//! Speed of the model core (`harness bench`): two reference training steps split into
//! forward, backward and optimizer, each timed at 1 and 2 threads in a child process of
//! its own (so the peak resident memory measured is that step's); attention
//! forward+backward at a few sizes; f32 matmul throughput. Times are medians over
//! repeated runs after a warm-up; results go to `results/perf/` as `timing_*.csv` with
//! charts drawn from them.
//!
//! The two reference steps are also implemented in JAX and PyTorch under `bench/`, for a
//! side-by-side ratio. Both are f32, tanh-GELU, Post-LN encoder layers, sinusoidal
//! positions, cross-entropy on every position, AdamW (lr 1e-3, otherwise the defaults:
//! β 0.9/0.999, ε 1e-8, weight decay 0.01):
//! - **base**: token batch 32 × 64, d_model 128, 4 heads, 2 layers, d_ff 512,
//!   vocabulary 64, no attention mask, a separate output layer with bias, token
//!   embedding N(0, 1).
//! - **real** (sized like the real-data track): token batch 16 × 128, d_model 256,
//!   8 heads, 4 layers, d_ff 1024, vocabulary 2048, causal mask, tied embeddings: the
//!   logits are h·Eᵀ with E the token embedding (vocab × d_model) and no output bias.
//!   E is drawn N(0, 1/d_model), so the tied logits start near unit scale.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Module, Tensor};
use candle_nn::{Embedding, Optimizer, ParamsAdamW};

use crate::core::fused::AdamW;

use crate::core::model::token_and_position;
use crate::core::{
    encoder, encoder_layer_seeded, Activation, AttnMask, Encoder, EncoderConfig, EncoderLayer,
    LayerConfig, LayerCtx, Mask, Params, PosKind,
};
use crate::rng::{index_vec, randn, seeded};
use crate::train::task::Batch;
use crate::train::trainer::masked_loss;

/// The two reference steps that `harness bench` times against the peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reference {
    /// Batch 32 × 64, d 128, 4 heads, 2 layers, d_ff 512, vocab 64.
    Base,
    /// Sized like the real-data track: batch 16 × 128, d 256, 8 heads, 4 layers,
    /// d_ff 1024, vocab 2048, tied embeddings, causal mask.
    Real,
}

impl Reference {
    pub const ALL: [Reference; 2] = [Reference::Base, Reference::Real];

    /// The name used on the command line and in the CSVs (`base`, `real`).
    pub fn name(&self) -> &'static str {
        match self {
            Reference::Base => "base",
            Reference::Real => "real",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }

    pub fn config(&self) -> StepConfig {
        match self {
            Reference::Base => StepConfig::default(),
            Reference::Real => StepConfig::real(),
        }
    }
}

/// Sizes of a reference step.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct StepConfig {
    pub batch: usize,
    pub seq: usize,
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub d_ff: usize,
    pub vocab: usize,
    /// The output projection is the token embedding transposed (no output bias);
    /// otherwise a separate linear layer with bias.
    pub tied: bool,
    /// Causal self-attention mask (query i sees keys j ≤ i); otherwise no mask.
    pub causal: bool,
}

impl Default for StepConfig {
    /// The base reference step.
    fn default() -> Self {
        Self {
            batch: 32,
            seq: 64,
            d_model: 128,
            heads: 4,
            layers: 2,
            d_ff: 512,
            vocab: 64,
            tied: false,
            causal: false,
        }
    }
}

impl StepConfig {
    /// The real-size reference step.
    pub fn real() -> Self {
        Self {
            batch: 16,
            seq: 128,
            d_model: 256,
            heads: 8,
            layers: 4,
            d_ff: 1024,
            vocab: 2048,
            tied: true,
            causal: true,
        }
    }

    /// Approximate FLOPs of one training step: the matrix products only, forward ×3 for
    /// forward+backward. Attention is counted densely (all T² scores) with or without the
    /// causal mask, as the peers compute it (they add −∞ to the scores); the core adds
    /// the same −∞ but skips the products for keys past each block of 32 queries' last
    /// visible key, 37.5% of the attention products at T = 128 and about 2.5% of the real
    /// step's FLOPs, so its FLOP-limit share there counts a little work it does not do.
    /// The tied output projection costs the same as an untied one.
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

/// A reference model: the core's encoder (base), or the same layers over a tied
/// embedding (real).
pub struct StepModel {
    net: Net,
    mask: Option<AttnMask>,
}

enum Net {
    Untied(Box<Encoder>),
    Tied {
        embed: Embedding,
        pos: Tensor,
        layers: Vec<EncoderLayer>,
    },
}

impl StepModel {
    /// Builds the model of `cfg` in `params` (weights from the params' seed).
    pub fn new(cfg: &StepConfig, params: &Params) -> Result<Self> {
        let mut layer = LayerConfig::new(cfg.d_model, cfg.heads);
        layer.d_ff = cfg.d_ff;
        layer.act = Activation::Gelu;
        let vb = params.vb();
        let net = if cfg.tied {
            let embed_std = 1.0 / (cfg.d_model as f64).sqrt();
            let (embed, pos) = token_and_position(
                cfg.vocab,
                cfg.seq,
                cfg.d_model,
                PosKind::Sinusoidal,
                embed_std,
                &vb,
            )?;
            let layers = (0..cfg.layers)
                .map(|i| encoder_layer_seeded(layer, 0, i as u64, vb.pp(format!("layer{i}"))))
                .collect::<candle_core::Result<Vec<_>>>()?;
            Net::Tied {
                embed,
                pos: pos.context("sinusoidal positions")?,
                layers,
            }
        } else {
            Net::Untied(Box::new(encoder(
                EncoderConfig::new(cfg.vocab, cfg.seq, cfg.layers, layer),
                vb,
            )?))
        };
        let mask = if cfg.causal {
            Some(Mask::causal(cfg.seq).to_attn(params.device())?)
        } else {
            None
        };
        Ok(Self { net, mask })
    }

    /// Logits (B, T, vocab) of token ids (B, T), in training mode.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let c = LayerCtx {
            train: true,
            mask: self.mask.as_ref(),
            ..Default::default()
        };
        Ok(match &self.net {
            Net::Untied(m) => m.forward_t(x, &c)?,
            Net::Tied { embed, pos, layers } => {
                let t = x.dim(1)?;
                let mut h = embed.forward(x)?.broadcast_add(&pos.narrow(0, 0, t)?)?;
                for l in layers {
                    h = l.forward_t(&h, &c)?;
                }
                // Post-LN layers end in a norm already: no final norm.
                crate::core::fused::linear(&h, embed.embeddings(), None)?
            }
        })
    }
}

/// The fixed batch a reference step trains on: random token ids (seed 0, stream 7) as
/// inputs and as targets, every position weighted.
fn reference_batch(cfg: &StepConfig, dev: &Device) -> Result<Batch> {
    let mut r = seeded(0, 7);
    let n = cfg.batch * cfg.seq;
    Ok(Batch::from_vecs(
        index_vec(&mut r, n, cfg.vocab),
        index_vec(&mut r, n, cfg.vocab),
        vec![1.0; n],
        cfg.batch,
        cfg.seq,
        None,
        dev,
    )?)
}

/// Median seconds of (forward, backward, optimizer, whole step) over `reps` steps.
pub fn reference_step(cfg: StepConfig, warmup: usize, reps: usize) -> Result<[f64; 4]> {
    let dev = Device::Cpu;
    let params = Params::new(0);
    let model = StepModel::new(&cfg, &params)?;
    let b = reference_batch(&cfg, &dev)?;
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
        let logits = model.logits(&b.x)?;
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

/// Peak resident memory of this process so far, in MiB (`VmHWM` of /proc/self/status);
/// `None` where there is no such file (not Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// What one timing child (`harness bench`'s hidden child command) measured: one
/// reference step at the thread count it was started with.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildReport {
    /// The thread count candle reports in the child.
    pub threads: usize,
    /// Median seconds of forward, backward, optimizer and the whole step.
    pub times: [f64; 4],
    /// f32 GFLOP/s of a 1024³ matmul at the same thread count.
    pub gflops: f64,
    /// Peak resident memory of the child after the timed steps (before the matmul).
    pub peak_rss_mib: Option<f64>,
}

impl ChildReport {
    /// Time `r` in this process and measure its peak memory.
    pub fn measure(r: Reference, reps: usize) -> Result<Self> {
        let times = reference_step(r.config(), 2, reps)?;
        let peak_rss_mib = peak_rss_mib();
        Ok(Self {
            threads: candle_core::utils::get_num_threads(),
            times,
            gflops: matmul_gflops(1024, reps.clamp(1, 5))?,
            peak_rss_mib,
        })
    }

    /// Tab-separated lines, one per field.
    pub fn to_lines(&self) -> String {
        let [f, b, o, s] = self.times;
        let rss = self
            .peak_rss_mib
            .map_or_else(|| "n/a".to_string(), |m| format!("{m:e}"));
        format!(
            "threads\t{}\ntimes\t{f:e}\t{b:e}\t{o:e}\t{s:e}\ngflops\t{:e}\npeak_rss_mib\t{rss}\n",
            self.threads, self.gflops
        )
    }

    /// Reads what `to_lines` wrote (other lines are ignored).
    pub fn parse(text: &str) -> Result<Self> {
        let (mut threads, mut times, mut gflops, mut rss) = (None, None, None, None);
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["threads", n] => threads = Some(n.parse()?),
                ["times", a, b, c, d] => {
                    times = Some([a.parse()?, b.parse()?, c.parse()?, d.parse()?])
                }
                ["gflops", g] => gflops = Some(g.parse()?),
                ["peak_rss_mib", m] => rss = Some(m.parse::<f64>().ok()),
                _ => {}
            }
        }
        match (threads, times, gflops, rss) {
            (Some(threads), Some(times), Some(gflops), Some(peak_rss_mib)) => Ok(Self {
                threads,
                times,
                gflops,
                peak_rss_mib,
            }),
            _ => bail!("timing child: incomplete report {text:?}"),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::trainer::vars_without_gradient;

    /// A real-shaped step, shrunk: tied, causal.
    fn tiny() -> StepConfig {
        StepConfig {
            batch: 2,
            seq: 6,
            d_model: 16,
            heads: 4,
            layers: 2,
            d_ff: 32,
            vocab: 11,
            tied: true,
            causal: true,
        }
    }

    #[test]
    fn references_have_the_sizes_of_the_issue() {
        let b = Reference::Base.config();
        assert_eq!(
            (b.batch, b.seq, b.d_model, b.heads, b.layers, b.d_ff, b.vocab),
            (32, 64, 128, 4, 2, 512, 64)
        );
        assert!(!b.tied && !b.causal);
        let r = Reference::Real.config();
        assert_eq!(
            (r.batch, r.seq, r.d_model, r.heads, r.layers, r.d_ff, r.vocab),
            (16, 128, 256, 8, 4, 1024, 2048)
        );
        assert!(r.tied && r.causal);
        for r in Reference::ALL {
            assert_eq!(Reference::parse(r.name()), Some(r));
        }
        assert_eq!(Reference::parse("large"), None);
    }

    #[test]
    fn flops_count_the_products() {
        // Base: layers 2 × (2·2048·(4·128² + 2·128·512) + 4·2048·64·128) plus the head
        // 2·2048·128·64, all ×3.
        let want = 3.0 * (2.0 * (2.0 * 2048.0 * 196_608.0 + 67_108_864.0) + 33_554_432.0);
        assert_eq!(StepConfig::default().flops(), want);
        // Real: about 49 GFLOP per step.
        let f = StepConfig::real().flops();
        assert!((4.8e10..5.0e10).contains(&f), "{f}");
    }

    #[test]
    fn tied_model_has_no_head_and_every_variable_learns() {
        let p = Params::new(0);
        let cfg = tiny();
        let m = StepModel::new(&cfg, &p).unwrap();
        let names: Vec<String> = p.named_vars().into_iter().map(|(k, _)| k).collect();
        assert!(names.iter().all(|n| !n.starts_with("head")), "{names:?}");
        let b = reference_batch(&cfg, &Device::Cpu).unwrap();
        let logits = m.logits(&b.x).unwrap();
        assert_eq!(logits.dims(), &[2, 6, 11]);
        let (loss, _, _) = masked_loss(&logits, &b).unwrap();
        assert!(loss.to_scalar::<f32>().unwrap().is_finite());
        let dead = vars_without_gradient(&p, &loss).unwrap();
        assert!(dead.is_empty(), "no gradient for {dead:?}");
    }

    #[test]
    fn causal_logits_ignore_later_tokens() {
        let p = Params::new(0);
        let m = StepModel::new(&tiny(), &p).unwrap();
        let a: Vec<u32> = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1];
        let mut b = a.clone();
        b[4] = 9; // first sequence, position 4
        let run = |v: Vec<u32>| {
            m.logits(&Tensor::from_vec(v, (2, 6), &Device::Cpu).unwrap())
                .unwrap()
                .to_vec3::<f32>()
                .unwrap()
        };
        let (la, lb) = (run(a), run(b));
        assert_eq!(la[0][..4], lb[0][..4]);
        assert_ne!(la[0][4], lb[0][4]);
        assert_eq!(la[1], lb[1]);
    }

    #[test]
    fn child_report_round_trips() {
        for rss in [Some(123.5), None] {
            let c = ChildReport {
                threads: 2,
                times: [0.01, 0.02, 0.003, 0.033],
                gflops: 351.25,
                peak_rss_mib: rss,
            };
            let text = format!("noise\n{}", c.to_lines());
            assert_eq!(ChildReport::parse(&text).unwrap(), c);
        }
        assert!(ChildReport::parse("threads\t1\n").is_err());
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let m = peak_rss_mib().expect("VmHWM on Linux");
            assert!(m > 1.0, "{m}");
        }
    }
}
