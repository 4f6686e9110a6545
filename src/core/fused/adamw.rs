//! AdamW as one in-place pass per parameter tensor: a drop-in for `candle_nn::AdamW`
//! with the same update, float operation for float operation.
//!
//! candle-nn's AdamW runs about fifteen tensor ops per parameter tensor, each a full pass
//! that allocates its result, and then copies the new values into the parameter and the
//! two moment buffers. Here one kernel reads each parameter, its gradient and both
//! moments once and writes them back in place (the moments live in the optimizer as
//! plain vectors). It does candle's arithmetic in candle's order, with candle's f64
//! constants rounded to f32 the way candle's `affine` rounds them, so the parameters
//! after every step are the same bits (the tests check this against `candle_nn::AdamW`).
//! Parameters that are not f32 on the CPU are handed to `candle_nn::AdamW` itself.

use std::sync::Mutex;

use candle_core::backprop::GradStore;
use candle_core::{bail, CpuStorage, InplaceOp2, Layout, Result, Var};
use candle_nn::{Optimizer, ParamsAdamW};

use super::kernel::{f32s, for_chunks_zip};

/// AdamW (Loshchilov & Hutter) with candle-nn's parameters and update rule.
pub struct AdamW {
    /// f32 parameters on the CPU, each with its two moments as plain vectors, updated in
    /// place.
    fused: Vec<(Var, Vec<f32>, Vec<f32>)>,
    /// Any other parameters: candle-nn's AdamW itself.
    composed: candle_nn::AdamW,
    params: ParamsAdamW,
    step_t: usize,
}

/// The per-step constants, as candle's f32 kernels see them.
#[derive(Clone, Copy)]
struct Consts {
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    scale_m: f32,
    scale_v: f32,
    decay: f32,
    eps: f32,
    lr: f32,
}

impl Optimizer for AdamW {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let (fused, composed): (Vec<Var>, Vec<Var>) = vars
            .into_iter()
            .partition(|v| super::fusable(v.as_tensor()));
        let fused = fused
            .into_iter()
            .map(|v| {
                let n = v.elem_count();
                (v, vec![0.0; n], vec![0.0; n])
            })
            .collect();
        Ok(Self {
            fused,
            composed: candle_nn::AdamW::new(composed, params.clone())?,
            params,
            step_t: 0,
        })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
        self.composed.set_learning_rate(lr);
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_t += 1;
        let p = &self.params;
        let (lr, beta1, beta2) = (p.lr, p.beta1, p.beta2);
        let lr_lambda = lr * p.weight_decay;
        let scale_m = 1f64 / (1f64 - beta1.powi(self.step_t as i32));
        let scale_v = 1f64 / (1f64 - beta2.powi(self.step_t as i32));
        let c = Consts {
            beta1: beta1 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            scale_m: scale_m as f32,
            scale_v: scale_v as f32,
            decay: (1f64 - lr_lambda) as f32,
            eps: p.eps as f32,
            lr: lr as f32,
        };
        for (var, m, v) in &mut self.fused {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let g = g.contiguous()?;
            let update = Update {
                c,
                m: Mutex::new((m, v)),
            };
            var.as_tensor().inplace_op2(&g, &update)?;
        }
        self.composed.step(grads)
    }
}

/// One parameter's update in place, given its gradient; the moments are borrowed from
/// the optimizer.
struct Update<'a> {
    c: Consts,
    m: Mutex<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

/// Elements per chunk of the update (each chunk is one call on one thread).
const CHUNK: usize = 1 << 14;

