//! Scaled dot-product attention as one op: out = W·v with W = softmax(q·kᵀ·scale + bias)
//! (and masked rows zeroed), per (batch, head), forward and backward.
//!
//! Composed from the fused batched products and softmax, attention is 3–6 graph nodes
//! whose (batch, heads, Tq, Tk) score tensors each get a zero-filled gradient buffer and
//! an add in candle's backward pass, and the mask adds two more full passes each way.
//! Here the scores never leave the op: the forward pass keeps the softmax weights for
//! the backward pass (the memory the composed graph keeps too), and the backward pass
//! returns the three input gradients from one kernel.
//!
//! It does the same float operations in the same order as the composed path (the same
//! single-threaded gemm per entry, the same softmax row kernel, the scale applied the
//! way each composed branch applies it), so values and gradients match it bit for bit;
//! the tests check that. Each (batch, head) entry is computed by one call, so results do
//! not depend on the thread count.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Storage, Tensor};

use super::kernel::{assume_written, dot, f32s, fill_parts, gemm_window, rows_of, Mat};
use super::softmax::normalize_row;

/// softmax(q·kᵀ·scale + bias)·v for q (B, H, Tq, d_k), k (B, H, Tk, d_k),
/// v (B, H, Tk, d_v); `bias` (B|1, 1, Tq, Tk) is a constant additive mask and `keep`
/// (B|1, 1, Tq, 1) a constant 0/1 factor on the weights. `None` when the inputs cannot
/// take the fused path (not f32 on the CPU, other ranks or mask shapes, or a mask that
/// needs a gradient); the caller then composes the ops.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    bias: Option<&Tensor>,
    keep: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    if ![q, k, v].iter().all(|t| super::fusable(t) && t.rank() == 4) {
        return Ok(None);
    }
    let (b, h, tq, dk) = q.dims4()?;
    let (kb, kh, tk, kdk) = k.dims4()?;
    let (vb, vh, vtk, dv) = v.dims4()?;
    if (kb, kh, kdk) != (b, h, dk) || (vb, vh, vtk) != (b, h, tk) {
        return Ok(None);
    }
    let sizes = Sizes {
        b,
        h,
        tq,
        tk,
        dk,
        dv,
    };
    apply(q, k, v, sizes, false, scale, bias, keep)
}

/// [`attention`] with the heads merged in the last axis, as the projections make them
/// and the output projection takes them: q (B, Tq, H·d_k), k (B, Tk, H·d_k),
/// v (B, Tk, H·d_v) → (B, Tq, H·d_v). The same values as splitting the heads, calling
/// `attention` and merging them back, without the four copies (and their backward
/// passes) that splitting and merging cost.
pub fn attention_heads(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    scale: f64,
    bias: Option<&Tensor>,
    keep: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    if heads == 0 || ![q, k, v].iter().all(|t| super::fusable(t) && t.rank() == 3) {
        return Ok(None);
    }
    let (b, tq, qw) = q.dims3()?;
    let (kb, tk, kw) = k.dims3()?;
    let (vb, vtk, vw) = v.dims3()?;
    if kb != b || vb != b || kw != qw || vtk != tk || qw % heads != 0 || vw % heads != 0 {
        return Ok(None);
    }
    let (dk, dv) = (qw / heads, vw / heads);
    let sizes = Sizes {
        b,
        h: heads,
        tq,
        tk,
        dk,
        dv,
    };
    apply(q, k, v, sizes, true, scale, bias, keep)
}

/// The sizes of one attention call.
struct Sizes {
    b: usize,
    h: usize,
    tq: usize,
    tk: usize,
    dk: usize,
    dv: usize,
}

