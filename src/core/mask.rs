//! Attention masks: which query may look at which key.
//!
//! A [`Mask`] is a host-side boolean grid (batch, query, key); `true` means allowed.
//! Masks combine with `and`, and turn into an additive score bias with a chosen fill
//! value (−∞ by default, as in the original Transformer). A query row with no allowed
//! key would give 0/0 = NaN under −∞; [`Mask::to_attn`] guards against it by giving
//! such rows a finite bias and zeroing their attention weights (see `attention.rs`).

use candle_core::{Device, Result, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    /// Batch size (1 means "the same for every batch element").
    pub b: usize,
    pub tq: usize,
    pub tk: usize,
    /// Row-major (b, tq, tk); true = may attend.
    pub allowed: Vec<bool>,
}

/// A mask ready for `scaled_dot_product`: an additive bias (B|1, 1, Tq, Tk) and, when
/// some query rows have no allowed key, a (B|1, 1, Tq, 1) 0/1 factor that zeroes them.
#[derive(Clone, Debug)]
pub struct AttnMask {
    pub bias: Tensor,
    pub row_keep: Option<Tensor>,
}

impl Mask {
    pub fn full(b: usize, tq: usize, tk: usize) -> Self {
        Self {
            b,
            tq,
            tk,
            allowed: vec![true; b * tq * tk],
        }
    }

    pub fn from_fn(
        b: usize,
        tq: usize,
        tk: usize,
        f: impl Fn(usize, usize, usize) -> bool,
    ) -> Self {
        let mut allowed = Vec::with_capacity(b * tq * tk);
        for bi in 0..b {
            for i in 0..tq {
                for j in 0..tk {
                    allowed.push(f(bi, i, j));
                }
            }
        }
        Self { b, tq, tk, allowed }
    }

    /// Keys at positions ≥ `lengths[b]` are padding and may not be attended to.
    pub fn padding(lengths: &[usize], tq: usize, tk: usize) -> Self {
        Self::from_fn(lengths.len(), tq, tk, |b, _, j| j < lengths[b])
    }

    /// Query i may attend to keys j ≤ i (decoder self-attention).
    pub fn causal(t: usize) -> Self {
        Self::from_fn(1, t, t, |_, i, j| j <= i)
    }

    /// Query i may not attend to key i (used with shared Q/K, and in the BERT leak test).
    pub fn no_self(t: usize) -> Self {
        Self::from_fn(1, t, t, |_, i, j| i != j)
    }

    pub fn get(&self, b: usize, i: usize, j: usize) -> bool {
        let b = if self.b == 1 { 0 } else { b };
        self.allowed[(b * self.tq + i) * self.tk + j]
    }

    /// Both masks allow it. Batch sizes must match or one must be 1.
    pub fn and(&self, other: &Mask) -> Mask {
        assert_eq!(
            (self.tq, self.tk),
            (other.tq, other.tk),
            "mask shapes differ"
        );
        assert!(
            self.b == other.b || self.b == 1 || other.b == 1,
            "mask batch sizes differ"
        );
        let b = self.b.max(other.b);
        Mask::from_fn(b, self.tq, self.tk, |bi, i, j| {
            self.get(bi, i, j) && other.get(bi, i, j)
        })
    }

    /// Rows (b, i) that have at least one allowed key.
    pub fn row_has_key(&self, b: usize, i: usize) -> bool {
        (0..self.tk).any(|j| self.get(b, i, j))
    }

    /// The additive bias with `fill` at disallowed places, shape (b, 1, tq, tk).
    /// No guard: a fully masked row stays fully `fill` (NaN under −∞).
    pub fn to_bias(&self, fill: f32, dev: &Device) -> Result<Tensor> {
        let v: Vec<f32> = self
            .allowed
            .iter()
            .map(|&a| if a { 0.0 } else { fill })
            .collect();
        Tensor::from_vec(v, (self.b, 1, self.tq, self.tk), dev)
    }

    /// The raw −∞ mask, with no guard for fully masked rows.
    pub fn to_attn_unguarded(&self, fill: f32, dev: &Device) -> Result<AttnMask> {
        Ok(AttnMask {
            bias: self.to_bias(fill, dev)?,
            row_keep: None,
        })
    }

    /// The mask the core uses: −∞ at disallowed places; a query row with no allowed
    /// key gets bias 0 (finite softmax) and weight factor 0, so its output is zero
    /// instead of NaN, and no NaN reaches the gradients.
    pub fn to_attn(&self, dev: &Device) -> Result<AttnMask> {
        self.to_attn_with(f32::NEG_INFINITY, dev)
    }

    pub fn to_attn_with(&self, fill: f32, dev: &Device) -> Result<AttnMask> {
        let mut bias = Vec::with_capacity(self.allowed.len());
        let mut keep = Vec::with_capacity(self.b * self.tq);
        let mut any_empty = false;
        for b in 0..self.b {
            for i in 0..self.tq {
                let has = self.row_has_key(b, i);
                any_empty |= !has;
                keep.push(if has { 1f32 } else { 0f32 });
                for j in 0..self.tk {
                    bias.push(if !has || self.get(b, i, j) { 0.0 } else { fill });
                }
            }
        }
        let bias = Tensor::from_vec(bias, (self.b, 1, self.tq, self.tk), dev)?;
        let row_keep = if any_empty {
            Some(Tensor::from_vec(keep, (self.b, 1, self.tq, 1), dev)?)
        } else {
            None
        };
        Ok(AttnMask { bias, row_keep })
    }
}

/// A (B, T) 0/1 tensor: 1 at real tokens, 0 at padding.
pub fn valid_positions(lengths: &[usize], t: usize, dev: &Device) -> Result<Tensor> {
    let v: Vec<f32> = lengths
        .iter()
        .flat_map(|&l| (0..t).map(move |j| if j < l { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_vec(v, (lengths.len(), t), dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_and_padding_combine() {
        let m = Mask::causal(3).and(&Mask::padding(&[2, 3], 3, 3));
        assert_eq!(m.b, 2);
        assert!(m.get(0, 2, 1) && !m.get(0, 2, 2) && m.get(1, 2, 2) && !m.get(1, 0, 1));
    }

    #[test]
    fn guard_marks_empty_rows() {
        let m = Mask::padding(&[0, 2], 2, 2);
        let a = m.to_attn(&Device::Cpu).unwrap();
        let keep = a
            .row_keep
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(keep, [0.0, 0.0, 1.0, 1.0]);
        let bias = a.bias.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(bias[..4].iter().all(|&x| x == 0.0));
    }
}
