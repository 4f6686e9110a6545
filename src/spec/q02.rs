//! Claims of question 2: why do Q and K use different projection matrices?
//!
//! - Q2.1 (check) with W_Q = W_K the pre-softmax score matrix is symmetric.
//! - Q2.2 (measured) a shared projection expresses a directed relation poorly: on
//!   "point to the successor in a random cycle" it loses to separate projections, and
//!   no WWᵀ fits a random asymmetric bilinear form. This measures expressiveness (the
//!   relation is fixed and every pair is seen in training), not generalization.
//! - Q2.L1 (measured) the boundary: a symmetric score can still encode an acyclic
//!   order (s(i, j) rising along the order does it), so on "point to the successor in
//!   a random chain" a shared projection does well; only cyclic relations fail.
//! - Q2.3 (check) the seed's reason, different input and output lengths, does not
//!   need separate matrices: shared-W cross-attention with n_q ≠ n_k works.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Rule};
use crate::verdict::Verdict;

/// Largest ‖S − Sᵀ‖/‖S‖ of the pre-softmax scores with one shared W.
pub const SHARED_ASYM: &str = "largest ‖S − Sᵀ‖/‖S‖ of the pre-softmax scores, shared W";
/// The same with separate W_Q, W_K.
pub const SEPARATE_ASYM: &str = "largest ‖S − Sᵀ‖/‖S‖ of the pre-softmax scores, separate W_Q, W_K";
/// Successor in a cycle, self-attention allowed: final accuracy, separate − shared.
pub const CYCLE_GAP: &str =
    "cycle task accuracy, separate minus shared projection (self-attention allowed)";
/// Closed-form best fit of random asymmetric targets by WWᵀ at full rank (smallest over targets).
pub const SHARED_FLOOR: &str = "relative error of the best WWᵀ fit at full rank";
/// Closed-form best fit by W_QW_Kᵀ at full rank (largest over targets).
pub const SEPARATE_ERR: &str = "relative error of the best W_QW_Kᵀ fit at full rank";
/// Successor in a chain, self-attention allowed: final accuracy of the shared projection.
pub const CHAIN_SHARED: &str = "chain task accuracy, shared projection (self-attention allowed)";
/// Shared projection, self-attention allowed: chain accuracy − cycle accuracy, paired by seed.
pub const BOUNDARY_GAP: &str =
    "shared projection accuracy, chain minus cycle (paired by seed, self-attention allowed)";
/// Share of (n_q ≠ n_k) shapes for which shared-W cross-attention fails.
pub const CROSS_FAIL: &str =
    "share of (n_q ≠ n_k) shapes where cross-attention with W_Q = W_K fails";

pub const Q2_1: ClaimSpec = ClaimSpec {
    id: t("Q2.1"),
    statement: t("With one shared matrix the score matrix is symmetric."),
    kind: Kind::Check,
    metric: t(SHARED_ASYM),
    rule: all_of![
        Rule::at_most(SHARED_ASYM, 1e-6),
        Rule::at_least(SEPARATE_ASYM, 0.5)
    ],
    literature: Prior::supported("S = XWWᵀXᵀ is symmetric by construction"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q2_2: ClaimSpec = ClaimSpec {
    id: t("Q2.2"),
    statement: t("A symmetric, same-space projection (shared W) expresses a directed relation poorly: it cannot point every token of a cycle to its successor."),
    kind: Kind::Measured,
    metric: t(CYCLE_GAP),
    rule: all_of![
        Rule::at_least(CYCLE_GAP, 0.3),
        Rule::at_least(SHARED_FLOOR, 0.5),
        Rule::at_most(SEPARATE_ERR, 1e-6)
    ],
    literature: Prior::open("Kitaev et al. 2020 (Reformer): shared Q/K with self-attention barred lost nothing on its benchmarks"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q2_L1: ClaimSpec = ClaimSpec {
    id: t("Q2.L1"),
    statement: t("The boundary: a symmetric score can still encode an acyclic order, so a shared projection points every token of a chain to its successor; only cyclic relations fail."),
    kind: Kind::Measured,
    metric: t(CHAIN_SHARED),
    rule: all_of![
        Rule::at_least(CHAIN_SHARED, 0.9),
        Rule::at_least(BOUNDARY_GAP, 0.5)
    ],
    literature: Prior::supported("a symmetric s(i, j) that rises along the order ranks each token's successor first (linear algebra)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q2_3: ClaimSpec = ClaimSpec {
    id: t("Q2.3"),
    statement: t("Separate matrices are needed because input and output lengths can differ."),
    kind: Kind::Check,
    metric: t(CROSS_FAIL),
    rule: Rule::at_least(CROSS_FAIL, 1.0),
    literature: Prior::refuted(
        "W_Q and W_K act on the feature dimension (Vaswani et al. 2017, section 3.2.2)",
    ),
    lock: Lock::both(Verdict::Refuted),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q2_1, Q2_2, Q2_3, Q2_L1];
