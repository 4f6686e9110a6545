//! Inverted dropout (Srivastava et al. 2014; Vaswani et al. 2017, 5.4): in training
//! mode each entry is kept with probability 1 − p and scaled by 1/(1 − p), so the
//! expectation equals the input and eval mode is the identity (no rescaling at test).
//!
//! Masks come from a seeded host generator (candle's CPU generator cannot be seeded),
//! so the same seed gives the same masks in the same order of calls.

use std::sync::Mutex;

use candle_core::{Result, Tensor};
use rand::Rng;

use crate::rng::{seeded, Rng64};

#[derive(Debug)]
pub struct Dropout {
    /// Probability of zeroing an entry.
    pub p: f64,
    rng: Mutex<Rng64>,
}

/// Dropout with rate `p` whose masks are drawn from `seeded(seed, stream)`.
pub fn dropout(p: f64, seed: u64, stream: u64) -> Dropout {
    Dropout::new(p, seed, stream)
}

impl Clone for Dropout {
    /// The clone continues from a copy of the generator's current state.
    fn clone(&self) -> Self {
        let r = self.rng.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Self {
            p: self.p,
            rng: Mutex::new(r),
        }
    }
}

impl Dropout {
    pub fn new(p: f64, seed: u64, stream: u64) -> Self {
        Self {
            p,
            rng: Mutex::new(seeded(seed, stream)),
        }
    }

    /// Rate 0: the identity in both modes.
    pub fn off() -> Self {
        Self::new(0.0, 0, 0)
    }

    /// Whether a forward pass in training mode changes anything.
    pub fn active(&self) -> bool {
        self.p > 0.0
    }

    /// The scaled keep mask for `n` entries: 1/(1 − p) with probability 1 − p, else 0.
    pub fn mask_values(&self, n: usize) -> Vec<f32> {
        let keep = 1.0 - self.p;
        let scale = if keep > 0.0 { (1.0 / keep) as f32 } else { 0.0 };
        let mut r = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        (0..n)
            .map(|_| if r.gen::<f64>() < keep { scale } else { 0.0 })
            .collect()
    }

    /// Training mode: x ⊙ mask / (1 − p); eval mode (or p = 0): x unchanged.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if !train || self.p <= 0.0 {
            return Ok(x.clone());
        }
        if self.p >= 1.0 {
            return x.zeros_like();
        }
        let m = Tensor::from_vec(self.mask_values(x.elem_count()), x.shape(), x.device())?
            .to_dtype(x.dtype())?;
        x.mul(&m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::randn;
    use candle_core::Device;

    fn vec1(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn eval_mode_and_rate_zero_are_identity() {
        let x = randn(&mut seeded(1, 0), &[3, 4, 5], 1.0, &Device::Cpu).unwrap();
        let d = Dropout::new(0.3, 0, 0);
        assert_eq!(vec1(&d.forward_t(&x, false).unwrap()), vec1(&x));
        assert_eq!(vec1(&Dropout::off().forward_t(&x, true).unwrap()), vec1(&x));
    }

    #[test]
    fn entries_are_zero_or_scaled_and_the_mean_is_kept() {
        let p = 0.25;
        let d = Dropout::new(p, 7, 0);
        let n = 200_000;
        let x = Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).unwrap();
        let y = vec1(&d.forward_t(&x, true).unwrap());
        let scale = (1.0 / (1.0 - p)) as f32;
        assert!(y.iter().all(|&v| v == 0.0 || (v - scale).abs() < 1e-6));
        let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        // Binomial sd of the zero fraction: √(p(1−p)/n) ≈ 0.001.
        assert!((zeros - p).abs() < 0.006, "zero fraction {zeros}");
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        // E = 1, sd of the mean √(p/(1−p)/n) ≈ 0.0013.
        assert!((mean - 1.0).abs() < 0.008, "mean {mean}");
    }

    #[test]
    fn same_seed_same_masks_other_seed_other_masks() {
        let x = randn(&mut seeded(2, 0), &[4, 16], 1.0, &Device::Cpu).unwrap();
        let run = |seed: u64| {
            let d = Dropout::new(0.5, seed, 3);
            let a = vec1(&d.forward_t(&x, true).unwrap());
            let b = vec1(&d.forward_t(&x, true).unwrap());
            (a, b)
        };
        let (a0, b0) = run(0);
        let (a1, b1) = run(0);
        assert_eq!(a0, a1);
        assert_eq!(b0, b1);
        assert_ne!(a0, b0, "successive calls draw new masks");
        assert_ne!(run(1).0, a0);
        // A clone continues from the same state.
        let d = Dropout::new(0.5, 0, 3);
        let _ = d.forward_t(&x, true).unwrap();
        let c = d.clone();
        assert_eq!(
            vec1(&d.forward_t(&x, true).unwrap()),
            vec1(&c.forward_t(&x, true).unwrap())
        );
    }

    #[test]
    fn gradient_is_the_mask() {
        let x = candle_core::Var::from_tensor(
            &randn(&mut seeded(3, 0), &[50], 1.0, &Device::Cpu).unwrap(),
        )
        .unwrap();
        let d = Dropout::new(0.4, 5, 0);
        let y = d.forward_t(x.as_tensor(), true).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let gx = vec1(g.get(x.as_tensor()).unwrap());
        let mask = Dropout::new(0.4, 5, 0).mask_values(50);
        assert_eq!(gx, mask);
    }
}
