//! Q14. The feed-forward network and its activation.
//!
//! The seed answer repeats the encoder description of Q7 and then says "ReLU". Claims
//! (declared in `src/spec/q14.rs`):
//! - Q14.1 The activation is ReLU (a check: our FFN with ReLU is the paper's formula).
//! - Q14.L1 The FFN is position-wise (a check, by autograd).
//! - Q14.L2 With d_ff = 4·d_model the FFN holds about two thirds of a layer's
//!   parameters (closed form).
//! - Q14.L3 GELU (BERT, GPT) trains faster than ReLU, by a declared minimum effect.
//! - Q14.L4 ReLU's known con, dead units, is small in healthy training.
//!
//! Setup (`src/setup/q14.rs`): the core FFN and encoder layer for the checks and
//! counts; a stack of Pre-LN residual FFN sublayers on a teacher task for the training
//! claims, ReLU against GELU paired by seed (same init and data).

use transformer_claims::fmt::{interval, num, percent, sig};
use transformer_claims::prelude::*;
use transformer_claims::setup::q14::{part_positionwise, part_share, part_train, Config};
use transformer_claims::spec::q14 as spec;

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;

    // Measure.
    let pw = part_positionwise(ctx, &cfg)?;
    let shares = part_share(ctx, &cfg)?;
    let tr = part_train(ctx, &cfg)?;

    // Q14.1 (check)
    ctx.decide(
        &spec::Q14_1,
        Evidence::new().exact(spec::FORMULA_ERR, pw.formula_err),
    )?;
    ctx.note("Q14.1", "A statement about the original paper (Vaswani et al. 2017, eq. 2), checked here as: the core's FFN with ReLU is that formula. Later models replaced ReLU with GELU (BERT, GPT) or gated units (SwiGLU, PaLM/LLaMA); see Q14.L3. The rest of the seed answer repeats the encoder description (Q7) and says nothing about what the FFN does or the activation's pros and cons.")?;

    // Q14.L1 (check)
    ctx.decide(
        &spec::Q14_L1,
        Evidence::new()
            .exact(spec::FFN_CROSS, pw.ffn_cross)
            .exact(spec::SEQ_VS_TOKEN, pw.seq_vs_token)
            .exact(spec::FFN_DIAG, pw.ffn_diag)
            .exact(spec::LAYER_CROSS, pw.layer_cross),
    )?;
    ctx.note(
        "Q14.L1",
        format!(
            "Sequence against token by token: largest difference {}. FFN diagonal blocks ‖∂y_t/∂x_t‖ mean {}; a whole encoder layer's largest cross block {}.",
            num(pw.seq_vs_token),
            sig(pw.ffn_diag, 3),
            sig(pw.layer_cross, 3)
        ),
    )?;

    // Q14.L2 (closed form)
    let cf_err = shares
        .iter()
        .map(|s| (s.counted - s.closed_form).abs())
        .fold(0f64, f64::max);
    ctx.decide(
        &spec::Q14_L2,
        Evidence::new()
            .with_all(
                spec::SHARE,
                shares.iter().rev().map(|s| Estimate::exact(s.counted)),
            )
            .exact(spec::SHARE_CF_ERR, cf_err),
    )?;
    let big = shares.last().context("share_ds")?;
    ctx.note(
        "Q14.L2",
        format!(
            "Counted against closed form: largest difference {}. Shares: {}. At d_model = 512: FFN 2,099,712 of 3,152,384 parameters (attention with biases 1,050,624, two LayerNorms 2,048).",
            num(cf_err),
            shares
                .iter()
                .map(|s| format!("d_model {}: {}", s.d, sig(s.counted, 4)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )?;

    // Q14.L3 (measured, with a minimum effect)
    let rel = stats::mean_ci(&tr.loss_rel, 0.95);
    let abs = stats::paired_diff(&tr.loss_auc[0], &tr.loss_auc[1], 0.95);
    let acc_area = stats::paired_diff(&tr.auc[1], &tr.auc[0], 0.95);
    let fin = stats::paired_diff(&tr.final_acc[1], &tr.final_acc[0], 0.95);
    let wins = tr.loss_rel.iter().filter(|r| **r > 0.0).count();
    let v_l3 = ctx.decide(
        &spec::Q14_L3,
        Evidence::new()
            .with(spec::LOSS_AREA_REL, rel)
            .with(spec::LOSS_AREA, abs),
    )?;
    ctx.note(
        "Q14.L3",
        format!(
            "GELU had the lower loss area on {wins} of {} seeds. Loss area ReLU − GELU: {} {} nats (mean ReLU loss area {}). Area under the accuracy curve GELU − ReLU {} {}; final accuracy GELU − ReLU {} {}. {} steps, batch {}, rate {}; the tanh approximation of GELU.",
            tr.loss_rel.len(),
            sig(abs.point, 2),
            interval(abs.lo, abs.hi),
            sig(stats::mean(&tr.loss_auc[0]), 3),
            sig(acc_area.point, 2),
            interval(acc_area.lo, acc_area.hi),
            sig(fin.point, 2),
            interval(fin.lo, fin.hi),
            cfg.train.steps,
            cfg.train.batch,
            num(cfg.train.lr)
        ),
    )?;

    // Q14.L4
    let dead = stats::mean_ci(&tr.dead_end, 0.95);
    ctx.decide(&spec::Q14_L4, Evidence::new().with(spec::DEAD, dead))?;
    ctx.note(
        "Q14.L4",
        format!(
            "At initialization: {} (mean), at learning rate {}. Large dead fractions are reported with too-high learning rates and failed training (not measured here).",
            percent(stats::mean(&tr.dead_init)),
            num(cfg.train.lr)
        ),
    )?;

    // Report.
    let margin = match &spec::Q14_L3.rule {
        transformer_claims::claim::Rule::Gap { margin, .. } => *margin,
        _ => f64::NAN,
    };
    let gelu_text = match v_l3 {
        Verdict::Supported => format!(
            "GELU trained faster than ReLU here (loss area {} lower)",
            percent(rel.point)
        ),
        Verdict::Refuted => format!(
            "ReLU trained faster than GELU here (GELU's loss area {} higher)",
            percent(-rel.point)
        ),
        Verdict::Inconclusive => format!(
            "on our toy task GELU's loss area was {} [{}, {}] lower than ReLU's, not clearly above the declared {} minimum effect, so whether it trains faster stays open",
            percent(rel.point),
            percent(rel.lo),
            percent(rel.hi),
            percent(margin)
        ),
    };
    ctx.answer(Answer::OffTopic);
    ctx.key_chart("loss_area_gap.png");
    ctx.in_short(format!(
        "The FFN is a two-layer MLP, max(0, xW₁+b₁)W₂+b₂, applied to each position separately with shared weights; with d_ff = 4·d_model it holds {} of a layer's parameters. The original uses ReLU; BERT and GPT use GELU. In our paired runs GELU's loss area was {} lower than ReLU's ({} the declared {} minimum effect).",
        percent(big.counted),
        percent(rel.point),
        if v_l3 == Verdict::Supported { "above" } else { "not above" },
        percent(margin)
    ))?;
    ctx.section(
        "Pros and cons of ReLU and GELU in the FFN",
        format!(
            "**ReLU: pros**\n\
             - Cheap: a comparison, no exponentials (literature: Nair & Hinton 2010; Vaswani et al. 2017, eq. 2).\n\
             - Does not saturate for positive inputs, so gradients pass (literature: Glorot et al. 2011).\n\
             - Dead units stayed rare in healthy training: {} after training (Q14.L4).\n\n\
             **ReLU: cons**\n\
             - Zero gradient for negative inputs; units can die at too-high learning rates (literature: Lu et al. 2019); not seen here (Q14.L4).\n\
             - Not smooth at 0.\n\n\
             **GELU: pros**\n\
             - Smooth, with a small gradient for negative inputs; used by BERT and GPT (literature: Hendrycks & Gimpel 2016).\n\
             - Trains faster? {} (Q14.L3).\n\n\
             **GELU: cons**\n\
             - Costs an erf or tanh per unit (literature: Hendrycks & Gimpel 2016).\n\
             - Gated variants (GEGLU, SwiGLU) beat both at matched parameters (literature: Shazeer 2020).\n\n\
             **The FFN itself**: position-wise, so it never mixes positions (Q14.L1, a check of our code), and at d_ff = 4·d_model it holds {} of the layer's parameters (Q14.L2).",
            percent(dead.point),
            gelu_text,
            percent(big.counted)
        ),
    );
    ctx.literature("Vaswani et al. 2017, 3.3: FFN(x) = max(0, xW₁ + b₁)W₂ + b₂, applied to each position separately and identically; d_model = 512, d_ff = 2048.");
    ctx.literature("Hendrycks & Gimpel 2016 (GELU), used by BERT and GPT; Shazeer 2020: gated variants (GEGLU, SwiGLU) at matched parameters improve perplexity over ReLU.");
    ctx.corrected_answer(format!(
        "The feed-forward network is a two-layer MLP, FFN(x) = max(0, xW₁+b₁)W₂+b₂, applied to every position separately with the same weights (checked on our code: its cross-position Jacobian is exactly 0, so only attention mixes positions). It widens to d_ff = 4·d_model and back, which puts about two thirds of each layer's parameters in the FFN ({} at d_model = 512). The original uses ReLU: cheap and non-saturating, but not smooth at 0, and its units can die (here {} dead after training). Later models use GELU or gated units (SwiGLU); {gelu_text} (paired seeds, a toy position-wise classification task).",
        percent(big.counted),
        percent(dead.point)
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q14_ffn_activation",
        "Q14: the position-wise FFN and its activation. Checks position-wise application by autograd, counts the FFN's share of parameters, and trains ReLU against GELU FFN stacks paired over seeds.",
        run,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use transformer_claims::core::ffn::Activation;
    use transformer_claims::setup::q14::{ffn_net, make_data};
    use transformer_claims::train::tasks::rows_batch;
    use transformer_claims::train::trainer::{masked_loss, vars_without_gradient};
    use transformer_claims::train::SeqModel;

    #[test]
    fn every_ffn_net_variable_gets_a_gradient() {
        let q = transformer_claims::registry::by_name("q14_ffn_activation").expect("registered");
        let tmp = std::env::temp_dir().join(format!("q14_unit_{}", std::process::id()));
        let ctx = Ctx::new(q, Mode::Quick, 0, &tmp).unwrap();
        let cfg = Config::new(&ctx);
        ctx.abandon();
        let data = make_data(&cfg, 0).unwrap();
        for act in [Activation::Relu, Activation::Gelu] {
            let params = Params::new(0);
            let m = ffn_net(&cfg, &data, act, params.vb()).unwrap();
            let idx: Vec<u32> = (0..64).collect();
            let b = rows_batch(&idx, &data.labels, &Device::Cpu).unwrap();
            let (loss, _, _) = masked_loss(&m.logits(&b, true).unwrap(), &b).unwrap();
            assert_eq!(
                vars_without_gradient(&params, &loss).unwrap(),
                Vec::<String>::new()
            );
            // Pre-activations: one (64, 4·d_model) tensor per block.
            let (_, pre) = m.run(&b).unwrap();
            assert_eq!(pre.len(), cfg.blocks);
            assert_eq!(pre[0].dims(), &[64, 4 * cfg.d_model]);
        }
    }
}
