//! Per-row cross-entropy, −log softmax(x)[y], as one kernel forward and one backward.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D};

use super::kernel::{f32s, fill, fill_reading, max, sum, u32s, write_from};
use super::math::exp_nonpos;

/// Rows per parallel work unit of the forward pass (one value per row).
const ROWS: usize = 256;

/// −log softmax(logits)[target] for each row of `logits` (N, V) with `targets` (N) u32;
/// returns (N). The gradient flows to `logits` only.
pub fn cross_entropy_rows(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (n, _) = logits.dims2()?;
    if targets.dims() != [n] {
        bail!(
            "cross_entropy_rows: targets {:?} for {n} rows",
            targets.dims()
        );
    }
    if !super::fusable(logits) || targets.dtype() != candle_core::DType::U32 {
        let lp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
        return lp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?.neg();
    }
    logits.contiguous()?.apply_op2(
        &targets.contiguous()?,
        CrossEntropy {
            lse: Mutex::new(None),
        },
    )
}

/// log Σ exp over one row, shifted by its maximum; `out` (the row's length) receives
/// e^{x − max} and is returned initialized.
#[inline]
fn log_sum_exp<'a>(row: &[f32], out: &'a mut [MaybeUninit<f32>]) -> (&'a mut [f32], f32) {
    let m = max(row);
    let e = write_from(out, row.iter().map(|&v| exp_nonpos(v - m)));
    let lse = m + sum(e).ln();
    (e, lse)
}

fn target(t: u32, v: usize, op: &str) -> Result<usize> {
    let t = t as usize;
    if t >= v {
        bail!("{op}: target {t} out of range for {v} classes")
    }
    Ok(t)
}

struct CrossEntropy {
    /// Each row's log Σ exp from the forward pass, for the backward pass.
    lse: Mutex<Option<Vec<f32>>>,
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let y = u32s(s2, l2, self.name())?;
        let (n, v) = l1.shape().dims2()?;
        for &t in y {
            target(t, v, self.name())?;
        }
        // One value per row of v logits: split by the logits read, not the values written.
        let lse = fill_reading(n, ROWS, x.len(), |c, o| {
            let mut scratch = vec![MaybeUninit::uninit(); v];
            let vals = (c * ROWS..c * ROWS + o.len())
                .map(|i| log_sum_exp(&x[i * v..(i + 1) * v], &mut scratch).1);
            write_from(o, vals)
        });
        let out = (0..n).map(|i| lse[i] - x[i * v + y[i] as usize]).collect();
        *self.lse.lock().expect("cross-entropy lock") = Some(lse);
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let Some(lse) = self.lse.lock().expect("cross-entropy lock").clone() else {
            bail!("fused-cross-entropy: backward before forward")
        };
        let g = logits.apply_op3_no_bwd(targets, &grad.contiguous()?, &CrossEntropyGrad { lse })?;
        Ok((Some(g), None))
    }
}

/// (x, y, dL/dnll) → dL/dx = dL/dnllᵢ · (softmax(xᵢ) − onehot(yᵢ)), with each row's
/// log Σ exp kept from the forward pass (the same bits as recomputing it: the same kernel
/// on the same row), so the backward pass is one pass over the logits instead of four.
struct CrossEntropyGrad {
    lse: Vec<f32>,
}

impl CustomOp3 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "fused-cross-entropy-grad"
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
        let y = u32s(s2, l2, self.name())?;
        let g = f32s(s3, l3, self.name())?;
        let (n, v) = l1.shape().dims2()?;
        if y.len() != n || g.len() != n {
            bail!(
                "{}: {n} rows but {} targets, {} gradients",
                self.name(),
                y.len(),
                g.len()
            );
        }
        if self.lse.len() != n {
            bail!("{}: saved log-sum-exp for another batch", self.name());
        }
        let out = fill(x.len(), v, |i, o| {
            let row = &x[i * v..(i + 1) * v];
            let lse = self.lse[i];
            let o = write_from(o, row.iter().map(|&xv| g[i] * exp_nonpos(xv - lse)));
            o[y[i] as usize] -= g[i];
            o
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, fd_check, grads_of, rand_tensor};
    use super::*;
    use candle_core::Device;

    fn targets(n: usize, v: usize) -> Tensor {
        Tensor::from_vec(
            (0..n as u32).map(|i| (i * 7 + 3) % v as u32).collect(),
            n,
            &Device::Cpu,
        )
        .unwrap()
    }

    fn composed(x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let lp = candle_nn::ops::log_softmax(x, D::Minus1)?;
        lp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?.neg()
    }

    #[test]
    fn matches_composed_cross_entropy_values_and_gradients() {
        for (n, v) in [(2048, 64), (5, 3), (300, 1000)] {
            let x = rand_tensor(&[n, v], 3.0, 11);
            let y = targets(n, v);
            let (lf, gf) = grads_of(&x, |x| cross_entropy_rows(x, &y));
            let (lc, gc) = grads_of(&x, |x| composed(x, &y));
            assert_close(&lf, &lc, 2e-5, "cross-entropy values");
            assert_close(&gf, &gc, 1e-5, "cross-entropy gradients");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let y = targets(4, 5);
        fd_check(&rand_tensor(&[4, 5], 2.0, 12), |x| {
            cross_entropy_rows(x, &y)
        });
    }

    #[test]
    fn rejects_out_of_range_targets() {
        let x = rand_tensor(&[2, 3], 1.0, 1);
        let y = Tensor::new(&[0u32, 3], &Device::Cpu).unwrap();
        let e = cross_entropy_rows(&x, &y).unwrap_err().to_string();
        assert!(e.contains("target 3 out of range for 3 classes"), "{e}");
    }
}
