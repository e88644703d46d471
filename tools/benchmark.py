"""Benchmarks (not run by pytest): memory and speed of the metric pass, workflow rerun cost.

    python tools/benchmark.py kernels            # kernel ratios next to their speed goals (CPU, and CUDA if present)
    python tools/benchmark.py metrics            # peak memory vs number of tokens; streaming vs naive
    python tools/benchmark.py rerun DIR          # time of a no-op rerun in a finished workflow directory
    python tools/benchmark.py workflow [DIR]     # the default run from a clean copy of the repository:
                                                 # wall time, job time per rule (benchmarks/), no-op rerun
    python tools/benchmark.py weights            # probe and anisotropy per checkpoint at GPT-2-small shape
    python tools/benchmark.py geometry           # layer classifier (all variants) on 50,000 states of d = 768
    python tools/benchmark.py neurons            # congruence + exclusive pairs, gpt2-large shape, random weights
    python tools/benchmark.py scale DIR          # tiny checkpoints under PolyPythias names: full run, reruns,
                                                 # submissions of the full grid (tools/scale.py, docs/scaling.md)

Timings on shared machines are noisy: compare the ratios printed within one run.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, torch
sys.path.insert(0, sys.argv[1])
from lmdyn.divergence.metrics import token_metrics
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
            res = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(REPO / "scripts"),
                    str(n),
                    str(args.dim),
                    str(args.vocab),
                    mode,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(res.stdout)
            r.update(tokens=n, mode=mode, tokens_per_s=n / r["seconds"])
            rows.append(r)
            print(
                f"{mode:6s} tokens={n:7d} vocab={args.vocab} d={args.dim}: {r['seconds']:.2f}s "
                f"({r['tokens_per_s']:.0f} tok/s), extra peak memory {r['extra_mb']:.0f} MB",
                flush=True,
            )
    return rows


def rerun(args):
    t = time.perf_counter()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--cores",
            "2",
            *args.extra,
        ],
        cwd=args.dir,
        capture_output=True,
        text=True,
    )
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


# ---------------------------------------------------------------------------------------------------
# kernels: the metric pass and the pairs' KL against their earlier versions and their speed goals,
# measured side by side (interleaved repeats, best of each)


def _old_token_metrics(hidden, unembed, targets, log_unigram, vocab_chunk=8192, token_chunk=1024):
    """The earlier metric pass (reference only): exp, z - m twice, separate sums."""
    import math

    import torch

    w, logu, vocab = unembed.float(), log_unigram.float(), unembed.shape[0]
    out = []
    for t0 in range(0, hidden.shape[0], token_chunk):
        h, y = hidden[t0 : t0 + token_chunk].float(), targets[t0 : t0 + token_chunk]
        n = h.shape[0]
        m = torch.full((n,), -math.inf)
        s, t, r = torch.zeros(n), torch.zeros(n), torch.zeros(n)
        for v0 in range(0, vocab, vocab_chunk):
            z = h @ w[v0 : v0 + vocab_chunk].T
            m_new = torch.maximum(m, z.max(dim=1).values)
            a = torch.where(torch.isfinite(m), torch.exp(m - m_new), torch.zeros_like(m))
            shift = torch.where(torch.isfinite(m), m - m_new, torch.zeros_like(m))
            e = torch.exp(z - m_new[:, None])
            t = a * (t + shift * s) + (e * (z - m_new[:, None])).sum(1)
            s = a * s + e.sum(1)
            r = a * r + e @ logu[v0 : v0 + vocab_chunk]
            m = m_new
        out.append((m + torch.log(s) - (h * w[y]).sum(1), torch.log(s) - t / s, r))
    return out


def _old_pairwise_kl(ha_all, wa, hb_all, wb, vocab_chunk=8192, token_chunk=1024):
    """One pair's KL as computed earlier (reference only): both logit chunks per pair."""
    import math

    import torch

    vocab, out = wa.shape[0], []
    for t0 in range(0, ha_all.shape[0], token_chunk):
        ha, hb = ha_all[t0 : t0 + token_chunk], hb_all[t0 : t0 + token_chunk]
        n = ha.shape[0]
        ma, mb = torch.full((n,), -math.inf), torch.full((n,), -math.inf)
        sa, sb, tab, tba = (torch.zeros(n) for _ in range(4))
        for v0 in range(0, vocab, vocab_chunk):
            za, zb = ha @ wa[v0 : v0 + vocab_chunk].T, hb @ wb[v0 : v0 + vocab_chunk].T
            ma_new, mb_new = (
                torch.maximum(ma, za.max(1).values),
                torch.maximum(mb, zb.max(1).values),
            )
            aa = torch.where(torch.isfinite(ma), torch.exp(ma - ma_new), torch.zeros_like(ma))
            ab = torch.where(torch.isfinite(mb), torch.exp(mb - mb_new), torch.zeros_like(mb))
            ea, eb = torch.exp(za - ma_new[:, None]), torch.exp(zb - mb_new[:, None])
            d = za - zb
            tab, tba = aa * tab + (ea * d).sum(1), ab * tba - (eb * d).sum(1)
            sa, sb = aa * sa + ea.sum(1), ab * sb + eb.sum(1)
            ma, mb = ma_new, mb_new
        lse_a, lse_b = ma + torch.log(sa), mb + torch.log(sb)
        out.append((tab / sa - lse_a + lse_b, tba / sb - lse_b + lse_a))
    return out


