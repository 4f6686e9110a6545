//! Claims of question 20: how are the learning rate and dropout set in Transformer
//! training, where does dropout sit, and what changes at test time?
//!
//! The seed answer is off-topic (it talks about LayerNorm), so every claim is the
//! literature's.

use super::t;
use crate::all_of;
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Revision, Rule};
use crate::verdict::Verdict;

/// Relative error of the schedule's peak (d_model 512, warmup 4000) against the
/// paper's 6.99e−4; a closed-form value.
pub const PEAK_ERR: &str = "|schedule peak − 6.99e−4| / 6.99e−4 at d_model 512, warmup 4000";
/// Step of the schedule's peak minus the warmup length; a closed-form value.
pub const PEAK_STEP: &str = "step of the schedule's peak minus warmup";
/// Q20.L1's decided quantity. Per seed: (final held-out loss without warmup − with
/// warmup) for Post-LN minus the same for Pre-LN, divided by ln V; mean over seeds
/// with a 95% t interval, at the peak rate of the grid where the mean is largest.
pub const WARMUP_GAP: &str = "warmup's effect on final loss (no warmup − warmup), Post-LN minus Pre-LN, paired by seed, in units of ln V, at the grid's peak rate where it is largest";
/// The original (single-rate) rule's quantity: per seed, (Post-LN failed without
/// warmup − failed with) − (Pre-LN the same), failures as 0/1 (diverged, or final loss
/// ≥ 0.95 · ln V), at peak rate 0.02; mean over seeds with a 95% t interval.
pub const FAIL_GAP_002: &str = "failure-rate effect of warmup, Post-LN minus Pre-LN, paired by seed, at peak rate 0.02 (failure: final loss ≥ 0.95 · ln V)";

/// Q20.L1's margin, in units of ln V: a quarter of the way from uniform output (loss
/// ln V) to a perfect model.
pub const WARMUP_MARGIN: f64 = 0.25;

/// The failure lines reported beside Q20.L1 (fractions of ln V): 0.95 declared with
/// the original rule (output still near uniform: learned nothing), 0.5 the stricter
/// line (learned less than half the way).
pub const FAIL_LINES: [f64; 2] = [0.95, 0.5];

/// Q20.L2 (check of our code): max |core − hand-written paper placement|, train mode.
pub const STRUCT_DIFF: &str =
    "max |core forward − hand-written LN(x + drop(Sublayer(x))) with dropped embeddings + positions|, train mode";
/// Q20.L2: max |eval output with p = 0.1 − output of the same model with p = 0|.
pub const EVAL_DIFF: &str = "max |eval-mode output at p = 0.1 − output at p = 0|";

/// Q20.L3, exact case: one inverted-dropout + linear layer; relative error of the mean
/// of 10 000 train-mode passes against the eval output, mean over independent
/// replicates with a 95% t interval.
pub const LIN_ERR: &str =
    "one dropout + linear layer: ‖mean of 10 000 train-mode passes − eval output‖ / ‖eval output‖";
/// Q20.L3: log-log slope of that error against the number of passes K (Monte Carlo
/// predicts −0.5), fitted over replicates.
pub const LIN_SLOPE: &str = "log-log slope of that error against the number of passes";
/// Q20.L3: models trained with dropout 0.1; held-out loss with dropout left on at test
/// minus off, paired by seed, mean with a 95% t interval.
pub const LOSS_COST: &str =
    "held-out loss with dropout left on at test minus off (trained models, paired by seed)";
/// Q20.L3: the same models' held-out accuracy off minus on, paired by seed.
pub const ACC_COST: &str =
    "held-out accuracy with dropout off minus on at test (trained models, paired by seed)";
/// The original Q20.L3 rule's reading of the loss cost: min..max over seeds.
pub const LOSS_COST_EACH: &str =
    "held-out loss with dropout on minus off, every seed (min..max over seeds)";

