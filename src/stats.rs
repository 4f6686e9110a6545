//! Estimates with intervals (statrs underneath): mean with a Student-t interval,
//! Welch's t-test, least-squares slope with an interval, quantiles.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// What an estimate's interval is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IntervalKind {
    /// A 95% confidence interval (Student t, order statistics, or a fit's slope).
    #[default]
    #[serde(rename = "ci95")]
    Ci95,
    /// The smallest and largest value over seeds or repeats: a spread, not a
    /// confidence statement.
    Range,
    /// A closed form or a deterministic count: the interval is the point.
    Exact,
}

impl IntervalKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            IntervalKind::Ci95 => "ci95",
            IntervalKind::Range => "range",
            IntervalKind::Exact => "exact",
        }
    }
}

impl std::fmt::Display for IntervalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point estimate with a two-sided interval at `level` (e.g. 0.95).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub point: f64,
    pub lo: f64,
    pub hi: f64,
    pub level: f64,
    /// Number of observations behind it.
    pub n: usize,
    /// What the interval is.
    #[serde(default)]
    pub kind: IntervalKind,
}

impl Estimate {
    /// An exact value (a count, a closed form): the interval is the point.
    pub fn exact(x: f64) -> Self {
        Self {
            point: x,
            lo: x,
            hi: x,
            level: 1.0,
            n: 1,
            kind: IntervalKind::Exact,
        }
    }

    /// A point with the min..max range of `n` observations (seeds or repeats).
    pub fn range(point: f64, lo: f64, hi: f64, n: usize) -> Self {
        Self {
            point,
            lo,
            hi,
            level: 1.0,
            n,
            kind: IntervalKind::Range,
        }
    }

    /// The median of `xs` with their min..max range.
    pub fn median_minmax(xs: &[f64]) -> Self {
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self::range(median(xs), lo, hi, xs.len())
    }

    /// The same estimate with every number multiplied by `f` (f > 0).
    pub fn scaled(self, f: f64) -> Self {
        Self {
            point: self.point * f,
            lo: self.lo * f,
            hi: self.hi * f,
            ..self
        }
    }

    /// The same estimate mapped through an increasing function (e.g. exp).
    pub fn map(self, f: impl Fn(f64) -> f64) -> Self {
        Self {
            point: f(self.point),
            lo: f(self.lo),
            hi: f(self.hi),
            ..self
        }
    }

    /// A point with a given interval.
    pub fn with_interval(point: f64, lo: f64, hi: f64, level: f64, n: usize) -> Self {
        Self {
            point,
            lo,
            hi,
            level,
            n,
            kind: IntervalKind::Ci95,
        }
    }
}

fn t_quantile(level: f64, df: f64) -> f64 {
    if df <= 0.0 || !df.is_finite() {
        return f64::INFINITY;
    }
    StudentsT::new(0.0, 1.0, df)
        .map(|t| t.inverse_cdf(0.5 + level / 2.0))
        .unwrap_or(f64::INFINITY)
}

pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Unbiased sample variance.
pub fn variance(xs: &[f64]) -> f64 {
    let m = mean(xs);
    xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() as f64 - 1.0)
}

/// Mean with a Student-t interval. One observation gives an infinite interval.
pub fn mean_ci(xs: &[f64], level: f64) -> Estimate {
    let n = xs.len();
    let m = mean(xs);
    if n < 2 {
        return Estimate {
            point: m,
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
            level,
            n,
            kind: IntervalKind::Ci95,
        };
    }
    let se = (variance(xs) / n as f64).sqrt();
    let h = t_quantile(level, n as f64 - 1.0) * se;
    Estimate {
        point: m,
        lo: m - h,
        hi: m + h,
        level,
        n,
        kind: IntervalKind::Ci95,
    }
}

/// Welch's unequal-variance t-test of mean(a) − mean(b).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Welch {
    pub diff: Estimate,
    pub t: f64,
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

pub fn welch(a: &[f64], b: &[f64], level: f64) -> Welch {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (va, vb) = (variance(a) / na, variance(b) / nb);
    let d = mean(a) - mean(b);
    let se = (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    let (t, p, h) = if se > 0.0 {
        let t = d / se;
        let dist = StudentsT::new(0.0, 1.0, df).expect("valid df");
        (
            t,
            2.0 * (1.0 - dist.cdf(t.abs())),
            t_quantile(level, df) * se,
        )
    } else {
        // No spread at all: the difference is exact.
        (
            if d == 0.0 {
                0.0
            } else {
                d.signum() * f64::INFINITY
            },
            if d == 0.0 { 1.0 } else { 0.0 },
            0.0,
        )
    };
    Welch {
        diff: Estimate {
            point: d,
            lo: d - h,
            hi: d + h,
            level,
            n: a.len() + b.len(),
            kind: IntervalKind::Ci95,
        },
        t,
        df,
        p,
    }
}

/// Paired differences a − b: mean with a t interval.
pub fn paired_diff(a: &[f64], b: &[f64], level: f64) -> Estimate {
    assert_eq!(a.len(), b.len(), "paired samples must have equal length");
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    mean_ci(&d, level)
}

/// Ordinary least squares y = a + b·x.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Fit {
    pub slope: Estimate,
    pub intercept: f64,
    pub r2: f64,
}

