//! Setup of question 2: the closed-form fits of an asymmetric bilinear form by
//! W_QW_Kᵀ and by WWᵀ, the successor tasks over a random cycle or chain, and the
//! pointer model whose logits are attention scores.

use std::fmt;

use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use candle_nn::{Init, Optimizer, ParamsAdamW, VarBuilder};

use crate::core::fused::AdamW;

use crate::core::attention::attention_weights;
use crate::core::mask::{AttnMask, Mask};
use crate::core::Params;
use crate::core::{multi_head_attention, MhaConfig, MultiHeadAttention};
use crate::output::table::Table;
use crate::rng::{randn, seeded, Rng64};
use crate::row;
use crate::train::{Batch, SeqModel, Task};
use candle_core::D;

// ---------------------------------------------------------------- linear algebra

/// Eigenvalues of a symmetric matrix (row-major n×n) by cyclic Jacobi rotations.
pub fn sym_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    let mut m = a.to_vec();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * akp - s * akq;
                    m[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * apk - s * aqk;
                    m[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..n).map(|i| m[i * n + i]).collect();
    ev.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    ev
}

/// Closed-form relative errors ‖M − fit‖/‖M‖ of the best rank-r W_QW_Kᵀ and the best
/// WWᵀ (W d×r), and the parts of the shared floor: antisymmetric and negative-eigenvalue energy shares.
pub struct Floors {
    pub separate: f64,
    pub shared: f64,
    pub anti_share: f64,
    pub neg_share: f64,
}

pub fn floors(m: &[f64], d: usize, r: usize) -> Floors {
    let norm2: f64 = m.iter().map(|x| x * x).sum();
    // Separate: singular values² are the eigenvalues of MᵀM.
    let mut mtm = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            mtm[i * d + j] = (0..d).map(|k| m[k * d + i] * m[k * d + j]).sum();
        }
    }
    let s2 = sym_eigenvalues(&mtm, d);
    let sep: f64 = s2.iter().skip(r).map(|x| x.max(0.0)).sum();
    // Shared: M = Sym + Anti; the best PSD rank-r fit keeps Sym's top r positive eigenvalues.
    let mut sym = vec![0.0; d * d];
    let mut anti = 0.0;
    for i in 0..d {
        for j in 0..d {
            sym[i * d + j] = 0.5 * (m[i * d + j] + m[j * d + i]);
            anti += (0.5 * (m[i * d + j] - m[j * d + i])).powi(2);
        }
    }
    let ev = sym_eigenvalues(&sym, d);
    let neg: f64 = ev.iter().filter(|&&x| x < 0.0).map(|x| x * x).sum();
    let dropped: f64 = ev
        .iter()
        .filter(|&&x| x >= 0.0)
        .skip(r)
        .map(|x| x * x)
        .sum();
    Floors {
        separate: (sep / norm2).sqrt(),
        shared: ((anti + neg + dropped) / norm2).sqrt(),
        anti_share: anti / norm2,
        neg_share: neg / norm2,
    }
}

/// Relative error reached by Adam on ‖M − ABᵀ‖² (separate) or ‖M − AAᵀ‖² (shared).
pub fn gd_fit(
    m: &[f64],
    d: usize,
    r: usize,
    shared: bool,
    steps: usize,
    lr: f64,
    seed: u64,
) -> Result<f64> {
    let dev = Device::Cpu;
    let mut rng = seeded(seed, 20 + r as u64);
    let target = Tensor::from_vec(
        m.iter().map(|&x| x as f32).collect::<Vec<_>>(),
        (d, d),
        &dev,
    )?;
    let std = 1.0 / (d as f64).sqrt();
    let a = Var::from_tensor(&randn(&mut rng, &[d, r], std, &dev)?)?;
    let b = Var::from_tensor(&randn(&mut rng, &[d, r], std, &dev)?)?;
    let vars = if shared {
        vec![a.clone()]
    } else {
        vec![a.clone(), b.clone()]
    };
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )?;
    let fit = |a: &Tensor, b: &Tensor| -> candle_core::Result<Tensor> {
        if shared {
            a.matmul(&a.t()?)
        } else {
            a.matmul(&b.t()?)
        }
    };
    for _ in 0..steps {
        let loss = (fit(a.as_tensor(), b.as_tensor())? - &target)?
            .sqr()?
            .sum_all()?;
        opt.backward_step(&loss)?;
    }
    let err = (fit(a.as_tensor(), b.as_tensor())? - &target)?
        .sqr()?
        .sum_all()?
        .to_scalar::<f32>()? as f64;
    let n2: f64 = m.iter().map(|x| x * x).sum();
    Ok((err / n2).sqrt())
}

