//! A linear layer, y = x·Wᵀ + b over the last axis, as one node of the autograd graph.
//!
//! Composed, candle records a reshape, a transpose of W, the matmul, a broadcast of b and
//! an add; the backward pass then zero-fills and accumulates a gradient for each of them
//! and reduces the broadcast bias gradient with a strided sum. Fused, the forward pass
//! is one gemm into a buffer pre-filled with b, and the backward pass three kernels:
//! dL/dx = g·W and dL/dW = gᵀ·x (one gemm each) and dL/db = Σ g (fixed row blocks).

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::kernel::{
    f32s, fill, for_chunks_reading, gemm_acc, gemm_uninit, parallelism, write_from, Mat,
};

/// Rows per block of the bias-gradient sum (fixed, so the order does not depend on the
/// number of threads).
const BLOCK: usize = 64;

/// x (…, in) · Wᵀ (W is (out, in)) + b (out) → (…, out), with a fused backward pass.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    if x.dim(candle_core::D::Minus1)? != inp {
        bail!("linear: input {:?} does not end in {inp}", x.dims());
    }
    if let Some(b) = b {
        if b.dims() != [out] {
            bail!("linear: bias {:?} for {out} outputs", b.dims());
        }
    }
    if !super::fusable(x) || !super::fusable(w) {
        return candle_core::Module::forward(&candle_nn::Linear::new(w.clone(), b.cloned()), x);
    }
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, Linear),
        None => x.apply_op2(&w, Linear),
    }
}

/// Output shape: x's with the last axis replaced by `out`.
fn out_shape(l: &Layout, out: usize) -> Shape {
    let mut dims = l.shape().dims().to_vec();
    *dims.last_mut().expect("linear input has at least one axis") = out;
    Shape::from(dims)
}

fn forward(x: &[f32], w: &[f32], b: Option<&[f32]>, out: usize, inp: usize) -> Vec<f32> {
    let rows = x.len() / inp;
    let lhs = Mat {
        data: x,
        rs: inp,
        cs: 1,
    };
    let rhs = Mat {
        data: w,
        rs: 1,
        cs: inp,
    }; // Wᵀ: (in × out)
    match b {
        Some(b) => {
            let mut y = fill(rows * out, out, |_, r| write_from(r, b.iter().copied()));
            gemm_acc(&mut y, rows, out, inp, lhs, rhs, parallelism());
            y
        }
        // One chunk: gemm spreads the product over the threads itself.
        None => fill(rows * out, rows * out, |_, y| {
            gemm_uninit(y, rows, out, inp, lhs, rhs, parallelism())
        }),
    }
}

struct Linear;

const NAME: &str = "fused-linear";

