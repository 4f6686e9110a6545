//! Synthetic tasks shared by several experiments.

use std::sync::Arc;

use candle_core::{Device, Result, Tensor};

use super::task::{Batch, Task};
use crate::rng::{index_vec, normal_vec, seeded, Rng64};

/// y_i = x_{i−1}: each position must read its left neighbour (position 0 unscored).
pub struct PrevToken {
    pub vocab: usize,
    pub len: usize,
}

impl Task for PrevToken {
    fn vocab_in(&self) -> usize {
        self.vocab
    }
    fn vocab_out(&self) -> usize {
        self.vocab
    }
    fn max_len(&self) -> usize {
        self.len
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> Result<Batch> {
        let t = self.len;
        let x = index_vec(rng, size * t, self.vocab);
        let mut y = vec![0u32; size * t];
        let mut w = vec![0f32; size * t];
        for b in 0..size {
            for i in 1..t {
                y[b * t + i] = x[b * t + i - 1];
                w[b * t + i] = 1.0;
            }
        }
        Batch::from_vecs(x, y, w, size, t, None, dev)
    }
}

/// Features and teacher labels: `n` Gaussian inputs of width `d_in` labelled by a random
/// two-layer tanh network of width `teacher_width` (argmax over `classes` scores).
pub struct TeacherData {
    /// (n, d_in)
    pub feats: Tensor,
    pub labels: Arc<Vec<u32>>,
}

/// Draws from `seed`, stream 4: teacher weights first, then the inputs.
pub fn teacher_data(
    seed: u64,
    d_in: usize,
    teacher_width: usize,
    classes: usize,
    n: usize,
) -> anyhow::Result<TeacherData> {
    let mut r = seeded(seed, 4);
    let (d, h) = (d_in, teacher_width);
    let a = normal_vec(&mut r, h * d, 0.0, 2.0 / (d as f64).sqrt());
    let b = normal_vec(&mut r, classes * h, 0.0, 1.0);
    let x = normal_vec(&mut r, n * d, 0.0, 1.0);
    let labels = (0..n)
        .map(|i| {
            let xi = &x[i * d..(i + 1) * d];
            let hid: Vec<f32> = (0..h)
                .map(|j| {
                    a[j * d..(j + 1) * d]
                        .iter()
                        .zip(xi)
                        .map(|(p, q)| p * q)
                        .sum::<f32>()
                        .tanh()
                })
                .collect();
            let score = |c: usize| -> f32 {
                b[c * h..(c + 1) * h]
                    .iter()
                    .zip(&hid)
                    .map(|(p, q)| p * q)
                    .sum()
            };
            (0..classes)
                .max_by(|&p, &q| score(p).total_cmp(&score(q)))
                .unwrap_or(0) as u32
        })
        .collect();
    Ok(TeacherData {
        feats: Tensor::from_vec(x, (n, d), &Device::Cpu)?,
        labels: Arc::new(labels),
    })
}

/// Points drawn uniformly from the first `n` rows of a feature table, each batch
/// element a one-token "sequence" holding the row index (the model looks the features up).
pub struct RowPool {
    pub n: usize,
    pub labels: Arc<Vec<u32>>,
    pub classes: usize,
}

impl Task for RowPool {
    fn vocab_in(&self) -> usize {
        self.labels.len()
    }
    fn vocab_out(&self) -> usize {
        self.classes
    }
    fn max_len(&self) -> usize {
        1
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> Result<Batch> {
        let idx = index_vec(rng, size, self.n);
        rows_batch(&idx, &self.labels, dev)
    }
}

/// A batch of the given rows with their labels.
pub fn rows_batch(idx: &[u32], labels: &[u32], dev: &Device) -> Result<Batch> {
    let y = idx.iter().map(|&i| labels[i as usize]).collect();
    Batch::from_vecs(
        idx.to_vec(),
        y,
        vec![1.0; idx.len()],
        idx.len(),
        1,
        None,
        dev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prev_token_targets_and_weights() {
        let b = PrevToken { vocab: 5, len: 4 }
            .batch(&mut seeded(0, 0), 2, &Device::Cpu)
            .unwrap();
        let x = b.x.to_vec2::<u32>().unwrap();
        let y = b.y.to_vec2::<u32>().unwrap();
        let w = b.weight.to_vec2::<f32>().unwrap();
        for r in 0..2 {
            assert_eq!(w[r][0], 0.0);
            for i in 1..4 {
                assert_eq!((y[r][i], w[r][i]), (x[r][i - 1], 1.0));
            }
        }
    }

    #[test]
    fn teacher_labels_are_deterministic_and_use_every_class() {
        let a = teacher_data(3, 8, 16, 4, 400).unwrap();
        let b = teacher_data(3, 8, 16, 4, 400).unwrap();
        assert_eq!(a.labels, b.labels);
        for c in 0..4 {
            assert!(a.labels.contains(&c), "class {c} never chosen");
        }
    }
}
