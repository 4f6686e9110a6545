//! Position encodings.

use candle_core::{Device, Result, Tensor};

/// PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)), as (T, d).
/// Angles are computed in f64 and rounded once to f32.
pub fn sinusoidal_values(t: usize, d: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(t * d);
    for p in 0..t {
        for c in 0..d {
            let i = (c / 2) as f64;
            let angle = p as f64 / 10000f64.powf(2.0 * i / d as f64);
            v.push(if c % 2 == 0 { angle.sin() } else { angle.cos() } as f32);
        }
    }
    v
}

pub fn sinusoidal(t: usize, d: usize, dev: &Device) -> Result<Tensor> {
    Tensor::from_vec(sinusoidal_values(t, d), (t, d), dev)
}

#[cfg(test)]
mod tests {
    #[test]
    fn closed_form_entries() {
        let v = super::sinusoidal_values(3, 4);
        assert_eq!(v[0..4], [0.0, 1.0, 0.0, 1.0]);
        assert!((v[4] - 1f32.sin()).abs() < 1e-7);
        assert!((v[6] - (0.01f32).sin()).abs() < 1e-7);
        assert!((v[7] - (0.01f32).cos()).abs() < 1e-7);
    }
}
