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

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time

REFS = {
    "base": dict(B=32, T=64, D=128, H=4, L=2, FF=512, V=64, tied=False, causal=False),
    "real": dict(B=16, T=128, D=256, H=8, L=4, FF=1024, V=2048, tied=True, causal=True),
}
OUT = {
    "base": "results/perf/timing_peer_pytorch.csv",
    "real": "results/perf/timing_peer_pytorch_real.csv",
}


def peak_rss_mib():
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    return kb / (1024.0 * 1024.0) if sys.platform == "darwin" else kb / 1024.0


def child(reference, threads, reps):
    """Time one reference step at `threads` threads in this process; print one JSON line."""
    import resource

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
    times = []
    warmup = 3
    for i in range(reps + warmup):
        if i == warmup:
            r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        loss.item()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    print(json.dumps({
        "median_ms": statistics.median(times) * 1e3,
        "peak_rss_mib": peak_rss_mib(),
        "cpu_per_wall": cpu / (w1 - w0),
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", choices=sorted(REFS), default="base")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--out", help="CSV path (default: results/perf/timing_peer_pytorch[_real].csv)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    if a.child:
        child(a.reference, threads[0], a.reps)
        return
    out = a.out or OUT[a.reference]
    rows = []
    for n in threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--reference", a.reference,
               "--threads", str(n), "--reps", str(a.reps)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"PyTorch {a.reference} step at {n} threads failed:\n{r.stderr}")
        m = json.loads(r.stdout.strip().splitlines()[-1])
        if m["threads"] != n:
            sys.exit(f"asked for {n} threads, torch uses {m['threads']}")
        rows.append([a.reference, "pytorch", n, m["median_ms"], m["peak_rss_mib"], m["cpu_per_wall"],
                     m["version"], a.reps])
        print(f"PyTorch {a.reference} step, {n} thread{'' if n == 1 else 's'}: {m['median_ms']:.1f} ms median over {a.reps} "
              f"steps, peak RSS {m['peak_rss_mib']:.0f} MiB, CPU/wall {m['cpu_per_wall']:.2f}")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["reference", "system", "threads", "median_ms", "peak_rss_mib", "cpu_per_wall", "version", "reps"])
        w.writerows(rows)
    print(f"-> {out}")


if __name__ == "__main__":
    main()
