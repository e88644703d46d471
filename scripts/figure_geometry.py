"""Rule figure_geometry: the geometry figures from the suite tables."""

import pandas as pd

from lmdyn.core.plots import figure_paths
from lmdyn.core.runner import run
from lmdyn.geometry import TABLES
from lmdyn.geometry import figures as fig

NAMES = TABLES


def main(sm, log):
    t = {name: pd.read_parquet(sm.input[name]) for name in NAMES}
    dpi = sm.params.dpi
    fig.geometry_accuracy(t["accuracy"], figure_paths(sm.output, "accuracy_fig"), dpi)
    fig.geometry_norms(t["norms"], figure_paths(sm.output, "norms_fig"), dpi)
    # PCA of the last step of the largest model's first seed (the last model in config order).
    pca, var = t["pca"], t["pca_variance"]
    model = list(dict.fromkeys(pca.model))[-1]
    seed = pca[pca.model == model].seed.min()
    step = pca[(pca.model == model) & (pca.seed == seed)].step.max()
    sel = (pca.model == model) & (pca.seed == seed) & (pca.step == step)
    vsel = (var.model == model) & (var.seed == seed) & (var.step == step)
    fig.geometry_pca(
        pca[sel],
        var[vsel],
        f"{sm.params.suite} {model} seed {seed} step {step}",
        figure_paths(sm.output, "pca_fig"),
        dpi,
    )
    fig.geometry_attribution(
        t["attribution"], t["accuracy"], figure_paths(sm.output, "attribution_fig"), dpi
    )


run(main, snakemake)  # noqa: F821