// ---------------------------------------------------------------- symmetry, shapes

/// (a) Score symmetry on random inputs.
pub struct Symmetry {
    /// Largest ‖S − Sᵀ‖/‖S‖ per (batch element, head): shared, separate.
    pub asym: [f64; 2],
    /// The same after the softmax, shared.
    pub weights_asym: f64,
    /// Share of rows whose largest score is the diagonal: shared, separate.
    pub diag: [f64; 2],
}

/// Score asymmetry with shared and separate W_Q, W_K on inputs `x` (B, T, D):
/// `symmetry.csv` and the numbers.
pub fn score_symmetry(x: &Tensor, heads: usize, seed: u64) -> Result<(Table, Symmetry)> {
    let (_, seq_len, d_model) = x.dims3()?;
    let mut t = Table::new(&[
        "projection",
        "asymmetry_scores",
        "asymmetry_weights",
        "diag_argmax_share",
        "chance",
    ]);
    let mut s = Symmetry {
        asym: [0.0; 2],
        weights_asym: 0.0,
        diag: [0.0; 2],
    };
    let rel = |m: &Tensor| -> Result<f64> {
        let d = (m - m.transpose(2, 3)?)?.sqr()?.sum((2, 3))?.sqrt()?;
        let n = m.sqr()?.sum((2, 3))?.sqrt()?;
        Ok((d / n)?.max_all()?.to_scalar::<f32>()? as f64)
    };
    for (i, shared) in [true, false].into_iter().enumerate() {
        let params = Params::new(seed);
        let mut mc = MhaConfig::new(d_model, heads);
        mc.share_qk = shared;
        let scores = multi_head_attention(mc, params.vb())?.scores(x, x)?; // (B, h, T, T)
        let w_asym = rel(&attention_weights(&scores, None)?)?;
        let am = scores.argmax(D::Minus1)?.flatten_all()?.to_vec1::<u32>()?;
        let hits = am
            .iter()
            .enumerate()
            .filter(|(idx, j)| (*idx % seq_len) as u32 == **j)
            .count();
        s.asym[i] = rel(&scores)?;
        s.diag[i] = hits as f64 / am.len() as f64;
        if shared {
            s.weights_asym = w_asym;
        }
        let name = if shared {
            "shared W"
        } else {
            "separate W_Q, W_K"
        };
        t.push(row![
            name,
            s.asym[i],
            w_asym,
            s.diag[i],
            1.0 / seq_len as f64
        ]);
    }
    Ok((t, s))
}

/// Cross-attention with W_Q = W_K for each (n_q, n_k) in `shapes`: `cross_attention.csv`
/// and how many gave correctly shaped, finite outputs.
pub fn shared_cross_attention(
    d_model: usize,
    heads: usize,
    shapes: &[(usize, usize)],
    seed: u64,
) -> Result<(Table, usize)> {
    let mut cross = Table::new(&[
        "n_q",
        "n_k",
        "output_shape",
        "weights_shape",
        "finite",
        "ok",
    ]);
    let params = Params::new(seed);
    let mut mc = MhaConfig::new(d_model, heads);
    mc.share_qk = true;
    let mha = multi_head_attention(mc, params.vb())?;
    let mut ok_count = 0usize;
    let mut r = seeded(seed, 7);
    for &(nq, nk) in shapes {
        let xq = randn(&mut r, &[2, nq, d_model], 1.0, &Device::Cpu)?;
        let xk = randn(&mut r, &[2, nk, d_model], 1.0, &Device::Cpu)?;
        let (os, ws, fin, ok) = match mha.forward_with_weights(&xq, &xk, None) {
            Ok((o, w)) => {
                let fin = o
                    .flatten_all()?
                    .to_vec1::<f32>()?
                    .iter()
                    .all(|v| v.is_finite());
                let ok = o.dims() == [2, nq, d_model] && w.dims() == [2, heads, nq, nk] && fin;
                (
                    format!("{:?}", o.dims()),
                    format!("{:?}", w.dims()),
                    fin,
                    ok,
                )
            }
            Err(e) => (format!("error: {e}"), String::new(), false, false),
        };
        ok_count += ok as usize;
        cross.push(row![nq, nk, os, ws, fin, ok]);
    }
    Ok((cross, ok_count))
}