def _bare_gemm(hs, ws, vocab_chunk, token_chunk):
    """h @ W.T over the same (token chunk, vocab chunk) tiles as the passes, nothing else."""
    import torch

    n_tok, vocab = hs[0].shape[0], ws[0].shape[0]
    buf = torch.empty(min(token_chunk, n_tok) * min(vocab_chunk, vocab), device=ws[0].device)
    for h, w in zip(hs, ws):
        for t0 in range(0, n_tok, token_chunk):
            hh = h[t0 : t0 + token_chunk]
            for v0 in range(0, vocab, vocab_chunk):
                k = min(vocab_chunk, vocab - v0)
                torch.mm(hh, w[v0 : v0 + k].T, out=buf[: hh.shape[0] * k].view(hh.shape[0], k))


def _compiled_metric_pass():
    """The metric pass with its per-chunk elementwise work (running max, exp2, the three sums) fused
    by ``torch.compile`` (inductor) and the GEMM left to torch.mm: goal 3's other route, measured
    beside the library's hand-fused pass. Same results as ``token_metrics`` up to float32 rounding."""
    import torch

    from lmdyn.divergence import metrics as div

    @torch.compile(dynamic=False)
    def step(z, m, s, t, r, logu):
        m_new = torch.maximum(m, z.amax(1))
        first = ~torch.isfinite(m)
        shift = torch.where(first, torch.zeros_like(m), m - m_new)
        a = torch.where(first, torch.zeros_like(m), torch.exp2(shift))
        zc = z - m_new[:, None]
        e = torch.exp2(zc)
        return (
            m_new,
            a * s + e.sum(1),
            a * (t + shift * s) + (e * zc).sum(1),
            a * r + (e * logu).sum(1),
        )

    def run(hidden, w, y, logu, vc, tc):
        out = []
        for t0 in range(0, hidden.shape[0], tc):
            h = hidden[t0 : t0 + tc]
            n = h.shape[0]
            h2 = h * div.LOG2E
            m = torch.full((n,), -math.inf, device=h.device)
            s, t, r = (torch.zeros(n, device=h.device) for _ in range(3))
            for v0 in range(0, w.shape[0], vc):
                z = h2 @ w[v0 : v0 + vc].T
                m, s, t, r = step(z, m, s, t, r, logu[v0 : v0 + vc])
            log_s = torch.log(s)
            entropy = log_s - div.LN2 * t / s
            out.append(
                (m * div.LN2 + log_s - (h * w[y[t0 : t0 + tc]]).sum(1), entropy, -entropy - r / s)
            )
        return out

    return run


