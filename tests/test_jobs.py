"""Job counts of the PolyPythias plan (config/polypythia.yaml) in a dry run, offline.

Nothing is downloaded: the integrity checkpoint's tables (every checkpoint ``ok``) are laid out as
a finished fetch would leave them, so Snakemake plans past it. The per-checkpoint tasks of every
family must be one job (one process, one sbatch submission) per run: 5 sizes x 10 seeds = 50, not
950 checkpoints; with the runs' outputs laid out as well, the pairs are one job per step (19), the
tables one job per model and one per family.
"""

import csv
import re
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


def job_counts(workdir: Path) -> dict:
    cmd = SNAKEMAKE + [
        "-n",
        "--quiet",
        "rules",
        "--cores",
        "2",
        "--directory",
        str(workdir),
        "--configfile",
        str(REPO / "config/polypythia.yaml"),
        "--replace-workflow-config",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    assert res.returncode == 0, res.stderr[-3000:]
    return {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", res.stdout, re.M)}


@pytest.mark.workflow
def test_polypythia_plan_has_one_forward_job_per_run_and_one_pair_job_per_step(tmp_path):
    cfg = yaml.safe_load((REPO / "config/polypythia.yaml").read_text())
    ckpts = plan("polypythia", cfg["suites"]["polypythia"])
    runs = {}
    for c in ckpts:
        runs.setdefault((c.model, c.seed), []).append(c)
    r = tmp_path / "results"
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
    counts = job_counts(tmp_path)
    assert len(ckpts) == 950 and len(runs) == 50
    assert counts["checkpoint_tasks"] == 50, counts
    assert "checkpoint_metrics" not in counts

    # A finished forward pass of every run (and what it read): the rest of the DAG is one pair job
    # per step and one table job per model.
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
            path = tmp_path / pattern.format(suite="polypythia", model=m, seed=k)
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
    counts = job_counts(tmp_path)
    assert "checkpoint_tasks" not in counts, counts
    assert counts["pair_divergence"] == len(cfg["suites"]["polypythia"]["steps"]) == 19
    assert (
        counts["model_tables"] == 5
        and "aggregate_model" not in counts
        and "study_model" not in counts
    )
    # every family's per-checkpoint tasks ran in the run's one checkpoint job: the other families
    # have a suite job each, no job per run or checkpoint
    for family in ("probe", "anisotropy", "geometry", "neurons"):
        assert counts[f"{family}_suite"] == 1, counts
    assert sum(counts[k] for k in counts if k != "total") < 19 + 5 + 50
