//! Q2. Why do Q and K use different projection matrices?
//!
//! Claims (declared in src/spec/q02.rs): Q2.1 shared W gives symmetric scores (check),
//! Q2.2 a shared projection expresses a directed relation poorly (the cycle task and
//! the closed-form fit), Q2.3 lengths are not the reason (check), Q2.L1 the boundary:
//! an acyclic order is expressible with shared W.
//!
//! (a) Pre-softmax scores of the core's multi-head attention with `share_qk` on and off
//!     on random inputs: asymmetry ‖S−Sᵀ‖/‖S‖, share of rows whose largest score is the
//!     diagonal, asymmetry after the softmax.
//! (b) The best fit of a random asymmetric d×d target by W_QW_Kᵀ (rank r) and by WWᵀ,
//!     in closed form (Eckart–Young; the best PSD fit of the symmetric part), checked
//!     by gradient descent.
//! (c) A pointer model whose logits are attention scores of token embeddings must
//!     output the position of each token's successor, for a random cycle and for the
//!     chain that is the same order without the wrap-round edge; shared or separate W,
//!     self-attention allowed or barred, over seeds. The relation is fixed per seed and
//!     every pair is seen in training: this measures expressiveness, not generalization.
//! (d) Cross-attention with W_Q = W_K and n_q ≠ n_k: shapes and finiteness.

use transformer_claims::fmt;
use transformer_claims::prelude::*;
use transformer_claims::rng::randn;
use transformer_claims::row;
use transformer_claims::setup::q02::{self as setup, Arm, Relation, SuccessorTask, Symmetry};
use transformer_claims::spec::q02;
use transformer_claims::train::{self, TrainConfig};

#[derive(Serialize)]
struct Config {
    /// (a) Model width, heads, sequence length and batch of random inputs.
    d_model: usize,
    heads: usize,
    seq_len: usize,
    batch: usize,
    /// (b) Target size d, ranks r of the factorization, targets drawn; gradient-descent
    /// check: Adam steps and learning rate (first target only).
    fit_d: usize,
    fit_ranks: Vec<usize>,
    fit_targets: usize,
    gd_steps: usize,
    gd_lr: f64,
    /// (c) Number of tokens k (and positions), model width, seeds, training.
    k: usize,
    pointer_d: usize,
    seeds: usize,
    train: TrainConfig,
    /// (d) (n_q, n_k) pairs for cross-attention with W_Q = W_K.
    cross_shapes: Vec<(usize, usize)>,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            d_model: 32,
            heads: 4,
            seq_len: 16,
            batch: ctx.pick(32, 128),
            fit_d: 16,
            fit_ranks: vec![1, 2, 4, 8, 16],
            fit_targets: ctx.pick(8, 32),
            gd_steps: ctx.pick(600, 1500),
            gd_lr: 2e-2,
            k: 16,
            pointer_d: 32,
            seeds: ctx.pick(3, 6),
            train: TrainConfig {
                steps: 300,
                batch: 32,
                lr: 1e-2,
                eval_every: 25,
                eval_size: ctx.pick(128, 256),
                ..TrainConfig::default()
            },
            cross_shapes: vec![(3, 7), (7, 3), (1, 16), (5, 11)],
        }
    }
}

/// (a) Score symmetry on random inputs.
fn symmetry(ctx: &mut Ctx, cfg: &Config) -> Result<Symmetry> {
    let x = randn(
        &mut seeded(ctx.seed, 0),
        &[cfg.batch, cfg.seq_len, cfg.d_model],
        1.0,
        &Device::Cpu,
    )?;
    let (t, s) = setup::score_symmetry(&x, cfg.heads, ctx.seed)?;
    ctx.table("symmetry.csv", &t)?;
    ctx.chart(
        ChartSpec::bars(
            "symmetry.png",
            "symmetry.csv",
            "Random inputs: asymmetry and self-preference (log axis; 0 drawn at 1e-9)",
            "projection",
            &[
                "asymmetry_scores",
                "asymmetry_weights",
                "diag_argmax_share",
                "chance",
            ],
        )
        .name("asymmetry_scores", "‖S − Sᵀ‖/‖S‖ before softmax")
        .name("asymmetry_weights", "the same after softmax")
        .name("diag_argmax_share", "rows whose top score is the diagonal")
        .name("chance", "chance (1/n)")
        .log_y()
        .y_floor(1e-9)
        .labels("projection", "value"),
    )?;
    Ok(s)
}

