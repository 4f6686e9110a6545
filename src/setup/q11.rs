//! Q11 (residual connections): the stack variants, and the measurements at
//! initialization — per-block gradient norms (all parameters, and split into the Q/K
//! group and the V/O/FFN group), the gradient reaching each block's input (whole, and
//! its token-specific part centred over positions), and the rank-collapse residual
//! ‖X − 1x̄ᵀ‖/‖X‖ after every block.

use std::fmt;

use anyhow::{Context as _, Result};
use candle_core::{DType, Device, Module, Tensor, Var};

use crate::core::layers::{LayerConfig, LayerCtx, Placement};
use crate::core::model::{encoder, Encoder, EncoderConfig, PosKind};
use crate::core::norm::NormKind;
use crate::core::params::Params;
use crate::rng::seeded;
use crate::stats;
use crate::train::tasks::PrevToken;
use crate::train::{self, Task};

/// Where a stack normalizes: after each sublayer (Post-LN), before it (Pre-LN), or
/// not at all. A residual and a no-residual stack with the same `Normed` are the
/// paired arms of Q11.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normed {
    PostLn,
    PreLn,
    NoNorm,
}

impl fmt::Display for Normed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Normed::PostLn => "Post-LN",
            Normed::PreLn => "Pre-LN",
            Normed::NoNorm => "no norm",
        })
    }
}

impl Normed {
    pub const ALL: [Normed; 3] = [Normed::PostLn, Normed::PreLn, Normed::NoNorm];
}

/// One stack variant: residuals on or off at a normalization setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub residual: bool,
    pub normed: Normed,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = if self.residual {
            "residual"
        } else {
            "no residual"
        };
        write!(f, "{r}, {}", self.normed)
    }
}

impl Variant {
    pub const fn new(residual: bool, normed: Normed) -> Self {
        Variant { residual, normed }
    }
    /// Every variant measured at initialization: residual on/off × normalization.
    pub fn all() -> Vec<Variant> {
        [true, false]
            .iter()
            .flat_map(|&r| Normed::ALL.iter().map(move |&n| Variant::new(r, n)))
            .collect()
    }
    /// The variants trained (Q11.L2): the five of the first design (no-residual
    /// Pre-LN differs from no-residual Post-LN only by where the first and last norm sit).
    pub fn trained() -> Vec<Variant> {
        vec![
            Variant::new(true, Normed::PostLn),
            Variant::new(true, Normed::PreLn),
            Variant::new(true, Normed::NoNorm),
            Variant::new(false, Normed::PostLn),
            Variant::new(false, Normed::NoNorm),
        ]
    }
    fn layer(&self, d_model: usize, heads: usize) -> LayerConfig {
        let mut l = LayerConfig::new(d_model, heads);
        l.residual = self.residual;
        (l.norm, l.placement) = match self.normed {
            Normed::PostLn => (NormKind::Layer, Placement::PostLn),
            Normed::PreLn => (NormKind::Layer, Placement::PreLn),
            Normed::NoNorm => (NormKind::None, Placement::PostLn),
        };
        l
    }
}

/// Model and task sizes shared by every measurement.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Sizes {
    pub d_model: usize,
    pub heads: usize,
    pub vocab: usize,
    pub seq_len: usize,
}

impl Sizes {
    pub fn task(&self) -> PrevToken {
        PrevToken {
            vocab: self.vocab,
            len: self.seq_len,
        }
    }
}

/// A stack of `depth` core encoder layers, sinusoidal positions.
pub fn build(s: &Sizes, v: Variant, depth: usize, params: &Params) -> Result<Encoder> {
    let mut ec = EncoderConfig::new(s.vocab, s.seq_len, depth, v.layer(s.d_model, s.heads));
    ec.pos = PosKind::Sinusoidal;
    Ok(encoder(ec, params.vb())?)
}

/// Mean over sequences of ‖X − 1x̄ᵀ‖_F / ‖X‖_F for hidden states (B, T, D).
pub fn rank_residual(x: &Tensor) -> Result<f64> {
    let x = x.to_dtype(DType::F64)?;
    let mean = x.mean_keepdim(1)?;
    let num = x.broadcast_sub(&mean)?.sqr()?.sum(2)?.sum(1)?.sqrt()?;
    let den = x.sqr()?.sum(2)?.sum(1)?.sqrt()?;
    let r = num.div(&den.clamp(1e-300, f64::MAX)?)?.to_vec1::<f64>()?;
    Ok(stats::mean(&r))
}

/// The parameter groups whose gradients are reported apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// W_Q and W_K: they reach the loss only through the attention pattern.
    QueryKey,
    /// W_V, W_O and the FFN: they reach it through the values.
    ValueOutFfn,
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Group::QueryKey => "Q/K",
            Group::ValueOutFfn => "V/O/FFN",
        })
    }
}

fn group_of(name: &str) -> Option<Group> {
    if name.contains(".attn.wq") || name.contains(".attn.wk") {
        Some(Group::QueryKey)
    } else if name.contains(".attn.wv") || name.contains(".attn.wo") || name.contains(".ffn.") {
        Some(Group::ValueOutFfn)
    } else {
        None
    }
}

/// One forward+backward at initialization, per block (first to last).
pub struct InitMeasure {
    /// Gradient norm of each block's parameters.
    pub grad: Vec<f64>,
    /// Gradient norm of each block's Q/K parameters.
    pub grad_qk: Vec<f64>,
    /// Gradient norm of each block's V/O/FFN parameters.
    pub grad_vof: Vec<f64>,
    /// Norm of ∂loss/∂(input of each block).
    pub act: Vec<f64>,
    /// Norm of its token-specific part: ∂loss/∂input centred over positions.
    pub act_centred: Vec<f64>,
    /// Rank residual of the embedding output, then after each block.
    pub rank: Vec<f64>,
}

