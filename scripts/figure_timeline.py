"""Rule figure_timeline."""

import pandas as pd

from lmdyn.core.plots import figure_paths
from lmdyn.core.runner import run
from lmdyn.timeline.figures import timeline


def main(sm, log):
    events, curves = pd.read_parquet(sm.input.table), pd.read_parquet(sm.input.curves)
    phases = pd.read_parquet(sm.input.phases)
    timeline(events, curves, phases, figure_paths(sm.output, "fig"), sm.params.dpi)


run(main, snakemake)  # noqa: F821
