//! Splitting the model width into attention heads and merging them back, each as one
//! copy and one graph node (composed: a reshape, a transpose and a copy, each of which
//! gets its own zero-filled gradient buffer in the backward pass).

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::kernel::{f32s, fill, write_from};

/// (B, T, h·w) → (B, h, T, w), contiguous.
pub fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, t, d) = x.dims3()?;
    if heads == 0 || d % heads != 0 {
        bail!("split_heads: width {d} is not a multiple of {heads} heads");
    }
    if !super::fusable(x) {
        return x
            .reshape((b, t, heads, d / heads))?
            .transpose(1, 2)?
            .contiguous();
    }
    x.contiguous()?.apply_op1(Heads { split: true, heads })
}

/// (B, h, T, w) → (B, T, h·w), contiguous.
pub fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, h, t, w) = x.dims4()?;
    if !super::fusable(x) {
        return x.transpose(1, 2)?.reshape((b, t, h * w));
    }
    x.contiguous()?.apply_op1(Heads {
        split: false,
        heads: h,
    })
}

/// The permutation (B, T, h, w) ↔ (B, h, T, w); `split` picks the direction.
struct Heads {
    split: bool,
    heads: usize,
}

impl CustomOp1 for Heads {
    fn name(&self) -> &'static str {
        if self.split {
            "fused-split-heads"
        } else {
            "fused-merge-heads"
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, self.name())?;
        let h = self.heads;
        let (t, w, shape) = if self.split {
            let (b, t, d) = l.shape().dims3()?;
            (t, d / h, Shape::from((b, h, t, d / h)))
        } else {
            let (b, _, t, w) = l.shape().dims4()?;
            (t, w, Shape::from((b, t, h * w)))
        };
        // One output row of w values per chunk; find where it comes from.
        let out = fill(x.len(), w, |r, o| {
            let src = if self.split {
                // out (bi, hi, ti) ← in (bi, ti, hi)
                let (bi, hi, ti) = (r / (h * t), (r / t) % h, r % t);
                ((bi * t + ti) * h + hi) * w
            } else {
                // out (bi, ti, hi) ← in (bi, hi, ti)
                let (bi, ti, hi) = (r / (t * h), (r / h) % t, r % h);
                ((bi * h + hi) * t + ti) * w
            };
            write_from(o, x[src..src + w].iter().copied())
        });
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let inverse = Heads {
            split: !self.split,
            heads: self.heads,
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&inverse)?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, grads_of, rand_tensor};
    use super::*;

    #[test]
    fn split_and_merge_match_reshape_transpose_and_invert_each_other() {
        let x = rand_tensor(&[3, 5, 12], 1.0, 15);
        let (ys, gs) = grads_of(&x, |x| split_heads(x, 4));
        let (yc, gc) = grads_of(&x, |x| {
            x.reshape((3, 5, 4, 3))?.transpose(1, 2)?.contiguous()
        });
        assert_close(&ys, &yc, f64::MIN_POSITIVE, "split values");
        assert_close(&gs, &gc, f64::MIN_POSITIVE, "split gradients");
        let (ym, gm) = grads_of(&ys, merge_heads);
        let (yk, gk) = grads_of(&ys, |x| x.transpose(1, 2)?.reshape((3, 5, 12)));
        assert_close(&ym, &yk, f64::MIN_POSITIVE, "merge values");
        assert_close(&gm, &gk, f64::MIN_POSITIVE, "merge gradients");
        assert_close(&ym, &x, f64::MIN_POSITIVE, "merge ∘ split = id");
        assert!(split_heads(&x, 5).is_err());
    }
}
