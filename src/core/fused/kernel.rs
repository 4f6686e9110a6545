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

/// Calls `f(i)` for every i in 0..count, spread over candle's thread pool when `work`
/// (the elements written in all) is large. Each index is handed to exactly one call.
fn for_indices(count: usize, work: usize, f: impl Fn(usize) + Sync) {
    if work < PAR_MIN || count < 2 {
        (0..count).for_each(f);
        return;
    }
    candle_core::utils::barrier_pool().execute_chunked(count, |range| range.for_each(&f));
}

/// Calls `f(i, chunk_i)` for the consecutive `width`-long chunks of `out` (the last may
/// be shorter), spread over candle's thread pool when the kernel's work is large: when
/// `out` or the `reads` elements it reads in all are (a reduction such as a per-row loss
/// writes one value per long row). Each chunk is handed to exactly one call, so the
/// result does not depend on the thread count.
pub(super) fn for_chunks_reading<T: Send>(
    out: &mut [T],
    width: usize,
    reads: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    assert!(width > 0, "chunk width must be positive");
    let n = out.len();
    let ptr = out.as_mut_ptr() as usize;
    for_indices(n.div_ceil(width), n.max(reads), |i| {
        let start = i * width;
        let len = width.min(n - start);
        // SAFETY: `for_indices` hands out every index in 0..chunks exactly once, so the
        // slices are disjoint and inside `out`, which outlives the call.
        let c = unsafe { std::slice::from_raw_parts_mut((ptr as *mut T).add(start), len) };
        f(i, c);
    });
}

/// Calls `f(i, [chunk i of each])` for the consecutive `width`-long chunks of `N`
/// equally long slices (the last chunk may be shorter), spread over candle's thread
/// pool when they are large: an element-wise kernel that updates several buffers in
/// place. Each chunk is handed to exactly one call.
pub(super) fn for_chunks_zip<const N: usize>(
    outs: [&mut [f32]; N],
    width: usize,
    f: impl Fn(usize, [&mut [f32]; N]) + Sync,
) {
    assert!(width > 0, "chunk width must be positive");
    let n = outs.first().map_or(0, |o| o.len());
    assert!(
        outs.iter().all(|o| o.len() == n),
        "slices of different lengths"
    );
    let ptrs: [usize; N] = std::array::from_fn(|j| outs[j].as_ptr() as usize);
    for_indices(n.div_ceil(width), n * N, |i| {
        let (start, len) = (i * width, width.min(n - i * width));
        // SAFETY: index i is handed out once, so chunk i of each slice is disjoint from
        // every other call's and inside its slice, which `outs` borrows mutably for the
        // whole call.
        let parts = std::array::from_fn(|j| unsafe {
            std::slice::from_raw_parts_mut((ptrs[j] as *mut f32).add(start), len)
        });
        f(i, parts);
    });
}

/// `count` × `width` values, not yet initialized.
fn uninit(n: usize) -> Vec<MaybeUninit<f32>> {
    let mut v: Vec<MaybeUninit<f32>> = Vec::with_capacity(n);
    // SAFETY: `MaybeUninit` needs no initialization.
    unsafe { v.set_len(n) };
    v
}

/// The buffer once every element is initialized.
///
/// # Safety
/// Every element of `v` must have been written.
unsafe fn assume_init(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: `MaybeUninit<f32>` has the layout of `f32`, the allocation is handed over
    // unchanged, and the caller vouches for initialization.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr() as *mut f32, v.len(), v.capacity()) }
}

/// Panics unless `done` is exactly the chunk at `ptr` of length `len`.
fn check_done(done: &[f32], ptr: usize, len: usize) {
    assert!(
        done.as_ptr() as usize == ptr && done.len() == len,
        "a fused kernel must initialize its whole output chunk"
    );
}

/// `N` new outputs built together, `chunks` chunks each: chunk i of output j is
/// `widths[j]` long, and one call `f(i, [chunk i of each output])` must return all of
/// them initialized (checked). For kernels that produce several tensors per batch
/// entry, such as attention's outputs and its saved weights.
pub(super) fn fill_parts<const N: usize, F>(
    chunks: usize,
    widths: [usize; N],
    f: F,
) -> [Vec<f32>; N]
where
    F: for<'a> Fn(usize, [&'a mut [MaybeUninit<f32>]; N]) -> [&'a mut [f32]; N] + Sync,
{
    let mut vs: [Vec<MaybeUninit<f32>>; N] = std::array::from_fn(|j| uninit(chunks * widths[j]));
    let ptrs: [usize; N] = std::array::from_fn(|j| vs[j].as_mut_ptr() as usize);
    for_indices(chunks, chunks * widths.iter().sum::<usize>(), |i| {
        let at = |j: usize| ptrs[j] + i * widths[j] * std::mem::size_of::<f32>();
        // SAFETY: index i is handed out once, so chunk i of each output is disjoint from
        // every other call's, and inside its buffer, which outlives the call.
        let parts = std::array::from_fn(|j| unsafe {
            std::slice::from_raw_parts_mut(at(j) as *mut MaybeUninit<f32>, widths[j])
        });
        let done = f(i, parts);
        for (j, d) in done.iter().enumerate() {
            check_done(d, at(j), widths[j]);
        }
    });
    // SAFETY: every chunk of every output was returned initialized (checked above).
    vs.each_mut()
        .map(|v| unsafe { assume_init(std::mem::take(v)) })
}

/// A new output of `n` values, built chunk by chunk (`width` each) by `f`, which must
/// return its whole chunk initialized (the only safe ways to get that view are
/// `write_from` and `gemm_uninit`; the returned view is checked). The buffer is not
/// zero-filled first: zeroing the outputs cost ~10% of the reference step.
pub(super) fn fill<F>(n: usize, width: usize, f: F) -> Vec<f32>
where
    F: for<'a> Fn(usize, &'a mut [MaybeUninit<f32>]) -> &'a mut [f32] + Sync,
{
    fill_reading(n, width, n, f)
}

