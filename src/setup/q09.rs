//! Setup of question 9 (sinusoidal position encoding): the permutation test, the code
//! distances, the least-squares fit of PE(p) → PE(p+k) and the ±k symmetry of
//! PE(p)·PE(p+k) before and after random W_Q, W_K. No training.

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rand::Rng;

use crate::core::position::sinusoidal_values;
use crate::core::{encoder_layer, max_abs, sinusoidal, LayerConfig, LayerCtx, Params};
use crate::rng::{normal_vec, randn, seeded, Rng64};

/// The sinusoidal code of position `p` (possibly huge) in f64.
pub fn pe64(p: f64, d: usize) -> Vec<f64> {
    (0..d)
        .map(|c| {
            let w = 10000f64.powf(-2.0 * (c / 2) as f64 / d as f64);
            if c % 2 == 0 {
                (p * w).sin()
            } else {
                (p * w).cos()
            }
        })
        .collect()
}

/// The angular frequencies ω_i = 10000^(−2i/d), i < d/2.
pub fn omegas(d: usize) -> Vec<f64> {
    (0..d / 2)
        .map(|i| 10000f64.powf(-2.0 * i as f64 / d as f64))
        .collect()
}

/// Least squares min ‖A X − B‖ by Householder QR, in f64. A is n×d (rows), B n×m.
/// Returns X (d×m, rows). Errors if A is rank-deficient to working precision.
#[allow(clippy::needless_range_loop)] // Householder steps read clearest with indices.
pub fn lstsq(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let (n, d, m) = (a.len(), a[0].len(), b[0].len());
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    for j in 0..d {
        let norm = (j..n).map(|i| a[i][j] * a[i][j]).sum::<f64>().sqrt();
        if norm < 1e-300 {
            bail!("rank-deficient design in least squares");
        }
        let alpha = if a[j][j] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (j..n).map(|i| a[i][j]).collect();
        v[0] -= alpha;
        let vn = v.iter().map(|x| x * x).sum::<f64>();
        if vn == 0.0 {
            continue;
        }
        for c in j..d {
            let s = (j..n).map(|i| v[i - j] * a[i][c]).sum::<f64>() * 2.0 / vn;
            for i in j..n {
                a[i][c] -= s * v[i - j];
            }
        }
        for c in 0..m {
            let s = (j..n).map(|i| v[i - j] * b[i][c]).sum::<f64>() * 2.0 / vn;
            for i in j..n {
                b[i][c] -= s * v[i - j];
            }
        }
    }
    let mut x = vec![vec![0.0; m]; d];
    for c in 0..m {
        for j in (0..d).rev() {
            let s = b[j][c] - (j + 1..d).map(|l| a[j][l] * x[l][c]).sum::<f64>();
            x[j][c] = s / a[j][j];
        }
    }
    Ok(x)
}

/// ‖A X − B‖ / ‖B‖.
pub fn rel_residual(a: &[Vec<f64>], b: &[Vec<f64>], x: &[Vec<f64>]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (ar, br) in a.iter().zip(b) {
        for (c, bv) in br.iter().enumerate() {
            let pred: f64 = ar.iter().zip(x).map(|(av, xr)| av * xr[c]).sum();
            num += (pred - bv).powi(2);
            den += bv * bv;
        }
    }
    (num / den).sqrt()
}

/// Relative permutation errors max|f(PX) − P f(X)| / max|f(X)| of a random Post-LN
/// encoder layer, one per draw, without positions and with the sinusoidal code added.
pub struct PermutationErrors {
    pub blind: Vec<f64>,
    pub with_pe: Vec<f64>,
}

/// One random layer, input and permutation per draw.
pub fn permutation_errors(
    seed: u64,
    draws: usize,
    d: usize,
    heads: usize,
    len: usize,
    batch: usize,
) -> Result<PermutationErrors> {
    let dev = Device::Cpu;
    let pe = sinusoidal(len, d, &dev)?;
    let mut out = PermutationErrors {
        blind: vec![],
        with_pe: vec![],
    };
    for draw in 0..draws {
        let params = Params::new(seed * 1000 + draw as u64);
        let layer = encoder_layer(LayerConfig::new(d, heads), params.vb())?;
        let mut r = seeded(seed, 100 + draw as u64);
        let x = randn(&mut r, &[batch, len, d], 1.0, &dev)?;
        let mut perm: Vec<u32> = (0..len as u32).collect();
        {
            use rand::seq::SliceRandom;
            perm.shuffle(&mut r);
        }
        let pi = Tensor::new(perm.as_slice(), &dev)?;
        let c = LayerCtx::default();
        for add_pe in [false, true] {
            let f = |x: &Tensor| -> Result<Tensor> {
                let x = if add_pe {
                    x.broadcast_add(&pe)?
                } else {
                    x.clone()
                };
                Ok(layer.forward_t(&x, &c)?)
            };
            let fx = f(&x)?;
            let a = f(&x.index_select(&pi, 1)?)?;
            let b = fx.index_select(&pi, 1)?;
            let err = max_abs(&(a - b)?)? / max_abs(&fx)?;
            if add_pe {
                out.with_pe.push(err);
            } else {
                out.blind.push(err);
            }
        }
    }
    Ok(out)
}

