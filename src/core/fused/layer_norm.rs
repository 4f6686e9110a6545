//! LayerNorm over the last axis, γ·(x − mean)/√(var + ε) + β, as one kernel forward and
//! one backward (which returns the gradients of x, γ and β together).

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::kernel::{f32s, fill, for_chunks_reading, sum, sum_sq_dev, write_from};

/// Rows per block of the γ/β gradient reduction; fixed, so the summation order (and the
/// result) does not depend on the number of threads.
const BLOCK: usize = 32;

/// Fused LayerNorm of `x` (…, d) with `gamma`, `beta` of shape (d).
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    let d = x.dim(candle_core::D::Minus1)?;
    if gamma.dims() != [d] || beta.dims() != [d] {
        bail!(
            "layer_norm: gamma {:?} and beta {:?} must both be ({d})",
            gamma.dims(),
            beta.dims()
        );
    }
    if !super::fusable(x) {
        return crate::core::norm::standardize_last(x, eps)?
            .broadcast_mul(gamma)?
            .broadcast_add(beta);
    }
    x.contiguous()?
        .apply_op3(gamma, beta, LayerNormOp { eps: eps as f32 })
}

/// Mean and 1/√(var + ε) of one row.
#[inline]
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let var = sum_sq_dev(row, mean) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

