//! Trainable parameters drawn from a seeded host generator.
//!
//! `Params::new(seed)` hands out a candle `VarBuilder` (so candle-nn layers such as
//! `Linear`, `Embedding`, `LSTM` work unchanged) whose every initial value comes from
//! a seeded ChaCha stream, and keeps the created variables in name order so the
//! optimizer sees them in the same order on every run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::rng::{seeded, Rng64};

struct Store {
    rng: Rng64,
    vars: BTreeMap<String, Var>,
}

#[derive(Clone)]
struct Backend(Arc<Mutex<Store>>);

fn draw(rng: &mut Rng64, n: usize, init: &Init, shape: &Shape) -> Vec<f32> {
    use candle_nn::init::NormalOrUniform;
    let normal = |rng: &mut Rng64, mean: f64, std: f64| -> Vec<f32> {
        (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                (mean + std * z) as f32
            })
            .collect()
    };
    let uniform = |rng: &mut Rng64, lo: f64, up: f64| -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(lo..up) as f32).collect()
    };
    match init {
        Init::Const(c) => vec![*c as f32; n],
        Init::Randn { mean, stdev } => normal(rng, *mean, *stdev),
        Init::Uniform { lo, up } => uniform(rng, *lo, *up),
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
            match dist {
                NormalOrUniform::Normal => normal(rng, 0.0, std),
                NormalOrUniform::Uniform => {
                    let b = 3f64.sqrt() * std;
                    uniform(rng, -b, b)
                }
            }
        }
    }
}

impl SimpleBackend for Backend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut st = self.0.lock().expect("parameter store poisoned");
        if let Some(v) = st.vars.get(name) {
            if v.shape() != &s {
                candle_core::bail!(
                    "parameter {name}: shape {:?} requested, {:?} exists",
                    s,
                    v.shape()
                )
            }
            return Ok(v.as_tensor().clone());
        }
        let data = draw(&mut st.rng, s.elem_count(), &h, &s);
        let t = Tensor::from_vec(data, s, dev)?.to_dtype(dtype)?;
        let v = Var::from_tensor(&t)?;
        st.vars.insert(name.to_string(), v.clone());
        Ok(v.as_tensor().clone())
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let st = self.0.lock().expect("parameter store poisoned");
        match st.vars.get(name) {
            Some(v) => Ok(v.as_tensor().clone()),
            None => candle_core::bail!("parameter {name} does not exist"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0
            .lock()
            .expect("parameter store poisoned")
            .vars
            .contains_key(name)
    }
}

/// A seeded store of trainable variables.
#[derive(Clone)]
pub struct Params {
    backend: Backend,
    device: Device,
}

impl Params {
    /// A store whose initial values come from `seed` (stream 1, so model weights do not
    /// share draws with data generated from the same seed).
    pub fn new(seed: u64) -> Self {
        Self::on(seed, Device::Cpu)
    }

    pub fn on(seed: u64, device: Device) -> Self {
        let store = Store {
            rng: seeded(seed, 1),
            vars: BTreeMap::new(),
        };
        Self {
            backend: Backend(Arc::new(Mutex::new(store))),
            device,
        }
    }

    /// A builder to construct layers with (`vb.pp("layer0")` scopes names).
    pub fn vb(&self) -> VarBuilder<'static> {
        VarBuilder::from_backend(
            Box::new(self.backend.clone()),
            DType::F32,
            self.device.clone(),
        )
    }

    /// All variables, sorted by name.
    pub fn vars(&self) -> Vec<Var> {
        self.named_vars().into_iter().map(|(_, v)| v).collect()
    }

    /// All variables with their names, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let st = self.backend.0.lock().expect("parameter store poisoned");
        st.vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Total number of scalar parameters.
    pub fn count(&self) -> usize {
        self.named_vars().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Number of scalar parameters whose name starts with `prefix`.
    pub fn count_prefix(&self, prefix: &str) -> usize {
        self.named_vars()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.elem_count())
            .sum()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights_and_sorted_names() {
        let mk = |seed| {
            let p = Params::new(seed);
            let vb = p.vb();
            let _b = candle_nn::linear(4, 3, vb.pp("b")).unwrap();
            let _a = candle_nn::linear(3, 2, vb.pp("a")).unwrap();
            p
        };
        let (p1, p2, p3) = (mk(7), mk(7), mk(8));
        let names: Vec<_> = p1.named_vars().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["a.bias", "a.weight", "b.bias", "b.weight"]);
        let flat = |p: &Params| -> Vec<f32> {
            p.vars()
                .iter()
                .flat_map(|v| v.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect()
        };
        assert_eq!(flat(&p1), flat(&p2));
        assert_ne!(flat(&p1), flat(&p3));
        assert_eq!(p1.count(), 4 * 3 + 3 + 3 * 2 + 2);
    }
}
