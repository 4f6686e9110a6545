//! Claims of question 17: where is the Transformer parallel?

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Dependency depth: the longest chain of layer calls each of which needs the output
/// of the one before, counted along the data flow of the forward pass.
pub const ATTN_SLOPE: &str = "self-attention: log-log slope of dependency depth against n";
pub const RNN_SLOPE: &str = "LSTM and GRU: log-log slope of dependency depth against n";

/// The thread speed-up ratio, per width and recurrent layer, at the largest n.
pub const SPEEDUP_GAP: &str = "1→2-thread speed-up of self-attention over that of the recurrent layer, at the largest n (median of paired repeats, interquartile range)";

pub const Q17_1: ClaimSpec = ClaimSpec {
    id: t("Q17.1"),
    statement: t("Self-attention processes the whole sequence at once (O(1) dependent steps whatever n); an RNN must go step by step (O(n) dependent steps)."),
    kind: Kind::ClosedForm,
    metric: t(RNN_SLOPE),
    rule: all_of![
        Rule::within(ATTN_SLOPE, -0.01, 0.01),
        Rule::within(RNN_SLOPE, 0.99, 1.01)
    ],
    literature: Prior::supported("Vaswani et al. 2017, Table 1 (sequential operations O(1) against O(n))"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q17_2: ClaimSpec = ClaimSpec {
    id: t("Q17.2"),
    statement: t("A second thread speeds self-attention up at least as much as a recurrent layer (wall clock)."),
    kind: Kind::Timing,
    metric: t(SPEEDUP_GAP),
    rule: Rule::at_least(SPEEDUP_GAP, 1.0),
    literature: Prior::supported("Vaswani et al. 2017, section 4 (recurrence precludes parallelization within training examples)"),
    lock: Lock::NONE,
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q17_1, Q17_2];
