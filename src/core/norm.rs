//! Normalization layers composed from primitive ops (so gradients flow):
//! LayerNorm (per token, over features) and BatchNorm (per feature, over the batch and
//! positions; train and eval mode, optionally ignoring padded positions).

use std::sync::Mutex;

use candle_core::{Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

/// LayerNorm over the last dimension: γ·(x − mean)/√(var + ε) + β (a fused kernel,
/// `fused::layer_norm`; `standardize_last` is the composed reference).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub gamma: Tensor,
    pub beta: Tensor,
    pub eps: f64,
}

pub fn layer_norm(d: usize, vb: VarBuilder) -> Result<LayerNorm> {
    Ok(LayerNorm {
        gamma: vb.get_with_hints(d, "gamma", Init::Const(1.0))?,
        beta: vb.get_with_hints(d, "beta", Init::Const(0.0))?,
        eps: 1e-5,
    })
}

/// The normalization alone, without γ and β.
pub fn standardize_last(x: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + eps)?.sqrt()?)
}

impl candle_core::Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        super::fused::layer_norm(x, &self.gamma, &self.beta, self.eps)
    }
}

/// BatchNorm for (B, T, D) sequences: statistics per feature over all B·T positions
/// (or only the valid ones when `masked`), running averages for eval mode.
#[derive(Debug)]
pub struct BatchNorm {
    pub gamma: Tensor,
    pub beta: Tensor,
    pub eps: f64,
    pub momentum: f64,
    /// Ignore padded positions when computing batch statistics.
    pub masked: bool,
    running: Mutex<(Tensor, Tensor)>,
}

pub fn batch_norm(d: usize, masked: bool, vb: VarBuilder) -> Result<BatchNorm> {
    let dev = vb.device().clone();
    Ok(BatchNorm {
        gamma: vb.get_with_hints(d, "gamma", Init::Const(1.0))?,
        beta: vb.get_with_hints(d, "beta", Init::Const(0.0))?,
        eps: 1e-5,
        momentum: 0.1,
        masked,
        running: Mutex::new((
            Tensor::zeros(d, candle_core::DType::F32, &dev)?,
            Tensor::ones(d, candle_core::DType::F32, &dev)?,
        )),
    })
}

impl Clone for BatchNorm {
    fn clone(&self) -> Self {
        let r = self.running.lock().expect("poisoned").clone();
        Self {
            gamma: self.gamma.clone(),
            beta: self.beta.clone(),
            eps: self.eps,
            momentum: self.momentum,
            masked: self.masked,
            running: Mutex::new(r),
        }
    }
}

impl BatchNorm {
    /// Batch mean and (biased) variance per feature of x (B, T, D); `valid` (B, T) 0/1
    /// restricts them to real tokens when given.
    pub fn batch_stats(x: &Tensor, valid: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let d = x.dim(D::Minus1)?;
        let flat = x.reshape(((), d))?;
        match valid {
            None => {
                let mean = flat.mean(0)?;
                let var = flat.broadcast_sub(&mean)?.sqr()?.mean(0)?;
                Ok((mean, var))
            }
            Some(v) => {
                let w = v.reshape(((), 1))?;
                let n = w.sum_all()?;
                let mean = flat.broadcast_mul(&w)?.sum(0)?.broadcast_div(&n)?;
                let var = flat
                    .broadcast_sub(&mean)?
                    .sqr()?
                    .broadcast_mul(&w)?
                    .sum(0)?
                    .broadcast_div(&n)?;
                Ok((mean, var))
            }
        }
    }

    /// Train mode uses (and records) batch statistics; eval mode the running ones.
    pub fn forward_t(&self, x: &Tensor, valid: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let (mean, var) = if train {
            let (m, v) = Self::batch_stats(x, if self.masked { valid } else { None })?;
            let mut r = self.running.lock().expect("poisoned");
            let k = self.momentum;
            let rm = ((&r.0 * (1.0 - k))? + (m.detach() * k)?)?;
            let rv = ((&r.1 * (1.0 - k))? + (v.detach() * k)?)?;
            *r = (rm, rv);
            (m, v)
        } else {
            self.running.lock().expect("poisoned").clone()
        };
        let y = x
            .broadcast_sub(&mean)?
            .broadcast_div(&(var + self.eps)?.sqrt()?)?;
        y.broadcast_mul(&self.gamma)?.broadcast_add(&self.beta)
    }

