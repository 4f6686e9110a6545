//! Setup of question 21: the token tasks (own token, [MASK]-corrupted, fill-in), the
//! model settings (standard or query-stream encoder, which attention mask) and how
//! they are built.

use std::fmt;

use anyhow::{Context as _, Result};
use candle_core::{Device, Tensor};
use rand::Rng;

use crate::core::query_stream::{query_stream_encoder, QueryStreamConfig, QueryStreamEncoder};
use crate::core::{
    encoder, AttnMask, Encoder, EncoderConfig, LayerConfig, LayerCtx, Mask, Params, PosKind,
};
use crate::rng::Rng64;
use crate::train::{Batch, SeqModel, Task};

/// What a position must predict, and what the input shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// Every position scored, target = own token, input uncorrupted.
    OwnToken,
    /// Scored positions replaced by [MASK]; target = the original token.
    Corrupted,
    /// One blank (= its right neighbour) replaced by [MASK]; only it is scored.
    FillIn,
}

/// Uniform i.i.d. tokens over `vocab` ids; the [MASK] token is id `vocab`.
pub struct TokenTask {
    pub kind: TaskKind,
    pub vocab: usize,
    pub len: usize,
    /// Share of positions replaced by [MASK] (at least one per sequence) for
    /// [`TaskKind::Corrupted`].
    pub mask_rate: f64,
}

impl Task for TokenTask {
    fn vocab_in(&self) -> usize {
        self.vocab + 1
    }
    fn vocab_out(&self) -> usize {
        self.vocab
    }
    fn max_len(&self) -> usize {
        self.len
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> candle_core::Result<Batch> {
        let (t, v) = (self.len, self.vocab as u32);
        let (mut x, mut y, mut w) = (vec![], vec![], vec![]);
        for _ in 0..size {
            let mut seq: Vec<u32> = (0..t).map(|_| rng.gen_range(0..v)).collect();
            let mut scored = vec![false; t];
            match self.kind {
                TaskKind::OwnToken => scored.iter_mut().for_each(|s| *s = true),
                TaskKind::Corrupted => {
                    for s in scored.iter_mut() {
                        *s = rng.gen_bool(self.mask_rate);
                    }
                    let forced = rng.gen_range(0..t);
                    scored[forced] = true;
                }
                TaskKind::FillIn => {
                    let m = rng.gen_range(0..t - 1);
                    seq[m] = seq[m + 1];
                    scored[m] = true;
                }
            }
            for i in 0..t {
                let corrupt = scored[i] && self.kind != TaskKind::OwnToken;
                x.push(if corrupt { v } else { seq[i] });
                y.push(seq[i]);
                w.push(if scored[i] { 1.0 } else { 0.0 });
            }
        }
        Batch::from_vecs(x, y, w, size, t, None, dev)
    }
}

/// Which attention mask a setting uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskKind {
    /// Every position sees every position (bidirectional).
    None,
    /// Every position except itself (the diagonal of the scores masked).
    NoSelf,
    /// Only itself and positions to its left.
    Causal,
}

/// One trained setting: task, depth, encoder type and mask.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    pub kind: TaskKind,
    pub layers: usize,
    /// First-layer query and residual from the position only (XLNet's query stream).
    pub query_stream: bool,
    pub mask: MaskKind,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layers = if self.layers == 1 {
            "1 layer".to_string()
        } else {
            format!("{} layers", self.layers)
        };
        match self.kind {
            TaskKind::FillIn => {
                let what = if self.mask == MaskKind::Causal {
                    "causal"
                } else {
                    "masked LM"
                };
                write!(f, "fill-in, {what}, {layers}")
            }
            TaskKind::Corrupted => write!(f, "[MASK] input, {layers}"),
            TaskKind::OwnToken => {
                let enc = if self.query_stream {
                    "query stream"
                } else {
                    "standard"
                };
                write!(f, "{enc}, {layers}, diagonal masked")
            }
        }
    }
}

