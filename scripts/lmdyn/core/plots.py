"""The figure toolkit every family uses (matplotlib, Agg): figures with a layout that does not overlap,
saving in every format, the step axis, seed bands and a no-data placeholder."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.scale as mscale  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402
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


# The report's viewer shows a figure at its width (shrunk to about 1200 px) and cuts what is taller
# than the window: figures keep to this height in inches at the default dpi (150).
MAX_HEIGHT = 6.0
# Steps 0..1 linear, then log: step 0 (the initialisation) stays on the axis, as far from step 1
# as step 1 from step 2 (a linear part as wide as a decade would take a third of a short axis).
LINTHRESH, LINSCALE = 1, float(np.log10(2) * 0.9)


def _transform():
    return mscale.SymmetricalLogTransform(10, LINTHRESH, LINSCALE)


def capped(height: float) -> float:
    """A figure height (inches) kept within what the report shows without cutting."""
    return min(height, MAX_HEIGHT)


def _step_ticks(ax, hi: float):
    """Major ticks at 0 and the decades up to ``hi``, minor ticks between; no negative ticks."""
    top = max(1, int(np.ceil(np.log10(max(hi, 1)))))
    decades = [10.0**k for k in range(top + 1)]
    ax.xaxis.set_major_locator(mticker.FixedLocator([0.0, *decades]))
    ax.xaxis.set_minor_locator(mticker.FixedLocator([m * d for d in decades for m in range(2, 10)]))
    ax.xaxis.set_major_formatter(
        mticker.FuncFormatter(lambda x, _: f"{x:g}" if x < 1e4 else f"$10^{{{np.log10(x):.0f}}}$")
    )


def step_axis(ax, pad: float = 0.03):
    """Training step on a symlog axis (0 shown, then log), limits from the plotted data: every
    point inside with a margin of ``pad`` of the width, nothing left of step 0 but that margin.
    Call it after plotting."""
    ax.set_xscale("symlog", linthresh=LINTHRESH, linscale=LINSCALE)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)
    lo, hi = ax.dataLim.intervalx
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return
    t = ax.xaxis.get_transform()
    a, b = t.transform([max(lo, 0.0), max(hi, 0.0)])
    m = pad * (b - a) if b > a else 0.5
    ax.set_xlim(*t.inverted().transform([a - m, b + m]))
    _step_ticks(ax, hi)


def step_edges(steps) -> np.ndarray:
    """Cell edges of a heatmap with one column per step on the step axis: halfway between steps
    in the axis' own (symlog) coordinates, so each step gets its share of the log width."""
    t = _transform()
    x = t.transform(np.asarray(steps, dtype=float))
    half = np.diff(x) / 2 if len(x) > 1 else np.array([0.5])
    mid = np.r_[x[0] - half[0], x[:-1] + half, x[-1] + half[-1]]
    return t.inverted().transform(mid)


def step_heatmap(ax, steps, values, **kw):
    """``values`` (rows x steps) as a heatmap on the step axis; rows top to bottom."""
    rows, edges = np.arange(values.shape[0] + 1) - 0.5, step_edges(steps)
    mesh = ax.pcolormesh(edges, rows, values, **kw)
    ax.set_ylim(rows[-1], rows[0])
    step_axis(ax)
    ax.set_xlim(edges[0], edges[-1])
    ax.grid(False)
    return mesh


def thin_steps(steps, n: int = 12) -> list:
    """At most ``n`` of the sorted ``steps``, evenly spaced on the step axis, first and last kept:
    one line per step stays readable."""
    steps = list(steps)
    if len(steps) <= n:
        return steps
    x = _transform().transform(np.asarray(steps, float))
    picks = {int(np.argmin(np.abs(x - v))) for v in np.linspace(x[0], x[-1], n)}
    return [steps[i] for i in sorted(picks)]


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