/// first / last, with 0 for a ratio that is not finite (0/0, underflow).
pub fn first_over_last(xs: &[f64]) -> f64 {
    let r = xs[0] / xs[xs.len() - 1];
    if r.is_finite() {
        r
    } else {
        0.0
    }
}

fn sq_norm(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?
        .sqr()?
        .sum_all()?
        .to_scalar::<f64>()?)
}

/// Measure one stack at initialization on one batch of the previous-token task.
pub fn measure_init(
    s: &Sizes,
    v: Variant,
    depth: usize,
    batch: usize,
    seed: u64,
) -> Result<InitMeasure> {
    let params = Params::new(seed);
    let m = build(s, v, depth, &params)?;
    let b = s.task().batch(&mut seeded(seed, 4), batch, &Device::Cpu)?;
    let c = LayerCtx::default();
    let mut x = m.embed(&b.x)?;
    let mut rank = vec![rank_residual(&x)?];
    // A zero variable added to each block's input: its gradient is ∂loss/∂input.
    let mut probes = vec![];
    for l in &m.layers {
        let z = Var::zeros(x.shape(), DType::F32, &Device::Cpu)?;
        x = (x + z.as_tensor())?;
        probes.push(z);
        x = l.forward_t(&x, &c)?;
        rank.push(rank_residual(&x)?);
    }
    let logits = m.head.forward(&m.final_norm.forward_t(&x, None, false)?)?;
    let (loss, _, _) = train::trainer::masked_loss(&logits, &b)?;
    let grads = loss.backward()?;
    let (mut all, mut qk, mut vof) = (vec![0f64; depth], vec![0f64; depth], vec![0f64; depth]);
    for (name, var) in params.named_vars() {
        let Some(rest) = name.strip_prefix("layer") else {
            continue;
        };
        let i: usize = rest
            .split('.')
            .next()
            .and_then(|s| s.parse().ok())
            .context("layer index")?;
        if let Some(g) = grads.get(var.as_tensor()) {
            let q = sq_norm(g)?;
            all[i] += q;
            match group_of(&name) {
                Some(Group::QueryKey) => qk[i] += q,
                Some(Group::ValueOutFfn) => vof[i] += q,
                None => {}
            }
        }
    }
    let (mut act, mut act_centred) = (vec![], vec![]);
    for z in &probes {
        match grads.get(z.as_tensor()) {
            Some(g) => {
                let g = g.to_dtype(DType::F64)?;
                act.push(sq_norm(&g)?.sqrt());
                let c = g.broadcast_sub(&g.mean_keepdim(1)?)?;
                act_centred.push(sq_norm(&c)?.sqrt());
            }
            None => {
                act.push(0.0);
                act_centred.push(0.0);
            }
        }
    }
    let sqrt = |v: Vec<f64>| v.into_iter().map(f64::sqrt).collect::<Vec<_>>();
    Ok(InitMeasure {
        grad: sqrt(all),
        grad_qk: sqrt(qk),
        grad_vof: sqrt(vof),
        act,
        act_centred,
        rank,
    })
}

/// Per-block gradient retention of a residual stack over its no-residual twin, in
/// decades per block: (log10 r_res − log10 r_plain)/(L − 1), with r the first/last
/// block gradient ratio. Positive: the residual stack keeps more of the gradient per
/// block. Ratios are floored at 1e-30 so an underflow counts as very small.
pub fn decay_gap(r_res: f64, r_plain: f64, depth: usize) -> f64 {
    (r_res.max(1e-30).log10() - r_plain.max(1e-30).log10()) / (depth as f64 - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_gap_in_decades_per_block() {
        // 1 against 1e-3 over 4 blocks: 3 decades over 3 block steps.
        assert!((decay_gap(1.0, 1e-3, 4) - 1.0).abs() < 1e-12);
        assert!(decay_gap(0.1, 1.0, 11) < 0.0);
        assert!(decay_gap(1.0, 0.0, 31).is_finite());
    }

    #[test]
    fn groups_by_name() {
        assert_eq!(group_of("layer3.attn.wq.weight"), Some(Group::QueryKey));
        assert_eq!(group_of("layer0.attn.wk.bias"), Some(Group::QueryKey));
        assert_eq!(group_of("layer0.attn.wo.weight"), Some(Group::ValueOutFfn));
        assert_eq!(group_of("layer0.ffn.w2.weight"), Some(Group::ValueOutFfn));
        assert_eq!(group_of("layer0.norm1.weight"), None);
    }

    #[test]
    fn paired_stacks_share_their_weights() {
        let s = Sizes {
            d_model: 8,
            heads: 2,
            vocab: 5,
            seq_len: 4,
        };
        let a = Params::new(3);
        let b = Params::new(3);
        build(&s, Variant::new(true, Normed::PostLn), 2, &a).unwrap();
        build(&s, Variant::new(false, Normed::PostLn), 2, &b).unwrap();
        for ((na, va), (nb, vb)) in a.named_vars().iter().zip(b.named_vars().iter()) {
            assert_eq!(na, nb);
            let d = (va.as_tensor() - vb.as_tensor()).unwrap().abs().unwrap();
            assert_eq!(d.sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
        }
    }
}
