//! Q21. Why doesn't BERT mask attention scores the way the decoder does?
//!
//! Claims (declared in src/spec/q21.rs):
//! - Q21.1 (seed answer) BERT's objective needs both left and right context, while the
//!   decoder only looks left.
//! - Q21.L1 (literature, Devlin et al. 2019, 3.1) Masking the diagonal of the score
//!   matrix does not hide a token from its own prediction: in a standard layer the
//!   token rides its own residual stream and query, and even with a query stream the
//!   token comes back through neighbours after two layers; corrupting the input
//!   ([MASK]) does hide it.
//!
//! Setup (src/setup/q21.rs): i.i.d. uniform tokens; for the leak tests every position
//! must output the token at its own position, so any accuracy above chance (1/V) is
//! information that leaked. (a) a standard 1-layer encoder with the diagonal masked;
//! (b) query-stream encoders (first-layer query and residual from the position only,
//! keys/values from the other positions' token + position) of 1 and 2 layers with the
//! diagonal masked, and a standard 2-layer bidirectional encoder whose scored positions
//! are replaced by [MASK] in the input; (c) fill-in needing right context: the blank
//! equals its right neighbour; a causal encoder against a bidirectional masked-LM
//! encoder, both seeing [MASK] at the blank.

use transformer_claims::fmt::num;
use transformer_claims::prelude::*;
use transformer_claims::setup::q21::{build, Sizes, TokenTask, SETTINGS};
use transformer_claims::spec::q21;
use transformer_claims::train::{self, TrainConfig};

