"""Benchmarks (not run by pytest): memory and speed of the metric pass, workflow rerun cost.

    python tests/benchmark.py metrics            # peak memory vs number of tokens; streaming vs naive
    python tests/benchmark.py rerun DIR          # time of a no-op rerun in a finished workflow directory
    python tests/benchmark.py geometry           # layer classifier (all variants) on 50,000 states of d = 768
    python tests/benchmark.py neurons            # congruence + exclusive pairs, gpt2-large shape, random weights

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


def geometry(args):
    """Every classifier variant of lmdyn.geometry on planted states of the given shape, 2 threads."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    sys.path.insert(0, str(REPO / "scripts"))
    import numpy as np
    from threadpoolctl import threadpool_limits

    from lmdyn import geometry as geo

    C = args.layers + 1
    N = args.states // (C * args.tokens)
    rng = np.random.default_rng(0)
    off = rng.standard_normal((C, 1, 1, args.dim)).astype(np.float32) * 0.3
    states = rng.standard_normal((C, N, args.tokens, args.dim), dtype=np.float32) + off
    docs = np.arange(N) // 2
    tr = (rng.standard_normal((C, N // 4, args.tokens, args.dim), dtype=np.float32) + off, np.arange(N // 4))
    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with threadpool_limits(args.threads):
        t, c = time.perf_counter(), cpu()
        out = geo.layer_classifier(states, docs, transfer=tr, lengths=[args.tokens // 2], n_boot=1000)
        dt, dc = time.perf_counter() - t, cpu() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(out["accuracy"][["variant", "split", "n_tokens", "accuracy", "ci_low", "ci_high", "n_train"]].to_string())
    print(f"geometry: {C * N * args.tokens} states (C={C}, N={N}, L={args.tokens}, d={args.dim}), "
          f"{args.threads} threads: {dt:.1f}s wall ({dc:.1f}s CPU) for all variants, peak RSS {peak / 1024:.0f} MB "
          f"(base {base / 1024:.0f})")
    return dt


def neurons(args):
    """Congruence scan and exclusive pairs on random weights of the gpt2-large shape (36 x 5,120 x 50,257).

    ``--layers`` below 36 runs that many layers and extrapolates linearly (the scan is per layer).
    """
    sys.path.insert(0, str(REPO / "scripts"))
    import torch

    from lmdyn import neurons as nr

    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    W_U = torch.randn(args.vocab, args.dim, generator=g)

    def w_out(l):  # generated per layer, as a model's layers would be read one at a time
        return torch.randn(args.mlp, args.dim, generator=torch.Generator().manual_seed(1 + l))

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, c = time.perf_counter(), cpu()
    scan = nr.congruence_scan(w_out, args.layers, W_U, targets=[10, 11], vocab_chunk=args.chunk)
    pairs = nr.exclusive_pairs(scan, top=20)
    dt, dc = time.perf_counter() - t, cpu() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = args.full_layers / args.layers
    print(pairs.head(3).to_string())
    # On a shared machine wall time includes waiting for a core; CPU time / threads is what 2 idle cores need.
    print(f"neurons: {args.layers} layers x {args.mlp} neurons x {args.vocab} tokens (d={args.dim}), {args.threads} "
          f"threads: {dt:.1f}s wall, {dc:.1f}s CPU; extrapolated to {args.full_layers} layers: {dt * scale / 60:.1f} min "
          f"wall here, {dc * scale / args.threads / 60:.1f} min on {args.threads} idle cores; peak RSS {peak / 1024:.0f} MB")
    return dt * scale


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
    g = sub.add_parser("geometry")
    g.add_argument("--states", type=int, default=50_000)
    g.add_argument("--dim", type=int, default=768)
    g.add_argument("--layers", type=int, default=12)
    g.add_argument("--tokens", type=int, default=16)
    g.add_argument("--threads", type=int, default=2)
    nb = sub.add_parser("neurons")
    nb.add_argument("--layers", type=int, default=36)
    nb.add_argument("--full-layers", type=int, default=36)
    nb.add_argument("--mlp", type=int, default=5120)
    nb.add_argument("--vocab", type=int, default=50257)
    nb.add_argument("--dim", type=int, default=1280)
    nb.add_argument("--chunk", type=int, default=8192)
    nb.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    {"metrics": metrics, "rerun": rerun, "geometry": geometry, "neurons": neurons}[args.cmd](args)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