pub const Q20_L1: ClaimSpec = ClaimSpec {
    id: t("Q20.L1"),
    statement: t("lrate = d_model^−0.5 · min(step^−0.5, step · warmup^−1.5) with warmup 4000 (peak ≈ 6.99e−4 at d_model 512), Adam β₂ 0.98; warmup matters for Post-LN much more than for Pre-LN."),
    kind: Kind::Measured,
    metric: t(WARMUP_GAP),
    rule: all_of![
        Rule::at_most(PEAK_ERR, 1e-3),
        Rule::within(PEAK_STEP, 0.0, 0.0),
        Rule::gap(WARMUP_GAP, WARMUP_MARGIN, 0.0),
    ],
    literature: Prior::supported(
        "Vaswani et al. 2017, section 5.3; Xiong et al. 2020 (Post-LN needs warmup, Pre-LN does not)",
    ),
    lock: Lock::full_only(Verdict::Supported),
    revised: Some(Revision {
        date: t("2026-12-01"),
        original: all_of![
            Rule::at_most(PEAK_ERR, 1e-3),
            Rule::within(PEAK_STEP, 0.0, 0.0),
            Rule::at_least(FAIL_GAP_002, 0.5),
        ],
        why: t("The original rule read failure counts at one peak rate (0.02). There Post-LN with warmup also learned nothing (final losses 0.92–0.98 · ln V, on both sides of the 0.95 · ln V failure line), so the count flipped with float rounding (0.6 before the fused kernels, 0.2 after). A grid of peak rates (0.003, 0.01, 0.02) and a rescue condition (Post-LN with warmup failing in ≤ 0.2 of runs) were added after that flip; the review then found that the rescue at 0.01 counted 2 of 5 runs stuck at accuracy 0.31 and 0.35 as rescued, and that a 0.5 · ln V line undoes it. The claim is now decided on a continuous quantity, final loss paired by seed, with failure counts under both lines reported beside it. The grid stays; the seeds per cell went from 5 to 10 because the per-seed outcome is bimodal."),
    }),
};

pub const Q20_L2: ClaimSpec = ClaimSpec {
    id: t("Q20.L2"),
    statement: t("Dropout (0.1) is applied to each sublayer's output before the residual add and normalization, and to the sums of embeddings and positional encodings."),
    kind: Kind::Check,
    metric: t(STRUCT_DIFF),
    rule: all_of![
        Rule::at_most(STRUCT_DIFF, 1e-5),
        Rule::at_most(EVAL_DIFF, 1e-5),
    ],
    literature: Prior::supported("Vaswani et al. 2017, section 5.4"),
    lock: Lock::both(Verdict::Supported),
    revised: None,
};

pub const Q20_L3: ClaimSpec = ClaimSpec {
    id: t("Q20.L3"),
    statement: t("At test time dropout is off; with inverted dropout no rescaling is needed."),
    kind: Kind::Measured,
    metric: t(LIN_ERR),
    rule: all_of![
        Rule::at_most(LIN_ERR, 0.03),
        Rule::within(LIN_SLOPE, -0.75, -0.25),
        Rule::gap(LOSS_COST, 0.0, 0.0),
        Rule::gap(ACC_COST, 0.0, 0.0),
    ],
    literature: Prior::supported(
        "Srivastava et al. 2014 (dropout; weights scaled at test time, or inverted dropout scaled in training)",
    ),
    lock: Lock::both(Verdict::Supported),
    revised: Some(Revision {
        date: t("2026-12-01"),
        original: all_of![
            Rule::at_most(LIN_ERR, 0.03),
            Rule::within(LIN_SLOPE, -0.75, -0.25),
            Rule::at_least(LOSS_COST_EACH, 0.0),
            Rule::at_least(ACC_COST, 0.0),
        ],
        why: t("The original rule needed test-time dropout to raise held-out loss on every seed (and the mean accuracy cost above 0, read on the point). At the quick budget (2 seeds × 80 steps) that sat on a knife edge: 3 of 5 held-out quick seeds came out inconclusive. The trained-model parts are now paired 95% intervals over seeds, quick mode trains 4 seeds for 150 steps, and the exact case is averaged over independent replicates instead of read from one Monte Carlo draw."),
    }),
};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[Q20_L1, Q20_L2, Q20_L3];
