"""Checks the config alone settles, run when Snakemake reads it (stdlib only: no torch import)."""

from __future__ import annotations

import json
import re
from importlib.util import find_spec
from pathlib import Path

# Config keys that bound the context length (learned position embeddings; rotary models set
# max_position_embeddings too, and their outputs beyond it are not what the model was trained on).
POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx")


def position_limit(config: dict) -> int | None:
    """The longest sequence a model's config.json allows, or None if it names none."""
    for key in POSITION_KEYS:
        if isinstance(config.get(key), int):
            return config[key]
    return None


def context_problem(suite: str, paths, context_length: int) -> str | None:
    """A local suite's checkpoints are at hand when the config is read: the first one with a
    config.json settles whether tokens.context_length fits its position embeddings."""
    for path in paths:
        cfg = Path(path or "") / "config.json"
        if cfg.is_file():
            limit = position_limit(json.loads(cfg.read_text()))
            if limit is not None and context_length > limit:
                return (
                    f"tokens.context_length {context_length} is longer than suite {suite}'s checkpoints allow "
                    f"({limit} positions in {cfg}); set tokens.context_length to at most {limit}"
                )
            return None
    return None


def torch_cuda_build() -> bool | None:
    """Whether the installed torch was built with CUDA, read from torch/version.py without importing
    torch (seconds of start-up on every cluster job); None if that cannot be told."""
    spec = find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version = Path(list(spec.submodule_search_locations)[0]) / "version.py"
    if not version.is_file():
        return None
    m = re.search(r"^cuda(?::[^=]*)?=\s*(.+)$", version.read_text(), re.M)
    return None if m is None else m.group(1).strip() != "None"


def max_eval_tokens(cfg: dict) -> int | None:
    """Upper bound on predicted evaluation tokens: n_eval x windows_per_doc x (context_length - 1)."""
    t = cfg.get("tokens", {})
    n_eval = cfg.get("corpus", {}).get("n_eval")
    if None in (n_eval, t.get("windows_per_doc"), t.get("context_length")):
        return None
    return n_eval * t["windows_per_doc"] * (t["context_length"] - 1)


def problems(cfg: dict) -> list[str]:
    """One line per problem of a validated config (defaults filled)."""
    out = []
    device = cfg["metrics"]["device"]
    if device.startswith("cuda") and torch_cuda_build() is False:
        out.append(
            f"metrics.device is '{device}' but the installed torch has no CUDA support; "
            "use 'auto' or 'cpu', or install a CUDA build of torch"
        )
    bins, n = cfg["aggregate"]["freq_bins"], max_eval_tokens(cfg)
    if n is not None and bins > n:
        out.append(
            f"aggregate.freq_bins {bins} is more than the at most {n} evaluation tokens can fill "
            "(corpus.n_eval x tokens.windows_per_doc x (tokens.context_length - 1)); lower it"
        )
    formats = cfg["figures"]["formats"]
    if "png" not in formats:
        out.append(
            f"figures.formats [{', '.join(formats)}] leaves out png, the format the HTML report "
            "shows; add png"
        )
    return out
