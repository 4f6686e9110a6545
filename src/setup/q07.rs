//! Setup of question 7 (the Transformer encoder): closed-form parameter counts of the
//! base model's parts, the layers built from the core, and probes that compare a
//! layer's output with compositions written out by hand.

use anyhow::{bail, Result};
use candle_core::{Device, Module, Tensor};
use candle_nn::Init;

use crate::core::norm::layer_norm;
use crate::core::position::sinusoidal;
use crate::core::{
    encoder, encoder_layer, ffn, max_abs_diff, multi_head_attention, Activation, EncoderConfig,
    EncoderLayer, LayerConfig, LayerCtx, MhaConfig, Norm, Params, PosKind,
};
use crate::rng::{index_vec, randn, Rng64};

/// Closed forms: attention 4d² + 4d.
pub fn attn_closed(d: usize) -> usize {
    4 * d * d + 4 * d
}
/// FFN 2·d·d_ff + d_ff + d.
pub fn ffn_closed(d: usize, dff: usize) -> usize {
    2 * d * dff + dff + d
}
/// Attention + FFN + two LayerNorms (2d each).
pub fn encoder_layer_closed(d: usize, dff: usize) -> usize {
    attn_closed(d) + ffn_closed(d, dff) + 2 * 2 * d
}
/// Self-attention + cross-attention + FFN + three LayerNorms.
pub fn decoder_layer_closed(d: usize, dff: usize) -> usize {
    2 * attn_closed(d) + ffn_closed(d, dff) + 3 * 2 * d
}
/// One extra d×d fully connected layer with bias.
pub fn extra_fc(d: usize) -> usize {
    d * d + d
}

/// The base model's sizes.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct BaseSizes {
    pub d_model: usize,
    pub heads: usize,
    pub d_ff: usize,
    /// Encoder layers and decoder layers.
    pub layers: usize,
    /// Shared source/target vocabulary.
    pub vocab: usize,
}

impl BaseSizes {
    pub fn layer_config(&self) -> LayerConfig {
        let mut lc = LayerConfig::new(self.d_model, self.heads);
        lc.d_ff = self.d_ff;
        lc
    }
}

