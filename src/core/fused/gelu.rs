//! GELU (tanh form) as one kernel forward and one backward.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::kernel::{f32s, fill, write_from};
use super::math;

/// Elements per parallel work unit.
const CHUNK: usize = 4096;

/// GELU with the tanh approximation, as `Tensor::gelu`, with a fused backward pass.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if !super::fusable(x) {
        return x.gelu();
    }
    x.contiguous()?.apply_op1(Gelu)
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "fused-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, self.name())?;
        let out = fill(x.len(), CHUNK, |i, o| {
            let xs = &x[i * CHUNK..i * CHUNK + o.len()];
            write_from(o, xs.iter().map(|&v| math::gelu(v)))
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &GeluGrad)?))
    }
}

/// (x, dL/dy) → dL/dx = dL/dy · gelu'(x).
struct GeluGrad;

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "fused-gelu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let g = f32s(s2, l2, self.name())?;
        if x.len() != g.len() {
            candle_core::bail!(
                "{}: {} inputs but {} gradients",
                self.name(),
                x.len(),
                g.len()
            );
        }
        let out = fill(x.len(), CHUNK, |i, o| {
            let r = i * CHUNK..i * CHUNK + o.len();
            let vals = x[r.clone()]
                .iter()
                .zip(&g[r])
                .map(|(&v, &g)| g * math::gelu_grad(v));
            write_from(o, vals)
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, fd_check, grads_of, rand_tensor};
    use super::*;

    #[test]
    fn matches_composed_gelu_values_and_gradients() {
        let x = rand_tensor(&[3, 50, 37], 2.0, 1);
        let (yf, gf) = grads_of(&x, |x| gelu(x));
        let (yc, gc) = grads_of(&x, |x| x.gelu());
        assert_close(&yf, &yc, 1e-6, "gelu values");
        assert_close(&gf, &gc, 2e-4, "gelu gradients");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        fd_check(&rand_tensor(&[4, 9], 2.0, 2), |x| gelu(x));
    }
}
