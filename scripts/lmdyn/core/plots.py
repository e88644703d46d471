"""The figure toolkit every family uses (matplotlib, Agg): figures with a layout that does not overlap,
saving in every format, the step axis, seed bands and a no-data placeholder."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

FORMATS = ("png", "pdf", "svg")
# Nothing that changes from one run to the next (wall-clock dates, random SVG ids): the same data give
# byte-identical files in every format.
METADATA = {"png": None, "pdf": {"CreationDate": None}, "svg": {"Date": None}}
SAVE_RC = {"svg.hashsalt": "lmdyn"}


def subplots(nrows=1, ncols=1, **kw):
    """``plt.subplots`` with the constrained layout: titles, labels and colorbars do not overlap."""
    return plt.subplots(nrows, ncols, layout="constrained", **kw)


def save(fig, paths, dpi):
    """Write ``fig`` to every path (format by suffix: png, pdf or svg) and close it."""
    with plt.rc_context(SAVE_RC):
        for p in paths:
            fmt = Path(p).suffix.lstrip(".")
            if fmt not in METADATA:
                raise ValueError(f"{p}: figures are written as {', '.join(FORMATS)}")
            fig.savefig(p, dpi=dpi, bbox_inches="tight", metadata=METADATA[fmt])
    plt.close(fig)


def figure_paths(output, name):
    """The paths of one figure among a rule's outputs: the PNG ``name`` and ``name_<format>``."""
    keys = set(output.keys())
    return [output[name]] + [output[f"{name}_{f}"] for f in FORMATS if f"{name}_{f}" in keys]


def step_axis(ax):
    # symlog keeps step 0 (the initialisation) on a log-like axis
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def mean_band(ax, x, mean, lo, hi, label=None, color=None, ms=3, band=True, **fill):
    """A line of ``mean`` with markers and, if ``band``, the ``lo``-``hi`` band in its colour."""
    (line,) = ax.plot(x, mean, marker="o", ms=ms, label=label, color=color)
    if band:
        ax.fill_between(x, lo, hi, color=line.get_color(), **{"alpha": 0.2, **fill})
    return line


def seed_band(ax, table: pd.DataFrame, value: str, label=None, color=None):
    """Mean of ``value`` over seeds against step with the min-max band across seeds."""
    g = table.groupby("step")[value].agg(["mean", "min", "max"]).reset_index()
    return mean_band(ax, g.step, g["mean"], g["min"], g["max"], label=label, color=color)


def seed_bands(ax, table: pd.DataFrame, value: str, group: str, label_of=str):
    """One seed-mean line per ``group``, with the min-max band where two or more seeds exist."""
    for key, g in table.groupby(group, sort=False):
        agg = g.groupby("step")[value].agg(["mean", "min", "max", "count"]).reset_index()
        mean_band(
            ax,
            agg.step,
            agg["mean"],
            agg["min"],
            agg["max"],
            label=label_of(key),
            band=(agg["count"] >= 2).any(),
            lw=0,
        )


def no_data(paths, dpi, message):
    """A placeholder figure saying why there is nothing to draw, written to every path."""
    fig, ax = subplots(figsize=(4, 2))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.axis("off")
    save(fig, paths, dpi)
