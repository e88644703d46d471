"""Rule figure_sigma: heatmap of relative seed divergence by tag and step."""

import pandas as pd

from lmdyn import figures
from lmdyn.runner import run


def main(sm, log):
    figures.sigma_heatmap(pd.read_parquet(sm.input[0]), sm.wildcards.model, [sm.output.png, sm.output.pdf],
                          min_tokens=sm.params.min_tokens, dpi=sm.params.dpi)


run(main, snakemake)  # noqa: F821
