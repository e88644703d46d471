"""Figures of the core study. Each function writes every path it is given (format by suffix)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.plots import mean_band, save, step_axis, subplots


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
    axes[0, 0].legend(fontsize=8)
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
    """Coefficients with 95% intervals (intercept left out), grouped by variable."""
    d = coefs[coefs.variable != "intercept"].reset_index(drop=True)
    fig, ax = subplots(figsize=(5, 0.22 * len(d) + 1.5))
    y = np.arange(len(d))[::-1]
    colors = {v: f"C{i}" for i, v in enumerate(dict.fromkeys(d.variable))}
    ax.errorbar(
        d.coef,
        y,
        xerr=[d.coef - d.ci_low, d.ci_high - d.coef],
        fmt="none",
        ecolor=[colors[v] for v in d.variable],
    )
    ax.scatter(d.coef, y, c=[colors[v] for v in d.variable], s=12, zorder=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, d.term, fontsize=6)
    ax.set_xlabel("coefficient (nats), 95% CI, SE clustered by token type")
    ax.set_title(title, fontsize=9)
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


def study_phases(curves: pd.DataFrame, phases: pd.DataFrame, paths, dpi=150):
    """Seed-averaged curves with 95% document-bootstrap bands, seed range (dotted) and detected phases."""
    from lmdyn.divergence.phases import phase_spans

    models = list(dict.fromkeys(curves.model))
    rows = [
        ("kl_uniform", "KL(p || uniform)"),
        ("kl_unigram", "KL(p || unigram)"),
        ("nll", "cross-entropy"),
        ("kl_seeds", "KL between seeds"),
    ]
    fig, axes = subplots(
        len(rows),
        len(models),
        figsize=(4 * len(models), 2.4 * len(rows)),
        squeeze=False,
        sharex=True,
    )
    for j, model in enumerate(models):
        mean_row = phases[(phases.model == model) & (phases.seeds == "mean")]
        spans = phase_spans(mean_row.iloc[0]) if len(mean_row) else []
        for i, (metric, label) in enumerate(rows):
            ax = axes[i, j]
            _shade(ax, spans)
            d = curves[(curves.model == model) & (curves.metric == metric)].sort_values("step")
            if len(d):
                line = _ci_band(ax, d)
                ax.plot(d.step, d.seed_min, ":", color=line.get_color(), lw=0.8)
                ax.plot(d.step, d.seed_max, ":", color=line.get_color(), lw=0.8)
            if metric == "nll" and "unigram_cross_entropy" in phases:
                ax.axhline(
                    phases.unigram_cross_entropy.iloc[0],
                    color="k",
                    ls="--",
                    lw=0.8,
                    label="unigram predictor",
                )
                ax.legend(fontsize=7)
            step_axis(ax)
            ax.set_ylabel(f"{label} [nats]", fontsize=8)
            if i == 0:
                ax.set_title(model)
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


def seed_groups(groups: pd.DataFrame, paths, dpi=150):
    """Mean seed KL per subgroup: frequency bin, word class of the predicted token and of the context token."""
    models = list(dict.fromkeys(groups.model))
    rows = [
        ("freq_bin", "frequency bin (0 = rarest)"),
        ("class", "class of predicted token (t)"),
        ("class_prev", "class of context token (t-1)"),
    ]
    fig, axes = subplots(
        len(rows),
        len(models),
        figsize=(4 * len(models), 2.8 * len(rows)),
        squeeze=False,
        sharex=True,
    )
    for j, model in enumerate(models):
        for i, (grouping, title) in enumerate(rows):
            ax = axes[i, j]
            d = groups[
                (groups.model == model)
                & (groups.grouping == grouping)
                & (groups.direction == "mean")
            ]
            for group, g in d.groupby("group"):
                _ci_band(ax, g, label=str(group))
            step_axis(ax)
            ax.set_title(f"{model}: {title}", fontsize=8)
            ax.set_ylabel("KL between seeds [nats]", fontsize=8)
            ax.legend(fontsize=6)
    save(fig, paths, dpi)


def sigma_panels(sigma: pd.DataFrame, model: str, metric: str, paths, min_tokens=30, dpi=150):
    """log2 sigma heatmaps for the tag of the predicted token (t) and of the context token (t-1);
    a dot marks cells whose 95% interval excludes 1."""
    d = sigma[(sigma.model == model) & (sigma.metric == metric)]
    fig, axes = subplots(1, 2, figsize=(12, 0.25 * max(8, d.group.nunique()) + 2), squeeze=False)
    for ax, grouping in zip(axes[0], ("tag", "tag_prev")):
        g = d[d.grouping == grouping]
        size = g.groupby("group").n_tokens.max()
        tags = size[size >= min_tokens].sort_values(ascending=False).index
        grid = g.pivot_table(index="group", columns="step", values="sigma").reindex(tags)
        out = g.pivot_table(
            index="group", columns="step", values="excludes_one", aggfunc="max"
        ).reindex(tags)
        vals = np.log2(grid.to_numpy(dtype=float))
        lim = np.nanmax(np.abs(vals)) if np.isfinite(vals).any() else 1.0
        im = ax.imshow(vals, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        yy, xx = np.nonzero(out.fillna(False).to_numpy(dtype=bool))
        ax.scatter(xx, yy, s=4, c="k")
        ax.set_xticks(range(grid.shape[1]), [str(s) for s in grid.columns], rotation=90, fontsize=7)
        ax.set_yticks(range(len(tags)), list(tags), fontsize=7)
        ax.set_xlabel("training step")
        ax.set_title(
            f"{model}: {metric} by tag at {'t' if grouping == 'tag' else 't-1'}", fontsize=9
        )
        fig.colorbar(im, ax=ax, label="log2 sigma")
    save(fig, paths, dpi)


def ce_fit(traj: pd.DataFrame, fits: pd.DataFrame, paths, dpi=150):
    """Seed KL of each word class against its cross-entropy across steps, with the fitted alpha*Q + b."""
    models = list(dict.fromkeys(traj.model))
    fig, axes = subplots(1, len(models), figsize=(4.5 * len(models), 3.5), squeeze=False)
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
                label=f"{group}: a={f.alpha:.2f} b={f.b:.2f} R2={f.r2:.2f}",
            )
        ax.set_xlabel("subgroup cross-entropy [nats]")
        ax.set_ylabel("subgroup KL between seeds [nats]")
        ax.set_title(model)
        ax.legend(fontsize=6)
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
    ax.legend(fontsize=7)
    save(fig, paths, dpi)
