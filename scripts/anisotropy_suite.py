"""Rule anisotropy_suite: suite tables (parquet + CSV) of embedding anisotropy."""

from lmdyn.core.runner import run
from lmdyn.core.workflow import concat_runs


def main(sm, log):
    stats, hist = (
        concat_runs(sm.input[k], sm.params.steps) for k in ("anisotropy", "anisotropy_hist")
    )
    stats.to_parquet(sm.output.table, index=False)
    stats.to_csv(sm.output.csv, index=False)
    hist.to_parquet(sm.output.hist, index=False)
    hist.to_csv(sm.output.hist_csv, index=False)
    log.info("%d rows", len(stats))


run(main, snakemake)  # noqa: F821
