"""Checkpoint registry for published suites: which checkpoints a suite has, where they live, are they sound.

A suite spec (one entry of the config's ``suites:``) is expanded by :func:`plan` into
:class:`Checkpoint` records; :func:`resolve` turns one into a local HF-format directory (a hub
snapshot or a local path) and :func:`integrity_table` reports missing and byte-identical
checkpoints, because published suites have both (DESIGN.md section 6) and analysing them silently
would fake learning dynamics. Pure functions: the Snakefile decides when to call them.
"""

from __future__ import annotations

import hashlib
import os
import string
from dataclasses import dataclass
from pathlib import Path

from lmdyn.core.errors import UserError
from lmdyn.core.grid import log_then_linear


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of one run; hashable, so it can key dicts of paths and hashes."""

    suite: str
    model: str  # the {model} wildcard: a size ("160m", "small") or a final/local model name
    seed: int
    step: int
    repo: str | None  # hub repo id; None for local directories
    revision: str | None  # explicit branch ("step1000", "checkpoint-400000"), never "main"
    path: str | None  # local directory (local kind), else None

    @property
    def ref(self) -> str:
        """``repo@revision`` or the local path: what error messages and tables name."""
        return f"{self.repo}@{self.revision}" if self.repo else str(self.path)


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


def _offline() -> bool:
    """Offline if HF_HUB_OFFLINE is set now, or was when huggingface_hub was imported."""
    from huggingface_hub import constants

    return (
        os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
        or constants.HF_HUB_OFFLINE
    )


# Formats no rule loads: skipping them keeps e.g. gpt2 downloads to the PyTorch weights.
IGNORE = [
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.onnx",
    "*.tflite",
    "onnx/*",
    "coreml/*",
    "flax_model*",
    "tf_model*",
]


def resolve(ckpt: Checkpoint, cache_dir: str | None = None) -> Path:
    """Local HF-format directory of a checkpoint (downloading a hub one unless offline).

    Every hub failure becomes one UserError line naming ``repo@revision``: rule scripts print only
    that. A revision must be explicit because ``main`` of some PolyPythia repos is empty.
    """
    if ckpt.repo is None:
        path = Path(ckpt.path or "")
        if not (path / "config.json").is_file():
            raise UserError(f"checkpoint directory {path} is missing or has no config.json")
        return path
    if ckpt.revision in (None, "", "main"):
        raise UserError(
            f"checkpoint {ckpt.repo} needs an explicit revision (branch), not {ckpt.revision!r}"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = _offline()
    try:
        path = Path(
            snapshot_download(
                ckpt.repo,
                revision=ckpt.revision,
                cache_dir=cache_dir,
                local_files_only=offline,
                ignore_patterns=IGNORE,
            )
        )
    except Exception as e:  # noqa: BLE001 - any hub failure must reach the user as one line
        if isinstance(e, IncompleteSnapshotError):
            why = "has an incomplete snapshot in the Hugging Face cache"
        elif isinstance(e, LocalEntryNotFoundError):
            why = "is not in the Hugging Face cache" + (
                " (offline mode)" if offline else " and the Hub is unreachable"
            )
        elif isinstance(e, RevisionNotFoundError):
            why = "does not exist: no such branch on the Hub"
        elif isinstance(e, RepositoryNotFoundError):
            why = "is unavailable: repository not found, gated or private"
        else:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            why = f"could not be fetched ({type(e).__name__}: {first})"
        raise UserError(f"checkpoint {ckpt.ref} {why}") from e
    if not (path / "config.json").is_file():
        raise UserError(f"checkpoint {ckpt.ref} has no config.json (empty branch?)")
    return path


def weight_files(path: Path) -> list[Path]:
    """Weight files of a checkpoint directory, by name (optimizer/trainer state is not weights)."""
    files = [*Path(path).glob("*.safetensors"), *Path(path).glob("*.bin")]
    return sorted((f for f in files if f.name != "training_args.bin"), key=lambda f: f.name)


def weights_hash(path: Path) -> str:
    """sha256 over the weight files' names and bytes, in name order, read in 1 MiB blocks.

    Byte identity, not parameter closeness: it is meant to catch a branch that serves another
    step's files (DESIGN.md section 6), which are identical down to the byte.
    """
    files = weight_files(path)
    if not files:
        raise UserError(f"checkpoint directory {path} has no *.safetensors or *.bin weight files")
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:  # follows hub-cache symlinks to the blobs
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def fast_hash(path: Path) -> str:
    """weights_hash, but free for hub-cache snapshots: their weight files are symlinks to blobs
    named by the sha256 of their content (Git LFS), so the blob names identify the bytes."""
    files = weight_files(path)
    targets = [Path(os.path.realpath(f)).name for f in files]
    if (
        files
        and all(f.is_symlink() for f in files)
        and all(len(t) == 64 and all(c in "0123456789abcdef" for c in t) for t in targets)
    ):
        h = hashlib.sha256()
        for f, t in zip(files, targets):
            h.update(f"{f.name}\0{t}\0".encode())
        return "blobs:" + h.hexdigest()
    return weights_hash(path)


def encode(ckpt: Checkpoint, cache_dir: str | None = None) -> dict:
    """The one encoding of a checkpoint reference that rules pass to scripts as a param (a plain
    dict: Snakemake stores params in its metadata); :func:`resolve_ref` is its inverse."""
    return {**ckpt.__dict__, "cache_dir": cache_dir}


def as_checkpoint(ref: dict) -> Checkpoint:
    """A Checkpoint from the plain dict a rule passes as a param."""
    return Checkpoint(
        ref["suite"],
        ref["model"],
        int(ref["seed"]),
        int(ref["step"]),
        ref.get("repo"),
        ref.get("revision"),
        ref.get("path"),
    )


def resolve_ref(ref: dict) -> Path:
    """Local HF-format directory of an encoded checkpoint reference (see :func:`encode`)."""
    return resolve(as_checkpoint(ref), ref.get("cache_dir"))


def unreadable(path: Path) -> str | None:
    """Why a checkpoint's weights cannot be read (one phrase), or None. Cheap: safetensors headers
    and sizes, and pickles opened as weights only on the meta device (no tensor data is read)."""
    import torch

    files = weight_files(path)
    if not files:
        return "no *.safetensors or *.bin weight files"
    for f in files:
        try:
            if f.suffix == ".safetensors":
                from safetensors import safe_open

                with safe_open(str(f), framework="pt") as st:
                    for (
                        key
                    ) in st.keys():  # the header parses and every tensor's slice is in the file
                        st.get_slice(key)
            else:
                torch.load(str(f), map_location="meta", weights_only=True, mmap=True)
        except Exception as e:  # noqa: BLE001 - SafetensorError, UnpicklingError, RuntimeError...
            first = (str(e).strip().splitlines() or [""])[0][:160]
            return f"{f.name} is unreadable ({type(e).__name__}: {first})"
    return None


def integrity_table(
    ckpts: list[Checkpoint],
    paths: dict[Checkpoint, Path | None],
    hashes: dict | None = None,
    corrupt: dict | None = None,
):
    """One row per checkpoint: status ``ok``, ``missing`` (no path), ``corrupt`` (weights that cannot
    be read: ``corrupt`` maps it to the reason, given in ``note``) or ``duplicate``.

    Within a run (suite, model, seed), every step whose weights are byte-identical to another
    step's is ``duplicate`` (``duplicate_of``: the earliest other step with those bytes). All copies
    are flagged, not only the later ones: when a branch serves another step's files (pythia-2.8b's
    early branches serve main's weights) nothing says which copy is the genuine one.
    ``hashes`` may supply precomputed hashes to skip re-reading weights.
    """
    import pandas as pd

    hashes, sha, steps, corrupt = dict(hashes or {}), {}, {}, dict(corrupt or {})
    for c in sorted(ckpts, key=lambda c: c.step):  # grid order within each run
        if paths.get(c) is not None and c not in corrupt:
            sha[c] = hashes.get(c) or weights_hash(Path(paths[c]))
            steps.setdefault((c.suite, c.model, c.seed, sha[c]), []).append(c.step)
    rows = []
    for c in ckpts:
        same = (
            [s for s in steps.get((c.suite, c.model, c.seed, sha.get(c)), []) if s != c.step]
            if c in sha
            else []
        )
        status = (
            "corrupt"
            if c in corrupt
            else "missing"
            if c not in sha
            else "duplicate"
            if same
            else "ok"
        )
        rows.append(
            (
                c.suite,
                c.model,
                c.seed,
                c.step,
                c.repo,
                c.revision,
                status,
                sha.get(c),
                same[0] if same else None,
                corrupt.get(c, ""),
            )
        )
    cols = [
        "suite",
        "model",
        "seed",
        "step",
        "repo",
        "revision",
        "status",
        "sha256",
        "duplicate_of",
        "note",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df["duplicate_of"] = df["duplicate_of"].astype("Int64")
    return df


def run_integrity(plan: list[dict], log=None):
    """Integrity table of one run from its encoded references: resolve (download unless offline),
    check readability and hash every checkpoint. A branch or directory that does not exist is
    ``missing`` and unreadable weights are ``corrupt`` (both left out later); anything else (an
    offline cache miss, a gated repo) stops with its one-line message."""
    ckpts, paths, hashes, corrupt = [], {}, {}, {}
    for i, ref in enumerate(plan):
        c = as_checkpoint(ref)
        ckpts.append(c)
        try:
            paths[c] = resolve_ref(ref)
        except UserError as e:
            if "does not exist" not in str(e) and "is missing" not in str(e):
                raise
            if log:
                log.warning("%s", e)
            paths[c] = None
            continue
        why = unreadable(paths[c])
        if why is not None:
            if log:
                log.warning("checkpoint %s: %s", c.ref, why)
            corrupt[c] = why
        else:
            hashes[c] = fast_hash(paths[c])
        if log and ((i + 1) % 10 == 0 or i + 1 == len(plan)):
            log.info("resolved and hashed %d/%d checkpoints", i + 1, len(plan))
    return integrity_table(ckpts, paths, hashes, corrupt)


def require_usable(table) -> None:
    """Stop (one line) when a run (model x seed) of an integrity table has no usable checkpoint, or a
    model has no step usable for every seed: nothing of it could be analysed. Otherwise the
    checkpoints that are not ``ok`` are only left out."""
    for (suite, model, seed), g in table.groupby(["suite", "model", "seed"], sort=False):
        if not (g.status == "ok").any():
            counts = ", ".join(
                f"{n} {st}" for st, n in g.status.value_counts().sort_index().items()
            )
            raise UserError(
                f"every checkpoint of suite {suite} model {model} seed {seed} is unusable ({counts}); "
                f"fix or remove that run (details in logs/integrity/{suite}.log)"
            )
    for (suite, model), g in table.groupby(["suite", "model"], sort=False):
        seeds = g.seed.nunique()
        ok = g[g.status == "ok"].groupby("step").seed.nunique()
        if not (ok == seeds).any():
            raise UserError(
                f"suite {suite} model {model} has no step whose checkpoints are usable for every seed; "
                f"fix the checkpoints listed in logs/integrity/{suite}.log"
            )
