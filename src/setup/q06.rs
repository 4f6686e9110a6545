//! Setup of question 6: the three head layouts (A one head of width d, B h heads of
//! width d/h, C h heads of width d), their closed-form parameter and FLOP counts, a
//! wall-clock forward+backward, and the low-rank fit of random attention patterns.

use std::fmt;
use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor, Var, D};
use candle_nn::{Optimizer, ParamsAdamW};

use crate::core::fused::AdamW;

use crate::core::attention::{MhaConfig, MultiHeadAttention};
use crate::rng::{randn, seeded};

/// One attention layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// "A", "B" or "C".
    pub tag: char,
    pub heads: usize,
    pub d_head: usize,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let heads = if self.heads == 1 { "head" } else { "heads" };
        write!(
            f,
            "{}: {} {heads} of width {}",
            self.tag, self.heads, self.d_head
        )
    }
}

/// A (1 × d), B (h × d/h), C (h × d).
pub fn layouts(d: usize, h: usize) -> [Layout; 3] {
    [
        Layout {
            tag: 'A',
            heads: 1,
            d_head: d,
        },
        Layout {
            tag: 'B',
            heads: h,
            d_head: d / h,
        },
        Layout {
            tag: 'C',
            heads: h,
            d_head: d,
        },
    ]
}

pub fn mha_cfg(d: usize, l: Layout) -> MhaConfig {
    let mut c = MhaConfig::new(d, 1);
    c.heads = l.heads;
    c.d_k = l.d_head;
    c.d_v = l.d_head;
    c
}

/// Closed-form parameter count: W_Q, W_K, W_V (d × h·w, with biases), W_O (h·w × d + d).
pub fn params_closed(d: usize, l: Layout) -> usize {
    let hw = l.heads * l.d_head;
    3 * (d * hw + hw) + hw * d + d
}

/// Closed-form forward FLOPs (multiply-add = 2): projections, q·k scores, weighted sum
/// of values, and 5 per softmax entry (max, subtract, exp, sum, divide).
pub fn flops_closed(b: usize, n: usize, d: usize, l: Layout) -> f64 {
    let (b, n, d, h, w) = (
        b as f64,
        n as f64,
        d as f64,
        l.heads as f64,
        l.d_head as f64,
    );
    let proj = 2.0 * b * n * d * 3.0 * h * w + 2.0 * b * n * h * w * d;
    let attn = 2.0 * b * h * n * n * w * 2.0;
    let softmax = 5.0 * b * h * n * n;
    proj + attn + softmax
}

/// Wall-clock seconds of one forward+backward of `mha` (self-attention on `x`).
pub fn time_fb(mha: &MultiHeadAttention, x: &Var) -> Result<f64> {
    let t0 = Instant::now();
    let y = mha.forward(x.as_tensor(), x.as_tensor(), None)?;
    drop(y.sqr()?.sum_all()?.backward()?);
    Ok(t0.elapsed().as_secs_f64())
}

/// How the random target patterns are drawn and fitted.
pub struct FitConfig {
    /// Target patterns per n (fitted together as a batch; the same targets for every d_k).
    pub targets: usize,
    /// Target sharpness: P = softmax(beta·G), G standard normal.
    pub beta: f64,
    pub steps: usize,
    pub lr: f64,
}

/// Best rank-d_k fit softmax(Q Kᵀ), Q, K ∈ R^{n×d_k}, of random row-stochastic
/// patterns, by Adam on KL(P ‖ P̂); returns the mean total-variation error per row,
/// one value per target pattern. The targets depend on (seed, n) only, so the errors
/// at different d_k are paired by target.
pub fn fit_low_rank(f: &FitConfig, seed: u64, n: usize, dk: usize) -> Result<Vec<f64>> {
    let dev = Device::Cpu;
    let mut r = seeded(seed, 100 + n as u64);
    let logits = (randn(&mut r, &[f.targets, n, n], 1.0, &dev)? * f.beta)?;
    let target = candle_nn::ops::softmax(&logits, D::Minus1)?;
    let log_target = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let mut r = seeded(seed, 10_000 + (n * 1000 + dk) as u64);
    let std = (dk as f64).powf(-0.25);
    let q = Var::from_tensor(&randn(&mut r, &[f.targets, n, dk], std, &dev)?)?;
    let k = Var::from_tensor(&randn(&mut r, &[f.targets, n, dk], std, &dev)?)?;
    let mut opt = AdamW::new(
        vec![q.clone(), k.clone()],
        ParamsAdamW {
            lr: f.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let fit = |q: &Var, k: &Var| -> candle_core::Result<Tensor> {
        candle_nn::ops::log_softmax(&q.as_tensor().matmul(&k.as_tensor().t()?)?, D::Minus1)
    };
    for _ in 0..f.steps {
        let kl = (&target * (&log_target - fit(&q, &k)?)?)?
            .sum(D::Minus1)?
            .mean_all()?;
        opt.backward_step(&kl)?;
    }
    let p_hat = fit(&q, &k)?.exp()?;
    let tv = ((p_hat - &target)?.abs()?.sum(D::Minus1)? * 0.5)?.mean(1)?;
    Ok(tv.to_vec1::<f32>()?.into_iter().map(|x| x as f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::attention::multi_head_attention;
    use crate::core::params::Params;

    /// The closed-form parameter count matches the built layer for odd layouts.
    #[test]
    fn params_closed_form_matches_layer() {
        for (heads, w) in [(1, 12), (3, 4), (3, 12)] {
            let p = Params::new(0);
            let l = Layout {
                tag: 'X',
                heads,
                d_head: w,
            };
            multi_head_attention(mha_cfg(12, l), p.vb()).unwrap();
            assert_eq!(p.count(), params_closed(12, l));
        }
    }

    /// A fit at full rank beats one at rank 1, per target.
    #[test]
    fn low_rank_fit_improves_with_rank() {
        let f = FitConfig {
            targets: 2,
            beta: 2.0,
            steps: 100,
            lr: 0.05,
        };
        let lo = fit_low_rank(&f, 0, 6, 1).unwrap();
        let hi = fit_low_rank(&f, 0, 6, 6).unwrap();
        assert_eq!(lo.len(), 2);
        assert!(hi.iter().zip(&lo).all(|(h, l)| h < l), "{hi:?} vs {lo:?}");
    }
}
