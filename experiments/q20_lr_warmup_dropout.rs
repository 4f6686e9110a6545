//! Q20. How are the learning rate and dropout set in Transformer training, where does
//! dropout sit, and what must be minded at test time?
//!
//! The seed answer is off-topic (it talks about LayerNorm), so the claims are the
//! literature's (declared in src/spec/q20.rs):
//! - Q20.L1 the Noam schedule with warmup 4000 (peak ≈ 6.99e−4 at d_model 512); warmup
//!   matters for Post-LN far more than for Pre-LN (Xiong et al. 2020);
//! - Q20.L2 (check of our code) dropout 0.1 on each sublayer's output before the
//!   residual add and the norm, and on the sums of embeddings and positions;
//! - Q20.L3 at test time dropout is off; with inverted dropout no rescaling is needed.
//!
//! Setup (src/setup/q20.rs): (a) the schedule, computed and plotted. (b) Post-LN and
//! Pre-LN 4-block models (d_model 32) on "predict the previous token", trained with and
//! without linear warmup at the same peak rate, over a grid of high peak rates and
//! seeds; decided on final held-out loss paired by seed (a run that diverged counts as
//! loss ln V), failure counts under two lines reported beside it; a sweep of the peak
//! rate for Post-LN without warmup. (c) Dropout placement against a hand-written
//! forward pass. (d) Inverted dropout's expectation, exact through one dropout + linear
//! layer (Monte Carlo error ∝ K^−0.5, over independent replicates), approximate through
//! a trained model; and models trained with dropout, evaluated with it off and on.

use transformer_claims::fmt::{interval, num, percent, plural};
use transformer_claims::prelude::*;
use transformer_claims::setup::q20::signed;
use transformer_claims::setup::q20::{self as setup, Arm, Sizes};
use transformer_claims::spec::q20;
use transformer_claims::train::schedule::Schedule;
use transformer_claims::train::tasks::PrevToken;
use transformer_claims::train::{self, TrainConfig, TrainLog};

