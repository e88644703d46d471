"""Figures of the unigram latent probe."""

from __future__ import annotations

import pandas as pd

from lmdyn.core.plots import capped, no_data, save, seed_bands, step_axis, subplots

NO_DATA = "no analysable checkpoint: probe"


def probe_kl(table: pd.DataFrame, paths, dpi=150):
    """KL(u || probe) and KL(probe || u) against step: a line per size (seed mean), band = seed range."""
    if table.empty:
        return no_data(paths, dpi, NO_DATA)
    fig, axes = subplots(1, 2, figsize=(9, 3.5))
    for ax, col, name in (
        (axes[0], "kl_u_probe", "KL(u || probe)"),
        (axes[1], "kl_probe_u", "KL(probe || u)"),
    ):
        seed_bands(ax, table, col, "model")
        step_axis(ax)
        ax.set_yscale("log")
        ax.set_ylabel(f"{name} [nats]")
    axes[0].legend(fontsize=8)
    save(fig, paths, dpi)


def probe_scatter(tokens: pd.DataFrame, special: list[int], paths, dpi=150):
    """Probe against true log-frequency at the first and the last step (first seed), special tokens marked."""
    if tokens.empty:
        return no_data(paths, dpi, NO_DATA)
    models = list(dict.fromkeys(tokens.model))
    steps = sorted(tokens.step.unique())
    fig, axes = subplots(
        len(steps),
        len(models),
        figsize=(3.6 * len(models), capped(3.0 * len(steps))),
        squeeze=False,
    )
    for j, model in enumerate(models):
        d = tokens[
            (tokens.model == model) & (tokens.seed == tokens[tokens.model == model].seed.min())
        ]
        for i, step in enumerate(steps):
            ax, g = axes[i, j], d[d.step == step]
            ax.scatter(g.log_u, g.log_probe, s=2, alpha=0.3, color="tab:blue", rasterized=True)
            sp = g[g.token_id.isin(special)]
            ax.scatter(
                sp.log_u, sp.log_probe, s=30, marker="x", color="tab:red", label="special tokens"
            )
            lo, hi = g[["log_u", "log_probe"]].min().min(), g[["log_u", "log_probe"]].max().max()
            ax.plot([lo, hi], [lo, hi], color="gray", lw=0.8)
            ax.set_title(f"{model}, step {step}", fontsize=9)
            ax.set_xlabel("log u (true) [nats]")
            ax.set_ylabel("log probe probability [nats]")
    axes[0, 0].legend(fontsize=7)
    save(fig, paths, dpi)


def probe_pca(tokens: pd.DataFrame, special: list[int], paths, dpi=150):
    """First two principal components of the embedding rows at the last step, coloured by log u."""
    if tokens.empty:
        return no_data(paths, dpi, NO_DATA)
    last = tokens[tokens.step == tokens.step.max()]
    models = list(dict.fromkeys(last.model)) or list(dict.fromkeys(tokens.model))
    fig, axes = subplots(1, len(models), figsize=(4 * len(models), 3.5), squeeze=False)
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
    save(fig, paths, dpi)
