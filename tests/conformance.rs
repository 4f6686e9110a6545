//! Conformance with PyTorch: the core's LayerNorm, multi-head attention and encoder layer
//! (Post-LN and Pre-LN) against golden files written by `bench/make_golden.py` from
//! torch.nn.LayerNorm, torch.nn.MultiheadAttention and torch.nn.TransformerEncoderLayer
//! (committed under tests/golden/; no Python or network needed here).
//!
//! Each case loads torch's weights into the core's variables, runs the forward pass and
//! the backward pass of the loss sum(out · R), and compares the output and the gradient
//! of every parameter and of the input, element by element, to
//! |core − torch| ≤ ATOL + RTOL·|torch|. The golden numbers are float64 results for the
//! stored float32 weights and inputs, so the difference is the core's own f32 error.
//!
//! Convention differences met on the way (see README, "Conformance with PyTorch"):
//! torch packs W_Q, W_K, W_V into one `in_proj_weight` (3d × d, in that order), which is
//! split here; torch's `"gelu"` is the erf form, the core's `Activation::Gelu` the tanh
//! form (`Activation::GeluErf` is erf; tanh-GELU is checked against torch's
//! `gelu(approximate="tanh")`); torch's masks mark what is *not* allowed (True = padding
//! or future), the core's `Mask` what is allowed; LayerNorm's affine is called
//! weight/bias in torch and gamma/beta here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::{backprop::GradStore, Device, Module, Tensor, Var};
use serde_json::Value;

use transformer_claims::core::{
    encoder_layer, layer_norm, multi_head_attention, Activation, LayerConfig, LayerCtx, Mask,
    MhaConfig, Params, Placement,
};

/// Absolute and relative tolerance of every comparison.
const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-5;

fn golden(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (written by bench/make_golden.py)", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

/// The largest absolute error and the largest error relative to the tolerance of one
/// comparison.
#[derive(Default)]
struct Worst {
    abs: f64,
    /// max over elements of |got − want| / (ATOL + RTOL·|want|); ≤ 1 passes.
    ratio: f64,
}

/// Compares `got` with the golden `want`; panics naming the case and tensor if any
/// element is outside the tolerance.
fn check(case: &str, what: &str, got: &Tensor, want: &Value, worst: &mut Worst) {
    let want_t = tensor(want);
    assert_eq!(got.dims(), want_t.dims(), "{case}: {what}: shape");
    let g = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let w = want_t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (mut abs, mut ratio, mut at) = (0f64, 0f64, 0usize);
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        let d = (a as f64 - b as f64).abs();
        // A NaN anywhere counts as an infinite error.
        let r = if d.is_nan() {
            f64::INFINITY
        } else {
            d / (ATOL + RTOL * (b as f64).abs())
        };
        abs = abs.max(d);
        if r > ratio {
            ratio = r;
            at = i;
        }
    }
    assert!(
        ratio <= 1.0,
        "{case}: {what}: element {at}: core {} vs torch {} (max abs error {abs:.3e}, tolerance {ATOL:e} + {RTOL:e}·|torch|)",
        g[at],
        w[at]
    );
    worst.abs = worst.abs.max(abs);
    worst.ratio = worst.ratio.max(ratio);
}

