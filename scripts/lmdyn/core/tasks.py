"""Every family's per-checkpoint tasks by name, and the options each takes from the config.

Light (standard library only): rules/common.smk builds each run job's ``task`` param from here,
so that a changed option or a changed line of a task's code reruns exactly that family's jobs.
"""

from __future__ import annotations

from lmdyn.anisotropy import ANISOTROPY
from lmdyn.divergence import METRICS
from lmdyn.geometry import GEOMETRY, LAYERS
from lmdyn.neurons import NEURONS
from lmdyn.probe import PROBE

TASKS = {t.name: t for t in (METRICS, PROBE, ANISOTROPY, LAYERS, GEOMETRY, NEURONS)}

NEURON_OPTIONS = (
    "patch_layers",
    "max_patch_neurons",
    "center_unembed",
    "top_pairs",
    "activation_pairs",
    "n_bins",
    "n_windows",
    "vocab_chunk",
)


def neurons_spec(cfg: dict, suite: str) -> dict:
    """Prompts, targets and BOS policy of a suite: its own neurons section over the top-level one."""
    spec = {k: cfg["neurons"][k] for k in ("prompts", "targets", "prepend_bos")}
    spec.update(cfg["suites"][suite].get("neurons", {}))
    return spec


def task_options(cfg: dict, name: str, suite: str) -> dict:
    """The options that define task ``name``'s result (part of its store key)."""
    m, g, n = cfg["metrics"], cfg["geometry"], cfg["neurons"]
    layers = {"dtype": m["dtype"], **{k: g[k] for k in ("n_windows", "n_tokens", "seed")}}
    if name == "metrics":
        return {"dtype": m["dtype"]}
    if name == "probe":
        return {k: cfg["probe"][k] for k in ("max_iter", "rtol")}
    if name == "anisotropy":
        return {k: cfg["anisotropy"][k] for k in ("sample", "seed", "bins")}
    if name == "layers":
        return layers
    if name == "geometry":
        keys = ("lengths", "test_size", "max_iter", "pca_points", "seed")
        return {
            "transfer": g["transfer"]["source"] is not None,
            "n_boot": cfg["study"]["n_boot"],
            "layers": layers,
            **{k: g[k] for k in keys},
        }
    if name == "neurons":
        opts = {k: n[k] for k in NEURON_OPTIONS}
        return {**opts, **neurons_spec(cfg, suite), "seed": g["seed"], "dtype": m["dtype"]}
    raise KeyError(f"unknown task {name!r}; known: {sorted(TASKS)}")


def task_params(cfg: dict, name: str, suite: str) -> dict:
    """A run job's ``task`` param: the options and the code version of the task."""
    return {"options": task_options(cfg, name, suite), "code": TASKS[name].version()}


_HASHES: dict = {}


def _weights(integrity_csv: str) -> dict:
    """(model, seed, step) -> sha256 of a suite's integrity table, read once per process."""
    import csv
    import os

    stamp = (integrity_csv, os.stat(integrity_csv).st_mtime_ns)
    if stamp not in _HASHES:
        with open(integrity_csv) as f:
            _HASHES[stamp] = {
                (r["model"], int(r["seed"]), int(r["step"])): r["sha256"] for r in csv.DictReader(f)
            }
    return _HASHES[stamp]


def entries_of(integrity_csv: str, sides, task: dict) -> dict:
    """The params of a job that reads stored entries through ancient inputs: the weights hash of
    every (model, seed, step) it reads and the task's options and code. It changes exactly when
    what the job reads changes, so the job reruns then and only then."""
    sha = _weights(integrity_csv)
    return {
        "task": task,
        "weights": {f"{m}/{k}/{t}": sha.get((str(m), int(k), int(t)), "") for m, k, t in sides},
    }
