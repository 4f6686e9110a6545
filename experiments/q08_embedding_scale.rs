//! Q8. Why multiply the embeddings by √d_model?
//!
//! Seed answer: the embedding matrix is Xavier-initialized, whose variance is 1/d_model,
//! so multiplying by √d_model makes its variance 1, which may help convergence.
//! Claims (declared in src/spec/q08.rs):
//! - Q8.1 Xavier gives a V×d embedding variance 1/d, so × √d brings it to 1 (one
//!   claim: under Xavier the scaled variance is variance × d, the same number).
//! - Q8.2 Under an N(0, 1/d) init (the reference implementation's) × √d gives variance 1.
//! - Q8.3 The scale helps convergence: paired training comparison over seeds, decided
//!   on the gap in area under the held-out accuracy curve with a minimum effect.
//! - Q8.L1 The scale balances the token embedding against the sinusoidal position
//!   encoding (entries of mean square 1/2).
//!
//! Setup (src/setup/q08.rs): variances computed on the host from seeded draws (Xavier/
//! Glorot uniform U(±√(6/(V+d))), variance 2/(V+d)), in row groups for an interval.
//! The training comparison is a small Post-LN encoder with sinusoidal positions on
//! sequence reversal, embedding N(0, 1/d), with and without the √d scale, paired by seed.

use transformer_claims::fmt;
use transformer_claims::prelude::*;
use transformer_claims::row;
use transformer_claims::setup::q08::{self as setup, InitKind, ModelSizes, Reverse, Scaling};
use transformer_claims::spec::q08;
use transformer_claims::train::{self, TrainConfig, TrainLog};

