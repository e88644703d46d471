"""Figures of the core study. Each function writes every path it is given (format by suffix)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lmdyn.core.plots import (
    MAX_HEIGHT,
    capped,
    mean_band,
    no_data,
    save,
    step_axis,
    step_heatmap,
    subplots,
)

ROW_HEIGHT = 0.2  # inches per coefficient: room for a 6 pt label


def kl_reference(summary: pd.DataFrame, paths, dpi=150):
    """KL to uniform (top) and to unigram (bottom) against step; one panel per model, a line per seed."""
    models = list(dict.fromkeys(summary.model))
    fig, axes = subplots(2, len(models), figsize=(4 * len(models), 6), squeeze=False, sharex=True)
    for j, model in enumerate(models):
        d = summary[summary.model == model]
        for i, metric in enumerate(["kl_uniform", "kl_unigram"]):
            ax = axes[i, j]
            for seed, g in d.groupby("seed"):
                g = g.sort_values("step")
                ax.plot(g.step, g[metric], marker="o", ms=3, label=f"seed {seed}")
            step_axis(ax)
            ax.set_ylabel(f"{'KL(p || uniform)' if i == 0 else 'KL(p || unigram)'} [nats]")
            if i == 0:
                ax.set_title(model)
                ax.set_xlabel("")
    # below the panels: with many seeds a legend inside covers the lines
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(10, len(labels)), fontsize=7)
    save(fig, paths, dpi)


def kl_seeds(summary: pd.DataFrame, paths, dpi=150):
    """Mean KL between seeds (pairs and directions averaged) against step, one line per model."""
    fig, ax = subplots(figsize=(5, 3.5))
    per_step = summary.groupby(["model", "step"], sort=False).kl_seeds.mean().reset_index()
    for model, g in per_step.groupby("model", sort=False):
        ax.plot(g.step, g.kl_seeds, marker="o", ms=3, label=model)
    step_axis(ax)
    ax.set_ylabel("mean KL between seeds [nats]")
    ax.legend(fontsize=8)
    save(fig, paths, dpi)


def regression_coefficients(coefs: pd.DataFrame, paths, title="", dpi=150):
    """Coefficients with 95% intervals (intercept left out), coloured by variable; terms run down
    side-by-side columns (shared x) so that the figure fits the report's height."""
    d = coefs[coefs.variable != "intercept"].reset_index(drop=True)
    per_col = max(1, int((MAX_HEIGHT - 1.3) / ROW_HEIGHT))
    n_cols = max(1, -(-len(d) // per_col))
    per_col = max(1, -(-len(d) // n_cols))  # balanced columns
    fig, axes = subplots(
        1,
        n_cols,
        figsize=(4.2 * n_cols, ROW_HEIGHT * per_col + 1.3),
        squeeze=False,
        sharex=True,
    )
    colors = {v: f"C{i}" for i, v in enumerate(dict.fromkeys(d.variable))}
    for k, ax in enumerate(axes[0]):
        c = d.iloc[k * per_col : (k + 1) * per_col]
        y = np.arange(len(c))[::-1]
        col = [colors[v] for v in c.variable]
        ax.errorbar(c.coef, y, xerr=[c.coef - c.ci_low, c.ci_high - c.coef], fmt="none", ecolor=col)
        ax.scatter(c.coef, y, c=col, s=12, zorder=3)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(y, c.term, fontsize=6)
        ax.set_ylim(-0.7, per_col - 0.3)
        ax.grid(axis="x", alpha=0.3)
    fig.supxlabel("coefficient (nats), 95% CI, SE clustered by token type", fontsize=9)
    fig.suptitle(title, fontsize=9)
    save(fig, paths, dpi)


# ---- the full study ------------------------------------------------------------------------------

PHASE_COLORS = {"uniform": "0.85", "unigram": "#fde0c5", "contextual": "#d5e8d4"}


def _shade(ax, spans):
    for name, lo, hi in spans:
        ax.axvspan(max(lo, 0), hi, color=PHASE_COLORS[name], alpha=0.6, lw=0, zorder=0)


def _ci_band(ax, d, label=None, color=None):
    """A study curve: its mean with the 95% document-bootstrap interval."""
    d = d.sort_values("step")
    return mean_band(
        ax, d.step, d["mean"], d.ci_low, d.ci_high, label, color, ms=2.5, alpha=0.25, lw=0
    )


PHASE_ROWS = [
    ("kl_uniform", "KL(p || uniform)"),
    ("kl_unigram", "KL(p || unigram)"),
    ("nll", "cross-entropy"),
    ("kl_seeds", "KL between seeds"),
]


def _phase_legend(fig, unigram: bool):
    """One legend for the figure: what the shading, the band, the dotted and dashed lines mean."""
    handles = [Patch(color=c, alpha=0.6, label=f"{n} phase") for n, c in PHASE_COLORS.items()]
    handles += [
        Line2D([], [], color="C0", marker="o", ms=2.5, label="seed mean"),
        Patch(color="C0", alpha=0.25, label="95% bootstrap interval"),
        Line2D([], [], color="C0", ls=":", lw=0.8, label="lowest / highest seed"),
    ]
    if unigram:
        handles.append(Line2D([], [], color="k", ls="--", lw=0.8, label="unigram predictor"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7)


def study_phases(curves: pd.DataFrame, phases: pd.DataFrame, paths, dpi=150):
    """Seed-averaged curves with 95% document-bootstrap bands, seed range (dotted) and detected
    phases (shading): a row per model, a column per curve."""
    from lmdyn.divergence.phases import phase_spans

    models = list(dict.fromkeys(curves.model))
    fig, axes = subplots(
        len(models),
        len(PHASE_ROWS),
        figsize=(3.3 * len(PHASE_ROWS), capped(2.2 * len(models) + 0.9)),
        squeeze=False,
        sharex=True,
    )
    unigram = "unigram_cross_entropy" in phases and len(phases) > 0
    for i, model in enumerate(models):
        mean_row = phases[(phases.model == model) & (phases.seeds == "mean")]
        spans = phase_spans(mean_row.iloc[0]) if len(mean_row) else []
        for j, (metric, label) in enumerate(PHASE_ROWS):
            ax = axes[i, j]
            _shade(ax, spans)
            d = curves[(curves.model == model) & (curves.metric == metric)].sort_values("step")
            if len(d):
                line = _ci_band(ax, d, color="C0")
                ax.plot(d.step, d.seed_min, ":", color=line.get_color(), lw=0.8)
                ax.plot(d.step, d.seed_max, ":", color=line.get_color(), lw=0.8)
            if metric == "nll" and unigram:
                ax.axhline(phases.unigram_cross_entropy.iloc[0], color="k", ls="--", lw=0.8)
            step_axis(ax)
            if i < len(models) - 1:
                ax.set_xlabel("")
            ax.set_title(f"{model}: {label} [nats]", fontsize=8)
    _phase_legend(fig, unigram)
    save(fig, paths, dpi)


def seed_divergence(curves: pd.DataFrame, paths, dpi=150):
    """KL between seeds in both directions and their mean, per model, with bands."""
    models = list(dict.fromkeys(curves.model))
    fig, axes = subplots(1, len(models), figsize=(4 * len(models), 3.2), squeeze=False, sharey=True)
    for j, model in enumerate(models):
        ax = axes[0, j]
        for metric, label in (
            ("kl_seeds_ab", "KL(a || b)"),
            ("kl_seeds_ba", "KL(b || a)"),
            ("kl_seeds", "mean"),
        ):
            d = curves[(curves.model == model) & (curves.metric == metric)]
            if len(d):
                _ci_band(ax, d, label=label)
        step_axis(ax)
        ax.set_title(model)
        ax.set_ylabel("KL between seeds [nats]")
    axes[0, 0].legend(fontsize=7)
    save(fig, paths, dpi)


GROUPINGS = [
    ("freq_bin", "frequency bin (0 = rarest)"),
    ("class", "class of predicted token (t)"),
    ("class_prev", "class of context token (t-1)"),
]
METRIC_NAMES = {"kl_seeds": "KL between seeds", "kl_steps": "KL between consecutive steps"}


def seed_groups(groups: pd.DataFrame, paths, dpi=150):
    """Mean seed KL per subgroup: a row per model, a column per grouping (frequency bin, word class
    of the predicted token and of the context token)."""
    models = list(dict.fromkeys(groups.model))
    fig, axes = subplots(
        len(models),
        len(GROUPINGS),
        figsize=(4 * len(GROUPINGS), capped(2.4 * len(models) + 0.4)),
        squeeze=False,
        sharex=True,
    )
    for i, model in enumerate(models):
        for j, (grouping, title) in enumerate(GROUPINGS):
            ax = axes[i, j]
            d = groups[
                (groups.model == model)
                & (groups.grouping == grouping)
                & (groups.direction == "mean")
            ]
            for group, g in d.groupby("group"):
                _ci_band(ax, g, label=str(group))
            step_axis(ax)
            if i < len(models) - 1:
                ax.set_xlabel("")
            ax.set_title(f"{model}: {title}", fontsize=8)
            if j == 0:
                ax.set_ylabel("KL between seeds [nats]", fontsize=8)
            if i == 0 and len(d):
                ax.legend(fontsize=6, ncol=2 if d.group.nunique() > 6 else 1)
    save(fig, paths, dpi)


def _sigma_grid(d: pd.DataFrame, tags, value: str, aggfunc="mean") -> pd.DataFrame:
    return d.pivot_table(index="group", columns="step", values=value, aggfunc=aggfunc).reindex(tags)


def sigma_panels(sigma: pd.DataFrame, model: str, metric: str, paths, min_tokens=30, dpi=150):
    """log2 sigma heatmaps on the step axis for the tag of the predicted token (t) and of the
    context token (t-1), same rows and one colour scale; a dot marks cells whose 95% interval
    excludes 1."""
    d = sigma[(sigma.model == model) & (sigma.metric == metric)]
    size = d[d.grouping == "tag"].groupby("group").n_tokens.max()
    big = set(d[d.n_tokens >= min_tokens].group)
    tags = [t for t in size.sort_values(ascending=False).index if t in big]
    tags += sorted(big - set(tags))
    steps = sorted(d.step.unique())
    if not tags or not steps:
        return no_data(paths, dpi, f"{model}: no tag with {min_tokens} tokens or more")
    grids = {
        g: np.log2(_sigma_grid(d[d.grouping == g], tags, "sigma").reindex(columns=steps))
        for g in ("tag", "tag_prev")
    }
    vals = np.concatenate([g.to_numpy(dtype=float).ravel() for g in grids.values()])
    lim = float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0
    height = capped(0.16 * max(8, len(tags)) + 1.6)
    fig, axes = subplots(1, 2, figsize=(12, height), squeeze=False, sharey=True)
    for ax, grouping in zip(axes[0], ("tag", "tag_prev")):
        g = d[d.grouping == grouping]
        im = step_heatmap(
            ax, steps, grids[grouping].to_numpy(dtype=float), cmap="RdBu_r", vmin=-lim, vmax=lim
        )
        out = _sigma_grid(g, tags, "excludes_one", "max").reindex(columns=steps)
        yy, xx = np.nonzero(out.fillna(False).to_numpy(dtype=bool))
        ax.scatter(np.asarray(steps)[xx], yy, s=3, c="k", lw=0)
        ax.set_yticks(range(len(tags)), tags, fontsize=min(7, 4 + 120 / max(1, len(tags))))
        at = "t" if grouping == "tag" else "t-1"
        ax.set_title(f"{model}: {METRIC_NAMES.get(metric, metric)}, tag at {at}", fontsize=9)
    fig.colorbar(im, ax=axes[0], label="log2 sigma (subgroup / all tokens)", aspect=30)
    save(fig, paths, dpi)


def ce_fit(traj: pd.DataFrame, fits: pd.DataFrame, paths, dpi=150):
    """Seed KL of each word class against its cross-entropy across steps, with the fitted alpha*Q + b."""
    models = list(dict.fromkeys(traj.model))
    fig, axes = subplots(1, len(models), figsize=(4.5 * len(models), 4.6), squeeze=False)
    for j, model in enumerate(models):
        ax = axes[0, j]
        t = traj[(traj.model == model) & (traj.grouping == "class")]
        for k, (group, g) in enumerate(t.groupby("group")):
            f = fits[
                (fits.model == model)
                & (fits.grouping == "class")
                & (fits.group == group)
                & (fits.form == "difference")
            ].iloc[0]
            if not np.isfinite(f.alpha):  # a degenerate fit: its points, no line
                ax.scatter(g.nll, g.kl_seeds, s=10, color=f"C{k}", label=f"{group}: no fit")
                continue
            ax.scatter(g.nll, g.kl_seeds, s=10, color=f"C{k}")
            q = np.linspace(g.nll.min(), g.nll.max(), 20)
            ax.plot(
                q,
                f.alpha * q + f.b,
                color=f"C{k}",
                lw=1,
                label=f"{group}: $\\alpha$={f.alpha:.2f}, b={f.b:.2f} nats, $R^2$={f.r2:.2f}",
            )
        ax.set_xlabel("subgroup cross-entropy Q [nats]")
        ax.set_ylabel("subgroup KL between seeds [nats]")
        ax.set_title(model)
        # below the panel: inside, the legend covers points
        ax.legend(
            fontsize=6,
            title="least squares: KL = $\\alpha$ Q + b",
            title_fontsize=7,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncol=2,
        )
    save(fig, paths, dpi)


def dh_kl(dh: pd.DataFrame, paths, dpi=150):
    """Share of token pairs with a large cross-entropy difference, among low-KL pairs and overall."""
    fig, ax = subplots(figsize=(5, 3.5))
    for k, (model, g) in enumerate(dh.groupby("model", sort=False)):
        g = g.sort_values("step")
        ax.plot(
            g.step,
            g.p_high_dh_given_low_kl,
            marker="o",
            ms=3,
            color=f"C{k}",
            label=f"{model}: low KL pairs",
        )
        ax.plot(g.step, g.p_high_dh_overall, ls="--", color=f"C{k}", label=f"{model}: all pairs")
    step_axis(ax)
    ax.set_ylabel("P(|dH| above its median)")
    ax.legend(fontsize=7)
    save(fig, paths, dpi)


def size_divergence(sizes: pd.DataFrame, paths, dpi=150):
    """KL between model sizes at the same step and seed, both directions, a line per seed."""
    fig, ax = subplots(figsize=(5, 3.5))
    if len(sizes):
        for k, ((a, b, direction), g) in enumerate(
            sizes.groupby(["model_a", "model_b", "direction"])
        ):
            label = f"KL({a} || {b})" if direction == "ab" else f"KL({b} || {a})"
            for n, (_seed, s) in enumerate(g.groupby("seed")):
                line = _ci_band(ax, s, label=label if n == 0 else None, color=f"C{k}")
                line.set_alpha(0.8)
    else:
        ax.text(
            0.5,
            0.5,
            "one model size: no cross-size divergence",
            ha="center",
            transform=ax.transAxes,
        )
    step_axis(ax)
    ax.set_ylabel("KL between sizes [nats]")
    if len(sizes):
        ax.legend(fontsize=7)
    save(fig, paths, dpi)
