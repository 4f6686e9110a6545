//! Claims of question 1: why multi-head attention rather than one head?
//!
//! - Q1.1 (closed form) parameters and FLOPs of h heads of width d/h against one head
//!   of width d, counted from the computation at each h and n (the h·n² score, scale and
//!   softmax work included). Q1.1T puts the measured wall-clock ratio beside it.
//! - Q1.2 (speed) several heads learn the two-offset task faster than one head.
//! - Q1.2b (specialization) in the trained multi-head models each target offset has a
//!   head of its own: a head that puts most of its attention on that offset.
//! - Q1.2c (ablation) removing the most-used head of a trained multi-head model costs
//!   accuracy: the heads are not interchangeable copies.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Trainable parameters of h heads over those of one head, at each h (exact count).
pub const PARAM_RATIO: &str = "parameters of h heads over one head, at each h";
/// Forward+backward FLOPs of h heads over one head, at each (h, n), counted from the
/// computation (score, scale and softmax work included).
pub const FLOP_RATIO: &str = "forward+backward FLOPs of h heads over one head, at each h and n";
/// Wall-clock forward+backward time of h heads over one head (fastest of repeats,
/// arms interleaved): geometric mean over h ≥ 2 and n, range over the points.
pub const TIME_RATIO: &str =
    "time of h heads over one head (fastest of repeats; geometric mean over h ≥ 2 and n)";
/// Paired-by-seed gap in area under the held-out accuracy curve, AUC(h) − AUC(1).
pub const AUC_GAP: &str =
    "area under the accuracy curve, h heads minus one head (paired by seed), at each h ≥ 2";
/// Largest over smallest parameter count of the trained models across h.
pub const MODEL_PARAM_SPREAD: &str = "largest over smallest parameter count of the trained models";
/// For each trained multi-head model: the best pair of distinct heads (p, q) by
/// min(mass of p on offset a, mass of q on offset b); mean over seeds, at each h ≥ 2.
pub const COVERAGE: &str =
    "attention mass each target offset gets from a head of its own (weaker of the two), at each h ≥ 2";
/// Accuracy lost when the one head whose removal hurts most is zeroed; mean over seeds.
pub const ABLATION_DROP: &str =
    "held-out accuracy lost by zeroing the most-used head, at each h ≥ 2";

pub const Q1_1: ClaimSpec = ClaimSpec {
    id: t("Q1.1"),
    statement: t("Splitting d_model into h heads of width d_model/h keeps the parameters and the computation about the same as one full-width head."),
    kind: Kind::ClosedForm,
    metric: t(FLOP_RATIO),
    rule: all_of![
        Rule::within(PARAM_RATIO, 1.0, 1.0),
        Rule::within(FLOP_RATIO, 0.8, 1.25)
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 3.2.2 (total cost similar to single-head attention with full dimensionality)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q1_1T: ClaimSpec = ClaimSpec {
    id: t("Q1.1T"),
    statement: t("Measured on this CPU, h heads take about as long as one full-width head (forward+backward)."),
    kind: Kind::Timing,
    metric: t(TIME_RATIO),
    rule: Rule::within(TIME_RATIO, 0.5, 3.0),
    literature: Prior::open("Vaswani et al. 2017, section 3.2.2 speaks of cost, not of time on a given machine"),
    lock: Lock::NONE,
    revised: None,
};

pub const Q1_2: ClaimSpec = ClaimSpec {
    id: t("Q1.2"),
    statement: t("At equal d_model and parameters, several heads learn a task that needs two positions at once faster than one head (area under the learning curve at a fixed budget)."),
    kind: Kind::Measured,
    metric: t(AUC_GAP),
    rule: all_of![
        Rule::at_least(AUC_GAP, 0.05),
        Rule::within(MODEL_PARAM_SPREAD, 1.0, 1.0)
    ],
    literature: Prior::supported("Vaswani et al. 2017, Table 3 row (A): one head 0.9 BLEU worse than the best"),
    lock: Lock::both(Verdict::Inconclusive),
    revised: None,
};

pub const Q1_2B: ClaimSpec = ClaimSpec {
    id: t("Q1.2b"),
    statement: t("In trained multi-head models each of the two target offsets has a head of its own: a head that puts at least half of its attention on that offset."),
    kind: Kind::Measured,
    metric: t(COVERAGE),
    rule: Rule::at_least(COVERAGE, 0.5),
    literature: Prior::supported("Voita et al. 2019 and Clark et al. 2019: heads specialize, some to fixed relative positions"),
    lock: Lock::full_only(Verdict::Supported),
    revised: None,
};

pub const Q1_2C: ClaimSpec = ClaimSpec {
    id: t("Q1.2c"),
    statement: t("Removing the most-used head of a trained multi-head model costs at least a quarter of its held-out accuracy: the heads are not interchangeable."),
    kind: Kind::Measured,
    metric: t(ABLATION_DROP),
    rule: Rule::at_least(ABLATION_DROP, 0.25),
    literature: Prior::open("Michel et al. 2019: most heads can be pruned at test time, but a few cannot"),
    lock: Lock::both(Verdict::Inconclusive),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q1_1, Q1_1T, Q1_2, Q1_2B, Q1_2C];
