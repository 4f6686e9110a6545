//! Comparing tensors: the largest absolute entry or difference, as f64 (exact for
//! f32, f16 and bf16 inputs).

use candle_core::{DType, Result, Tensor};

/// max |t|
pub fn max_abs(t: &Tensor) -> Result<f64> {
    t.abs()?.max_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()
}

/// max |a − b|
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    max_abs(&(a - b)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn largest_entry_and_difference() {
        let dev = candle_core::Device::Cpu;
        let a = candle_core::Tensor::new(&[1f32, -3.5, 2.0], &dev).unwrap();
        let b = candle_core::Tensor::new(&[1f32, -3.0, 4.0], &dev).unwrap();
        assert_eq!(super::max_abs(&a).unwrap(), 3.5);
        assert_eq!(super::max_abs_diff(&a, &b).unwrap(), 2.0);
    }
}
