//! The position-wise feed-forward network: FFN(x) = act(x W₁ + b₁) W₂ + b₂,
//! applied to every position with the same weights.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::linear::{linear, Linear};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    Relu,
    /// GELU, tanh approximation (as in GPT-2 / BERT code).
    Gelu,
    /// GELU with the exact erf.
    GeluErf,
}

impl Activation {
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => super::fused::gelu(x),
            Activation::GeluErf => x.gelu_erf(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Ffn {
    pub w1: Linear,
    pub w2: Linear,
    pub act: Activation,
}

pub fn ffn(d_model: usize, d_ff: usize, act: Activation, vb: VarBuilder) -> Result<Ffn> {
    Ok(Ffn {
        w1: linear(d_model, d_ff, true, vb.pp("w1"))?,
        w2: linear(d_ff, d_model, true, vb.pp("w2"))?,
        act,
    })
}

impl Ffn {
    /// The hidden activations act(x W₁ + b₁).
    pub fn hidden(&self, x: &Tensor) -> Result<Tensor> {
        self.act.apply(&self.w1.forward(x)?)
    }
}

impl Module for Ffn {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.w2.forward(&self.hidden(x)?)
    }
}