/// Builds the op for checked inputs; `None` when a mask cannot take the fused path.
#[allow(clippy::too_many_arguments)]
fn apply(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    s: Sizes,
    merged: bool,
    scale: f64,
    bias: Option<&Tensor>,
    keep: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let host = |m: Option<&Tensor>, last: usize| match m {
        None => Ok(Some(None)),
        Some(m) => host_mask(m, s.b, s.tq, last).map(|h| h.map(Some)),
    };
    let (Some(bias), Some(keep)) = (host(bias, s.tk)?, host(keep, 1)?) else {
        return Ok(None);
    };
    let extents = bias
        .as_ref()
        .filter(|_| s.tk <= MAX_KEYS && s.dk >= MIN_WIDTH && s.dv >= MIN_WIDTH)
        .map(|(vals, batch)| (key_extents(vals, s.tk), *batch))
        .filter(|(ext, _)| ext.iter().any(|&x| x < s.tk));
    let op = Attention {
        scale,
        heads: s.h,
        merged,
        bias,
        keep,
        extents,
        weights: Mutex::new(None),
    };
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    Ok(Some(q.apply_op3(&k, &v, op)?))
}

/// Query (or key) rows per block when attention skips masked keys.
const BLOCK_ROWS: usize = 32;
/// Fewest keys a query block computes scores for (narrower products take other paths in
/// gemm, with other rounding).
const MIN_KEYS: usize = 16;
/// Skipping needs head widths at least this wide (the products it splits by rows have
/// them as their column count).
const MIN_WIDTH: usize = 8;
/// Longest key axis that skipping applies to: gemm sums k ≤ 512 terms as one block, so
/// a sum cut short after (or started after) terms that are exactly 0 has the same bits.
const MAX_KEYS: usize = 512;

/// For each mask row, the number of leading keys it may attend to: one past its last
/// entry that is not −∞ (so every key from there on is masked out).
fn key_extents(bias: &[f32], tk: usize) -> Vec<usize> {
    bias.chunks(tk)
        .map(|r| {
            r.iter()
                .rposition(|&b| b != f32::NEG_INFINITY)
                .map_or(0, |p| p + 1)
        })
        .collect()
}

/// Rows 0..t in blocks of `BLOCK_ROWS`, the last taking the remainder (so no block is a
/// single row, which gemm computes by another path).
fn blocks(t: usize) -> impl Iterator<Item = (usize, usize)> {
    let n = (t / BLOCK_ROWS).max(1);
    (0..n).map(move |b| {
        (
            b * BLOCK_ROWS,
            if b + 1 == n { t } else { (b + 1) * BLOCK_ROWS },
        )
    })
}

/// A constant mask copied to the host: its row-major values and its batch size (1 or B).
type HostMask = (Vec<f32>, usize);

/// The values of a constant f32 mask of shape (B|1, 1, Tq, `last`); `None` when `m` has
/// another shape or needs a gradient.
fn host_mask(m: &Tensor, b: usize, tq: usize, last: usize) -> Result<Option<HostMask>> {
    let d = m.dims();
    let fits = super::fusable(m)
        && !m.track_op()
        && d.len() == 4
        && (d[0] == 1 || d[0] == b)
        && d[1..] == [1, tq, last];
    if !fits {
        return Ok(None);
    }
    Ok(Some((m.flatten_all()?.to_vec1::<f32>()?, d[0])))
}

struct Attention {
    scale: f64,
    heads: usize,
    /// Inputs and output are (B, T, H·d) rather than (B, H, T, d).
    merged: bool,
    /// The additive mask and its batch size (1 or B), row-major (B|1, Tq, Tk).
    bias: Option<HostMask>,
    /// The 0/1 row factor and its batch size, (B|1, Tq).
    keep: Option<HostMask>,
    /// Per mask row, how many leading keys it may see (`key_extents`), and the mask's
    /// batch size; `None` when nothing is skipped. Keys past a row's extent have weight
    /// exactly 0, so the products skip them: a causal mask halves the attention products.
    extents: Option<(Vec<usize>, usize)>,
    /// The softmax weights (before `keep`) from the forward pass, (B, H, Tq, Tk).
    weights: Mutex<Option<Vec<f32>>>,
}

/// Sizes of one call: entries (B·H), Tq, Tk, d_k, d_v.
struct Dims {
    entries: usize,
    tq: usize,
    tk: usize,
    dk: usize,
    dv: usize,
}

