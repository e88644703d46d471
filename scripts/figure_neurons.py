"""Rule figure_neurons: the neurons figures from the suite tables."""

import pandas as pd

from lmdyn.core.plots import figure_paths
from lmdyn.core.runner import run
from lmdyn.neurons import TABLES
from lmdyn.neurons import figures as fig

NAMES = TABLES


def main(sm, log):
    t = {name: pd.read_parquet(sm.input[name]) for name in NAMES}
    dpi = sm.params.dpi
    fig.neurons_lens(t["lens"], figure_paths(sm.output, "lens_fig"), dpi)
    # Heatmaps and activation bins: the last step of the largest model's first seed, first prompt.
    lp = t["layer_patch"]
    model = list(dict.fromkeys(lp.model))[-1]
    seed = lp[lp.model == model].seed.min()
    step = lp[(lp.model == model) & (lp.seed == seed)].step.max()
    prompt = lp.prompt.iloc[0]
    sel = lp[(lp.model == model) & (lp.seed == seed) & (lp.step == step) & (lp.prompt == prompt)]
    fig.neurons_patching(
        sel,
        f"{sm.params.suite} {model} seed {seed} step {step}: {prompt}",
        figure_paths(sm.output, "patching_fig"),
        dpi,
    )
    fig.neurons_emergence(
        t["summary"],
        t["top_neuron"],
        t["neuron_patch"],
        t["target_congruence"],
        figure_paths(sm.output, "emergence_fig"),
        dpi,
    )
    act = t["activation"]
    act = act[(act.model == model) & (act.seed == seed) & (act.step == step)] if len(act) else act
    fig.neurons_activation(
        act,
        f"{sm.params.suite} {model} seed {seed} step {step}",
        figure_paths(sm.output, "activation_fig"),
        dpi,
    )


run(main, snakemake)  # noqa: F821
