"""The workflow at PolyPythias scale on tiny checkpoints (``python tools/benchmark.py scale``).

Builds sizes x seeds x steps tiny GPT-NeoX checkpoints under PolyPythias names, either served by
the loopback hub of the tests (``--hub``: tests/hubserver.py on 127.0.0.1, reached by the real
client through HF_ENDPOINT, the cache starting empty) or laid out in an offline Hugging Face cache
(refs/<revision> -> snapshots/<commit>/, as tests/test_suites.py lays it out), runs the workflow on
them and measures: wall and CPU time of the full run, per checkpoint; the cache sizes (with
``--hub``: sampled during the runs, its peak, and the weight files downloaded); the submissions a
SLURM dry run plans for the whole 154-step grid (and its time); a no-op rerun; a dry run; one step
added (in the middle of the grid); one family's option changed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
SIZES = ("14m", "31m", "70m", "160m", "410m")
REPOS = "EleutherAI/pythia-{size}{suffix}"
GOALS = {"full_s": 1200, "add_step_frac": 0.03, "noop_s": 10, "dry_s": 30}


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, cwd, env=None) -> dict:
    """Wall and CPU seconds (this process's children) of one command."""
    c, t = cpu_children(), time.perf_counter()
    res = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    out = {"wall_s": time.perf_counter() - t, "cpu_s": cpu_children() - c}
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{res.stderr[-4000:]}")
    out["stdout"] = res.stdout + res.stderr
    return out


def du(path: Path) -> int:
    """Bytes of the files under ``path`` (hard links counted once)."""
    seen, total = set(), 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def repo_of(size: str, seed: int) -> str:
    return REPOS.format(size=size, suffix=f"-seed{seed}" if seed else "")


def build(root: Path, tok_dir: Path, sizes, seeds, steps) -> list[tuple[str, str, Path]]:
    """One tiny checkpoint folder per (size, seed, step), distinct weights: (repo, revision,
    folder) under the hub's names. Each size's model is built once; a checkpoint is that model
    plus seeded noise, written with safetensors (a few milliseconds each, where save_pretrained
    took about a second), its config and tokenizer files hard links."""
    import torch
    from safetensors.torch import save_file
    from test_suites import SIZE

    from lmdyn.data.micro import build_model

    out = []
    for i, size in enumerate(sizes):
        template = root / "template" / size
        if not (template / "config.json").exists():
            build_model("gpt_neox", 320, 64, SIZE, seed=i).save_pretrained(template)
            for f in tok_dir.iterdir():
                os.link(f, template / f.name)
        state = None
        for seed in seeds:
            for step in steps:
                repo = repo_of(size, seed)
                folder = root / repo.replace("/", "--") / f"step{step}"
                out.append((repo, f"step{step}", folder))
                if (folder / "model.safetensors").exists():
                    continue
                if state is None:
                    from safetensors.torch import load_file

                    state = load_file(template / "model.safetensors")
                g = torch.Generator().manual_seed(10**9 * i + 10**6 * seed + step)  # distinct
                noisy = {k: v + 0.02 * torch.randn(v.shape, generator=g) for k, v in state.items()}
                folder.mkdir(parents=True)
                for f in template.iterdir():
                    if f.name != "model.safetensors":
                        os.link(f, folder / f.name)
                save_file(noisy, folder / "model.safetensors", metadata={"format": "pt"})
    return out


def lay_out(cache: Path, built) -> None:
    """The built folders as an offline Hugging Face cache (hard links)."""
    for n, (repo, revision, folder) in enumerate(built):
        d = cache / f"models--{repo.replace('/', '--')}"
        commit = f"{n:040x}"
        snap = d / "snapshots" / commit
        if not (snap / "config.json").exists():
            snap.mkdir(parents=True)
            for f in folder.iterdir():
                os.link(f, snap / f.name)
        (d / "refs").mkdir(exist_ok=True)
        (d / "blobs").mkdir(exist_ok=True)
        (d / "refs" / revision).write_text(commit)


def blob_bytes(cache: Path) -> int:
    """Bytes of the cache's blobs (the files themselves, downloads in progress included; the
    snapshots only link to them): cheap to sample in a cache of thousands of snapshots, where a
    whole walk would take a good part of a core."""
    total = 0
    if not cache.is_dir():  # nothing downloaded yet
        return 0
    for repo in os.scandir(cache):
        if os.path.isdir(blobs := os.path.join(repo.path, "blobs")):
            for f in os.scandir(blobs):
                try:
                    total += f.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # removed while listed
                    pass
    return total


class Peak(threading.Thread):
    """The largest size of a cache's blobs, sampled every ``every`` seconds while running."""

    def __init__(self, path: Path, every: float = 0.5):
        super().__init__(daemon=True)
        self.path, self.every, self.peak, self.done = path, every, 0, threading.Event()

    def run(self):
        while not self.done.wait(self.every):
            self.peak = max(self.peak, blob_bytes(self.path))

    def stop(self) -> int:
        self.done.set()
        self.join()
        return max(self.peak, blob_bytes(self.path))


# One thread per task: on a few cores the tiny checkpoints' run jobs go side by side (the default
# of 2 threads is for real models, whose probe and cosine statistics use them).
THREADS = {"probe": {"threads": 1}, "anisotropy": {"threads": 1}}


def config(tmp: Path, cache: Path, sizes, seeds, steps, **sections) -> Path:
    from test_reruns import write_config

    suite = {
        "kind": "polypythia",
        "sizes": list(sizes),
        "seeds": list(seeds),
        "steps": list(steps),
        "cache_dir": str(cache),
    }
    sections = {k: {**THREADS.get(k, {}), **v} for k, v in (THREADS | sections).items()}
    return write_config(tmp, {"polypythia": suite}, **sections)


HUB_ENV: dict = {"HF_HUB_OFFLINE": "1"}  # --hub: HF_ENDPOINT of the loopback hub instead


def snakemake(workdir: Path, cfg: Path, cores: int, *args) -> dict:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--cores", str(cores), "--directory", str(workdir), "--configfile", str(cfg), *args]
    return timed(cmd, workdir, {**HUB_ENV, "PYTHONPATH": str(REPO / "scripts")})


def jobs_run(out: str) -> dict:
    import re

    counts: dict = {}
    for name in re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):$", out, re.M):
        counts[name] = counts.get(name, 0) + 1
    counts.pop("all", None)
    return counts


