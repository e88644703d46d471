"""The base class of the run pass's per-checkpoint extras (lmdyn.core.runpass).

Kept apart from lmdyn.core.runpass, which imports torch: a family module defines its extra at import,
and its per-run analysis job (which reads the files the extra wrote) must not pay for torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Extra:
    """More files per checkpoint, computed while the run pass has the checkpoint loaded.

    Subclass, set ``name`` (the key of the rule output directory it writes into, and its folder
    ``results/{name}/{suite}/{model}/seed{seed}/``) and ``suffix``, and register the class in
    ``lmdyn.core.runpass.EXTRAS``. ``files``: input files of the run job the extra reads (e.g. the
    tokenizer), by name. Per checkpoint the pass calls ``begin`` once (the model is loaded and on its
    device; register forward hooks here), ``batch(indices)`` before every forward call of the metrics
    pass (the window indices of that batch, into ``windows``), ``release()`` once that pass is over
    (remove the hooks here; called for every extra before any ``end``), then ``end(path)`` with
    ``path`` = ``step{step}{suffix}`` in the extra's folder. ``end`` may run the model again, and
    writes ``path`` or, with ``suffix = ""``, several files ``step{step}.<part>`` (a failed checkpoint
    loses every ``step{step}.*``); a string it returns is logged with the step. ``abort()`` is called
    instead of ``end`` if the checkpoint fails. The body may run in ``metrics.dtype``: cast captured
    tensors with ``.float()``.
    """

    name = ""
    suffix = ".npz"

    def __init__(self, options: dict | None = None, files: dict | None = None):
        self.options = dict(options or {})
        self.files = dict(files or {})

    def setup(self, windows: list[np.ndarray], docs: np.ndarray, vocab: int) -> None:
        """Once per run, before any checkpoint: the windows, the document of each, the vocabulary size."""

    def begin(self, model, windows: list[np.ndarray], checkpoint: dict) -> None:
        raise NotImplementedError

    def batch(self, indices: list[int]) -> None:
        pass

    def release(self) -> None:
        pass

    def end(self, path: Path) -> str | None:
        raise NotImplementedError

    def abort(self) -> None:
        pass
