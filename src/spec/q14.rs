//! Claims of question 14: the feed-forward network and its activation.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Revision, Rule};
use crate::verdict::Verdict;

/// |core ReLU FFN − max(0, xW₁+b₁)W₂+b₂ computed by hand|, largest over entries.
pub const FORMULA_ERR: &str = "largest |core FFN with ReLU − max(0, xW₁+b₁)W₂+b₂ computed by hand|";

/// Largest |FFN(sequence) − FFN(token by token)|.
pub const SEQ_VS_TOKEN: &str = "largest |FFN of the whole sequence − FFN token by token|";
/// Largest ‖∂y_t/∂x_s‖ over s ≠ t for the FFN, by autograd.
pub const FFN_CROSS: &str = "largest cross-position Jacobian block ‖∂y_t/∂x_s‖ (s ≠ t) of the FFN";
/// Mean diagonal block ‖∂y_t/∂x_t‖ of the FFN (must not be 0).
pub const FFN_DIAG: &str = "mean diagonal Jacobian block ‖∂y_t/∂x_t‖ of the FFN";
/// Largest cross block of a whole encoder layer (attention mixes positions).
pub const LAYER_CROSS: &str =
    "largest cross-position Jacobian block of a whole encoder layer (control)";

/// FFN share of a layer's parameters, at each d_model (largest first).
pub const SHARE: &str =
    "FFN share of an encoder layer's parameters at d_ff = 4·d_model, at d_model 512, 128, 32";
/// |counted share − (8d²+5d)/(12d²+13d)|, largest over d_model.
pub const SHARE_CF_ERR: &str = "largest |counted share − closed form (8d² + 5d)/(12d² + 13d)|";

/// ReLU − GELU mean held-out loss over training, relative to ReLU's (paired).
pub const LOSS_AREA_REL: &str = "mean held-out loss over training (area under the loss curve), ReLU − GELU as a share of ReLU's (paired)";
/// The same difference in nats (the original rule's quantity).
pub const LOSS_AREA: &str =
    "mean held-out loss over training (area under the loss curve), ReLU − GELU (paired)";

/// Share of ReLU FFN units that never fire on held-out points after training.
pub const DEAD: &str =
    "share of ReLU FFN units with no positive pre-activation on 512 held-out points, after training (mean over seeds)";

pub const Q14_1: ClaimSpec = ClaimSpec {
    id: t("Q14.1"),
    statement: t("The FFN's activation is ReLU (true of the original Transformer: FFN(x) = max(0, xW₁+b₁)W₂+b₂); checked as: our FFN with ReLU is that formula."),
    kind: Kind::Check,
    metric: t(FORMULA_ERR),
    rule: Rule::at_most(FORMULA_ERR, 1e-5),
    literature: Prior::supported("Vaswani et al. 2017, §3.3, eq. 2"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q14_L1: ClaimSpec = ClaimSpec {
    id: t("Q14.L1"),
    statement: t("The FFN is position-wise: the same two-layer network applied to every position separately; only attention mixes positions (checked on our FFN by autograd)."),
    kind: Kind::Check,
    metric: t(FFN_CROSS),
    rule: all_of![
        Rule::at_most(SEQ_VS_TOKEN, 1e-5),
        Rule::at_most(FFN_CROSS, 0.0),
        Rule::at_least(FFN_DIAG, 1e-5),
        Rule::at_least(LAYER_CROSS, 1e-5)
    ],
    literature: Prior::supported("Vaswani et al. 2017, §3.3"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q14_L2: ClaimSpec = ClaimSpec {
    id: t("Q14.L2"),
    statement: t(
        "With d_ff = 4·d_model the FFN holds about two thirds of an encoder layer's parameters.",
    ),
    kind: Kind::ClosedForm,
    metric: t(SHARE),
    rule: all_of![
        Rule::within(SHARE, 0.6, 0.7),
        Rule::at_most(SHARE_CF_ERR, 1e-12)
    ],
    literature: Prior::supported("Vaswani et al. 2017, §3.3 (d_model 512, d_ff 2048)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q14_L3: ClaimSpec = ClaimSpec {
    id: t("Q14.L3"),
    statement: t("GELU, which later Transformers (BERT, GPT) use instead of ReLU, trains faster."),
    kind: Kind::Measured,
    metric: t(LOSS_AREA_REL),
    rule: Rule::gap(LOSS_AREA_REL, 0.02, 0.02),
    literature: Prior::supported(
        "Hendrycks & Gimpel 2016, §3 (lower training loss than ReLU on MNIST and CIFAR)",
    ),
    lock: Lock::both(Verdict::Inconclusive),
    revised: Some(Revision {
        date: t("2026-12-01"),
        original: Rule::at_least(LOSS_AREA, 0.0),
        why: t("The original rule had no minimum effect: any loss-area gap above 0 supported it (it did at 0.005 nats, with final accuracy 0.001 lower). A minimum effect of 2% of ReLU's loss area is now declared; below it the verdict is inconclusive."),
    }),
};

pub const Q14_L4: ClaimSpec = ClaimSpec {
    id: t("Q14.L4"),
    statement: t(
        "ReLU's known con, units that never fire ('dead ReLU'), stays small in healthy training.",
    ),
    kind: Kind::Measured,
    metric: t(DEAD),
    rule: Rule::at_most(DEAD, 0.1),
    literature: Prior::supported("Lu et al. 2019 (dying ReLU); Maas et al. 2013 (leaky ReLU)"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q14_1, Q14_L1, Q14_L2, Q14_L3, Q14_L4];
