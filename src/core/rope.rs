//! Rotary position embedding (RoPE, Su et al. 2021), composed from primitive candle
//! ops (narrow, broadcast_mul, sub/add, cat) so that gradients flow: candle-nn's fused
//! `rotary_emb::rope` / `rope_i` have no backward pass.
//!
//! Convention: the last axis (width d, even) is split into halves, and the pair
//! (x_i, x_{i+d/2}) at position p is rotated by the angle p·θ_i, θ_i = base^(−2i/d)
//! (the "rotate-half" layout of GPT-NeoX / LLaMA). Then for any q, k,
//! ⟨R(m)q, R(n)k⟩ = ⟨q, R(n−m)k⟩: the score depends on the relative position only.
//!
//! **How the angles are computed.** By default ([`AngleMode::F64`]) the angle p·θ_i
//! and its cosine and sine are computed in f64 on the host and rounded once to f32, so
//! the f32 tables carry a rounding error of ~6e−8 whatever the absolute position. The
//! alternative [`AngleMode::F32`] computes p·θ_i, cos and sin in f32 (as a GPU kernel
//! would); its angle error grows like p·θ_i·2^−24, so shift invariance degrades with
//! the absolute position. Only the experiments use the f32 mode, as a contrast.

use candle_core::{Device, Result, Tensor, D};

/// How the rotation angles are computed before being rounded to f32 tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AngleMode {
    /// p·θ_i, cos, sin in f64, rounded once to f32 (the default).
    F64,
    /// p·θ_i, cos, sin in f32.
    F32,
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Rope {
    /// Width of the rotated vectors (even).
    pub d: usize,
    /// Frequency base (10000 in RoFormer).
    pub base: f64,
    pub angles: AngleMode,
}

impl Rope {
    pub fn new(d: usize, base: f64) -> Result<Self> {
        if d == 0 || d % 2 != 0 {
            candle_core::bail!("rotary width must be even and positive, got {d}")
        }
        Ok(Self {
            d,
            base,
            angles: AngleMode::F64,
        })
    }

    pub fn with_angles(mut self, a: AngleMode) -> Self {
        self.angles = a;
        self
    }

    /// θ_i = base^(−2i/d), i < d/2.
    pub fn theta(&self, i: usize) -> f64 {
        self.base.powf(-2.0 * i as f64 / self.d as f64)
    }

    /// cos and sin tables, (len(positions), d/2) each, as host vectors.
    pub fn table_values(&self, positions: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let h = self.d / 2;
        let mut c = Vec::with_capacity(positions.len() * h);
        let mut s = Vec::with_capacity(positions.len() * h);
        for &p in positions {
            for i in 0..h {
                match self.angles {
                    AngleMode::F64 => {
                        let a = p as f64 * self.theta(i);
                        c.push(a.cos() as f32);
                        s.push(a.sin() as f32);
                    }
                    AngleMode::F32 => {
                        let a = p as f32 * self.theta(i) as f32;
                        c.push(a.cos());
                        s.push(a.sin());
                    }
                }
            }
        }
        (c, s)
    }

    /// cos and sin tables as tensors (T, d/2).
    pub fn tables(&self, positions: &[usize], dev: &Device) -> Result<(Tensor, Tensor)> {
        let (c, s) = self.table_values(positions);
        let shape = (positions.len(), self.d / 2);
        Ok((
            Tensor::from_vec(c, shape, dev)?,
            Tensor::from_vec(s, shape, dev)?,
        ))
    }

    /// Rotate x (…, T, d) with the t-th row at position `positions[t]`.
    pub fn apply_at(&self, x: &Tensor, positions: &[usize]) -> Result<Tensor> {
        let dims = x.dims();
        if dims.len() < 2 || dims[dims.len() - 1] != self.d {
            candle_core::bail!("rope: expected (…, T, {}), got {:?}", self.d, dims)
        }
        if dims[dims.len() - 2] != positions.len() {
            candle_core::bail!(
                "rope: {} positions for {} rows",
                positions.len(),
                dims[dims.len() - 2]
            )
        }
        let (cos, sin) = self.tables(positions, x.device())?;
        let (cos, sin) = (cos.to_dtype(x.dtype())?, sin.to_dtype(x.dtype())?);
        let h = self.d / 2;
        let x1 = x.narrow(D::Minus1, 0, h)?;
        let x2 = x.narrow(D::Minus1, h, h)?;
        let r1 = (x1.broadcast_mul(&cos)? - x2.broadcast_mul(&sin)?)?;
        let r2 = (x1.broadcast_mul(&sin)? + x2.broadcast_mul(&cos)?)?;
        Tensor::cat(&[r1, r2], D::Minus1)
    }

