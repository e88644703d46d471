"""Suite plans: which checkpoints a suite spec (one entry of the config's ``suites:``) has.

:func:`plan` expands a spec into :class:`lmdyn.core.registry.Checkpoint` records, one builder per suite
kind; hub kinds may only ask for steps their repositories publish a branch for.
"""

from __future__ import annotations

import string

from lmdyn.core.errors import UserError
from lmdyn.core.grid import log_then_linear
from lmdyn.core.registry import Checkpoint

PYTHIA_SIZES = ("14m", "31m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")
POLYPYTHIA_SIZES = ("14m", "31m", "70m", "160m", "410m")
CRFM_RUNS = {  # seed index -> (run name, repo suffix); medium uses the second name list
    "small": ("alias", "battlestar", "caprica", "darkmatter", "expanse"),
    "medium": ("arwen", "beren", "celebrimbor", "durin", "eowyn"),
}
CRFM_SUFFIXES = (21, 49, 81, 343, 777)

_PYTHIA = log_then_linear(143000, 512, 1000)
NAMED_GRIDS: dict[str, list[int]] = {
    "pythia-log": _PYTHIA,
    "pythia-early": [s for s in _PYTHIA if s <= 512],
    "crfm": [
        *range(10, 100, 10),
        *range(100, 2000, 50),
        *range(2000, 20000, 100),
        *range(20000, 400001, 1000),
    ],
}
# The grid whose branches each hub kind publishes: requested steps must lie on it (no branch otherwise).
NATIVE_GRID = {"pythia": "pythia-log", "polypythia": "pythia-log", "crfm": "crfm"}


def steps_for(spec: dict) -> list[int]:
    """Sorted steps of a suite spec: ``steps`` is a grid name, ``"final"`` or a list of ints.

    ``"final"`` is the last step of the kind's native grid (143000 for Pythia, 400000 for CRFM).
    For hub kinds every step must be on the native grid, since other steps have no branch; the
    default is the whole native grid.
    """
    kind = spec.get("kind")
    native = NAMED_GRIDS.get(NATIVE_GRID.get(kind, ""))
    steps = spec.get("steps", NATIVE_GRID.get(kind))
    if steps is None:
        raise UserError(
            f"suite of kind {kind!r} needs 'steps' (a list of ints or one of {sorted(NAMED_GRIDS)})"
        )
    if isinstance(steps, str):
        if steps == "final":
            if native is None:
                raise UserError(
                    f"steps 'final' needs a kind with a published grid, not {kind!r}: list the step"
                )
            return [native[-1]]
        if steps not in NAMED_GRIDS:
            raise UserError(
                f"unknown step grid {steps!r}; known: {', '.join(sorted(NAMED_GRIDS))}, final"
            )
        steps = NAMED_GRIDS[steps]
    if not isinstance(steps, list | tuple) or not steps:
        raise UserError(f"steps must be a grid name or a non-empty list of ints, got {steps!r}")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in steps):
        raise UserError(f"steps must be non-negative ints, got {list(steps)!r}")
    if len(set(steps)) != len(steps):
        raise UserError(f"steps has duplicates: {list(steps)!r}")
    if native is not None:
        off = sorted(set(steps) - set(native))
        if off:
            raise UserError(
                f"{kind} publishes no checkpoint at step(s) {off[:5]} (grid {NATIVE_GRID[kind]})"
            )
    return sorted(steps)


def _subset(spec: dict, key: str, allowed, default=None) -> list:
    """spec[key] as a list, every item in ``allowed`` (UserError names the bad ones)."""
    items = spec.get(key, default)
    if items is None:
        raise UserError(f"suite spec needs {key!r}")
    items = list(items) if isinstance(items, list | tuple | range) else [items]
    bad = [x for x in items if x not in allowed or isinstance(x, bool)]
    if bad or not items or len(set(items)) != len(items):
        raise UserError(
            f"{key} {items!r}: each must be one of {list(allowed)} (no duplicates, not empty)"
        )
    return items


def plan(suite_name: str, spec: dict) -> list[Checkpoint]:
    """Every checkpoint of a suite, ordered by model, seed, then step (grid order)."""
    kind = spec.get("kind")
    builders = {
        "micro": _micro,
        "pythia": _pythia,
        "polypythia": _polypythia,
        "crfm": _crfm,
        "final": _final,
        "local": _local,
    }
    if kind not in builders:
        raise UserError(
            f"suite {suite_name!r}: unknown kind {kind!r}; known: {', '.join(builders)}"
        )
    return builders[kind](suite_name, spec)


# Where the micro suite's training writes a run (one HF directory per step inside it).
MICRO_RUN_DIR = "results/checkpoints/{suite}/{model}/seed{seed}"


def _micro(name: str, spec: dict) -> list[Checkpoint]:
    """The micro suite trained by the workflow: every model x seed at Pythia's grid shape."""
    t = spec["train"]
    steps = log_then_linear(t["max_step"], t["log_until"], t["every"])
    return [
        Checkpoint(
            name,
            m,
            seed,
            step,
            None,
            None,
            MICRO_RUN_DIR.format(suite=name, model=m, seed=seed) + f"/step{step}",
        )
        for m in spec["models"]
        for seed in sorted(spec["seeds"])
        for step in steps
    ]


