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
    for family, check in (("geometry", geometry_problems), ("neurons", neurons_problems)):
        if family in cfg and cfg.get("families", {}).get(family, True):
            out += check(cfg)
    return out


def max_windows(cfg: dict, n_docs) -> int | None:
    """Upper bound on the windows ``n_docs`` documents give (tokens.windows_per_doc each)."""
    return None if n_docs is None else n_docs * cfg["tokens"]["windows_per_doc"]


def geometry_problems(cfg: dict) -> list[str]:
    """Sample sizes of the layer geometry that the evaluation (and transfer) windows cannot hold."""
    g, out = cfg["geometry"], []
    ctx = cfg["tokens"]["context_length"]
    if g["n_tokens"] > ctx:
        out.append(
            f"geometry.n_tokens {g['n_tokens']} is more than a window holds (tokens.context_length "
            f"{ctx}); lower geometry.n_tokens or raise tokens.context_length"
        )
    most = max_windows(cfg, cfg["corpus"]["n_eval"])
    if g["n_windows"] > most:
        out.append(
            f"geometry.n_windows {g['n_windows']} is more than the at most {most} evaluation "
            "windows (corpus.n_eval x tokens.windows_per_doc); lower it or raise corpus.n_eval"
        )
    t = g["transfer"]
    most = max_windows(cfg, t["n_docs"]) if t["source"] is not None else None
    if most is not None and g["n_windows"] > most:
        out.append(
            f"geometry.n_windows {g['n_windows']} is more than the at most {most} windows of the "
            "transfer corpus (geometry.transfer.n_docs x tokens.windows_per_doc); raise "
            "geometry.transfer.n_docs or lower geometry.n_windows"
        )
    return out


def neurons_problems(cfg: dict) -> list[str]:
    """Neurons options the config settles: window count, prompt names, patched layers of micro suites."""
    n, out = cfg["neurons"], []
    most = max_windows(cfg, cfg["corpus"]["n_eval"])
    if n["n_windows"] is not None and n["n_windows"] > most:
        out.append(
            f"neurons.n_windows {n['n_windows']} is more than the at most {most} evaluation windows "
            "(corpus.n_eval x tokens.windows_per_doc); lower it, or null for all"
        )
    if n["activation_pairs"] > n["top_pairs"]:
        out.append(
            f"neurons.activation_pairs {n['activation_pairs']} is more than the "
            f"neurons.top_pairs {n['top_pairs']} pairs it is taken from; lower it or raise top_pairs"
        )
    specs = [("neurons", n)] + [
        (f"suites.{s}.neurons", v["neurons"]) for s, v in cfg["suites"].items() if "neurons" in v
    ]
    for key, spec in specs:
        names = [p["name"] for p in spec.get("prompts", [])]
        twice = sorted({x for x in names if names.count(x) > 1})
        if twice:
            out.append(
                f"{key}.prompts: the name {twice[0]!r} is used twice; give each prompt its own"
            )
    layers = n["patch_layers"]
    for name, suite in cfg["suites"].items():
        if suite["kind"] != "micro" or not isinstance(layers, list):
            continue
        for model, size in suite["models"].items():
            bad = [i for i in layers if i >= size["num_layers"]]
            if bad:
                out.append(
                    f"neurons.patch_layers {bad} are outside model {model} of suite {name} "
                    f"({size['num_layers']} layers: 0..{size['num_layers'] - 1}); use layers "
                    "every model has, or auto"
                )
    return out
