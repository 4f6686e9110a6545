//! Softmax over the last axis (optionally of scaled logits) as one kernel forward and one
//! backward.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, D};

use super::kernel::{dot, f32s, fill, max, sum, write_from};
use super::math::exp_nonpos;

/// softmax(x) over the last axis with a fused backward pass; the same values as
/// `candle_nn::ops::softmax(x, D::Minus1)` up to float rounding.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if !super::fusable(x) || x.rank() == 0 {
        return candle_nn::ops::softmax(x, D::Minus1);
    }
    softmax_scaled(x, 1.0)
}

/// softmax(scale·x) over the last axis: attention's scaling folded into the kernel
/// (the same values as `softmax_last(&(x * scale)?)` up to float rounding).
pub fn softmax_scaled(x: &Tensor, scale: f64) -> Result<Tensor> {
    if !super::fusable(x) || x.rank() == 0 {
        return candle_nn::ops::softmax(&(x * scale)?, D::Minus1);
    }
    x.contiguous()?.apply_op1(Softmax {
        scale: scale as f32,
    })
}

struct Softmax {
    scale: f32,
}

/// Turns a row of logits into its softmax in place (the fused softmax's row kernel,
/// shared with the fused attention so both give the same bits).
#[inline]
pub(super) fn normalize_row(y: &mut [f32]) {
    let m = max(y);
    for y in y.iter_mut() {
        *y = exp_nonpos(*y - m);
    }
    let total = sum(y);
    for y in y.iter_mut() {
        *y /= total;
    }
}

/// One row of dL/dx = scale · y ⊙ (dL/dy − Σ y·dL/dy) for softmax output `y` and its
/// gradient `g`.
#[inline]
pub(super) fn grad_row<'a>(
    y: &'a [f32],
    g: &'a [f32],
    scale: f32,
) -> impl Iterator<Item = f32> + 'a {
    let s = dot(y, g);
    y.iter().zip(g).map(move |(&y, &g)| scale * (y * (g - s)))
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "fused-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, self.name())?;
        let n = l.shape().dims().last().copied().unwrap_or(1).max(1);
        let out = fill(x.len(), n, |i, y| {
            let row = &x[i * n..(i + 1) * n];
            let y = write_from(y, row.iter().map(|&v| v * self.scale));
            normalize_row(y);
            y
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(y.apply_op2_no_bwd(
            &grad,
            &SoftmaxGrad { scale: self.scale },
        )?))
    }
}

/// (y, dL/dy) → dL/dx = scale · y ⊙ (dL/dy − Σ y·dL/dy), row by row.
struct SoftmaxGrad {
    scale: f32,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "fused-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = f32s(s1, l1, self.name())?;
        let g = f32s(s2, l2, self.name())?;
        if y.len() != g.len() {
            candle_core::bail!(
                "{}: {} outputs but {} gradients",
                self.name(),
                y.len(),
                g.len()
            );
        }
        let n = l1.shape().dims().last().copied().unwrap_or(1).max(1);
        let out = fill(y.len(), n, |i, o| {
            let (yr, gr) = (&y[i * n..(i + 1) * n], &g[i * n..(i + 1) * n]);
            write_from(o, grad_row(yr, gr, self.scale))
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, fd_check, grads_of, rand_tensor};
    use super::*;

    #[test]
    fn matches_composed_softmax_values_and_gradients() {
        for shape in [&[2usize, 3, 17, 64][..], &[5, 7], &[300, 70]] {
            let x = rand_tensor(shape, 3.0, 3);
            let (yf, gf) = grads_of(&x, |x| softmax_last(x));
            let (yc, gc) = grads_of(&x, |x| candle_nn::ops::softmax(x, D::Minus1));
            assert_close(&yf, &yc, 1e-6, "softmax values");
            assert_close(&gf, &gc, 1e-5, "softmax gradients");
        }
    }

    #[test]
    fn scaled_softmax_matches_softmax_of_scaled_logits() {
        let x = rand_tensor(&[4, 3, 10, 33], 3.0, 13);
        for scale in [0.125, 1.0, -0.7] {
            let (yf, gf) = grads_of(&x, |x| softmax_scaled(x, scale));
            let (yc, gc) = grads_of(&x, |x| candle_nn::ops::softmax(&(x * scale)?, D::Minus1));
            assert_close(&yf, &yc, 1e-6, "scaled softmax values");
            assert_close(&gf, &gc, 1e-5, "scaled softmax gradients");
        }
        fd_check(&rand_tensor(&[3, 6], 2.0, 14), |x| softmax_scaled(x, 0.3));
    }

    #[test]
    fn masked_entries_get_exactly_zero_and_empty_rows_stay_nan() {
        let x = Tensor::new(
            &[[0f32, -1e9, 1.0], [f32::NEG_INFINITY; 3]],
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let y = softmax_last(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(y[0][1], 0.0);
        assert!((y[0][0] + y[0][2] - 1.0).abs() < 1e-6);
        assert!(y[1].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn gradient_matches_finite_differences() {
        fd_check(&rand_tensor(&[3, 6], 2.0, 4), |x| softmax_last(x));
    }
}