/// Sets the core variable `name` (from `params`) to the golden tensor.
fn set(vars: &BTreeMap<String, Var>, name: &str, value: &Tensor) {
    let v = vars
        .get(name)
        .unwrap_or_else(|| panic!("the core has no variable {name}: {:?}", vars.keys()));
    v.set(value).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn vars_of(p: &Params) -> BTreeMap<String, Var> {
    p.named_vars().into_iter().collect()
}

/// torch's name → the core variables that hold it (three for a packed in_proj, split
/// along rows in the order Q, K, V).
fn core_names(torch: &str) -> Vec<String> {
    let qkv = |what: &str| -> Vec<String> {
        ["wq", "wk", "wv"]
            .iter()
            .map(|w| format!("{w}.{what}"))
            .collect()
    };
    let attn = |rest: &str| -> Vec<String> {
        match rest {
            "in_proj_weight" => qkv("weight"),
            "in_proj_bias" => qkv("bias"),
            "out_proj.weight" => vec!["wo.weight".into()],
            "out_proj.bias" => vec!["wo.bias".into()],
            other => panic!("unknown attention parameter {other}"),
        }
    };
    let affine = |rest: &str| match rest {
        "weight" => "gamma",
        "bias" => "beta",
        other => panic!("unknown norm parameter {other}"),
    };
    match torch.split_once('.') {
        // TransformerEncoderLayer
        Some(("self_attn", rest)) => attn(rest).iter().map(|s| format!("attn.{s}")).collect(),
        Some(("linear1", rest)) => vec![format!("ffn.w1.{rest}")],
        Some(("linear2", rest)) => vec![format!("ffn.w2.{rest}")],
        Some((n @ ("norm1" | "norm2"), rest)) => vec![format!("{n}.{}", affine(rest))],
        // LayerNorm
        None if torch == "weight" || torch == "bias" => vec![affine(torch).to_string()],
        // MultiheadAttention
        _ => attn(torch),
    }
}

/// Loads every golden parameter into the core variables.
fn load_params(golden: &Value, vars: &BTreeMap<String, Var>) {
    for (name, v) in golden["params"].as_object().unwrap() {
        let t = tensor(v);
        let names = core_names(name);
        let rows = t.dim(0).unwrap() / names.len();
        for (i, n) in names.iter().enumerate() {
            set(vars, n, &t.narrow(0, i * rows, rows).unwrap());
        }
    }
    let loaded: usize = golden["params"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| core_names(k).len())
        .sum();
    assert_eq!(loaded, vars.len(), "every core variable is set from torch");
}

/// Compares the gradient of every golden parameter (and of the input) with the core's.
fn check_grads(
    case: &str,
    want: &Value,
    grads: &GradStore,
    vars: &BTreeMap<String, Var>,
    x: &Var,
    worst: &mut Worst,
) {
    for (name, w) in want.as_object().unwrap() {
        let got = if name == "x" {
            grads
                .get(x.as_tensor())
                .expect("no gradient for the input")
                .clone()
        } else {
            let parts: Vec<Tensor> = core_names(name)
                .iter()
                .map(|n| {
                    grads
                        .get(vars[n].as_tensor())
                        .unwrap_or_else(|| panic!("{case}: no gradient for {n}"))
                        .clone()
                })
                .collect();
            Tensor::cat(&parts, 0).unwrap()
        };
        check(case, &format!("gradient of {name}"), &got, w, worst);
    }
}

/// Forward, loss sum(out · r), backward; checks output and gradients; returns the
/// worst errors of the case.
fn run_case(case: &Value, g: &Value, p: &Params, forward: impl Fn(&Tensor) -> Tensor) -> Worst {
    let name = case["name"].as_str().unwrap();
    let vars = vars_of(p);
    let x = Var::from_tensor(&tensor(&g["x"])).unwrap();
    let out = forward(x.as_tensor());
    let mut worst = Worst::default();
    check(name, "output", &out, &case["out"], &mut worst);
    let loss = (&out * &tensor(&g["r"])).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    check_grads(name, &case["grads"], &grads, &vars, &x, &mut worst);
    println!(
        "conformance {name:<26} max abs error {:.2e}, worst error / tolerance {:.3}",
        worst.abs, worst.ratio
    );
    worst
}

fn device() -> Device {
    Device::Cpu
}

#[test]
fn layer_norm_matches_torch() {
    let g = golden("torch_layer_norm.json");
    let p = Params::new(0);
    let ln = layer_norm(16, p.vb()).unwrap();
    assert_eq!(ln.eps, g["eps"].as_f64().unwrap(), "LayerNorm eps");
    load_params(&g, &vars_of(&p));
    for case in g["cases"].as_array().unwrap() {
        run_case(case, &g, &p, |x| ln.forward(x).unwrap());
    }
}

#[test]
fn multi_head_attention_matches_torch() {
    let g = golden("torch_mha.json");
    let (d, h) = (
        g["d_model"].as_u64().unwrap() as usize,
        g["heads"].as_u64().unwrap() as usize,
    );
    let p = Params::new(0);
    let mha = multi_head_attention(MhaConfig::new(d, h), p.vb()).unwrap();
    load_params(&g, &vars_of(&p));
    let x = tensor(&g["x"]);
    let t = x.dim(1).unwrap();
    let cases = g["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let mask = if let Some(l) = case.get("lengths") {
            let lengths: Vec<usize> = l
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            Some(Mask::padding(&lengths, t, t).to_attn(&device()).unwrap())
        } else if case.get("causal").is_some() {
            Some(Mask::causal(t).to_attn(&device()).unwrap())
        } else {
            None
        };
        run_case(case, &g, &p, |x| mha.forward(x, x, mask.as_ref()).unwrap());
    }
}

#[test]
fn encoder_layer_matches_torch_post_ln_and_pre_ln() {
    let g = golden("torch_encoder_layer.json");
    let (d, h, ff) = (
        g["d_model"].as_u64().unwrap() as usize,
        g["heads"].as_u64().unwrap() as usize,
        g["d_ff"].as_u64().unwrap() as usize,
    );
    let t = tensor(&g["x"]).dim(1).unwrap();
    let cases = g["cases"].as_array().unwrap();
    let mut placements = vec![];
    for case in cases {
        let mut cfg = LayerConfig::new(d, h);
        cfg.d_ff = ff;
        cfg.dropout = 0.0;
        cfg.placement = if case["norm_first"].as_bool().unwrap() {
            Placement::PreLn
        } else {
            Placement::PostLn
        };
        cfg.act = match case["activation"].as_str().unwrap() {
            // torch's "gelu" (the default) is the erf form.
            "gelu_erf" => Activation::GeluErf,
            // torch's gelu(approximate="tanh"): the core's fused kernel.
            "gelu_tanh" => Activation::Gelu,
            "relu" => Activation::Relu,
            other => panic!("unknown activation {other}"),
        };
        placements.push(cfg.placement);
        let p = Params::new(0);
        let layer = encoder_layer(cfg, p.vb()).unwrap();
        load_params(&g, &vars_of(&p));
        let mask = case["causal"]
            .as_bool()
            .unwrap()
            .then(|| Mask::causal(t).to_attn(&device()).unwrap());
        let c = LayerCtx {
            mask: mask.as_ref(),
            ..Default::default()
        };
        run_case(case, &g, &p, |x| layer.forward_t(x, &c).unwrap());
    }
    assert!(placements.contains(&Placement::PostLn) && placements.contains(&Placement::PreLn));
}