/// Distances between codes: brute force over the f32 table, and the closed form
/// |PE(p) − PE(p+k)|² = Σ_i 2 − 2cos(ω_i k) over long offsets.
pub struct CodeDistances {
    /// Smallest distance between two codes of the f32 table (positions < n).
    pub brute_min: f64,
    /// Smallest distance per offset k in the brute-force table (index k; ∞ at 0).
    pub brute_by_k: Vec<f64>,
    /// Smallest closed-form distance over offsets 1..=long, and where.
    pub long_min: f64,
    pub argmin: usize,
}

pub fn code_distance_closed(om: &[f64], k: f64) -> f64 {
    om.iter()
        .map(|w| 2.0 - 2.0 * (w * k).cos())
        .sum::<f64>()
        .sqrt()
}

pub fn code_distances(d: usize, brute: usize, long: usize) -> CodeDistances {
    let table = sinusoidal_values(brute, d);
    let mut brute_min = f64::INFINITY;
    let mut brute_by_k = vec![f64::INFINITY; brute];
    for p in 0..brute {
        let a = &table[p * d..(p + 1) * d];
        for q in p + 1..brute {
            let b = &table[q * d..(q + 1) * d];
            let dist = a
                .iter()
                .zip(b)
                .map(|(x, y)| ((*x as f64) - (*y as f64)).powi(2))
                .sum::<f64>()
                .sqrt();
            brute_min = brute_min.min(dist);
            brute_by_k[q - p] = brute_by_k[q - p].min(dist);
        }
    }
    let om = omegas(d);
    let (mut long_min, mut argmin) = (f64::INFINITY, 0);
    for k in 1..=long {
        let dk = code_distance_closed(&om, k as f64);
        if dk < long_min {
            long_min = dk;
            argmin = k;
        }
    }
    CodeDistances {
        brute_min,
        brute_by_k,
        long_min,
        argmin,
    }
}

/// The offsets shown in the distance chart: 1..16, then powers of two and multiples of
/// 1000.
pub fn shown_offset(k: usize) -> bool {
    k <= 16 || k.is_power_of_two() || k.is_multiple_of(1000)
}

/// One offset's least-squares fit PE(p+k) ≈ M_k PE(p).
pub struct MapFit {
    pub k: usize,
    pub fit_residual: f64,
    pub heldout_residual: f64,
    /// Largest entry-wise deviation of the fitted M_k from the closed-form rotation.
    pub rotation_deviation: f64,
}

/// Fit M_k by general d×d least squares on `points` random positions in 0..range,
/// check it on as many others.
#[allow(clippy::needless_range_loop)] // entry-wise comparison of two matrices.
pub fn fit_linear_map(
    rng: &mut Rng64,
    d: usize,
    k: usize,
    range: usize,
    points: usize,
) -> Result<MapFit> {
    let mut draw =
        |n: usize| -> Vec<f64> { (0..n).map(|_| rng.gen_range(0..range) as f64).collect() };
    let (ptrain, ptest) = (draw(points), draw(points));
    let codes =
        |ps: &[f64], off: f64| -> Vec<Vec<f64>> { ps.iter().map(|&p| pe64(p + off, d)).collect() };
    let (a, b) = (codes(&ptrain, 0.0), codes(&ptrain, k as f64));
    let x = lstsq(&a, &b)?; // PE(p+k)ᵀ ≈ PE(p)ᵀ X, so M_k = Xᵀ
    let fit_residual = rel_residual(&a, &b, &x);
    let heldout_residual = rel_residual(&codes(&ptest, 0.0), &codes(&ptest, k as f64), &x);
    // Closed form: per frequency, (sin, cos)(p+k) is (sin, cos)(p) rotated by ω k.
    let om = omegas(d);
    let mut dev: f64 = 0.0;
    for row in 0..d {
        for col in 0..d {
            let (i, j) = (row / 2, col / 2);
            let want = if i != j {
                0.0
            } else {
                let (c, s) = ((om[i] * k as f64).cos(), (om[i] * k as f64).sin());
                // M[out, in]: sin' = sin·c + cos·s ; cos' = cos·c − sin·s
                match (row % 2, col % 2) {
                    (0, 0) => c,
                    (0, 1) => s,
                    (1, 0) => -s,
                    _ => c,
                }
            };
            dev = dev.max((x[col][row] - want).abs());
        }
    }
    Ok(MapFit {
        k,
        fit_residual,
        heldout_residual,
        rotation_deviation: dev,
    })
}

