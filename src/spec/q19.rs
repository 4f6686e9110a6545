//! Claims of question 19: WordPiece and BPE.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Merges of the vocabulary on which morpheme boundaries are scored.
pub const EVAL_MERGES: usize = 1000;

pub const BPE_LIFT: &str =
    "BPE morpheme-boundary precision over chance at 1000 merges (median, range over corpora)";
pub const WP_LIFT: &str =
    "WordPiece morpheme-boundary precision over chance at 1000 merges (median, range over corpora)";
pub const SUBWORD_OOV: &str =
    "largest share of held-out tokens out of vocabulary, BPE and WordPiece, any vocabulary size";
pub const MOST_FREQUENT: &str =
    "share of BPE merges that took a most frequent pair (naive recount)";
pub const NON_RISING: &str = "share of consecutive BPE merges whose pair count does not rise";
pub const LENGTH_RATIO: &str =
    "BPE tokens per word, characters over the largest vocabulary (median, range over corpora)";
pub const FALLS: &str =
    "share of vocabulary-grid steps where tokens per word fall (both tokenizers, all corpora)";
pub const PLAIN_SEVERAL: &str =
    "share of held-out words with more than one plain-BPE segmentation in repeated draws";
pub const SAME_MERGES: &str =
    "retraining BPE on the word table in reverse order learns the same merges (1 = yes)";

/// The affix test's bar: boundary precision at least this multiple of chance.
pub const LIFT_BAR: f64 = 1.5;

pub const Q19_1: ClaimSpec = ClaimSpec {
    id: t("Q19.1"),
    statement: t("Subword units capture affixes: for both tokenizers, BPE and WordPiece, morpheme boundaries are found well above chance."),
    kind: Kind::Measured,
    metric: t(WP_LIFT),
    rule: all_of![
        Rule::at_least(BPE_LIFT, LIFT_BAR),
        Rule::at_least(WP_LIFT, LIFT_BAR)
    ],
    literature: Prior::supported("Sennrich et al. 2016, section 3 (subword units for morphologically complex words)"),
    lock: Lock::both(Verdict::Refuted),
    revised: None,
};

pub const Q19_1A: ClaimSpec = ClaimSpec {
    id: t("Q19.1a"),
    statement: t("BPE units capture affixes: morpheme boundaries well above chance."),
    kind: Kind::Measured,
    metric: t(BPE_LIFT),
    rule: Rule::at_least(BPE_LIFT, LIFT_BAR),
    literature: Prior::supported("Sennrich et al. 2016, section 3"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q19_1B: ClaimSpec = ClaimSpec {
    id: t("Q19.1b"),
    statement: t("WordPiece units capture affixes: morpheme boundaries well above chance."),
    kind: Kind::Measured,
    metric: t(WP_LIFT),
    rule: Rule::at_least(WP_LIFT, LIFT_BAR),
    literature: Prior::open("Schuster & Nakajima 2012; Wu et al. 2016 (WordPiece merges by likelihood gain; no claim about affixes)"),
    lock: Lock::both(Verdict::Refuted),
    revised: None,
};

pub const Q19_1C: ClaimSpec = ClaimSpec {
    id: t("Q19.1c"),
    statement: t("Subword tokenizers leave no held-out token out of vocabulary (true by construction: every word falls back to characters)."),
    kind: Kind::Check,
    metric: t(SUBWORD_OOV),
    rule: Rule::at_most(SUBWORD_OOV, 0.0),
    literature: Prior::supported("Sennrich et al. 2016, section 3.2 (open-vocabulary translation)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q19_2: ClaimSpec = ClaimSpec {
    id: t("Q19.2"),
    statement: t("BPE repeatedly merges the most frequent adjacent pair."),
    kind: Kind::Check,
    metric: t(MOST_FREQUENT),
    rule: all_of![
        Rule::at_least(MOST_FREQUENT, 1.0),
        Rule::at_least(NON_RISING, 1.0)
    ],
    literature: Prior::supported("Sennrich et al. 2016, algorithm 1"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q19_3: ClaimSpec = ClaimSpec {
    id: t("Q19.3"),
    statement: t("BPE trades vocabulary size against sequence length."),
    kind: Kind::Measured,
    metric: t(LENGTH_RATIO),
    rule: all_of![
        Rule::at_least(FALLS, 1.0),
        Rule::at_least(LENGTH_RATIO, 2.0)
    ],
    literature: Prior::supported(
        "Sennrich et al. 2016, section 4 (vocabulary size against text length)",
    ),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q19_4: ClaimSpec = ClaimSpec {
    id: t("Q19.4"),
    statement: t("Plain BPE is greedy and deterministic: it gives one segmentation per word, never several with probabilities."),
    kind: Kind::Check,
    metric: t(PLAIN_SEVERAL),
    rule: all_of![
        Rule::at_most(PLAIN_SEVERAL, 0.0),
        Rule::at_least(SAME_MERGES, 1.0)
    ],
    literature: Prior::supported("Provilkov et al. 2020 (plain BPE is deterministic; BPE-dropout samples)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q19_1, Q19_1A, Q19_1B, Q19_1C, Q19_2, Q19_3, Q19_4];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_evaluation_size() {
        for q in [BPE_LIFT, WP_LIFT] {
            assert!(q.contains(&EVAL_MERGES.to_string()), "{q}");
        }
    }
}
