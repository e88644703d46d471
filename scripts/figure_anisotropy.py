"""Rule figure_anisotropy."""

import pandas as pd

from lmdyn.anisotropy import figures as wf
from lmdyn.core.plots import figure_paths
from lmdyn.core.runner import run


def main(sm, log):
    stats, hist = pd.read_parquet(sm.input.table), pd.read_parquet(sm.input.hist)
    wf.anisotropy_hist(hist, figure_paths(sm.output, "fig_hist"), sm.params.dpi)
    wf.anisotropy_mean(stats, figure_paths(sm.output, "fig_mean"), sm.params.dpi)


run(main, snakemake)  # noqa: F821
