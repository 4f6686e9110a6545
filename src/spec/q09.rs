//! Claims of question 9: the sinusoidal position encoding, its meaning, pros and cons.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Without positions: relative permutation error over random layers, inputs and
/// permutations (min..max over draws).
pub const BLIND_ERROR: &str =
    "without positions: max|f(PX) − P f(X)| / max|f(X)| of an encoder layer, over draws";
/// With the sinusoidal code added: the same error (min..max over draws).
pub const PE_ERROR: &str =
    "with sinusoidal positions added: max|f(PX) − P f(X)| / max|f(X)|, over draws";
/// Smallest Euclidean distance between two codes (d = 64).
pub const MIN_DISTANCE: &str =
    "smallest distance between the codes of two positions (f32 table < 4096 by brute force, closed form < 100,000)";
/// Worst relative residual of the least-squares fit of M_k.
pub const FIT_RESIDUAL: &str =
    "worst relative residual of the fit PE(p+k) ≈ M_k PE(p), fit and held-out positions";
/// Raw codes: asymmetry of PE(p)·PE(p+k) in ±k, ÷ max |PE·PE|.
pub const RAW_ASYMMETRY: &str = "raw codes: asymmetry of PE(p)·PE(p+k) in ±k, ÷ max|PE·PE|";
/// Raw codes: dependence of PE(p)·PE(p+k) on p, ÷ max |PE·PE|.
pub const RAW_P_DEPENDENCE: &str = "raw codes: dependence of PE(p)·PE(p+k) on p, ÷ max|PE·PE|";
/// After random W_Q, W_K: mean asymmetry over draws.
pub const PROJECTED_ASYMMETRY: &str = "after random W_Q, W_K: asymmetry in ±k (mean over draws)";
/// After random W_Q, W_K: mean p-dependence over draws.
pub const PROJECTED_P_DEPENDENCE: &str = "after random W_Q, W_K: dependence on p (mean over draws)";

pub const Q9_1: ClaimSpec = ClaimSpec {
    id: t("Q9.1"),
    statement: t("Self-attention without position information is order-blind: permuting the input permutes the output the same way."),
    kind: Kind::Measured,
    metric: t(BLIND_ERROR),
    rule: all_of![
        Rule::at_most(BLIND_ERROR, 1e-5),
        Rule::at_least(PE_ERROR, 0.05)
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 3.5 (the model has no recurrence or convolution, so order must be injected)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q9_2: ClaimSpec = ClaimSpec {
    id: t("Q9.2"),
    statement: t("The fixed sinusoidal encoding gives each absolute position a distinct code."),
    kind: Kind::ClosedForm,
    metric: t(MIN_DISTANCE),
    rule: Rule::at_least(MIN_DISTANCE, 1e-3),
    literature: Prior::supported("Vaswani et al. 2017, section 3.5"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q9_L1: ClaimSpec = ClaimSpec {
    id: t("Q9.L1"),
    statement: t("PE(p+k) is a fixed linear function of PE(p): a block rotation M_k that does not depend on p."),
    kind: Kind::ClosedForm,
    metric: t(FIT_RESIDUAL),
    rule: Rule::at_most(FIT_RESIDUAL, 1e-9),
    literature: Prior::supported("Vaswani et al. 2017, section 3.5 (\"PE(pos+k) can be represented as a linear function of PE(pos)\")"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q9_L2: ClaimSpec = ClaimSpec {
    id: t("Q9.L2"),
    statement: t("PE(p)·PE(p+k) depends only on k and is symmetric in ±k (distance without direction); random W_Q, W_K blur this relative property."),
    kind: Kind::Measured,
    metric: t(RAW_ASYMMETRY),
    rule: all_of![
        Rule::at_most(RAW_ASYMMETRY, 1e-4),
        Rule::at_most(RAW_P_DEPENDENCE, 1e-4),
        Rule::at_least(PROJECTED_ASYMMETRY, 0.05),
        Rule::at_least(PROJECTED_P_DEPENDENCE, 0.05),
    ],
    literature: Prior::supported("Yan et al. 2019 (TENER), section 3.2"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q9_1, Q9_2, Q9_L1, Q9_L2];
