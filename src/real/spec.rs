//! The claims re-decided on real data: the same ids as the toy claims, each with the
//! quantity measured on real text and its rule, fixed here before the committed run
//! (2026-12-01). The literature prior is the toy claim's. Real-data verdicts are not
//! locked: CI cannot download the corpora, so they are committed results, rerun with
//! `harness real`.
//!
//! One margin for every loss gap: 0.02 nats per character (about 1% of a char-level
//! model's loss here), in both directions: a gap whose whole 95% interval is above
//! +0.02 supports the claim, one wholly below −0.02 refutes it. Q14.L3 keeps its toy
//! rule's relative form (2% of the loss area, both ways). A run that diverges counts
//! with the loss of a uniform guess, ln V, from the step it diverged.

use crate::claim::Rule;

/// The task a claim is decided on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Track {
    /// Causal character-level language modelling on Shakespeare.
    CausalLm,
    /// BERT-style masked character modelling on Shakespeare's lines (variable length).
    MaskedLines,
}

impl Track {
    pub fn describe(&self) -> &'static str {
        match self {
            Track::CausalLm => "Shakespeare, causal character LM",
            Track::MaskedLines => "Shakespeare lines (1–96 chars, padded), masked character LM",
        }
    }
}

pub struct RealClaim {
    pub id: &'static str,
    /// The question's experiment folder name (results/real/<dir>/verdict.json).
    pub dir: &'static str,
    pub statement: &'static str,
    pub metric: &'static str,
    pub rule: Rule,
    pub track: Track,
    /// What is compared, for the report.
    pub arms: &'static str,
}

pub const MARGIN: f64 = 0.02;

pub const Q1_2: &str =
    "area under the held-out loss curve, h = 1 minus h = 8 (nats/char), paired by seed";
pub const Q2_2: &str =
    "final held-out loss, shared minus separate Q/K projections (nats/char), paired by seed";
pub const Q3_L2: &str = "final held-out loss, unscaled minus scaled dot product at d_k = 32 (nats/char), paired by seed";
pub const Q8_3: &str = "area under the held-out loss curve, no scale minus ×√d_model, tied N(0, 1/d) embeddings (nats/char), paired by seed";
pub const Q10_L1: &str = "held-out loss at positions 129–256 (trained on 128), sinusoidal minus each relative encoding (rotary, relative bias) (nats/char), paired by seed";
pub const Q11_L2: &str =
    "final held-out loss, no residuals minus residuals (nats/char), paired by seed";
pub const Q12_3: &str = "final held-out masked-character loss, BatchNorm minus LayerNorm, each at its best learning rate (nats/char), paired by seed";
pub const Q14_L3: &str = "area under the held-out loss curve, (ReLU − GELU) / ReLU, paired by seed";
pub const Q20_L1: &str = "warmup effect (final loss without minus with warmup), Post-LN minus Pre-LN, 4 layers (nats/char), paired by seed";

pub const CLAIMS: &[RealClaim] = &[
    RealClaim {
        id: "Q1.2",
        dir: "q01_multi_head",
        statement: "At equal d_model and parameters, several heads learn real text faster than one head.",
        metric: Q1_2,
        rule: Rule::gap(Q1_2, MARGIN, MARGIN),
        track: Track::CausalLm,
        arms: "h ∈ {1, 2, 4, 8, 16} at d_model 128",
    },
    RealClaim {
        id: "Q2.2",
        dir: "q02_qk_projections",
        statement: "Separate query and key projections model real text better than one shared projection (a symmetric score).",
        metric: Q2_2,
        rule: Rule::gap(Q2_2, MARGIN, MARGIN),
        track: Track::CausalLm,
        arms: "shared W against separate W_Q, W_K",
    },
    RealClaim {
        id: "Q3.L2",
        dir: "q03_additive_vs_dot",
        statement: "Scaling the dot product by 1/√d_k matters: unscaled dot-product attention trains worse at d_k = 32.",
        metric: Q3_L2,
        rule: Rule::gap(Q3_L2, MARGIN, MARGIN),
        track: Track::CausalLm,
        arms: "scaled against unscaled (additive attention not run on real data)",
    },
    RealClaim {
        id: "Q8.3",
        dir: "q08_embedding_scale",
        statement: "With tied N(0, 1/d) embeddings, multiplying them by √d_model helps a language model learn faster.",
        metric: Q8_3,
        rule: Rule::gap(Q8_3, MARGIN, MARGIN),
        track: Track::CausalLm,
        arms: "×√d_model against no scale, embeddings tied to the output projection",
    },
    RealClaim {
        id: "Q10.L1",
        dir: "q10_relative_pe",
        statement: "Past the training length, relative encodings (rotary, relative bias) keep their loss better than sinusoidal absolute positions.",
        metric: Q10_L1,
        rule: Rule::gap(Q10_L1, MARGIN, MARGIN),
        track: Track::CausalLm,
        arms: "learned, sinusoidal, rotary, relative bias (Pre-LN); learned has no rows past 128",
    },
    RealClaim {
        id: "Q11.L2",
        dir: "q11_residual",
        statement: "Without residual connections the stack trains worse at a fixed budget.",
        metric: Q11_L2,
        rule: Rule::gap(Q11_L2, MARGIN, MARGIN),
        track: Track::CausalLm,
        arms: "residuals on against off (Post-LN, 2 layers)",
    },
    RealClaim {
        id: "Q12.3",
        dir: "q12_layernorm_vs_batchnorm",
        statement: "On variable-length batches of real lines, a small encoder trains better with LayerNorm than with BatchNorm (pads in the statistics).",
        metric: Q12_3,
        rule: Rule::gap(Q12_3, MARGIN, MARGIN),
        track: Track::MaskedLines,
        arms: "LayerNorm, BatchNorm, masked BatchNorm, each at its best rate of {1e−3, 3e−3}",
    },
    RealClaim {
        id: "Q14.L3",
        dir: "q14_ffn_activation",
        statement: "GELU trains a language model faster than ReLU.",
        metric: Q14_L3,
        rule: Rule::gap(Q14_L3, MARGIN, MARGIN),
        track: Track::CausalLm,
        arms: "GELU (tanh) against ReLU",
    },
    RealClaim {
        id: "Q20.L1",
        dir: "q20_lr_warmup_dropout",
        statement: "Warmup matters for Post-LN much more than for Pre-LN (4 layers, peak rate 3e−3).",
        metric: Q20_L1,
        rule: Rule::gap(Q20_L1, MARGIN, MARGIN),
        track: Track::CausalLm,
        arms: "Post-LN and Pre-LN, each with and without a linear warmup",
    },
];

/// The real-data claim with this id.
pub fn find(id: &str) -> Option<&'static RealClaim> {
    CLAIMS.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::QUESTIONS;

    /// Every real claim has a toy claim of the same id in the same question's folder,
    /// and its rule reads its metric.
    #[test]
    fn real_claims_match_toy_claims() {
        for c in CLAIMS {
            let q = QUESTIONS
                .iter()
                .find(|q| q.experiment == c.dir)
                .unwrap_or_else(|| panic!("{}: no question folder {}", c.id, c.dir));
            assert!(
                q.claims.iter().any(|s| s.id == c.id),
                "{}: not a claim of {}",
                c.id,
                c.dir
            );
            assert_eq!(c.rule.quantities(), vec![c.metric], "{}", c.id);
        }
    }
}
