//! Q10. Other position encodings.
//!
//! Claims (declared in src/spec/q10.rs):
//! - Q10.1 Relative position representations (Shaw et al. 2018): learned terms indexed
//!   by the clipped distance j − i, added to the keys in the scores and to the values.
//! - Q10.2 Complex-valued word embeddings (Wang et al. 2020): f(j, p) = r_j·e^{i(ω_j·p + θ_j)},
//!   so f(j, p + k) is an element-wise rotation of f(j, p).
//! - Q10.L1 On copy-4-back (distance 4, seen in training) relative encodings keep their
//!   accuracy past the training length better than absolute ones (revised rule; the
//!   original, stricter rule is decided beside it).
//! - Q10.L2 Rotary encoding makes q·k depend on the relative position only.
//! - Q10.L3 The same comparison on a task that needs distances never seen in training.
//!
//! Setup (src/setup/q10.rs): six encodings in one-block causal Pre-LN models trained on
//! lengths 8–32 (L = 32) and tested up to 4L on two tasks: "copy the token 4 back" and
//! "output the first token" (scored at positions ≥ L past L). Rotary angles are computed
//! in f64 and rounded once to f32, as are the complex embedding's.

use transformer_claims::fmt::{num, sig};
use transformer_claims::prelude::*;
use transformer_claims::row;
use transformer_claims::setup::q10::{
    margin_table, means_text, rope_shift_test, train_and_test, Accuracy, Encoding, NetConfig,
    PositionTask, Target, TaskRuns,
};
use transformer_claims::spec::q10;
use transformer_claims::train::TrainConfig;

