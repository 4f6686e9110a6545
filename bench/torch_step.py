"""The reference training step of `harness bench`, in PyTorch (CPU, eager), for a side-by-side ratio.

Same model and sizes as src/perf.rs and bench/jax_step.py: token batch 32 x 64, d_model 128,
4 heads, 2 Post-LN encoder layers, d_ff 512 with tanh-GELU, vocabulary 64, f32,
cross-entropy on every position, AdamW.

    python3 bench/torch_step.py --out results/perf/timing_peer_pytorch.csv
"""

import argparse
import csv
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

B, T, D, H, L, FF, V = 32, 64, 128, 4, 2, 512, 64


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(D, D) for _ in range(4))
        self.f1, self.f2 = torch.nn.Linear(D, FF), torch.nn.Linear(FF, D)
        self.ln1, self.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)

    def forward(self, h):
        split = lambda t: t.reshape(B, T, H, D // H).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // H), dim=-1)
        a = (w @ v).transpose(1, 2).reshape(B, T, D)
        h = self.ln1(h + self.o(a))
        return self.ln2(h + self.f2(F.gelu(self.f1(h), approximate="tanh")))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(V, D)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(L))
        self.head = torch.nn.Linear(D, V)
        pos = torch.arange(T)[:, None]
        i = torch.arange(D)[None, :] // 2
        ang = pos / torch.pow(10000.0, 2 * i / D)
        self.register_buffer("pe", torch.where(torch.arange(D) % 2 == 0, torch.sin(ang), torch.cos(ang)))

    def forward(self, x):
        h = self.embed(x) + self.pe
        for layer in self.layers:
            h = layer(h)
        return self.head(h)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", default="results/perf/timing_peer_pytorch.csv")
    a = ap.parse_args()
    torch.manual_seed(0)
    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))
    times = []
    for i in range(a.reps + 3):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        loss.item()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1e3
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["system", "median_ms", "torch_version", "threads"])
        w.writerow(["pytorch", ms, torch.__version__, torch.get_num_threads()])
    print(f"PyTorch reference step: {ms:.1f} ms median over {a.reps} steps -> {a.out}")


if __name__ == "__main__":
    main()
