"""Rule figure_kl_reference."""

import pandas as pd

from lmdyn.core.plots import figure_paths
from lmdyn.core.runner import run
from lmdyn.divergence import figures


def main(sm, log):
    figures.kl_reference(
        pd.read_parquet(sm.input[0]), figure_paths(sm.output, "fig"), dpi=sm.params.dpi
    )


run(main, snakemake)  # noqa: F821
