"""Rule figure_anisotropy."""

import pandas as pd

from lmdyn.anisotropy import figures as wf
from lmdyn.core.runner import run


def main(sm, log):
    stats, hist = pd.read_parquet(sm.input.table), pd.read_parquet(sm.input.hist)
    wf.anisotropy_hist(hist, [sm.output.fig_hist], sm.params.dpi)
    wf.anisotropy_mean(stats, [sm.output.fig_mean], sm.params.dpi)


run(main, snakemake)  # noqa: F821