pub fn linear_fit(x: &[f64], y: &[f64], level: f64) -> Fit {
    let n = x.len();
    assert!(n >= 3 && n == y.len(), "a fit needs at least 3 points");
    let (mx, my) = (mean(x), mean(y));
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let b = sxy / sxx;
    let a = my - b * mx;
    let sse: f64 = x
        .iter()
        .zip(y)
        .map(|(xi, yi)| (yi - a - b * xi).powi(2))
        .sum();
    let syy: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    let se = (sse / (n as f64 - 2.0) / sxx).sqrt();
    let h = t_quantile(level, n as f64 - 2.0) * se;
    Fit {
        slope: Estimate {
            point: b,
            lo: b - h,
            hi: b + h,
            level,
            n,
            kind: IntervalKind::Ci95,
        },
        intercept: a,
        r2: if syy > 0.0 { 1.0 - sse / syy } else { 1.0 },
    }
}

/// Slope of log(y) against log(x): the growth exponent.
pub fn loglog_slope(x: &[f64], y: &[f64], level: f64) -> Fit {
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    linear_fit(&lx, &ly, level)
}

/// The q-quantile (0..=1) by linear interpolation.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let pos = q * (v.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos.fract());
    if i + 1 < v.len() {
        v[i] * (1.0 - f) + v[i + 1] * f
    } else {
        v[i]
    }
}

pub fn median(xs: &[f64]) -> f64 {
    quantile(xs, 0.5)
}

/// Median with a percentile interval over repeated measurements (for timings).
pub fn median_range(xs: &[f64], lo_q: f64, hi_q: f64) -> Estimate {
    Estimate {
        point: median(xs),
        lo: quantile(xs, lo_q),
        hi: quantile(xs, hi_q),
        level: hi_q - lo_q,
        n: xs.len(),
        kind: IntervalKind::Range,
    }
}

/// Median with a distribution-free interval from order statistics (normal
/// approximation to the binomial ranks).
pub fn median_ci(xs: &[f64], level: f64) -> Estimate {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let z = statrs::distribution::Normal::new(0.0, 1.0)
        .map(|d| d.inverse_cdf(0.5 + level / 2.0))
        .unwrap_or(1.96);
    let half = z * (n as f64).sqrt() / 2.0;
    let lo = ((n as f64 / 2.0 - half).floor().max(0.0)) as usize;
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    Estimate {
        point: median(&v),
        lo: v[lo],
        hi: v[hi],
        level,
        n,
        kind: IntervalKind::Ci95,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_ci_matches_textbook() {
        // Mean 3, sd sqrt(2.5), t(0.975, 4) = 2.776445
        let e = mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95);
        let h = 2.776445 * (2.5f64 / 5.0).sqrt();
        assert!((e.point - 3.0).abs() < 1e-12);
        assert!((e.hi - 3.0 - h).abs() < 1e-5);
    }

    #[test]
    fn fit_recovers_exact_line() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        let f = linear_fit(&x, &y, 0.95);
        assert!((f.slope.point - 2.0).abs() < 1e-12 && (f.intercept - 1.0).abs() < 1e-12);
        assert!((f.slope.hi - f.slope.lo).abs() < 1e-9);
        let g = loglog_slope(&[1.0, 2.0, 4.0, 8.0], &[3.0, 12.0, 48.0, 192.0], 0.95);
        assert!((g.slope.point - 2.0).abs() < 1e-12);
    }

    #[test]
    fn welch_detects_and_ignores() {
        let a = [10.0, 11.0, 10.5, 10.2, 10.8];
        let b = [1.0, 1.5, 0.8, 1.2, 1.1];
        assert!(welch(&a, &b, 0.95).p < 1e-6);
        let w = welch(&a, &a, 0.95);
        assert!(w.p > 0.99 && w.diff.lo < 0.0 && w.diff.hi > 0.0);
    }

    #[test]
    fn quantiles() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&v), 2.5);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
    }
}
