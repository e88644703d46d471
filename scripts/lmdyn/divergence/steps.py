"""A model's tables as a reduction over per-step parts kept in the result store.

:class:`~lmdyn.divergence.aggregate.ModelAggregate` and :class:`~lmdyn.divergence.study.ModelStudy`
take one step at a time and keep what each step adds (rows, small frames) until their tables are
asked for. What a step adds depends only on that step's files (each seed's per-token table, the
seed-pair and step-pair tables), the token features and the options, so it is stored under the
hash of those: a rerun after a step was added computes that step and the one after it (its step
pairs changed) and reads the others' parts back. Interval draws are seeded per call, not per job,
so the parts do not depend on which steps are computed in the same job.

The parts are pickled: the exact rows and frames the step added, so the tables reduced from stored
parts are the bytes the same job would write computing every step. An entry is read only by the
code version (and pandas and numpy versions) that wrote it.
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pandas as pd

from lmdyn.core.store import Store, code_version, entry_key, file_hash
from lmdyn.divergence.aggregate import ModelAggregate
from lmdyn.divergence.study import ModelStudy

TASK = "model_steps"
CODE = ("divergence/aggregate.py", "divergence/study.py", "divergence/steps.py", "core/stats.py")
PARTS = {
    "aggregate": ("summary", "breakdown"),
    "study": ("curves", "groups", "sigma", "dh", "traj", "traj_docs"),
}
FILE = "parts.pkl"


def step_key(step: int, files: list, identity: dict) -> str:
    """The entry of one step: its input files' content, what ``identity`` names (suite, model,
    options, the features' hash), the code and library versions."""
    h = hashlib.sha256()
    for f in files:
        h.update(file_hash(f).encode())
    identity = {
        **identity,
        "step": int(step),
        "code": code_version(CODE),
        "libraries": {"pandas": pd.__version__, "numpy": np.__version__},
    }
    return entry_key(TASK, h.hexdigest(), identity)


def add_steps(objects: dict, steps, files_of, read, identity: dict, store: Store, log) -> int:
    """Feed every step to ``objects`` ({"aggregate": ModelAggregate, "study": ModelStudy}), from
    the store where the step's parts are kept, else computed and stored. ``files_of(step)``: the
    step's input files, in a fixed order; ``read(step)``: the (metrics, seed_pairs, step_pairs)
    arguments of ``add_step``. Returns the number of steps computed."""
    computed = 0
    for i, step in enumerate(steps):
        key = step_key(step, files_of(step), identity)
        folder = store.get(TASK, key, [FILE])
        if folder is not None:
            with open(folder / FILE, "rb") as fh:
                parts = pickle.load(fh)
            for name, obj in objects.items():
                for attr in PARTS[name]:
                    getattr(obj, attr).extend(parts[name][attr])
            continue
        before = {
            name: {a: len(getattr(obj, a)) for a in PARTS[name]} for name, obj in objects.items()
        }
        args = read(step)
        for obj in objects.values():
            obj.add_step(step, *args)
        parts = {
            name: {a: getattr(obj, a)[before[name][a] :] for a in PARTS[name]}
            for name, obj in objects.items()
        }

        def write(d, parts=parts):
            with open(d / FILE, "wb") as fh:
                pickle.dump(parts, fh, protocol=pickle.HIGHEST_PROTOCOL)

        store.put(TASK, key, write, {"step": int(step)})
        computed += 1
        log.info("step %d computed (%d/%d)", step, i + 1, len(steps))
    log.info("%d of %d steps computed, the others read from the store", computed, len(steps))
    return computed


def _model_rows(path, model: str) -> pd.DataFrame:
    t = pd.read_parquet(path)
    return t[t.model == model].drop(columns="model").reset_index(drop=True)


def model_tables(
    suite: str,
    model: str,
    features_file,
    files: dict,
    n_boot: int,
    boot_seed: int,
    max_alpha: float,
    store: Store,
    log,
):
    """(summary, breakdown, study tables) of one model. ``files``: ``metrics`` (seed -> step ->
    per-token table), ``seed_pairs`` and ``step_pairs`` (step -> pair table of every model)."""
    features = pd.read_parquet(features_file)
    agg = ModelAggregate(suite, model, features)
    study = ModelStudy(features, n_boot=n_boot, seed=boot_seed, max_alpha=max_alpha)
    seeds = sorted(files["metrics"])
    identity = {
        "suite": suite,
        "model": model,
        "seeds": seeds,
        "n_boot": n_boot,
        "boot_seed": boot_seed,
        "features": file_hash(features_file),
    }

    def files_of(step):
        metrics = [files["metrics"][seed][step] for seed in seeds]
        return [*metrics, files["seed_pairs"][step], files["step_pairs"][step]]

    def read(step):
        metrics = {seed: pd.read_parquet(f[step]) for seed, f in files["metrics"].items()}
        seed_pairs = _model_rows(files["seed_pairs"][step], model)
        return metrics, seed_pairs, _model_rows(files["step_pairs"][step], model)

    steps = sorted(files["seed_pairs"])
    add_steps({"aggregate": agg, "study": study}, steps, files_of, read, identity, store, log)
    return (*agg.tables(), study.tables())
