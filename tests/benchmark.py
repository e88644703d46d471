"""Benchmarks (not run by pytest): memory and speed of the metric pass, workflow rerun cost.

    python tests/benchmark.py metrics            # peak memory vs number of tokens; streaming vs naive
    python tests/benchmark.py rerun DIR          # time of a no-op rerun in a finished workflow directory
    python tests/benchmark.py workflow [DIR]     # the default run from a clean copy of the repository:
                                                 # wall time, job time per rule (benchmarks/), no-op rerun

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


def job_times(workdir: Path) -> dict:
    """Summed job seconds per rule from the rules' benchmark: files (benchmarks/<rule>/...tsv)."""
    out = {}
    for f in sorted((workdir / "benchmarks").rglob("*.tsv")):
        rule = f.relative_to(workdir / "benchmarks").parts[0]
        lines = f.read_text().splitlines()
        if len(lines) > 1:
            n, s = out.get(rule, (0, 0.0))
            out[rule] = (n + 1, s + float(lines[1].split("\t")[0]))
    return out


def workflow(args):
    """The README's default run (install excluded) in a clean copy of the committed tree, then a
    no-op rerun: wall times, and job time per rule with a benchmark: directive."""
    import tempfile

    workdir = Path(args.dir or tempfile.mkdtemp(prefix="lmdyn-workflow-"))
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(f"git -C {REPO} archive HEAD | tar -x -C {workdir}", shell=True, check=True)
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores)]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=True)
    first = time.perf_counter() - t
    t = time.perf_counter()
    res = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=True)
    again = time.perf_counter() - t
    print(f"default run in {workdir} ({args.cores} cores): {first:.0f} s wall")
    for rule, (n, s) in sorted(job_times(workdir).items(), key=lambda kv: -kv[1][1]):
        print(f"  {rule:22s} {n:3d} jobs {s:7.1f} s job time ({s / n:.1f} s each)")
    nothing = "Nothing to be done" in res.stdout + res.stderr
    print(f"no-op rerun: {again:.1f} s (goal <= 5 s), nothing to be done: {nothing}")


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
    w = sub.add_parser("workflow")
    w.add_argument("dir", nargs="?", help="working directory (default: a new temporary one)")
    w.add_argument("--cores", type=int, default=2)
    args = p.parse_args()
    {"metrics": metrics, "rerun": rerun, "workflow": workflow}[args.cmd](args)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
