"""Checks of what the config points at, run when Snakemake reads it: the ``--config`` values, the
results folder, the transfer corpus, a local suite's checkpoint directories and tokenizers (the
neurons prompts on them). Standard library, yaml and ``tokenizers`` only (no torch import)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from lmdyn.core.errors import UserError

# Below this much free space under results/ a run is refused: a forward pass's outputs alone are
# tens of MB per checkpoint, and a disk that fills mid-run leaves partial outputs behind.
MIN_FREE_MB = 200
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer.model")


def typed_overrides(entries) -> dict:
    """The nested ``--config`` values, parsed as YAML. Snakemake parses a value like ``figures={"dpi":
    100}`` with YAML's base loader, which leaves every nested value a string ('100'); these are the
    same entries with their numbers, booleans and nulls typed (top-level scalars are typed already)."""
    import yaml

    out = {}
    for entry in entries or ():
        key, sep, value = str(entry).partition("=")
        if not sep:
            continue
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            continue  # left as Snakemake parsed it: the schema names the key
        if isinstance(parsed, dict | list):
            out[key] = parsed
    return out


def free_mb(path: Path) -> float:
    """Free space (MB) of the file system holding ``path`` (its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free / 1e6


def check_results_dir(root: Path, min_free_mb: float = MIN_FREE_MB) -> None:
    """results/ (and the folder it is made in) can be written and has room."""
    root = Path(root)
    for d in (root / "results", root / "logs"):
        if d.exists() and not d.is_dir():
            raise UserError(
                f"{d.absolute()} is a file, where the workflow writes a folder; move it away or "
                "run in another folder (snakemake --directory DIR)"
            )
    for d in (root, root / "results", root / "logs"):
        if d.exists() and not os.access(d, os.W_OK | os.X_OK):
            raise UserError(
                f"{d.absolute()} cannot be written; fix its permissions or run the workflow in "
                "another folder (snakemake --directory DIR)"
            )
    free = free_mb(root / "results")
    if free < min_free_mb:
        raise UserError(
            f"only {free:.0f} MB free under {(root / 'results').absolute()} (at least "
            f"{min_free_mb} MB needed); free some space or run in another folder (--directory DIR)"
        )


def check_transfer(cfg: dict) -> None:
    """A local transfer corpus of the geometry family exists."""
    t = cfg["geometry"]["transfer"]
    if t["source"] != "local":
        return
    if not t["path"]:
        raise UserError(
            "geometry.transfer.source is 'local' but geometry.transfer.path is not set; set the "
            "path, or a source (sotu, moby-dick), or source: null for no transfer test"
        )
    if not Path(t["path"]).exists():
        raise UserError(
            f"geometry.transfer.path '{t['path']}' does not exist; fix the path, or set "
            "geometry.transfer.source: null for no transfer test"
        )


def weight_files(path: Path) -> list[Path]:
    return [*path.glob("*.safetensors"), *path.glob("*.bin")]


def check_local_checkpoints(name: str, runs: dict) -> None:
    """A local suite's checkpoints (``runs``: (model, seed) -> paths in step order): the first one
    exists (the suite's tokenizer is read from it), every directory with a config.json has weights,
    and every run has the first run's tokenizer."""
    first = next(iter(runs.values()))[0]
    if not Path(first, "config.json").is_file():
        raise UserError(
            f"suites.{name}: the first checkpoint {first} has no config.json (the suite's "
            "tokenizer and model config are read from it); fix path_pattern or the steps"
        )
    for paths in runs.values():
        for p in map(Path, paths):
            if (p / "config.json").is_file() and not weight_files(p):
                raise UserError(
                    f"suites.{name}: checkpoint {p} has a config.json but no weights (*.safetensors "
                    "or *.bin); copy its weights there, or remove the directory or the step"
                )
    _check_tokenizers(name, runs)


def tokenizer_digest(path: Path) -> str | None:
    """A digest of a checkpoint's vocabulary and merges (tokenizer.json's model and added tokens,
    else the vocabulary files), or None where it has no tokenizer files."""
    h, found = hashlib.sha256(), False
    for f in TOKENIZER_FILES:
        p = Path(path) / f
        if not p.is_file():
            continue
        found = True
        if f == "tokenizer.json":  # its other fields (truncation, padding) do not change the ids
            tj = json.loads(p.read_text())
            h.update(json.dumps([tj.get("model"), tj.get("added_tokens")], sort_keys=True).encode())
        else:
            h.update(p.read_bytes())
    return h.hexdigest() if found else None


def _check_tokenizers(name: str, runs: dict) -> None:
    """Every run's first checkpoint on disk has the same tokenizer as the suite's first run."""
    seen = None
    for (model, seed), paths in runs.items():
        path = next((Path(p) for p in paths if Path(p, "config.json").is_file()), None)
        digest = tokenizer_digest(path) if path is not None else None
        if digest is None:
            continue
        if seen is None:
            seen = (model, seed, path, digest)
        elif digest != seen[3]:
            raise UserError(
                f"suites.{name}: model {model} seed {seed} ({path}) has another tokenizer than model "
                f"{seen[0]} seed {seen[1]} ({seen[2]}); a suite's runs must share one tokenizer: "
                "put runs with another tokenizer in a suite of their own"
            )


class LocalTokenizer:
    """A checkpoint's tokenizer.json through the ``tokenizers`` library: what the neurons prompt
    checks ask of a tokenizer, without loading transformers."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self.tk = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
        cfg = Path(path) / "tokenizer_config.json"
        bos = json.loads(cfg.read_text()).get("bos_token") if cfg.is_file() else None
        bos = bos.get("content") if isinstance(bos, dict) else bos
        self.bos_token_id = self.tk.token_to_id(bos) if bos else None

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.tk.encode(text, add_special_tokens=add_special_tokens).ids

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.tk.id_to_token(i) for i in ids]


def check_local_layers(name: str, first: str, layers) -> None:
    """A list of neurons.patch_layers fits the layers of the suite's model config (the first
    checkpoint's config.json)."""
    if not isinstance(layers, list):
        return
    cfg = json.loads(Path(first, "config.json").read_text())
    n = next(
        (cfg[k] for k in ("num_hidden_layers", "n_layer") if isinstance(cfg.get(k), int)), None
    )
    bad = [i for i in layers if n is not None and i >= n]
    if bad:
        raise UserError(
            f"neurons.patch_layers {bad} are outside suite {name}'s models ({n} layers: 0..{n - 1} "
            f"in {Path(first, 'config.json')}); use layers they have, or auto"
        )


def check_built_prompts(cfg: dict, tokenizer_dirs: dict) -> None:
    """Every suite's neurons prompts on the tokenizer an earlier run made (``tokenizer_dirs``: suite
    -> its folder under results/tokenizer), where there is one: changed prompts are checked before
    any job, not when the run jobs start."""
    from lmdyn.core.tasks import neurons_spec

    if not cfg["families"]["neurons"]:
        return
    for suite, folder in tokenizer_dirs.items():
        check_local_prompts(suite, folder, neurons_spec(cfg, suite))


def check_local_prompts(name: str, first: str, spec: dict) -> None:
    """The neurons prompts and targets of a suite, on its tokenizer (a local suite's first
    checkpoint, or the suite's folder under results/tokenizer), where that is a tokenizer.json;
    other tokenizers are checked when the run job starts."""
    from lmdyn.neurons.promptcheck import check_prompts

    if not (Path(first) / "tokenizer.json").is_file():
        return
    try:
        check_prompts(LocalTokenizer(Path(first)), spec)
    except UserError as e:
        raise UserError(f"suites.{name}: {e}") from None