/// (b) At full rank: shared floor (smallest over targets), separate error (largest),
/// antisymmetric and negative-eigenvalue shares of ‖M‖² (means).
struct FitSummary {
    shared_floor: Estimate,
    separate_err: Estimate,
    anti_share: f64,
    neg_share: f64,
}

fn fits(ctx: &mut Ctx, cfg: &Config) -> Result<FitSummary> {
    let d = cfg.fit_d;
    let mut rng = seeded(ctx.seed, 5);
    let targets: Vec<Vec<f64>> = (0..cfg.fit_targets)
        .map(|_| {
            transformer_claims::rng::normal_vec(&mut rng, d * d, 0.0, 1.0)
                .into_iter()
                .map(|x| x as f64)
                .collect()
        })
        .collect();
    let mut t = Table::new(&[
        "rank",
        "form",
        "rel_err",
        "lo",
        "hi",
        "gd_rel_err_first_target",
        "closed_form_first_target",
    ]);
    let mut out = None;
    for &r in &cfg.fit_ranks {
        let fl: Vec<setup::Floors> = targets.iter().map(|m| setup::floors(m, d, r)).collect();
        let mut full = [Estimate::exact(f64::NAN); 2];
        for (i, shared) in [false, true].into_iter().enumerate() {
            let errs: Vec<f64> = fl
                .iter()
                .map(|f| if shared { f.shared } else { f.separate })
                .collect();
            let e = Estimate::median_minmax(&errs);
            let gd = setup::gd_fit(&targets[0], d, r, shared, cfg.gd_steps, cfg.gd_lr, ctx.seed)?;
            let form = if shared {
                "WWᵀ (shared)"
            } else {
                "W_QW_Kᵀ (separate)"
            };
            t.push(row![r, form, stats::mean(&errs), e.lo, e.hi, gd, errs[0]]);
            full[i] = e;
        }
        if r == d {
            out = Some(FitSummary {
                shared_floor: Estimate::range(full[1].lo, full[1].lo, full[1].hi, full[1].n),
                separate_err: Estimate::range(full[0].hi, full[0].lo, full[0].hi, full[0].n),
                anti_share: stats::mean(&fl.iter().map(|f| f.anti_share).collect::<Vec<_>>()),
                neg_share: stats::mean(&fl.iter().map(|f| f.neg_share).collect::<Vec<_>>()),
            });
        }
    }
    ctx.table("fit.csv", &t)?;
    ctx.chart(
        ChartSpec::line(
            "fit.png",
            "fit.csv",
            &format!("Best fit of a random {d}×{d} target (closed form; bars: range over targets)"),
            "rank",
            &["rel_err", "gd_rel_err_first_target"],
        )
        .interval("rel_err", "lo", "hi")
        .series("form")
        .log_x()
        .name("rel_err", "closed form (mean)")
        .name("gd_rel_err_first_target", "gradient descent (first target)")
        .reference(0.5, "Q2.2: shared floor ≥ 0.5")
        .labels("rank r of the factors", "‖M − fit‖ / ‖M‖"),
    )?;
    out.context("fit_ranks must include d")
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let sym = symmetry(ctx, &cfg)?;
    let fit = fits(ctx, &cfg)?;

    // (c) successor in a cycle and in a chain.
    let mut arms = vec![];
    for relation in [Relation::Cycle, Relation::Chain] {
        for no_self in [false, true] {
            for shared in [false, true] {
                arms.push(Arm {
                    relation,
                    shared,
                    no_self,
                });
            }
        }
    }
    let seeds = train::seeds::seed_list(ctx.seed, cfg.seeds);
    let sw = kit::sweep(ctx, "training successor tasks", &arms, &seeds, |arm, s| {
        let task = SuccessorTask::new(cfg.k, arm.relation, s);
        let params = Params::new(s);
        let model = setup::pointer(cfg.k, cfg.pointer_d, arm.shared, arm.no_self, params.vb())?;
        Ok(train::trainer::train(
            &model, &params, &task, &cfg.train, s,
        )?)
    })?;
    sw.write(ctx, "training", "setting")?;
    let acc = sw.metric(|l| l.final_acc());
    let mut summary = kit::estimate_table(&["setting", "task", "projection"], &["final_acc"]);
    for a in &arms {
        let proj = if a.shared {
            "shared W"
        } else {
            "separate W_Q, W_K"
        };
        let task = format!(
            "{}, self {}",
            a.relation,
            if a.no_self { "barred" } else { "allowed" }
        );
        kit::push_estimates(
            &mut summary,
            vec![a.to_string(), task, proj.into()],
            &[acc.mean_ci(a)],
        );
    }
    ctx.table("training_summary.csv", &summary)?;
    ctx.chart(
        ChartSpec::bars(
            "training.png",
            "training_summary.csv",
            &format!(
                "Point to the successor ({} tokens), {} steps, 95% CI over seeds",
                cfg.k, cfg.train.steps
            ),
            "task",
            &["final_acc"],
        )
        .interval("final_acc", "final_acc_lo", "final_acc_hi")
        .series("projection")
        .y_range(0.0, 1.0)
        .reference(1.0 / cfg.k as f64, &format!("chance 1/{}", cfg.k))
        .labels("relation, self-attention", "held-out accuracy"),
    )?;
    let arm = |relation, shared, no_self| Arm {
        relation,
        shared,
        no_self,
    };
    let cycle_gap = stats::welch(
        acc.get(arm(Relation::Cycle, false, false)),
        acc.get(arm(Relation::Cycle, true, false)),
        0.95,
    )
    .diff;
    let barred_gap = stats::welch(
        acc.get(arm(Relation::Cycle, false, true)),
        acc.get(arm(Relation::Cycle, true, true)),
        0.95,
    )
    .diff;
    let chain_shared = acc.mean_ci(arm(Relation::Chain, true, false));
    let boundary = acc.paired(
        arm(Relation::Chain, true, false),
        arm(Relation::Cycle, true, false),
    );
    let mean = |r, s, n| stats::mean(acc.get(arm(r, s, n)));

    // (d) cross-attention with one shared matrix and n_q ≠ n_k.
    let (cross, ok_count) =
        setup::shared_cross_attention(cfg.d_model, cfg.heads, &cfg.cross_shapes, ctx.seed)?;
    ctx.table("cross_attention.csv", &cross)?;
    let fail_share = 1.0 - ok_count as f64 / cfg.cross_shapes.len() as f64;

    // Verdicts, by the rules declared in src/spec/q02.rs.
    let v1 = ctx.decide(
        &q02::Q2_1,
        Evidence::new()
            .exact(q02::SHARED_ASYM, sym.asym[0])
            .exact(q02::SEPARATE_ASYM, sym.asym[1]),
    )?;
    ctx.note("Q2.1", format!(
        "Separate W_Q, W_K: asymmetry {}. Only the pre-softmax scores are symmetric: after the row-wise softmax the shared weights have asymmetry {}. Rows whose largest score is the diagonal: {} shared against {} separate (chance {}).",
        fmt::sig(sym.asym[1], 3), fmt::sig(sym.weights_asym, 3), fmt::percent(sym.diag[0]), fmt::percent(sym.diag[1]), fmt::percent(1.0 / cfg.seq_len as f64)))?;
    let v2 = ctx.decide(
        &q02::Q2_2,
        Evidence::new()
            .with(q02::CYCLE_GAP, cycle_gap)
            .with(q02::SHARED_FLOOR, fit.shared_floor)
            .with(q02::SEPARATE_ERR, fit.separate_err),
    )?;
    ctx.note("Q2.2", format!(
        "Cycle, accuracy after {} steps ({} seeds): separate {} against shared {} with self-attention allowed; {} against {} with it barred (gap {} {}). Barring self-attention (Reformer's fix) lifts the shared form off zero, but it plateaus: a symmetric score cannot prefer every token's successor over its predecessor all the way round a cycle. Closed form at r = d: the shared floor is at least {} (antisymmetric part {} of ‖M‖², negative eigenvalues {}), separate at most {}. Expressiveness, not generalization: the relation is fixed and every pair is seen in training.",
        cfg.train.steps, cfg.seeds,
        fmt::num(mean(Relation::Cycle, false, false)), fmt::num(mean(Relation::Cycle, true, false)),
        fmt::num(mean(Relation::Cycle, false, true)), fmt::num(mean(Relation::Cycle, true, true)),
        fmt::num(barred_gap.point), fmt::interval(barred_gap.lo, barred_gap.hi),
        fmt::sig(fit.shared_floor.point, 3), fmt::percent(fit.anti_share), fmt::percent(fit.neg_share), fmt::num(fit.separate_err.point)))?;
    let v3 = ctx.decide(
        &q02::Q2_3,
        Evidence::new().exact(q02::CROSS_FAIL, fail_share),
    )?;
    ctx.note("Q2.3", format!(
        "Shared-W cross-attention gave correctly shaped, finite outputs for {ok_count} of {} (n_q, n_k) pairs: W_Q and W_K act on the feature dimension (d_model → d_k), so sequence lengths never enter them.",
        cfg.cross_shapes.len()))?;
    ctx.decide(
        &q02::Q2_L1,
        Evidence::new()
            .with(q02::CHAIN_SHARED, chain_shared)
            .with(q02::BOUNDARY_GAP, boundary),
    )?;
    ctx.note("Q2.L1", format!(
        "Chain (the same random order as the cycle, without the wrap-round edge; the last token is not scored): shared {} and separate {} with self-attention allowed; shared {} with it barred. Shared W on the cycle: {}. A symmetric score s(i, j) that rises along the order ranks each token's successor above its predecessor; round a cycle it would have to rise forever.",
        fmt::num(chain_shared.point), fmt::num(mean(Relation::Chain, false, false)), fmt::num(mean(Relation::Chain, true, true)), fmt::num(mean(Relation::Cycle, true, false))))?;

    ctx.key_chart("training.png");
    ctx.in_short(format!(
        "Sequence lengths are not the reason: W_Q and W_K act on features. With one shared W the scores XWWᵀXᵀ are symmetric, so a relation that goes round in a cycle cannot be encoded: pointing to the successor in a 16-token cycle, shared W reached {} accuracy against {} for separate matrices. An acyclic order still works with shared W ({} on a chain).",
        fmt::num(mean(Relation::Cycle, true, false)), fmt::num(mean(Relation::Cycle, false, false)), fmt::num(chain_shared.point)))?;
    let vs = [v1, v2, v3];
    ctx.answer(if vs.iter().all(|v| *v == Verdict::Supported) {
        Answer::Correct
    } else if vs.contains(&Verdict::Supported) && vs.contains(&Verdict::Refuted) {
        Answer::PartlyCorrect
    } else {
        Answer::Incomplete
    });
    ctx.literature("Kitaev et al. 2020 (Reformer): shared-QK attention, with attention to a token's own position forbidden, performed as well as separate Q and K.");
    ctx.literature("With W_Q = W_K = W the logits S = XWWᵀXᵀ are symmetric positive semi-definite: s_ij ≤ √(s_ii·s_jj).");
    ctx.corrected_answer(format!(
        "W_Q and W_K map features (d_model → d_k), not sequence positions, so lengths have nothing to do with it: shared-W cross-attention with n_q ≠ n_k works (Q2.3). The reason is expressiveness. With one W the scores S = XWWᵀXᵀ are symmetric and positive semi-definite (Q2.1), so a token's largest score is often itself ({} of rows here, chance {}), and a random asymmetric bilinear form is fit by WWᵀ no better than {} relative error, against 0 for W_QW_Kᵀ. A symmetric score can still encode an acyclic order (one that rises along the order ranks each successor first): on 'point to the successor' a shared W reached {} on a chain (Q2.L1) but {} on a cycle, against {} for separate matrices (Q2.2). Only relations that go round fail; barring self-attention (Reformer's fix) lifts the cycle to {}. What is measured is expressiveness on a toy pointer model with a fixed relation, not generalization.",
        fmt::percent(sym.diag[0]), fmt::percent(1.0 / cfg.seq_len as f64), fmt::sig(fit.shared_floor.point, 3),
        fmt::num(chain_shared.point), fmt::num(mean(Relation::Cycle, true, false)), fmt::num(mean(Relation::Cycle, false, false)),
        fmt::num(mean(Relation::Cycle, true, true))));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q02_qk_projections",
        "Q2: shared vs separate Q/K projections. Score symmetry, best fit of an asymmetric bilinear form, training on the successor in a random cycle and chain with and without self-attention, cross-attention shapes.",
        run,
    )
}
