"""Rule anisotropy_suite: suite tables (parquet + CSV) of embedding anisotropy."""

from lmdyn.anisotropy import tables as specs
from lmdyn.core.runner import run
from lmdyn.core.tables import concat, write


def main(sm, log):
    steps = sm.params.steps  # steps analysed for every seed
    stats = concat(specs.STATS, sm.input.anisotropy, steps)
    hist = concat(specs.HIST, sm.input.anisotropy_hist, steps)
    write(specs.STATS, stats, sm.output.table, sm.output.csv)
    write(specs.HIST, hist, sm.output.hist, sm.output.hist_csv)
    log.info("%d rows", len(stats))


run(main, snakemake)  # noqa: F821
