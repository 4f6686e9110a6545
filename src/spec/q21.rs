//! Claims of question 21: why doesn't BERT mask attention scores the way the decoder
//! does?

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Q21.1: fill-in accuracy where the blank equals its right neighbour, masked LM minus
/// causal (Welch 95% interval over seeds).
pub const FILL_GAP: &str =
    "fill-in accuracy (blank = its right neighbour), bidirectional masked LM minus causal";

/// Q21.L1: accuracy predicting the token at one's own position, mean over seeds.
pub const STD_1L: &str = "standard 1-layer encoder, diagonal masked: accuracy on its own token";
pub const QS_1L: &str =
    "query-stream 1-layer encoder, diagonal masked: accuracy on its own token minus chance";
pub const QS_2L: &str = "query-stream 2-layer encoder, diagonal masked: accuracy on its own token";
pub const MASK_2L: &str =
    "standard 2-layer encoder, [MASK] in the input: accuracy on the hidden token minus chance";

/// Q21.L1's lines: a leak is accuracy ≥ this ...
pub const LEAK_LINE: f64 = 0.8;
/// ... and hidden is accuracy at most this far above chance.
pub const ABOVE_CHANCE: f64 = 0.1;

pub const Q21_1: ClaimSpec = ClaimSpec {
    id: t("Q21.1"),
    statement: t("BERT's objective needs both left and right context, while the decoder only looks left."),
    kind: Kind::Measured,
    metric: t(FILL_GAP),
    rule: Rule::at_least(FILL_GAP, 0.5),
    literature: Prior::supported(
        "Devlin et al. 2019, sections 3.1 and 5.1 (left-to-right 77.8 against bidirectional 87.9 SQuAD F1)",
    ),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q21_L1: ClaimSpec = ClaimSpec {
    id: t("Q21.L1"),
    statement: t("Masking the diagonal of the attention scores does not hide a token from its own prediction (it leaks back through the residual stream, or through neighbours after two layers); corrupting the input with [MASK] does."),
    kind: Kind::Measured,
    metric: t(QS_2L),
    rule: all_of![
        Rule::at_least(STD_1L, LEAK_LINE),
        Rule::at_most(QS_1L, ABOVE_CHANCE),
        Rule::at_least(QS_2L, LEAK_LINE),
        Rule::at_most(MASK_2L, ABOVE_CHANCE),
    ],
    literature: Prior::supported(
        "Devlin et al. 2019, section 3.1 (\"bidirectional conditioning would allow each word to indirectly see itself\"); Yang et al. 2019 (XLNet, two-stream attention)",
    ),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q21_1, Q21_L1];