/// `fill` for a kernel that reads `reads` elements in all (see `for_chunks_reading`).
pub(super) fn fill_reading<F>(n: usize, width: usize, reads: usize, f: F) -> Vec<f32>
where
    F: for<'a> Fn(usize, &'a mut [MaybeUninit<f32>]) -> &'a mut [f32] + Sync,
{
    let mut v = uninit(n);
    for_chunks_reading(&mut v, width.max(1), reads, |i, c| {
        let (ptr, len) = (c.as_ptr() as usize, c.len());
        check_done(f(i, c), ptr, len);
    });
    // SAFETY: every chunk was returned initialized (checked above).
    unsafe { assume_init(v) }
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

/// gemm's threading for one large product: candle's thread count. (Splitting a product
/// by rows over candle's pool instead was measured 7–9% faster, but gemm rounds some
/// shapes differently by row count, which made results depend on the thread count.)
pub(super) fn parallelism() -> gemm::Parallelism {
    match candle_core::utils::get_num_threads() {
        n if n > 1 => gemm::Parallelism::Rayon(n),
        _ => gemm::Parallelism::None,
    }
}

/// Rows `start..` of `a`. A start at or past the end gives an empty view (for a product
/// with no rows or no terms left, which reads nothing).
pub(super) fn rows_of(a: Mat, start: usize) -> Mat {
    Mat {
        data: &a.data[(start * a.rs).min(a.data.len())..],
        ..a
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
    unsafe { raw_gemm(dst.as_mut_ptr(), n, m, n, k, lhs, rhs, true, par) }
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
    write_window(dst, n, m, n, k, lhs, rhs, par);
    // SAFETY: the window of m full rows is the whole of `dst`, and it was written.
    unsafe { assume_written(dst) }
}

/// The first n columns of the m rows of `dst` (row stride `rs`, uninitialized) =
/// lhs (m × k) · rhs (k × n), single-threaded; the rest of each row is left as it was,
/// for the caller to initialize.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_window(
    dst: &mut [MaybeUninit<f32>],
    rs: usize,
    m: usize,
    n: usize,
    k: usize,
    lhs: Mat,
    rhs: Mat,
) {
    write_window(dst, rs, m, n, k, lhs, rhs, gemm::Parallelism::None)
}

/// Writes every value of the m × n window of `dst` (row stride `rs`): lhs · rhs, or 0
/// when k = 0.
#[allow(clippy::too_many_arguments)]
fn write_window(
    dst: &mut [MaybeUninit<f32>],
    rs: usize,
    m: usize,
    n: usize,
    k: usize,
    lhs: Mat,
    rhs: Mat,
    par: gemm::Parallelism,
) {
    assert!(n <= rs, "gemm: window wider than its rows");
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst.len() >= (m - 1) * rs + n,
        "gemm: window outside the destination"
    );
    if k == 0 {
        for row in dst.chunks_mut(rs).take(m) {
            row[..n].iter_mut().for_each(|x| {
                x.write(0.0);
            });
        }
        return;
    }
    check_operands(m, n, k, lhs, rhs);
    // SAFETY: operands checked above; the m rows of n values `rs` apart lie in `dst`
    // (checked above), and with `accumulate` false gemm writes them without reading.
    unsafe {
        raw_gemm(
            dst.as_mut_ptr() as *mut f32,
            rs,
            m,
            n,
            k,
            lhs,
            rhs,
            false,
            par,
        )
    }
}

/// A buffer the caller has written in full, as initialized values.
///
/// # Safety
/// Every element of `x` must have been written.
pub(super) unsafe fn assume_written(x: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: `MaybeUninit<f32>` has the layout of `f32`; the caller vouches for the values.
    unsafe { &mut *(x as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// The gemm call: dst = [dst +] lhs · rhs, dst row-major with row stride `dst_rs` ≥ n.
///
/// # Safety
/// `dst` must be valid for the writes (and reads when `accumulate`) of m rows of n
/// values `dst_rs` apart, and the operands' strides must stay inside their slices.
#[allow(clippy::too_many_arguments)]
unsafe fn raw_gemm(
    dst: *mut f32,
    dst_rs: usize,
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
        dst_rs as isize,
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
