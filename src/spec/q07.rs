//! Claims of question 7: describe the Transformer encoder.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// |counted − closed form| parameters of the base encoder layer, plus any parameter in
/// no sublayer.
pub const LAYER_MISMATCH: &str =
    "base encoder layer: |counted − closed form 3,152,384| + parameters outside attention, FFN and LayerNorm";
/// Stacked layers whose parameter count differs from the base layer's.
pub const UNEQUAL_LAYERS: &str = "stacked layers whose parameter count differs from one base layer";
/// Full base model (6 + 6 layers, one shared 37,000 × 512 embedding) over 65M.
pub const PAPER_RATIO: &str =
    "full base model parameters (one shared embedding) over the paper's 65M";
/// Largest difference between the layer (and stack) and LN(x + f(x)) written out.
pub const CLAIMED_DIFF: &str =
    "largest |output − hand-written LN(x + f(x)) composition| over probes, layer and stack";
/// Smallest difference between the layer (and stack) and a wrong composition.
pub const WRONG_DIFF: &str =
    "smallest |output − a wrong composition| (Pre-LN, no residual, no LayerNorm, extra layer, no PE)";
/// Parameters beyond attention + FFN + two LayerNorms, in units of one d×d layer.
pub const EXTRA_LAYERS: &str =
    "encoder-layer parameters beyond attention + FFN + two LayerNorms, in units of one d×d fully connected layer (d² + d)";

pub const Q7_1: ClaimSpec = ClaimSpec {
    id: t("Q7.1"),
    statement: t("The encoder is input embedding + positional encoding, then N identical layers of multi-head self-attention and a position-wise FFN, each sublayer computing LayerNorm(x + Sublayer(x)); the base model has about 65M parameters."),
    kind: Kind::ClosedForm,
    metric: t(PAPER_RATIO),
    rule: all_of![
        Rule::at_most(LAYER_MISMATCH, 0.0),
        Rule::at_most(UNEQUAL_LAYERS, 0.0),
        Rule::within(PAPER_RATIO, 0.95, 1.05),
        Rule::at_most(CLAIMED_DIFF, 1e-4),
        Rule::at_least(WRONG_DIFF, 1e-2),
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 3.1 and Table 3"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q7_2: ClaimSpec = ClaimSpec {
    id: t("Q7.2"),
    statement: t("Each encoder layer holds a separate fully connected layer besides the multi-head attention and the feed-forward network."),
    kind: Kind::Check,
    metric: t(EXTRA_LAYERS),
    rule: Rule::at_least(EXTRA_LAYERS, 1.0),
    literature: Prior::refuted("Vaswani et al. 2017, section 3.1 (two sublayers per encoder layer)"),
    lock: Lock::both(Verdict::Refuted),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q7_1, Q7_2];