def rule_seconds(out: str) -> dict:
    """Summed wall seconds of each rule's jobs, from the start and finish times in Snakemake's
    output (to whole seconds: where a run's time goes)."""
    import re
    from datetime import datetime

    started, rule_of, totals, now, rule = {}, {}, {}, None, None
    for line in out.splitlines():
        if m := re.match(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]", line):
            now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := re.match(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):", line):
            rule = m.group(1)
        elif (m := re.match(r"^\s*jobid: (\d+)", line)) and rule:
            started[m.group(1)], rule_of[m.group(1)], rule = now, rule, None
        elif (m := re.match(r"Finished jobid: (\d+)|Finished job (\d+)\.", line)) and now:
            job = m.group(1) or m.group(2)
            if job in started:
                r = rule_of[job]
                totals[r] = totals.get(r, 0) + (now - started[job]).total_seconds()
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def full_grid_plan(tmp: Path) -> dict:
    """Submissions a SLURM dry run plans for the whole PolyPythias grid (7,700 checkpoints), as
    tests/test_jobs.py lays it out, and the dry run's time."""
    from test_jobs import lay_out_integrity, lay_out_runs, submissions

    from lmdyn.core.plans import plan

    cfg = yaml.safe_load((REPO / "config/polypythia.yaml").read_text())
    del cfg["suites"]["polypythia"]["steps"]
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "full.yaml"
    path.write_text(yaml.safe_dump(cfg))
    ckpts = plan("polypythia", cfg["suites"]["polypythia"])
    runs = lay_out_integrity(tmp, ckpts)
    before = submissions(tmp, path)
    lay_out_runs(tmp, ckpts, runs)
    shutil.rmtree(tmp / ".snakemake/iocache", ignore_errors=True)
    t = time.perf_counter()
    after = submissions(tmp, path)
    seconds = time.perf_counter() - t
    total = {k: max(before.get(k, 0), after.get(k, 0)) for k in before | after}
    per_run = total.pop("checkpoint_tasks", 0)
    return {"checkpoints": len(ckpts), "per_run": per_run, "suite": total, "dry_run_s": seconds}


def serve(built):
    """The loopback hub of the tests serving the built folders; the workflow reaches it through
    HF_ENDPOINT (online: nothing in the cache to begin with)."""
    from hubserver import Hub

    hub = Hub().start()
    for repo, revision, folder in built:
        hub.add(repo, revision, folder)
    HUB_ENV.clear()
    HUB_ENV.update({"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"})
    return hub


def workflow(name: str, run_dir: Path, cfg: Path, args, cache: Path, hub) -> dict:
    """One snakemake call, timed; with the hub, the cache's peak and the weights downloaded."""
    n0 = len(hub.requests("GET", "model.safetensors$")) if hub else 0
    peak = Peak(cache) if hub else None
    if peak:
        peak.start()
    r = snakemake(run_dir, cfg, args.cores, *(["-n"] if name == "dry_run" else []))
    out = {k: v for k, v in r.items() if k != "stdout"}
    if peak:
        out["peak_cache_mb"] = peak.stop() / 1e6
        out["downloads"] = len(hub.requests("GET", "model.safetensors$")) - n0
    out["jobs"] = jobs_run(r["stdout"])
    out["rule_s"] = rule_seconds(r["stdout"])
    out["nothing_to_do"] = "Nothing to be done" in r["stdout"]
    return out