struct LayerNormOp {
    eps: f32,
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let gamma = f32s(s2, l2, self.name())?;
        let beta = f32s(s3, l3, self.name())?;
        let d = gamma.len();
        let out = fill(x.len(), d, |i, y| {
            let row = &x[i * d..(i + 1) * d];
            let (mean, rstd) = row_stats(row, self.eps);
            let vals = row
                .iter()
                .zip(gamma)
                .zip(beta)
                .map(|((&v, &g), &b)| (v - mean) * rstd * g + b);
            write_from(y, vals)
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = gamma.dim(0)?;
        let rows = x.elem_count() / d;
        let packed =
            x.apply_op3_no_bwd(gamma, &grad.contiguous()?, &LayerNormGrad { eps: self.eps })?;
        let dx = packed.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dgamma = packed.narrow(0, rows, 1)?.reshape(d)?;
        let dbeta = packed.narrow(0, rows + 1, 1)?.reshape(d)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// (x, γ, dL/dy) → packed (rows + 2, d): dL/dx in the first rows, then dL/dγ, dL/dβ.
/// With x̂ = (x − mean)·r and r = 1/√(var + ε):
/// dL/dx = r·(g·γ − mean(g·γ) − x̂·mean(g·γ·x̂)), dL/dγ = Σ g·x̂, dL/dβ = Σ g.
struct LayerNormGrad {
    eps: f32,
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "fused-layer-norm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let gamma = f32s(s2, l2, self.name())?;
        let g = f32s(s3, l3, self.name())?;
        let d = gamma.len();
        if x.len() != g.len() || x.len() % d != 0 {
            bail!(
                "{}: {} inputs, {} gradients, width {d}",
                self.name(),
                x.len(),
                g.len()
            );
        }
        let rows = x.len() / d;
        // γ and β gradients first: partial sums per fixed block of rows, added in order.
        let blocks = rows.div_ceil(BLOCK);
        let mut partial = vec![0f32; blocks * 2 * d];
        for_chunks_reading(&mut partial, 2 * d, 2 * x.len(), |blk, p| {
            let (pg, pb) = p.split_at_mut(d);
            for i in blk * BLOCK..rows.min((blk + 1) * BLOCK) {
                let (xr, gr) = (&x[i * d..(i + 1) * d], &g[i * d..(i + 1) * d]);
                let (mean, rstd) = row_stats(xr, self.eps);
                for (((pg, pb), &v), &g) in pg.iter_mut().zip(pb.iter_mut()).zip(xr).zip(gr) {
                    *pg += g * (v - mean) * rstd;
                    *pb += g;
                }
            }
        });
        let mut gb = vec![0f32; 2 * d];
        for p in partial.chunks_exact(2 * d) {
            for (t, &v) in gb.iter_mut().zip(p) {
                *t += v;
            }
        }
        let out = fill((rows + 2) * d, d, |i, o| {
            if i >= rows {
                return write_from(o, gb[(i - rows) * d..(i - rows + 1) * d].iter().copied());
            }
            let (xr, gr) = (&x[i * d..(i + 1) * d], &g[i * d..(i + 1) * d]);
            let (mean, rstd) = row_stats(xr, self.eps);
            let o = write_from(o, gr.iter().zip(gamma).map(|(&g, &w)| g * w));
            let a = sum(o) / d as f32;
            let mut b = 0f32;
            for (&gy, &v) in o.iter().zip(xr) {
                b += gy * (v - mean);
            }
            let b = b * rstd / d as f32;
            for (o, &v) in o.iter_mut().zip(xr) {
                let xhat = (v - mean) * rstd;
                *o = rstd * (*o - a - xhat * b);
            }
            o
        });
        let mut shape = vec![rows + 2];
        shape.push(d);
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, fd_check, rand_tensor};
    use super::*;
    use candle_core::Var;

    fn run(
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        fused: bool,
    ) -> (Tensor, Tensor, Tensor, Tensor) {
        let (xv, gv, bv) = (
            Var::from_tensor(x).unwrap(),
            Var::from_tensor(gamma).unwrap(),
            Var::from_tensor(beta).unwrap(),
        );
        let y = if fused {
            layer_norm(xv.as_tensor(), gv.as_tensor(), bv.as_tensor(), 1e-5).unwrap()
        } else {
            crate::core::norm::standardize_last(xv.as_tensor(), 1e-5)
                .unwrap()
                .broadcast_mul(gv.as_tensor())
                .unwrap()
                .broadcast_add(bv.as_tensor())
                .unwrap()
        };
        // A weighted sum so every output position carries a different gradient.
        let w = rand_tensor(y.dims(), 1.0, 99);
        let grads = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let g = |v: &Var| grads.get(v.as_tensor()).unwrap().clone();
        (y, g(&xv), g(&gv), g(&bv))
    }

    #[test]
    fn matches_composed_layer_norm_values_and_gradients() {
        for shape in [&[2usize, 50, 128][..], &[7, 5], &[300, 64]] {
            let d = *shape.last().unwrap();
            let x = (rand_tensor(shape, 2.0, 5) + 0.7).unwrap();
            let gamma = (rand_tensor(&[d], 0.3, 6) + 1.0).unwrap();
            let beta = rand_tensor(&[d], 0.3, 7);
            let f = run(&x, &gamma, &beta, true);
            let c = run(&x, &gamma, &beta, false);
            assert_close(&f.0, &c.0, 2e-5, "layer-norm values");
            assert_close(&f.1, &c.1, 2e-4, "layer-norm dx");
            assert_close(&f.2, &c.2, 2e-3, "layer-norm dgamma");
            assert_close(&f.3, &c.3, 2e-3, "layer-norm dbeta");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let gamma = (rand_tensor(&[6], 0.3, 8) + 1.0).unwrap();
        let beta = rand_tensor(&[6], 0.3, 9);
        fd_check(&rand_tensor(&[3, 6], 2.0, 10), |x| {
            layer_norm(x, &gamma, &beta, 1e-5)
        });
        let x = rand_tensor(&[3, 6], 2.0, 10);
        fd_check(&gamma, |g| layer_norm(&x, g, &beta, 1e-5));
        fd_check(&beta, |b| layer_norm(&x, &gamma, b, 1e-5));
    }

    #[test]
    fn rejects_mismatched_parameters() {
        let x = rand_tensor(&[2, 4], 1.0, 1);
        let e = layer_norm(
            &x,
            &rand_tensor(&[3], 1.0, 2),
            &rand_tensor(&[4], 1.0, 3),
            1e-5,
        );
        assert!(e.unwrap_err().to_string().contains("must both be (4)"));
    }
}
