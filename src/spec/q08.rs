//! Claims of question 8: why multiply the embeddings by √d_model?
//!
//! The seed answer's chain "Xavier gives variance 1/d, so × √d gives variance 1" is one
//! claim (Q8.1): under Xavier the variance after the scale is variance × d, the same
//! number, so deciding it twice would count one measurement twice. Q8.2 asks whether
//! the scale gives variance 1 under the init where the premise holds, N(0, 1/d). Q8.3
//! is the seed's "may help convergence", decided on a paired training comparison.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Xavier embedding variance × d (= the variance after the √d scale), at each (V, d).
pub const XAVIER_VAR_TIMES_D: &str =
    "Xavier V×d embedding: variance × d (the variance after the √d scale), at each (V, d)";
/// N(0, 1/d) embedding variance × d, at each d.
pub const NORMAL_VAR_TIMES_D: &str =
    "N(0, 1/d) V×d embedding: variance × d (the variance after the √d scale), at each d";
/// Paired gap in area under the held-out accuracy curve, scaled − unscaled.
pub const AUC_GAP: &str =
    "reversal task: paired gap in area under the held-out accuracy curve, × √d_model − no scale";
/// With the scale, N(0, 1/d): ‖embedding row‖ / ‖PE row‖, at each d.
pub const SCALED_RATIO: &str =
    "with the √d scale, N(0, 1/d): ‖embedding row‖ / ‖PE row‖, at each d";
/// Without the scale, N(0, 1/d): ‖embedding row‖ / ‖PE row‖, at each d.
pub const UNSCALED_RATIO: &str =
    "without the scale, N(0, 1/d): ‖embedding row‖ / ‖PE row‖, at each d";

pub const Q8_1: ClaimSpec = ClaimSpec {
    id: t("Q8.1"),
    statement: t("Xavier initialization gives a V×d embedding matrix variance 1/d_model, so multiplying by √d_model brings its variance to 1."),
    kind: Kind::Measured,
    metric: t(XAVIER_VAR_TIMES_D),
    rule: Rule::within(XAVIER_VAR_TIMES_D, 0.9, 1.1),
    literature: Prior::refuted("Glorot & Bengio 2010: Var(W) = 2/(fan_in + fan_out), for a V×d embedding 2/(V + d)"),
    lock: Lock::both(Verdict::Refuted),
    revised: None,
};

pub const Q8_2: ClaimSpec = ClaimSpec {
    id: t("Q8.2"),
    statement: t("With an embedding of variance 1/d_model (N(0, 1/d), the reference implementation's init), multiplying by √d_model brings the variance to 1."),
    kind: Kind::Measured,
    metric: t(NORMAL_VAR_TIMES_D),
    rule: Rule::within(NORMAL_VAR_TIMES_D, 0.9, 1.1),
    literature: Prior::supported("tensor2tensor (Vaswani et al. 2018): embeddings drawn N(0, d_model^−1) and multiplied by √d_model"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q8_3: ClaimSpec = ClaimSpec {
    id: t("Q8.3"),
    statement: t("Multiplying the embeddings by √d_model helps convergence: with an N(0, 1/d) embedding, a model with the scale learns faster than one without."),
    kind: Kind::Measured,
    metric: t(AUC_GAP),
    // A gap of at least 0.02 in mean held-out accuracy over training, either way, is
    // the smallest effect we call a difference in learning speed.
    rule: Rule::gap(AUC_GAP, 0.02, 0.02),
    literature: Prior::open("Vaswani et al. 2017, section 3.4, state the scale without a reason or an ablation"),
    lock: Lock::both(Verdict::Inconclusive),
    revised: None,
};

pub const Q8_L1: ClaimSpec = ClaimSpec {
    id: t("Q8.L1"),
    statement: t("The √d_model scale balances the token embedding against the sinusoidal position encoding it is added to."),
    kind: Kind::Measured,
    metric: t(SCALED_RATIO),
    rule: all_of![
        Rule::within(SCALED_RATIO, 0.5, 2.0),
        Rule::at_most(UNSCALED_RATIO, 0.25)
    ],
    literature: Prior::supported("Vaswani et al. 2017, sections 3.4 and 3.5 (embeddings × √d_model, PE entries in [−1, 1] added to them)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q8_1, Q8_2, Q8_3, Q8_L1];