impl Attention {
    /// Sizes from the layouts: (B, H, T, d) each, or (B, T, H·d) when `merged`.
    fn dims(&self, q: &Layout, k: &Layout, v: &Layout) -> Result<Dims> {
        if self.merged {
            let (b, tq, qw) = q.shape().dims3()?;
            let (_, tk, _) = k.shape().dims3()?;
            let (_, _, vw) = v.shape().dims3()?;
            let h = self.heads;
            return Ok(Dims {
                entries: b * h,
                tq,
                tk,
                dk: qw / h,
                dv: vw / h,
            });
        }
        let (b, h, tq, dk) = q.shape().dims4()?;
        let (_, _, tk, _) = k.shape().dims4()?;
        let (_, _, _, dv) = v.shape().dims4()?;
        Ok(Dims {
            entries: b * h,
            tq,
            tk,
            dk,
            dv,
        })
    }

    /// Entries per parallel work unit: all heads of one batch element when the heads
    /// are merged (their rows interleave), one entry otherwise.
    fn group(&self) -> usize {
        if self.merged {
            self.heads
        } else {
            1
        }
    }

    /// Where entry `e`'s t × w block of a tensor starts, and its row stride.
    fn place(&self, e: usize, t: usize, w: usize) -> (usize, usize) {
        if self.merged {
            let (b, h) = (e / self.heads, e % self.heads);
            (b * t * self.heads * w + h * w, self.heads * w)
        } else {
            (e * t * w, w)
        }
    }

    /// Entry `e`'s t × w block of `x` (or its transpose) as a matrix view.
    fn view<'a>(&self, x: &'a [f32], e: usize, t: usize, w: usize, transposed: bool) -> Mat<'a> {
        let (at, rs) = self.place(e, t, w);
        let data = &x[at..];
        if transposed {
            Mat {
                data,
                rs: 1,
                cs: rs,
            }
        } else {
            Mat { data, rs, cs: 1 }
        }
    }

    /// Row `i` of the mask (or keep factor) for entry `e`.
    fn mask_row<'a>(
        &self,
        m: &'a HostMask,
        e: usize,
        i: usize,
        d: &Dims,
        width: usize,
    ) -> &'a [f32] {
        let batch = if m.1 == 1 { 0 } else { e / self.heads };
        let at = (batch * d.tq + i) * width;
        &m.0[at..at + width]
    }

    /// The extents of entry `e`'s mask rows.
    fn extents_of(&self, e: usize, d: &Dims) -> Option<&[usize]> {
        self.extents.as_ref().map(|(x, batch)| {
            let b = if *batch == 1 { 0 } else { e / self.heads };
            &x[b * d.tq..(b + 1) * d.tq]
        })
    }

    /// Query blocks (r0, r1, keys): rows r0..r1 see keys 0..keys at most. One block of
    /// all rows and keys when nothing is skipped.
    fn query_blocks(&self, e: usize, d: &Dims) -> Vec<(usize, usize, usize)> {
        let Some(ext) = self.extents_of(e, d) else {
            return vec![(0, d.tq, d.tk)];
        };
        blocks(d.tq)
            .map(|(r0, r1)| {
                let keys = ext[r0..r1].iter().copied().max().unwrap_or(d.tk);
                (r0, r1, keys.max(MIN_KEYS.min(d.tk)))
            })
            .collect()
    }

    /// Key blocks (j0, j1, i0): no query row before i0 sees any key of j0..j1. One block
    /// of all keys from row 0 when nothing is skipped.
    fn key_blocks(&self, e: usize, d: &Dims) -> Vec<(usize, usize, usize)> {
        let Some(ext) = self.extents_of(e, d) else {
            return vec![(0, d.tk, 0)];
        };
        blocks(d.tk)
            .map(|(j0, j1)| (j0, j1, ext.iter().position(|&x| x > j0).unwrap_or(d.tq)))
            .collect()
    }

    /// The softmax's own scale: the unmasked composed path folds the scale into the
    /// softmax kernel; the masked one scales the logits first (candle's affine).
    fn softmax_scale(&self) -> f32 {
        if self.bias.is_some() {
            1.0
        } else {
            self.scale as f32
        }
    }

    /// `w` = the weights after the keep factor, written into `scratch`; `y` itself when
    /// there is no keep factor.
    fn kept<'a>(&self, y: &'a [f32], e: usize, d: &Dims, scratch: &'a mut Vec<f32>) -> &'a [f32] {
        let Some(keep) = &self.keep else { return y };
        scratch.clear();
        for (i, row) in y.chunks(d.tk).enumerate() {
            let f = self.mask_row(keep, e, i, d, 1)[0];
            scratch.extend(row.iter().map(|&w| w * f));
        }
        scratch
    }
}

