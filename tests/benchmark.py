"""Benchmarks (not run by pytest): memory and speed of the metric pass, workflow rerun cost.

    python tests/benchmark.py metrics            # peak memory vs number of tokens; streaming vs naive
    python tests/benchmark.py rerun DIR          # time of a no-op rerun in a finished workflow directory
    python tests/benchmark.py weights            # probe and anisotropy per checkpoint at GPT-2-small shape

Timings on shared machines are noisy: compare the ratios printed within one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, torch
sys.path.insert(0, sys.argv[1])
from lmdyn.divergence import token_metrics
n, d, v, mode = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.manual_seed(0)
h = torch.randn(n, d); w = torch.randn(v, d) / d**0.5; y = torch.randint(0, v, (n,)); lu = torch.log_softmax(torch.randn(v), 0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if mode == "stream":
    out = token_metrics(h, w, y, lu, vocab_chunk=8192, token_chunk=1024)
else:  # naive baseline: full [n, v] logits then log_softmax in float32
    lp = torch.log_softmax(h @ w.T, -1); p = lp.exp()
    out = {"nll": -lp[torch.arange(n), y], "entropy": -(p * lp).sum(1), "kl_unigram": (p * (lp - lu)).sum(1)}
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "extra_mb": (peak - base) / 1024}))
"""


def metrics(args):
    rows = []
    for n in args.tokens:
        for mode in ("stream", "naive"):
            if mode == "naive" and n * args.vocab * 4 > 6e9:
                continue  # the naive baseline would not fit
            res = subprocess.run([sys.executable, "-c", CHILD, str(REPO / "scripts"), str(n), str(args.dim),
                                  str(args.vocab), mode], capture_output=True, text=True, check=True)
            r = json.loads(res.stdout)
            r.update(tokens=n, mode=mode, tokens_per_s=n / r["seconds"])
            rows.append(r)
            print(f"{mode:6s} tokens={n:7d} vocab={args.vocab} d={args.dim}: {r['seconds']:.2f}s "
                  f"({r['tokens_per_s']:.0f} tok/s), extra peak memory {r['extra_mb']:.0f} MB", flush=True)
    return rows


def rerun(args):
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2",
                          *args.extra], cwd=args.dir, capture_output=True, text=True)
    dt = time.perf_counter() - t
    nothing = "Nothing to be done" in res.stdout + res.stderr
    print(f"rerun in {args.dir}: {dt:.1f}s, nothing to be done: {nothing}")


WEIGHTS_CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
from lmdyn.anisotropy import anisotropy
from lmdyn.probe import fit, kl_both
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
V, d, threads, kind = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(threads)
rng = np.random.default_rng(0)
counts = np.floor(1e9 / (rng.permutation(V) + 1.0) ** 1.1)
log_u = np.log((counts + 1) / (counts.sum() + V))
if kind == "init":  # GPT-2's initialisation: N(0, 0.02)
    W = rng.normal(0, 0.02, size=(V, d)).astype(np.float32)
else:  # trained-like: a common offset and a frequency direction on top of noise
    z = (log_u - log_u.mean()) / log_u.std()
    W = (rng.normal(0, 0.1, size=(V, d)) + rng.normal(0, 0.3, size=d) + np.outer(z, rng.normal(0, 0.05, size=d))).astype(np.float32)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter(); res = fit(W, log_u); t_probe = time.perf_counter() - t
peak_probe = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter(); rows, _ = anisotropy(W, sample=5000, seed=0); t_aniso = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"probe_s": t_probe, "iterations": res["iterations"], "converged": res["converged"],
                  "kl": kl_both(log_u, res["log_p"])[0], "aniso_s": t_aniso, "mean_cos": rows[0]["mean_cos"],
                  "peak_mb": peak / 1024, "extra_mb": (peak - base) / 1024}))
"""


def weights(args):
    """Unigram latent probe and anisotropy of one [V, d] matrix, against the speed goals of issue 8."""
    for kind in ("init", "trained"):
        res = subprocess.run([sys.executable, "-c", WEIGHTS_CHILD, str(REPO / "scripts"), str(args.vocab),
                              str(args.dim), str(args.threads), kind], capture_output=True, text=True, check=True)
        r = json.loads(res.stdout)
        print(f"{kind:7s} V={args.vocab} d={args.dim} threads={args.threads}: "
              f"probe {r['probe_s']:.1f}s (goal <= 20 s; {r['iterations']} iterations, converged {r['converged']}, "
              f"KL {r['kl']:.3f}), anisotropy {r['aniso_s']:.1f}s (goal <= 5 s; mean cos {r['mean_cos']:.3f}), "
              f"peak memory of the whole process {r['peak_mb']:.0f} MB (goal <= 1024 MB; "
              f"{r['extra_mb']:.0f} MB above the input matrix)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("metrics")
    m.add_argument("--tokens", type=int, nargs="+", default=[2048, 8192, 32768])
    m.add_argument("--vocab", type=int, default=50277)
    m.add_argument("--dim", type=int, default=512)
    r = sub.add_parser("rerun")
    r.add_argument("dir")
    r.add_argument("extra", nargs="*")
    w = sub.add_parser("weights")
    w.add_argument("--vocab", type=int, default=50257)
    w.add_argument("--dim", type=int, default=768)
    w.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    {"metrics": metrics, "rerun": rerun, "weights": weights}[args.cmd](args)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
