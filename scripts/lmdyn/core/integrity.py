"""Checkpoint integrity: missing, unreadable and byte-identical checkpoints of a run.

Published suites have all three (docs/architecture.md, "Checkpoints"), and analysing them silently would fake
learning dynamics: :func:`integrity_table` flags them, :func:`require_usable` stops when nothing of a
run is left.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lmdyn.core.errors import UserError
from lmdyn.core.registry import Checkpoint, as_checkpoint, resolve_ref


def weight_files(path: Path) -> list[Path]:
    """Weight files of a checkpoint directory, by name (optimizer/trainer state is not weights)."""
    files = [*Path(path).glob("*.safetensors"), *Path(path).glob("*.bin")]
    return sorted((f for f in files if f.name != "training_args.bin"), key=lambda f: f.name)


def weights_hash(path: Path) -> str:
    """sha256 over the weight files' names and bytes, in name order, read in 1 MiB blocks.

    Byte identity, not parameter closeness: it is meant to catch a branch that serves another
    step's files (pythia-2.8b's early branches serve main's), which are identical down to the byte.
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

                # the header parses and every tensor's slice is in the file
                with safe_open(str(f), framework="pt") as st:
                    for key in st.keys():
                        st.get_slice(key)
            else:
                torch.load(str(f), map_location="meta", weights_only=True, mmap=True)
        except Exception as e:  # noqa: BLE001 - SafetensorError, UnpicklingError, RuntimeError...
            first = (str(e).strip().splitlines() or [""])[0][:160]
            return f"{f.name} is unreadable ({type(e).__name__}: {first})"
    return None


INTEGRITY_COLUMNS = [
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


def _status(c: Checkpoint, sha: dict, corrupt: dict, same: list) -> str:
    if c in corrupt:
        return "corrupt"
    if c not in sha:
        return "missing"
    return "duplicate" if same else "ok"


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
        rows.append(
            (
                c.suite,
                c.model,
                c.seed,
                c.step,
                c.repo,
                c.revision,
                _status(c, sha, corrupt, same),
                sha.get(c),
                same[0] if same else None,
                corrupt.get(c, ""),
            )
        )
    df = pd.DataFrame(rows, columns=INTEGRITY_COLUMNS)
    df["duplicate_of"] = df["duplicate_of"].astype("Int64")
    return df


def run_integrity(plan: list[dict], log=None, resolved: dict | None = None):
    """Integrity table of one run from its encoded references, before any download: a hub
    checkpoint from the hub's metadata (offline: from the cache), its hash from the weight files'
    sha256 (:meth:`lmdyn.core.hub.Resolution.weights_sha`); a local directory checked for
    readability and hashed. A branch or directory that does not exist is ``missing``, unreadable
    local weights are ``corrupt`` (both left out later); anything else (an offline cache miss, a
    gated repo, a hub that stays unavailable) stops with its one-line message. ``resolved``
    gains step -> {commit, files} of every hub checkpoint found (what the run's job downloads)."""
    ckpts, paths, hashes, corrupt = [], {}, {}, {}
    branches: dict = {}  # repo -> {branch: commit}, listed once per repository
    for i, ref in enumerate(plan):
        c = as_checkpoint(ref)
        ckpts.append(c)
        try:
            paths[c], hashes[c] = _locate(c, ref, log, resolved, branches)
        except UserError as e:
            if "does not exist" not in str(e) and "is missing" not in str(e):
                raise
            if log:
                log.warning("%s", e)
            paths[c] = None
            continue
        if hashes[c] is None:
            why = unreadable(paths[c])
            if why is not None:
                if log:
                    log.warning("checkpoint %s: %s", c.ref, why)
                corrupt[c] = why
            else:
                hashes[c] = fast_hash(paths[c])
        if log and ((i + 1) % 10 == 0 or i + 1 == len(plan)):
            log.info("resolved %d/%d checkpoints", i + 1, len(plan))
    return integrity_table(ckpts, paths, {c: h for c, h in hashes.items() if h}, corrupt)


def _locate(
    c: Checkpoint, ref: dict, log, resolved: dict | None, branches: dict
) -> tuple[Path, str | None]:
    """(a path standing for the checkpoint, its hash where the metadata gives it)."""
    if c.repo is None:
        return resolve_ref(ref), None
    from lmdyn.core import hub

    if c.revision in (None, "", "main"):
        raise UserError(
            f"checkpoint {c.repo} needs an explicit revision (branch), not {c.revision!r}"
        )
    res = hub.resolve(c, ref.get("cache_dir"), log, branches)
    if "config.json" not in res.files or not res.weights():
        raise UserError(f"checkpoint {c.ref} does not exist: its branch has no model files")
    if resolved is not None:
        resolved[str(c.step)] = {"commit": res.commit, "files": res.files}
    return Path(c.ref), res.weights_sha()


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