fn dims(l_x: &Layout, l_w: &Layout) -> Result<(usize, usize)> {
    let (out, inp) = l_w.shape().dims2()?;
    if l_x.shape().dims().last() != Some(&inp) {
        bail!(
            "fused-linear: input {:?} for weight ({out}, {inp})",
            l_x.shape().dims()
        );
    }
    Ok((out, inp))
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (out, inp) = dims(l1, l2)?;
        let y = forward(f32s(s1, l1, NAME)?, f32s(s2, l2, NAME)?, None, out, inp);
        Ok((CpuStorage::F32(y), out_shape(l1, out)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = backward(x, w, g, false)?;
        Ok((Some(dx), Some(dw)))
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        NAME
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
        let (out, inp) = dims(l1, l2)?;
        let b = f32s(s3, l3, NAME)?;
        let y = forward(f32s(s1, l1, NAME)?, f32s(s2, l2, NAME)?, Some(b), out, inp);
        Ok((CpuStorage::F32(y), out_shape(l1, out)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = backward(x, w, g, true)?;
        Ok((Some(dx), Some(dw), db))
    }
}

/// dL/dx, dL/dW and (optionally) dL/db, one kernel each.
fn backward(
    x: &Tensor,
    w: &Tensor,
    g: &Tensor,
    bias: bool,
) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let g = g.contiguous()?;
    let dx = g.apply_op2_no_bwd(w, &Grad::X)?;
    let dw = g.apply_op2_no_bwd(x, &Grad::W)?;
    let db = if bias {
        Some(g.apply_op2_no_bwd(w, &Grad::B)?)
    } else {
        None
    };
    Ok((dx, dw, db))
}

/// One part of the backward pass, from the output gradient g (…, out):
/// `X`: (g, W) → dL/dx = g·W; `W`: (g, x) → dL/dW = gᵀ·x; `B`: (g, W) → dL/db = Σ g.
enum Grad {
    X,
    W,
    B,
}

impl CustomOp2 for Grad {
    fn name(&self) -> &'static str {
        match self {
            Grad::X => "fused-linear-grad-x",
            Grad::W => "fused-linear-grad-w",
            Grad::B => "fused-linear-grad-b",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = f32s(s1, l1, self.name())?;
        let other = f32s(s2, l2, self.name())?;
        let out = *l1.shape().dims().last().expect("gradient has an axis");
        let rows = g.len().checked_div(out).unwrap_or(0);
        let gm = Mat {
            data: g,
            rs: out,
            cs: 1,
        };
        let (values, shape) = match self {
            Grad::X => {
                // dx (rows × in) = g (rows × out) · W (out × in)
                let (_, inp) = l2.shape().dims2()?;
                let wm = Mat {
                    data: other,
                    rs: inp,
                    cs: 1,
                };
                let dx = fill(rows * inp, rows * inp, |_, o| {
                    gemm_uninit(o, rows, inp, out, gm, wm, parallelism())
                });
                (dx, out_shape(l1, inp))
            }
            Grad::W => {
                // dW (out × in) = gᵀ (out × rows) · x (rows × in)
                let inp = *l2.shape().dims().last().expect("input has an axis");
                let gt = Mat {
                    data: g,
                    rs: 1,
                    cs: out,
                };
                let xm = Mat {
                    data: other,
                    rs: inp,
                    cs: 1,
                };
                let dw = fill(out * inp, out * inp, |_, o| {
                    gemm_uninit(o, out, inp, rows, gt, xm, parallelism())
                });
                (dw, Shape::from((out, inp)))
            }
            Grad::B => {
                // Partial sums per fixed block of rows, added in order.
                let blocks = rows.div_ceil(BLOCK);
                let mut partial = vec![0f32; blocks * out];
                for_chunks_reading(&mut partial, out.max(1), g.len(), |blk, p| {
                    for r in
                        g[blk * BLOCK * out..rows.min((blk + 1) * BLOCK) * out].chunks_exact(out)
                    {
                        for (p, &v) in p.iter_mut().zip(r) {
                            *p += v;
                        }
                    }
                });
                let mut db = vec![0f32; out];
                for p in partial.chunks_exact(out.max(1)) {
                    for (d, &v) in db.iter_mut().zip(p) {
                        *d += v;
                    }
                }
                (db, Shape::from(out))
            }
        };
        Ok((CpuStorage::F32(values), shape))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, fd_check, rand_tensor};
    use super::*;
    use candle_core::Var;

    /// y, dx, dW, db for the fused and the composed (candle-nn) layer.
    fn run(x: &Tensor, w: &Tensor, b: Option<&Tensor>, fused: bool) -> Vec<Tensor> {
        let (xv, wv) = (Var::from_tensor(x).unwrap(), Var::from_tensor(w).unwrap());
        let bv = b.map(|b| Var::from_tensor(b).unwrap());
        let bt = bv.as_ref().map(|v| v.as_tensor().clone());
        let y = if fused {
            linear(xv.as_tensor(), wv.as_tensor(), bt.as_ref()).unwrap()
        } else {
            let l = candle_nn::Linear::new(wv.as_tensor().clone(), bt);
            candle_core::Module::forward(&l, xv.as_tensor()).unwrap()
        };
        let weights = rand_tensor(y.dims(), 1.0, 55);
        let grads = (&y * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let mut out = vec![
            y,
            grads.get(xv.as_tensor()).unwrap().clone(),
            grads.get(wv.as_tensor()).unwrap().clone(),
        ];
        if let Some(bv) = bv {
            out.push(grads.get(bv.as_tensor()).unwrap().clone());
        }
        out
    }

    #[test]
    fn matches_candle_nn_linear_values_and_gradients() {
        for (shape, out) in [
            (&[4usize, 33, 20][..], 7usize),
            (&[300, 64][..], 129),
            (&[2, 3, 5, 8][..], 4),
        ] {
            let inp = *shape.last().unwrap();
            let x = rand_tensor(shape, 1.0, 21);
            let w = rand_tensor(&[out, inp], 0.3, 22);
            let b = rand_tensor(&[out], 0.3, 23);
            for bias in [Some(&b), None] {
                let f = run(&x, &w, bias, true);
                let c = run(&x, &w, bias, false);
                assert_eq!(f.len(), c.len());
                for (k, (a, e)) in f.iter().zip(&c).enumerate() {
                    assert_close(a, e, 1e-4, &format!("linear output/gradient {k}"));
                }
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = rand_tensor(&[3, 4, 5], 1.0, 24);
        let w = rand_tensor(&[6, 5], 0.5, 25);
        let b = rand_tensor(&[6], 0.5, 26);
        fd_check(&x, |x| linear(x, &w, Some(&b)));
        fd_check(&w, |w| linear(&x, w, Some(&b)));
        fd_check(&b, |b| linear(&x, &w, Some(b)));
        fd_check(&w, |w| linear(&x, w, None));
    }

    #[test]
    fn rejects_mismatched_shapes() {
        let x = rand_tensor(&[2, 5], 1.0, 1);
        let e = linear(&x, &rand_tensor(&[3, 4], 1.0, 2), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not end in 4"), "{e}");
    }
}
