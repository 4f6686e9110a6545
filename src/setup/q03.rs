//! Setup of question 3: additive against dot-product attention.
//!
//! - Cost: FLOPs and floats held for the backward pass, counted from the computation
//!   ([`flops_per_pair`], [`floats_held`]); one timed forward+backward ([`time_one`]).
//! - Quality: key→value retrieval ([`Retrieval`]) read out by one attention layer
//!   ([`Reader`]) with additive, unscaled-dot or scaled-dot scores ([`Method`]).

use std::fmt;
use std::time::Instant;

use candle_nn::{Embedding, Init, VarBuilder};

use crate::core::attention::{additive_attention, scaled_dot_product, AdditiveAttention, Scale};
use crate::core::linear::{linear, Linear};
use crate::core::params::Params;
use crate::rng::{randn, seeded, Rng64};
use crate::train::{Batch, SeqModel, Task};
use anyhow::Result;
use candle_core::{DType, Device, Module, Tensor, Var};

// ---------------------------------------------------------------- cost, closed form

/// The two score functions timed and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scorer {
    Dot,
    Additive,
}

impl fmt::Display for Scorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scorer::Dot => "dot-product",
            Scorer::Additive => "additive",
        })
    }
}

/// Forward+backward FLOPs per (query, key) pair (a multiply-add counts 2; exp and tanh
/// count 1 each), with d_v = d_k = d and additive hidden width d_a.
///
/// Dot-product, forward: S = QKᵀ 2d, scale 1, softmax 5 (max, subtract, exp, sum,
/// divide), O = PV 2d; backward: dP and dV 4d, softmax backward 4, scale 1, dQ and dK
/// 4d. Total 12d + 11.
///
/// Additive, forward: E = W₁q + W₂k broadcast over pairs d_a, tanh d_a, s = vᵀH 2d_a,
/// softmax 5, O = PV 2d; backward: PV 4d, softmax 4, dH = ds·v d_a, dv 2d_a,
/// dE = dH⊙(1 − H²) 3d_a, the two reductions of dE onto queries and keys 2d_a.
/// Total 12d_a + 6d + 9. (The projections W₁q, W₂k are per token, not per pair: see
/// [`flops_total`].)
pub fn flops_per_pair(s: Scorer, d: usize, d_a: usize) -> f64 {
    let (d, da) = (d as f64, d_a as f64);
    match s {
        Scorer::Dot => 12.0 * d + 11.0,
        Scorer::Additive => 12.0 * da + 6.0 * d + 9.0,
    }
}

/// Total forward+backward FLOPs for batch b, n queries and n keys: the per-pair work
/// plus, for additive, the per-token projections W₁q and W₂k (forward 2·d·d_a each,
/// backward 4·d·d_a each, plus the bias).
pub fn flops_total(s: Scorer, b: usize, n: usize, d: usize, d_a: usize) -> f64 {
    let pairs = (b * n * n) as f64;
    let tokens = (b * n) as f64;
    let per_token = match s {
        Scorer::Dot => 0.0,
        Scorer::Additive => 12.0 * (d * d_a) as f64 + 2.0 * d_a as f64,
    };
    pairs * flops_per_pair(s, d, d_a) + tokens * per_token
}

/// Floats an implementation must keep from the forward pass for the backward pass,
/// for batch b and n queries = n keys. Dot-product: Q, K, V and the weights P
/// (3·n·d + n²). Additive: q, k and V, the weights P and the tanh output H, which both
/// tanh's derivative (1 − H²) and v's gradient read: 3·n·d + n² + n²·d_a.
pub fn floats_held(s: Scorer, b: usize, n: usize, d: usize, d_a: usize) -> f64 {
    let base = (3 * n * d + n * n) as f64;
    b as f64
        * match s {
            Scorer::Dot => base,
            Scorer::Additive => base + (n * n * d_a) as f64,
        }
}

/// One forward+backward of one attention call (queries = keys = n, width d, additive
/// hidden width d); returns (wall seconds, peak extra heap bytes).
pub fn time_one(s: Scorer, b: usize, n: usize, d: usize, seed: u64) -> Result<(f64, usize)> {
    let dev = Device::Cpu;
    let mut r = seeded(seed, 10);
    let q = Var::from_tensor(&randn(&mut r, &[b, n, d], 1.0, &dev)?)?;
    let k = Var::from_tensor(&randn(&mut r, &[b, n, d], 1.0, &dev)?)?;
    let v = Var::from_tensor(&randn(&mut r, &[b, n, d], 1.0, &dev)?)?;
    let params = Params::new(seed);
    let att = additive_attention(d, d, d, params.vb())?;
    let t0 = Instant::now();
    let (res, peak) = crate::alloc::peak_extra(|| -> Result<()> {
        let out = match s {
            Scorer::Additive => {
                att.forward(q.as_tensor(), k.as_tensor(), v.as_tensor(), None)?
                    .0
            }
            Scorer::Dot => {
                let f = Scale::InvSqrtDk.factor(d);
                scaled_dot_product(q.as_tensor(), k.as_tensor(), v.as_tensor(), None, f)?.0
            }
        };
        drop(out.sum_all()?.backward()?);
        Ok(())
    });
    res?;
    Ok((t0.elapsed().as_secs_f64(), peak))
}

