//! A learned relative-position bias on the attention scores (Shaw et al. 2018 with
//! scalar terms per head, as in T5 / Raffel et al. 2020, but with linearly clipped
//! distances instead of T5's log buckets): score(i, j) += b_h[clip(j − i, −K, K)].
//!
//! The bias depends on the query and key positions only through j − i, so the model
//! has no notion of absolute position; distances beyond K share one learned value.
//! Built with `index_select` on a (heads, 2K+1) table, which has a backward pass.

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};

#[derive(Clone, Debug)]
pub struct RelativeBias {
    /// (heads, 2K+1); column K + δ holds the bias for distance j − i = δ.
    pub table: Tensor,
    pub heads: usize,
    /// K: distances are clipped to [−K, K].
    pub max_dist: usize,
}

/// A relative bias for `heads` heads, distances clipped at `max_dist`, initialized to 0.
pub fn relative_bias(heads: usize, max_dist: usize, vb: VarBuilder) -> Result<RelativeBias> {
    let table = vb.get_with_hints((heads, 2 * max_dist + 1), "table", Init::Const(0.0))?;
    Ok(RelativeBias {
        table,
        heads,
        max_dist,
    })
}

impl RelativeBias {
    /// Column of the table for query i, key j.
    pub fn bucket(&self, i: usize, j: usize) -> usize {
        let k = self.max_dist as i64;
        ((j as i64 - i as i64).clamp(-k, k) + k) as usize
    }

    /// The bias (1, heads, tq, tk) for queries at 0..tq and keys at 0..tk.
    pub fn bias(&self, tq: usize, tk: usize) -> Result<Tensor> {
        let mut idx = Vec::with_capacity(tq * tk);
        for i in 0..tq {
            for j in 0..tk {
                idx.push(self.bucket(i, j) as u32);
            }
        }
        let idx = Tensor::from_vec(idx, tq * tk, self.table.device())?;
        self.table
            .index_select(&idx, 1)?
            .reshape((1, self.heads, tq, tk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::params::Params;
    use candle_core::Var;

    #[test]
    fn bias_depends_only_on_clipped_distance() {
        let p = Params::new(0);
        let mut rb = relative_bias(2, 3, p.vb()).unwrap();
        let vals: Vec<f32> = (0..14).map(|x| x as f32 * 0.5 - 2.0).collect();
        rb.table = Tensor::from_vec(vals.clone(), (2, 7), &candle_core::Device::Cpu).unwrap();
        let b = rb.bias(6, 6).unwrap().squeeze(0).unwrap();
        let b = b.to_vec3::<f32>().unwrap();
        for h in 0..2 {
            for i in 0..6 {
                for j in 0..6 {
                    let d = (j as i64 - i as i64).clamp(-3, 3) + 3;
                    assert_eq!(b[h][i][j], vals[h * 7 + d as usize]);
                }
            }
        }
    }

    #[test]
    fn gradients_flow_to_every_used_entry() {
        let p = Params::new(0);
        let rb = relative_bias(2, 2, p.vb()).unwrap();
        let b = rb.bias(4, 4).unwrap();
        let w = Tensor::arange(0f32, 32.0, &candle_core::Device::Cpu)
            .unwrap()
            .reshape((1, 2, 4, 4))
            .unwrap();
        let loss = (b * w).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let (_, v): (String, Var) = p.named_vars().remove(0);
        let gt = g
            .get(v.as_tensor())
            .expect("gradient")
            .to_vec2::<f32>()
            .unwrap();
        // Every distance −2..2 occurs in a 4×4 grid, so every entry gets a gradient.
        assert!(gt.iter().flatten().all(|&x| x != 0.0), "{gt:?}");
        // Entry for distance 0 of head 0: sum of the diagonal of w (0+5+10+15).
        assert_eq!(gt[0][2], 30.0);
    }
}