    /// Rotate x (…, T, d) at positions start, start+1, ….
    pub fn apply(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let t = x.dim(D::Minus2)?;
        let pos: Vec<usize> = (start..start + t).collect();
        self.apply_at(x, &pos)
    }

    /// The rotation of one host vector at position p, in f64 loops (the oracle).
    pub fn rotate_f64(&self, x: &[f64], p: usize) -> Vec<f64> {
        let h = self.d / 2;
        let mut out = vec![0.0; self.d];
        for i in 0..h {
            let a = p as f64 * self.theta(i);
            let (c, s) = (a.cos(), a.sin());
            out[i] = x[i] * c - x[i + h] * s;
            out[i + h] = x[i] * s + x[i + h] * c;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{normal_vec, seeded};
    use candle_core::Var;

    #[test]
    fn matches_naive_loop_rotation() {
        let dev = Device::Cpu;
        let rope = Rope::new(8, 10000.0).unwrap();
        let mut r = seeded(0, 0);
        let (b, t, d) = (2, 5, 8);
        let x = normal_vec(&mut r, b * t * d, 0.0, 1.0);
        let xt = Tensor::from_vec(x.clone(), (b, t, d), &dev).unwrap();
        let start = 37;
        let got = rope
            .apply(&xt, start)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for bi in 0..b {
            for ti in 0..t {
                let o = (bi * t + ti) * d;
                let row: Vec<f64> = x[o..o + d].iter().map(|&v| v as f64).collect();
                let want = rope.rotate_f64(&row, start + ti);
                for c in 0..d {
                    assert!((got[o + c] as f64 - want[c]).abs() < 1e-6);
                }
            }
        }
    }

    /// q_m·k_n = q_{m+s}·k_{n+s}: with f64 angles the deviation stays at f32 rounding
    /// (declared tolerance 1e−5·|q||k|) even at absolute positions in the tens of thousands.
    #[test]
    fn shift_invariance() {
        let dev = Device::Cpu;
        let d = 64;
        let rope = Rope::new(d, 10000.0).unwrap();
        let mut r = seeded(1, 0);
        let q = Tensor::from_vec(normal_vec(&mut r, d, 0.0, 1.0), (1, d), &dev).unwrap();
        let k = Tensor::from_vec(normal_vec(&mut r, d, 0.0, 1.0), (1, d), &dev).unwrap();
        let norm = (q
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            * k.sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap())
        .sqrt() as f64;
        let score = |m: usize, n: usize| -> f64 {
            let a = rope.apply_at(&q, &[m]).unwrap();
            let b = rope.apply_at(&k, &[n]).unwrap();
            (a * b)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64
        };
        let base = score(3, 10);
        for s in [1usize, 100, 1000, 30000] {
            let dev_rel = (score(3 + s, 10 + s) - base).abs() / norm;
            assert!(dev_rel < 1e-5, "shift {s}: {dev_rel}");
        }
    }

    #[test]
    fn gradients_flow() {
        let dev = Device::Cpu;
        let rope = Rope::new(4, 10000.0).unwrap();
        let x = Var::from_tensor(
            &Tensor::from_vec(normal_vec(&mut seeded(2, 0), 12, 0.0, 1.0), (3, 4), &dev).unwrap(),
        )
        .unwrap();
        let y = rope.apply(x.as_tensor(), 5).unwrap();
        let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let gx = g.get(x.as_tensor()).expect("gradient for x");
        // A rotation preserves norms: d|Rx|²/dx = 2x.
        let diff = (gx - (x.as_tensor() * 2.0).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn odd_width_is_an_error() {
        assert!(Rope::new(5, 10000.0).is_err());
    }
}
