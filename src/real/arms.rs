//! The model variants (arms) the real-data claims compare, all built from one base:
//! the paper's layer (Post-LN, ReLU, 1/√d_k, separate Q/K, residuals), tied N(0, 1/d)
//! embeddings scaled by √d_model, sinusoidal positions, no dropout.

use crate::core::attention::Scale;
use crate::core::layers::{LayerConfig, Placement};
use crate::core::model::PosKind;
use crate::core::positional::PosEncoding;
use crate::core::{Activation, NormKind};
use crate::train::schedule::Schedule;
use crate::train::trainer::TrainConfig;

use super::lm::LmConfig;

/// Sizes and budgets of the track.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Plan {
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub d_ff: usize,
    /// Training window (characters).
    pub seq: usize,
    /// Windows per step.
    pub batch: usize,
    pub steps: usize,
    pub eval_every: usize,
    /// Held-out windows scored at each evaluation.
    pub eval_windows: usize,
    pub lr: f64,
    pub warmup: usize,
    /// Layers and peak rate of the warmup comparison (Q20.L1).
    pub deep_layers: usize,
    pub deep_lr: f64,
    /// Length of the extrapolation windows (Q10.L1); positions ≥ `seq` are scored.
    pub long_seq: usize,
    pub long_windows: usize,
    /// Masked lines (Q12.3): lines per step, longest line, masking rate, rate grid.
    pub lines_batch: usize,
    pub lines_max: usize,
    pub mask_rate: f64,
    pub norm_lrs: Vec<f64>,
    pub seeds: Vec<u64>,
}

impl Plan {
    /// The committed run.
    pub fn standard() -> Self {
        Self {
            d_model: 128,
            heads: 4,
            layers: 2,
            d_ff: 512,
            seq: 128,
            batch: 16,
            steps: 600,
            eval_every: 50,
            eval_windows: 64,
            lr: 1e-3,
            warmup: 100,
            deep_layers: 4,
            deep_lr: 3e-3,
            long_seq: 256,
            long_windows: 32,
            lines_batch: 32,
            lines_max: 96,
            mask_rate: 0.15,
            norm_lrs: vec![1e-3, 3e-3],
            seeds: vec![0, 1, 2],
        }
    }

    /// A few steps of a tiny model, for tests on generated text.
    pub fn tiny() -> Self {
        Self {
            d_model: 16,
            heads: 4,
            layers: 1,
            d_ff: 32,
            seq: 16,
            batch: 4,
            steps: 4,
            eval_every: 2,
            eval_windows: 4,
            deep_layers: 2,
            long_seq: 24,
            long_windows: 2,
            lines_batch: 4,
            lines_max: 24,
            seeds: vec![0, 1],
            ..Self::standard()
        }
    }
}

/// Which data and model family an arm uses.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum Family {
    /// Causal windows, the real-data LM.
    Causal,
    /// Causal windows, the core's position model (Pre-LN) with this encoding.
    Positions(PosEncoding),
    /// Masked lines of varying length.
    Masked,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Arm {
    pub name: String,
    pub family: Family,
    pub lm: LmConfig,
    pub train: TrainConfig,
}

/// Every arm of the track, for a vocabulary of `vocab` ids.
pub fn all(plan: &Plan, vocab: usize) -> Vec<Arm> {
    let d = plan.d_model;
    let mut layer = LayerConfig::new(d, plan.heads);
    layer.d_ff = plan.d_ff;
    let base_lm = LmConfig {
        vocab,
        max_len: plan.seq,
        layers: plan.layers,
        layer,
        pos: PosKind::Sinusoidal,
        tied: true,
        scale_embeddings: true,
        embed_std: (d as f64).powf(-0.5),
        emb_dropout: 0.0,
        causal: true,
        dropout_seed: 0,
    };
    let base_train = TrainConfig {
        steps: plan.steps,
        batch: plan.batch,
        lr: plan.lr,
        weight_decay: 0.0,
        beta2: 0.98,
        schedule: Schedule::Warmup {
            warmup: plan.warmup,
        },
        eval_every: plan.eval_every,
        eval_size: plan.eval_windows,
        diverge_loss: 1e4,
    };
    let arm = |name: &str, family: Family, f: &dyn Fn(&mut LmConfig, &mut TrainConfig)| {
        let (mut lm, mut train) = (base_lm, base_train.clone());
        f(&mut lm, &mut train);
        Arm {
            name: name.to_string(),
            family,
            lm,
            train,
        }
    };
    let c = Family::Causal;
    let mut v = vec![arm("base", c, &|_, _| {})];
    for h in [1, 2, 8, 16] {
        v.push(arm(&format!("h{h}"), c, &|l, _| {
            l.layer.attn = crate::core::MhaConfig::new(d, h)
        }));
    }
    v.push(arm("shared_qk", c, &|l, _| l.layer.attn.share_qk = true));
    v.push(arm("unscaled", c, &|l, _| l.layer.attn.scale = Scale::None));
    v.push(arm("no_embed_scale", c, &|l, _| l.scale_embeddings = false));
    v.push(arm("no_residual", c, &|l, _| l.layer.residual = false));
    v.push(arm("gelu", c, &|l, _| l.layer.act = Activation::Gelu));
    v.push(arm("dropout_0.1", c, &|l, _| {
        l.layer.dropout = 0.1;
        l.emb_dropout = 0.1;
    }));
    for (name, pos) in [
        ("pos_learned", PosEncoding::Learned),
        ("pos_sinusoidal", PosEncoding::Sinusoidal),
        ("pos_rotary", PosEncoding::Rotary),
        ("pos_relative_bias", PosEncoding::RelativeBias),
    ] {
        v.push(arm(name, Family::Positions(pos), &|l, _| {
            l.max_len = if pos == PosEncoding::Learned {
                plan.seq
            } else {
                plan.long_seq
            };
            l.tied = false;
            l.scale_embeddings = false;
        }));
    }
    for (place, pname) in [(Placement::PostLn, "post"), (Placement::PreLn, "pre")] {
        for warm in [true, false] {
            let name = format!("deep_{pname}_{}", if warm { "warmup" } else { "no_warmup" });
            v.push(arm(&name, c, &|l, t| {
                l.layers = plan.deep_layers;
                l.layer.placement = place;
                t.lr = plan.deep_lr;
                t.schedule = if warm {
                    Schedule::Warmup {
                        warmup: plan.warmup,
                    }
                } else {
                    Schedule::Constant
                };
            }));
        }
    }
    for (norm, nname) in [
        (NormKind::Layer, "layernorm"),
        (NormKind::Batch, "batchnorm"),
        (NormKind::MaskedBatch, "masked_batchnorm"),
    ] {
        for &lr in &plan.norm_lrs {
            v.push(arm(
                &format!("lines_{nname}_lr{lr:e}"),
                Family::Masked,
                &|l, t| {
                    l.layer.norm = norm;
                    l.causal = false;
                    l.max_len = plan.lines_max;
                    t.lr = lr;
                    t.batch = plan.lines_batch;
                },
            ));
        }
    }
    v
}

/// The name of the masked-lines arm for a norm and rate.
pub fn lines_arm(norm: &str, lr: f64) -> String {
    format!("lines_{norm}_lr{lr:e}")
}
