"""The timeline figure: every family's key curve on one log-step axis, and its events below."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lmdyn.core.plots import MAX_HEIGHT, no_data, save, step_axis, subplots
from lmdyn.divergence.figures import PHASE_COLORS
from lmdyn.divergence.phases import phase_spans

FAMILY_COLORS = {
    "divergence": "C0",
    "probe": "C1",
    "anisotropy": "C2",
    "geometry": "C3",
    "neurons": "C4",
}
# The curves drawn (the table holds every curve an event is read from): name -> label, style.
DRAWN = {
    "kl_unigram": ("KL to unigram", "-"),
    "kl_seeds": ("seed KL", "--"),
    "kl_u_probe": ("log KL(u || probe)", "-"),
    "mean_cos_W_E": ("mean cos W_E (raw)", "-"),
    "mean_cos_W_U": ("mean cos W_U (raw)", "--"),
    "accuracy": ("layer classifier accuracy", "-"),
    "congruence": ("top neuron congruence", "-"),
}


def _shade(ax, spans):
    for name, lo, hi in spans:
        ax.axvspan(max(lo, 0), hi, color=PHASE_COLORS[name], alpha=0.6, lw=0, zorder=0)


def _seed_means(curves: pd.DataFrame) -> dict:
    """curve -> (family, frame of step, mean, min, max, count of the scaled curve over seeds)."""
    out = {}
    for (family, curve), d in curves.groupby(["family", "curve"], sort=False):
        g = d.groupby("step").scaled.agg(["mean", "min", "max", "count"]).reset_index()
        out[curve] = (family, g)
    return out


def _curves(ax, means: dict):
    """Seed mean of each run's scaled curve, with the min-max band over seeds."""
    for curve, (label, ls) in DRAWN.items():
        if curve not in means:
            continue
        family, g = means[curve]
        color = FAMILY_COLORS[family]
        ax.plot(
            g.step, g["mean"], ls=ls, marker="o", ms=2.5, color=color, label=f"{family}: {label}"
        )
        if (g["count"] >= 2).any():
            ax.fill_between(g.step, g["min"], g["max"], color=color, alpha=0.15, lw=0)


def _marks(ax, events: pd.DataFrame, means: dict):
    """Each event on its drawn curve, at its median step (the curve read in log2(step + 1))."""
    for e in events.itertuples():
        if e.curve not in DRAWN or e.curve not in means or pd.isna(e.at_step):
            continue
        g = means[e.curve][1].dropna(subset=["mean"])
        y = np.interp(np.log2(e.at_step + 1), np.log2(g.step + 1.0), g["mean"])
        ax.plot(
            [e.at_step], [y], "D", ms=6, mfc="white", mec=FAMILY_COLORS[e.family], mew=1.5, zorder=5
        )


def _events(ax, events: pd.DataFrame):
    """One row per event: the median step over seeds, the seeds' range as a bar; an event that
    does not happen is named on the right."""
    names = list(dict.fromkeys(events.event))
    for y, (_, e) in enumerate(events.iterrows()):
        color = FAMILY_COLORS[e.family]
        if pd.isna(e.at_step):
            ax.text(
                0.99,
                y,
                "none",
                transform=ax.get_yaxis_transform(),
                ha="right",
                va="center",
                fontsize=6,
                color=color,
            )
            continue
        ax.errorbar(
            [e.at_step],
            [y],
            xerr=[[e.at_step - e.step_min], [e.step_max - e.at_step]],
            fmt="o",
            ms=4,
            color=color,
            capsize=2,
        )
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=7)
    ax.set_ylim(len(names) - 0.5, -0.5)


def _legend(ax, spans):
    handles, labels = ax.get_legend_handles_labels()
    shaded = [s[0] for s in spans]
    handles += [Patch(color=PHASE_COLORS[n], alpha=0.6) for n in shaded]
    labels += [f"{n} phase" for n in shaded]
    handles.append(Line2D([], [], ls="", marker="D", mfc="white", mec="k"))
    labels.append("event (median over seeds)")
    ax.legend(
        handles, labels, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), handlelength=3
    )


def timeline(events: pd.DataFrame, curves: pd.DataFrame, phases: pd.DataFrame, paths, dpi=150):
    """Per model (columns): every family's key curve scaled to [0, 1] (seed mean, min-max band)
    over the family-1 phases (shaded), and below it every event's median step with its range."""
    if curves.empty:
        no_data(paths, dpi, "no curves to draw")
        return
    models = list(dict.fromkeys(curves.model))
    fig, axes = subplots(
        2,
        len(models),
        figsize=(6 * len(models) + 2, MAX_HEIGHT),
        squeeze=False,
        sharex="col",
        gridspec_kw={"height_ratios": [3, 2]},
    )
    for j, model in enumerate(models):
        mean = phases[(phases.model == model) & (phases.seeds == "mean")] if len(phases) else phases
        spans = phase_spans(mean.iloc[0]) if len(mean) else []
        top, bottom = axes[0, j], axes[1, j]
        for ax in (top, bottom):
            _shade(ax, spans)
        means = _seed_means(curves[curves.model == model])
        med = events[(events.model == model) & (events.seeds == "median")]
        _curves(top, means)
        _marks(top, med, means)
        _events(bottom, med)
        for ax in (top, bottom):
            step_axis(ax)  # after plotting: its limits come from what is drawn
        top.set_title(model)
        top.set_xlabel("")
        top.set_ylabel("curve scaled to [0, 1] per run")
        if j == len(models) - 1:
            _legend(top, spans)
    save(fig, paths, dpi)