#[derive(Serialize)]
struct Config {
    /// Rotary shift test: width, random (q, k, m, n) draws, base positions in 0..range,
    /// common shifts.
    shift_d: usize,
    shift_pairs: usize,
    shift_base_range: usize,
    shifts: Vec<usize>,
    vocab: usize,
    /// Copy task lag (target at t is the token at t − lag).
    lag: usize,
    /// Training lengths (uniform per batch); L = the longest.
    train_min_len: usize,
    train_max_len: usize,
    /// Test lengths (multiples of L).
    test_lens: Vec<usize>,
    /// Model (one 32-wide head: with two 16-wide heads a first run had rotary
    /// extrapolate worse, 0.83 / 0.56 at 2L / 4L over 2 seeds).
    net: NetConfig,
    seeds: usize,
    train: TrainConfig,
    /// Held-out sequences per test length.
    test_size: usize,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        let test_lens = vec![16, 32, 64, 128];
        Config {
            shift_d: 64,
            shift_pairs: ctx.pick(200, 1000),
            shift_base_range: 64,
            shifts: vec![1, 16, 256, 1024, 4096, 16384, 65536],
            vocab: 16,
            lag: 4,
            train_min_len: 8,
            train_max_len: 32,
            net: NetConfig {
                vocab: 16,
                max_len: 128,
                d_model: 32,
                heads: 1,
                layers: 1,
                d_ff: 64,
                rope_base: 10000.0,
                rel_max_dist: 16,
            },
            test_lens,
            seeds: ctx.pick(1, 5),
            train: TrainConfig {
                steps: ctx.pick(250, 400),
                batch: 32,
                lr: 1e-2,
                eval_every: 50,
                eval_size: 64,
                ..TrainConfig::default()
            },
            test_size: ctx.pick(64, 256),
        }
    }
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let l = cfg.train_max_len;
    let smax = *cfg.shifts.last().context("shifts")?;

    // ------------------------------------------------ rotary shift test (Q10.L2)
    let shift = rope_shift_test(
        &mut seeded(ctx.seed, 11),
        cfg.shift_d,
        cfg.shift_pairs,
        cfg.shift_base_range,
        &cfg.shifts,
        cfg.net.rope_base,
    )?;

    // ------------------------------------------------ training, two tasks
    let seeds = transformer_claims::train::seeds::seed_list(ctx.seed, cfg.seeds);
    let task = |target| PositionTask {
        target,
        vocab: cfg.vocab,
        min_len: cfg.train_min_len,
        max_len: l,
        score_from: 0,
    };
    let positions: Vec<usize> = (0..=cfg.net.max_len).collect();
    let rot_at = (positions.as_slice(), cfg.shifts.as_slice());
    let copy = train_and_test(
        ctx,
        "copy-4-back",
        &task(Target::Lag(cfg.lag)),
        cfg.net,
        &cfg.train,
        &seeds,
        &cfg.test_lens,
        usize::MAX, // copy-4-back: every position scored at every length
        cfg.test_size,
        60,
        rot_at,
    )?;
    let first = train_and_test(
        ctx,
        "first token",
        &task(Target::First),
        cfg.net,
        &cfg.train,
        &seeds,
        &cfg.test_lens,
        l, // first token: past L only positions ≥ L (distances ≥ L)
        cfg.test_size,
        160,
        rot_at,
    )?;

    // Tables and charts.
    let mut shift_t = Table::new(&["shift", "method", "max_rel_deviation"]);
    for r in &shift {
        shift_t.push(row![r.shift, "rotary, f64 angles", r.rope_f64]);
        shift_t.push(row![r.shift, "rotary, f32 angles", r.rope_f32]);
        shift_t.push(row![r.shift, "additive sinusoidal", r.additive]);
    }
    ctx.table("shift_test.csv", &shift_t)?;
    copy.sweep.write(ctx, "copy_back", "encoding")?;
    first.sweep.write(ctx, "first_token", "encoding")?;
    for (name, runs, title) in [
        (
            "copy_back",
            &copy,
            format!("Copy the token {} back", cfg.lag),
        ),
        (
            "first_token",
            &first,
            "Output the first token (positions ≥ L scored past L)".into(),
        ),
    ] {
        ctx.table(&format!("{name}_accuracy.csv"), &runs.acc.summary())?;
        ctx.chart(
            ChartSpec::line(
                &format!("{name}_accuracy.png"),
                &format!("{name}_accuracy.csv"),
                &format!(
                    "{title}; trained at lengths {}–{l} (mean, min–max over seeds)",
                    cfg.train_min_len
                ),
                "length",
                &["accuracy"],
            )
            .interval("accuracy", "accuracy_lo", "accuracy_hi")
            .series("encoding")
            .y_range(0.0, 1.0)
            .labels("test length (L = 32)", "accuracy"),
        )?;
    }
    let margins = margin_table(&copy.acc, &first.acc, l);
    ctx.table("extrapolation_margin.csv", &margins.table)?;
    ctx.chart(
        ChartSpec::line(
            "extrapolation_margin.png",
            "extrapolation_margin.csv",
            "Relative − absolute accuracy past the training length (mean, min–max over seeds)",
            "length",
            &["margin"],
        )
        .interval("margin", "margin_lo", "margin_hi")
        .series("rule")
        .reference(0.2, "margin 0.2")
        .reference(0.0, "no difference")
        .labels("test length (L = 32)", "accuracy difference"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "shift_test.png",
            "shift_test.csv",
            "Score change when both positions move by s (worst of the draws)",
            "shift",
            &["max_rel_deviation"],
        )
        .series("method")
        .log_x()
        .log_y()
        .y_floor(1e-9)
        .reference(1e-5, "tolerance 1e−5")
        .labels("common shift s of m and n", "|Δ score| / (|q||k|)"),
    )?;
    ctx.key_chart("copy_back_accuracy.png");

    // ------------------------------------------------ verdicts
    let dead = |runs: &TaskRuns, e: Encoding| -> Vec<String> {
        runs.dead
            .iter()
            .filter(|(x, _)| *x == e)
            .flat_map(|(_, v)| v.clone())
            .collect()
    };
    let rel_shift = |e: Encoding| -> f64 {
        [&copy, &first]
            .iter()
            .flat_map(|r| r.rel_shift.iter().filter(|(x, _)| *x == e).map(|(_, d)| *d))
            .fold(0.0, f64::max)
    };
    let over_seeds = |v: &[f64]| {
        let r = Estimate::median_minmax(v);
        Estimate {
            point: stats::mean(v),
            ..r
        }
    };
    let shaw_l = copy.acc.at(Encoding::Shaw, l);
    let shaw_dead = [dead(&copy, Encoding::Shaw), dead(&first, Encoding::Shaw)].concat();
    ctx.decide(
        &q10::Q10_1,
        Evidence::new()
            .exact(q10::SHAW_SHIFT, rel_shift(Encoding::Shaw))
            .exact(q10::SHAW_DEAD, shaw_dead.len() as f64)
            .with(q10::SHAW_ACC, over_seeds(shaw_l)),
    )?;
    ctx.note("Q10.1", format!(
        "Both of Shaw et al.'s terms are implemented: a^K in the scores and a^V in the values, one vector per clipped distance |j − i| ≤ {} shared by the heads (src/setup/q10.rs), with no other position information. Accuracy at L = {l}, 2L, 4L: {}, {}, {} (mean over {}). The scalar per-head bias on the scores alone (T5 style) scores {}, {}, {}; its bias also depends on j − i only (max deviation {}).",
        cfg.net.rel_max_dist,
        num(copy.acc.mean(Encoding::Shaw, l)), num(copy.acc.mean(Encoding::Shaw, 2 * l)), num(copy.acc.mean(Encoding::Shaw, 4 * l)),
        fmt_seeds(seeds.len()),
        num(copy.acc.mean(Encoding::RelativeBias, l)), num(copy.acc.mean(Encoding::RelativeBias, 2 * l)), num(copy.acc.mean(Encoding::RelativeBias, 4 * l)),
        num(rel_shift(Encoding::RelativeBias)),
    ))?;

    let complex_dead = [
        dead(&copy, Encoding::Complex),
        dead(&first, Encoding::Complex),
    ]
    .concat();
    ctx.decide(
        &q10::Q10_2,
        Evidence::new()
            .exact(q10::ROTATION, copy.rotation.max(first.rotation))
            .exact(q10::COMPLEX_DEAD, complex_dead.len() as f64),
    )?;
    ctx.note("Q10.2", format!(
        "Amplitude r, frequency ω and phase θ per word and complex channel, all trained (16 channels as 32 real ones; angle ω·p + θ and its cosine and sine in f64, rounded once to f32). Checked on the trained embeddings of both tasks for all {} words, positions 0–{} and shifts up to {smax}. Trained beside the others on copy-4-back, the complex embedding scores {}, {}, {} at L, 2L, 4L (sinusoidal: {} at 4L).",
        cfg.vocab, cfg.net.max_len,
        num(copy.acc.mean(Encoding::Complex, l)), num(copy.acc.mean(Encoding::Complex, 2 * l)), num(copy.acc.mean(Encoding::Complex, 4 * l)),
        num(copy.acc.mean(Encoding::Sinusoidal, 4 * l)),
    ))?;

    let four = [
        Encoding::Learned,
        Encoding::Sinusoidal,
        Encoding::Rotary,
        Encoding::RelativeBias,
    ];
    let at_l: Vec<f64> = four
        .iter()
        .flat_map(|&e| copy.acc.at(e, l).to_vec())
        .collect();
    ctx.decide(
        &q10::Q10_L1,
        Evidence::new()
            .with(q10::ALL_LEARNED, over_seeds(&at_l))
            .with(q10::CLASS_MARGIN, over_seeds(&margins.copy_class))
            .with(q10::STRICT_MARGIN, over_seeds(&margins.copy_strict)),
    )?;
    let (ws, wl) = margins.worst_strict;
    ctx.note("Q10.L1", format!(
        "Copy-4-back needs distance 4 at every length: a relative encoding never meets a distance it has not seen in training, so this tests longer inputs, not longer distances (Q10.L3 does that). Worst seed under the original rule: min(rotary, relative bias) − max(learned, sinusoidal) = {} at seed {}, length {wl}: rotary's accuracy past L varies by seed (worst seed {} at 4L), the relative bias is stable. Mean accuracy at L / 2L / 4L: {}.",
        sig(margins.copy_strict.iter().cloned().fold(f64::INFINITY, f64::min), 2),
        seeds[ws],
        sig(copy.acc.at(Encoding::Rotary, 4 * l).iter().cloned().fold(1.0, f64::min), 2),
        means_text(&copy.acc, l),
    ))?;

    let worst_shift = shift.iter().map(|r| r.rope_f64).fold(0.0, f64::max);
    let last = shift.last().context("shifts")?;
    ctx.decide(
        &q10::Q10_L2,
        Evidence::new().exact(q10::ROPE_DEVIATION, worst_shift),
    )?;
    ctx.note("Q10.L2", format!(
        "d = {}, {} draws; angles p·θ_i with cosine and sine in f64, rounded once to f32. Against exact f64 scores the error is ≤ {}. With angles computed in f32 the deviation grows with the absolute position: {} at shift {smax}. An additive sinusoidal code, (q + PE_m)·(k + PE_n), deviates by ≥ {} at every shift.",
        cfg.shift_d, cfg.shift_pairs,
        sig(shift.iter().map(|r| r.rope_vs_exact).fold(0.0, f64::max), 2),
        sig(last.rope_f32, 2),
        sig(shift.iter().map(|r| r.additive).fold(f64::INFINITY, f64::min), 2),
    ))?;

    ctx.decide(
        &q10::Q10_L3,
        Evidence::new().with(q10::FIRST_MARGIN, over_seeds(&margins.first_class)),
    )?;
    ctx.note("Q10.L3", format!(
        "At positions ≥ L the first token lies at a distance ≥ {l}, never seen in training. Mean accuracy at L (all positions) / 2L / 4L (positions ≥ L): {}. The relative bias and Shaw's terms cannot tell distances > {} apart (they share one term).",
        means_text(&first.acc, l), cfg.net.rel_max_dist,
    ))?;

    report(
        ctx,
        &copy.acc,
        &first.acc,
        l,
        worst_shift,
        last.rope_f32,
        smax,
    )
}

