"""Rule figure_kl_seeds."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.divergence import figures


def main(sm, log):
    figures.kl_seeds(
        pd.read_parquet(sm.input[0]), [sm.output.png, sm.output.pdf], dpi=sm.params.dpi
    )


run(main, snakemake)  # noqa: F821
