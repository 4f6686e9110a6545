//! Claims of question 5: how is padding masked when computing attention scores?

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// With the mask: largest |real-position output, padded − unpadded| over pad lengths
/// and pad contents (float precision expected).
pub const MASKED_DIFF: &str =
    "largest |real-position output, padded with mask − unpadded| over pad lengths and contents";
/// Without the mask: the smallest such difference over the same configurations.
pub const UNMASKED_DIFF: &str =
    "smallest |real-position output, padded without mask − unpadded| over pad lengths and contents";
/// Largest attention mass on padded keys in f32 for fills −∞, −1e9 and −1e4.
pub const F32_LEAK: &str = "largest f32 attention mass on padded keys for fills −∞, −1e9, −1e4";
/// Largest |gradient| reaching a pad embedding under the −∞ mask.
pub const PAD_GRAD: &str = "largest |gradient| on a pad embedding under the −∞ mask";

pub const Q5_1: ClaimSpec = ClaimSpec {
    id: t("Q5.1"),
    statement: t("Adding −∞ to the scores of padded keys before the softmax removes the pads: real-position outputs and gradients do not depend on them."),
    kind: Kind::Check,
    metric: t(MASKED_DIFF),
    rule: all_of![
        Rule::at_most(MASKED_DIFF, 1e-5),
        Rule::at_least(UNMASKED_DIFF, 1e-3),
        Rule::at_most(F32_LEAK, 1e-12),
        Rule::at_most(PAD_GRAD, 0.0),
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 3.2.3"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q5_1];
