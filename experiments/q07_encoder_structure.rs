//! Q7. Describe the Transformer encoder.
//!
//! Seed answer: input embedding, plus positional encoding, then encoder layers, each
//! with "a fully connected layer", multi-head attention and a position-wise
//! feed-forward network. Claims (declared in src/spec/q07.rs):
//! - Q7.1 Input embedding plus positional encoding, then N identical layers of
//!   multi-head self-attention and a position-wise FFN, with the literature's detail
//!   that each sublayer computes LayerNorm(x + Sublayer(x)) and that the base model
//!   (d_model 512, h 8, d_ff 2048, N 6) has about 65M parameters.
//! - Q7.2 Each encoder layer also holds a separate fully connected layer besides the
//!   attention and the FFN (a check of our own layer against the paper's).
//!
//! Setup (src/setup/q07.rs): parameter counts need no forward pass: the base encoder
//! layer is built with the core's `encoder_layer`, a decoder layer from core parts, and
//! the full base model is 6 encoder layers + 6 decoder layers + one 37,000 × 512
//! embedding shared by source, target and the output projection (sinusoidal positions
//! have no parameters). Probes at the base sizes run a few tokens through the layer and
//! through a short stack and compare with the composition written out by hand (and
//! with wrong compositions, to show the probe can tell them apart).

use transformer_claims::fmt;
use transformer_claims::prelude::*;
use transformer_claims::row;
use transformer_claims::setup::q07::{self as setup, BaseSizes};
use transformer_claims::spec::q07;