// ---------------------------------------------------------------- successor tasks

/// The relation whose successor each token must point to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Relation {
    /// A random k-cycle over the tokens: every token has a successor, and the relation
    /// goes round (no symmetric score can rank every successor first).
    Cycle,
    /// A random chain (a total order): every token but the last has a successor; the
    /// last is not scored. A symmetric score rising along the chain encodes it.
    Chain,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Relation::Cycle => "cycle",
            Relation::Chain => "chain",
        })
    }
}

/// One training arm: relation, shared or separate W, self-attention barred or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm {
    pub relation: Relation,
    pub shared: bool,
    pub no_self: bool,
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}, {}",
            self.relation,
            if self.shared {
                "shared W"
            } else {
                "separate W_Q, W_K"
            },
            if self.no_self {
                "self barred"
            } else {
                "self allowed"
            }
        )
    }
}

/// Tokens 0..k−1 in a random order; the target at position i is the position of
/// succ(x_i), where succ follows a random order of the tokens fixed by the seed
/// (wrapping round for a cycle; the chain's last token is not scored).
pub struct SuccessorTask {
    pub k: usize,
    /// succ[t]; None for the chain's last token.
    pub succ: Vec<Option<usize>>,
}

impl SuccessorTask {
    pub fn new(k: usize, relation: Relation, seed: u64) -> Self {
        use rand::seq::SliceRandom;
        let mut order: Vec<usize> = (0..k).collect();
        order.shuffle(&mut seeded(seed, 30));
        let mut succ = vec![None; k];
        for i in 0..k {
            succ[order[i]] = match relation {
                Relation::Cycle => Some(order[(i + 1) % k]),
                Relation::Chain => (i + 1 < k).then(|| order[i + 1]),
            };
        }
        Self { k, succ }
    }
}

