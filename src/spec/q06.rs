//! Claims of question 6: why reduce the dimension of each head? The seed claim
//! ("projecting into several low-dimensional subspaces and concatenating enriches the
//! features and reduces computation") is split into its parts. Layouts: A one head of
//! width d, B h = 8 heads of width d/h, C h heads of width d.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Parameters of B over A, counted from the built layers (checked against the closed form).
pub const PARAMS_BA: &str = "parameters B/A (h heads of width d/h over one head of width d)";
/// Forward FLOPs of B over A, closed form.
pub const FLOPS_BA: &str = "forward FLOPs B/A (closed form)";
/// Parameters of C over B.
pub const PARAMS_CB: &str = "parameters C/B (h heads of width d over h heads of width d/h)";
/// Forward FLOPs of C over B, closed form.
pub const FLOPS_CB: &str = "forward FLOPs C/B (closed form)";
/// Wall-clock forward+backward time B/A: per interleaved round the ratio of the
/// minimum over back-to-back runs; median over rounds with their range.
pub const TIME_BA: &str = "wall-clock forward+backward time B/A (median over rounds)";

/// Mean total-variation error of the best rank-d_k fit at d_k = n, one estimate per n
/// (95% CI over target patterns).
pub const FULL_RANK_TV: &str = "mean TV error of the fit at d_k = n, each n";
/// The same at d_k = n/4.
pub const LOW_RANK_TV: &str = "mean TV error of the fit at d_k = n/4, each n";
/// Ratio of the mean TV error at the next larger d_k to the one at d_k, one estimate
/// per (n, step), interval from the two means' 95% CIs.
pub const RISE: &str = "mean TV error at the next larger d_k over the one at d_k, each step";

pub const Q6_1A: ClaimSpec = ClaimSpec {
    id: t("Q6.1a"),
    statement: t("Splitting into h heads of width d/h reduces computation compared with one head of width d."),
    kind: Kind::ClosedForm,
    metric: t(FLOPS_BA),
    rule: all_of![Rule::at_most(PARAMS_BA, 0.8), Rule::at_most(FLOPS_BA, 0.8)],
    literature: Prior::refuted("Vaswani et al. 2017, section 3.2.2 (total cost similar to single-head attention with full dimensionality)"),
    lock: Lock::both(Verdict::Refuted),
    revised: None,
};

pub const Q6_1B: ClaimSpec = ClaimSpec {
    id: t("Q6.1b"),
    statement: t(
        "h heads of width d/h are about h (= 8) times cheaper than h heads of full width d.",
    ),
    kind: Kind::ClosedForm,
    metric: t(FLOPS_CB),
    rule: all_of![
        Rule::at_least(PARAMS_CB, 7.2),
        Rule::at_least(FLOPS_CB, 7.2)
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 3.2.2"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q6_1T: ClaimSpec = ClaimSpec {
    id: t("Q6.1T"),
    statement: t("In wall-clock time, h heads of width d/h take about as long as one head of width d (not less)."),
    kind: Kind::Timing,
    metric: t(TIME_BA),
    rule: Rule::within(TIME_BA, 0.8, 2.0),
    literature: Prior::supported("Vaswani et al. 2017, section 3.2.2"),
    lock: Lock::NONE,
    revised: None,
};

pub const Q6_L1: ClaimSpec = ClaimSpec {
    id: t("Q6.L1"),
    statement: t("A head of width d_k < n cannot express an arbitrary n×n attention pattern: the fit error falls with d_k and vanishes only near d_k = n."),
    kind: Kind::Measured,
    metric: t(LOW_RANK_TV),
    rule: all_of![
        Rule::at_most(FULL_RANK_TV, 0.05),
        Rule::at_least(LOW_RANK_TV, 0.1),
        Rule::at_most(RISE, 1.1),
    ],
    literature: Prior::supported("Bhojanapalli et al. 2020, Low-rank bottleneck in multi-head attention models (ICML)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q6_1A, Q6_1B, Q6_1T, Q6_L1];
