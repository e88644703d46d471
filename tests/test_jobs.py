"""Job counts of the PolyPythias plan (config/polypythia.yaml) in a dry run, offline.

Nothing is downloaded: the integrity tables (every checkpoint ``ok``) are laid out as
a finished fetch would leave them, so Snakemake plans past it. The per-checkpoint tasks of every
family must be one job (one process, one sbatch submission) per run: 5 sizes x 10 seeds = 50, not
950 checkpoints; with the runs' outputs laid out as well, the pairs are a bounded number of jobs
(metrics.pair_jobs) of consecutive steps, each step's tables linked by a local job, the tables one
job per model and one per family. On the full grid (154 steps, 7,700 checkpoints) a SLURM dry run
plans at most 20 submissions for everything that is not per run.
"""

import csv
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from test_workflow import REPO, SNAKEMAKE

from lmdyn.core.plans import plan
from lmdyn.core.tasks import run_table_paths

INTEGRITY = [
    "suite",
    "model",
    "seed",
    "step",
    "repo",
    "revision",
    "status",
    "sha256",
    "duplicate_of",
]
RUNS = ["suite", "model", "seed", "step", "status", "error"]


def write_csv(path: Path, cols, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(rows)


def job_counts(workdir: Path, configfile=REPO / "config/polypythia.yaml") -> dict:
    cmd = SNAKEMAKE + [
        "-n",
        "--quiet",
        "rules",
        "--cores",
        "2",
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--replace-workflow-config",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    assert res.returncode == 0, res.stderr[-3000:]
    return {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", res.stdout, re.M)}


def lay_out_integrity(tmp: Path, ckpts: list) -> dict:
    """Every run's and the suite's integrity table, every checkpoint ``ok``; returns the runs."""
    runs: dict = {}
    for c in ckpts:
        runs.setdefault((c.model, c.seed), []).append(c)
    r = tmp / "results"
    for (m, k), cs in runs.items():
        write_csv(
            r / f"integrity/polypythia/{m}/seed{k}.csv",
            INTEGRITY,
            [
                [c.suite, c.model, c.seed, c.step, c.repo, c.revision, "ok", f"{i:064x}", ""]
                for i, c in enumerate(cs)
            ],
        )
    write_csv(
        r / "integrity/polypythia.csv",
        INTEGRITY,
        [
            [c.suite, c.model, c.seed, c.step, c.repo, c.revision, "ok", f"{i:064x}", ""]
            for i, c in enumerate(ckpts)
        ],
    )
    return runs


def lay_out_runs(tmp: Path, ckpts: list, runs: dict) -> None:
    """A finished forward pass of every run (and what it read)."""
    r = tmp / "results"
    for rel in (
        "corpus/docs.parquet",
        "corpus/corpus.json",
        "tokens/polypythia.parquet",
        "unigram/polypythia.parquet",
        "geometry/polypythia/transfer_tokens.parquet",
    ):
        (r / rel).parent.mkdir(parents=True, exist_ok=True)
        (r / rel).touch()
    (r / "tokenizer/suite/polypythia").mkdir(parents=True)
    time.sleep(1)  # run outputs strictly newer than their inputs
    for (m, k), cs in runs.items():
        for kind in ("metrics", "hidden"):
            (r / f"{kind}/polypythia/{m}/seed{k}").mkdir(parents=True)
        for pattern in run_table_paths(["probe", "anisotropy", "geometry", "neurons"]).values():
            path = tmp / pattern.format(suite="polypythia", model=m, seed=k)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        write_csv(
            r / f"runs/polypythia/{m}/seed{k}.csv",
            RUNS,
            [[c.suite, c.model, c.seed, c.step, "ok", ""] for c in cs],
        )
    (r / "runs/polypythia.divergence.json").write_text("{}")  # the metrics task's identity
    write_csv(
        r / "runs/polypythia.csv",
        RUNS,
        [[c.suite, c.model, c.seed, c.step, "ok", ""] for c in ckpts],
    )


@pytest.mark.workflow
def test_polypythia_plan_has_one_forward_job_per_run_and_few_pair_jobs(tmp_path):
    cfg = yaml.safe_load((REPO / "config/polypythia.yaml").read_text())
    ckpts = plan("polypythia", cfg["suites"]["polypythia"])
    runs = lay_out_integrity(tmp_path, ckpts)
    counts = job_counts(tmp_path)
    assert len(ckpts) == 950 and len(runs) == 50
    assert counts["checkpoint_tasks"] == 50, counts
    assert "checkpoint_metrics" not in counts

    # A finished forward pass of every run: the rest of the DAG is a few pair jobs (each step's
    # tables linked by a local job) and one table job per model.
    lay_out_runs(tmp_path, ckpts, runs)
    counts = job_counts(tmp_path)
    assert "checkpoint_tasks" not in counts, counts
    assert counts["pair_tables"] == len(cfg["suites"]["polypythia"]["steps"]) == 19
    assert counts["pair_divergence"] == 8  # metrics.pair_jobs
    assert (
        counts["model_tables"] == 5
        and "aggregate_model" not in counts
        and "study_model" not in counts
    )
    # every family's per-checkpoint tasks ran in the run's one checkpoint job: the other families
    # have a suite job each, no job per run or checkpoint
    for family in ("probe", "anisotropy", "geometry", "neurons"):
        assert counts[f"{family}_suite"] == 1, counts


PER_RUN = {"checkpoint_tasks", "fetch_run", "train_micro"}


def submissions(workdir: Path, configfile: Path) -> dict:
    """What a SLURM dry run (the slurm profile) submits: rule or group -> sbatch count (local
    rules and the target rule none)."""
    local = set()
    for f in (REPO / "rules").glob("*.smk"):
        local |= set(
            re.findall(
                r"^(?:rule|checkpoint) (\w+):(?:\n    .*)*?\n    localrule: True",
                f.read_text(),
                re.M,
            )
        )
        for block in re.findall(r"^localrules:\n((?:    .*\n)+)", f.read_text(), re.M):
            local |= set(re.findall(r"\w+", block))  # the directive's list
    cmd = SNAKEMAKE + ["-n", "--directory", str(workdir), "--configfile", str(configfile)]
    cmd += ["--replace-workflow-config", "--profile", str(REPO / "config/profiles/slurm")]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict = {}
    # why the first run job is planned, for a failure message
    why = re.search(r"^rule checkpoint_tasks:\n(?:    .*\n)*?    reason: (.*)$", res.stdout, re.M)
    submissions.reason = why.group(1)[:1000] if why else None
    for kind, name in re.findall(
        r"^(?:\[[^]]*\] )?(rule|checkpoint|Group job) (\w+)", res.stdout, re.M
    ):
        if kind == "Group job":
            name = f"group {name}"
        elif name in local or name == "all":
            continue
        out[name] = out.get(name, 0) + 1
    assert local >= {"pair_tables", "task_identity", "integrity", "run_status"}, local
    return out


@pytest.mark.workflow
def test_full_polypythia_grid_submits_one_job_per_run_and_at_most_20_others(tmp_path):
    """7,700 checkpoints: 50 forward jobs, and at most 20 submissions for the suite's work."""
    cfg = yaml.safe_load((REPO / "config/polypythia.yaml").read_text())
    del cfg["suites"]["polypythia"]["steps"]  # the whole published grid
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(cfg))
    ckpts = plan("polypythia", cfg["suites"]["polypythia"])
    assert len(ckpts) == 7700
    runs = lay_out_integrity(tmp_path, ckpts)
    before = submissions(tmp_path, path)
    assert before.pop("checkpoint_tasks") == len(runs) == 50, before
    lay_out_runs(tmp_path, ckpts, runs)
    # a non-local executor's dry run keeps the files' times it saw (an inventory cache the real
    # run would refresh as its jobs end): dropped, as if the jobs laid out above had run
    shutil.rmtree(tmp_path / ".snakemake/iocache", ignore_errors=True)
    after = submissions(tmp_path, path)
    assert not PER_RUN & set(after), (after, submissions.reason)
    assert after["pair_divergence"] == 8 and after["group divergence_suite"] == 1, after
    # the jobs after the checkpoints are planned in both dry runs (the first as placeholders): a
    # rule's or group's submissions are the larger count
    total = {k: max(before.get(k, 0), after.get(k, 0)) for k in before | after}
    assert sum(total.values()) <= 20, total
