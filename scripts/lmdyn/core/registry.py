"""Checkpoint records and where they live: the one encoding rules pass to scripts, and resolution.

A :class:`Checkpoint` (see :func:`lmdyn.core.plans.plan` for the checkpoints of a suite) becomes a
local HF-format directory through :func:`resolve`: a hub snapshot or a local path. Rules pass it to
scripts as the plain dict of :func:`encode`. Pure functions: the Snakefile decides when to call them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lmdyn.core.errors import UserError


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


def offline() -> bool:
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


# What the tokenizer of a suite needs from a checkpoint: everything but its weights.
WEIGHTS = ["*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt"]


def resolve(
    ckpt: Checkpoint, cache_dir: str | None = None, weights: bool = True, commit: str | None = None
) -> Path:
    """Local HF-format directory of a checkpoint (downloading a hub one unless offline; without
    its weight files where ``weights`` is false; by ``commit`` where it is already resolved).

    Every hub failure becomes one UserError line naming ``repo@revision``: rule scripts print only
    that; transient ones are retried first (lmdyn.core.hub.retried). A revision must be explicit
    because ``main`` of some PolyPythia repos is empty.
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

    from lmdyn.core.hub import endpoint, retried

    offline_now = offline()

    def call():
        return snapshot_download(
            ckpt.repo,
            revision=commit or ckpt.revision,
            cache_dir=cache_dir,
            local_files_only=offline_now,
            ignore_patterns=IGNORE + ([] if weights else WEIGHTS),
            endpoint=endpoint(),
        )

    try:
        path = Path(retried(call, ckpt, "download"))
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - any hub failure must reach the user as one line
        raise UserError(f"checkpoint {ckpt.ref} {_why(e, offline_now)}") from e
    if not (path / "config.json").is_file():
        raise UserError(f"checkpoint {ckpt.ref} has no config.json (empty branch?)")
    return path


def _why(e: Exception, offline_now: bool) -> str:
    """What a hub failure means, as the end of one line naming the checkpoint."""
    from huggingface_hub.errors import (
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(e, IncompleteSnapshotError):
        return "has an incomplete snapshot in the Hugging Face cache"
    if isinstance(e, LocalEntryNotFoundError):
        where = " (offline mode)" if offline_now else " and the Hub is unreachable"
        return "is not in the Hugging Face cache" + where
    if isinstance(e, RevisionNotFoundError):
        return "does not exist: no such branch on the Hub"
    if isinstance(e, RepositoryNotFoundError):
        return "is unavailable: repository not found, gated or private"
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"could not be fetched ({type(e).__name__}: {first})"


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
