"""What the engine's loading thread does for one checkpoint: download (a hub checkpoint not in
the cache, by the commit its run's integrity job resolved), load, and later remove the download.

The thread takes one job at a time, in the order the engine hands them over: the next
checkpoints download and load while the current one computes, and a finished checkpoint's
removal comes before any later download, so a run job holds at most (prefetch + 1) downloaded
checkpoints on disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from lmdyn.core import hub, registry
from lmdyn.core.checks import checkpoint_label, require_finite_weights
from lmdyn.core.errors import UserError

LEDGERS = "results/downloads"  # where each download is noted until it is removed


@dataclass
class Loaded:
    """One checkpoint as the tasks see it."""

    ref: dict
    step: int
    label: str
    path: Path | None = None
    model: object = None
    unembed: object = None
    bias: object = None
    weights: dict | None = None
    entries: dict = field(default_factory=dict)  # task name -> entry folder (this checkpoint)
    error: UserError | None = None  # why it could not be downloaded or loaded
    download: hub.Download | None = None  # what this job added to the hub cache for it
    download_s: float = 0.0
    load_s: float = 0.0


class Loader:
    """Downloads and loads checkpoints for the tasks of a run (``run``: lmdyn.core.engine.Run).

    ``resolved``: step -> {commit, files} of the run's hub checkpoints (the fetch_run job's);
    without it a hub checkpoint is resolved here. ``keep_weights``: never remove a download.
    """

    def __init__(self, run, resolved: dict | None = None, keep_weights=True, ledgers=LEDGERS):
        self.run, self.resolved, self.keep = run, dict(resolved or {}), keep_weights
        self.ledgers = Path(ledgers)
        self.downloads: dict = {}  # cache_dir -> hub.Downloads

    def path(self, ref: dict, c: Loaded) -> Path:
        ckpt = registry.as_checkpoint(ref)
        entry = self.resolved.get(str(ckpt.step))
        if ckpt.repo is None or entry is None:
            return registry.resolve_ref(ref)
        cache = ref.get("cache_dir")
        if cache not in self.downloads:
            self.downloads[cache] = hub.Downloads(cache, self.ledgers, self.run.log)
        path, c.download = self.downloads[cache].fetch(ckpt, hub.Resolution(**entry))
        return path

    def load(self, ref: dict, model: bool, weights: bool) -> Loaded:
        """The checkpoint downloaded where needed and loaded as the tasks need it (nothing where
        they only read other entries); a UserError is kept in ``error``, not raised."""
        from lmdyn.core.checkpoints import load_for_pass
        from lmdyn.core.internals import load_embeddings

        run = self.run
        c = Loaded(ref, int(ref["step"]), checkpoint_label(ref))
        try:
            t = time.perf_counter()
            if model or weights:
                c.path = self.path(ref, c)
            c.download_s, t = time.perf_counter() - t, time.perf_counter()
            if model:
                max_pos = max((len(w) for w in run.windows), default=None)
                m, w, b = load_for_pass(c.path, run.vocab, run.dtype, max_pos)
                # NaN/inf weights: the checkpoint is recorded as failed (one line naming it and
                # the first non-finite parameter) and left out, like an unreadable one
                require_finite_weights(m, c.label)
                c.model, c.unembed = m.to(run.device), w.to(run.device)
                c.bias = b.to(run.device) if b is not None else None
            if weights:
                c.weights = load_embeddings(c.path, run.vocab)
            c.load_s = time.perf_counter() - t
        except UserError as e:
            c.error = e
        return c

    def release(self, c: Loaded) -> None:
        """Drop the loaded model; remove the download unless the suite keeps its weights (the
        engine calls it once the checkpoint's tasks are stored, or it failed)."""
        c.model = c.unembed = c.bias = c.weights = None
        if c.download is None or self.keep:
            return
        freed = self.downloads[c.ref.get("cache_dir")].evict(c.download)
        if self.run.log:
            self.run.log.info(
                "step %d: removed its download from the cache (%.1f MB)", c.step, freed / 1e6
            )