def _side_by_side(fns: dict, repeats: int, dev: str) -> dict:
    """Best wall and CPU seconds of each callable; the callables run interleaved, so load drifts on a
    shared machine hit them alike."""
    import torch

    best = {k: [math.inf, math.inf] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            if dev == "cuda":
                torch.cuda.synchronize()
            t, c = time.perf_counter(), time.process_time()
            f()
            if dev == "cuda":
                torch.cuda.synchronize()
            best[k][0] = min(best[k][0], time.perf_counter() - t)
            best[k][1] = min(best[k][1], time.process_time() - c)
    return best


def _ratio_line(label, num, den, goal=None, unit_cpu=True):
    wall = num[0] / den[0]
    cpu = f", CPU-time ratio {num[1] / den[1]:.2f}" if unit_cpu else ""
    verdict = "" if goal is None else f"   goal <= {goal}: {'met' if wall <= goal else 'NOT met'}"
    print(f"  {label:58s} {num[0]:7.2f}s / {den[0]:7.2f}s = {wall:5.2f}{cpu}{verdict}", flush=True)


def _kernel_ratios(args, dev):
    import torch

    from lmdyn.divergence import metrics as div

    torch.manual_seed(0)
    V, d = args.vocab, args.dim
    vc, tc = args.vocab_chunk, args.token_chunk
    cpu = dev == "cpu"
    print(
        f"[{dev}] vocabulary {V}, d = {d}, chunks {tc} tokens x {vc} vocabulary; best of {args.repeats} "
        "interleaved repeats (wall time; the CPU-time ratio is less sensitive to other load)",
        flush=True,
    )
    w = (torch.randn(V, d) / d**0.5 * 3).to(dev)  # logits with a spread like a trained LM's
    lu = torch.log_softmax(torch.randn(V), 0).to(dev)
    for n in args.tokens:
        h = torch.randn(n, d, device=dev)
        y = torch.randint(0, V, (n,), device=dev)
        fns = {
            "gemm": lambda: _bare_gemm([h], [w], vc, tc),
            "pass": lambda: div.token_metrics(h, w, y, lu, None, vc, tc),
        }
        if n == args.tokens[0] and cpu:  # where the gain comes from: chunk shape vs kernel
            fns.update(
                {
                    "gemm_old_chunks": lambda: _bare_gemm([h], [w], 8192, 1024),
                    "pass_old_chunks": lambda: div.token_metrics(h, w, y, lu, None, 8192, 1024),
                    "old_pass": lambda: _old_token_metrics(h, w, y, lu),
                }
            )
        if args.compile:
            compiled = _compiled_metric_pass()
            t = time.perf_counter()
            got = compiled(h, w, y, lu, vc, tc)  # compiles (once per chunk shape)
            ref = div.token_metrics(h, w, y, lu, None, vc, tc)
            err = max(
                float((torch.cat([g[0] for g in got]) - ref["nll"]).abs().max()),
                float((torch.cat([g[1] for g in got]) - ref["entropy"]).abs().max()),
            )
            print(
                f"  torch.compile of the elementwise work: compiled in {time.perf_counter() - t:.1f}s, "
                f"max |difference| to the library pass {err:.1e} nats",
                flush=True,
            )
            fns["compiled"] = lambda: compiled(h, w, y, lu, vc, tc)
        r = _side_by_side(fns, args.repeats, dev)
        _ratio_line(f"metric pass / bare chunked GEMM, {n} tokens", r["pass"], r["gemm"], 1.25, cpu)
        if "compiled" in r:
            _ratio_line(
                f"  torch.compile'd elementwise pass / bare GEMM, {n} tokens",
                r["compiled"],
                r["gemm"],
                1.25,
                cpu,
            )
        if "old_pass" in r:
            _ratio_line(
                "  same, both with the old chunks 1024 x 8192",
                r["pass_old_chunks"],
                r["gemm_old_chunks"],
                None,
                cpu,
            )
            _ratio_line(
                "  old metric pass (1024 x 8192) / its bare GEMM",
                r["old_pass"],
                r["gemm_old_chunks"],
                None,
                cpu,
            )
            _ratio_line(
                "  bare GEMM: these chunks / old chunks",
                r["gemm"],
                r["gemm_old_chunks"],
                None,
                cpu,
            )
        del h, y
    S, n = args.models, args.pair_tokens
    ws = [(torch.randn(V, d) / d**0.5 * 3).to(dev) for _ in range(S)]
    hs = [torch.randn(n, d, device=dev) for _ in range(S)]
    pairs = [(i, j) for i in range(S) for j in range(i + 1, S)]
    r = _side_by_side(
        {
            "gemm": lambda: _bare_gemm(hs, ws, vc, tc),
            "many": lambda: div.pairwise_kl_many(hs, ws, pairs, None, vc, tc),
        },
        args.repeats,
        dev,
    )
    _ratio_line(
        f"all {len(pairs)} pairs of {S} models / {S} bare GEMMs, {n} tokens",
        r["many"],
        r["gemm"],
        1.3,
        cpu,
    )
    if cpu and args.old_tokens:
        m = args.old_tokens
        hs_s = [h[:m] for h in hs]
        r = _side_by_side(
            {
                "old": lambda: [_old_pairwise_kl(hs_s[i], ws[i], hs_s[j], ws[j]) for i, j in pairs],
                "many": lambda: div.pairwise_kl_many(hs_s, ws, pairs, None, vc, tc),
            },
            1,
            dev,
        )
        _ratio_line(
            f"old per-pair loop ({len(pairs)} calls) / all pairs at once, {m} tokens",
            r["old"],
            r["many"],
            None,
            cpu,
        )
    if dev == "cuda":
        for n in args.tokens:
            h = torch.randn(n, d, device=dev)
            y = torch.randint(0, V, (n,), device=dev)
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            div.token_metrics(h, w, y, lu, None, vc, tc)
            print(
                f"  peak GPU memory of the metric pass beyond its inputs, {n} tokens: "
                f"{(torch.cuda.max_memory_allocated() - base) / 2**20:.0f} MiB",
                flush=True,
            )


MEMORY_CHILD = r"""
import json, re, sys, torch
sys.path.insert(0, sys.argv[1])
from lmdyn.divergence.metrics import pairwise_kl_many, token_metrics
n, d, v, s, vc, tc = (int(a) for a in sys.argv[2:8])
torch.manual_seed(0)
hs = [torch.randn(n, d) for _ in range(s)]; ws = [torch.randn(v, d).div_(d**0.5) for _ in range(s)]
y = torch.randint(0, v, (n,)); lu = torch.log_softmax(torch.randn(v), 0)
kib = lambda key: int(re.search(key + r":\s+(\d+)", open("/proc/self/status").read()).group(1))
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS: inputs only
base = kib("VmRSS")
if s == 1:
    token_metrics(hs[0], ws[0], y, lu, None, vc, tc)
else:
    pairwise_kl_many(hs, ws, [(i, j) for i in range(s) for j in range(i + 1, s)], None, vc, tc)
print(json.dumps((kib("VmHWM") - base) / 1024))
"""


def _memory_rows(args):
    """Extra peak memory (beyond the inputs) of both passes vs the number of tokens, fresh processes."""
    print(
        f"[cpu] extra peak memory beyond the inputs (fresh process each; the chunk arrays are "
        f"{args.token_chunk * args.vocab_chunk * 4 / 2**20:.0f} MiB each):",
        flush=True,
    )
    for s in (1, args.models):
        for n in args.memory_tokens if s == 1 else args.memory_tokens[:1]:
            res = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    MEMORY_CHILD,
                    str(REPO / "scripts"),
                    str(n),
                    str(args.dim),
                    str(args.vocab),
                    str(s),
                    str(args.vocab_chunk),
                    str(args.token_chunk),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            what = "metric pass" if s == 1 else f"all pairs of {s} models"
            print(f"  {what:26s} {n:7d} tokens: {float(res.stdout):6.0f} MiB", flush=True)


PYTHIA_SHAPES = {  # d_model, layers, heads (Pythia's configs; vocabulary padded to 50304 as in Pythia)
    "pythia-70m": dict(hidden_size=512, num_layers=6, num_heads=8, intermediate_size=2048),
    "pythia-160m": dict(hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072),
}


def _pythia_throughput(args, dev):
    """Tokens/s of the per-checkpoint pass (forward to final hidden states + streaming metrics) against
    the naive baseline (full logits, log_softmax over [tokens, vocabulary]) on random-weight models."""
    import torch

    from lmdyn.data.micro import build_model
    from lmdyn.divergence.metrics import token_metrics

    V, L, B = args.vocab, args.context, args.batch if dev == "cuda" else 1
    torch.manual_seed(0)
    ids = torch.randint(0, V, (B, L), device=dev)
    y = ids[:, 1:].reshape(-1)
    lu = torch.log_softmax(torch.randn(V), 0).to(dev)
    print(f"[{dev}] per-checkpoint pass, {B} window(s) of context {L}, random weights:", flush=True)
    for name, size in PYTHIA_SHAPES.items():
        model = build_model("gpt_neox", 50304, L, size, 0).to(dev).eval()
        w = model.get_output_embeddings().weight.detach()[:V]

        @torch.no_grad()
        def streaming():
            h = model.base_model(input_ids=ids).last_hidden_state[:, :-1].reshape(-1, w.shape[1])
            return token_metrics(h, w, y, lu, None, args.vocab_chunk, args.token_chunk)

        @torch.no_grad()
        def naive():
            lp = torch.log_softmax(
                model(input_ids=ids).logits[:, :-1, :V].float().reshape(-1, V), -1
            )
            p = lp.exp()
            return (
                -lp[torch.arange(len(y), device=dev), y],
                -(p * lp).sum(1),
                (p * (lp - lu)).sum(1),
            )

        streaming()  # warm-up (kernels, allocator)
        r = _side_by_side({"stream": streaming, "naive": naive}, args.repeats, dev)
        n = len(y)
        print(
            f"  {name:12s} streaming {n / r['stream'][0]:8.0f} tok/s   naive full logits {n / r['naive'][0]:8.0f} tok/s"
            f"   ratio {r['naive'][0] / r['stream'][0]:.2f}",
            flush=True,
        )
        del model


def kernels(args):
    import torch

    sys.path.insert(0, str(REPO / "scripts"))
    from lmdyn.divergence import metrics as div

    args.vocab_chunk = args.vocab_chunk or div.VOCAB_CHUNK
    args.token_chunk = args.token_chunk or div.TOKEN_CHUNK
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", flush=True)
    _kernel_ratios(args, "cpu")
    _memory_rows(args)
    if not args.skip_pythia:
        _pythia_throughput(args, "cpu")
    if torch.cuda.is_available():
        print(f"CUDA: {torch.cuda.get_device_name()}", flush=True)
        _kernel_ratios(args, "cuda")
        _pythia_throughput(args, "cuda")
    else:
        print(
            "no CUDA: the CUDA comparisons and tokens/s at batch size > 1 were not run", flush=True
        )


WEIGHTS_CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
from lmdyn.anisotropy.compute import anisotropy
from lmdyn.probe.compute import fit, kl_both
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
    """Unigram latent probe and anisotropy of one [V, d] matrix, against its speed goals."""
    for kind in ("init", "trained"):
        res = subprocess.run(
            [
                sys.executable,
                "-c",
                WEIGHTS_CHILD,
                str(REPO / "scripts"),
                str(args.vocab),
                str(args.dim),
                str(args.threads),
                kind,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(res.stdout)
        print(
            f"{kind:7s} V={args.vocab} d={args.dim} threads={args.threads}: "
            f"probe {r['probe_s']:.1f}s (goal <= 20 s; {r['iterations']} iterations, converged {r['converged']}, "
            f"KL {r['kl']:.3f}), anisotropy {r['aniso_s']:.1f}s (goal <= 5 s; mean cos {r['mean_cos']:.3f}), "
            f"peak memory of the whole process {r['peak_mb']:.0f} MB (goal <= 1024 MB; "
            f"{r['extra_mb']:.0f} MB above the input matrix)",
            flush=True,
        )


def geometry(args):
    """Every classifier variant of lmdyn.geometry.compute on planted states of the given shape, 2 threads."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    sys.path.insert(0, str(REPO / "scripts"))
    import numpy as np
    from threadpoolctl import threadpool_limits

    from lmdyn.geometry import compute as geo

    C = args.layers + 1
    N = args.states // (C * args.tokens)
    rng = np.random.default_rng(0)
    off = rng.standard_normal((C, 1, 1, args.dim)).astype(np.float32) * 0.3
    states = rng.standard_normal((C, N, args.tokens, args.dim), dtype=np.float32) + off
    docs = np.arange(N) // 2
    tr = (
        rng.standard_normal((C, N // 4, args.tokens, args.dim), dtype=np.float32) + off,
        np.arange(N // 4),
    )

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    with threadpool_limits(args.threads):
        t, c = time.perf_counter(), cpu()
        out = geo.layer_classifier(
            states, docs, transfer=tr, lengths=[args.tokens // 2], n_boot=1000
        )
        dt, dc = time.perf_counter() - t, cpu() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        out["accuracy"][
            ["variant", "split", "n_tokens", "accuracy", "ci_low", "ci_high", "n_train"]
        ].to_string()
    )
    print(
        f"geometry: {C * N * args.tokens} states (C={C}, N={N}, L={args.tokens}, d={args.dim}), "
        f"{args.threads} threads: {dt:.1f}s wall ({dc:.1f}s CPU) for all variants, peak RSS {peak / 1024:.0f} MB "
        f"(base {base / 1024:.0f})"
    )
    return dt


def neurons(args):
    """Congruence scan and exclusive pairs on random weights of the gpt2-large shape (36 x 5,120 x 50,257).

    ``--layers`` below 36 runs that many layers and extrapolates linearly (the scan is per layer).
    """
    sys.path.insert(0, str(REPO / "scripts"))
    import torch

    from lmdyn.neurons import congruence as nr

    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    W_U = torch.randn(args.vocab, args.dim, generator=g)

    def w_out(l):  # generated per layer, as a model's layers would be read one at a time
        return torch.randn(args.mlp, args.dim, generator=torch.Generator().manual_seed(1 + l))

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    t, c = time.perf_counter(), cpu()
    scan = nr.congruence_scan(w_out, args.layers, W_U, targets=[10, 11], vocab_chunk=args.chunk)
    pairs = nr.exclusive_pairs(scan, top=20)
    dt, dc = time.perf_counter() - t, cpu() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = args.full_layers / args.layers
    print(pairs.head(3).to_string())
    # On a shared machine wall time includes waiting for a core; CPU time / threads is what 2 idle cores need.
    print(
        f"neurons: {args.layers} layers x {args.mlp} neurons x {args.vocab} tokens (d={args.dim}), {args.threads} "
        f"threads: {dt:.1f}s wall, {dc:.1f}s CPU; extrapolated to {args.full_layers} layers: {dt * scale / 60:.1f} min "
        f"wall here, {dc * scale / args.threads / 60:.1f} min on {args.threads} idle cores; peak RSS {peak / 1024:.0f} MB"
    )
    return dt * scale


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("metrics")
    m.add_argument("--tokens", type=int, nargs="+", default=[2048, 8192, 32768])
    m.add_argument("--vocab", type=int, default=50277)
    m.add_argument("--dim", type=int, default=512)
    k = sub.add_parser(
        "kernels", help="kernel ratios (metric pass, all pairs) next to their speed goals"
    )
    k.add_argument("--tokens", type=int, nargs="+", default=[4096, 32768])
    k.add_argument("--vocab", type=int, default=50277)
    k.add_argument("--dim", type=int, default=512)
    k.add_argument("--models", type=int, default=10)
    k.add_argument("--pair-tokens", type=int, default=4096)
    k.add_argument(
        "--old-tokens", type=int, default=512, help="tokens for the old per-pair loop (0: skip)"
    )
    k.add_argument("--memory-tokens", type=int, nargs="+", default=[1024, 4096, 32768])
    k.add_argument(
        "--vocab-chunk", type=int, default=0, help="default: lmdyn.divergence.metrics.VOCAB_CHUNK"
    )
    k.add_argument(
        "--token-chunk", type=int, default=0, help="default: lmdyn.divergence.metrics.TOKEN_CHUNK"
    )
    k.add_argument("--repeats", type=int, default=2)
    k.add_argument("--threads", type=int, default=0)
    k.add_argument("--context", type=int, default=2048)
    k.add_argument("--batch", type=int, default=8, help="windows per forward on CUDA (1 on CPU)")
    k.add_argument("--skip-pythia", action="store_true")
    k.add_argument(
        "--compile",
        action="store_true",
        help="also time the pass with torch.compile'd elementwise work",
    )
    r = sub.add_parser("rerun")
    r.add_argument("dir")
    r.add_argument("extra", nargs="*")
    w = sub.add_parser("workflow")
    w.add_argument("dir", nargs="?", help="working directory (default: a new temporary one)")
    w.add_argument("--cores", type=int, default=2)
    ws = sub.add_parser("weights", help="probe and anisotropy at GPT-2-small shape")
    ws.add_argument("--vocab", type=int, default=50257)
    ws.add_argument("--dim", type=int, default=768)
    ws.add_argument("--threads", type=int, default=2)
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
    sc = sub.add_parser("scale", help="the workflow on sizes x seeds x steps tiny checkpoints")
    sc.add_argument("dir", help="working folder (the cache, the run, scale.json)")
    sc.add_argument("--sizes", type=int, default=2)
    sc.add_argument("--seeds", type=int, default=10)
    sc.add_argument("--steps", type=int, default=20, help="grid steps (the first of Pythia's 154)")
    sc.add_argument("--cores", type=int, default=2)
    sc.add_argument("--skip-plan", action="store_true", help="no dry run of the full grid")
    sc.add_argument(
        "--hub", action="store_true", help="serve them from the loopback hub (else: offline cache)"
    )
    args = p.parse_args()
    if args.cmd == "scale":
        sys.path.insert(0, str(REPO / "tools"))
        from scale import scale

        scale(args)
        return
    {
        "kernels": kernels,
        "metrics": metrics,
        "rerun": rerun,
        "workflow": workflow,
        "weights": weights,
        "geometry": geometry,
        "neurons": neurons,
    }[args.cmd](args)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
