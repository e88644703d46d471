"""Checks of a run job's layer-geometry samples, before any checkpoint is loaded (not part of the
tasks' code version: they change no result, only when and how a bad sample is reported)."""

from __future__ import annotations

import numpy as np

from lmdyn.core.errors import UserError, warn
from lmdyn.geometry.states import select_windows


def check_samples(tasks, log=None) -> None:
    """A warning (console and log) where fewer windows than geometry.n_windows have
    geometry.n_tokens tokens, in the evaluation or the transfer corpus; one line where
    geometry.test_size leaves no document of the evaluation sample to train on (scikit-learn's
    own error, after the forward pass, names neither key)."""
    by_name = {t.name: t for t in tasks}
    layers = by_name.get("layers")
    if layers is None:
        return
    n_windows, n_tokens, _ = layers.sample
    corpora = [("evaluation", layers.windows, layers.docs)]
    if layers.transfer is not None:
        corpora.append(("transfer", *layers.transfer))
    docs = None
    for corpus, windows, doc_ids in corpora:
        _, sample_docs, take = select_windows(windows, doc_ids, *layers.sample)
        docs = sample_docs if docs is None else docs
        if len(take) < n_windows:
            warn(
                log,
                f"geometry.n_windows is {n_windows} but only {len(take)} {corpus} windows have "
                f"geometry.n_tokens ({n_tokens}) tokens: using those {len(take)}; lower "
                "geometry.n_windows (or geometry.n_tokens) to silence this",
            )
    geometry = by_name.get("geometry")
    if geometry is not None:
        test_size, n = geometry.options["test_size"], np.unique(docs).size
        if n - int(np.ceil(test_size * n)) < 1:  # GroupShuffleSplit's test side rounds up
            raise UserError(
                f"geometry.test_size {test_size} leaves no document to train on ({n} documents in "
                "the sample); lower geometry.test_size or raise geometry.n_windows"
            )
