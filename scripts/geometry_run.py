"""Rule geometry_run: layer geometry of every checkpoint of one run (model x seed), in one process.

Reads only the state files the run pass's `layers` extra wrote (both corpora): no checkpoint, no torch.
"""

from pathlib import Path

import pandas as pd

from lmdyn.core.errors import UserError
from lmdyn.core.runner import run
from lmdyn.core.workflow import sound_refs
from lmdyn.geometry import compute as geometry
from lmdyn.geometry import states as geostates


def main(sm, log):
    p = sm.params
    # State files written by the run pass's `layers` extra (lmdyn.geometry.compute.LayerStates): the
    # evaluation windows' states from the forward pass of the metrics, and the transfer corpus'.
    state_files = {int(f.stem[4:]): f for f in Path(sm.input.states).glob("step*.npz")}
    tables: dict[str, list] = {}
    for ref in sound_refs(sm.input.integrity, p.checkpoints):  # the run's own integrity table
        step = int(ref["step"])
        if (
            step not in state_files
        ):  # its forward pass failed (see results/runs/): left out here too
            log.warning("step %d left out: the run pass wrote no layer states for it", step)
            continue
        states, sdocs = geostates.load_states(state_files[step])
        tr = geostates.load_transfer(state_files[step]) if p.transfer else None
        if p.transfer and tr is None:
            raise UserError(
                f"{state_files[step]} holds no transfer states; rerun its run pass (--forcerun run_metrics)"
            )
        out = geometry.checkpoint_tables(
            step,
            states,
            sdocs,
            transfer=tr,
            lengths=p.lengths,
            test_size=p.test_size,
            n_boot=p.n_boot,
            max_iter=p.max_iter,
            seed=p.seed,
            pca_points=p.pca_points,
        )
        acc = out["accuracy"].set_index(["variant", "split"]).accuracy
        log.info(
            "step %d: %d states x %d classes; accuracy raw %.3f, normalised %.3f, control %.3f (chance %.3f)",
            step,
            states.shape[1] * states.shape[2],
            states.shape[0],
            acc[("raw", "document")],
            acc[("normalised", "document")],
            acc[("control", "document")],
            1 / states.shape[0],
        )
        for k, t in out.items():
            tables.setdefault(k, []).append(t)
    for k in ("accuracy", "attribution", "norms", "pca", "pca_variance"):
        t = pd.concat(tables[k], ignore_index=True)
        t.insert(0, "seed", int(p.seed_label))
        t.insert(0, "model", p.model)
        t.to_parquet(sm.output[k], index=False)


run(main, snakemake)  # noqa: F821