def _hub(suite, model, seeds_repos, steps, rev) -> list[Checkpoint]:
    return [
        Checkpoint(suite, model, seed, s, repo, rev.format(s), None)
        for seed, repo in seeds_repos
        for s in steps
    ]


def _pythia(name: str, spec: dict) -> list[Checkpoint]:
    """Pythia v1 (seed 0 only); -deduped has no 14m/31m."""
    sizes, deduped, steps = (
        _subset(spec, "sizes", PYTHIA_SIZES),
        bool(spec.get("deduped", False)),
        steps_for(spec),
    )
    if deduped and {"14m", "31m"} & set(sizes):
        raise UserError(f"suite {name!r}: pythia-deduped has no 14m or 31m model")
    tail = "-deduped" if deduped else ""
    return [
        c
        for z in sizes
        for c in _hub(name, z, [(0, f"EleutherAI/pythia-{z}{tail}")], steps, "step{}")
    ]


def _polypythia(name: str, spec: dict) -> list[Checkpoint]:
    """PolyPythias: seed 0 is the original run (repo without suffix), seed k is ``-seed{k}``.

    ``variant: data-seed | weight-seed`` selects the 160m runs that vary only data order or only
    init (seeds 1..3); seed 0 there is again the original run, the shared baseline.
    """
    variant, steps = spec.get("variant"), steps_for(spec)
    if variant is None:
        sizes, seeds, tag = _subset(spec, "sizes", POLYPYTHIA_SIZES), range(10), "seed"
    elif variant in ("data-seed", "weight-seed"):
        sizes, seeds, tag = _subset(spec, "sizes", ("160m",), ["160m"]), range(4), variant
    else:
        raise UserError(
            f"suite {name!r}: unknown variant {variant!r}; known: data-seed, weight-seed"
        )
    seeds = _subset(spec, "seeds", seeds, seeds)

    def repo(z, k):
        return f"EleutherAI/pythia-{z}" + (f"-{tag}{k}" if k else "")

    return [
        c for z in sizes for c in _hub(name, z, [(k, repo(z, k)) for k in seeds], steps, "step{}")
    ]


def _crfm(name: str, spec: dict) -> list[Checkpoint]:
    """Stanford CRFM GPT-2 (Mistral) runs; seeds are run names or their index 0..4."""
    sizes, steps, out = _subset(spec, "sizes", tuple(CRFM_RUNS)), steps_for(spec), []
    for z in sizes:
        runs = CRFM_RUNS[z]
        seeds = [runs.index(s) if s in runs else s for s in spec.get("seeds", range(5))]
        seeds = _subset({"seeds": seeds}, "seeds", range(5))
        repos = [(k, f"stanford-crfm/{runs[k]}-gpt2-{z}-x{CRFM_SUFFIXES[k]}") for k in seeds]
        out += _hub(name, z, repos, steps, "checkpoint-{}")
    return out


def _final(name: str, spec: dict) -> list[Checkpoint]:
    """Single published models: ``models: {name: repo}`` or ``{name: {repo, revision}}``.

    A revision is required (per model or suite-wide ``revision``) because ``main`` moves and some
    repos' ``main`` is empty; ``step`` (default 0) only labels the row.
    """
    models, out = spec.get("models"), []
    if not isinstance(models, dict) or not models:
        raise UserError(
            f"suite {name!r}: kind final needs models: {{name: repo or {{repo, revision}}}}"
        )
    for model, entry in models.items():
        entry = entry if isinstance(entry, dict) else {"repo": entry}
        repo, rev = entry.get("repo"), entry.get("revision", spec.get("revision"))
        if not repo or not rev or rev == "main":
            raise UserError(
                f"suite {name!r}: model {model!r} needs a repo and an explicit revision (not main)"
            )
        out.append(Checkpoint(name, str(model), 0, int(spec.get("step", 0)), repo, rev, None))
    return out


def _local(name: str, spec: dict) -> list[Checkpoint]:
    """Checkpoints already on disk: ``path_pattern`` with {step}, {seed} and optionally {model}."""
    pattern = spec.get("path_pattern")
    if not isinstance(pattern, str):
        raise UserError(f"suite {name!r}: kind local needs path_pattern with {{seed}} and {{step}}")
    fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    if fields - {"model", "seed", "step"}:
        raise UserError(
            f"suite {name!r}: path_pattern may use only {{model}}, {{seed}}, {{step}}: {pattern}"
        )
    models, steps = [str(m) for m in spec.get("models", ["model"])], steps_for(spec)
    seeds = _subset(spec, "seeds", range(10**6), [0])
    for field, values in (("model", models), ("seed", seeds), ("step", steps)):
        if len(values) > 1 and field not in fields:
            raise UserError(f"suite {name!r}: several {field}s but path_pattern has no {{{field}}}")
    return [
        Checkpoint(name, m, k, s, None, None, pattern.format(model=m, seed=k, step=s))
        for m in models
        for k in seeds
        for s in steps
    ]
