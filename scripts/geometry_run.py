"""Rule geometry_run: layer geometry of every checkpoint of one run (model x seed), in one process."""

from pathlib import Path

import numpy as np
import pandas as pd

from lmdyn import geometry, registry
from lmdyn.checkpoints import load_model, pick_device
from lmdyn.forward import windows_of
from lmdyn.internals import Internals
from lmdyn.runner import run


def windows_and_docs(path):
    tokens = pd.read_parquet(path)
    keys = tokens.groupby(["doc_id", "window"], sort=False).size().index
    return windows_of(tokens), np.asarray([k[0] for k in keys])


def main(sm, log):
    p = sm.params
    device = pick_device(p.device)
    vocab = len(pd.read_parquet(sm.input.unigram))  # the tokenizer's size, as in the metrics pass
    windows, docs = windows_and_docs(sm.input.tokens)
    transfer = windows_and_docs(sm.input.transfer) if sm.input.transfer else None
    # State files written by the run pass's `layers` extra (lmdyn.geometry.LayerStates) in the
    # forward pass of the metrics.
    state_files = {int(f.stem[4:]): f for f in Path(sm.input.states).glob("step*.npz")}
    tables: dict[str, list] = {}
    for ref in p.checkpoints:
        step = int(ref["step"])
        if step not in state_files:  # its forward pass failed (see results/runs/): left out here too
            log.warning("step %d left out: the run pass wrote no layer states for it", step)
            continue
        states, sdocs = geometry.load_states(state_files[step])
        tr = None
        if transfer is not None:  # the second corpus: other tokens, its own forward pass
            path = registry.resolve(registry.as_checkpoint(ref), ref.get("cache_dir"))
            ix = Internals(load_model(path, device), vocab)
            tr = geometry.capture_states(ix, *transfer, p.n_windows, p.n_tokens, p.seed, device=device)
        out = geometry.checkpoint_tables(step, states, sdocs, transfer=tr, lengths=p.lengths, test_size=p.test_size,
                                         n_boot=p.n_boot, max_iter=p.max_iter, seed=p.seed, pca_points=p.pca_points)
        acc = out["accuracy"].set_index(["variant", "split"]).accuracy
        log.info("step %d: %d states x %d classes; accuracy raw %.3f, normalised %.3f, control %.3f (chance %.3f)",
                 step, states.shape[1] * states.shape[2], states.shape[0], acc[("raw", "document")],
                 acc[("normalised", "document")], acc[("control", "document")], 1 / states.shape[0])
        for k, t in out.items():
            tables.setdefault(k, []).append(t)
    for k in ("accuracy", "attribution", "norms", "pca", "pca_variance"):
        t = pd.concat(tables[k], ignore_index=True)
        t.insert(0, "seed", int(p.seed_label))
        t.insert(0, "model", p.model)
        t.to_parquet(sm.output[k], index=False)


run(main, snakemake)  # noqa: F821
