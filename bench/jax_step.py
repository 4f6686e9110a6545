"""The reference training step of `harness bench`, in JAX (CPU, jit), for a side-by-side ratio.

Same model and sizes as src/perf.rs: token batch 32 x 64, d_model 128, 4 heads, 2 Post-LN
encoder layers, d_ff 512 with tanh-GELU, vocabulary 64, f32, cross-entropy on every
position, AdamW (written out here, so only `jax` is needed).

    python3 bench/jax_step.py --out results/perf/timing_peer_jax.csv
"""

import argparse
import csv
import math
import os
import statistics
import time

import jax
import jax.numpy as jnp

B, T, D, H, L, F, V = 32, 64, 128, 4, 2, 512, 64


def init(key):
    def dense(key, i, o):
        return {"w": jax.random.normal(key, (i, o)) / math.sqrt(i), "b": jnp.zeros(o)}

    keys = iter(jax.random.split(key, 64))
    p = {"embed": jax.random.normal(next(keys), (V, D)), "layers": []}
    for _ in range(L):
        p["layers"].append(
            {
                "q": dense(next(keys), D, D), "k": dense(next(keys), D, D),
                "v": dense(next(keys), D, D), "o": dense(next(keys), D, D),
                "f1": dense(next(keys), D, F), "f2": dense(next(keys), F, D),
                "ln1": {"g": jnp.ones(D), "b": jnp.zeros(D)},
                "ln2": {"g": jnp.ones(D), "b": jnp.zeros(D)},
            }
        )
    p["head"] = dense(next(keys), D, V)
    return p


def sinusoid():
    pos = jnp.arange(T)[:, None]
    i = jnp.arange(D)[None, :] // 2
    ang = pos / jnp.power(10000.0, 2 * i / D)
    return jnp.where(jnp.arange(D) % 2 == 0, jnp.sin(ang), jnp.cos(ang))


def ln(x, p):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / jnp.sqrt(v + 1e-5) * p["g"] + p["b"]


def lin(x, p):
    return x @ p["w"] + p["b"]


def forward(p, x):
    h = p["embed"][x] + sinusoid()
    for lp in p["layers"]:
        split = lambda t: t.reshape(B, T, H, D // H).transpose(0, 2, 1, 3)
        q, k, v = split(lin(h, lp["q"])), split(lin(h, lp["k"])), split(lin(h, lp["v"]))
        w = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(D // H), axis=-1)
        a = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        h = ln(h + lin(a, lp["o"]), lp["ln1"])
        h = ln(h + lin(jax.nn.gelu(lin(h, lp["f1"]), approximate=True), lp["f2"]), lp["ln2"])
    return lin(h, p["head"])


def loss_fn(p, x, y):
    logp = jax.nn.log_softmax(forward(p, x), axis=-1)
    return -jnp.take_along_axis(logp, y[..., None], axis=-1).mean()


@jax.jit
def step(p, m, v, t, x, y):
    loss, g = jax.value_and_grad(loss_fn)(p, x, y)
    lr, b1, b2, eps, wd = 1e-3, 0.9, 0.999, 1e-8, 0.01
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
    def upd(p, m, v):
        mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
        return p * (1 - lr * wd) - lr * mh / (jnp.sqrt(vh) + eps)
    p = jax.tree_util.tree_map(upd, p, m, v)
    return p, m, v, loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", default="results/perf/timing_peer_jax.csv")
    a = ap.parse_args()
    key = jax.random.PRNGKey(0)
    p = init(key)
    m = jax.tree_util.tree_map(jnp.zeros_like, p)
    v = jax.tree_util.tree_map(jnp.zeros_like, p)
    x = jax.random.randint(jax.random.PRNGKey(1), (B, T), 0, V)
    y = jax.random.randint(jax.random.PRNGKey(2), (B, T), 0, V)
    times = []
    for i in range(a.reps + 3):
        t0 = time.perf_counter()
        p, m, v, loss = step(p, m, v, float(i + 1), x, y)
        loss.block_until_ready()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1e3
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["system", "median_ms", "jax_version", "devices"])
        w.writerow(["jax", ms, jax.__version__, str(jax.devices())])
    print(f"JAX reference step: {ms:.1f} ms median over {a.reps} steps -> {a.out}")


if __name__ == "__main__":
    main()
