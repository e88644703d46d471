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
