"""Rule neurons_suite: every run's per-checkpoint token-neuron tables in one per kind."""

from pathlib import Path

import pandas as pd

from lmdyn.core.runner import run

NAMES = (
    "summary",
    "lens",
    "layer_patch",
    "neuron_patch",
    "top_neuron",
    "outliers",
    "exclusive",
    "target_congruence",
    "activation",
)


def read_run(folder: str, run: dict, name: str) -> list[pd.DataFrame]:
    """A run's table ``name`` at every kept step (plan order), written by the run pass's `neurons` extra."""
    parts = []
    for step in run["steps"]:
        t = pd.read_parquet(Path(folder) / f"step{step}.{name}.parquet")
        t.insert(0, "seed", int(run["seed"]))
        t.insert(0, "model", run["model"])
        parts.append(t)
    return parts


def main(sm, log):
    runs = sm.params.runs  # folder -> model, seed, steps (models x seeds in config order)
    for name in NAMES:
        t = pd.concat(
            [p for folder, r in runs.items() for p in read_run(folder, r, name)], ignore_index=True
        )
        t.insert(0, "suite", sm.params.suite)
        t.to_parquet(sm.output[f"{name}_parquet"], index=False)
        t.to_csv(sm.output[name], index=False, float_format="%.6g")
        log.info("%s: %d rows", name, len(t))


run(main, snakemake)  # noqa: F821
