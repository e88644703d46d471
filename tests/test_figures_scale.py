"""Every family's figures at the scale of a published suite (154 steps x 10 seeds, three sizes,
the usual tag set) and at the default micro suite's (test_plots): they render, fit the report's
viewer, and the step axis stays readable."""

import os
from pathlib import Path

import numpy as np
import pytest
import test_plots
from PIL import Image

from lmdyn.core import plots

# A published suite's schedule: step 0, powers of two to 512, then every 1000 steps to 143000.
STEPS = (0, *(2**k for k in range(10)), *range(1000, 143001, 1000))
SEEDS = tuple(range(10))
MODELS = ("70m", "160m", "410m")
TAGS = tuple(
    "NN NNS NNP NNPS JJ JJR JJS RB RBR VB VBD VBG VBN VBP VBZ DT IN CC PRP PRP$ CD TO MD WDT WP "
    "WRB EX POS RP UH , . : HYPH -LRB- -RRB- `` '' $ OTHER".split()
)
# the viewer shows a figure at most this wide (px, shrunk to fit) and cuts it below this height
VIEW_WIDTH, VIEW_HEIGHT = 1200, 950


def at_scale(monkeypatch):
    for name, value in dict(STEPS=STEPS, SEEDS=SEEDS, MODELS=MODELS, TAGS=TAGS, N_TERMS=80).items():
        monkeypatch.setattr(test_plots, name, value)


def test_the_suite_has_the_published_shape():
    assert len(STEPS) == 154 and len(SEEDS) == 10


@pytest.mark.parametrize("shape", ["published", "default"])
@pytest.mark.parametrize("name", test_plots.FIGURES)
def test_every_figure_renders_at_scale_and_fits_the_report_viewer(
    tmp_path, monkeypatch, name, shape
):
    if shape == "published":
        at_scale(monkeypatch)
    # FIGURES_OUT=<folder> keeps the PNGs, to look at them
    out = Path(os.environ.get("FIGURES_OUT", tmp_path)) / shape
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{name}.png"  # PNG only: test_plots checks every format
    test_plots.FIGURES[name]([png])
    w, h = Image.open(png).size
    shown = h * min(1.0, VIEW_WIDTH / w)
    assert shown <= VIEW_HEIGHT, f"{name}: {w}x{h} px is cut in the report viewer"


def test_the_step_axis_has_a_few_readable_non_negative_ticks():
    fig, ax = plots.subplots()
    ax.plot(STEPS, np.ones(len(STEPS)), marker="o")
    plots.step_axis(ax)
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks[0] == 0 and min(ticks) >= 0
    assert len(ticks) <= 8
    # every point inside, with a margin on both sides; hardly anything left of step 0
    assert lo < 0 < hi and hi > STEPS[-1]
    t = ax.xaxis.get_transform().transform
    a, b, z = t([lo, hi, 0.0])
    assert 0 < (z - a) / (b - a) < 0.05
    plots.plt.close(fig)


def test_heatmap_cells_give_the_early_steps_their_log_share():
    edges = plots.step_edges(STEPS)
    assert len(edges) == len(STEPS) + 1 and np.all(np.diff(edges) > 0)
    x = plots._transform().transform(edges)
    # steps 0..512 (11 of 154 columns, 7% on a categorical axis) take over a third of the width
    early = (x[11] - x[0]) / (x[-1] - x[0])
    assert early > 1 / 3
    # step 0 is one doubling before step 1
    z, one, two = plots._transform().transform([0.0, 1.0, 2.0])
    assert np.isclose(one - z, two - one)
    # each step sits inside its own cell
    assert np.all((edges[:-1] < np.asarray(STEPS)) & (np.asarray(STEPS) < edges[1:]))