fn fmt_seeds(n: usize) -> String {
    transformer_claims::fmt::plural(n, "seed", "seeds")
}

/// Answer rating, literature, in-short, pros and cons, corrected answer.
fn report(
    ctx: &mut Ctx,
    copy: &Accuracy,
    first: &Accuracy,
    l: usize,
    rope_dev: f64,
    rope_f32: f64,
    smax: usize,
) -> Result<()> {
    use Encoding::*;
    let c = |e, len| sig(copy.mean(e, len), 2);
    let f = |e, len| sig(first.mean(e, len), 2);
    ctx.answer(Answer::Incomplete);
    ctx.literature("Shaw et al. 2018: learned relative-position representations a^K_ij, a^V_ij (clipped at distance k) added in the scores and values of self-attention.");
    ctx.literature("Wang et al. 2020 (ICLR): complex-valued word embeddings r_j·e^{i(ω_j·pos + θ_j)}; the embedding at pos + k is a fixed element-wise rotation of the one at pos.");
    ctx.literature("Raffel et al. 2020 (T5): a learned scalar bias per head and (bucketed) relative distance added to the attention logits.");
    ctx.literature("Su et al. 2021 (RoFormer): rotating q and k by their positions makes q_m·k_n a function of q, k and n − m only.");
    ctx.literature("Press et al. 2022 (ALiBi), language models trained at length L: sinusoidal and rotary extrapolate poorly (perplexity rises soon past L, rotary only a little later than sinusoidal); the T5 bias extrapolates better but is slower; ALiBi's linear bias holds up far past L. A learned absolute table has no rows past L at all.");
    ctx.in_short(format!(
        "Relative encodings add learned terms indexed by the offset j − i to the scores (Shaw et al.: also values); complex word embeddings make a word's vector at p + k an exact rotation of its vector at p. Trained at lengths ≤ {l}, relative encodings kept copy-4-back at 4L (relative bias {}, rotary {}; learned {}, sinusoidal {}), a distance seen in training. Outputting the first token past L: {} and {} (absolute {}, {}).",
        c(RelativeBias, 4 * l), c(Rotary, 4 * l), c(Learned, 4 * l), c(Sinusoidal, 4 * l),
        f(RelativeBias, 4 * l), f(Rotary, 4 * l), f(Learned, 4 * l), f(Sinusoidal, 4 * l),
    ))?;
    ctx.section("Advantages and disadvantages", format!(
        "- **Relative (Shaw et al.; T5 bias)**\n  - + No absolute position needed: trained terms depend on j − i only, and copy-4-back is learned with nothing else (Q10.1).\n  - + Inputs longer than in training are fine as long as the distances are familiar: {} at 4L for the scalar bias, {} for Shaw's form (Q10.L1).\n  - − Distances past the clip K share one term, so long distances cannot be told apart: on the first-token task past L the scalar bias scores {} at 4L (Q10.L3).\n  - − An extra (T × T) gather per layer, and with value terms a second one (literature: Shaw et al. 2018 report about 7% fewer training steps per second).\n- **Rotary (RoPE)**\n  - + The score depends on n − m only, to {} relative error with f64 angles (Q10.L2); no extra parameters.\n  - − In f32 the angles lose precision at large positions ({} at shift {smax}) (Q10.L2 note).\n  - − Extrapolation is unreliable: its worst seed falls to {} at 4L on copy-4-back (Q10.L1), and in language models it extrapolates poorly (literature: Press et al. 2022).\n- **Complex word embeddings (the seed's 复数域 technique)**\n  - + Position is generated with the word: f(j, p + k) is an exact element-wise rotation of f(j, p) (Q10.2), with word-specific frequencies.\n  - − Three tables (amplitude, frequency, phase) per word: 1.5× the parameters of a real embedding of the same width (counted: 3 × vocabulary × d/2).\n  - − It is an absolute code (the phase depends on p, not on offsets): at 4L on copy-4-back it scores {} against sinusoidal {} (Q10.2 note).\n- **Absolute (learned, sinusoidal)**\n  - + Simplest, and a fixed absolute position such as the first token is coded directly: on the first-token task they score {} (learned) and {} (sinusoidal) at 4L (Q10.L3).\n  - − Inputs past the training length break copy-4-back: {} and {} at 4L (Q10.L1); a learned table has no rows past its length (literature).",
        c(RelativeBias, 4 * l), c(Shaw, 4 * l), f(RelativeBias, 4 * l),
        sig(rope_dev, 2), sig(rope_f32, 2),
        sig(copy.at(Rotary, 4 * l).iter().cloned().fold(1.0, f64::min), 2),
        c(Complex, 4 * l), c(Sinusoidal, 4 * l),
        f(Learned, 4 * l), f(Sinusoidal, 4 * l),
        c(Learned, 4 * l), c(Sinusoidal, 4 * l),
    ));
    ctx.corrected_answer(format!(
        "The seed answer names the families but not their pros and cons. Relative encodings (Shaw et al.) add learned vectors indexed by the clipped offset j − i to the keys in the scores and to the values; T5 keeps only a scalar bias on the scores. The seed's third technique, complex word embeddings (Wang et al. 2020), gives word j at position p the vector r_j·e^{{i(ω_j·p + θ_j)}}, so its vector at any other position is an element-wise rotation of this one (measured exact to float precision); rotary encoding (RoPE) applies the same rotation idea to q and k so the score depends on n − m only. On a toy copy-4-back task trained at lengths ≤ {l}, relative encodings kept their accuracy on 4× longer inputs (relative bias {}, Shaw {}, rotary {} with worst seed {}) while absolute ones fell (learned {}, sinusoidal {}, complex {}); but that task only needs a distance seen in training. When the needed distance grows past anything seen in training (output the first token, scored past L), the relative encodings scored {} (relative bias) and {} (rotary) at 4L against {} (learned) and {} (sinusoidal). In language models rotary and sinusoidal encodings extrapolate poorly (Press et al. 2022), so a toy copy task does not show that relative encodings extrapolate in general.",
        c(RelativeBias, 4 * l), c(Shaw, 4 * l), c(Rotary, 4 * l),
        sig(copy.at(Rotary, 4 * l).iter().cloned().fold(1.0, f64::min), 2),
        c(Learned, 4 * l), c(Sinusoidal, 4 * l), c(Complex, 4 * l),
        f(RelativeBias, 4 * l), f(Rotary, 4 * l), f(Learned, 4 * l), f(Sinusoidal, 4 * l),
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q10_relative_pe",
        "Q10: relative, rotary and complex-valued position encodings. Rotary shift test, complex-embedding rotation test, and six encodings trained on copy-4-back and output-the-first-token at lengths ≤ L and tested up to 4L.",
        run,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use transformer_claims::core::fused::split_heads;
    use transformer_claims::setup::q10::{complex_embedding, net, shaw_attention, Net, ENCODINGS};
    use transformer_claims::train::trainer::{masked_loss, vars_without_gradient};
    use transformer_claims::train::{SeqModel, Task};

    #[test]
    fn copy_back_targets() {
        let t = PositionTask {
            target: Target::Lag(2),
            vocab: 5,
            min_len: 6,
            max_len: 6,
            score_from: 0,
        };
        let b = t.batch(&mut seeded(0, 0), 3, &Device::Cpu).unwrap();
        let x = b.x.to_vec2::<u32>().unwrap();
        let y = b.y.to_vec2::<u32>().unwrap();
        let w = b.weight.to_vec2::<f32>().unwrap();
        for r in 0..3 {
            for i in 0..6 {
                if i >= 2 {
                    assert_eq!(y[r][i], x[r][i - 2]);
                    assert_eq!(w[r][i], 1.0);
                } else {
                    assert_eq!(w[r][i], 0.0);
                }
            }
        }
    }

    #[test]
    fn first_token_targets_and_scoring() {
        let t = PositionTask {
            target: Target::First,
            vocab: 7,
            min_len: 8,
            max_len: 8,
            score_from: 0,
        }
        .at(8, 5);
        let b = t.batch(&mut seeded(1, 0), 2, &Device::Cpu).unwrap();
        let x = b.x.to_vec2::<u32>().unwrap();
        let y = b.y.to_vec2::<u32>().unwrap();
        let w = b.weight.to_vec2::<f32>().unwrap();
        for r in 0..2 {
            for i in 0..8 {
                assert_eq!(w[r][i], if i >= 5 { 1.0 } else { 0.0 });
                if i >= 5 {
                    assert_eq!(y[r][i], x[r][0]);
                }
            }
        }
    }

    /// The defining property of complex embeddings: f(j, p + k) is f(j, p) rotated
    /// element-wise by ω_j·k, to f32 precision, for every word, also far out.
    #[test]
    fn complex_embedding_shifts_by_rotation() {
        let p = Params::new(3);
        let e = complex_embedding(11, 16, p.vb()).unwrap();
        let positions: Vec<usize> = (0..40).collect();
        let err = e
            .rotation_error(&positions, &[1, 3, 17, 1000, 65536])
            .unwrap();
        assert!(err < 1e-6, "rotation error {err}");
        // And it is not a trivial identity: shifting without the rotation is far off.
        let w = Tensor::new(&[4u32], &Device::Cpu).unwrap();
        let a = e.embed_at(&w, &[2]).unwrap();
        let b = e.embed_at(&w, &[3]).unwrap();
        let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() > 1e-2);
    }

    fn small(enc: Encoding) -> (Params, Net) {
        let p = Params::new(5);
        let c = NetConfig {
            vocab: 6,
            max_len: 12,
            d_model: 8,
            heads: 2,
            layers: 2,
            d_ff: 16,
            rope_base: 10000.0,
            rel_max_dist: 3,
        };
        let n = net(enc, c, p.vb()).unwrap();
        (p, n)
    }

    /// Every trainable variable of every encoding gets a non-zero gradient.
    #[test]
    fn every_variable_gets_a_gradient() {
        let task = PositionTask {
            target: Target::Lag(2),
            vocab: 6,
            min_len: 10,
            max_len: 10,
            score_from: 0,
        };
        for enc in ENCODINGS {
            let (p, n) = small(enc);
            let b = task.batch(&mut seeded(0, 9), 4, &Device::Cpu).unwrap();
            let (loss, _, _) = masked_loss(&n.logits(&b, true).unwrap(), &b).unwrap();
            let dead = vars_without_gradient(&p, &loss).unwrap();
            assert!(dead.is_empty(), "{enc}: no gradient for {dead:?}");
        }
    }

    /// Shaw attention equals a direct loop over (i, j) with both terms.
    #[test]
    fn shaw_attention_matches_a_loop() {
        let (_, n) = small(Encoding::Shaw);
        let Net::Own(m) = &n else { panic!() };
        let dev = Device::Cpu;
        let mut s = m.shaw[0].clone();
        let mut r = seeded(7, 0);
        let rows = 2 * s.max_dist + 1;
        let h = m.blocks[0].attn.mha.cfg.heads;
        let dk = m.blocks[0].attn.mha.cfg.d_k;
        s.key = transformer_claims::rng::randn(&mut r, &[rows, dk], 1.0, &dev).unwrap();
        s.value = transformer_claims::rng::randn(&mut r, &[rows, dk], 1.0, &dev).unwrap();
        let x = transformer_claims::rng::randn(&mut r, &[1, 5, 8], 1.0, &dev).unwrap();
        let attn = &m.blocks[0].attn;
        let got = shaw_attention(attn, &s, &x, None).unwrap();
        // Reference: per head, e_ij = q_i·(k_j + a^K_ij)/√d_k, z_i = Σ α_ij (v_j + a^V_ij).
        let (q, k) = attn.mha.qk(&x, &x).unwrap();
        let v = split_heads(&attn.mha.wv.forward(&x).unwrap(), h).unwrap();
        let qh = q.squeeze(0).unwrap().to_vec3::<f32>().unwrap();
        let k = k.squeeze(0).unwrap().to_vec3::<f32>().unwrap();
        let v = v.squeeze(0).unwrap().to_vec3::<f32>().unwrap();
        let ak = s.key.to_vec2::<f32>().unwrap();
        let av = s.value.to_vec2::<f32>().unwrap();
        let kk = s.max_dist as i64;
        let mut z = vec![vec![0f32; h * dk]; 5];
        for hh in 0..h {
            for i in 0..5 {
                let idx = |j: usize| ((j as i64 - i as i64).clamp(-kk, kk) + kk) as usize;
                let e: Vec<f32> = (0..5)
                    .map(|j| {
                        (0..dk)
                            .map(|c| qh[hh][i][c] * (k[hh][j][c] + ak[idx(j)][c]))
                            .sum::<f32>()
                            / (dk as f32).sqrt()
                    })
                    .collect();
                let m = e.iter().cloned().fold(f32::MIN, f32::max);
                let ex: Vec<f32> = e.iter().map(|v| (v - m).exp()).collect();
                let tot: f32 = ex.iter().sum();
                for j in 0..5 {
                    for c in 0..dk {
                        z[i][hh * dk + c] += ex[j] / tot * (v[hh][j][c] + av[idx(j)][c]);
                    }
                }
            }
        }
        let z = Tensor::new(z, &dev).unwrap().unsqueeze(0).unwrap();
        let want = attn.mha.wo.forward(&z).unwrap();
        let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-5);
        assert_eq!(s.shift_deviation(9).unwrap(), 0.0);
    }
}
