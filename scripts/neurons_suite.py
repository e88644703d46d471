"""Rule neurons_suite: every run's token-neuron tables in one per kind."""

from lmdyn.core.runner import run
from lmdyn.core.workflow import concat_runs
from lmdyn.neurons import TABLES


def main(sm, log):
    for name in TABLES:
        t = concat_runs(
            sm.input[f"neurons_{name}"], sm.params.steps
        )  # steps analysed for every seed
        t.insert(0, "suite", sm.params.suite)
        t.to_parquet(sm.output[f"{name}_parquet"], index=False)
        t.to_csv(sm.output[name], index=False, float_format="%.6g")
        log.info("%s: %d rows", name, len(t))


run(main, snakemake)  # noqa: F821