#[derive(Serialize)]
struct Config {
    /// Vocabulary sizes V and widths d for the Xavier variance grid.
    vocabs: Vec<usize>,
    ds: Vec<usize>,
    /// Rows drawn per V×d matrix (at most V): entries are i.i.d., so any rows have the
    /// matrix's distribution; full mode draws whole matrices.
    sample_rows: usize,
    /// Row groups per matrix; the variance's interval is over group variances.
    groups: usize,
    /// Vocabulary of the matrices used for Q8.2 and the norm ratios.
    main_vocab: usize,
    /// Rows drawn for the embedding/PE norm ratio, positions of the PE.
    norm_rows: usize,
    pe_positions: usize,
    /// Training comparison: sequence reversal, vocabulary and length.
    task_vocab: usize,
    task_len: usize,
    model: ModelSizes,
    /// Paired seeds.
    seeds: usize,
    train: TrainConfig,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            vocabs: vec![1_000, 8_000, 37_000],
            ds: ctx.pick(vec![64, 512], vec![64, 256, 512]),
            sample_rows: ctx.pick(4_000, 40_000),
            groups: 20,
            main_vocab: 37_000,
            norm_rows: 2_000,
            pe_positions: 512,
            task_vocab: 16,
            task_len: 8,
            model: ModelSizes {
                d_model: 32,
                heads: 2,
                layers: 1,
            },
            seeds: ctx.pick(8, 20),
            train: TrainConfig {
                steps: 200,
                batch: 32,
                lr: 1e-3,
                eval_every: 10,
                eval_size: 64,
                ..TrainConfig::default()
            },
        }
    }
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let mut rng = seeded(ctx.seed, 0);
    let (v, d_last) = (cfg.main_vocab, *cfg.ds.last().expect("ds"));

    // Q8.1: Xavier variance × d over (V, d), against 1 (the claim) and 2d/(V+d) (Glorot).
    let mut var_t = kit::estimate_table(&["vocab", "d", "glorot_var_times_d"], &["var_times_d"]);
    let mut xavier = vec![];
    let mut worst_glorot: f64 = 0.0;
    for &vv in &cfg.vocabs {
        for &d in &cfg.ds {
            let e = setup::matrix_variance(
                &mut rng,
                InitKind::Xavier,
                vv,
                d,
                cfg.sample_rows,
                cfg.groups,
            );
            let g = 2.0 / (vv + d) as f64;
            let vd = e.scaled(d as f64);
            kit::push_estimates(&mut var_t, row![vv, d, g * d as f64], &[vd]);
            worst_glorot = worst_glorot.max((e.point / g - 1.0).abs());
            xavier.push(((vv, d), vd));
        }
    }
    ctx.table("xavier_variance.csv", &var_t)?;
    // The headline is V = 37,000, d = 512 (the base model's sizes): listed first.
    xavier.sort_by_key(|((vv, d), _)| !(*vv == v && *d == d_last));
    let xavier_main = xavier[0].1;

    // Q8.2 and Q8.L1: N(0, 1/d) variance × d and the embedding/PE norm ratio, per d.
    let mut sc = kit::estimate_table(&["init", "d"], &["var_times_d"]);
    let mut nr = kit::estimate_table(&["variant", "d"], &["emb_over_pe"]);
    let (mut normal, mut bal_scaled, mut bal_unscaled, mut xavier_ratio) =
        (vec![], vec![], vec![], vec![]);
    for &d in cfg.ds.iter().rev() {
        let pe = setup::pe_norm(cfg.pe_positions, d);
        if (pe.mean_square - 0.5).abs() > 0.01 {
            bail!("sinusoidal PE mean square {}, expected 1/2", pe.mean_square);
        }
        for init in [InitKind::Xavier, InitKind::NormalInvD] {
            let s = setup::matrix_variance(&mut rng, init, v, d, cfg.sample_rows, cfg.groups)
                .scaled(d as f64);
            kit::push_estimates(&mut sc, row![init.to_string(), d], &[s]);
            let norms = setup::row_norms(&mut rng, init, cfg.norm_rows, v, d);
            let ratio = stats::mean_ci(&norms, 0.95).scaled(1.0 / pe.mean_norm);
            for arm in [Scaling::Unscaled, Scaling::Scaled] {
                let r = match arm {
                    Scaling::Unscaled => ratio,
                    Scaling::Scaled => ratio.scaled((d as f64).sqrt()),
                };
                kit::push_estimates(&mut nr, row![format!("{init}, {arm}"), d], &[r]);
                match (init, arm) {
                    (InitKind::NormalInvD, Scaling::Unscaled) => bal_unscaled.push(r),
                    (InitKind::NormalInvD, Scaling::Scaled) => bal_scaled.push(r),
                    (InitKind::Xavier, Scaling::Scaled) => xavier_ratio.push(r),
                    _ => {}
                }
            }
            if init == InitKind::NormalInvD {
                normal.push(s);
            }
        }
    }
    ctx.table("scaled_variance.csv", &sc)?;
    ctx.table("norm_ratio.csv", &nr)?;

    // Q8.3: paired training comparison, with and without the scale.
    let task = Reverse {
        vocab: cfg.task_vocab,
        len: cfg.task_len,
    };
    let seeds = train::seeds::seed_list(ctx.seed, cfg.seeds);
    let arms = [Scaling::Unscaled, Scaling::Scaled];
    let sw = kit::sweep(
        ctx,
        "training with and without the scale",
        &arms,
        &seeds,
        |&arm, s| {
            let p = Params::new(s);
            let m = setup::model(cfg.model, &task, arm, &p)?;
            Ok(train::trainer::train_with(
                &m,
                &p,
                &task,
                &cfg.train,
                s,
                |_| {},
            )?)
        },
    )?;
    sw.write(ctx, "training", "scaling")?;
    let auc_gap = sw
        .metric(|l| l.auc())
        .paired(Scaling::Scaled, Scaling::Unscaled);
    let acc_gap = sw
        .metric(|l| l.final_acc())
        .paired(Scaling::Scaled, Scaling::Unscaled);
    let early = |l: &TrainLog| l.eval.iter().take(5).map(|e| e.2).sum::<f64>() / 5.0;
    let early_gap = sw.metric(early).paired(Scaling::Scaled, Scaling::Unscaled);
    let mut gaps = kit::estimate_table(&["measure"], &["gap"]);
    for (name, e) in [
        ("area under curve (decides)", auc_gap),
        ("first 5 evaluations", early_gap),
        ("final accuracy", acc_gap),
    ] {
        kit::push_estimates(&mut gaps, vec![name.into()], &[e]);
    }
    ctx.table("training_gaps.csv", &gaps)?;

    ctx.chart(
        ChartSpec::line(
            "xavier_variance.png",
            "xavier_variance.csv",
            "Xavier embedding: variance × d lies on Glorot's 2d/(V+d), far below the claimed 1",
            "vocab",
            &["var_times_d", "glorot_var_times_d"],
        )
        .series("d")
        .series_format("d = {}")
        .interval("var_times_d", "var_times_d_lo", "var_times_d_hi")
        .name("var_times_d", "measured")
        .name("glorot_var_times_d", "Glorot 2d/(V+d)")
        .reference(1.0, "claimed: 1 (supported in [0.9, 1.1])")
        .log_x()
        .log_y()
        .labels("vocabulary size V", "variance × d (log)"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "norm_ratio.png",
            "norm_ratio.csv",
            "Token embedding norm / PE norm (V = 37,000)",
            "d",
            &["emb_over_pe"],
        )
        .series("variant")
        .interval("emb_over_pe", "emb_over_pe_lo", "emb_over_pe_hi")
        .reference(0.5, "balanced band [0.5, 2]")
        .reference(2.0, "balanced band [0.5, 2]")
        .reference(0.25, "unscaled must be ≤ 0.25")
        .log_y()
        .labels("d_model", "‖embedding‖ / ‖PE‖ (log)"),
    )?;
    ctx.chart(
        ChartSpec::bars(
            "training_gaps.png",
            "training_gaps.csv",
            "Reversal task: × √d_model minus no scale, paired by seed (95% CI)",
            "measure",
            &["gap"],
        )
        .interval("gap", "gap_lo", "gap_hi")
        .name("gap", "paired gap")
        .reference(0.02, "helps if ≥ 0.02")
        .reference(-0.02, "hurts if ≤ −0.02")
        .labels("", "accuracy gap (scaled − unscaled)"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "training.png",
            "training_curves_mean.csv",
            "Reversal: held-out accuracy (mean over seeds, 95% CI)",
            "step",
            &["eval_acc"],
        )
        .series("scaling")
        .interval("eval_acc", "eval_acc_lo", "eval_acc_hi")
        .y_range(0.0, 1.0)
        .labels("step", "held-out accuracy"),
    )?;

    // Verdicts, by the rules declared in src/spec/q08.rs.
    ctx.decide(
        &q08::Q8_1,
        Evidence::new().with_all(q08::XAVIER_VAR_TIMES_D, xavier.iter().map(|(_, e)| *e)),
    )?;
    let (lo, hi) = xavier.iter().fold((f64::INFINITY, 0f64), |(a, b), (_, e)| {
        (a.min(e.point), b.max(e.point))
    });
    ctx.note(
        "Q8.1",
        format!(
            "Headline at V = {v}, d = {d_last}. Glorot gives variance 2/(V + d): measured variances within {} of it; variance × d ranges {} over the grid, and is 1 only when V = d. After the √d scale a Xavier embedding has variance 2d/(V + d) = {} here; bringing it to 1 would need √((V + d)/2).",
            fmt::percent(worst_glorot), fmt::interval(lo, hi), fmt::sig(2.0 * d_last as f64 / (v + d_last) as f64, 3)
        ),
    )?;
    ctx.decide(
        &q08::Q8_2,
        Evidence::new().with_all(q08::NORMAL_VAR_TIMES_D, normal.iter().copied()),
    )?;
    ctx.decide(&q08::Q8_3, Evidence::new().with(q08::AUC_GAP, auc_gap))?;
    ctx.note(
        "Q8.3",
        format!(
            "{} paired seeds, {} steps, Adam lr {}, d_model {}, one Post-LN layer, embedding N(0, 1/d), untied output layer. Gap in mean held-out accuracy over the first 5 evaluations {} {}; in final accuracy {} {}.",
            seeds.len(), cfg.train.steps, fmt::num(cfg.train.lr), cfg.model.d_model,
            fmt::sig(early_gap.point, 3), fmt::interval(early_gap.lo, early_gap.hi),
            fmt::sig(acc_gap.point, 3), fmt::interval(acc_gap.lo, acc_gap.hi)
        ),
    )?;
    ctx.decide(
        &q08::Q8_L1,
        Evidence::new()
            .with_all(q08::SCALED_RATIO, bal_scaled.iter().copied())
            .with_all(q08::UNSCALED_RATIO, bal_unscaled.iter().copied()),
    )?;
    let (bal, unb, xr) = (bal_scaled[0], bal_unscaled[0], xavier_ratio[0]);
    ctx.note(
        "Q8.L1",
        format!(
            "Ratios at d = {d_last}: without the scale {} (theory √(2/d)), with it {} (theory √2); Xavier with the scale {} (theory √(4d/(V + d))).",
            fmt::sig(unb.point, 3), fmt::sig(bal.point, 3), fmt::sig(xr.point, 3)
        ),
    )?;

    ctx.answer(Answer::PartlyCorrect);
    ctx.key_chart("xavier_variance.png");
    ctx.in_short(format!(
        "The premise is wrong: Xavier gives a V×d embedding variance 2/(V + d), not 1/d, so × √d gives {} at V = 37,000, d = 512, not 1. With N(0, 1/d), as in the reference code and natural when the embedding is tied to the output layer, the scale gives variance 1 and matches the position code's scale (norm ratio {}). Convergence on our toy task: faster early, lower final accuracy; area gap {}, inconclusive.",
        fmt::sig(xavier_main.point, 3), fmt::sig(bal.point, 3), fmt::sig(auc_gap.point, 2)
    ))?;
    ctx.literature("Vaswani et al. 2017, section 3.4: \"In the embedding layers, we multiply those weights by √d_model.\" No reason is given; the same section shares one weight matrix between the two embedding layers and the pre-softmax linear map.");
    ctx.literature("Glorot & Bengio 2010: Var(W) = 2/(fan_in + fan_out); for a V×d embedding 2/(V + d). tensor2tensor initializes embeddings N(0, d_model^−1) and multiplies by √d_model.");
    ctx.corrected_answer(format!(
        "Xavier/Glorot initialization gives a V×d embedding variance 2/(V + d), not 1/d, so with Xavier the √d scale gives variance {} at V = {v}, d = {d_last}, not 1. Several reasons for the scale are given, and none is stated in the paper. (1) Init variance: with an N(0, 1/d) init, as in the reference implementation, the scale brings the variance to 1 (measured {}). (2) Weight tying: the paper shares the embedding matrix with the pre-softmax output layer, which wants small weights (variance about 1/d) to start with moderate logits; the √d scale lets the same matrix give unit-scale inputs. (3) Balance with the position code: sinusoidal PE entries have mean square 1/2, and with N(0, 1/d) the embedding/PE norm ratio is {} without the scale and {} with it, so without it positions would drown out token identity. Whether it helps convergence is not a general rule: in our paired toy run ({} seeds, {} steps, reversal task, untied output layer, Adam) the scale changed the area under the accuracy curve by {} {} and final accuracy by {} {}.",
        fmt::sig(xavier_main.point, 3), fmt::sig(normal[0].point, 4), fmt::sig(unb.point, 3), fmt::sig(bal.point, 3),
        seeds.len(), cfg.train.steps,
        fmt::sig(auc_gap.point, 2), fmt::interval(auc_gap.lo, auc_gap.hi), fmt::sig(acc_gap.point, 2), fmt::interval(acc_gap.lo, acc_gap.hi)
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main("q08_embedding_scale", "Q8: why multiply embeddings by √d_model? Xavier variance vs 1/d, the N(0,1/d) init, the embedding/PE norm balance, and a paired training run with and without the scale.", run)
}