impl InplaceOp2 for Update<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let name = self.name();
        let g = f32s(s2, l2, name)?;
        let CpuStorage::F32(data) = s1 else {
            bail!("{name}: expected an f32 parameter")
        };
        let Some((a, b)) = l1.contiguous_offsets() else {
            bail!("{name}: the parameter must be contiguous")
        };
        let theta = &mut data[a..b];
        let mut guard = self.m.lock().expect("AdamW moments lock");
        let (m, v) = &mut *guard;
        if theta.len() != g.len() || m.len() != g.len() || v.len() != g.len() {
            bail!(
                "{name}: {} parameters, {} gradients, {} moments",
                theta.len(),
                g.len(),
                m.len()
            );
        }
        let c = self.c;
        for_chunks_zip(
            [theta, m.as_mut_slice(), v.as_mut_slice()],
            CHUNK,
            |i, [t, m, v]| {
                let g = &g[i * CHUNK..i * CHUNK + t.len()];
                for (((t, m), v), &g) in t.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                    // candle's ops: affine(x, mul, add) is x * mul + add, rounded per step.
                    let next_m = (*m * c.beta1 + 0.0) + (g * c.one_minus_beta1 + 0.0);
                    let next_v = (*v * c.beta2 + 0.0) + ((g * g) * c.one_minus_beta2 + 0.0);
                    let m_hat = next_m * c.scale_m + 0.0;
                    let v_hat = next_v * c.scale_v + 0.0;
                    let next_theta = *t * c.decay + 0.0;
                    let adjusted = m_hat / (v_hat.sqrt() * 1.0 + c.eps);
                    *t = next_theta - (adjusted * c.lr + 0.0);
                    *m = next_m;
                    *v = next_v;
                }
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::rand_tensor;
    use super::*;
    use candle_core::{DType, Device, Tensor};

    /// Three parameters trained a few steps on a fixed loss by both optimizers.
    fn train(fused: bool, params: ParamsAdamW) -> Vec<Vec<f32>> {
        let shapes: [&[usize]; 3] = [&[70_000], &[3, 5], &[7]];
        let vars: Vec<Var> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| Var::from_tensor(&rand_tensor(s, 1.0, 50 + i as u64)).unwrap())
            .collect();
        let targets: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| rand_tensor(s, 1.0, 60 + i as u64))
            .collect();
        let mut fused_opt = fused.then(|| AdamW::new(vars.clone(), params.clone()).unwrap());
        let mut candle_opt =
            (!fused).then(|| candle_nn::AdamW::new(vars.clone(), params.clone()).unwrap());
        for step in 0..6 {
            let mut loss = Tensor::zeros((), DType::F32, &Device::Cpu).unwrap();
            for (v, t) in vars.iter().zip(&targets) {
                let d = (v.as_tensor() - t).unwrap();
                let l = (d.sqr().unwrap() * (1.0 + step as f64))
                    .unwrap()
                    .sum_all()
                    .unwrap();
                loss = (loss + l).unwrap();
            }
            let grads = loss.backward().unwrap();
            match (&mut fused_opt, &mut candle_opt) {
                (Some(o), _) => o.step(&grads).unwrap(),
                (_, Some(o)) => o.step(&grads).unwrap(),
                _ => unreachable!(),
            }
        }
        vars.iter()
            .map(|v| {
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn same_bits_as_candle_nn_adamw() {
        for params in [
            ParamsAdamW {
                lr: 1e-3,
                ..Default::default()
            },
            ParamsAdamW {
                lr: 3e-2,
                beta1: 0.8,
                beta2: 0.98,
                eps: 1e-6,
                weight_decay: 0.1,
            },
        ] {
            let (a, b) = (train(true, params.clone()), train(false, params));
            for (x, y) in a.iter().zip(&b) {
                assert!(x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()));
            }
        }
    }

    #[test]
    fn non_f32_parameters_take_the_composed_update() {
        let v = Var::from_tensor(&rand_tensor(&[4], 1.0, 1).to_dtype(DType::F64).unwrap()).unwrap();
        let mut o = AdamW::new(vec![v.clone()], ParamsAdamW::default()).unwrap();
        let before = v.as_tensor().to_vec1::<f64>().unwrap();
        let grads = v
            .as_tensor()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        o.step(&grads).unwrap();
        assert_ne!(v.as_tensor().to_vec1::<f64>().unwrap(), before);
    }
}
