//! Q16. How does the decoder's multi-head self-attention differ from the encoder's?
//!
//! Claims (CLAIMS.md, Q16):
//! - Q16.1 The decoder has two attention sublayers, the encoder one.
//! - Q16.2 In the second (cross-attention), query length may differ from key/value length.
//! - Q16.L1 (literature, omitted by the answer) The decoder's self-attention is causally
//!   masked: the output at position i never depends on target inputs at positions > i.
//!
//! Setup: the core's encoder layer and decoder layer (src/core/decoder.rs), and the
//! encoder–decoder model at random initialization (the properties probed are
//! structural: they hold for any weights). Sublayers are counted from the built modules;
//! the lengths of every attention call are read off its weight tensor (B, h, Tq, Tk) over
//! several (target, source) length pairs. Causality probe: change the decoder input
//! token at position j and compare the decoder outputs at every position i, with the
//! causal mask and without it; and change one source token.

use transformer_claims::core::decoder::project_kv;
use transformer_claims::prelude::*;
use transformer_claims::rng::index_vec;
use transformer_claims::row;
use transformer_claims::verdict::all_of;

#[derive(Serialize)]
struct Config {
    /// Model width, heads and layers (encoder and decoder each), Post-LN as in the paper.
    d_model: usize,
    heads: usize,
    layers: usize,
    /// Source and target vocabulary size.
    vocab: usize,
    /// (target length, source length) pairs whose attention shapes are read off.
    length_pairs: Vec<(usize, usize)>,
    /// Target and source length of the causality probe (different on purpose).
    tgt_len: usize,
    src_len: usize,
    /// Random models × random sentences probed (each with its own weights seed).
    instances: usize,
    /// An output "changed" when its max abs difference exceeds this.
    change_tol: f64,
    /// Causal mask: outputs before j must be bit-identical (max abs diff exactly 0).
    unchanged_exact: bool,
    /// Without the mask, at least this share of the (instance, j, i<j) outputs must change
    /// for the mask to count as "what matters".
    min_unmasked_changed_share: f64,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            d_model: 32,
            heads: 4,
            layers: 2,
            vocab: 16,
            length_pairs: vec![(7, 9), (9, 4), (1, 12), (12, 1), (6, 6)],
            tgt_len: 8,
            src_len: 11,
            instances: ctx.pick(6, 30),
            change_tol: 1e-4,
            unchanged_exact: true,
            min_unmasked_changed_share: 0.9,
        }
    }
}

fn model(cfg: &Config, seed: u64) -> Result<(Params, EncoderDecoder)> {
    let p = Params::new(seed);
    let layer = LayerConfig::new(cfg.d_model, cfg.heads);
    let max_len = cfg
        .length_pairs
        .iter()
        .map(|&(t, s)| t.max(s))
        .chain([cfg.tgt_len, cfg.src_len])
        .max()
        .unwrap_or(1);
    let m = encoder_decoder(
        EncDecConfig::new(cfg.vocab, cfg.vocab, max_len, cfg.layers, layer),
        p.vb(),
    )?;
    Ok((p, m))
}

/// Per-position max abs difference of two (1, T, D) tensors.
fn pos_diffs(a: &Tensor, b: &Tensor) -> Result<Vec<f64>> {
    Ok((a - b)?
        .abs()?
        .max(D::Minus1)?
        .squeeze(0)?
        .to_vec1::<f32>()?
        .into_iter()
        .map(|x| x as f64)
        .collect())
}