// ---------------------------------------------------------------- quality

/// The three score functions trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Additive,
    DotUnscaled,
    DotScaled,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Additive, Method::DotUnscaled, Method::DotScaled];
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Additive => "additive",
            Method::DotUnscaled => "dot unscaled",
            Method::DotScaled => "dot scaled",
        })
    }
}

/// One trained arm: a score function at a key width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm {
    pub method: Method,
    pub d_k: usize,
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, d_k = {}", self.method, self.d_k)
    }
}

/// Key→value retrieval: `pairs` distinct keys each with a value, then a query key;
/// the target is the query's value. Tokens: keys 0..K, values K..K+V.
pub struct Retrieval {
    pub pairs: usize,
    pub keys: usize,
    pub values: usize,
}

impl Task for Retrieval {
    fn vocab_in(&self) -> usize {
        self.keys + self.values
    }
    fn vocab_out(&self) -> usize {
        self.values
    }
    fn max_len(&self) -> usize {
        2 * self.pairs + 1
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> candle_core::Result<Batch> {
        use rand::seq::SliceRandom;
        use rand::Rng;
        let t = self.max_len();
        let (mut x, mut y) = (Vec::with_capacity(size * t), Vec::with_capacity(size));
        let all: Vec<u32> = (0..self.keys as u32).collect();
        for _ in 0..size {
            let ks: Vec<u32> = all.choose_multiple(rng, self.pairs).cloned().collect();
            let vs: Vec<u32> = (0..self.pairs)
                .map(|_| rng.gen_range(0..self.values as u32))
                .collect();
            let j = rng.gen_range(0..self.pairs);
            x.extend(&ks);
            x.extend(vs.iter().map(|v| v + self.keys as u32));
            x.push(ks[j]);
            y.push(vs[j]);
        }
        Ok(Batch {
            x: Tensor::from_vec(x, (size, t), dev)?,
            y: Tensor::from_vec(y, (size, 1), dev)?,
            weight: Tensor::ones((size, 1), DType::F32, dev)?,
            lengths: None,
        })
    }
}

/// One attention read-out: the query attends over the keys and reads their values.
pub struct Reader {
    embed: Embedding,
    method: Method,
    wq: Linear,
    wk: Linear,
    additive: Option<AdditiveAttention>,
    wv: Linear,
    out: Linear,
    pairs: usize,
    d_k: usize,
}

/// A reader for `task` with embedding width `d_model`, key width `d_k` and additive
/// hidden width `d_a`. Embeddings are N(0, 1) and the projections N(0, 1/d_model), so
/// q and k components have variance ≈ 1 (the init that makes unscaled logits grow
/// with d_k).
pub fn reader(
    task: &Retrieval,
    d_model: usize,
    d_k: usize,
    d_a: usize,
    method: Method,
    vb: VarBuilder,
) -> Result<Reader> {
    let table = vb.get_with_hints(
        (task.vocab_in(), d_model),
        "embed",
        Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
    )?;
    Ok(Reader {
        embed: Embedding::new(table, d_model),
        method,
        wq: linear(d_model, d_k, false, vb.pp("wq"))?,
        wk: linear(d_model, d_k, false, vb.pp("wk"))?,
        additive: if method == Method::Additive {
            Some(additive_attention(d_k, d_k, d_a, vb.pp("add"))?)
        } else {
            None
        },
        wv: linear(d_model, d_model, false, vb.pp("wv"))?,
        out: linear(d_model, task.vocab_out(), true, vb.pp("out"))?,
        pairs: task.pairs,
        d_k,
    })
}

impl SeqModel for Reader {
    fn logits(&self, b: &Batch, _train: bool) -> candle_core::Result<Tensor> {
        let e = self.embed.forward(&b.x)?; // (B, 2p+1, d)
        let p = self.pairs;
        let q = self.wq.forward(&e.narrow(1, 2 * p, 1)?)?;
        let k = self.wk.forward(&e.narrow(1, 0, p)?)?;
        let v = self.wv.forward(&e.narrow(1, p, p)?)?;
        let o = match self.method {
            Method::Additive => {
                self.additive
                    .as_ref()
                    .expect("additive layer")
                    .forward(&q, &k, &v, None)?
                    .0
            }
            Method::DotUnscaled => scaled_dot_product(&q, &k, &v, None, 1.0)?.0,
            Method::DotScaled => {
                scaled_dot_product(&q, &k, &v, None, Scale::InvSqrtDk.factor(self.d_k))?.0
            }
        };
        self.out.forward(&o) // (B, 1, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-pair counts are the totals' n² coefficient, and the closed-form ratios
    /// have the expected limits.
    #[test]
    fn closed_form_counts() {
        let (d, da) = (32, 32);
        let per = flops_per_pair(Scorer::Dot, d, da);
        assert_eq!(flops_total(Scorer::Dot, 2, 10, d, da), 200.0 * per);
        let r = flops_per_pair(Scorer::Additive, d, da) / per;
        assert!(r > 1.4 && r < 1.6, "{r}");
        // Held floats: additive holds n²·d_a more.
        let extra =
            floats_held(Scorer::Additive, 1, 8, d, da) - floats_held(Scorer::Dot, 1, 8, d, da);
        assert_eq!(extra, (8 * 8 * da) as f64);
    }
}
