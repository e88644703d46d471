"""Rule figure_regression: coefficient plot with 95% intervals."""

import pandas as pd

from lmdyn.core.plots import figure_paths
from lmdyn.core.runner import run
from lmdyn.divergence import figures


def main(sm, log):
    coefs = pd.read_csv(sm.input[0], keep_default_na=False, na_values=[""])
    title = f"{sm.params.metric} at step {coefs.step.iloc[0]} ({sm.wildcards.suite})"
    figures.regression_coefficients(
        coefs, figure_paths(sm.output, "fig"), title=title, dpi=sm.params.dpi
    )


run(main, snakemake)  # noqa: F821
