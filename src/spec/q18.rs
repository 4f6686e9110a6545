//! Claims of question 18: can the decoder run in parallel?

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Step t's logits count as depending on step t−1's token when they move by more.
pub const DEP_TOL: f64 = 1e-4;

pub const EQUALITY: &str = "largest abs logit difference, one causally masked pass against step-by-step decoding (with and without the cache)";
pub const DEPENDENT: &str = "share of decoding steps whose logits change by > 1e−4 when the token chosen at the step before changes";
pub const STEP_RATIO: &str = "time of n cached decoding steps over one teacher-forced pass of length n (geometric mean over n, range over n)";

pub const Q18_1: ClaimSpec = ClaimSpec {
    id: t("Q18.1"),
    statement: t("The decoder runs in parallel in training (one causally masked pass gives every position's logits) but not at inference (each step needs the token chosen at the step before)."),
    kind: Kind::ClosedForm,
    metric: t(DEPENDENT),
    rule: all_of![
        Rule::at_most(EQUALITY, 1e-4),
        Rule::at_least(DEPENDENT, 1.0)
    ],
    literature: Prior::supported("Vaswani et al. 2017, sections 3.1 and 3.2.3"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q18_2: ClaimSpec = ClaimSpec {
    id: t("Q18.2"),
    statement: t("Decoding n tokens step by step, even with a key/value cache, takes at least twice as long as one teacher-forced pass over n tokens (wall clock; the ×2 line was set after pilot runs)."),
    kind: Kind::Timing,
    metric: t(STEP_RATIO),
    rule: Rule::at_least(STEP_RATIO, 2.0),
    literature: Prior::supported("Shazeer 2019, 'Fast Transformer Decoding' (incremental decoding is bound by sequential steps)"),
    lock: Lock::NONE,
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q18_1, Q18_2];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_tolerance() {
        assert!(DEPENDENT.contains(&crate::fmt::num(DEP_TOL)));
    }
}
