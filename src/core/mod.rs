//! The Candle model core shared by every experiment.

pub mod attention;
pub mod compare;
pub mod decoder;
pub mod dropout;
pub mod ffn;
pub mod fused;
pub mod layers;
pub mod linear;
pub mod mask;
pub mod mlp;
pub mod model;
pub mod norm;
pub mod params;
pub mod position;
pub mod positional;
pub mod query_stream;
pub mod relative;
pub mod rope;
#[cfg(test)]
pub(crate) mod testing;

pub use attention::{
    additive_attention, multi_head_attention, scaled_dot_product, AdditiveAttention, MhaConfig,
    MultiHeadAttention, Scale,
};
pub use compare::{max_abs, max_abs_diff};
pub use decoder::{
    decoder_layer, encoder_decoder, seeded_encoder_decoder, DecoderCtx, DecoderLayer, EncDecConfig,
    EncoderDecoder, KvCache, LayerCache,
};
pub use dropout::{dropout, Dropout};
pub use ffn::{ffn, Activation, Ffn};
pub use layers::{
    encoder_layer, encoder_layer_seeded, EncoderLayer, LayerConfig, LayerCtx, Placement,
};
pub use linear::{linear, Linear};
pub use mask::{valid_positions, AttnMask, Mask};
pub use mlp::{mlp, Mlp, MlpAct, MlpConfig};
pub use model::{encoder, Encoder, EncoderConfig, PosKind};
pub use norm::{batch_norm, layer_norm, norm, BatchNorm, LayerNorm, Norm, NormKind};
pub use params::Params;
pub use position::sinusoidal;
pub use positional::{pos_model, PosEncoding, PosModel, PosModelConfig};
pub use relative::{relative_bias, RelativeBias};
pub use rope::{AngleMode, Rope};
