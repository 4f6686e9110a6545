"""What the peer benchmarks (jax_step.py, torch_step.py) share: the two reference steps'
sizes, the timing loop's measurements, and the driver that runs each thread count in a
child process of its own and writes the CSV. Imported from those scripts' folder."""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

# The reference steps of src/perf.rs (`StepConfig`): batch B x T tokens, d_model D,
# H heads, L Post-LN layers, d_ff FF, vocabulary V.
REFS = {
    "base": dict(B=32, T=64, D=128, H=4, L=2, FF=512, V=64, tied=False, causal=False),
    "real": dict(B=16, T=128, D=256, H=8, L=4, FF=1024, V=2048, tied=True, causal=True),
}


def peak_rss_mib():
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    return kb / (1024.0 * 1024.0) if sys.platform == "darwin" else kb / 1024.0


def time_steps(step, reps, warmup=3):
    """Runs `step(i)` warmup + reps times (it must finish its work before returning);
    returns the median of the timed steps, the peak RSS and CPU over wall time."""
    import resource

    times = []
    for i in range(reps + warmup):
        if i == warmup:
            r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        t0 = time.perf_counter()
        step(i)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return {
        "median_ms": statistics.median(times) * 1e3,
        "peak_rss_mib": peak_rss_mib(),
        "cpu_per_wall": cpu / (w1 - w0),
    }


def main(script, doc, system, label, outs, child, env_for=None, pin_for=None, check=None, extra=()):
    """The command line of a peer script: with --child, `child(reference, threads, reps)`
    prints one JSON line; otherwise each thread count runs in a child process (environment
    from `env_for(n)`, `pin_for(n)` run in the child before it starts), `check(m, n)` may
    refuse its result, and one CSV row per thread count is written, with the `extra`
    fields of the child's JSON as further columns."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--reference", choices=sorted(REFS), default="base")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--out", help=f"CSV path (default: {outs['base'].replace('.csv', '[_real].csv')})")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    if a.child:
        child(a.reference, threads[0], a.reps)
        return
    out = a.out or outs[a.reference]
    rows = []
    for n in threads:
        env = env_for(n) if env_for else dict(os.environ)
        cmd = [sys.executable, os.path.abspath(script), "--child", "--reference", a.reference,
               "--threads", str(n), "--reps", str(a.reps)]
        pin = pin_for(n) if pin_for else None
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, preexec_fn=pin)
        if r.returncode != 0:
            sys.exit(f"{label} {a.reference} step at {n} threads failed:\n{r.stderr}")
        m = json.loads(r.stdout.strip().splitlines()[-1])
        if check:
            check(m, n)
        rows.append([a.reference, system, n, m["median_ms"], m["peak_rss_mib"], m["cpu_per_wall"],
                     m["version"], a.reps] + [m[k] for k in extra])
        print(f"{label} {a.reference} step, {n} thread{'' if n == 1 else 's'}: {m['median_ms']:.1f} ms median over {a.reps} "
              f"steps, peak RSS {m['peak_rss_mib']:.0f} MiB, CPU/wall {m['cpu_per_wall']:.2f}")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["reference", "system", "threads", "median_ms", "peak_rss_mib", "cpu_per_wall", "version",
                    "reps"] + list(extra))
        w.writerows(rows)
    print(f"-> {out}")