/// The six settings, in the order the experiment reports them.
pub const SETTINGS: [Setting; 6] = [
    Setting {
        kind: TaskKind::OwnToken,
        layers: 1,
        query_stream: false,
        mask: MaskKind::NoSelf,
    },
    Setting {
        kind: TaskKind::OwnToken,
        layers: 1,
        query_stream: true,
        mask: MaskKind::NoSelf,
    },
    Setting {
        kind: TaskKind::OwnToken,
        layers: 2,
        query_stream: true,
        mask: MaskKind::NoSelf,
    },
    Setting {
        kind: TaskKind::Corrupted,
        layers: 2,
        query_stream: false,
        mask: MaskKind::None,
    },
    Setting {
        kind: TaskKind::FillIn,
        layers: 2,
        query_stream: false,
        mask: MaskKind::Causal,
    },
    Setting {
        kind: TaskKind::FillIn,
        layers: 2,
        query_stream: false,
        mask: MaskKind::None,
    },
];

/// A standard encoder with an optional mask, or a query-stream encoder.
pub enum Net {
    Standard(Encoder, Option<AttnMask>),
    QueryStream(QueryStreamEncoder, AttnMask),
}

impl SeqModel for Net {
    fn logits(&self, b: &Batch, train: bool) -> candle_core::Result<Tensor> {
        match self {
            Net::Standard(e, m) => e.forward_t(
                &b.x,
                &LayerCtx {
                    mask: m.as_ref(),
                    valid: None,
                    train,
                },
            ),
            Net::QueryStream(q, m) => q.forward_t(&b.x, Some(m), train),
        }
    }
}

/// Model sizes shared by every setting.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub vocab: usize,
    pub len: usize,
    pub d_model: usize,
    pub heads: usize,
    pub d_ff: usize,
}

/// Build the model of setting `s` (learned positions; [MASK] is one more input id).
pub fn build(s: &Setting, z: &Sizes, params: &Params) -> Result<Net> {
    let dev = Device::Cpu;
    let mut layer = LayerConfig::new(z.d_model, z.heads);
    layer.d_ff = z.d_ff;
    let t = z.len;
    let mask = match s.mask {
        MaskKind::None => None,
        MaskKind::NoSelf => Some(Mask::no_self(t).to_attn(&dev)?),
        MaskKind::Causal => Some(Mask::causal(t).to_attn(&dev)?),
    };
    if s.query_stream {
        let qc = QueryStreamConfig {
            vocab_in: z.vocab + 1,
            vocab_out: z.vocab,
            max_len: t,
            layers: s.layers,
            layer,
        };
        let m = mask.context("a query-stream encoder needs a mask")?;
        Ok(Net::QueryStream(query_stream_encoder(qc, params.vb())?, m))
    } else {
        let mut ec = EncoderConfig::new(z.vocab + 1, t, s.layers, layer);
        ec.vocab_out = z.vocab;
        ec.pos = PosKind::Learned;
        Ok(Net::Standard(encoder(ec, params.vb())?, mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    #[test]
    fn settings_read_as_words() {
        let names: Vec<String> = SETTINGS.iter().map(|s| s.to_string()).collect();
        assert_eq!(names[0], "standard, 1 layer, diagonal masked");
        assert_eq!(names[2], "query stream, 2 layers, diagonal masked");
        assert_eq!(names[3], "[MASK] input, 2 layers");
        assert_eq!(names[4], "fill-in, causal, 2 layers");
        assert_eq!(names[5], "fill-in, masked LM, 2 layers");
    }

    #[test]
    fn fill_in_blank_is_masked_and_equals_its_right_neighbour() {
        let task = TokenTask {
            kind: TaskKind::FillIn,
            vocab: 16,
            len: 8,
            mask_rate: 0.25,
        };
        let b = task.batch(&mut seeded(0, 0), 16, &Device::Cpu).unwrap();
        let x = b.x.to_vec2::<u32>().unwrap();
        let y = b.y.to_vec2::<u32>().unwrap();
        let w = b.weight.to_vec2::<f32>().unwrap();
        for r in 0..16 {
            let m: Vec<usize> = (0..8).filter(|&i| w[r][i] > 0.0).collect();
            assert_eq!(m.len(), 1);
            let i = m[0];
            assert_eq!(x[r][i], 16);
            assert_eq!(y[r][i], y[r][i + 1]);
        }
    }
}
