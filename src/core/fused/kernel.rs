//! Shared plumbing for the fused kernels: typed views of CPU storage and a row loop
//! over candle's thread pool.

use std::mem::MaybeUninit;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, Layout, Result};

/// The f32 elements a contiguous layout covers.
pub(super) fn f32s<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        bail!("{op}: expected f32 input, got {:?}", s.dtype())
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("{op}: input must be contiguous"),
    }
}

/// The u32 elements a contiguous layout covers.
pub(super) fn u32s<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [u32]> {
    let CpuStorage::U32(data) = s else {
        bail!("{op}: expected u32 targets, got {:?}", s.dtype())
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("{op}: targets must be contiguous"),
    }
}

/// Below this many output elements a kernel runs on the calling thread.
const PAR_MIN: usize = 1 << 14;

/// Calls `f(i, chunk_i)` for the consecutive `width`-long chunks of `out` (the last may
/// be shorter), spread over candle's thread pool when `out` is large. Each chunk is
/// handed to exactly one call, so the result does not depend on the thread count.
pub(super) fn for_chunks<T: Send>(out: &mut [T], width: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    assert!(width > 0, "chunk width must be positive");
    let n = out.len();
    let chunks = n.div_ceil(width);
    if n < PAR_MIN || chunks < 2 {
        for (i, c) in out.chunks_mut(width).enumerate() {
            f(i, c);
        }
        return;
    }
    let ptr = out.as_mut_ptr() as usize;
    candle_core::utils::barrier_pool().execute_chunked(chunks, |range| {
        for i in range {
            let start = i * width;
            let len = width.min(n - start);
            // SAFETY: `execute_chunked` hands out every index in 0..chunks exactly once,
            // so the slices are disjoint and inside `out`, which outlives the call.
            let c = unsafe { std::slice::from_raw_parts_mut((ptr as *mut T).add(start), len) };
            f(i, c);
        }
    });
}

/// A new output of `n` values, built chunk by chunk (`width` each) by `f`, which must
/// return its whole chunk initialized (the only safe ways to get that view are
/// `write_from` and `gemm_uninit`; the returned view is checked). The buffer is not
/// zero-filled first: zeroing the outputs cost ~10% of the reference step.
pub(super) fn fill<F>(n: usize, width: usize, f: F) -> Vec<f32>
where
    F: for<'a> Fn(usize, &'a mut [MaybeUninit<f32>]) -> &'a mut [f32] + Sync,
{
    let mut v: Vec<MaybeUninit<f32>> = Vec::with_capacity(n);
    // SAFETY: `MaybeUninit` needs no initialization.
    unsafe { v.set_len(n) };
    for_chunks(&mut v, width.max(1), |i, c| {
        let (ptr, len) = (c.as_ptr() as usize, c.len());
        let done = f(i, c);
        assert!(
            done.as_ptr() as usize == ptr && done.len() == len,
            "a fused kernel must initialize its whole output chunk"
        );
    });
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: every chunk was returned initialized (checked above); `MaybeUninit<f32>`
    // has the layout of `f32`, and the allocation is handed over unchanged.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr() as *mut f32, v.len(), v.capacity()) }
}

/// Writes `vals` into `out`, which they must fill exactly, and returns it initialized.
#[inline]
pub(super) fn write_from(
    out: &mut [MaybeUninit<f32>],
    vals: impl Iterator<Item = f32>,
) -> &mut [f32] {
    let mut k = 0;
    for (o, v) in out.iter_mut().zip(vals) {
        o.write(v);
        k += 1;
    }
    assert_eq!(
        k,
        out.len(),
        "a fused kernel wrote {k} of {} values",
        out.len()
    );
    // SAFETY: all `out.len()` elements were written just above.
    unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// Σ xs with eight partial sums (vectorizes; fixed order).
#[inline]
pub(super) fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &x in rest {
        s += x;
    }
    s
}

/// Σ aᵢ·bᵢ with eight partial sums.
#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// max xs; NaN when any element is NaN, so a poisoned row stays poisoned.
#[inline]
pub(super) fn max(xs: &[f32]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    let mut nan = false;
    for &x in xs {
        m = if x > m { x } else { m };
        nan |= x.is_nan();
    }
    if nan {
        f32::NAN
    } else {
        m
    }
}

/// Σ (xᵢ − m)² with eight partial sums.
#[inline]
pub(super) fn sum_sq_dev(xs: &[f32], m: f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            let d = c[k] - m;
            acc[k] += d * d;
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &x in rest {
        s += (x - m) * (x - m);
    }
    s
}

/// gemm's threading for one large product: candle's thread count.
pub(super) fn parallelism() -> gemm::Parallelism {
    match candle_core::utils::get_num_threads() {
        n if n > 1 => gemm::Parallelism::Rayon(n),
        _ => gemm::Parallelism::None,
    }
}

/// A row-major or transposed view of a matrix: element (r, c) is at r·rs + c·cs.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// Checks that every element the strides reach lies inside the operands.
fn check_operands(m: usize, n: usize, k: usize, lhs: Mat, rhs: Mat) {
    let last = |a: Mat, r: usize, c: usize| (r - 1) * a.rs + (c - 1) * a.cs;
    assert!(
        last(lhs, m, k) < lhs.data.len() && last(rhs, k, n) < rhs.data.len(),
        "gemm: operand strides reach outside the data"
    );
}

/// dst (m × n, row-major) += lhs (m × k) · rhs (k × n).
pub(super) fn gemm_acc(
    dst: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    lhs: Mat,
    rhs: Mat,
    par: gemm::Parallelism,
) {
    assert_eq!(dst.len(), m * n, "gemm: destination size");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    check_operands(m, n, k, lhs, rhs);
    // SAFETY: operands checked above; `dst` holds exactly m × n initialized values.
    unsafe { raw_gemm(dst.as_mut_ptr(), m, n, k, lhs, rhs, true, par) }
}

/// dst (m × n, row-major, uninitialized) = lhs (m × k) · rhs (k × n); returns it
/// initialized.
pub(super) fn gemm_uninit<'a>(
    dst: &'a mut [MaybeUninit<f32>],
    m: usize,
    n: usize,
    k: usize,
    lhs: Mat,
    rhs: Mat,
    par: gemm::Parallelism,
) -> &'a mut [f32] {
    assert_eq!(dst.len(), m * n, "gemm: destination size");
    if m == 0 || n == 0 || k == 0 {
        return write_from(dst, std::iter::repeat(0.0));
    }
    check_operands(m, n, k, lhs, rhs);
    // SAFETY: operands checked above; with `read_dst` false gemm stores every one of
    // the m × n destination values without reading them, so the slice is then
    // initialized.
    unsafe {
        raw_gemm(dst.as_mut_ptr() as *mut f32, m, n, k, lhs, rhs, false, par);
        &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32])
    }
}

/// The gemm call: dst = [dst +] lhs · rhs, dst row-major with row stride n.
///
/// # Safety
/// `dst` must be valid for m × n writes (and reads when `accumulate`), and the operands'
/// strides must stay inside their slices.
#[allow(clippy::too_many_arguments)]
unsafe fn raw_gemm(
    dst: *mut f32,
    m: usize,
    n: usize,
    k: usize,
    lhs: Mat,
    rhs: Mat,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        n as isize,
        accumulate,
        lhs.data.as_ptr(),
        lhs.cs as isize,
        lhs.rs as isize,
        rhs.data.as_ptr(),
        rhs.cs as isize,
        rhs.rs as isize,
        if accumulate { 1.0 } else { 0.0 },
        1.0,
        false,
        false,
        false,
        par,
    )
}
