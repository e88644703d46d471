"""One checkpoint for the internals layer from a local directory or a hub repository
(``Internals.from_pretrained``): the model as the workflow loads it, its tokenizer and vocabulary."""

from __future__ import annotations

from pathlib import Path

from lmdyn.core import registry
from lmdyn.core.errors import UserError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json")


def checkpoint_dir(repo_or_path, revision: str | None = None, cache_dir: str | None = None) -> Path:
    """The local directory of a checkpoint: ``repo_or_path`` itself when it is a directory, else
    the hub snapshot of that repository at ``revision`` (as the workflow fetches it; the
    repository's default branch when None). HF_HUB_OFFLINE reads the cache only."""
    path = Path(repo_or_path).expanduser()
    if path.is_dir():
        return registry.resolve(registry.Checkpoint("", str(path), 0, 0, None, None, str(path)))
    repo = str(repo_or_path)
    if revision is not None:
        return registry.resolve(
            registry.Checkpoint("", repo, 0, 0, repo, revision, None), cache_dir
        )
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(
            repo,
            cache_dir=cache_dir,
            local_files_only=registry._offline(),
            ignore_patterns=registry.IGNORE,
        )
    except Exception as e:  # noqa: BLE001 - any hub failure reaches the user as one line
        first = (str(e).strip().splitlines() or [""])[0]
        raise UserError(
            f"{repo} is not a local directory and could not be fetched as a hub repository "
            f"({type(e).__name__}: {first})"
        ) from e
    path = Path(path)
    if not (path / "config.json").is_file():
        raise UserError(f"checkpoint {repo} has no config.json; give a revision (branch)")
    return path


def load(
    cls,
    repo_or_path,
    revision: str | None = None,
    vocab_size: int | None = None,
    tokenizer=None,
    device: str = "cpu",
    cache_dir: str | None = None,
):
    """``cls`` (an Internals) of a checkpoint loaded in float32, eval mode, on ``device``.

    ``tokenizer`` (an object or a directory) defaults to the checkpoint's own, where it has one;
    ``vocab_size`` to the tokenizer's length (what the workflow slices logits to), else the model
    config's ``vocab_size``. The result keeps them as ``.tokenizer`` and ``.path``.
    """
    from lmdyn.core.checkpoints import load_model, pick_device
    from lmdyn.data.tokens import load_tokenizer

    path = checkpoint_dir(repo_or_path, revision, cache_dir)
    if tokenizer is None and any((path / f).is_file() for f in TOKENIZER_FILES):
        tokenizer = path
    if isinstance(tokenizer, (str, Path)):
        tokenizer = load_tokenizer(str(tokenizer))
    model = load_model(path, pick_device(device))
    if vocab_size is None:
        vocab_size = len(tokenizer) if tokenizer is not None else model.config.vocab_size
    ix = cls(model, vocab_size)
    ix.tokenizer, ix.path = tokenizer, path
    return ix
