//! Element-wise functions written so the compiler can vectorize them (no libm calls):
//! exp on x ≤ 0 and tanh, with the GELU (tanh form) and its derivative built on them.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two (Cephes) so that n·ln2 is subtracted without rounding error.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// ln(2⁻¹²⁶): below this the result would be subnormal; it is flushed to 0.
const EXP_MIN: f32 = -87.336_55;
/// 1.5·2²³: adding it rounds to an integer, which lands in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// eˣ for x ≤ 0 (the only range the fused kernels need: arguments are shifted by the
/// row maximum), within about 2 ulp; 0 below ln(2⁻¹²⁶); NaN stays NaN.
#[inline(always)]
pub(super) fn exp_nonpos(x: f32) -> f32 {
    let xc = if x < EXP_MIN { EXP_MIN } else { x };
    let t = xc * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // Cephes expf polynomial on |r| ≤ ln2/2.
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001201e-1, which rounds to 0.5 in f32
    let y = p * r * r + r + 1.0;
    // 2ⁿ from the integer n held in t's mantissa.
    let n_int = t.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    if x < EXP_MIN {
        0.0
    } else {
        y * scale
    }
}

/// tanh(u) = sign(u)·(1 − e^{−2|u|})/(1 + e^{−2|u|}), absolute error about 1e-7.
#[inline(always)]
pub(super) fn tanh(u: f32) -> f32 {
    let e = exp_nonpos(-2.0 * u.abs());
    let t = (1.0 - e) / (1.0 + e);
    f32::from_bits(t.to_bits() | (u.to_bits() & 0x8000_0000))
}

/// √(2/π), as candle's GELU uses it.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

/// GELU, tanh approximation: ½v(1 + tanh(√(2/π)(v + 0.044715v³))), the same formula as
/// candle's `Tensor::gelu`.
#[inline(always)]
pub(super) fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + tanh(SQRT_2_OVER_PI * v * (1.0 + GELU_C * v * v)))
}

/// d gelu / dv = ½(1 + t) + ½v(1 − t²)·√(2/π)(1 + 3·0.044715v²), t the tanh above.
#[inline(always)]
pub(super) fn gelu_grad(v: f32) -> f32 {
    let v2 = v * v;
    let t = tanh(SQRT_2_OVER_PI * v * (1.0 + GELU_C * v2));
    0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * v2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-40_000..=40_000).map(|i| i as f32 * 2.5e-4 * (1.0 + (i as f32).abs() * 1e-4))
    }

    #[test]
    fn exp_matches_libm_to_a_few_ulp() {
        let mut worst = 0f64;
        for x in grid().map(|x| -x.abs()).chain([0.0, -1e-30, -87.0, -87.3]) {
            let want = (x as f64).exp();
            let rel = ((exp_nonpos(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
        }
        assert!(
            worst < 3.0 * f32::EPSILON as f64,
            "worst relative error {worst:e}"
        );
        assert_eq!(exp_nonpos(-100.0), 0.0);
        assert_eq!(exp_nonpos(f32::NEG_INFINITY), 0.0);
        assert!(exp_nonpos(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_and_gelu_match_f64_closed_forms() {
        let (mut wt, mut wg, mut wd) = (0f64, 0f64, 0f64);
        for v in grid() {
            let x = v as f64;
            wt = wt.max((tanh(v) as f64 - x.tanh()).abs());
            let s = (2.0 / std::f64::consts::PI).sqrt();
            let t = (s * (x + 0.044715 * x.powi(3))).tanh();
            let g = 0.5 * x * (1.0 + t);
            let d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * s * (1.0 + 3.0 * 0.044715 * x * x);
            wg = wg.max((gelu(v) as f64 - g).abs() / (1.0 + g.abs()));
            wd = wd.max((gelu_grad(v) as f64 - d).abs());
        }
        assert!(wt < 2e-7, "tanh abs error {wt:e}");
        assert!(wg < 5e-7, "gelu error {wg:e}");
        // The derivative multiplies tanh's absolute error by up to ~|v|·(1 − t²)·1.2.
        assert!(wd < 2e-6, "gelu' error {wd:e}");
        assert!(tanh(-0.0).to_bits() == (-0.0f32).to_bits() && tanh(50.0) == 1.0);
        assert!(gelu(f32::NAN).is_nan() && gelu_grad(f32::NAN).is_nan());
    }
}
