"""Figure rules of the full study: one script, dispatched on the rule name."""

import pandas as pd

from lmdyn.core.plots import figure_paths
from lmdyn.core.runner import run
from lmdyn.divergence import figures


def main(sm, log):
    i, o, p = sm.input, sm.output, sm.params
    paths = figure_paths(o, "fig")
    if sm.rule == "figure_phases":
        figures.study_phases(pd.read_parquet(i.curves), pd.read_parquet(i.phases), paths, dpi=p.dpi)
    elif sm.rule == "figure_seed_divergence":
        figures.seed_divergence(pd.read_parquet(i.curves), paths, dpi=p.dpi)
    elif sm.rule == "figure_seed_groups":
        figures.seed_groups(pd.read_parquet(i.groups), paths, dpi=p.dpi)
    elif sm.rule in ("figure_sigma", "figure_learnability"):
        figures.sigma_panels(
            pd.read_parquet(i.sigma), sm.wildcards.model, p.metric, paths, p.min_tokens, dpi=p.dpi
        )
    elif sm.rule == "figure_ce_fit":
        figures.ce_fit(pd.read_parquet(i.traj), pd.read_parquet(i.fits), paths, dpi=p.dpi)
        figures.dh_kl(pd.read_parquet(i.dh), figure_paths(o, "dh"), dpi=p.dpi)
    elif sm.rule == "figure_sizes":
        figures.size_divergence(pd.read_parquet(i.sizes), paths, dpi=p.dpi)
    else:
        raise ValueError(f"no figure for rule {sm.rule}")


run(main, snakemake)  # noqa: F821