/// The f32 elements of a CPU tensor's storage.
fn cpu<'a>(s: &'a Storage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    match s {
        Storage::Cpu(c) => f32s(c, l, op),
        _ => bail!("{op}: expected a CPU tensor"),
    }
}

/// Entry `e`'s `rows` × `cols` block of a contiguous (entries, rows, cols) buffer.
fn entry(x: &[f32], e: usize, rows: usize, cols: usize) -> &[f32] {
    &x[e * rows * cols..(e + 1) * rows * cols]
}

/// A row-major `cols`-wide matrix, or its transpose.
fn mat(data: &[f32], cols: usize, transposed: bool) -> Mat<'_> {
    let (rs, cs) = if transposed { (1, cols) } else { (cols, 1) };
    Mat { data, rs, cs }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "fused-attention"
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
        let name = self.name();
        let (q, k, v) = (
            f32s(s1, l1, name)?,
            f32s(s2, l2, name)?,
            f32s(s3, l3, name)?,
        );
        let d = self.dims(l1, l2, l3)?;
        let (sc, soft) = (self.scale as f32, self.softmax_scale());
        let g = self.group();
        let widths = [g * d.tq * d.tk, g * d.tq * d.dv];
        let [weights, out] = fill_parts(d.entries / g, widths, |c, [w, o]| {
            for e in c * g..(c + 1) * g {
                let at = e - c * g;
                let (qm, km, vm) = (
                    self.view(q, e, d.tq, d.dk, false),
                    self.view(k, e, d.tk, d.dk, true),
                    self.view(v, e, d.tk, d.dv, false),
                );
                let w = &mut w[at * d.tq * d.tk..(at + 1) * d.tq * d.tk];
                let (o_at, o_rs) = self.place(e, d.tq, d.dv);
                let o = &mut o[o_at - c * g * d.tq * d.dv..];
                let qb = self.query_blocks(e, &d);
                // Scores of each query block against the keys it can see; the keys past
                // them get a placeholder 0 that the mask's −∞ turns into −∞, as it does
                // any score.
                for &(r0, r1, keys) in &qb {
                    let rows = &mut w[r0 * d.tk..r1 * d.tk];
                    gemm_window(rows, d.tk, r1 - r0, keys, d.dk, rows_of(qm, r0), km);
                    for row in rows.chunks_mut(d.tk) {
                        row[keys..].iter_mut().for_each(|x| {
                            x.write(0.0);
                        });
                    }
                }
                // SAFETY: the query blocks cover every row, and each row was written above
                // (its first `keys` values by gemm, the rest with 0).
                let y = unsafe { assume_written(w) };
                for (i, row) in y.chunks_mut(d.tk).enumerate() {
                    match &self.bias {
                        Some(bias) => {
                            let br = self.mask_row(bias, e, i, &d, d.tk);
                            for (x, &b) in row.iter_mut().zip(br) {
                                *x = (*x * sc + 0.0) + b;
                            }
                        }
                        None => row.iter_mut().for_each(|x| *x *= soft),
                    }
                    normalize_row(row);
                }
                let mut scratch = Vec::new();
                let wk = self.kept(y, e, &d, &mut scratch);
                // Weights past a block's keys are 0: the product stops there.
                for &(r0, r1, keys) in &qb {
                    let wm = rows_of(mat(wk, d.tk, false), r0);
                    let dst = &mut o[r0 * o_rs..];
                    gemm_window(dst, o_rs, r1 - r0, d.dv, keys, wm, rows_of(vm, 0));
                }
            }
            // SAFETY: the entries' query blocks cover every row of their weights and
            // every row of their output windows, which tile the chunk; all were written.
            unsafe { [assume_written(w), assume_written(o)] }
        });
        *self.weights.lock().expect("attention weights lock") = Some(weights);
        let mut dims = l1.shape().dims().to_vec();
        *dims.last_mut().expect("rank 3 or 4") = if self.merged { self.heads * d.dv } else { d.dv };
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let name = self.name();
        let g = grad.contiguous()?;
        let saved = self.weights.lock().expect("attention weights lock");
        let Some(y) = saved.as_ref() else {
            bail!("{name}: backward before forward")
        };
        let (sq, lq) = q.storage_and_layout();
        let (sk, lk) = k.storage_and_layout();
        let (sv, lv) = v.storage_and_layout();
        let (sg, lg) = g.storage_and_layout();
        let (qd, kd, vd, gd) = (
            cpu(&sq, lq, name)?,
            cpu(&sk, lk, name)?,
            cpu(&sv, lv, name)?,
            cpu(&sg, lg, name)?,
        );
        let d = self.dims(lq, lk, lv)?;
        let (sc, soft) = (self.scale as f32, self.softmax_scale());
        let n = self.group();
        let widths = [n * d.tq * d.dk, n * d.tk * d.dk, n * d.tk * d.dv];
        let [dq, dk, dv] = fill_parts(d.entries / n, widths, |c, [dqo, dko, dvo]| {
            for e in c * n..(c + 1) * n {
                let (qm, km, vm, gm) = (
                    self.view(qd, e, d.tq, d.dk, false),
                    self.view(kd, e, d.tk, d.dk, false),
                    self.view(vd, e, d.tk, d.dv, false),
                    self.view(gd, e, d.tq, d.dv, false),
                );
                // This entry's windows of the three gradient chunks.
                let window = |t: usize, w: usize| {
                    let (at, rs) = self.place(e, t, w);
                    (at - c * n * t * w, rs)
                };
                let ((q_at, q_rs), (k_at, k_rs), (v_at, v_rs)) =
                    (window(d.tq, d.dk), window(d.tk, d.dk), window(d.tk, d.dv));
                let ye = entry(y, e, d.tq, d.tk);
                let mut scratch = Vec::new();
                let we = self.kept(ye, e, &d, &mut scratch);
                let (qb, kb) = (self.query_blocks(e, &d), self.key_blocks(e, &d));
                // dv = Wᵀ·g (the weights·v product's backward); rows of W before a key
                // block's first viewer are 0 there, so each sum starts at that row.
                for &(j0, j1, i0) in &kb {
                    // (A block no row sees has an empty sum: `min` keeps the view valid.)
                    let wm = Mat {
                        data: &we[(i0 * d.tk + j0).min(we.len())..],
                        rs: 1,
                        cs: d.tk,
                    };
                    let dst = &mut dvo[v_at + j0 * v_rs..];
                    gemm_window(dst, v_rs, j1 - j0, d.dv, d.tq - i0, wm, rows_of(gm, i0));
                }
                // dW = g·vᵀ for the keys each query block sees, 0 past them (where the
                // weights are 0, so the softmax's backward gives 0 either way).
                let mut dw: Vec<MaybeUninit<f32>> = Vec::with_capacity(d.tq * d.tk);
                // SAFETY: `MaybeUninit` needs no initialization; every value is written below.
                unsafe { dw.set_len(d.tq * d.tk) };
                let vt = Mat {
                    data: vm.data,
                    rs: vm.cs,
                    cs: vm.rs,
                };
                for &(r0, r1, keys) in &qb {
                    let rows = &mut dw[r0 * d.tk..r1 * d.tk];
                    gemm_window(rows, d.tk, r1 - r0, keys, d.dv, rows_of(gm, r0), vt);
                    for row in rows.chunks_mut(d.tk) {
                        row[keys..].iter_mut().for_each(|x| {
                            x.write(0.0);
                        });
                    }
                }
                // SAFETY: the query blocks cover every row, each written in full above.
                let dw = unsafe { assume_written(&mut dw) };
                // Through the keep factor and the softmax, then the logits' scale: the
                // gradient of the logits q·kᵀ, in place.
                for (i, (row, yr)) in dw.chunks_mut(d.tk).zip(ye.chunks(d.tk)).enumerate() {
                    if let Some(keep) = &self.keep {
                        let f = self.mask_row(keep, e, i, &d, 1)[0];
                        row.iter_mut().for_each(|x| *x *= f);
                    }
                    let s = dot(yr, row);
                    let ds = |y: f32, g: f32| soft * (y * (g - s)); // as `grad_row`
                    match self.bias {
                        Some(_) => row
                            .iter_mut()
                            .zip(yr)
                            .for_each(|(x, &y)| *x = ds(y, *x) * sc + 0.0),
                        None => row.iter_mut().zip(yr).for_each(|(x, &y)| *x = ds(y, *x)),
                    }
                }
                // dq = dL·k and dk = dLᵀ·q (the q·kᵀ product's backward), over the keys
                // each query block sees and the queries that see each key block.
                for &(r0, r1, keys) in &qb {
                    let lm = rows_of(mat(dw, d.tk, false), r0);
                    let dst = &mut dqo[q_at + r0 * q_rs..];
                    gemm_window(dst, q_rs, r1 - r0, d.dk, keys, lm, km);
                }
                for &(j0, j1, i0) in &kb {
                    let lm = Mat {
                        data: &dw[(i0 * d.tk + j0).min(dw.len())..],
                        rs: 1,
                        cs: d.tk,
                    };
                    let dst = &mut dko[k_at + j0 * k_rs..];
                    gemm_window(dst, k_rs, j1 - j0, d.dk, d.tq - i0, lm, rows_of(qm, i0));
                }
            }
            // SAFETY: each entry's query and key blocks cover every row of its windows,
            // which tile the chunks; gemm wrote every value of every window.
            unsafe {
                [
                    assume_written(dqo),
                    assume_written(dko),
                    assume_written(dvo),
                ]
            }
        });
        let t = |x: Vec<f32>, like: &Tensor| Tensor::from_vec(x, like.shape(), like.device());
        Ok((Some(t(dq, q)?), Some(t(dk, k)?), Some(t(dv, v)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{fd_check, rand_tensor};
    use super::*;
    use crate::core::attention::{attend, scaled_dot_product};
    use crate::core::mask::{AttnMask, Mask};
    use candle_core::{Device, Var};

    /// Output and the gradients of q, k, v under a fixed output weighting.
    fn run(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&AttnMask>,
        scale: f64,
        fused: bool,
    ) -> Vec<Vec<f32>> {
        let vars: Vec<Var> = [q, k, v]
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let (qv, kv, vv) = (
            vars[0].as_tensor(),
            vars[1].as_tensor(),
            vars[2].as_tensor(),
        );
        let out = if fused {
            attend(qv, kv, vv, mask, scale).unwrap()
        } else {
            scaled_dot_product(qv, kv, vv, mask, scale).unwrap().0
        };
        let w = rand_tensor(out.dims(), 1.0, 91);
        let grads = (&out * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut r = vec![flat(&out)];
        r.extend(vars.iter().map(|x| flat(grads.get(x.as_tensor()).unwrap())));
        r
    }

    /// The fused tensors equal the composed ones bit for bit (a zero's sign aside).
    fn assert_same_bits(fused: &[Vec<f32>], composed: &[Vec<f32>], what: &str) {
        for (j, (x, y)) in fused.iter().zip(composed).enumerate() {
            let same = x
                .iter()
                .zip(y)
                .all(|(a, b)| a.to_bits() == b.to_bits() || a == b);
            assert!(
                same,
                "{what}: output/gradient {j} differs from the composed ops"
            );
        }
    }

    #[test]
    fn matches_the_composed_ops_bit_for_bit() {
        let dev = Device::Cpu;
        let (b, h, tq, tk) = (2, 3, 17, 13);
        let q = rand_tensor(&[b, h, tq, 8], 1.0, 1);
        let k = rand_tensor(&[b, h, tk, 8], 1.0, 2);
        let v = rand_tensor(&[b, h, tk, 5], 1.0, 3);
        let padding = Mask::padding(&[13, 9], tq, tk).to_attn(&dev).unwrap();
        // A query row with no allowed key exercises the keep factor.
        let empty_row = Mask::from_fn(b, tq, tk, |bi, i, j| !(bi == 1 && i == 4) && j <= i + 2)
            .to_attn(&dev)
            .unwrap();
        assert!(empty_row.row_keep.is_some());
        let self_causal = Mask::causal(tq).to_attn(&dev).unwrap();
        let qs = rand_tensor(&[b, h, tq, 8], 1.0, 4);
        let vs = rand_tensor(&[b, h, tq, 5], 1.0, 5);
        let cases: [(&Tensor, &Tensor, Option<&AttnMask>); 4] = [
            (&k, &v, None),
            (&k, &v, Some(&padding)),
            (&k, &v, Some(&empty_row)),
            (&qs, &vs, Some(&self_causal)),
        ];
        for (i, (k, v, mask)) in cases.into_iter().enumerate() {
            for scale in [0.35, 1.0] {
                let f = run(&q, k, v, mask, scale, true);
                let c = run(&q, k, v, mask, scale, false);
                assert_same_bits(&f, &c, &format!("case {i}, scale {scale}"));
            }
        }
    }

    #[test]
    fn skipping_masked_keys_keeps_the_bits() {
        // Long enough for several blocks of queries and keys, heads wide enough to skip.
        let dev = Device::Cpu;
        let (b, h) = (2, 2);
        let causal = Mask::causal(100).to_attn(&dev).unwrap();
        let padded = Mask::padding(&[100, 37], 100, 100).to_attn(&dev).unwrap();
        let both = Mask::causal(100)
            .and(&Mask::padding(&[100, 60], 100, 100))
            .to_attn(&dev)
            .unwrap();
        let cross = Mask::padding(&[90, 5], 70, 90).to_attn(&dev).unwrap();
        for (mask, tq, tk) in [
            (&causal, 100, 100),
            (&padded, 100, 100),
            (&both, 100, 100),
            (&cross, 70, 90),
        ] {
            let q = rand_tensor(&[b, h, tq, 16], 1.0, 31);
            let k = rand_tensor(&[b, h, tk, 16], 1.0, 32);
            let v = rand_tensor(&[b, h, tk, 12], 1.0, 33);
            for scale in [0.25, -0.5] {
                let f = run(&q, &k, &v, Some(mask), scale, true);
                let c = run(&q, &k, &v, Some(mask), scale, false);
                assert_same_bits(&f, &c, &format!("{tq}×{tk}, scale {scale}"));
            }
        }
    }

    #[test]
    fn skipping_keeps_the_bits_at_the_tracks_sizes() {
        // The head widths and lengths the experiments and the real-data track use
        // (gemm rounds some products differently by row count, so each size is checked).
        let dev = Device::Cpu;
        for t in [33, 64, 96, 128, 200] {
            let causal = Mask::causal(t).to_attn(&dev).unwrap();
            let padded = Mask::padding(&[t, t / 2 + 3], t, t).to_attn(&dev).unwrap();
            for w in [8, 16, 32, 64] {
                let q = rand_tensor(&[2, 2, t, w], 1.0, 51);
                let k = rand_tensor(&[2, 2, t, w], 1.0, 52);
                let v = rand_tensor(&[2, 2, t, w], 1.0, 53);
                for mask in [&causal, &padded] {
                    let f = run(&q, &k, &v, Some(mask), 0.3, true);
                    let c = run(&q, &k, &v, Some(mask), 0.3, false);
                    assert_same_bits(&f, &c, &format!("T {t}, width {w}"));
                }
            }
        }
    }

    #[test]
    fn merged_heads_match_split_heads_bit_for_bit() {
        // Multi-head attention's training path (heads merged, `attention_heads`) against
        // its composed path (`forward_with_weights`): output, input and every parameter
        // gradient, unmasked, causal (keys skipped) and with an empty query row.
        use crate::core::attention::{multi_head_attention, MhaConfig};
        use crate::core::params::Params;
        let dev = Device::Cpu;
        let t = 70;
        let causal = Mask::causal(t).to_attn(&dev).unwrap();
        let empty_row = Mask::from_fn(2, t, t, |b, i, j| !(b == 1 && i == 3) && j <= i + 1)
            .to_attn(&dev)
            .unwrap();
        // Keys that no query sees (a whole block past the padding).
        let padded = Mask::padding(&[t, 20], t, t).to_attn(&dev).unwrap();
        for mask in [None, Some(&causal), Some(&empty_row), Some(&padded)] {
            let p = Params::new(5);
            let mha = multi_head_attention(MhaConfig::new(32, 4), p.vb()).unwrap();
            let x = Var::from_tensor(&rand_tensor(&[2, t, 32], 1.0, 40)).unwrap();
            let w = rand_tensor(&[2, t, 32], 1.0, 41);
            let grads = |fused: bool| {
                let xt = x.as_tensor();
                let y = if fused {
                    mha.forward(xt, xt, mask).unwrap()
                } else {
                    mha.forward_with_weights(xt, xt, mask).unwrap().0
                };
                let g = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
                let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let mut all = vec![flat(&y), flat(g.get(xt).unwrap())];
                all.extend(p.vars().iter().map(|v| flat(g.get(v.as_tensor()).unwrap())));
                all
            };
            let (f, c) = (grads(true), grads(false));
            assert_same_bits(&f, &c, &format!("mask {}", mask.is_some()));
        }
    }

    #[test]
    fn matches_when_split_over_the_pool() {
        // Large enough to be split over the thread pool.
        let q = rand_tensor(&[4, 4, 40, 16], 1.0, 6);
        let k = rand_tensor(&[4, 4, 40, 16], 1.0, 7);
        let v = rand_tensor(&[4, 4, 40, 16], 1.0, 8);
        let mask = Mask::causal(40).to_attn(&Device::Cpu).unwrap();
        let a = run(&q, &k, &v, Some(&mask), 0.25, true);
        let b = run(&q, &k, &v, Some(&mask), 0.25, false);
        assert_eq!(a, b);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let q = rand_tensor(&[1, 2, 4, 3], 1.0, 11);
        let k = rand_tensor(&[1, 2, 5, 3], 1.0, 12);
        let v = rand_tensor(&[1, 2, 5, 2], 1.0, 13);
        let mask = Mask::padding(&[4], 4, 5).to_attn(&Device::Cpu).unwrap();
        for m in [None, Some(&mask)] {
            fd_check(&q, |q| attend(q, &k, &v, m, 0.7));
            fd_check(&k, |k| attend(&q, k, &v, m, 0.7));
            fd_check(&v, |v| attend(&q, &k, v, m, 0.7));
        }
    }

    #[test]
    fn falls_back_where_it_cannot_fuse() {
        let q = rand_tensor(&[2, 4, 3], 1.0, 21);
        assert!(attention(&q, &q, &q, 1.0, None, None).unwrap().is_none());
        let q4 = q.unsqueeze(0).unwrap();
        let learned = Var::from_tensor(&rand_tensor(&[1, 1, 4, 4], 1.0, 22)).unwrap();
        assert!(
            attention(&q4, &q4, &q4, 1.0, Some(learned.as_tensor()), None)
                .unwrap()
                .is_none()
        );
    }
}
