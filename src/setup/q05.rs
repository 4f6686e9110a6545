//! Setup of question 5: a random-weight encoder from the model core, inputs with
//! appended pads of several kinds, and the helpers that run its layers under a mask.

use std::fmt;

use anyhow::Result;
use candle_core::{DType, Device, Module, Tensor};

use crate::core::layers::LayerCtx;
use crate::core::mask::AttnMask;
use crate::core::model::Encoder;
use crate::rng::{index_vec, randn, Rng64};

/// What the appended pad positions hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadContent {
    PadToken,
    RandomTokens,
    /// Embedding-level Gaussian noise of a large standard deviation.
    Noise,
}

impl PadContent {
    pub const ALL: [PadContent; 3] = [
        PadContent::PadToken,
        PadContent::RandomTokens,
        PadContent::Noise,
    ];
}

impl fmt::Display for PadContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PadContent::PadToken => "pad token",
            PadContent::RandomTokens => "random tokens",
            PadContent::Noise => "noise ×100",
        })
    }
}

/// A fill value as text: "−∞", "−1e9".
pub fn fill_name(f: f32) -> String {
    if f == f32::NEG_INFINITY {
        "−∞".into()
    } else {
        crate::fmt::num(f as f64)
    }
}

/// Count of NaN entries.
pub fn nan_count(t: &Tensor) -> Result<usize> {
    let v = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    Ok(v.iter().filter(|x| x.is_nan()).count())
}

/// Run the encoder's layers, final norm and head on embeddings `x` (B, T, D).
pub fn run_layers(enc: &Encoder, x: &Tensor, mask: Option<&AttnMask>) -> Result<Tensor> {
    let c = LayerCtx {
        mask,
        valid: None,
        train: false,
    };
    let mut h = x.clone();
    for l in &enc.layers {
        h = l.forward_t(&h, &c)?;
    }
    let h = enc.final_norm.forward_t(&h, None, false)?;
    Ok(enc.head.forward(&h)?)
}

/// The real tokens of a batch and how pads are made.
pub struct Padder<'a> {
    pub enc: &'a Encoder,
    /// Real tokens, `batch × real_len`, row-major.
    pub real: Vec<u32>,
    pub batch: usize,
    pub real_len: usize,
    pub vocab: usize,
    pub d_model: usize,
    /// Standard deviation of the noise pads.
    pub noise_std: f64,
}

impl Padder<'_> {
    /// Embeddings (B, L+P, D) of the real tokens followed by `pad` pads of `content`.
    pub fn input(&self, pad: usize, content: PadContent, rng: &mut Rng64) -> Result<Tensor> {
        let (b, l, dev) = (self.batch, self.real_len, Device::Cpu);
        let pads: Vec<u32> = match content {
            PadContent::PadToken => vec![0; b * pad],
            _ => index_vec(rng, b * pad, self.vocab),
        };
        let mut toks: Vec<u32> = Vec::with_capacity(b * (l + pad));
        for i in 0..b {
            toks.extend(&self.real[i * l..(i + 1) * l]);
            toks.extend(&pads[i * pad..(i + 1) * pad]);
        }
        let x = self
            .enc
            .embed(&Tensor::from_vec(toks, (b, l + pad), &dev)?)?;
        if content == PadContent::Noise {
            let noise = randn(rng, &[b, pad, self.d_model], self.noise_std, &dev)?;
            Ok(Tensor::cat(&[&x.narrow(1, 0, l)?, &noise], 1)?)
        } else {
            Ok(x)
        }
    }
}