fn tokens(v: &[u32]) -> Result<Tensor> {
    Ok(Tensor::from_vec(v.to_vec(), (1, v.len()), &Device::Cpu)?)
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let dev = Device::Cpu;

    // (a) Sublayer counts, from the modules and their parameter names.
    let (p, m) = model(&cfg, ctx.seed * 1000)?;
    let names: Vec<String> = p.named_vars().into_iter().map(|(n, _)| n).collect();
    let count = |prefix: &str, suffix: &str| {
        names
            .iter()
            .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
            .count()
    };
    let enc_attn = count("enc.layer0.", "wq.weight");
    let enc_ffn = count("enc.layer0.", "ffn.w1.weight");
    let enc_norm = count("enc.layer0.", "gamma");
    let dec_attn = count("dec.layer0.", "wq.weight");
    let dec_ffn = count("dec.layer0.", "ffn.w1.weight");
    let dec_norm = count("dec.layer0.", "gamma");
    let mut sub_t = Table::new(&["layer", "sublayer", "count"]);
    for (layer, a, f, n) in [
        ("encoder", enc_attn, enc_ffn, enc_norm),
        ("decoder", dec_attn, dec_ffn, dec_norm),
    ] {
        sub_t.push(row![layer, "attention", a]);
        sub_t.push(row![layer, "feed-forward", f]);
        sub_t.push(row![layer, "residual+norm", n]);
    }
    ctx.table("sublayers.csv", &sub_t)?;

    // (b) Query and key/value lengths of every attention call, over length pairs.
    let mut shape_t = Table::new(&[
        "tgt_len",
        "src_len",
        "module",
        "query_len",
        "key_len",
        "output_len",
    ]);
    let (mut cross_ok, mut cross_total, mut self_ok) = (0usize, 0usize, 0usize);
    let mut rng = seeded(ctx.seed, 0);
    for &(t, s) in &cfg.length_pairs {
        let src = tokens(&index_vec(&mut rng, s, cfg.vocab))?;
        let tgt = tokens(&index_vec(&mut rng, t, cfg.vocab))?;
        let memory = m.memory(&src, &LayerCtx::default())?;
        let enc_l = &m.encoder.layers[0];
        let xs = m.encoder.embed(&src)?;
        let (eo, ew) = enc_l.attn.forward_with_weights(&xs, &xs, None)?;
        let dl = &m.layers[0];
        let xt = m.embed_tgt(&tgt, 0)?;
        let causal = Mask::causal(t).to_attn(&dev)?;
        let (so, sw) = dl.self_attn.forward_with_weights(&xt, &xt, Some(&causal))?;
        let (co, cw) = dl.cross_attn.forward_with_weights(&xt, &memory, None)?;
        for (name, w, o) in [
            ("encoder self-attention", &ew, &eo),
            ("decoder self-attention", &sw, &so),
            ("decoder cross-attention", &cw, &co),
        ] {
            let (_, _, tq, tk) = w.dims4()?;
            shape_t.push(row![t, s, name, tq, tk, o.dim(1)?]);
        }
        let (_, _, tq, tk) = cw.dims4()?;
        cross_total += 1;
        if tq == t && tk == s && co.dim(1)? == t {
            cross_ok += 1;
        }
        let (_, _, sq, sk) = sw.dims4()?;
        if sq == t && sk == t {
            self_ok += 1;
        }
        // The cached cross keys have the source length, whatever the target length.
        let (k, _) = project_kv(&dl.cross_attn, &memory)?;
        if k.dim(2)? != s {
            bail!(
                "cross-attention keys have length {} for a source of {s}",
                k.dim(2)?
            );
        }
    }
    ctx.table("attention_shapes.csv", &shape_t)?;

    // (c) Causality probe.
    let t = cfg.tgt_len;
    let s = cfg.src_len;
    let causal = Mask::causal(t).to_attn(&dev)?;
    let mut diff_max = vec![vec![[0f64; 2]; t]; t]; // [j][i][mask]
    let mut diff_min = vec![vec![[f64::INFINITY; 2]; t]; t];
    let (mut before_total, mut before_identical, mut before_changed_unmasked) = (0, 0, 0);
    let (mut after_total, mut after_changed) = (0, 0);
    let (mut src_total, mut src_changed) = (0, 0);
    let mut worst_before = 0f64;
    let mut smallest_after = f64::INFINITY;
    let pb = ctx.progress(cfg.instances as u64, "causality probe");
    for inst in 0..cfg.instances {
        let (_, m) = model(&cfg, ctx.seed * 1000 + 1 + inst as u64)?;
        let mut r = seeded(ctx.seed, 100 + inst as u64);
        let src_v = index_vec(&mut r, s, cfg.vocab);
        let tgt_v = index_vec(&mut r, t, cfg.vocab);
        let memory = m.memory(&tokens(&src_v)?, &LayerCtx::default())?;
        for (mi, mask) in [Some(&causal), None].into_iter().enumerate() {
            let c = DecoderCtx {
                self_mask: mask,
                ..Default::default()
            };
            let base = m.decode(&tokens(&tgt_v)?, &memory, &c)?;
            for j in 0..t {
                let mut v2 = tgt_v.clone();
                v2[j] = (v2[j] + 1 + index_vec(&mut r, 1, cfg.vocab as usize - 1)[0])
                    % cfg.vocab as u32;
                let d = pos_diffs(&base, &m.decode(&tokens(&v2)?, &memory, &c)?)?;
                for i in 0..t {
                    diff_max[j][i][mi] = diff_max[j][i][mi].max(d[i]);
                    diff_min[j][i][mi] = diff_min[j][i][mi].min(d[i]);
                    if i < j {
                        if mi == 0 {
                            before_total += 1;
                            before_identical += (d[i] == 0.0) as usize;
                            worst_before = worst_before.max(d[i]);
                        } else {
                            before_changed_unmasked += (d[i] > cfg.change_tol) as usize;
                        }
                    } else if mi == 0 {
                        after_total += 1;
                        after_changed += (d[i] > cfg.change_tol) as usize;
                        smallest_after = smallest_after.min(d[i]);
                    }
                }
            }
            if mi == 0 {
                // Change one source token: every decoder output should move.
                let sj = index_vec(&mut r, 1, s)[0] as usize;
                let mut s2 = src_v.clone();
                s2[sj] = (s2[sj] + 1) % cfg.vocab as u32;
                let mem2 = m.memory(&tokens(&s2)?, &LayerCtx::default())?;
                let d = pos_diffs(&base, &m.decode(&tokens(&tgt_v)?, &mem2, &c)?)?;
                src_total += t;
                src_changed += d.iter().filter(|&&x| x > cfg.change_tol).count();
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut cz = Table::new(&[
        "mask",
        "changed_pos",
        "output_pos",
        "offset",
        "min_abs_diff",
        "max_abs_diff",
    ]);
    for (mi, name) in ["causal", "none"].iter().enumerate() {
        for j in 0..t {
            for i in 0..t {
                cz.push(row![
                    *name,
                    j,
                    i,
                    i as i64 - j as i64,
                    diff_min[j][i][mi],
                    diff_max[j][i][mi]
                ]);
            }
        }
    }
    ctx.table("causality.csv", &cz)?;
    // One slice for the chart: change the middle position.
    let jm = t / 2;
    let mut slice = Table::new(&["output_pos", "mask", "max_abs_diff"]);
    for (mi, name) in ["causal mask", "no mask"].iter().enumerate() {
        for i in 0..t {
            slice.push(row![i, *name, diff_max[jm][i][mi]]);
        }
    }
    ctx.table("causality_slice.csv", &slice)?;
    let mut summary = Table::new(&["probe", "pairs", "share"]);
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    let s_ident = share(before_identical, before_total);
    let s_after = share(after_changed, after_total);
    let s_unmasked = share(before_changed_unmasked, before_total);
    let s_src = share(src_changed, src_total);
    summary.push(row![
        "causal: outputs i<j bit-identical",
        before_total,
        s_ident
    ]);
    summary.push(row!["causal: outputs i>=j changed", after_total, s_after]);
    summary.push(row![
        "no mask: outputs i<j changed",
        before_total,
        s_unmasked
    ]);
    summary.push(row![
        "source token changed: every output changed",
        src_total,
        s_src
    ]);
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
            "max abs change (over instances)",
        ),
    )?;

    // Verdicts.
    let v1 = Verdict::from_bool(dec_attn == 2 && enc_attn == 1);
    ctx.claim(
        Claim::with_verdict(
            "Q16.1",
            "The decoder layer has two attention sublayers, the encoder layer one.",
            "attention sublayers in a decoder layer (encoder layer in the note)",
            Estimate::exact(dec_attn as f64),
            "supported if the built decoder layer has exactly 2 attention modules and the encoder layer exactly 1; refuted otherwise",
            v1,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "Encoder layer: {enc_attn} attention, {enc_ffn} FFN, {enc_norm} residual+norm; decoder layer: {dec_attn} attention (masked self-attention, cross-attention), {dec_ffn} FFN, {dec_norm} residual+norm."
        )),
    );
    let v2 = Verdict::from_bool(cross_ok == cross_total && self_ok == cross_total);
    ctx.claim(
        Claim::with_verdict(
            "Q16.2",
            "In the decoder's second attention sublayer (cross-attention) the query length may differ from the key/value length.",
            "share of (target, source) length pairs where cross-attention weights are target × source and the output has target length",
            Estimate::exact(share(cross_ok, cross_total)),
            &format!(
                "supported if for all {} length pairs (including target > source, target < source) cross-attention runs with weights (T_tgt, T_src) and output length T_tgt, and self-attention is (T_tgt, T_tgt); refuted otherwise",
                cfg.length_pairs.len()
            ),
            v2,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note("Query and key/value lengths are independent in any attention call; decoder self-attention is always square (T_tgt × T_tgt), like the encoder's (T_src × T_src)."),
    );
    let exact_ok = if cfg.unchanged_exact {
        before_identical == before_total
    } else {
        worst_before <= cfg.change_tol
    };
    let v3 = all_of(&[
        Verdict::from_bool(exact_ok),
        Verdict::from_bool(after_changed == after_total),
        Verdict::from_bool(s_unmasked >= cfg.min_unmasked_changed_share),
        Verdict::from_bool(src_changed == src_total),
    ]);
    ctx.claim(
        Claim::with_verdict(
            "Q16.L1",
            "The decoder's self-attention is causally masked: output i does not depend on target inputs after i (the seed answer omits this).",
            "share of (instance, j, i<j) outputs bit-identical after changing target token j, with the causal mask",
            Estimate::exact(s_ident),
            &format!(
                "supported if, with the causal mask, every output before j is bit-identical and every output at ≥ j changes by > {}, every output changes when a source token changes, and without the mask ≥ {} of outputs before j change; refuted otherwise",
                cfg.change_tol, cfg.min_unmasked_changed_share
            ),
            v3,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "Over {} instances × {t} positions: with the mask, {:.0}% of earlier outputs bit-identical (largest change {:.1e}), {:.0}% of outputs at ≥ j changed (smallest change {:.2e}); without the mask {:.0}% of earlier outputs changed; changing one source token changed {:.0}% of decoder outputs.",
            cfg.instances,
            100.0 * s_ident,
            worst_before,
            100.0 * s_after,
            smallest_after,
            100.0 * s_unmasked,
            100.0 * s_src
        )),
    );
    // Answer rating, declared rule: "correct" if its claims hold and nothing the data show
    // to matter is missing; "incomplete" if its claims hold but the causal mask, which
    // the probe shows to be what separates decoder from encoder self-attention, is omitted.
    let ans = if v1 == Verdict::Supported && v2 == Verdict::Supported {
        if v3 == Verdict::Supported {
            Answer::Incomplete
        } else {
            Answer::Correct
        }
    } else {
        Answer::PartlyCorrect
    };
    ctx.answer(ans);
    ctx.literature("Vaswani et al. 2017, 3.1–3.2.3: each decoder layer inserts a third sublayer, multi-head attention over the encoder output; the decoder self-attention is modified (masked, −∞ before the softmax) to prevent positions from attending to subsequent positions, so predictions for position i depend only on outputs before i.");
    ctx.corrected_answer(format!(
        "The encoder layer has one attention sublayer (self-attention over the source) and an FFN; the decoder layer has two: a *causally masked* self-attention over the target and a cross-attention whose queries come from the decoder and whose keys and values come from the encoder output, so its query length (target) and key/value length (source) may differ — measured for {} length pairs. The difference the answer omits is the mask: with it, changing target token j left every decoder output before j bit-identical ({:.0}% of cases) while outputs at ≥ j changed; without it {:.0}% of earlier outputs changed, i.e. the model could read the future it is meant to predict.",
        cfg.length_pairs.len(),
        100.0 * s_ident,
        100.0 * s_unmasked
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
