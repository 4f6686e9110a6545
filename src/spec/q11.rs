//! Claims of question 11: what are the residual connections for?
//!
//! Q11.1 is decided on a paired comparison (issue 14): a residual stack against its
//! no-residual twin with the same weights, the same normalization and the same depth.
//! The quantity is the per-block gradient retention gap in decades per block,
//! (log10 r_res − log10 r_plain)/(L − 1), r = ‖∇ block 1‖/‖∇ block L‖ at initialization.
//! The margin, 0.01 decades per block, is a factor of about 2 over 30 blocks: a
//! smaller gap is no "vanishing" that a residual could prevent.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Q11.1: one estimate per normalization setting (Post-LN, Pre-LN, no norm).
pub const DECAY_GAP: &str = "gradient kept per block, residual minus no-residual twin at equal normalization (decades per block; mean over seeds and L ≥ 8, 95% CI)";

/// Q11.L1: one estimate per stack, min..max over seeds.
pub const RANK_PLAIN: &str = "‖X − 1x̄ᵀ‖/‖X‖ after 8 blocks, each no-residual stack";
pub const RANK_RESIDUAL: &str = "‖X − 1x̄ᵀ‖/‖X‖ after 8 blocks, each residual stack";

/// Q11.L2: min..max over trained depths and seeds.
pub const ACC_GAP: &str =
    "held-out accuracy, residual Pre-LN minus the better no-residual stack, every depth and seed";

/// Q11.L3: min..max over seeds at 32 blocks.
pub const RATIO_PLAIN_NO_NORM: &str =
    "first/last block gradient ratio at 32 blocks, no residual and no norm";
pub const RATIO_RESIDUAL_NO_NORM: &str =
    "first/last block gradient ratio at 32 blocks, residual and no norm";

pub const Q11_1: ClaimSpec = ClaimSpec {
    id: t("Q11.1"),
    statement: t("Both sublayers have residual connections; they keep gradients from vanishing in backpropagation."),
    kind: Kind::Measured,
    metric: t(DECAY_GAP),
    rule: Rule::gap(DECAY_GAP, 0.01, 0.01),
    literature: Prior::supported("He et al. 2016b (identity mappings), section 3; Xiong et al. 2020 (Post-LN gradients shrink towards the input)"),
    // Full mode only: on held-out quick seeds 1000–1004 (3 seeds each) the Post-LN gap
    // came out inconclusive four times and supported once (seed 1004).
    lock: Lock::full_only(Verdict::Inconclusive),
    revised: None,
};

pub const Q11_L1: ClaimSpec = ClaimSpec {
    id: t("Q11.L1"),
    statement: t("Without residual connections, token representations collapse towards rank 1 with depth; residuals prevent or greatly slow it."),
    kind: Kind::Measured,
    metric: t(RANK_PLAIN),
    rule: all_of![
        Rule::at_most(RANK_PLAIN, 1e-3),
        Rule::at_least(RANK_RESIDUAL, 0.02)
    ],
    literature: Prior::supported("Dong, Cordonnier & Loukas 2021, theorem 2.2 and section 3"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q11_L2: ClaimSpec = ClaimSpec {
    id: t("Q11.L2"),
    statement: t("Without residual connections the stacks fail to train at a fixed budget (degradation); with them they learn."),
    kind: Kind::Measured,
    metric: t(ACC_GAP),
    rule: Rule::at_least(ACC_GAP, 0.4),
    literature: Prior::supported("He et al. 2016, section 4.1 (degradation of plain deep networks)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q11_L3: ClaimSpec = ClaimSpec {
    id: t("Q11.L3"),
    statement: t("Without any normalization, removing the residual connections makes the first block's gradient vanish with depth; with residuals it does not vanish."),
    kind: Kind::Measured,
    metric: t(RATIO_PLAIN_NO_NORM),
    rule: all_of![
        Rule::at_most(RATIO_PLAIN_NO_NORM, 1e-3),
        Rule::at_least(RATIO_RESIDUAL_NO_NORM, 0.1)
    ],
    literature: Prior::supported("He et al. 2016b, equation 5: the identity path carries the top gradient to every block"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q11_1, Q11_L1, Q11_L2, Q11_L3];
