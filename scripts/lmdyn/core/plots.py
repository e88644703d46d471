"""The figure toolkit every family uses (matplotlib, Agg): saving, the step axis, seed bands."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

# No creation date in PDFs (nor any wall-clock value): the same data give byte-identical files.
PDF_METADATA = {"CreationDate": None}


def save(fig, paths, dpi, tight=False):
    """Write ``fig`` to every path (PNG or PDF by suffix) and close it."""
    if tight:
        fig.tight_layout()
    for p in paths:
        meta = PDF_METADATA if str(p).endswith(".pdf") else None
        fig.savefig(p, dpi=dpi, bbox_inches="tight", metadata=meta)
    plt.close(fig)


def step_axis(ax):
    # symlog keeps step 0 (the initialisation) on a log-like axis
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def band(ax, d: pd.DataFrame, y: str, label: str, color=None):
    """Mean over seeds against step with the min-max band across seeds."""
    g = d.groupby("step")[y].agg(["mean", "min", "max"]).reset_index()
    (line,) = ax.plot(g.step, g["mean"], marker="o", ms=3, label=label, color=color)
    ax.fill_between(g.step, g["min"], g["max"], alpha=0.2, color=line.get_color())


def lines_with_band(ax, table, value, group, label_of=str, style=None):
    """Mean across seeds per step, one line per group, and a min-max band where >= 2 seeds exist."""
    for key, g in table.groupby(group, sort=False):
        agg = (
            g.groupby("step")[value]
            .agg(["mean", "min", "max", "count"])
            .reset_index()
            .sort_values("step")
        )
        kw = (style or {}).get(key, {})
        (line,) = ax.plot(agg.step, agg["mean"], marker="o", ms=3, label=label_of(key), **kw)
        if (agg["count"] >= 2).any():
            ax.fill_between(
                agg.step, agg["min"], agg["max"], color=line.get_color(), alpha=0.2, lw=0
            )


def no_data(paths, dpi, what):
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.text(0.5, 0.5, f"no analysable checkpoint: {what}", ha="center", va="center")
    ax.axis("off")
    save(fig, paths, dpi, tight=True)
