"""Figures of embedding anisotropy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.plots import no_data, save, seed_bands, step_axis, subplots

NO_DATA = "no analysable checkpoint: anisotropy"


def anisotropy_hist(hist: pd.DataFrame, paths, dpi=150):
    """Pairwise cosine histograms at the last step, raw and centred, seeds pooled; a panel per size x matrix."""
    if hist.empty:
        return no_data(paths, dpi, NO_DATA)
    panels = list(dict.fromkeys(zip(hist.model, hist.matrix)))
    fig, axes = subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, (model, matrix) in zip(axes[0], panels):
        d = hist[(hist.model == model) & (hist.matrix == matrix)]
        d = d[d.step == d.step.max()]
        for variant, g in d.groupby("variant", sort=False):
            g = g.groupby(["bin", "lo", "hi"])["count"].sum().reset_index()
            width = float(g.hi.iloc[0] - g.lo.iloc[0])
            ax.stairs(
                g["count"] / g["count"].sum() / width,
                np.r_[g.lo.to_numpy(), g.hi.iloc[-1]],
                label=variant,
            )
        ax.set_title(f"{model} {matrix}, step {int(d.step.max())}", fontsize=9)
        ax.set_xlabel("cosine similarity")
        ax.set_ylabel("density")
    axes[0, 0].legend(fontsize=8)
    save(fig, paths, dpi)


def anisotropy_mean(stats: pd.DataFrame, paths, dpi=150):
    """Mean pairwise cosine against step, raw and centred: a line per size (and matrix), band = seed range."""
    if stats.empty:
        return no_data(paths, dpi, NO_DATA)
    fig, axes = subplots(1, 2, figsize=(9, 3.5), sharey=True)
    s = stats.assign(series=stats.model + " " + stats.matrix)
    for ax, variant in zip(axes, ("raw", "centred")):
        seed_bands(ax, s[s.variant == variant], "mean_cos", "series")
        step_axis(ax)
        ax.set_title(variant, fontsize=9)
        ax.axhline(0, color="gray", lw=0.6)
    axes[0].set_ylabel("mean cosine of distinct rows")
    axes[0].legend(fontsize=7)
    save(fig, paths, dpi)
