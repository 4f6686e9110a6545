//! Fused CPU kernels with their own backward pass (candle `CustomOp`s): the linear
//! layer, softmax over the last axis, scaled dot-product attention, LayerNorm,
//! tanh-GELU and per-row cross-entropy; and AdamW as one in-place pass per parameter.
//!
//! Composed from primitive ops, each of these is a chain of 5–15 tensor ops forward and
//! more backward (the composed GELU backward alone calls `powf` and `tanh` on every
//! activation), each pass allocating a full tensor. A fused op reads its input once per
//! pass and writes one output; its backward pass is a second fused kernel. Large
//! tensors are split by rows over candle's thread pool; every row (and every block of a
//! reduction) is computed by one call in a fixed order, so the results do not depend on
//! the number of threads.
//!
//! The wrappers fall back to the composed ops for anything but f32 on the CPU. Tests
//! check values and gradients against the composed references and gradients against
//! central finite differences.

mod adamw;
mod attention;
mod bmm;
mod cross_entropy;
mod gelu;
mod heads;
mod kernel;
mod layer_norm;
mod linear;
mod math;
mod softmax;

pub use adamw::AdamW;
pub use attention::{attention, attention_heads};
pub use bmm::{bmm, bmm_nt};
pub use cross_entropy::cross_entropy_rows;
pub use gelu::gelu;
pub use heads::{merge_heads, split_heads};
pub use layer_norm::layer_norm;
pub use linear::linear;
pub use softmax::{softmax_last, softmax_scaled};

/// Whether `x` can take the fused path (f32 on the CPU).
fn fusable(x: &candle_core::Tensor) -> bool {
    x.dtype() == candle_core::DType::F32 && x.device().is_cpu()
}

#[cfg(test)]
pub(crate) mod check;