/// PE(p)·PE(p+k) (or (W_Q PE(p))·(W_K PE(p+k))) for k in −K..=K at each base position.
pub struct DotCurves {
    /// `values[i][k + K]` at base position `bases[i]`.
    pub values: Vec<Vec<f64>>,
}

impl DotCurves {
    /// (asymmetry in ±k, dependence on p), both divided by max |value|.
    pub fn deviations(&self) -> (f64, f64) {
        let c = &self.values;
        let scale = c.iter().flatten().fold(0f64, |m, v| m.max(v.abs()));
        let mid = c[0].len() / 2;
        let (mut asym, mut pdep) = (0f64, 0f64);
        for row in c {
            for k in 1..=mid {
                asym = asym.max((row[mid + k] - row[mid - k]).abs());
            }
            for (v, v0) in row.iter().zip(&c[0]) {
                pdep = pdep.max((v - v0).abs());
            }
        }
        (asym / scale, pdep / scale)
    }
}

/// The curves from the core's f32 table, optionally through W_Q, W_K (d×d, row-major).
pub fn dot_curves(
    d: usize,
    bases: &[usize],
    kmax: usize,
    w: Option<(&[f32], &[f32])>,
) -> DotCurves {
    let pmax = *bases.iter().max().expect("base positions");
    let tab = sinusoidal_values(pmax + kmax + 1, d);
    let code =
        |p: usize| -> Vec<f64> { tab[p * d..(p + 1) * d].iter().map(|&v| v as f64).collect() };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let matvec = |m: &[f32], v: &[f64]| -> Vec<f64> {
        (0..d)
            .map(|r| (0..d).map(|c| m[r * d + c] as f64 * v[c]).sum())
            .collect()
    };
    let k = kmax as i64;
    let values = bases
        .iter()
        .map(|&p| {
            (-k..=k)
                .map(|o| {
                    let (a, b) = (code(p), code((p as i64 + o) as usize));
                    match w {
                        Some((q, kk)) => dot(&matvec(q, &a), &matvec(kk, &b)),
                        None => dot(&a, &b),
                    }
                })
                .collect()
        })
        .collect();
    DotCurves { values }
}

/// Random W_Q, W_K with entries N(0, 1/d).
pub fn random_projections(rng: &mut Rng64, d: usize) -> (Vec<f32>, Vec<f32>) {
    let std = 1.0 / (d as f64).sqrt();
    (
        normal_vec(rng, d * d, 0.0, std),
        normal_vec(rng, d * d, 0.0, std),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lstsq_recovers_a_known_map() {
        let a: Vec<Vec<f64>> = (0..10)
            .map(|i| vec![1.0, i as f64, (i * i) as f64 * 0.1])
            .collect();
        let xt = [[2.0, -1.0], [0.5, 0.0], [1.0, 3.0]];
        let b: Vec<Vec<f64>> = a
            .iter()
            .map(|r| {
                (0..2)
                    .map(|c| (0..3).map(|j| r[j] * xt[j][c]).sum())
                    .collect()
            })
            .collect();
        let x = lstsq(&a, &b).unwrap();
        for j in 0..3 {
            for c in 0..2 {
                assert!((x[j][c] - xt[j][c]).abs() < 1e-10);
            }
        }
        assert!(rel_residual(&a, &b, &x) < 1e-12);
    }

    #[test]
    fn closed_form_distance_matches_codes() {
        let d = 16;
        let (a, b) = (pe64(3.0, d), pe64(10.0, d));
        let direct = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((direct - code_distance_closed(&omegas(d), 7.0)).abs() < 1e-12);
    }
}
