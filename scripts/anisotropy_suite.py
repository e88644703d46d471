"""Rule anisotropy_suite: suite tables (parquet + CSV) of embedding anisotropy."""

import pandas as pd

from lmdyn.runner import run


def main(sm, log):
    stats = pd.concat([pd.read_parquet(f) for f in sm.input.stats], ignore_index=True)
    hist = pd.concat([pd.read_parquet(f) for f in sm.input.hist], ignore_index=True)
    stats.to_parquet(sm.output.table, index=False)
    stats.to_csv(sm.output.csv, index=False)
    hist.to_parquet(sm.output.hist, index=False)
    hist.to_csv(sm.output.hist_csv, index=False)
    log.info("%d rows", len(stats))


run(main, snakemake)  # noqa: F821