impl Task for SuccessorTask {
    fn vocab_in(&self) -> usize {
        self.k
    }
    fn vocab_out(&self) -> usize {
        self.k
    }
    fn max_len(&self) -> usize {
        self.k
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> candle_core::Result<Batch> {
        use rand::seq::SliceRandom;
        let k = self.k;
        let (mut x, mut y, mut w) = (
            Vec::with_capacity(size * k),
            Vec::with_capacity(size * k),
            Vec::with_capacity(size * k),
        );
        for _ in 0..size {
            let mut perm: Vec<usize> = (0..k).collect();
            perm.shuffle(rng);
            let mut pos = vec![0; k];
            for (i, &t) in perm.iter().enumerate() {
                pos[t] = i;
            }
            for &t in &perm {
                x.push(t as u32);
                match self.succ[t] {
                    Some(s) => {
                        y.push(pos[s] as u32);
                        w.push(1.0);
                    }
                    None => {
                        y.push(0);
                        w.push(0.0);
                    }
                }
            }
        }
        Batch::from_vecs(x, y, w, size, k, None, dev)
    }
}

/// Pointer network: the logits of query i over positions j are the attention scores
/// s_ij = (x_i W_Q)·(x_j W_K)/√d from the token embeddings (W_Q = W_K when shared), with
/// the diagonal barred (a −1e9 bias from `Mask::no_self`) when asked.
pub struct Pointer {
    pub embed: Tensor,
    pub attn: MultiHeadAttention,
    pub mask: Option<AttnMask>,
}

pub fn pointer(k: usize, d: usize, shared: bool, no_self: bool, vb: VarBuilder) -> Result<Pointer> {
    let init = Init::Randn {
        mean: 0.0,
        stdev: 1.0,
    };
    let mut mc = MhaConfig::new(d, 1);
    mc.share_qk = shared;
    mc.bias = false;
    Ok(Pointer {
        embed: vb.get_with_hints((k, d), "embed", init)?,
        attn: multi_head_attention(mc, vb.pp("attn"))?,
        mask: if no_self {
            Some(Mask::no_self(k).to_attn_with(-1e9, vb.device())?)
        } else {
            None
        },
    })
}

impl SeqModel for Pointer {
    fn logits(&self, b: &Batch, _train: bool) -> candle_core::Result<Tensor> {
        let (bs, t) = b.x.dims2()?;
        let e = self
            .embed
            .index_select(&b.x.flatten_all()?, 0)?
            .reshape((bs, t, ()))?;
        let s = self.attn.scores(&e, &e)?; // (B, 1, T, T)
        let s = match &self.mask {
            Some(m) => s.broadcast_add(&m.bias)?,
            None => s,
        };
        s.squeeze(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_eigenvalues_of_known_matrix() {
        // [[2,1],[1,2]] has eigenvalues 3 and 1.
        let ev = sym_eigenvalues(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((ev[0] - 3.0).abs() < 1e-12 && (ev[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn floors_of_symmetric_psd_and_antisymmetric() {
        // PSD diagonal: both forms fit it exactly at full rank.
        let f = floors(&[3.0, 0.0, 0.0, 1.0], 2, 2);
        assert!(f.separate < 1e-9 && f.shared < 1e-9);
        // Antisymmetric: the shared form cannot fit any of it.
        let f = floors(&[0.0, 1.0, -1.0, 0.0], 2, 2);
        assert!((f.shared - 1.0).abs() < 1e-9 && f.separate < 1e-9);
    }

    #[test]
    fn pointer_model_gets_gradients() {
        let p = Params::new(0);
        let m = pointer(5, 8, true, true, p.vb()).unwrap();
        let task = SuccessorTask::new(5, Relation::Cycle, 0);
        let b = task.batch(&mut seeded(0, 2), 4, &Device::Cpu).unwrap();
        let (loss, _, _) =
            crate::train::trainer::masked_loss(&m.logits(&b, true).unwrap(), &b).unwrap();
        let dead = crate::train::trainer::vars_without_gradient(&p, &loss).unwrap();
        // The pointer uses only the attention's scores: the value and output
        // projections the core's attention layer also creates are never used.
        let dead: Vec<_> = dead
            .into_iter()
            .filter(|n| n != "attn.wv.weight" && n != "attn.wo.weight")
            .collect();
        assert!(dead.is_empty(), "{dead:?}");
    }

    /// A symmetric score that rises along the chain ranks every token's successor
    /// first (the boundary Q2.L1 tests); the task's targets agree with it.
    #[test]
    fn symmetric_score_encodes_a_chain() {
        let k = 7;
        let task = SuccessorTask::new(k, Relation::Chain, 3);
        // Recover the order: the head is the token nobody points to.
        let mut order = vec![(0..k).find(|t| !task.succ.contains(&Some(*t))).unwrap()];
        while let Some(n) = task.succ[*order.last().unwrap()] {
            order.push(n);
        }
        assert_eq!(order.len(), k);
        let mut s = vec![vec![0.0; k]; k];
        for m in 0..k - 1 {
            let (a, b) = (order[m], order[m + 1]);
            s[a][b] = (m + 1) as f64;
            s[b][a] = (m + 1) as f64;
        }
        for (t, row) in s.iter().enumerate() {
            let best = (0..k).max_by(|&i, &j| row[i].total_cmp(&row[j])).unwrap();
            match task.succ[t] {
                Some(n) => assert_eq!(best, n),
                None => assert_eq!(Some(t), order.last().copied()),
            }
        }
        let b = task.batch(&mut seeded(0, 2), 2, &Device::Cpu).unwrap();
        let w = b.weight.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(w.iter().filter(|x| **x == 0.0).count(), 2);
    }
}
