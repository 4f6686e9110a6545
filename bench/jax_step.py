"""The reference training steps of `harness bench`, in JAX (CPU, jit), for a side-by-side ratio.

Same models and sizes as src/perf.rs and bench/torch_step.py, both f32, tanh-GELU, Post-LN
encoder layers, sinusoidal positions, cross-entropy on every position, AdamW (lr 1e-3,
written out here, so only `jax` is needed):
  base: token batch 32 x 64, d_model 128, 4 heads, 2 layers, d_ff 512, vocabulary 64,
        no mask, separate output layer with bias, embedding N(0, 1).
  real: token batch 16 x 128, d_model 256, 8 heads, 4 layers, d_ff 1024, vocabulary 2048,
        causal mask (computed densely: -inf added to the scores), tied embeddings
        (logits = h E^T, no output bias), embedding N(0, 1/d_model).

Each thread count runs in a fresh child process, so the peak resident memory (getrusage
ru_maxrss: the whole process, Python and XLA included) is that step's own. XLA sizes its
CPU thread pool from the CPUs the process may run on, so the child pins itself to the
first N of them (os.sched_setaffinity, Linux) and, for one thread, also turns off Eigen's
multi-threading (XLA_FLAGS); the cpu_per_wall column shows whether the limit held.

    python3 bench/jax_step.py                        # base -> results/perf/timing_peer_jax.csv
    python3 bench/jax_step.py --reference real       # real -> results/perf/timing_peer_jax_real.csv
"""

import math
import os
import sys

from peer import REFS, main, time_steps

OUT = {
    "base": "results/perf/timing_peer_jax.csv",
    "real": "results/perf/timing_peer_jax_real.csv",
}


def child(reference, threads, reps):
    """Time one reference step in this process (threads already limited); print one JSON line."""
    import json

    import jax
    import jax.numpy as jnp

    c = REFS[reference]
    B, T, D, H, L, F, V = (c[k] for k in ("B", "T", "D", "H", "L", "FF", "V"))

    def init(key):
        def dense(key, i, o):
            return {"w": jax.random.normal(key, (i, o)) / math.sqrt(i), "b": jnp.zeros(o)}

        keys = iter(jax.random.split(key, 64))
        std = 1.0 / math.sqrt(D) if c["tied"] else 1.0
        p = {"embed": jax.random.normal(next(keys), (V, D)) * std, "layers": []}
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
        if not c["tied"]:
            p["head"] = dense(next(keys), D, V)
        return p

    pos = jnp.arange(T)[:, None]
    i = jnp.arange(D)[None, :] // 2
    ang = pos / jnp.power(10000.0, 2 * i / D)
    pe = jnp.where(jnp.arange(D) % 2 == 0, jnp.sin(ang), jnp.cos(ang))
    mask = jnp.where(jnp.tril(jnp.ones((T, T), bool)), 0.0, -jnp.inf) if c["causal"] else None

    def ln(x, p):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / jnp.sqrt(v + 1e-5) * p["g"] + p["b"]

    def lin(x, p):
        return x @ p["w"] + p["b"]

    def forward(p, x):
        h = p["embed"][x] + pe
        for lp in p["layers"]:
            split = lambda t: t.reshape(B, T, H, D // H).transpose(0, 2, 1, 3)
            q, k, v = split(lin(h, lp["q"])), split(lin(h, lp["k"])), split(lin(h, lp["v"]))
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D // H)
            if mask is not None:
                s = s + mask
            w = jax.nn.softmax(s, axis=-1)
            a = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
            h = ln(h + lin(a, lp["o"]), lp["ln1"])
            h = ln(h + lin(jax.nn.gelu(lin(h, lp["f1"]), approximate=True), lp["f2"]), lp["ln2"])
        return h @ p["embed"].T if c["tied"] else lin(h, p["head"])

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

    p = init(jax.random.PRNGKey(0))
    m = jax.tree_util.tree_map(jnp.zeros_like, p)
    v = jax.tree_util.tree_map(jnp.zeros_like, p)
    x = jax.random.randint(jax.random.PRNGKey(1), (B, T), 0, V)
    y = jax.random.randint(jax.random.PRNGKey(2), (B, T), 0, V)
    state = [p, m, v]

    def one(i):
        state[0], state[1], state[2], loss = step(*state, float(i + 1), x, y)
        loss.block_until_ready()

    print(json.dumps({
        **time_steps(one, reps),
        "version": jax.__version__,
        "devices": str(jax.devices()),
    }))


def env_for(n):
    """At one thread, Eigen's own threading is off too."""
    env = dict(os.environ)
    if n == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flags).strip()
    return env


def pin_for(n):
    """XLA sizes its pool from the CPUs the process may use: the child gets the first n."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < n:
        sys.exit(f"{n} threads asked for, but this process may run on {len(cpus)} CPUs")
    return lambda: os.sched_setaffinity(0, cpus[:n])


if __name__ == "__main__":
    main(__file__, __doc__, "jax", "JAX", OUT, child, env_for=env_for, pin_for=pin_for, extra=["devices"])