#[derive(Serialize)]
struct Config {
    /// (d_model, warmup) pairs for the schedule chart; the first is the paper's.
    schedules: Vec<(usize, usize)>,
    schedule_steps: usize,
    schedule_stride: usize,
    /// Models of the warmup grid; task: predict the previous token x[i−1].
    sizes: Sizes,
    layers: usize,
    /// Peak learning rates of the warmup × placement grid.
    peak_lrs: Vec<f64>,
    /// Linear warmup steps (then constant) in the "with warmup" runs.
    warmup: usize,
    seeds: usize,
    train: TrainConfig,
    /// Extra peak rates for Post-LN without warmup only.
    sweep_lrs: Vec<f64>,
    sweep_seeds: usize,
    /// Dropout rate (paper: 0.1).
    p_drop: f64,
    /// Exact case: widths, pass counts K, independent replicates.
    lin_in: usize,
    lin_out: usize,
    mc_passes: Vec<usize>,
    mc_replicates: usize,
    /// Pass counts for the trained (nonlinear) model, one batch of 4 sequences.
    nonlinear_passes: Vec<usize>,
    /// Pre-LN models trained with dropout: blocks, seeds, budget.
    dropout_layers: usize,
    dropout_seeds: usize,
    dropout_train: TrainConfig,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            schedules: vec![(512, 4000), (512, 8000), (128, 4000)],
            schedule_steps: 40_000,
            schedule_stride: 200,
            sizes: Sizes {
                d_model: 32,
                heads: 4,
                vocab: 8,
                seq_len: 8,
            },
            layers: 4,
            peak_lrs: ctx.pick(vec![1e-2, 2e-2], vec![3e-3, 1e-2, 2e-2]),
            warmup: 60,
            seeds: ctx.pick(4, 10),
            train: TrainConfig {
                steps: ctx.pick(150, 250),
                batch: 16,
                lr: 2e-2,
                beta2: 0.98,
                eval_every: 20,
                eval_size: 64,
                ..TrainConfig::default()
            },
            sweep_lrs: ctx.pick(vec![], vec![1e-3, 4e-2]),
            sweep_seeds: 2,
            p_drop: 0.1,
            lin_in: 64,
            lin_out: 16,
            mc_passes: vec![10, 100, 1000, 10_000],
            mc_replicates: 10,
            nonlinear_passes: ctx.pick(vec![10, 100], vec![10, 100, 1000]),
            dropout_layers: 2,
            dropout_seeds: 4,
            dropout_train: TrainConfig {
                steps: ctx.pick(150, 200),
                batch: 16,
                lr: 1e-2,
                beta2: 0.98,
                schedule: Schedule::Warmup { warmup: 20 },
                eval_every: 40,
                eval_size: 128,
                ..TrainConfig::default()
            },
        }
    }
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let z = cfg.sizes;
    let ln_v = (z.vocab as f64).ln();
    let task = PrevToken {
        vocab: z.vocab,
        len: z.seq_len,
    };

    // (a) The schedule.
    ctx.table(
        "schedule.csv",
        &setup::schedule_table(&cfg.schedules, cfg.schedule_steps, cfg.schedule_stride),
    )?;
    ctx.chart(
        ChartSpec::line(
            "schedule.png",
            "schedule.csv",
            "lrate = d_model^−0.5 · min(step^−0.5, step · warmup^−1.5)",
            "step",
            &["lrate"],
        )
        .series("schedule")
        .no_markers()
        .labels("training step", "learning rate"),
    )?;
    let (d0, w0) = cfg.schedules[0];
    let peak = setup::schedule_peak(d0, w0);

    // (b) Warmup × placement over the grid of peak rates, then the Post-LN sweep.
    let train_arm = |a: &Arm, seed: u64| -> Result<TrainLog> {
        let params = Params::new(seed);
        let net = setup::build(&z, a.placement, cfg.layers, 0.0, seed, &params)?;
        let schedule = match a.warmup {
            true => Schedule::Warmup { warmup: cfg.warmup },
            false => Schedule::Constant,
        };
        let tc = TrainConfig {
            lr: a.lr,
            schedule,
            ..cfg.train.clone()
        };
        Ok(train::trainer::train(&net, &params, &task, &tc, seed)?)
    };
    let seeds = train::seeds::seed_list(ctx.seed, cfg.seeds);
    let sw = kit::sweep(
        ctx,
        "warmup grid",
        &setup::grid(&cfg.peak_lrs),
        &seeds,
        train_arm,
    )?;
    let g = setup::Grid::new(&sw, &cfg.peak_lrs, ln_v)?;
    let mut extra = vec![];
    if !cfg.sweep_lrs.is_empty() {
        let arms = setup::post_ln_no_warmup(&cfg.sweep_lrs);
        let sweep_seeds = train::seeds::seed_list(ctx.seed, cfg.sweep_seeds);
        let lr_sw = kit::sweep(ctx, "peak-rate sweep", &arms, &sweep_seeds, train_arm)?;
        let m = lr_sw.metric(|l| setup::loss_in_ln_v(l, ln_v));
        extra = arms.iter().map(|a| (a.lr, m.get(a).to_vec())).collect();
    }
    ctx.table("warmup_curves.csv", &sw.curves_table("arm"))?;
    ctx.table("warmup_final.csv", &g.final_table(&sw))?;
    ctx.table("warmup_summary.csv", &g.summary_table(&q20::FAIL_LINES))?;
    ctx.table("warmup_effect.csv", &g.effect_table())?;
    ctx.table(
        "lr_sweep_summary.csv",
        &g.sweep_table(&extra, &q20::FAIL_LINES),
    )?;
    for c in setup::warmup_charts(cfg.layers, cfg.seeds, q20::WARMUP_MARGIN, q20::FAIL_LINES) {
        ctx.chart(c)?;
    }

    // Q20.L1.
    ctx.decide(
        &q20::Q20_L1,
        Evidence::new()
            .exact(q20::PEAK_ERR, (peak.value - 6.99e-4).abs() / 6.99e-4)
            .exact(q20::PEAK_STEP, peak.step as f64 - w0 as f64)
            .with(q20::WARMUP_GAP, g.gaps[g.best])
            .with(q20::FAIL_GAP_002, g.fail_gap(0.02, q20::FAIL_LINES[0])?),
    )?;
    let fb: Vec<[usize; 4]> = q20::FAIL_LINES
        .iter()
        .map(|&l| g.fails(g.best, l))
        .collect();
    let per_line = |i: usize| {
        format!("at {} · ln V, Post-LN failed {} of {} runs without warmup and {} with it, Pre-LN {} and {}", num(q20::FAIL_LINES[i]), fb[i][0], cfg.seeds, fb[i][1], fb[i][2], fb[i][3])
    };
    let per_rate: Vec<String> = (0..cfg.peak_lrs.len())
        .map(|li| {
            format!(
                "lr {}: Post-LN {}, Pre-LN {}, Post-LN minus Pre-LN {} {}",
                num(cfg.peak_lrs[li]),
                num(stats::mean(&g.post[li])),
                num(stats::mean(&g.pre[li])),
                num(g.gaps[li].point),
                interval(g.gaps[li].lo, g.gaps[li].hi)
            )
        })
        .collect();
    ctx.note("Q20.L1", format!(
        "Schedule peak {} at step {}. Warmup's effect on final loss (no warmup − warmup, in units of ln V = {}, mean over {}): {}. Decided at lr {}. Failure counts there: {}; {}. The per-seed outcome is bimodal: with warmup, a Post-LN run either learns the task or stays stuck part-way. The trainer uses Adam ε 1e−8 (paper 1e−9) and linear warmup then constant (not the rsqrt decay) so that both arms share the peak.{}",
        num(peak.value), peak.step, num(ln_v), plural(cfg.seeds, "seed", "seeds"), per_rate.join("; "), num(cfg.peak_lrs[g.best]), per_line(0), per_line(1), if ctx.quick() { " Locked in full mode only: at the quick budget (150 steps) Post-LN with warmup is still part-way on most seeds, and 4 seeds give a t interval too wide for the margin; held-out quick seeds 1000–1004 all came out inconclusive." } else { "" }
    ))?;

    // (c) Dropout placement.
    let st = setup::dropout_structure(&z, cfg.layers, cfg.p_drop, ctx.seed, &task)?;
    ctx.table("dropout_structure.csv", &st.table())?;
    ctx.decide(
        &q20::Q20_L2,
        Evidence::new()
            .exact(q20::STRUCT_DIFF, st.diff)
            .exact(q20::EVAL_DIFF, st.eval_diff),
    )?;
    ctx.note("Q20.L2", format!(
        "A check of the model core (the placement is a design fact of the paper, not a measurable effect): {} Post-LN blocks, p = {}; zeroed share of a 100 000-entry mask {}; eval mode against the p = 0 model, largest difference {}.",
        cfg.layers, num(cfg.p_drop), num(st.zero_share), num(st.eval_diff)
    ))?;

    // (d1) Exact case: one dropout + linear layer, over replicates.
    let lin = setup::linear_mc(
        cfg.lin_in,
        cfg.lin_out,
        cfg.p_drop,
        &cfg.mc_passes,
        cfg.mc_replicates,
        ctx.seed,
    )?;

    let lin_slope = stats::mean_ci(&lin.slopes, 0.95);

    // (d2) Models trained with dropout: test-time dropout, and the nonlinear gap.
    let dseeds = train::seeds::seed_list(ctx.seed, cfg.dropout_seeds);
    let pb = ctx.progress(dseeds.len() as u64, "dropout models");
    let runs = dseeds
        .iter()
        .map(|&s| {
            let r = setup::dropout_run(
                &z,
                cfg.dropout_layers,
                cfg.p_drop,
                &cfg.dropout_train,
                &task,
                &cfg.nonlinear_passes,
                s,
            );
            pb.inc(1);
            r
        })
        .collect::<Result<Vec<_>>>()?;
    pb.finish_and_clear();
    ctx.table(
        "dropout_expectation.csv",
        &setup::expectation_table(&lin, &runs, &cfg.nonlinear_passes),
    )?;
    ctx.table(
        "dropout_test_modes.csv",
        &setup::modes_table(&dseeds, &runs),
    )?;
    let tm: Vec<setup::TestModes> = runs.iter().map(|r| r.modes).collect();
    let col = |f: fn(&setup::TestModes) -> f64| tm.iter().map(f).collect::<Vec<f64>>();
    let (l_off, l_on, a_off, a_on) = (
        col(|m| m.loss_off),
        col(|m| m.loss_on),
        col(|m| m.acc_off),
        col(|m| m.acc_on),
    );
    ctx.table(
        "dropout_test_accuracy.csv",
        &setup::test_mode_table("accuracy", &a_off, &a_on),
    )?;
    ctx.table(
        "dropout_test_loss.csv",
        &setup::test_mode_table("loss", &l_off, &l_on),
    )?;
    for c in setup::dropout_charts(cfg.p_drop, cfg.dropout_seeds, z.vocab, 0.03) {
        ctx.chart(c)?;
    }
    let loss_cost = stats::paired_diff(&l_on, &l_off, 0.95);
    let acc_cost = stats::paired_diff(&a_off, &a_on, 0.95);
    let each: Vec<f64> = l_on.iter().zip(&l_off).map(|(a, b)| a - b).collect();
    ctx.decide(
        &q20::Q20_L3,
        Evidence::new()
            .with(q20::LIN_ERR, lin.last_error())
            .with(q20::LIN_SLOPE, lin_slope)
            .with(q20::LOSS_COST, loss_cost)
            .with(q20::ACC_COST, acc_cost)
            .with(q20::LOSS_COST_EACH, Estimate::median_minmax(&each)),
    )?;
    let nl = |i: usize| {
        format!(
            "{} at K = {}",
            num(stats::mean(
                &runs.iter().map(|r| r.nonlinear[i]).collect::<Vec<_>>()
            )),
            cfg.nonlinear_passes[i]
        )
    };
    ctx.note("Q20.L3", format!(
        "Exact at one dropout + linear layer ({} replicates): slope {} {}; dropout without the 1/(1 − p) scale and without test-time rescaling stays off by {} ≈ p. Through the trained nonlinear Transformer the mean of K passes only approximates eval mode: relative gap {} and {} (a bias: it shrinks far more slowly than K^−0.5). Dropout left on at test ({}): loss {} {}, accuracy {} {}; {} of predictions change between two dropout-on passes.",
        cfg.mc_replicates, num(lin_slope.point), interval(lin_slope.lo, lin_slope.hi), num(lin.unscaled_err), nl(0), nl(cfg.nonlinear_passes.len() - 1),
        plural(cfg.dropout_seeds, "seed", "seeds"), signed(loss_cost.point), interval(loss_cost.lo, loss_cost.hi), signed(-acc_cost.point), interval(-acc_cost.hi, -acc_cost.lo), percent(stats::mean(&col(|m| m.flip_share)))
    ))?;

    ctx.answer(Answer::OffTopic);
    ctx.key_chart("warmup_effect.png");
    let (bp, bpre) = (stats::mean(&g.post[g.best]), stats::mean(&g.pre[g.best]));
    ctx.in_short(format!(
        "The rate follows lrate = d_model^−0.5 · min(step^−0.5, step · warmup^−1.5): linear warmup over 4000 steps to {} (d_model 512), then ∝ step^−0.5; Adam β₂ 0.98. Warmup matters for Post-LN: it lowered final loss by {} · ln V (Pre-LN {}), though with warmup {} of {} Post-LN runs stayed above 0.5 · ln V. Dropout 0.1 follows each sublayer, before the residual add, and the embedding + position sums; it is off at test.",
        num(peak.value), num(bp), num(bpre), fb[1][1], cfg.seeds
    ))?;
    ctx.section(
        "How the learning rate and dropout are set",
        setup::settings_section(peak.value, acc_cost.point),
    );
    ctx.literature("Vaswani et al. 2017, 5.3: Adam β₁ 0.9, β₂ 0.98, ε 1e−9; lrate = d_model^−0.5 · min(step^−0.5, step · warmup_steps^−1.5), warmup_steps 4000. 5.4: residual dropout P_drop = 0.1 on each sublayer output before it is added and normalized, and on the sums of embeddings and positional encodings.");
    ctx.literature("Xiong et al. 2020 (On Layer Normalization in the Transformer Architecture): Post-LN has large expected gradients near the output at initialization, so it needs warmup; Pre-LN trains without warmup.");
    ctx.literature("Srivastava et al. 2014: dropout; with inverted dropout (scale kept units by 1/(1−p) in training) the network is used unchanged at test time.");
    ctx.corrected_answer(format!(
        "The learning rate follows the Noam schedule lrate = d_model^−0.5 · min(step^−0.5, step · warmup^−1.5): linear warmup for 4000 steps to a peak of {} at d_model 512, then decay ∝ step^−0.5, with Adam (β₁ 0.9, β₂ 0.98, ε 1e−9). Warmup matters mainly for the original Post-LN arrangement: in {}-block toy models (d_model 32, a previous-token task) at peak lr {}, warmup lowered Post-LN's final loss by {} · ln V on average against {} for Pre-LN; Post-LN without warmup ended at uniform output on {} of {} seeds, with warmup {} runs still ended above 0.5 · ln V. Dropout 0.1 is applied to every sublayer output before the residual add and the norm, and to embeddings + positions. At test time dropout is switched off; with inverted dropout (scaling by 1/(1−p) during training) no rescaling is needed — the eval output is exactly the expectation for a linear layer, approximately through the network — and leaving it on costs accuracy ({}) and makes predictions random.",
        num(peak.value), cfg.layers, num(cfg.peak_lrs[g.best]), num(bp), num(bpre), fb[0][0], cfg.seeds, fb[1][1], num(acc_cost.point)
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q20_lr_warmup_dropout",
        "Q20: learning-rate schedule and dropout. Plots the Noam schedule, trains Post-LN and Pre-LN models with and without warmup over a grid of high peak rates, checks dropout placement, and measures inverted dropout's expectation and the cost of dropout at test.",
        run,
    )
}
