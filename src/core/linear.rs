//! Linear layers with the initialization the experiments declare: weights
//! N(0, gain²/fan_in), biases zero. With gain 1 a unit-variance input gives
//! unit-variance outputs, so q·k has variance d_k, as Q4 assumes.
//!
//! The forward pass is the fused kernel `fused::linear` (one graph node, one gemm; its
//! backward is three kernels). It makes its input contiguous first: candle-nn's `Linear`
//! falls back to a broadcast matmul on strided input (a narrowed or transposed tensor),
//! whose backward pass reduces a (batch, in, out) gradient and was measured 10–30×
//! slower.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

#[derive(Clone, Debug)]
pub struct Linear {
    inner: candle_nn::Linear,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            inner: candle_nn::Linear::new(weight, bias),
        }
    }
    /// (out, in)
    pub fn weight(&self) -> &Tensor {
        self.inner.weight()
    }
    pub fn bias(&self) -> Option<&Tensor> {
        self.inner.bias()
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        super::fused::linear(x, self.weight(), self.bias())
    }
}

pub fn linear(d_in: usize, d_out: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    linear_gain(d_in, d_out, bias, 1.0, vb)
}

pub fn linear_gain(
    d_in: usize,
    d_out: usize,
    bias: bool,
    gain: f64,
    vb: VarBuilder,
) -> Result<Linear> {
    let std = gain / (d_in as f64).sqrt();
    let w = vb.get_with_hints(
        (d_out, d_in),
        "weight",
        Init::Randn {
            mean: 0.0,
            stdev: std,
        },
    )?;
    let b = if bias {
        Some(vb.get_with_hints(d_out, "bias", Init::Const(0.0))?)
    } else {
        None
    };
    Ok(Linear::new(w, b))
}
