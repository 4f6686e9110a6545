//! A plain multilayer perceptron on continuous features, for the BatchNorm experiment
//! (Q13): `depth` hidden layers Linear → norm → activation, then a linear read-out.
//! The norm is any core [`NormKind`]; BatchNorm sees the (N, width) pre-activations as
//! (N, 1, width), so its statistics are over the batch.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::linear::{linear, linear_gain, Linear};
use super::norm::{norm, Norm, NormKind};

/// Hidden-layer activations: one saturating (sigmoid) and one that is not (ReLU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MlpAct {
    Relu,
    /// σ(x) = (1 + tanh(x/2))/2, composed from ops with a backward pass (and no
    /// overflow in exp for large |x|).
    Sigmoid,
}

impl MlpAct {
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            MlpAct::Relu => x.relu(),
            MlpAct::Sigmoid => ((x * 0.5)?.tanh()? + 1.0)? * 0.5,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            MlpAct::Relu => "relu",
            MlpAct::Sigmoid => "sigmoid",
        }
    }
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct MlpConfig {
    pub d_in: usize,
    pub width: usize,
    /// Number of hidden layers.
    pub depth: usize,
    pub classes: usize,
    pub act: MlpAct,
    pub norm: NormKind,
    /// Hidden weights are N(0, gain²/fan_in); gain 1 is the "small default" init.
    pub gain: f64,
}

#[derive(Clone, Debug)]
pub struct Mlp {
    /// (linear, norm) per hidden layer. With a norm the linear has no bias (the norm's
    /// β takes its place; a bias before BatchNorm gets no gradient).
    pub hidden: Vec<(Linear, Norm)>,
    pub out: Linear,
    pub cfg: MlpConfig,
}

pub fn mlp(cfg: MlpConfig, vb: VarBuilder) -> Result<Mlp> {
    let bias = cfg.norm == NormKind::None;
    let hidden = (0..cfg.depth)
        .map(|i| {
            let d_in = if i == 0 { cfg.d_in } else { cfg.width };
            let vbi = vb.pp(format!("layer{i:02}"));
            Ok((
                linear_gain(d_in, cfg.width, bias, cfg.gain, vbi.pp("lin"))?,
                norm(cfg.norm, cfg.width, vbi.pp("norm"))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Mlp {
        hidden,
        out: linear(cfg.width, cfg.classes, true, vb.pp("out"))?,
        cfg,
    })
}

impl Mlp {
    /// Logits (N, classes) for features (N, d_in); `train` selects batch statistics.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for (lin, n) in &self.hidden {
            let z = lin.forward(&h)?;
            let z = match n {
                Norm::Identity => z,
                _ => n.forward_t(&z.unsqueeze(1)?, None, train)?.squeeze(1)?,
            };
            h = self.cfg.act.apply(&z)?;
        }
        self.out.forward(&h)
    }

    /// The hidden layers' weight matrices, first to last.
    pub fn hidden_weights(&self) -> Vec<Tensor> {
        self.hidden
            .iter()
            .map(|(l, _)| l.weight().clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::params::Params;
    use crate::rng::{randn, seeded};
    use crate::train::trainer::vars_without_gradient;
    use candle_core::{Device, D};

    fn cfg(act: MlpAct, norm: NormKind) -> MlpConfig {
        MlpConfig {
            d_in: 3,
            width: 5,
            depth: 3,
            classes: 4,
            act,
            norm,
            gain: 1.0,
        }
    }

    #[test]
    fn sigmoid_matches_closed_form() {
        let x = Tensor::new(&[-100f32, -2., 0., 1.5, 100.], &Device::Cpu).unwrap();
        let y = MlpAct::Sigmoid.apply(&x).unwrap().to_vec1::<f32>().unwrap();
        for (yi, xi) in y.iter().zip([-100f32, -2., 0., 1.5, 100.]) {
            assert!((yi - 1.0 / (1.0 + (-xi).exp())).abs() < 1e-6);
        }
    }

    #[test]
    fn plain_mlp_matches_naive_loop() {
        let p = Params::new(3);
        let m = mlp(cfg(MlpAct::Sigmoid, NormKind::None), p.vb()).unwrap();
        let x = randn(&mut seeded(0, 0), &[2, 3], 1.0, &Device::Cpu).unwrap();
        let got = m.forward_t(&x, true).unwrap().to_vec2::<f32>().unwrap();
        let mut h: Vec<Vec<f32>> = x.to_vec2().unwrap();
        let layers: Vec<&Linear> = m
            .hidden
            .iter()
            .map(|(l, _)| l)
            .chain(std::iter::once(&m.out))
            .collect();
        for (i, l) in layers.iter().enumerate() {
            let w: Vec<Vec<f32>> = l.weight().to_vec2().unwrap();
            let b: Vec<f32> = l.bias().unwrap().to_vec1().unwrap();
            h = h
                .iter()
                .map(|row| {
                    w.iter()
                        .zip(&b)
                        .map(|(wr, bo)| {
                            let z: f32 = wr.iter().zip(row).map(|(a, c)| a * c).sum::<f32>() + bo;
                            if i + 1 < layers.len() {
                                1.0 / (1.0 + (-z).exp())
                            } else {
                                z
                            }
                        })
                        .collect()
                })
                .collect();
        }
        for (a, b) in got.iter().flatten().zip(h.iter().flatten()) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn batch_norm_mlp_normalizes_and_trains_every_variable() {
        let p = Params::new(1);
        let m = mlp(cfg(MlpAct::Relu, NormKind::Batch), p.vb()).unwrap();
        let x = randn(&mut seeded(1, 0), &[8, 3], 3.0, &Device::Cpu).unwrap();
        // The first pre-activation, batch-normalized: mean 0, variance 1 per feature.
        let (lin, n) = &m.hidden[0];
        let z = n
            .forward_t(&lin.forward(&x).unwrap().unsqueeze(1).unwrap(), None, true)
            .unwrap()
            .squeeze(1)
            .unwrap();
        let mean = z.mean(0).unwrap().abs().unwrap().max_all().unwrap();
        assert!(mean.to_scalar::<f32>().unwrap() < 1e-5);
        let var = z.sqr().unwrap().mean(0).unwrap().to_vec1::<f32>().unwrap();
        assert!(var.iter().all(|v| (v - 1.0).abs() < 1e-3));
        // Every variable (weights, γ, β, read-out) gets a gradient.
        let logits = m.forward_t(&x, true).unwrap();
        let loss = candle_nn::ops::log_softmax(&logits, D::Minus1)
            .unwrap()
            .narrow(1, 0, 1)
            .unwrap()
            .sum_all()
            .unwrap();
        assert_eq!(
            vars_without_gradient(&p, &loss).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(m.hidden_weights().len(), 3);
    }
}