def scale(args) -> dict:
    """See the module docstring; prints one line per figure and writes scale.json in the folder."""
    from test_workflow import make_corpus

    from lmdyn.core.plans import NAMED_GRIDS
    from lmdyn.data.tokens import save_hf_tokenizer, train_bpe

    work = Path(args.dir).resolve()
    run_dir, cache = work / "run", work / "hf"
    run_dir.mkdir(parents=True, exist_ok=True)
    sizes, seeds = SIZES[: args.sizes], list(range(args.seeds))
    grid = NAMED_GRIDS["pythia-log"][: args.steps + 1]
    added = grid[len(grid) // 2]  # the step added later, in the middle of the grid
    steps = [s for s in grid if s != added]
    make_corpus(run_dir / "corpus.jsonl")
    tok_dir = work / "tokenizer"
    if not tok_dir.exists():
        import pandas as pd

        texts = pd.read_json(run_dir / "corpus.jsonl", lines=True).text.tolist()
        save_hf_tokenizer(train_bpe(texts, 300), str(tok_dir))
    t = time.perf_counter()
    built = build(work / "build", tok_dir, sizes, seeds, grid)
    hub = serve(built) if args.hub else None
    if hub is None:
        lay_out(cache, built)
    out = {"checkpoints": len(sizes) * len(seeds) * len(steps), "built": len(built)}
    out |= {"hub": bool(hub), "build_s": time.perf_counter() - t}
    out["scontrol_s"] = wait = scontrol_wait()
    if wait is not None and wait > 2:
        report(
            f"warning: scontrol show config took {wait:.0f} s (no SLURM controller answers): every "
            "Snakemake start waits as long, which counts in each figure below (docs/troubleshooting.md)"
        )
    out["built_mb"] = du(work / "build") / 1e6
    report(f"built {len(built)} checkpoints in {out['build_s']:.0f} s ({out['built_mb']:.1f} MB)")
    # written after every stage: a benchmark stopped half way keeps what it measured
    save = (work / "scale.json").write_text

    first = workflow("full", run_dir, config(run_dir, cache, sizes, seeds, steps), args, cache, hub)
    out["full"] = first
    out["per_checkpoint_s"] = {k: first[k] / out["checkpoints"] for k in ("wall_s", "cpu_s")}
    out["results_mb"] = du(run_dir / "results") / 1e6
    out["store_mb"] = du(run_dir / "results/store") / 1e6
    out["end_cache_mb"] = du(cache) / 1e6
    report(
        f"full run ({out['checkpoints']} checkpoints, {args.cores} cores): {first['wall_s']:.0f} s "
        f"wall, {first['cpu_s']:.0f} s CPU; per checkpoint {out['per_checkpoint_s']['wall_s']:.2f} "
        f"s wall, {out['per_checkpoint_s']['cpu_s']:.2f} s CPU; results {out['results_mb']:.0f} MB "
        f"(store {out['store_mb']:.0f} MB); cache peak {first.get('peak_cache_mb', 0):.1f} MB, "
        f"end {out['end_cache_mb']:.1f} MB, weight files downloaded {first.get('downloads')}"
    )
    save(json.dumps(out, indent=1))
    cfg = config(run_dir, cache, sizes, seeds, steps)
    for name in ("dry_run", "noop"):
        out[name] = workflow(name, run_dir, cfg, args, cache, hub)
        report(
            f"{name}: {out[name]['wall_s']:.1f} s wall, {out[name]['cpu_s']:.1f} s CPU, nothing to "
            f"be done: {out[name]['nothing_to_do']}"
        )
    for name, cfg in (
        ("add_step", config(run_dir, cache, sizes, seeds, grid)),
        ("family_option", config(run_dir, cache, sizes, seeds, grid, neurons={"n_bins": 3})),
    ):
        out[name] = r = workflow(name, run_dir, cfg, args, cache, hub)
        report(
            f"{name}: {r['wall_s']:.0f} s wall ({100 * r['wall_s'] / first['wall_s']:.1f}% of the "
            f"full run), {r['cpu_s']:.0f} s CPU ({100 * r['cpu_s'] / first['cpu_s']:.1f}%), "
            f"downloads {r.get('downloads')}, jobs {r['jobs']}"
        )
        save(json.dumps(out, indent=1))
    if hub:
        hub.stop()
    if not args.skip_plan:
        out["plan"] = full_grid_plan(work / "plan")
        report(f"full grid plan: {out['plan']}")
    save(json.dumps(out, indent=1))
    return out


def scontrol_wait() -> float | None:
    """Seconds ``scontrol show config`` takes, where the SLURM client is installed: Snakemake's SLURM
    plugin asks it at every start and waits up to 10 s for a controller that does not answer."""
    import shutil

    if shutil.which("scontrol") is None:
        return None
    t = time.perf_counter()
    try:
        subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=12)
    except subprocess.TimeoutExpired:
        pass
    return time.perf_counter() - t


def report(line: str) -> None:
    print(line, flush=True)
