"""Figures of the weight-only analyses (unigram latent probe, embedding anisotropy); matplotlib, Agg."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lmdyn.figures import _save as _save_fig  # noqa: E402
from lmdyn.figures import _step_axis  # noqa: E402


def _save(fig, paths, dpi):
    fig.tight_layout()
    _save_fig(fig, paths, dpi)


def _lines_with_band(ax, table, value, group, label_of=str, style=None):
    """Mean across seeds per step, one line per group, and a min-max band where >= 2 seeds exist."""
    for i, (key, g) in enumerate(table.groupby(group, sort=False)):
        agg = g.groupby("step")[value].agg(["mean", "min", "max", "count"]).reset_index().sort_values("step")
        kw = (style or {}).get(key, {})
        (line,) = ax.plot(agg.step, agg["mean"], marker="o", ms=3, label=label_of(key), **kw)
        if (agg["count"] >= 2).any():
            ax.fill_between(agg.step, agg["min"], agg["max"], color=line.get_color(), alpha=0.2, lw=0)


def _no_data(paths, dpi, what):
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.text(0.5, 0.5, f"no analysable checkpoint: {what}", ha="center", va="center")
    ax.axis("off")
    _save(fig, paths, dpi)


def probe_kl(table: pd.DataFrame, paths, dpi=150):
    """KL(u || probe) and KL(probe || u) against step: a line per size (seed mean), band = seed range."""
    if table.empty:
        return _no_data(paths, dpi, "probe")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, col, name in ((axes[0], "kl_u_probe", "KL(u || probe)"), (axes[1], "kl_probe_u", "KL(probe || u)")):
        _lines_with_band(ax, table, col, "model")
        _step_axis(ax)
        ax.set_yscale("log")
        ax.set_ylabel(f"{name} [nats]")
    axes[0].legend(fontsize=8)
    _save(fig, paths, dpi)


def probe_scatter(tokens: pd.DataFrame, special: list[int], paths, dpi=150):
    """Probe against true log-frequency at the first and the last step (first seed), special tokens marked."""
    if tokens.empty:
        return _no_data(paths, dpi, "probe")
    models = list(dict.fromkeys(tokens.model))
    steps = sorted(tokens.step.unique())
    fig, axes = plt.subplots(len(steps), len(models), figsize=(3.6 * len(models), 3.4 * len(steps)), squeeze=False)
    for j, model in enumerate(models):
        d = tokens[(tokens.model == model) & (tokens.seed == tokens[tokens.model == model].seed.min())]
        for i, step in enumerate(steps):
            ax, g = axes[i, j], d[d.step == step]
            ax.scatter(g.log_u, g.log_probe, s=2, alpha=0.3, color="tab:blue", rasterized=True)
            sp = g[g.token_id.isin(special)]
            ax.scatter(sp.log_u, sp.log_probe, s=30, marker="x", color="tab:red", label="special tokens")
            lo, hi = g[["log_u", "log_probe"]].min().min(), g[["log_u", "log_probe"]].max().max()
            ax.plot([lo, hi], [lo, hi], color="gray", lw=0.8)
            ax.set_title(f"{model}, step {step}", fontsize=9)
            ax.set_xlabel("log u (true) [nats]")
            ax.set_ylabel("log probe probability [nats]")
    axes[0, 0].legend(fontsize=7)
    _save(fig, paths, dpi)


def probe_pca(tokens: pd.DataFrame, special: list[int], paths, dpi=150):
    """First two principal components of the embedding rows at the last step, coloured by log u."""
    if tokens.empty:
        return _no_data(paths, dpi, "probe")
    last = tokens[tokens.step == tokens.step.max()]
    models = list(dict.fromkeys(last.model)) or list(dict.fromkeys(tokens.model))
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 3.5), squeeze=False)
    for j, model in enumerate(models):
        d = tokens[tokens.model == model]
        d = d[(d.step == d.step.max()) & (d.seed == d.seed.min())]
        ax = axes[0, j]
        sc = ax.scatter(d.pc1, d.pc2, c=d.log_u, s=3, cmap="viridis", rasterized=True)
        sp = d[d.token_id.isin(special)]
        ax.scatter(sp.pc1, sp.pc2, s=40, marker="x", color="tab:red")
        ax.set_title(f"{model}, step {int(d.step.iloc[0])}", fontsize=9)
        ax.set_xlabel(f"PC1 ({100 * d.pc1_share.iloc[0]:.0f}% of variance)")
        ax.set_ylabel(f"PC2 ({100 * d.pc2_share.iloc[0]:.0f}%)")
        fig.colorbar(sc, ax=ax, label="log u [nats]")
    _save(fig, paths, dpi)


def anisotropy_hist(hist: pd.DataFrame, paths, dpi=150):
    """Pairwise cosine histograms at the last step, raw and centred, seeds pooled; a panel per size x matrix."""
    if hist.empty:
        return _no_data(paths, dpi, "anisotropy")
    panels = list(dict.fromkeys(zip(hist.model, hist.matrix)))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, (model, matrix) in zip(axes[0], panels):
        d = hist[(hist.model == model) & (hist.matrix == matrix)]
        d = d[d.step == d.step.max()]
        for variant, g in d.groupby("variant", sort=False):
            g = g.groupby(["bin", "lo", "hi"])["count"].sum().reset_index()
            width = float(g.hi.iloc[0] - g.lo.iloc[0])
            ax.stairs(g["count"] / g["count"].sum() / width, np.r_[g.lo.to_numpy(), g.hi.iloc[-1]], label=variant)
        ax.set_title(f"{model} {matrix}, step {int(d.step.max())}", fontsize=9)
        ax.set_xlabel("cosine similarity")
        ax.set_ylabel("density")
    axes[0, 0].legend(fontsize=8)
    _save(fig, paths, dpi)


def anisotropy_mean(stats: pd.DataFrame, paths, dpi=150):
    """Mean pairwise cosine against step, raw and centred: a line per size (and matrix), band = seed range."""
    if stats.empty:
        return _no_data(paths, dpi, "anisotropy")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    s = stats.assign(series=stats.model + " " + stats.matrix)
    for ax, variant in zip(axes, ("raw", "centred")):
        _lines_with_band(ax, s[s.variant == variant], "mean_cos", "series")
        _step_axis(ax)
        ax.set_title(variant, fontsize=9)
        ax.axhline(0, color="gray", lw=0.6)
    axes[0].set_ylabel("mean cosine of distinct rows")
    axes[0].legend(fontsize=7)
    _save(fig, paths, dpi)