/// Parameter counts of the built base model.
pub struct Counts {
    /// One encoder layer, as built by the core.
    pub encoder_layer: usize,
    /// Parameters of the encoder layer in no sublayer (attention, FFN, LayerNorm).
    pub unexplained: usize,
    pub decoder_layer: usize,
    pub embedding: usize,
    /// 6 + 6 layers and one embedding shared by source, target and output.
    pub tied: usize,
    /// Separate source and target embeddings and an output projection with bias.
    pub untied: usize,
    /// Tensors of the encoder layer: (name, shape, count, sublayer).
    pub tensors: Vec<(String, String, usize, &'static str)>,
}

/// Build the base encoder layer, a decoder layer from core parts, and the shared
/// embedding, and count their parameters. Returns the layer (for the probes) too.
pub fn count_base(b: BaseSizes, seed: u64) -> Result<(Counts, EncoderLayer)> {
    let (d, dff, v) = (b.d_model, b.d_ff, b.vocab);
    let pe = Params::new(seed);
    let layer = encoder_layer(b.layer_config(), pe.vb())?;
    let mut tensors = vec![];
    let mut unexplained = 0;
    for (name, var) in pe.named_vars() {
        let sub = if name.starts_with("attn.") {
            "multi-head attention"
        } else if name.starts_with("ffn.") {
            "feed-forward"
        } else if name.starts_with("norm1.") || name.starts_with("norm2.") {
            "layer norm"
        } else {
            unexplained += var.elem_count();
            "other"
        };
        tensors.push((name, format!("{:?}", var.dims()), var.elem_count(), sub));
    }
    let pd = Params::new(seed + 1);
    {
        let vb = pd.vb();
        let a = MhaConfig::new(d, b.heads);
        multi_head_attention(a, vb.pp("self_attn"))?;
        multi_head_attention(a, vb.pp("cross_attn"))?;
        ffn(d, dff, Activation::Relu, vb.pp("ffn"))?;
        for i in 1..=3 {
            layer_norm(d, vb.pp(format!("norm{i}")))?;
        }
    }
    if pd.count() != decoder_layer_closed(d, dff) {
        bail!(
            "decoder layer: counted {}, closed form {}",
            pd.count(),
            decoder_layer_closed(d, dff)
        );
    }
    // The shared embedding (values irrelevant to the count: constant init).
    let pv = Params::new(seed + 2);
    pv.vb().get_with_hints((v, d), "embed", Init::Const(0.0))?;
    let embedding = pv.count();
    let tied = b.layers * (pe.count() + pd.count()) + embedding;
    let untied = tied + embedding + (embedding + v);
    Ok((
        Counts {
            encoder_layer: pe.count(),
            unexplained,
            decoder_layer: pd.count(),
            embedding,
            tied,
            untied,
            tensors,
        },
        layer,
    ))
}

/// One probe's differences between the layer's output and each composition.
pub struct ProbeRow {
    pub composition: &'static str,
    pub max_abs_diff: f64,
    /// True for the composition the answer describes (LN(x + f(x)), emb + PE + layers).
    pub is_claimed: bool,
}

/// Run random inputs through the layer and compare with LN(x + f(x)) written out, and
/// with wrong compositions (Pre-LN, no residual, no LayerNorm, an extra d×d layer).
pub fn probe_layer(
    layer: &EncoderLayer,
    rng: &mut Rng64,
    batch: usize,
    len: usize,
) -> Result<Vec<ProbeRow>> {
    let dev = Device::Cpu;
    let d = layer.cfg.attn.d_model;
    let c = LayerCtx::default();
    let ln = |n: &Norm, x: &Tensor| n.forward_t(x, None, false);
    let x = randn(rng, &[batch, len, d], 1.0, &dev)?;
    let y = layer.forward_t(&x, &c)?;
    let att = |h: &Tensor| layer.attn.forward(h, h, None);
    let ffn = |h: &Tensor| layer.ffn.forward(h);
    let post = {
        let h = ln(&layer.norm1, &(&x + att(&x)?)?)?;
        ln(&layer.norm2, &(&h + ffn(&h)?)?)?
    };
    let pre = {
        let h = (&x + att(&ln(&layer.norm1, &x)?)?)?;
        (&h + ffn(&ln(&layer.norm2, &h)?)?)?
    };
    let no_res = ln(&layer.norm2, &ffn(&ln(&layer.norm1, &att(&x)?)?)?)?;
    let no_ln = {
        let h = (&x + att(&x)?)?;
        (&h + ffn(&h)?)?
    };
    // An extra fully connected layer (d×d, N(0, 1/d)) between attention and FFN.
    let w = randn(rng, &[d, d], 1.0 / (d as f64).sqrt(), &dev)?;
    let extra = {
        let h = ln(&layer.norm1, &(&x + att(&x)?)?)?.broadcast_matmul(&w)?;
        ln(&layer.norm2, &(&h + ffn(&h)?)?)?
    };
    let mut out = vec![ProbeRow {
        composition: "LN(x + f(x)), as claimed",
        max_abs_diff: max_abs_diff(&y, &post)?,
        is_claimed: true,
    }];
    for (name, alt) in [
        ("Pre-LN x + f(LN(x))", pre),
        ("no residual", no_res),
        ("no LayerNorm", no_ln),
        ("extra d×d fully connected layer", extra),
    ] {
        out.push(ProbeRow {
            composition: name,
            max_abs_diff: max_abs_diff(&y, &alt)?,
            is_claimed: false,
        });
    }
    Ok(out)
}

/// The stack probe: token embedding + sinusoidal PE, then identical layers, against the
/// core encoder's hidden states (and against the stack without PE).
pub struct StackProbe {
    pub rows: Vec<ProbeRow>,
    /// Parameters of each stacked layer.
    pub per_layer: Vec<usize>,
}

pub fn probe_stack(
    b: BaseSizes,
    seed: u64,
    rng: &mut Rng64,
    vocab: usize,
    layers: usize,
    batch: usize,
    len: usize,
) -> Result<StackProbe> {
    let dev = Device::Cpu;
    let ps = Params::new(seed);
    let mut ec = EncoderConfig::new(vocab, len, layers, b.layer_config());
    ec.pos = PosKind::Sinusoidal;
    let stack = encoder(ec, ps.vb())?;
    let per_layer = (0..layers)
        .map(|i| ps.count_prefix(&format!("layer{i}.")))
        .collect();
    let tokens = Tensor::from_vec(index_vec(rng, batch * len, vocab), (batch, len), &dev)?;
    let c = LayerCtx::default();
    let got = stack.hidden(&tokens, &c)?;
    let emb = stack.embed.forward(&tokens)?;
    let mut want = emb.broadcast_add(&sinusoidal(len, b.d_model, &dev)?)?;
    let mut skip_pe = emb;
    for l in &stack.layers {
        want = l.forward_t(&want, &c)?;
        skip_pe = l.forward_t(&skip_pe, &c)?;
    }
    Ok(StackProbe {
        rows: vec![
            ProbeRow {
                composition: "stack: embedding + PE, N layers, as claimed",
                max_abs_diff: max_abs_diff(&got, &want)?,
                is_claimed: true,
            },
            ProbeRow {
                composition: "stack without PE",
                max_abs_diff: max_abs_diff(&got, &skip_pe)?,
                is_claimed: false,
            },
        ],
        per_layer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed forms match the built layers at a small size, and the base size gives
    /// 3,152,384.
    #[test]
    fn closed_forms_match_layers() {
        assert_eq!(encoder_layer_closed(512, 2048), 3_152_384);
        let p = Params::new(0);
        let mut lc = LayerConfig::new(12, 3);
        lc.d_ff = 20;
        encoder_layer(lc, p.vb()).unwrap();
        assert_eq!(p.count(), encoder_layer_closed(12, 20));
        assert_eq!(p.count_prefix("attn."), attn_closed(12));
        assert_eq!(p.count_prefix("ffn."), ffn_closed(12, 20));
    }
}
