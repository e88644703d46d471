"""Figures of the layer geometry."""

from __future__ import annotations

import matplotlib
import pandas as pd

from lmdyn.core.plots import mean_band, save, seed_band, step_axis, subplots, thin_steps

VARIANTS = [
    ("raw", "document", "raw, split by document"),
    ("raw", "vector", "raw, split by vector (original)"),
    ("normalised", "document", "unit-normalised"),
    ("transfer", "corpus", "transfer to 2nd corpus"),
    ("control", "document", "random-vector control"),
]


def geometry_accuracy(acc: pd.DataFrame, paths, dpi=150):
    """Held-out layer-classifier accuracy against step, one panel per model, band across seeds."""
    models = list(dict.fromkeys(acc.model))
    fig, axes = subplots(
        1, len(models), figsize=(4.5 * len(models), 3.6), squeeze=False, sharey=True
    )
    for ax, m in zip(axes[0], models):
        d = acc[acc.model == m]
        for variant, split, label in VARIANTS:
            v = d[(d.variant == variant) & (d.split == split)]
            if len(v):
                seed_band(ax, v, "accuracy", label)
        chance = d.chance.iloc[0]
        ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance 1/{d.n_classes.iloc[0]}")
        step_axis(ax)
        ax.set_title(m)
        ax.set_ylim(0, 1.02)
    axes[0, 0].set_ylabel("layer-classifier accuracy (held out)")
    # below the panels: inside, it would cover the curves or the chance line
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=7)
    save(fig, paths, dpi)


def geometry_norms(norms: pd.DataFrame, paths, dpi=150):
    """Mean L2 norm per layer (min-max band) at every step of the first seed; one panel per model."""
    models = list(dict.fromkeys(norms.model))
    fig, axes = subplots(1, len(models), figsize=(4.5 * len(models), 3.6), squeeze=False)
    for ax, m in zip(axes[0], models):
        d = norms[(norms.model == m) & (norms.seed == norms[norms.model == m].seed.min())]
        steps = thin_steps(sorted(d.step.unique()))
        cmap = matplotlib.colormaps["viridis"]
        for i, s in enumerate(steps):
            g = d[d.step == s].sort_values("layer")
            c = cmap(i / max(1, len(steps) - 1))
            ax.plot(
                g.layer,
                g.norm_mean,
                color=c,
                marker="o",
                ms=3,
                label=f"step {s}" if i in (0, len(steps) - 1) else None,
            )
            if i in (0, len(steps) - 1):  # bands of every step would stack into one colour
                ax.fill_between(g.layer, g.norm_min, g.norm_max, color=c, alpha=0.15)
        ax.set_yscale("log")
        ax.set_xticks(list(g.layer))
        ax.set_xticklabels(list(g.name), rotation=45, fontsize=7)
        ax.set_title(f"{m}, seed {d.seed.min()}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("L2 norm of the state (mean, min-max band)")
    save(fig, paths, dpi)


def geometry_pca(pca: pd.DataFrame, var: pd.DataFrame, title: str, paths, dpi=150):
    """PCA of all layers' states in one basis, raw and unit-normalised, coloured by layer."""
    fig, axes = subplots(1, 2, figsize=(9, 4))
    cmap = matplotlib.colormaps["viridis"]
    n = pca.layer.max() + 1
    for ax, normalised in zip(axes, (False, True)):
        d = pca[pca.normalised == normalised]
        v = var[(var.normalised == normalised)].sort_values("component").explained_ratio.to_numpy()
        for layer, g in d.groupby("layer"):
            ax.scatter(
                g.pc1,
                g.pc2,
                s=4,
                alpha=0.6,
                color=cmap(layer / max(1, n - 1)),
                label=g.name.iloc[0],
            )
        ax.set_title(
            f"{'unit-normalised' if normalised else 'raw'} ({100 * v[:2].sum():.0f}% of variance)"
        )
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
    axes[1].legend(fontsize=7, markerscale=3, loc="best")
    fig.suptitle(title, fontsize=9)
    save(fig, paths, dpi)


def geometry_attribution(att: pd.DataFrame, acc: pd.DataFrame, paths, dpi=150):
    """Cumulative share of |coefficient| over dimensions (left, seed mean and range) and accuracy
    against L (right), last step."""
    fig, axes = subplots(1, 2, figsize=(9, 3.6))
    for m, g in att.groupby("model", sort=False):
        g = g[g.step == g.step.max()]
        g = g.assign(x=g["rank"] / g.groupby("seed")["rank"].transform("size"))
        top = g[g["rank"] == g["rank"].min()].share.mean()
        # seed mean, band = range across seeds (one line per seed would not fit ten seeds)
        c = g.groupby("x").cumulative_share.agg(["mean", "min", "max"]).reset_index()
        label = f"{m} (top dim {100 * top:.1f}%)"
        mean_band(axes[0], c.x, c["mean"], c["min"], c["max"], label=label, ms=0)
    axes[0].plot([0, 1], [0, 1], "k--", lw=1, label="uniform")
    axes[0].set_xlabel("share of dimensions (largest first)")
    axes[0].set_ylabel("cumulative share of |coefficient|")
    axes[0].legend(fontsize=6)
    ln = acc[acc.variant == "length"]
    for m, g in ln.groupby("model", sort=False):
        g = g[g.step == g.step.max()]
        s = g.groupby("n_tokens").accuracy.agg(["mean", "min", "max"]).reset_index()
        axes[1].errorbar(
            s.n_tokens,
            s["mean"],
            yerr=[s["mean"] - s["min"], s["max"] - s["mean"]],
            marker="o",
            capsize=3,
            label=m,
        )
    axes[1].set_xlabel("tokens per window L")
    axes[1].set_ylabel("accuracy (document split)")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    save(fig, paths, dpi)
