"""What each suite-level job declares (mem_mb, runtime), as a function of the suite's size.

Measured on tiny checkpoints (tools/benchmark.py scale, docs/scaling.md): a job's memory is a base
(the Python process and its imports) plus what grows with the rows it holds, with a safety factor;
its runtime is a floor plus what grows with the files it reads. Standard library only:
rules/common.smk calls these while the DAG is built.
"""

from __future__ import annotations

import math

SAFETY = 2.0  # declared = measured x SAFETY (and at least the floor)
BASE_MB = 400  # a Python process with pandas, pyarrow (and torch for the pair jobs)
MIN_RUNTIME = 10  # minutes: the floor of every declared time limit


def eval_tokens(cfg: dict) -> int:
    """An upper bound of the predicted token positions: documents x windows x context."""
    t = cfg["tokens"]
    return cfg["corpus"]["n_eval"] * t["windows_per_doc"] * t["context_length"]


def _mb(base: float, per_row_bytes: float, rows: float) -> int:
    return int(math.ceil(SAFETY * (base + per_row_bytes * rows / 1e6)))


def _minutes(seconds: float) -> int:
    return max(MIN_RUNTIME, int(math.ceil(SAFETY * seconds / 60)))


def per_token_rows(cfg: dict, checkpoints: int) -> int:
    """Rows of per-token tables over ``checkpoints`` checkpoints."""
    return eval_tokens(cfg) * checkpoints


def minutes(value) -> int:
    """A runtime setting in minutes: an int, or a string such as ``90``, ``90m``, ``2h``."""
    if isinstance(value, int):
        return value
    v = str(value).strip().lower()
    if v.endswith("h"):
        return int(math.ceil(float(v[:-1]) * 60))
    return int(math.ceil(float(v.rstrip("m"))))


def pair_runtime(cfg: dict, runs: int, steps: int, run_steps: int) -> int:
    """A pair job of ``steps`` steps over ``runs`` runs: one step projects the logits of about
    twice the runs' checkpoints (the step and the previous one), like a run job does for one
    checkpoint, so it is given 2 x runs x steps / run_steps run-job limits (metrics.runtime)."""
    per_run = minutes(cfg["metrics"]["runtime"])
    return max(MIN_RUNTIME, int(math.ceil(2 * runs * steps * per_run / max(1, run_steps))))


# Measured on the simulated PolyPythias grid (2 sizes x 10 seeds, tiny checkpoints; docs/scaling.md).
# the pooled fit with the step effects absorbed: about 1 kB of process memory per pooled row (the
# design without the step columns, its demeaned copy, residuals), measured at 40-160 steps
REGRESSION_BYTES_PER_ROW = 1000.0
# a family's suite tables are written run by run (lmdyn.core.gather): MB held per checkpoint of the
# suite's largest run, its rows read, cast and converted one table at a time (about 100 bytes a
# row measured). The neuron tables of a 410m checkpoint are about 103,000 rows (target_congruence
# has a row per MLP neuron: 24 x 4096); the others as before, in the ratios of the default run's.
SUITE_TABLE_MB_PER_CHECKPOINT = {"neurons": 10.0, "geometry": 1.5, "probe": 1.0, "anisotropy": 1.2}
SUITE_TABLE_S_PER_CHECKPOINT = 0.04
MODEL_TABLES_S_PER_CHECKPOINT = 0.13  # one model's per-token tables, read once each
MODEL_TABLES_BYTES_PER_ROW = 200.0  # one step's per-token rows of every seed, and the aggregates


def regression(cfg: dict, steps: int, models: int) -> tuple[int, int]:
    """(mem_mb, runtime) of the regression: the pooled fit holds every step's sampled rows
    (``regression.tokens_per_step``, else every evaluation position) of every model; the step
    effects are absorbed, so no column per step."""
    per_step = cfg["regression"].get("tokens_per_step") or eval_tokens(cfg)
    rows = per_step * steps * max(1, models)
    mb = _mb(BASE_MB, REGRESSION_BYTES_PER_ROW, rows)
    return mb, _minutes(mb * 0.2)  # about 0.2 s per MB held


def suite_tables(family: str, checkpoints: int, run_checkpoints: int) -> tuple[int, int]:
    """(mem_mb, runtime) of a family's suite job that gathers every run's tables into one: it holds
    one run's tables at a time (``run_checkpoints``: the suite's steps bound any run's) and reads all
    ``checkpoints``' rows."""
    per = SUITE_TABLE_MB_PER_CHECKPOINT[family]
    mb = BASE_MB + per * run_checkpoints
    # about 10 us a row (reading, casting, formatting the CSV floats): 0.1 s per MB of rows
    seconds = max(SUITE_TABLE_S_PER_CHECKPOINT, 0.1 * per) * checkpoints
    return int(math.ceil(SAFETY * mb)), _minutes(seconds)


def model_tables(cfg: dict, seeds: int, steps: int) -> tuple[int, int]:
    """(mem_mb, runtime) of one model's tables: read step by step (memory of one step's tables of
    every seed, plus per-step aggregates), time per checkpoint read."""
    mb = _mb(BASE_MB, MODEL_TABLES_BYTES_PER_ROW, per_token_rows(cfg, seeds)) + steps
    return mb, _minutes(MODEL_TABLES_S_PER_CHECKPOINT * seeds * steps)