#[derive(Serialize)]
struct Config {
    /// Base model sizes (Vaswani et al. 2017, Table 3; shared vocabulary §5.1).
    base: BaseSizes,
    /// The paper's parameter count for the base model.
    paper_params: f64,
    /// Probes: random inputs (batch, length), repeated this many times.
    probe_batch: usize,
    probe_len: usize,
    probes: usize,
    /// Encoder layers and vocabulary in the stack probe (embedding + PE + layers).
    probe_layers: usize,
    probe_vocab: usize,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            base: BaseSizes {
                d_model: 512,
                heads: 8,
                d_ff: 2048,
                layers: 6,
                vocab: 37_000,
            },
            paper_params: 65e6,
            probe_batch: 2,
            probe_len: ctx.pick(8, 16),
            probes: ctx.pick(2, 5),
            probe_layers: 2,
            probe_vocab: 100,
        }
    }
}

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    let b = cfg.base;
    let (d, dff, n) = (b.d_model, b.d_ff, b.layers);

    // Counts: the built layers against the closed forms, and the full model.
    let (counts, layer) = setup::count_base(b, ctx.seed)?;
    let mut tensors = Table::new(&["tensor", "shape", "params", "sublayer"]);
    for (name, shape, c, sub) in &counts.tensors {
        tensors.push(row![name.clone(), shape.clone(), *c, *sub]);
    }
    ctx.table("encoder_layer_tensors.csv", &tensors)?;
    let enc_closed = setup::encoder_layer_closed(d, dff);
    let mut layer_t = Table::new(&["part", "params", "millions"]);
    for (name, c) in [
        ("multi-head attention (4d² + 4d)", setup::attn_closed(d)),
        (
            "feed-forward (2·d·d_ff + d_ff + d)",
            setup::ffn_closed(d, dff),
        ),
        ("two LayerNorms (4d)", 4 * d),
        ("encoder layer, built", counts.encoder_layer),
        ("encoder layer, closed form", enc_closed),
        (
            "encoder layer + an extra d×d layer",
            enc_closed + setup::extra_fc(d),
        ),
        ("decoder layer, built", counts.decoder_layer),
    ] {
        layer_t.push(row![name, c, c as f64 / 1e6]);
    }
    ctx.table("layer_params.csv", &layer_t)?;
    let mut model = Table::new(&["component", "params", "millions"]);
    for (name, c) in [
        (
            "encoder stack (6 layers)",
            (n * counts.encoder_layer) as f64,
        ),
        (
            "decoder stack (6 layers)",
            (n * counts.decoder_layer) as f64,
        ),
        ("shared embedding 37,000 × 512", counts.embedding as f64),
        ("full model, one shared embedding", counts.tied as f64),
        (
            "full model, untied embeddings and output",
            counts.untied as f64,
        ),
        ("paper (Table 3, base)", cfg.paper_params),
    ] {
        model.push(row![name, c, c / 1e6]);
    }
    ctx.table("model_params.csv", &model)?;

    // Probes: the layer against LN(x + f(x)) written out, and against wrong forms.
    let mut rng = seeded(ctx.seed, 0);
    let mut probe = Table::new(&["probe", "composition", "max_abs_diff"]);
    let mut rows = vec![];
    for i in 0..cfg.probes {
        for r in setup::probe_layer(&layer, &mut rng, cfg.probe_batch, cfg.probe_len)? {
            probe.push(row![i, r.composition, r.max_abs_diff]);
            rows.push(r);
        }
    }
    let stack = setup::probe_stack(
        b,
        ctx.seed + 3,
        &mut rng,
        cfg.probe_vocab,
        cfg.probe_layers,
        cfg.probe_batch,
        cfg.probe_len,
    )?;
    for r in stack.rows {
        probe.push(row!["stack", r.composition, r.max_abs_diff]);
        rows.push(r);
    }
    ctx.table("probes.csv", &probe)?;
    // Largest difference per composition over all probes, for the chart.
    let mut summary = Table::new(&["composition", "max_abs_diff"]);
    let mut names: Vec<&str> = vec![];
    for r in &rows {
        if !names.contains(&r.composition) {
            names.push(r.composition);
        }
    }
    for name in &names {
        let m = rows
            .iter()
            .filter(|r| r.composition == *name)
            .map(|r| r.max_abs_diff)
            .fold(0.0, f64::max);
        summary.push(row![*name, m]);
    }
    ctx.table("probes_summary.csv", &summary)?;
    let claimed_diff = rows
        .iter()
        .filter(|r| r.is_claimed)
        .map(|r| r.max_abs_diff)
        .fold(0.0, f64::max);
    let wrong_diff = rows
        .iter()
        .filter(|r| !r.is_claimed)
        .map(|r| r.max_abs_diff)
        .fold(f64::INFINITY, f64::min);

    ctx.chart(
        ChartSpec::hbars(
            "model_params.png",
            "model_params.csv",
            "Base Transformer: parameters (millions) against the paper's 65M",
            "component",
            &["millions"],
        )
        .name("millions", "millions of parameters")
        .reference(cfg.paper_params / 1e6, "paper: 65M")
        .labels("", "millions of parameters"),
    )?;
    ctx.chart(
        ChartSpec::hbars(
            "layer_params.png",
            "layer_params.csv",
            "One base layer (d 512, d_ff 2048): parameters (millions)",
            "part",
            &["millions"],
        )
        .name("millions", "millions of parameters")
        .labels("", "millions of parameters"),
    )?;
    ctx.chart(
        ChartSpec::hbars(
            "probes.png",
            "probes_summary.csv",
            "Layer vs hand-written compositions: largest |difference|",
            "composition",
            &["max_abs_diff"],
        )
        .name("max_abs_diff", "largest |difference|")
        .log_y()
        .y_floor(1e-6)
        .reference(1e-4, "matches if ≤ 1e−4")
        .reference(1e-2, "differs if ≥ 0.01")
        .labels("", "largest |difference| (log; 0 drawn at 1e−6)"),
    )?;

    // Verdicts, by the rules declared in src/spec/q07.rs.
    let ratio = counts.tied as f64 / cfg.paper_params;
    let mismatch = counts.encoder_layer.abs_diff(enc_closed) + counts.unexplained;
    let unequal = stack
        .per_layer
        .iter()
        .filter(|&&k| k != counts.encoder_layer)
        .count();
    ctx.decide(
        &q07::Q7_1,
        Evidence::new()
            .exact(q07::LAYER_MISMATCH, mismatch as f64)
            .exact(q07::UNEQUAL_LAYERS, unequal as f64)
            .exact(q07::PAPER_RATIO, ratio)
            .exact(q07::CLAIMED_DIFF, claimed_diff)
            .exact(q07::WRONG_DIFF, wrong_diff),
    )?;
    ctx.note(
        "Q7.1",
        format!(
            "Encoder layer {} parameters (closed form {enc_closed}); decoder layer {}; full model {} = {}M with one shared 37,000 × 512 embedding ({}M untied). Hand-written LN(x + f(x)) matches to {}; the closest wrong composition differs by {}. The seed answer omits the residual connections and LayerNorm.",
            counts.encoder_layer, counts.decoder_layer, counts.tied,
            fmt::sig(counts.tied as f64 / 1e6, 3), fmt::sig(counts.untied as f64 / 1e6, 4),
            fmt::num(claimed_diff), fmt::sig(wrong_diff, 3)
        ),
    )?;
    let surplus = counts.encoder_layer as f64 - (enc_closed - counts.unexplained) as f64;
    ctx.decide(
        &q07::Q7_2,
        Evidence::new().exact(q07::EXTRA_LAYERS, surplus / setup::extra_fc(d) as f64),
    )?;
    ctx.note(
        "Q7.2",
        format!(
            "A check of our layer against the paper's description. The only fully connected maps in a layer are the attention's W_Q, W_K, W_V, W_O and the FFN's two linear maps (the FFN is itself two fully connected layers applied per position); an extra d×d layer would add {} parameters and change the output by ≥ {} (probes.csv).",
            setup::extra_fc(d), fmt::sig(wrong_diff, 3)
        ),
    )?;

    ctx.answer(Answer::PartlyCorrect);
    ctx.key_chart("model_params.png");
    ctx.in_short(format!(
        "The encoder adds positional encodings to the scaled token embeddings and stacks N = 6 identical layers, each with two sublayers, multi-head self-attention and a position-wise FFN, each wrapped as LayerNorm(x + Sublayer(x)). There is no third fully connected layer: a base layer has exactly {enc_closed} parameters, and the whole base model {}M against the paper's 65M.",
        fmt::sig(counts.tied as f64 / 1e6, 3)
    ))?;
    ctx.literature("Vaswani et al. 2017, section 3.1: each of the N = 6 layers has two sub-layers, multi-head self-attention and a position-wise fully connected feed-forward network; the output of each sub-layer is LayerNorm(x + Sublayer(x)).");
    ctx.literature("Vaswani et al. 2017, Table 3: base model d_model 512, d_ff 2048, h 8, N 6, 65M parameters; section 5.1 shared source-target vocabulary of about 37,000 tokens; section 3.4 the two embedding layers and the pre-softmax linear map share one weight matrix.");
    ctx.corrected_answer(format!(
        "The encoder adds sinusoidal positional encodings to the token embeddings (scaled by √d_model) and passes them through N = 6 identical layers; each layer has exactly two sublayers, multi-head self-attention and a position-wise feed-forward network (two linear maps with a ReLU between), and each sublayer is wrapped as LayerNorm(x + Sublayer(x)). There is no separate fully connected layer: at d_model 512, h 8, d_ff 2048 a layer has exactly {enc_closed} parameters (attention {}, FFN {}, two LayerNorms {}). With 6 + 6 layers and one shared 37,000-token embedding the whole model has {}M parameters, matching the paper's 65M; untied embeddings would give {}M.",
        setup::attn_closed(d), setup::ffn_closed(d, dff), 4 * d,
        fmt::sig(counts.tied as f64 / 1e6, 3), fmt::sig(counts.untied as f64 / 1e6, 4)
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main("q07_encoder_structure", "Q7: the Transformer encoder. Counts the base layer's and the base model's parameters against closed forms and the paper's 65M, and probes each sublayer's LN(x + f(x)) structure.", run)
}
