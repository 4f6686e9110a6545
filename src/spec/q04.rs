//! Claims of question 4: why scale q·k by 1/√d_k before the softmax?

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Log-log slope of Var(q·k) against d_k (theory: 1).
pub const SLOPE: &str = "log-log slope of Var(q·k) against d_k";
/// Mean of q·k divided by √d_k, at each d_k (theory: 0).
pub const MEAN: &str = "mean(q·k)/√d_k at each d_k";

/// Unscaled: median softmax-Jacobian norm at the largest d_k over its peak across d_k.
pub const FALL: &str = "unscaled median ‖J‖ at d_k = 1024 over its peak across d_k";
/// Unscaled: share of rows whose largest weight exceeds 0.99 at the largest d_k.
pub const UNSCALED_SATURATED: &str =
    "unscaled share of rows with largest weight > 0.99 at d_k = 1024";
/// Scaled: largest over smallest median Jacobian norm across d_k.
pub const SCALED_SPREAD: &str = "scaled max/min median ‖J‖ across d_k";
/// Scaled: share of rows whose largest weight exceeds 0.99 at the largest d_k.
pub const SCALED_SATURATED: &str = "scaled share of rows with largest weight > 0.99 at d_k = 1024";

pub const Q4_1: ClaimSpec = ClaimSpec {
    id: t("Q4.1"),
    statement: t("With independent N(0, 1) components, q·k has mean 0 and variance d_k."),
    kind: Kind::Measured,
    metric: t(SLOPE),
    rule: all_of![
        Rule::within(SLOPE, 0.95, 1.05),
        Rule::within(MEAN, -0.05, 0.05)
    ],
    literature: Prior::supported("Vaswani et al. 2017, footnote 4"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q4_2: ClaimSpec = ClaimSpec {
    id: t("Q4.2"),
    statement: t("Unscaled, large d_k saturates the softmax and its gradient vanishes; scaling by 1/√d_k keeps it healthy."),
    kind: Kind::Measured,
    metric: t(FALL),
    rule: all_of![
        Rule::at_most(FALL, 0.1),
        Rule::at_least(UNSCALED_SATURATED, 0.5),
        Rule::at_most(SCALED_SPREAD, 1.5),
        Rule::at_most(SCALED_SATURATED, 0.5),
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 3.2.1"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q4_1, Q4_2];
