"""The reference training steps of `harness bench`, in PyTorch (CPU, eager), for a side-by-side ratio.

Same models and sizes as src/perf.rs and bench/jax_step.py, both f32, tanh-GELU, Post-LN
encoder layers, sinusoidal positions, cross-entropy on every position, AdamW (lr 1e-3):
  base: token batch 32 x 64, d_model 128, 4 heads, 2 layers, d_ff 512, vocabulary 64,
        no mask, separate output layer with bias, embedding N(0, 1).
  real: token batch 16 x 128, d_model 256, 8 heads, 4 layers, d_ff 1024, vocabulary 2048,
        causal mask (computed densely: -inf added to the scores), tied embeddings
        (logits = h E^T, no output bias), embedding N(0, 1/d_model).

Each thread count runs in a fresh child process (torch.set_num_threads), so the peak
resident memory (getrusage ru_maxrss: the whole process, Python and torch included) is
that step's own. One CSV row per thread count.

    python3 bench/torch_step.py                      # base -> results/perf/timing_peer_pytorch.csv
    python3 bench/torch_step.py --reference real     # real -> results/perf/timing_peer_pytorch_real.csv
"""

import math
import os
import sys

from peer import REFS, main, time_steps

OUT = {
    "base": "results/perf/timing_peer_pytorch.csv",
    "real": "results/perf/timing_peer_pytorch_real.csv",
}


def child(reference, threads, reps):
    """Time one reference step at `threads` threads in this process; print one JSON line."""
    import json

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    c = REFS[reference]
    B, T, D, H, L, FF, V = (c[k] for k in ("B", "T", "D", "H", "L", "FF", "V"))

    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (torch.nn.Linear(D, D) for _ in range(4))
            self.f1, self.f2 = torch.nn.Linear(D, FF), torch.nn.Linear(FF, D)
            self.ln1, self.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)

        def forward(self, h, mask):
            split = lambda t: t.reshape(B, T, H, D // H).transpose(1, 2)
            q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
            s = q @ k.transpose(-1, -2) / math.sqrt(D // H)
            if mask is not None:
                s = s + mask
            w = torch.softmax(s, dim=-1)
            a = (w @ v).transpose(1, 2).reshape(B, T, D)
            h = self.ln1(h + self.o(a))
            return self.ln2(h + self.f2(F.gelu(self.f1(h), approximate="tanh")))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(V, D)
            self.layers = torch.nn.ModuleList(Layer() for _ in range(L))
            if c["tied"]:
                torch.nn.init.normal_(self.embed.weight, std=1.0 / math.sqrt(D))
                self.head = None
            else:
                self.head = torch.nn.Linear(D, V)
            pos = torch.arange(T)[:, None]
            i = torch.arange(D)[None, :] // 2
            ang = pos / torch.pow(10000.0, 2 * i / D)
            self.register_buffer("pe", torch.where(torch.arange(D) % 2 == 0, torch.sin(ang), torch.cos(ang)))
            causal = torch.full((T, T), float("-inf")).triu(1)
            self.register_buffer("mask", causal if c["causal"] else None)

        def forward(self, x):
            h = self.embed(x) + self.pe
            for layer in self.layers:
                h = layer(h, self.mask)
            return F.linear(h, self.embed.weight) if self.head is None else self.head(h)

    torch.manual_seed(0)
    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))

    def one(_):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        loss.item()

    print(json.dumps({
        **time_steps(one, reps),
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
    }))


def env_for(n):
    return dict(os.environ, OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))


def check(m, n):
    if m["threads"] != n:
        sys.exit(f"asked for {n} threads, torch uses {m['threads']}")


if __name__ == "__main__":
    main(__file__, __doc__, "pytorch", "PyTorch", OUT, child, env_for=env_for, check=check)
