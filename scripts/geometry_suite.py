"""Rule geometry_suite: every run's geometry tables in one per kind, and the geometry figures."""

import pandas as pd

from lmdyn import activation_figures as fig
from lmdyn.runner import run

NAMES = ("accuracy", "attribution", "norms", "pca", "pca_variance")


def main(sm, log):
    t = {}
    for name in NAMES:
        t[name] = pd.concat([pd.read_parquet(p) for p in sm.input[name]], ignore_index=True)
        t[name].insert(0, "suite", sm.params.suite)
        t[name].to_parquet(sm.output[f"{name}_parquet"], index=False)
        t[name].to_csv(sm.output[name], index=False, float_format="%.6g")
        log.info("%s: %d rows", name, len(t[name]))
    dpi = sm.params.dpi
    fig.geometry_accuracy(t["accuracy"], [sm.output.accuracy_fig], dpi)
    fig.geometry_norms(t["norms"], [sm.output.norms_fig], dpi)
    # PCA of the last step of the largest model's first seed (the last model in config order).
    pca, var = t["pca"], t["pca_variance"]
    model = list(dict.fromkeys(pca.model))[-1]
    seed = pca[pca.model == model].seed.min()
    step = pca[(pca.model == model) & (pca.seed == seed)].step.max()
    sel = (pca.model == model) & (pca.seed == seed) & (pca.step == step)
    vsel = (var.model == model) & (var.seed == seed) & (var.step == step)
    fig.geometry_pca(pca[sel], var[vsel], f"{sm.params.suite} {model} seed {seed} step {step}",
                     [sm.output.pca_fig], dpi)
    fig.geometry_attribution(t["attribution"], t["accuracy"], [sm.output.attribution_fig], dpi)


run(main, snakemake)  # noqa: F821
