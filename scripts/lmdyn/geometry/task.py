"""The layer geometry's per-checkpoint tasks: the states (forward hooks), then the tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.engine import Task, run_table
from lmdyn.core.errors import UserError
from lmdyn.geometry import GEOMETRY, LAYERS, TABLES
from lmdyn.geometry import compute as geo
from lmdyn.geometry.states import (
    StateCollector,
    capture_states,
    load_states,
    load_transfer,
    save_states,
    select_windows,
)


class LayerStates(Task):
    """``states.npz``: the states of the sampled evaluation windows, captured by forward hooks in
    the engine's pass over the windows (only the batches holding a sampled window run), and with a
    transfer corpus (input ``transfer``, a transfer_tokens parquet) its states, by
    :func:`capture_states` on the loaded model once that pass is over.

    Options: ``n_windows``, ``n_tokens``, ``seed`` (config ``geometry``; the same for both corpora).
    """

    spec = LAYERS
    files = ("states.npz",)

    def setup(self, run) -> None:
        from lmdyn.core.forward import windows_of

        self.windows, self.docs = run.windows, run.docs
        o = self.options
        self.sample = (int(o["n_windows"]), int(o["n_tokens"]), int(o["seed"]))
        select_windows(self.windows, self.docs, *self.sample)  # too short: fails before any load
        self.transfer = None
        if self.inputs.get("transfer"):
            tokens = pd.read_parquet(self.inputs["transfer"])
            keys = tokens.groupby(["doc_id", "window"], sort=False).size().index
            self.transfer = (windows_of(tokens), np.asarray([k[0] for k in keys]))
            select_windows(*self.transfer, *self.sample)

    def begin(self, ckpt) -> None:
        from lmdyn.core.internals import Internals

        self.model = ckpt.model
        self.ix = Internals(ckpt.model, ckpt.model.get_output_embeddings().weight.shape[0])
        self.col = StateCollector(self.ix.n_layers, self.windows, self.docs, *self.sample)
        self.current, self.cache = None, {}
        self.handles = self.ix.attach(self.col.names, self._visit)

    def _visit(self, name, value) -> None:
        if self.current is not None:
            self.cache[name] = value[:, : self.col.n_tokens].detach().float().cpu()

    def _flush(self) -> None:
        if self.current is not None and self.cache:
            self.col.add(self.current, self.cache)
        self.current, self.cache = None, {}

    def wants(self, indices) -> bool:
        return self.col.wants(indices)

    def batch(self, indices) -> None:
        self._flush()
        if self.col.wants(indices):
            self.current = list(indices)

    def release(self) -> None:
        self._flush()
        self.abort()

    def end(self, folder, ckpt) -> None:
        tr = None
        if self.transfer is not None:  # other tokens: their own forward pass, on the loaded model
            device = next(self.model.parameters()).device
            tr = capture_states(self.ix, *self.transfer, *self.sample, device=device)
        save_states(folder / "states.npz", self.col.states(), self.col.docs, transfer=tr)
        self.model = self.ix = None

    def abort(self) -> None:
        for h in getattr(self, "handles", []):
            h.remove()
        self.handles = []


class Geometry(Task):
    """One parquet per geometry table (:data:`lmdyn.geometry.TABLES`), from the stored states.

    Options: ``transfer`` (whether states of a transfer corpus are expected), ``lengths``,
    ``test_size``, ``max_iter``, ``pca_points``, ``n_boot``, ``seed``; and ``layers``: the options
    of the states task, so that new states ask for new tables.
    """

    spec = GEOMETRY
    files = tuple(f"{t}.parquet" for t in TABLES)

    def run_tables(self, entries, refs) -> dict:
        # the entry's own step column is overwritten: an entry is shared by every checkpoint
        # with the same weights (of another run, or another suite)
        keys = ("model", "seed", "step")
        return {f"geometry_{t}": run_table(entries, refs, "geometry", t, keys) for t in TABLES}

    def end(self, folder, ckpt) -> str:
        o = self.options
        path = ckpt.entries["layers"] / "states.npz"
        states, docs = load_states(path)
        tr = load_transfer(path) if o["transfer"] else None
        if o["transfer"] and tr is None:
            raise UserError(f"{path} holds no transfer states; remove it to compute it again")
        out = geo.checkpoint_tables(
            ckpt.step,
            states,
            docs,
            transfer=tr,
            lengths=o["lengths"],
            test_size=o["test_size"],
            n_boot=o["n_boot"],
            max_iter=o["max_iter"],
            seed=o["seed"],
            pca_points=o["pca_points"],
        )
        for name in TABLES:
            out[name].to_parquet(folder / f"{name}.parquet", index=False)
        acc = out["accuracy"].set_index(["variant", "split"]).accuracy
        return (
            f"{states.shape[1] * states.shape[2]} states x {states.shape[0]} classes; accuracy raw "
            f"{acc[('raw', 'document')]:.3f}, normalised {acc[('normalised', 'document')]:.3f}, "
            f"control {acc[('control', 'document')]:.3f} (chance {1 / states.shape[0]:.3f})"
        )
