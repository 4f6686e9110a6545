//! Test helpers for the fused ops: random inputs, gradients, closeness, and a central
//! finite-difference check.

use candle_core::{Device, Result, Tensor, Var};

use crate::rng::{randn, seeded};

pub(crate) fn rand_tensor(shape: &[usize], std: f64, seed: u64) -> Tensor {
    randn(&mut seeded(seed, 31), shape, std, &Device::Cpu).unwrap()
}

/// A fixed random weighting of the outputs, so each position gets its own gradient.
fn weights_for(y: &Tensor) -> Tensor {
    rand_tensor(y.dims(), 1.0, 77)
}

/// f(x) and d Σ(w·f(x)) / dx.
pub(crate) fn grads_of(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> (Tensor, Tensor) {
    let v = Var::from_tensor(x).unwrap();
    let y = f(v.as_tensor()).unwrap();
    let loss = (&y * weights_for(&y)).unwrap().sum_all().unwrap();
    let g = loss.backward().unwrap().get(v.as_tensor()).unwrap().clone();
    (y, g)
}

/// Largest |a − b| / (1 + |b|) must stay under `tol`.
pub(crate) fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs() / (1.0 + (*y as f64).abs()))
        .fold(0f64, f64::max);
    assert!(
        worst < tol,
        "{what}: worst scaled difference {worst:e} ≥ {tol:e}"
    );
}

/// The analytic gradient of Σ(w·f(x)) agrees with central differences (step 1e-2,
/// evaluated in f64 from f32 forward passes) to 2% of its scale.
pub(crate) fn fd_check(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) {
    let (y, g) = grads_of(x, &f);
    let w = weights_for(&y);
    let loss = |t: &Tensor| -> f64 {
        (f(t).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_dtype(candle_core::DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let gs = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let scale = gs.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    assert!(scale > 0.0, "gradient is identically zero");
    let h = 1e-2f32;
    for i in 0..xs.len() {
        let at = |delta: f32| {
            let mut v = xs.clone();
            v[i] += delta;
            Tensor::from_vec(v, x.shape(), x.device()).unwrap()
        };
        let fd = (loss(&at(h)) - loss(&at(-h))) / (2.0 * h as f64);
        let err = (fd - gs[i] as f64).abs();
        assert!(
            err < 0.02 * scale,
            "element {i}: finite difference {fd} vs gradient {}",
            gs[i]
        );
    }
}
