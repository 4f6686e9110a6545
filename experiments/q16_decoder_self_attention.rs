//! Q16. How does the decoder's multi-head self-attention differ from the encoder's?
//!
//! Claims (declared in src/spec/q16.rs; all three are checks of this project's
//! implementation against the paper's definition):
//! - Q16.1 The decoder has two attention sublayers, the encoder one.
//! - Q16.2 In the second (cross-attention), query length may differ from key/value length.
//! - Q16.L1 (literature, omitted by the answer) The decoder's self-attention is causally
//!   masked: the output at position i never depends on target inputs at positions > i.
//!
//! Setup (src/setup/q16.rs): the core's encoder layer and decoder layer and the
//! encoder–decoder model at random initialization (the properties probed are
//! structural: they hold for any weights). Sublayers are counted from the parameter
//! names; the lengths of every attention call are read off its weight tensor
//! (B, h, Tq, Tk) over several (target, source) length pairs. Causality probe: change
//! the decoder input token at position j and compare the decoder outputs at every
//! position i, with the causal mask and without it; and change one source token.

use transformer_claims::fmt;
use transformer_claims::prelude::*;
use transformer_claims::row;
use transformer_claims::setup::q15::share;
use transformer_claims::setup::q16::{self, Config};
use transformer_claims::spec::q16 as spec;

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx.pick(6, 30));
    ctx.save_config(&cfg)?;

    // (a) Sublayer counts.
    let (p, m) = cfg.model(ctx.seed * 1000)?;
    let sl = q16::sublayers(&p);
    let mut sub_t = Table::new(&["layer", "sublayer", "count"]);
    for (layer, a, f, n) in [
        ("encoder layer", sl.enc_attn, sl.enc_ffn, sl.enc_norm),
        ("decoder layer", sl.dec_attn, sl.dec_ffn, sl.dec_norm),
    ] {
        sub_t.push(row![layer, "attention", a]);
        sub_t.push(row![layer, "feed-forward", f]);
        sub_t.push(row![layer, "residual + norm", n]);
    }
    ctx.table("sublayers.csv", &sub_t)?;

    // (b) Query and key/value lengths of every attention call.
    let shapes = q16::call_shapes(&cfg, &m, ctx.seed)?;
    let mut shape_t = Table::new(&[
        "tgt_len",
        "src_len",
        "module",
        "query_len",
        "key_len",
        "output_len",
    ]);
    for c in &shapes {
        shape_t.push(row![
            c.tgt,
            c.src,
            c.module,
            c.query_len,
            c.key_len,
            c.output_len
        ]);
    }
    ctx.table("attention_shapes.csv", &shape_t)?;
    let of = |module: &str, ok: &dyn Fn(&q16::CallShape) -> bool| {
        let calls: Vec<_> = shapes.iter().filter(|c| c.module == module).collect();
        share(calls.iter().filter(|c| ok(c)).count(), calls.len())
    };
    let s_cross = of("decoder cross-attention", &|c| {
        c.query_len == c.tgt && c.key_len == c.src && c.output_len == c.tgt
    });
    let s_self = of("decoder self-attention", &|c| {
        c.query_len == c.tgt && c.key_len == c.tgt
    });

    // (c) Causality probe.
    let pb = ctx.progress(cfg.instances as u64, "causality probe");
    let c = q16::causality(&cfg, ctx.seed, || pb.inc(1))?;
    pb.finish_and_clear();
    let t = cfg.tgt_len;
    let mut cz = Table::new(&[
        "mask",
        "changed_pos",
        "output_pos",
        "offset",
        "max_abs_diff",
    ]);
    for (mi, name) in ["causal mask", "no mask"].iter().enumerate() {
        for j in 0..t {
            for i in 0..t {
                cz.push(row![*name, j, i, i as i64 - j as i64, c.diff_max[j][i][mi]]);
            }
        }
    }
    ctx.table("causality.csv", &cz)?;
    let jm = t / 2;
    let mut slice = Table::new(&["output_pos", "mask", "max_abs_diff"]);
    for (mi, name) in ["causal mask", "no mask"].iter().enumerate() {
        for i in 0..t {
            slice.push(row![i, *name, c.diff_max[jm][i][mi]]);
        }
    }
    ctx.table("causality_slice.csv", &slice)?;
    let s_ident = share(c.before_identical, c.before_total);
    let s_after = share(c.after_changed, c.after_total);
    let s_unmasked = share(c.before_changed_unmasked, c.before_total);
    let s_src = share(c.src_changed, c.src_total);
    let mut summary = Table::new(&["probe", "pairs", "share"]);
    for (what, n, x) in [
        (spec::BEFORE_IDENTICAL, c.before_total, s_ident),
        (spec::AFTER_CHANGED, c.after_total, s_after),
        (spec::UNMASKED_CHANGED, c.before_total, s_unmasked),
        (spec::SOURCE_CHANGED, c.src_total, s_src),
    ] {
        summary.push(row![what, n, x]);
    }
    ctx.table("probe_summary.csv", &summary)?;

    ctx.chart(
        ChartSpec::bars(
            "sublayers.png",
            "sublayers.csv",
            "Sublayers per layer",
            "sublayer",
            &["count"],
        )
        .series("layer")
        .labels("sublayer", "count per layer"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "causality.png",
            "causality_slice.csv",
            &format!("Change target token {jm}: decoder output change by position"),
            "output_pos",
            &["max_abs_diff"],
        )
        .series("mask")
        .labels(
            "decoder output position i",
            "largest abs change over instances",
        ),
    )?;
    ctx.key_chart("causality.png");

    let v1 = ctx.decide(
        &spec::Q16_1,
        Evidence::new()
            .exact(spec::DEC_ATTN, sl.dec_attn as f64)
            .exact(spec::ENC_ATTN, sl.enc_attn as f64),
    )?;
    ctx.note(
        "Q16.1",
        format!(
            "Encoder layer: {} attention, {} feed-forward, {} residual + norm; decoder layer: {} attention (masked self-attention, cross-attention), {} feed-forward, {} residual + norm.",
            sl.enc_attn, sl.enc_ffn, sl.enc_norm, sl.dec_attn, sl.dec_ffn, sl.dec_norm
        ),
    )?;
    let v2 = ctx.decide(
        &spec::Q16_2,
        Evidence::new()
            .exact(spec::CROSS_SHAPES, s_cross)
            .exact(spec::SELF_SQUARE, s_self),
    )?;
    ctx.note("Q16.2", "Query and key/value lengths are independent in any attention call; decoder self-attention is always square (target × target), like the encoder's (source × source).")?;
    let v3 = ctx.decide(
        &spec::Q16_L1,
        Evidence::new()
            .exact(spec::BEFORE_IDENTICAL, s_ident)
            .exact(spec::AFTER_CHANGED, s_after)
            .exact(spec::UNMASKED_CHANGED, s_unmasked)
            .exact(spec::SOURCE_CHANGED, s_src),
    )?;
    ctx.note(
        "Q16.L1",
        format!(
            "Over {} models × {t} positions: with the mask, {} of earlier outputs bit-identical (largest change {}), {} of outputs at j or later changed (smallest change {}); without the mask {} of earlier outputs changed; changing one source token changed {} of decoder outputs.",
            cfg.instances,
            fmt::percent(s_ident),
            fmt::num(c.worst_before),
            fmt::percent(s_after),
            fmt::num(c.smallest_after),
            fmt::percent(s_unmasked),
            fmt::percent(s_src)
        ),
    )?;
    // Answer rating, declared rule: "incomplete" if its claims hold but the causal mask,
    // which the probe shows to separate decoder from encoder self-attention, is omitted.
    let ok = v1 == Verdict::Supported && v2 == Verdict::Supported;
    ctx.answer(match (ok, v3 == Verdict::Supported) {
        (true, true) => Answer::Incomplete,
        (true, false) => Answer::Correct,
        _ => Answer::PartlyCorrect,
    });
    ctx.in_short(format!(
        "The decoder layer has two attention sublayers (masked self-attention, then cross-attention over the encoder output, where query and key lengths differ); the encoder layer has one. The answer omits the real difference: decoder self-attention is causally masked. Changing target token j left every earlier output bit-identical ({}); without the mask {} of them changed.",
        fmt::percent(s_ident),
        fmt::percent(s_unmasked)
    ))?;
    ctx.literature("Vaswani et al. 2017, 3.1–3.2.3: each decoder layer inserts a third sublayer, multi-head attention over the encoder output; the decoder self-attention is modified (masked, −∞ before the softmax) to prevent positions from attending to subsequent positions, so predictions for position i depend only on outputs before i.");
    ctx.corrected_answer(format!(
        "The encoder layer has one attention sublayer (self-attention over the source) and an FFN; the decoder layer has two: a *causally masked* self-attention over the target and a cross-attention whose queries come from the decoder and whose keys and values come from the encoder output, so its query length (target) and key/value length (source) may differ (checked for {} length pairs). The difference the answer omits is the mask: with it, changing target token j left every decoder output before j bit-identical ({} of cases) while outputs at j or later changed; without it {} of earlier outputs changed, i.e. the model could read the future it is meant to predict. These are checks of this implementation's structure on random toy models.",
        cfg.length_pairs.len(),
        fmt::percent(s_ident),
        fmt::percent(s_unmasked)
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q16_decoder_self_attention",
        "Q16: decoder vs encoder self-attention. Counts sublayers, reads attention shapes over length pairs, and probes causality with and without the mask.",
        run,
    )
}
