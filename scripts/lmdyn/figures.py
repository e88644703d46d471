"""Figures of the core study (matplotlib, Agg backend). Each function writes every path it is given
(PNG and PDF alike, by suffix)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, paths, dpi):
    for p in paths:
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def _step_axis(ax):
    # symlog keeps step 0 (the initialisation) on a log-like axis
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def kl_reference(summary: pd.DataFrame, paths, dpi=150):
    """KL to uniform (top) and to unigram (bottom) against step; one panel per model, a line per seed."""
    models = list(dict.fromkeys(summary.model))
    fig, axes = plt.subplots(2, len(models), figsize=(4 * len(models), 6), squeeze=False, sharex=True)
    for j, model in enumerate(models):
        d = summary[summary.model == model]
        for i, metric in enumerate(["kl_uniform", "kl_unigram"]):
            ax = axes[i, j]
            for seed, g in d.groupby("seed"):
                g = g.sort_values("step")
                ax.plot(g.step, g[metric], marker="o", ms=3, label=f"seed {seed}")
            _step_axis(ax)
            ax.set_ylabel(f"{'KL(p || uniform)' if i == 0 else 'KL(p || unigram)'} [nats]")
            if i == 0:
                ax.set_title(model)
    axes[0, 0].legend(fontsize=8)
    _save(fig, paths, dpi)


def kl_seeds(summary: pd.DataFrame, paths, dpi=150):
    """Mean KL between seeds (pairs and directions averaged) against step, one line per model."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    per_step = summary.groupby(["model", "step"], sort=False).kl_seeds.mean().reset_index()
    for model, g in per_step.groupby("model", sort=False):
        ax.plot(g.step, g.kl_seeds, marker="o", ms=3, label=model)
    _step_axis(ax)
    ax.set_ylabel("mean KL between seeds [nats]")
    ax.legend(fontsize=8)
    _save(fig, paths, dpi)


def sigma_heatmap(breakdown: pd.DataFrame, model: str, paths, metric="kl_seeds", min_tokens=30, dpi=150):
    """Relative divergence sigma of each tag of the predicted token (rows) at each step (columns)."""
    d = breakdown[(breakdown.model == model) & (breakdown.metric == metric) & (breakdown.grouping == "tag")]
    d = d.groupby(["group", "step"]).agg(sigma=("sigma", "mean"), n=("n_tokens", "max")).reset_index()
    keep = d.groupby("group").n.max()
    tags = keep[keep >= min_tokens].sort_values(ascending=False).index
    grid = d[d.group.isin(tags)].pivot(index="group", columns="step", values="sigma").reindex(tags)
    fig, ax = plt.subplots(figsize=(0.45 * max(6, grid.shape[1]) + 2, 0.3 * max(4, len(tags)) + 1.5))
    vals = np.log2(grid.to_numpy(dtype=float))
    lim = np.nanmax(np.abs(vals)) if np.isfinite(vals).any() else 1.0
    im = ax.imshow(vals, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_xticks(range(grid.shape[1]), [str(s) for s in grid.columns], rotation=90, fontsize=7)
    ax.set_yticks(range(len(tags)), list(tags), fontsize=7)
    ax.set_xlabel("training step")
    ax.set_ylabel("tag of predicted token")
    ax.set_title(f"{model}: log2 sigma of {metric}")
    fig.colorbar(im, ax=ax, label="log2(subgroup mean / overall mean)")
    _save(fig, paths, dpi)


def regression_coefficients(coefs: pd.DataFrame, paths, title="", dpi=150):
    """Coefficients with 95% intervals (intercept left out), grouped by variable."""
    d = coefs[coefs.variable != "intercept"].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(5, 0.22 * len(d) + 1.5))
    y = np.arange(len(d))[::-1]
    colors = {v: f"C{i}" for i, v in enumerate(dict.fromkeys(d.variable))}
    ax.errorbar(d.coef, y, xerr=[d.coef - d.ci_low, d.ci_high - d.coef], fmt="none", ecolor=[colors[v] for v in d.variable])
    ax.scatter(d.coef, y, c=[colors[v] for v in d.variable], s=12, zorder=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, d.term, fontsize=6)
    ax.set_xlabel("coefficient (nats), 95% CI, SE clustered by token type")
    ax.set_title(title, fontsize=9)
    _save(fig, paths, dpi)
