//! Seeded synthetic tasks. A task draws batches of token sequences with targets and a
//! per-position weight saying which positions are scored.

use candle_core::{Device, Result, Tensor};

use crate::rng::Rng64;

/// One batch: inputs (B, T) u32, targets (B, T) u32, weights (B, T) f32 (1 where a
/// position is scored), and the true lengths when sequences are padded.
#[derive(Clone, Debug)]
pub struct Batch {
    pub x: Tensor,
    pub y: Tensor,
    pub weight: Tensor,
    pub lengths: Option<Vec<usize>>,
}

impl Batch {
    /// Build from host vectors of shape (b, t).
    pub fn from_vecs(
        x: Vec<u32>,
        y: Vec<u32>,
        w: Vec<f32>,
        b: usize,
        t: usize,
        lengths: Option<Vec<usize>>,
        dev: &Device,
    ) -> Result<Self> {
        Ok(Self {
            x: Tensor::from_vec(x, (b, t), dev)?,
            y: Tensor::from_vec(y, (b, t), dev)?,
            weight: Tensor::from_vec(w, (b, t), dev)?,
            lengths,
        })
    }
}

pub trait Task {
    /// Input vocabulary size.
    fn vocab_in(&self) -> usize;
    /// Number of output classes.
    fn vocab_out(&self) -> usize;
    /// Longest sequence the task produces.
    fn max_len(&self) -> usize;
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> Result<Batch>;
}