    pub fn running_stats(&self) -> (Tensor, Tensor) {
        self.running.lock().expect("poisoned").clone()
    }
}

/// Which normalization a layer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NormKind {
    Layer,
    /// BatchNorm whose statistics include padded positions.
    Batch,
    /// BatchNorm whose statistics ignore padded positions.
    MaskedBatch,
    None,
}

/// A normalization of any [`NormKind`], one call for all.
#[derive(Clone, Debug)]
pub enum Norm {
    Layer(LayerNorm),
    Batch(BatchNorm),
    Identity,
}

pub fn norm(kind: NormKind, d: usize, vb: VarBuilder) -> Result<Norm> {
    Ok(match kind {
        NormKind::Layer => Norm::Layer(layer_norm(d, vb)?),
        NormKind::Batch => Norm::Batch(batch_norm(d, false, vb)?),
        NormKind::MaskedBatch => Norm::Batch(batch_norm(d, true, vb)?),
        NormKind::None => Norm::Identity,
    })
}

impl Norm {
    pub fn forward_t(&self, x: &Tensor, valid: Option<&Tensor>, train: bool) -> Result<Tensor> {
        use candle_core::Module;
        match self {
            Norm::Layer(n) => n.forward(x),
            Norm::Batch(n) => n.forward_t(x, valid, train),
            Norm::Identity => Ok(x.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::params::Params;
    use crate::rng::{randn, seeded};
    use candle_core::{Device, Module};

    #[test]
    fn layer_norm_matches_closed_form() {
        let p = Params::new(0);
        let ln = layer_norm(4, p.vb()).unwrap();
        let x = Tensor::new(&[[1f32, 2., 3., 6.]], &Device::Cpu).unwrap();
        let y = ln.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        let (m, var) = (3.0f32, (4.0 + 1.0 + 0.0 + 9.0) / 4.0);
        for (yi, xi) in y[0].iter().zip([1f32, 2., 3., 6.]) {
            assert!((yi - (xi - m) / (var + 1e-5f32).sqrt()).abs() < 1e-5);
        }
        // The composed layer agrees with candle-nn's (forward only).
        let reference = candle_nn::LayerNorm::new(ln.gamma.clone(), ln.beta.clone(), 1e-5);
        let x = randn(&mut seeded(1, 0), &[2, 3, 4], 1.0, &Device::Cpu).unwrap();
        let d = (ln.forward(&x).unwrap() - reference.forward(&x).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5);
    }

    #[test]
    fn masked_batch_stats_ignore_pads() {
        let dev = Device::Cpu;
        // Two sequences of length 2; the second has one pad holding 100.
        let x = Tensor::new(&[[[1f32], [3.]], [[5.], [100.]]], &dev).unwrap();
        let valid = Tensor::new(&[[1f32, 1.], [1., 0.]], &dev).unwrap();
        let (m, v) = BatchNorm::batch_stats(&x, Some(&valid)).unwrap();
        assert!((m.to_vec1::<f32>().unwrap()[0] - 3.0).abs() < 1e-6);
        assert!((v.to_vec1::<f32>().unwrap()[0] - 8.0 / 3.0).abs() < 1e-5);
        let (m, _) = BatchNorm::batch_stats(&x, None).unwrap();
        assert!((m.to_vec1::<f32>().unwrap()[0] - 27.25).abs() < 1e-4);
    }

    #[test]
    fn batch_norm_eval_uses_running_stats() {
        let p = Params::new(0);
        let bn = batch_norm(2, false, p.vb()).unwrap();
        let x = randn(&mut seeded(2, 0), &[4, 3, 2], 2.0, &Device::Cpu).unwrap();
        let before = bn.forward_t(&x, None, false).unwrap();
        // Running stats start at (0, 1): eval mode is then nearly the identity.
        let d = (before - &x)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-3);
        bn.forward_t(&x, None, true).unwrap();
        let (rm, _) = bn.running_stats();
        let (bm, _) = BatchNorm::batch_stats(&x, None).unwrap();
        let want = (bm * 0.1).unwrap();
        let d = (rm - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-6);
    }
}