#[derive(Serialize)]
struct Config {
    /// Vocabulary (the [MASK] token is one more id), sequence length.
    vocab: usize,
    seq_len: usize,
    /// Model width, heads, FFN width.
    d_model: usize,
    heads: usize,
    d_ff: usize,
    /// Share of positions replaced by [MASK] (at least one per sequence) in the corruption run.
    mask_rate: f64,
    seeds: usize,
    train: TrainConfig,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            vocab: 16,
            seq_len: 8,
            d_model: 32,
            heads: 4,
            d_ff: 64,
            mask_rate: 0.25,
            seeds: ctx.pick(3, 5),
            train: TrainConfig {
                steps: ctx.pick(120, 300),
                batch: 32,
                lr: 3e-3,
                eval_every: 25,
                eval_size: ctx.pick(256, 512),
                ..TrainConfig::default()
            },
        }
    }
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let chance = 1.0 / cfg.vocab as f64;
    let sizes = Sizes {
        vocab: cfg.vocab,
        len: cfg.seq_len,
        d_model: cfg.d_model,
        heads: cfg.heads,
        d_ff: cfg.d_ff,
    };

    // Train every setting on every seed.
    let seeds = train::seeds::seed_list(ctx.seed, cfg.seeds);
    let sw = kit::sweep(ctx, "training", &SETTINGS, &seeds, |s, seed| {
        let task = TokenTask {
            kind: s.kind,
            vocab: cfg.vocab,
            len: cfg.seq_len,
            mask_rate: cfg.mask_rate,
        };
        let params = Params::new(seed);
        let net = build(s, &sizes, &params)?;
        Ok(train::trainer::train(
            &net, &params, &task, &cfg.train, seed,
        )?)
    })?;
    sw.write(ctx, "training", "setting")?;
    let acc = sw.metric(|l| l.final_acc());
    let est: Vec<Estimate> = SETTINGS.iter().map(|s| acc.mean_ci(s)).collect();

    let mut summary = kit::estimate_table(&["setting"], &["final_acc"]);
    for (s, e) in SETTINGS.iter().zip(&est) {
        kit::push_estimates(&mut summary, vec![s.to_string()], &[*e]);
    }
    ctx.table("summary.csv", &summary)?;
    ctx.chart(
        ChartSpec::hbars(
            "accuracy.png",
            "summary.csv",
            &format!(
                "Held-out accuracy after {} steps (mean, 95% CI over {} seeds)",
                cfg.train.steps, cfg.seeds
            ),
            "setting",
            &["final_acc"],
        )
        .interval("final_acc", "final_acc_lo", "final_acc_hi")
        .name("final_acc", "held-out accuracy")
        .reference(chance, &format!("chance 1/{}", cfg.vocab))
        .reference(
            q21::LEAK_LINE,
            &format!("leak line {}", num(q21::LEAK_LINE)),
        )
        .y_range(0.0, 1.0)
        .labels("model", "held-out accuracy"),
    )?;
    // Learning curves of the four leak settings only.
    let mean_curves = sw.mean_curves_table("setting");
    let leak_names: Vec<String> = SETTINGS[..4].iter().map(|s| s.to_string()).collect();
    let mut leak = Table {
        header: mean_curves.header.clone(),
        rows: vec![],
    };
    for r in &mean_curves.rows {
        if leak_names.contains(&r[0]) {
            leak.push(r.clone());
        }
    }
    ctx.table("leak_curves.csv", &leak)?;
    ctx.chart(
        ChartSpec::line(
            "leak_curves.png",
            "leak_curves.csv",
            "Predicting the token at one's own position (mean over seeds)",
            "step",
            &["eval_acc"],
        )
        .series("setting")
        .reference(chance, &format!("chance 1/{}", cfg.vocab))
        .y_range(0.0, 1.0)
        .labels("training step", "held-out accuracy"),
    )?;

    // Claims.
    let fill = stats::welch(acc.get(SETTINGS[5]), acc.get(SETTINGS[4]), 0.95);
    ctx.decide(&q21::Q21_1, Evidence::new().with(q21::FILL_GAP, fill.diff))?;
    ctx.note(
        "Q21.1",
        format!(
            "Fill-in accuracy: masked LM {}, causal {} (chance {}). True, but it does not say why a diagonal score mask would not do for BERT: see Q21.L1.",
            num(est[5].point), num(est[4].point), num(chance)
        ),
    )?;
    let above = |e: Estimate| e.map(|x| x - chance);
    let v_leak = ctx.decide(
        &q21::Q21_L1,
        Evidence::new()
            .with(q21::STD_1L, est[0])
            .with(q21::QS_1L, above(est[1]))
            .with(q21::QS_2L, est[2])
            .with(q21::MASK_2L, above(est[3])),
    )?;
    ctx.note(
        "Q21.L1",
        format!(
            "Accuracy (chance {}): standard 1 layer, diagonal masked {}; query stream 1 layer {}; query stream 2 layers {}; [MASK] input, 2 layers {}. {} × {} steps.",
            num(chance), num(est[0].point), num(est[1].point), num(est[2].point), num(est[3].point),
            fmt_seeds(cfg.seeds), cfg.train.steps
        ),
    )?;

    ctx.answer(if v_leak == Verdict::Supported {
        Answer::Incomplete
    } else {
        Answer::Correct
    });
    ctx.key_chart("accuracy.png");
    ctx.in_short(format!(
        "BERT needs context from both sides, so a causal mask is out (fill-in: masked LM {} against causal {} accuracy). Masking the score diagonal would not hide the token either: it rides its own residual stream (one layer recovers it, {}), and even with a position-only query stream two layers read it back from neighbours ({}). Only [MASK] in the input hides it ({}, chance {}).",
        num(est[5].point), num(est[4].point), num(est[0].point), num(est[2].point), num(est[3].point), num(chance)
    ))?;
    ctx.literature("Devlin et al. 2019, 3.1: bidirectional conditioning would allow each word to indirectly see itself, so BERT masks 15% of input tokens ([MASK] 80%, random 10%, unchanged 10%).");
    ctx.literature("Devlin et al. 2019, 5.1 (no NSP): left-to-right 82.1 MNLI / 77.8 SQuAD F1 against bidirectional 83.9 / 87.9.");
    ctx.literature("Yang et al. 2019 (XLNet): a separate query stream that sees the position but not the content is what lets a model predict a token without seeing it.");
    ctx.corrected_answer(format!(
        "BERT wants every position to condition on both sides (fill-in with right context here: masked LM {} against causal {}), so a causal mask is out. But a diagonal score mask (no attention to oneself) cannot replace input corruption either: in a standard layer the token rides its own residual stream and its query, so even one layer recovers it ({} accuracy here); and even with a query stream that carries only the position, a second layer reads the token back from neighbours that attended to it ({}, against {} for one layer and chance {}). So BERT hides the predicted tokens in the input ([MASK]; here {}), which no stacking of layers can undo; XLNet's two-stream attention is the alternative. Scope: 1–2-layer encoders (d_model {}) on uniform random tokens (V = {}); the ablation figures are Devlin et al.'s.",
        num(est[5].point), num(est[4].point), num(est[0].point), num(est[2].point), num(est[1].point), num(chance), num(est[3].point), cfg.d_model, cfg.vocab
    ));
    Ok(())
}

fn fmt_seeds(n: usize) -> String {
    transformer_claims::fmt::plural(n, "seed", "seeds")
}

fn main() {
    transformer_claims::cli::main(
        "q21_bert_mask",
        "Q21: why BERT corrupts inputs instead of masking scores. Leak of a token to its own prediction with a diagonal mask (standard and query-stream encoders, 1 and 2 layers) against [MASK] corruption; causal against masked LM on a fill-in task.",
        run,
    )
}
