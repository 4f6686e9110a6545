//! Batched matrix products for attention (q·kᵀ and weights·v) as one kernel per pass.
//!
//! candle's matmul runs one gemm per batch entry, each split over the thread pool; for
//! attention's many small products (batch × heads of 64 × 64 × 32 at the reference
//! sizes) the per-call dispatch dominates. Here each batch entry is one single-threaded
//! gemm and the entries are spread over the pool. The backward pass is two more of the
//! same products.

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::kernel::{f32s, fill, gemm_uninit, Mat};

/// a · b over the last two axes (batch axes equal).
pub fn bmm(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    product(a, b, false, false)
}

/// a · bᵀ over the last two axes (batch axes equal): attention's q·kᵀ.
pub fn bmm_nt(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    product(a, b, false, true)
}

fn product(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    let (ra, rb) = (a.rank(), b.rank());
    let same_batch = ra >= 2 && ra == rb && a.dims()[..ra - 2] == b.dims()[..rb - 2];
    if !same_batch || !super::fusable(a) || !super::fusable(b) {
        let a = if ta { a.t()? } else { a.clone() };
        let b = if tb { b.t()? } else { b.clone() };
        return a.matmul(&b);
    }
    a.contiguous()?.apply_op2(&b.contiguous()?, Bmm { ta, tb })
}

/// op(a) · op(b) per batch entry, op = transpose where the flag is set.
struct Bmm {
    ta: bool,
    tb: bool,
}

/// (batch, m, k, n) of op(a) (m × k) · op(b) (k × n).
fn sizes(la: &Layout, lb: &Layout, ta: bool, tb: bool) -> Result<(usize, usize, usize, usize)> {
    let (da, db) = (la.shape().dims(), lb.shape().dims());
    let r = da.len();
    let (ra, ca, rb, cb) = (da[r - 2], da[r - 1], db[r - 2], db[r - 1]);
    let (m, k) = if ta { (ca, ra) } else { (ra, ca) };
    let (kb, n) = if tb { (cb, rb) } else { (rb, cb) };
    if k != kb {
        bail!("fused-bmm: inner sizes differ, {da:?} · {db:?} (transposed a: {ta}, b: {tb})");
    }
    Ok((da[..r - 2].iter().product(), m, k, n))
}

impl CustomOp2 for Bmm {
    fn name(&self) -> &'static str {
        "fused-bmm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (f32s(s1, l1, self.name())?, f32s(s2, l2, self.name())?);
        let (batch, m, k, n) = sizes(l1, l2, self.ta, self.tb)?;
        // Strides of op(a) (m × k) and op(b) (k × n) inside one batch entry.
        let sa = if self.ta { (1, m) } else { (k, 1) };
        let sb = if self.tb { (1, k) } else { (n, 1) };
        let out = fill(batch * m * n, m * n, |i, o| {
            let lhs = Mat {
                data: &a[i * m * k..(i + 1) * m * k],
                rs: sa.0,
                cs: sa.1,
            };
            let rhs = Mat {
                data: &b[i * k * n..(i + 1) * k * n],
                rs: sb.0,
                cs: sb.1,
            };
            gemm_uninit(o, m, n, k, lhs, rhs, gemm::Parallelism::None)
        });
        let mut dims = l1.shape().dims().to_vec();
        let r = dims.len();
        dims[r - 2] = m;
        dims[r - 1] = n;
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let (ta, tb) = (self.ta, self.tb);
        // d op(a) = g · op(b)ᵀ and d op(b) = op(a)ᵀ · g, transposed back where needed.
        let da = if ta {
            b.apply_op2_no_bwd(&g, &Bmm { ta: tb, tb: true })?
        } else {
            g.apply_op2_no_bwd(b, &Bmm { ta: false, tb: !tb })?
        };
        let db = if tb {
            g.apply_op2_no_bwd(a, &Bmm { ta: true, tb: ta })?
        } else {
            a.apply_op2_no_bwd(&g, &Bmm { ta: !ta, tb: false })?
        };
        Ok((Some(da), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{assert_close, fd_check, rand_tensor};
    use super::*;
    use candle_core::Var;

    fn both(a: &Tensor, b: &Tensor, nt: bool, fused: bool) -> Vec<Tensor> {
        let (av, bv) = (Var::from_tensor(a).unwrap(), Var::from_tensor(b).unwrap());
        let y = match (nt, fused) {
            (false, true) => bmm(av.as_tensor(), bv.as_tensor()),
            (true, true) => bmm_nt(av.as_tensor(), bv.as_tensor()),
            (false, false) => av.as_tensor().matmul(bv.as_tensor()),
            (true, false) => av.as_tensor().matmul(&bv.as_tensor().t().unwrap()),
        }
        .unwrap();
        let w = rand_tensor(y.dims(), 1.0, 66);
        let g = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
        vec![
            y,
            g.get(av.as_tensor()).unwrap().clone(),
            g.get(bv.as_tensor()).unwrap().clone(),
        ]
    }

    #[test]
    fn matches_candle_matmul_values_and_gradients() {
        let q = rand_tensor(&[2, 3, 17, 8], 1.0, 41);
        let k = rand_tensor(&[2, 3, 13, 8], 1.0, 42);
        let v = rand_tensor(&[2, 3, 13, 5], 1.0, 43);
        let w = rand_tensor(&[2, 3, 17, 13], 1.0, 44);
        for (a, b, nt) in [(&q, &k, true), (&w, &v, false)] {
            let f = both(a, b, nt, true);
            let c = both(a, b, nt, false);
            for (x, y) in f.iter().zip(&c) {
                assert_close(x, y, 1e-5, "bmm values/gradients");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let a = rand_tensor(&[2, 3, 4], 1.0, 45);
        let b = rand_tensor(&[2, 5, 4], 1.0, 46);
        fd_check(&a, |a| bmm_nt(a, &b));
        fd_check(&b, |b| bmm_nt(&a, b));
        let c = rand_tensor(&[2, 4, 3], 1.0, 47);
        fd_check(&a, |a| bmm(a, &c));
        fd_check(&c, |c| bmm(&a, c));
    }

    #[test]
    fn mismatched_inner_sizes_are_an_error() {
        let a = rand_tensor(&[2, 3, 4], 1.0, 1);
        assert!(bmm(&a, &rand_tensor(&[2, 5, 4], 1.0, 2)).is_err());
    }
}
