//! Test oracles shared by the core's unit tests.

/// Attention computed with loops over plain vectors: the oracle.
pub(crate) fn naive(
    q: &[Vec<f32>],
    k: &[Vec<f32>],
    v: &[Vec<f32>],
    allowed: impl Fn(usize, usize) -> bool,
    scale: f32,
) -> Vec<Vec<f32>> {
    q.iter()
        .enumerate()
        .map(|(i, qi)| {
            let s: Vec<f32> = k
                .iter()
                .enumerate()
                .map(|(j, kj)| {
                    if allowed(i, j) {
                        qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale
                    } else {
                        f32::NEG_INFINITY
                    }
                })
                .collect();
            let m = s.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = s.iter().map(|x| (x - m).exp()).collect();
            let z: f32 = e.iter().sum();
            (0..v[0].len())
                .map(|c| e.iter().zip(v).map(|(w, vj)| w / z * vj[c]).sum())
                .collect()
        })
        .collect()
}
