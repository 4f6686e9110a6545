//! Repeat a run over seeds and summarize the metric with an interval.

use anyhow::Result;

use crate::stats::{mean_ci, Estimate};

/// The seeds for `k` repetitions of an experiment run with base seed `base`.
pub fn seed_list(base: u64, k: usize) -> Vec<u64> {
    (0..k as u64)
        .map(|i| base.wrapping_mul(1000).wrapping_add(i))
        .collect()
}

/// Run `f(seed)` for `k` seeds derived from `base`; the values and their mean with a
/// 95% t interval.
pub fn over_seeds(
    base: u64,
    k: usize,
    mut f: impl FnMut(u64) -> Result<f64>,
) -> Result<(Vec<f64>, Estimate)> {
    let vals = seed_list(base, k)
        .into_iter()
        .map(&mut f)
        .collect::<Result<Vec<_>>>()?;
    let e = mean_ci(&vals, 0.95);
    Ok((vals, e))
}
