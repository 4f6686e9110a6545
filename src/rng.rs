//! The one source of randomness: a seeded ChaCha generator on the host.
//! Candle's CPU generator cannot be seeded, so every weight and every data point
//! is drawn here and copied into tensors.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

pub type Rng64 = ChaCha8Rng;

/// A generator for `seed`, with a `stream` so that independent parts of one run
/// (data, weights, probes) do not share draws.
pub fn seeded(seed: u64, stream: u64) -> Rng64 {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// `n` draws from N(mean, std²).
pub fn normal_vec(rng: &mut Rng64, n: usize, mean: f64, std: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            (mean + std * z) as f32
        })
        .collect()
}

/// `n` draws from U[lo, hi).
pub fn uniform_vec(rng: &mut Rng64, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(lo..hi) as f32).collect()
}

/// `n` integers from 0..k.
pub fn index_vec(rng: &mut Rng64, n: usize, k: usize) -> Vec<u32> {
    (0..n).map(|_| rng.gen_range(0..k) as u32).collect()
}

/// A tensor of N(0, std²) entries drawn from `rng`.
pub fn randn(
    rng: &mut Rng64,
    shape: &[usize],
    std: f64,
    dev: &candle_core::Device,
) -> candle_core::Result<candle_core::Tensor> {
    let n = shape.iter().product();
    candle_core::Tensor::from_vec(normal_vec(rng, n, 0.0, std), shape, dev)
}
