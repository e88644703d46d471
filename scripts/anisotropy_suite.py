"""Rule anisotropy_suite: suite tables (parquet + CSV) of embedding anisotropy, written run by run."""

from lmdyn.anisotropy import tables as specs
from lmdyn.core.gather import gather
from lmdyn.core.runner import run


def main(sm, log):
    steps = sm.params.steps  # steps analysed for every seed
    out = sm.output
    stats = gather(specs.STATS, sm.input.anisotropy, (out.table, out.csv), steps)
    gather(specs.HIST, sm.input.anisotropy_hist, (out.hist, out.hist_csv), steps)
    log.info("%d rows", stats.rows)


run(main, snakemake)  # noqa: F821
