//! Setup of question 8 (the √d_model embedding scale): embedding inits and their
//! sampled variance, the embedding/PE norm ratio, and the paired training comparison
//! (sequence reversal, a small Post-LN encoder with sinusoidal positions, with and
//! without the scale).

use std::fmt;

use anyhow::Result;
use candle_core::{Device, Module, Tensor};

use crate::core::position::sinusoidal_values;
use crate::core::{encoder, Encoder, EncoderConfig, LayerConfig, LayerCtx, Params, PosKind};
use crate::rng::{index_vec, normal_vec, uniform_vec, Rng64};
use crate::stats::{self, Estimate};
use crate::train::{Batch, SeqModel, Task};

/// How the V×d embedding is initialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitKind {
    /// Glorot uniform U(±√(6/(V+d))), variance 2/(V+d).
    Xavier,
    /// N(0, 1/d), as in the reference implementation (tensor2tensor).
    NormalInvD,
}

impl fmt::Display for InitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InitKind::Xavier => "Xavier",
            InitKind::NormalInvD => "N(0, 1/d)",
        })
    }
}

impl InitKind {
    pub fn draw(&self, rng: &mut Rng64, n: usize, v: usize, d: usize) -> Vec<f32> {
        match self {
            InitKind::Xavier => {
                let a = (6.0 / (v + d) as f64).sqrt();
                uniform_vec(rng, n, -a, a)
            }
            InitKind::NormalInvD => normal_vec(rng, n, 0.0, 1.0 / (d as f64).sqrt()),
        }
    }
}

/// Variance of (up to `rows` rows of) a V×d matrix drawn row group by row group (no
/// full matrix in memory): mean of the group variances with a t interval.
pub fn matrix_variance(
    rng: &mut Rng64,
    init: InitKind,
    v: usize,
    d: usize,
    rows: usize,
    groups: usize,
) -> Estimate {
    let rows = rows.min(v);
    let per = rows.div_ceil(groups);
    let mut gv = vec![];
    let mut left = rows;
    while left > 0 {
        let r = per.min(left);
        let xs: Vec<f64> = init
            .draw(rng, r * d, v, d)
            .into_iter()
            .map(|x| x as f64)
            .collect();
        gv.push(stats::variance(&xs));
        left -= r;
    }
    stats::mean_ci(&gv, 0.95)
}

/// Euclidean norms of `rows` freshly drawn embedding rows.
pub fn row_norms(rng: &mut Rng64, init: InitKind, rows: usize, v: usize, d: usize) -> Vec<f64> {
    init.draw(rng, rows * d, v, d)
        .chunks(d)
        .map(|r| r.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt())
        .collect()
}

/// The sinusoidal table's mean square entry (theory 1/2) and mean row norm.
pub struct PeNorm {
    pub mean_square: f64,
    pub mean_norm: f64,
}

pub fn pe_norm(positions: usize, d: usize) -> PeNorm {
    let pe = sinusoidal_values(positions, d);
    let mean_square = pe.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / pe.len() as f64;
    let mean_norm = pe
        .chunks(d)
        .map(|r| r.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt())
        .sum::<f64>()
        / positions as f64;
    PeNorm {
        mean_square,
        mean_norm,
    }
}

/// Sequence reversal: y_t = x_{T−1−t} (each output depends on a token and a position).
pub struct Reverse {
    pub vocab: usize,
    pub len: usize,
}

impl Task for Reverse {
    fn vocab_in(&self) -> usize {
        self.vocab
    }
    fn vocab_out(&self) -> usize {
        self.vocab
    }
    fn max_len(&self) -> usize {
        self.len
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> candle_core::Result<Batch> {
        let t = self.len;
        let x = index_vec(rng, size * t, self.vocab);
        let y: Vec<u32> = (0..size * t)
            .map(|i| x[(i / t) * t + (t - 1 - i % t)])
            .collect();
        Batch::from_vecs(x, y, vec![1.0; size * t], size, t, None, dev)
    }
}

/// The two arms of the training comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    Unscaled,
    Scaled,
}

impl fmt::Display for Scaling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scaling::Unscaled => "no scale",
            Scaling::Scaled => "× √d_model",
        })
    }
}

/// The core encoder with its token embedding multiplied by `scale` before the PE is
/// added.
pub struct ScaledEncoder {
    pub enc: Encoder,
    pub scale: f64,
}

impl SeqModel for ScaledEncoder {
    fn logits(&self, b: &Batch, train: bool) -> candle_core::Result<Tensor> {
        let t = b.x.dim(1)?;
        let mut x = (self.enc.embed.forward(&b.x)? * self.scale)?;
        if let Some(p) = &self.enc.pos {
            x = x.broadcast_add(&p.narrow(0, 0, t)?)?;
        }
        let c = LayerCtx {
            train,
            ..Default::default()
        };
        for l in &self.enc.layers {
            x = l.forward_t(&x, &c)?;
        }
        let x = self.enc.final_norm.forward_t(&x, None, train)?;
        self.enc.head.forward(&x)
    }
}

/// The model sizes of the training comparison.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct ModelSizes {
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
}

/// A Post-LN encoder with sinusoidal positions and an N(0, 1/d) embedding, with or
/// without the √d scale.
pub fn model(m: ModelSizes, task: &Reverse, arm: Scaling, p: &Params) -> Result<ScaledEncoder> {
    let d = m.d_model;
    let mut ec = EncoderConfig::new(task.vocab, task.len, m.layers, LayerConfig::new(d, m.heads));
    ec.pos = PosKind::Sinusoidal;
    ec.embed_std = 1.0 / (d as f64).sqrt();
    Ok(ScaledEncoder {
        enc: encoder(ec, p.vb())?,
        scale: match arm {
            Scaling::Scaled => (d as f64).sqrt(),
            Scaling::Unscaled => 1.0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    #[test]
    fn reverse_task_targets() {
        let t = Reverse { vocab: 5, len: 4 };
        let b = t.batch(&mut seeded(0, 0), 2, &Device::Cpu).unwrap();
        let x = b.x.to_vec2::<u32>().unwrap();
        let y = b.y.to_vec2::<u32>().unwrap();
        for (xr, yr) in x.iter().zip(&y) {
            let mut r = xr.clone();
            r.reverse();
            assert_eq!(&r, yr);
        }
    }

    /// Every trainable variable of the scaled model gets a gradient.
    #[test]
    fn scaled_model_has_gradients() {
        let sizes = ModelSizes {
            d_model: 8,
            heads: 2,
            layers: 1,
        };
        let task = Reverse { vocab: 5, len: 4 };
        let p = Params::new(0);
        let m = model(sizes, &task, Scaling::Scaled, &p).unwrap();
        let b = task.batch(&mut seeded(0, 0), 3, &Device::Cpu).unwrap();
        let (loss, _, _) =
            crate::train::trainer::masked_loss(&m.logits(&b, true).unwrap(), &b).unwrap();
        let dead = crate::train::trainer::vars_without_gradient(&p, &loss).unwrap();
        assert!(dead.is_empty(), "{dead:?}");
    }

    #[test]
    fn xavier_variance_is_glorot() {
        let e = matrix_variance(&mut seeded(0, 0), InitKind::Xavier, 1000, 64, 1000, 10);
        let g = 2.0 / (1000.0 + 64.0);
        assert!((e.point / g - 1.0).abs() < 0.02, "{} vs {g}", e.point);
    }
}
