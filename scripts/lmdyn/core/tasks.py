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
    "min_gap",
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
        p = cfg["probe"]
        if p["solver"] == "published":  # the default's key stays what it was before the option
            return {k: p[k] for k in ("solver", "adam_lr", "adam_iterations")}
        return {k: p[k] for k in ("max_iter", "rtol")}
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


FAMILY_TASKS = {
    "divergence": ("metrics",),
    "probe": ("probe",),
    "anisotropy": ("anisotropy",),
    "geometry": ("layers", "geometry"),
    "neurons": ("neurons",),
}
# The data files each task reads (rule inputs of checkpoint_tasks); their hashes are in its key.
TASK_INPUTS = {
    "metrics": ("tokens", "unigram"),
    "probe": ("unigram",),
    "layers": ("tokens", "transfer"),
    "neurons": ("tokens", "tokenizer"),
}


def enabled_families(cfg: dict) -> list[str]:
    """Family 1 always; the others unless switched off under ``families``."""
    return ["divergence"] + [f for f in FAMILY_TASKS if f != "divergence" and cfg["families"][f]]


def tuning(cfg: dict, name: str) -> dict:
    """Settings of a task that change speed or memory only (never its key)."""
    m = cfg["metrics"]
    if name == "metrics":
        return {"vocab_chunk": m["vocab_chunk"], "token_chunk": m["token_chunk"], "threads": 1}
    if name in ("probe", "anisotropy"):
        return {"threads": cfg[name]["threads"]}
    return {"threads": 1}


def task_params(cfg: dict, name: str, suite: str) -> dict:
    """A task's param: its options and code version (what its result depends on) and tuning."""
    return {
        "options": task_options(cfg, name, suite),
        "code": TASKS[name].version(),
        "tuning": tuning(cfg, name),
    }


def run_tasks(cfg: dict, suite: str, families=None) -> dict:
    """The tasks of a run's checkpoint job (every enabled family's, or those of ``families``), in
    the order they run: name -> task param."""
    families = enabled_families(cfg) if families is None else families
    return {n: task_params(cfg, n, suite) for f in families for n in FAMILY_TASKS[f]}


def run_threads(cfg: dict) -> int:
    """Threads of a run's checkpoint job: the most any task of any suite asks for."""
    return max(p["tuning"]["threads"] for s in cfg["suites"] for p in run_tasks(cfg, s).values())


def make_tasks(params: dict, inputs) -> list:
    """The task objects of a job from its ``tasks`` param and its input files (torch imported)."""
    from lmdyn.anisotropy.task import Anisotropy
    from lmdyn.divergence.task import Metrics
    from lmdyn.geometry.task import Geometry, LayerStates
    from lmdyn.neurons.task import TokenNeurons
    from lmdyn.probe.task import Probe

    classes = {
        "metrics": Metrics,
        "probe": Probe,
        "anisotropy": Anisotropy,
        "layers": LayerStates,
        "geometry": Geometry,
        "neurons": TokenNeurons,
    }
    out = []
    for name, p in params.items():
        files = {k: inputs[k] for k in TASK_INPUTS.get(name, ()) if inputs.get(k)}
        out.append(classes[name](p["options"], files, p["tuning"]))
    return out


_HASHES: dict = {}


def weights_of(integrity_csv: str) -> dict:
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
    sha = weights_of(integrity_csv)
    return {
        "task": task,
        "weights": {f"{m}/{k}/{t}": sha.get((str(m), int(k), int(t)), "") for m, k, t in sides},
    }


def run_tables(families) -> dict:
    """The run's tables of ``families`` (output name -> spec), as each family declares them."""
    from importlib import import_module

    out = {}
    for f in families:
        if f != "divergence":
            out.update(import_module(f"lmdyn.{f}.tables").RUN_TABLES)
    return out


def run_table_paths(families) -> dict:
    """The same as output name -> path pattern (under results/)."""
    return {k: f"results/{t.path}" for k, t in run_tables(families).items()}
