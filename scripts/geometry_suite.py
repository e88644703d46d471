"""Rule geometry_suite: every run's geometry tables in one per kind."""

from lmdyn.core.runner import run
from lmdyn.core.workflow import concat_runs
from lmdyn.geometry import TABLES as NAMES


def main(sm, log):
    t = {}
    for name in NAMES:
        t[name] = concat_runs(
            sm.input[f"geometry_{name}"], sm.params.steps
        )  # steps analysed for every seed
        t[name].insert(0, "suite", sm.params.suite)
        t[name].to_parquet(sm.output[f"{name}_parquet"], index=False)
        t[name].to_csv(sm.output[name], index=False, float_format="%.6g")
        log.info("%s: %d rows", name, len(t[name]))


run(main, snakemake)  # noqa: F821
