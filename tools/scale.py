"""The workflow at PolyPythias scale on tiny checkpoints (``python tools/benchmark.py scale``).

Builds sizes x seeds x steps tiny GPT-NeoX checkpoints under PolyPythias names in an offline
Hugging Face cache (refs/<revision> -> snapshots/<commit>/, as tests/test_suites.py lays it out),
runs the workflow on them and measures: wall and CPU time of the full run, per checkpoint; the
cache sizes; the submissions a SLURM dry run plans for the whole 154-step grid (and its time); a
no-op rerun; a dry run; one step added (in the middle of the grid); one family's option changed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
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


def build_cache(cache: Path, tok_dir: Path, sizes, seeds, steps) -> int:
    """One tiny checkpoint per (size, seed, step), distinct weights, under the hub's names."""
    from test_suites import SIZE

    from lmdyn.data.micro import build_model
    from lmdyn.data.tokens import load_tokenizer

    tok = load_tokenizer(str(tok_dir))
    n = 0
    for i, size in enumerate(sizes):
        for seed in seeds:
            repo = REPOS.format(size=size, suffix=f"-seed{seed}" if seed else "")
            d = cache / f"models--{repo.replace('/', '--')}"
            (d / "refs").mkdir(parents=True, exist_ok=True)
            (d / "blobs").mkdir(exist_ok=True)
            for step in steps:
                commit = f"{i:02x}{seed:04x}{step:08x}".rjust(40, "0")
                snap = d / "snapshots" / commit
                if not (snap / "config.json").exists():
                    model = build_model(
                        "gpt_neox", 320, 64, SIZE, seed=10**6 * i + 1000 * seed + step
                    )
                    model.save_pretrained(snap)
                    for f in tok_dir.iterdir():  # the tokenizer's files, shared
                        if not (snap / f.name).exists():
                            os.link(f, snap / f.name)
                (d / "refs" / f"step{step}").write_text(commit)
                n += 1
    del tok
    return n


def config(tmp: Path, cache: Path, sizes, seeds, steps, **sections) -> Path:
    from test_workflow import tiny_families

    cfg = {
        "corpus": {"source": "local", "path": "corpus.jsonl", "n_eval": 6, "seed": 3},
        "tokens": {"context_length": 32, "windows_per_doc": 1},
        "suites": {
            "polypythia": {
                "kind": "polypythia",
                "sizes": list(sizes),
                "seeds": list(seeds),
                "steps": list(steps),
                "cache_dir": str(cache),
            }
        },
        "regression": {"min_tag_count": 5},
        "study": {"n_boot": 50},
        **tiny_families(Path("corpus.jsonl")),
    }
    for section, values in sections.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    path = tmp / f"config{len(list(tmp.glob('config*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake(workdir: Path, cfg: Path, cores: int, *args) -> dict:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--cores", str(cores), "--directory", str(workdir), "--configfile", str(cfg), *args]
    env = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "scripts")}
    return timed(cmd, workdir, env)


def jobs_run(out: str) -> dict:
    import re

    counts: dict = {}
    for name in re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", out, re.M):
        counts[name] = counts.get(name, 0) + 1
    counts.pop("all", None)
    return counts


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
    before, _ = submissions(tmp, path)
    lay_out_runs(tmp, ckpts, runs)
    shutil.rmtree(tmp / ".snakemake/iocache", ignore_errors=True)
    after, seconds = submissions(tmp, path)
    total = {k: max(before.get(k, 0), after.get(k, 0)) for k in before | after}
    per_run = total.pop("checkpoint_tasks", 0)
    return {"checkpoints": len(ckpts), "per_run": per_run, "suite": total, "dry_run_s": seconds}


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
    n = build_cache(cache, tok_dir, sizes, seeds, grid)
    out = {"checkpoints": len(sizes) * len(seeds) * len(steps), "built": n}
    out["build_s"] = time.perf_counter() - t
    out["hf_cache_mb"] = du(cache) / 1e6
    report(f"built {n} checkpoints in {out['build_s']:.0f} s; cache {out['hf_cache_mb']:.1f} MB")

    c = args.cores
    first = snakemake(run_dir, config(run_dir, cache, sizes, seeds, steps), c)
    out["full"] = {k: v for k, v in first.items() if k != "stdout"}
    out["per_checkpoint_s"] = {k: v / out["checkpoints"] for k, v in out["full"].items()}
    out["results_mb"] = du(run_dir / "results") / 1e6
    out["store_mb"] = du(run_dir / "results/store") / 1e6
    report(
        f"full run ({out['checkpoints']} checkpoints, {c} cores): {first['wall_s']:.0f} s wall, "
        f"{first['cpu_s']:.0f} s CPU; per checkpoint {out['per_checkpoint_s']['wall_s']:.2f} s "
        f"wall, {out['per_checkpoint_s']['cpu_s']:.2f} s CPU; results {out['results_mb']:.0f} MB "
        f"(store {out['store_mb']:.0f} MB)"
    )
    cfg = config(run_dir, cache, sizes, seeds, steps)
    for name, extra in (("dry_run", ["-n"]), ("noop", [])):
        r = snakemake(run_dir, cfg, c, *extra)
        out[name] = {k: v for k, v in r.items() if k != "stdout"}
        out[name]["nothing_to_do"] = "Nothing to be done" in r["stdout"]
        report(
            f"{name}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, nothing to be done: "
            f"{out[name]['nothing_to_do']}"
        )
    for name, cfg in (
        ("add_step", config(run_dir, cache, sizes, seeds, grid)),
        ("family_option", config(run_dir, cache, sizes, seeds, grid, neurons={"n_bins": 3})),
    ):
        r = snakemake(run_dir, cfg, c)
        out[name] = {k: v for k, v in r.items() if k != "stdout"} | {"jobs": jobs_run(r["stdout"])}
        frac = r["wall_s"] / first["wall_s"]
        report(
            f"{name}: {r['wall_s']:.0f} s wall ({100 * frac:.1f}% of the full run), jobs {out[name]['jobs']}"
        )
    if not args.skip_plan:
        out["plan"] = full_grid_plan(work / "plan")
        report(f"full grid plan: {out['plan']}")
    (work / "scale.json").write_text(json.dumps(out, indent=1))
    return out


def report(line: str) -> None:
    print(line, flush=True)
