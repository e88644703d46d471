"""Rule neurons_suite: every run's token-neuron tables in one per kind."""

import pandas as pd

from lmdyn.runner import run

NAMES = ("summary", "lens", "layer_patch", "neuron_patch", "top_neuron", "outliers", "exclusive",
         "target_congruence", "activation")


def main(sm, log):
    t = {}
    for name in NAMES:
        t[name] = pd.concat([pd.read_parquet(p) for p in sm.input[name]], ignore_index=True)
        t[name].insert(0, "suite", sm.params.suite)
        t[name].to_parquet(sm.output[f"{name}_parquet"], index=False)
        t[name].to_csv(sm.output[name], index=False, float_format="%.6g")
        log.info("%s: %d rows", name, len(t[name]))


run(main, snakemake)  # noqa: F821
