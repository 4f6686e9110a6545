"""Golden files for the conformance test against PyTorch (tests/conformance.rs).

Writes tests/golden/torch_{layer_norm,mha,encoder_layer}.json: weights, inputs, outputs and
gradients of torch.nn.LayerNorm, torch.nn.MultiheadAttention and
torch.nn.TransformerEncoderLayer (Post-LN and Pre-LN), at d_model 16 with 4 heads.

Every weight and input is drawn once (torch.manual_seed(0)), rounded to float32, and then
the forward and backward passes run in float64 on those float32 values: the golden
numbers are the exact answers for the stored f32 weights, so what the Rust test measures
is the core's own f32 error. The loss is sum(out * R) with R a fixed random tensor of the
output's shape; the gradients are of that loss with respect to every parameter and the
input. Run once; the files are committed and the test needs neither Python nor torch:

    python3 bench/make_golden.py            # -> tests/golden/*.json
"""

import argparse
import json
import math
import os

import torch
import torch.nn.functional as F

D, H, FF = 16, 4, 32
B, T = 2, 5


def f32(t):
    """Round to float32 and back to float64 (the values the Rust side will hold)."""
    return t.detach().to(torch.float32).to(torch.float64)


def enc(t):
    """A tensor as {shape, data} with float32 values (shortest round-trip repr)."""
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(repr_f32(v)) for v in t.reshape(-1).tolist()]}


def repr_f32(v):
    # The shortest decimal that reads back as the same float32.
    import numpy as np

    return str(np.float32(v))


def randomize(module, gen):
    """Every parameter redrawn (norm gains near 1, biases nonzero) and rounded to f32."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("weight") and p.dim() == 1:  # LayerNorm gain
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            elif p.dim() == 1:  # biases
                p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            else:
                fan_in = p.shape[1]
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / math.sqrt(fan_in))
            p.copy_(f32(p))


def run(module, x, r, call):
    """Forward, loss sum(out * R), backward; returns out and the gradients by name ('x' too)."""
    module.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out = call(module, x)
    (out * r).sum().backward()
    grads = {name: enc(p.grad) for name, p in module.named_parameters()}
    grads["x"] = enc(x.grad)
    return out, grads


def params_of(module):
    return {name: enc(p) for name, p in module.named_parameters()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/golden")
    a = ap.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    draw = lambda *shape: f32(torch.randn(*shape, generator=gen, dtype=torch.float64))
    meta = {
        "torch_version": torch.__version__,
        "generator": "bench/make_golden.py",
        "seed": 0,
        "loss": "sum(out * r)",
        "note": "weights and inputs are float32 values; outputs and gradients computed in float64, stored as float32",
    }
    files = {}

    # LayerNorm(16), eps 1e-5, with a random affine.
    ln = torch.nn.LayerNorm(D, eps=1e-5).double()
    randomize(ln, gen)
    x, r = draw(B, T, D), draw(B, T, D)
    out, grads = run(ln, x, r, lambda m, x: m(x))
    files["torch_layer_norm.json"] = {
        "meta": meta, "eps": ln.eps, "x": enc(x), "r": enc(r), "params": params_of(ln),
        "cases": [{"name": "layer_norm", "out": enc(out), "grads": grads}],
    }

    # MultiheadAttention(16, 4), bias, batch_first, self-attention; three masks.
    mha = torch.nn.MultiheadAttention(D, H, bias=True, batch_first=True).double()
    randomize(mha, gen)
    x, r = draw(B, T, D), draw(B, T, D)
    lengths = [T, 3]
    pad = torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]  # True = padding (ignored)
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)  # True = not allowed
    cases = []
    for name, kw, desc in [
        ("no_mask", {}, {}),
        ("key_padding", {"key_padding_mask": pad}, {"lengths": lengths}),
        ("causal", {"attn_mask": causal}, {"causal": True}),
    ]:
        out, grads = run(mha, x, r, lambda m, x: m(x, x, x, need_weights=False, **kw)[0])
        cases.append({"name": name, **desc, "out": enc(out), "grads": grads})
    files["torch_mha.json"] = {
        "meta": meta, "d_model": D, "heads": H, "x": enc(x), "r": enc(r), "params": params_of(mha),
        "cases": cases,
    }

    # TransformerEncoderLayer(16, 4, 32, dropout 0, batch_first): one set of weights, run
    # Post-LN and Pre-LN with torch's "gelu" (erf), Pre-LN with tanh-GELU and a causal
    # mask, Post-LN with ReLU.
    x, r = draw(B, T, D), draw(B, T, D)
    tanh_gelu = lambda t: F.gelu(t, approximate="tanh")
    cases, params = [], None
    for name, norm_first, act, act_name, mask in [
        ("post_ln_gelu_erf", False, "gelu", "gelu_erf", None),
        ("pre_ln_gelu_erf", True, "gelu", "gelu_erf", None),
        ("pre_ln_gelu_tanh_causal", True, tanh_gelu, "gelu_tanh", causal),
        ("post_ln_relu", False, "relu", "relu", None),
    ]:
        torch.manual_seed(0)
        layer = torch.nn.TransformerEncoderLayer(
            D, H, dim_feedforward=FF, dropout=0.0, activation=act, layer_norm_eps=1e-5,
            batch_first=True, norm_first=norm_first, bias=True,
        ).double()
        if params is None:
            randomize(layer, gen)
            state = {k: v.clone() for k, v in layer.state_dict().items()}
            params = params_of(layer)
        else:
            layer.load_state_dict(state)
        layer.eval()  # dropout is 0 anyway; gradients still flow (no fast path with grads)
        out, grads = run(layer, x, r, lambda m, x: m(x, src_mask=mask))
        cases.append({
            "name": name, "norm_first": norm_first, "activation": act_name, "causal": mask is not None,
            "out": enc(out), "grads": grads,
        })
    files["torch_encoder_layer.json"] = {
        "meta": meta, "d_model": D, "heads": H, "d_ff": FF, "eps": 1e-5, "x": enc(x), "r": enc(r),
        "params": params, "cases": cases,
    }

    os.makedirs(a.out, exist_ok=True)
    for name, obj in files.items():
        path = os.path.join(a.out, name)
        with open(path, "w") as f:
            json.dump(obj, f, separators=(",", ":"))
            f.write("\n")
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
