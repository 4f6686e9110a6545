//! Claims of question 16: how does the decoder's self-attention differ from the
//! encoder's?

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// An output counts as changed when its max abs difference exceeds this.
pub const CHANGE_TOL: f64 = 1e-4;

pub const DEC_ATTN: &str = "attention sublayers in a decoder layer";
pub const ENC_ATTN: &str = "attention sublayers in an encoder layer";

pub const CROSS_SHAPES: &str = "share of (target, source) length pairs where cross-attention weights are target × source and its output has target length";
pub const SELF_SQUARE: &str =
    "share of (target, source) length pairs where decoder self-attention weights are target × target";

pub const BEFORE_IDENTICAL: &str =
    "causal mask: share of outputs before j bit-identical after changing target token j";
pub const AFTER_CHANGED: &str =
    "causal mask: share of outputs at j or later changed by > 1e−4 after changing target token j";
pub const UNMASKED_CHANGED: &str =
    "no mask: share of outputs before j changed by > 1e−4 after changing target token j";
pub const SOURCE_CHANGED: &str =
    "share of decoder outputs changed by > 1e−4 after changing one source token";

pub const Q16_1: ClaimSpec = ClaimSpec {
    id: t("Q16.1"),
    statement: t("The decoder layer has two attention sublayers, the encoder layer one."),
    kind: Kind::Check,
    metric: t(DEC_ATTN),
    rule: all_of![
        Rule::within(DEC_ATTN, 2.0, 2.0),
        Rule::within(ENC_ATTN, 1.0, 1.0)
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 3.1"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q16_2: ClaimSpec = ClaimSpec {
    id: t("Q16.2"),
    statement: t("In the decoder's second attention sublayer (cross-attention) the query length may differ from the key/value length."),
    kind: Kind::Check,
    metric: t(CROSS_SHAPES),
    rule: all_of![
        Rule::at_least(CROSS_SHAPES, 1.0),
        Rule::at_least(SELF_SQUARE, 1.0)
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 3.2.3"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q16_L1: ClaimSpec = ClaimSpec {
    id: t("Q16.L1"),
    statement: t("The decoder's self-attention is causally masked: output i does not depend on target inputs after i (the seed answer omits this)."),
    kind: Kind::Check,
    metric: t(BEFORE_IDENTICAL),
    rule: all_of![
        Rule::at_least(BEFORE_IDENTICAL, 1.0),
        Rule::at_least(AFTER_CHANGED, 1.0),
        Rule::at_least(UNMASKED_CHANGED, 0.9),
        Rule::at_least(SOURCE_CHANGED, 1.0),
    ],
    literature: Prior::supported("Vaswani et al. 2017, sections 3.1 and 3.2.3 (masked decoder self-attention)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q16_1, Q16_2, Q16_L1];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_tolerance() {
        for q in [AFTER_CHANGED, UNMASKED_CHANGED, SOURCE_CHANGED] {
            assert!(q.contains(&crate::fmt::num(CHANGE_TOL)), "{q}");
        }
    }
}
