//! Claims of question 15: how do the encoder and the decoder interact?

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// An output counts as changed when its max abs difference exceeds this.
pub const CHANGE_TOL: f64 = 1e-4;
/// An output counts as unchanged when its max abs difference is at most this.
pub const SAME_TOL: f64 = 1e-6;

/// Shapes over (target, source) length pairs with source ≠ target.
pub const SHAPES: &str = "share of (target, source) length pairs with target × source cross-attention weights, rows summing to 1 and target-length outputs";
/// Perturb one encoder-output row: every target output must move.
pub const MEMORY: &str = "share of target outputs (cross-attention and decoder) changed by > 1e−4 when one encoder-output row is perturbed";
/// Perturb query row j: cross-attention outputs i ≠ j must not move.
pub const OFF_DIAGONAL: &str =
    "share of cross-attention outputs i ≠ j unchanged (≤ 1e−6) when query row j is perturbed";
/// Perturb query row j: cross-attention output j must move.
pub const DIAGONAL: &str =
    "share of cross-attention outputs j changed by > 1e−4 when query row j is perturbed";
/// One query alone against its row in the batched call.
pub const ALONE: &str = "largest abs difference, one query alone against its batched row";

pub const Q15_1: ClaimSpec = ClaimSpec {
    id: t("Q15.1"),
    statement: t("Through cross-attention: the decoder's queries attend over the encoder output (keys and values), giving target-length outputs."),
    kind: Kind::Check,
    metric: t(MEMORY),
    rule: all_of![
        Rule::at_least(SHAPES, 1.0),
        Rule::at_least(MEMORY, 1.0),
        Rule::at_least(OFF_DIAGONAL, 1.0),
        Rule::at_least(DIAGONAL, 1.0),
        Rule::at_most(ALONE, 1e-5),
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 3.2.3"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q15_1];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmt::num;

    /// The tolerances named in the quantities are the ones the experiment uses.
    #[test]
    fn names_carry_the_tolerances() {
        for q in [MEMORY, DIAGONAL] {
            assert!(q.contains(&num(CHANGE_TOL)), "{q}");
        }
        assert!(OFF_DIAGONAL.contains(&num(SAME_TOL)));
    }
}
