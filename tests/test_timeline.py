"""The training timeline: events planted in synthetic curves are recovered (rules restated here as
plain loops), the table over seeds (median, range, reasons), families switched off, the inputs
and targets; no Snakemake run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmdyn import timeline
from lmdyn.core import outputs, targets
from lmdyn.core.tables import validate
from lmdyn.divergence.phases import phase_table
from lmdyn.divergence.study_tables import PHASES
from lmdyn.timeline import events as ev
from lmdyn.timeline.build import RULES, build
from lmdyn.timeline.tables import CURVES, TIMELINE

GRID = np.array([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512])
FAMILIES = ["divergence", "probe", "anisotropy", "geometry", "neurons"]


def at(values: dict, default: float) -> np.ndarray:
    """A curve on GRID: ``default`` except at the steps given."""
    return np.array([values.get(int(s), default) for s in GRID], dtype=float)


# ---- the rules, on planted curves ------------------------------------------------------------------


def test_half_fall_on_a_log_scale():
    # 2.0 -> minimum 0.02 at 256: half way in log is sqrt(2.0 * 0.02) = 0.2
    y = at({0: 2.0, 1: 2.0, 2: 2.0, 4: 1.9, 8: 1.0, 16: 0.3, 32: 0.19, 64: 0.1, 128: 0.05}, 0.03)
    y[GRID == 256] = 0.02
    e = ev.half_fall_log(GRID, y)
    assert (e.step, e.value, e.reason) == (32, 0.19, None)
    # on a linear scale half way would be 1.01, reached at step 8: the log scale is the rule
    assert ev.half_fall_log(GRID, y).step != 8
    y[GRID == 16] = 0.2  # exactly half way counts
    assert ev.half_fall_log(GRID, y).step == 16


def test_half_rise_and_the_order_of_the_steps():
    y = at({0: 0.0, 1: 0.0, 2: 0.01, 4: 0.1, 8: 0.2, 16: 0.3, 32: 0.5}, 0.4)  # max 0.5 at 32
    assert ev.half_rise(GRID, y).step == 16  # first >= 0.25
    order = np.random.default_rng(0).permutation(len(GRID))
    assert ev.half_rise(GRID[order], y[order]).step == 16


def test_peak_and_half_decline():
    y = at({0: 0.5, 1: 0.5, 2: 0.6, 4: 0.8, 8: 0.95, 16: 1.0, 32: 1.0, 64: 0.99, 128: 0.9}, 0.7)
    assert ev.peak(GRID, y).step == 16  # the earliest of a tie
    # later minimum 0.7: half way down is 0.85, first reached at 256
    e = ev.half_decline(GRID, y)
    assert (e.step, e.value) == (256, 0.7)


def test_emergence_ignores_undefined_restored_fractions():
    c = at({0: 0.01, 1: 0.01, 2: 0.01, 4: 0.01, 8: 0.01, 16: 0.3, 32: 0.1, 64: 0.6}, 1.0)
    r = at({0: np.nan, 1: np.nan, 2: 5.0, 4: np.nan, 8: np.nan, 16: 0.9, 32: 0.9, 64: 0.2}, 0.8)
    # congruence above 0.5 from 64 on; restored above 0.4 from 128 on (NaN steps do not count)
    assert ev.emergence(GRID, c, r).step == 128
    r[GRID == 64] = np.nan
    assert ev.emergence(GRID, c, r).step == 64
    assert ev.emergence(GRID, c).step == 64  # no restored fraction at all: congruence only
    # the final restored fraction is the last defined one (0.8 at 384; 512 undefined)
    r[GRID == 512] = np.nan
    r[GRID == 128] = 0.39
    assert ev.emergence(GRID, c, r).step == 256


@pytest.mark.parametrize(
    "fn, y, reason",
    [
        (ev.half_fall_log, np.linspace(1, 2, len(GRID)), "never below its value at the first step"),
        (ev.half_fall_log, np.r_[1.0, np.zeros(len(GRID) - 1)], "not positive"),
        (ev.half_rise, np.full(len(GRID), 0.3), "never above"),
        (ev.half_decline, np.linspace(0, 1, len(GRID)), "the peak is at the last analysed step"),
        (ev.half_decline, np.r_[0.0, np.ones(len(GRID) - 1)], "never below its peak"),  # plateau
        (ev.half_decline, np.r_[1.0, np.ones(len(GRID) - 1)], "never below its peak"),
        (ev.emergence, -np.linspace(0, 1, len(GRID)), "final congruence is not positive"),
        (ev.peak, np.full(len(GRID), np.nan), "no analysed step has the curve"),
    ],
)
def test_events_that_do_not_happen_say_why(fn, y, reason):
    e = fn(GRID, y)
    assert e.step is None and e.value is None and reason in e.reason


@pytest.mark.parametrize("fn", [ev.half_fall_log, ev.half_rise, ev.half_decline])
def test_one_step_has_no_change(fn):
    assert fn([0], [1.0]).reason == ev.ONE_STEP


def _loops(s, y, rule):
    """The rules restated as plain loops over the grid (no numpy reductions)."""
    s, y = [int(v) for v in s], [float(v) for v in y]
    if rule == "rise":
        top = max(y)
        return next(s[i] for i in range(len(y)) if y[i] >= y[0] + (top - y[0]) / 2)
    if rule == "fall":
        lo = min(y)
        half = (np.log(y[0]) + np.log(lo)) / 2
        return next(s[i] for i in range(len(y)) if np.log(y[i]) <= half)
    p = y.index(max(y))
    lo = min(y[p + 1 :])
    return next(s[i] for i in range(p + 1, len(y)) if y[i] <= y[p] - (y[p] - lo) / 2)


@pytest.mark.parametrize("seed", range(20))
def test_rules_match_the_loops_on_random_curves(seed):
    rng = np.random.default_rng(seed)
    y = np.exp(rng.normal(size=len(GRID)))
    y[0] = y.max() + 1 if seed % 2 else y[0]
    if y.max() > y[0]:
        assert ev.half_rise(GRID, y).step == _loops(GRID, y, "rise")
    if y.min() < y[0]:
        assert ev.half_fall_log(GRID, y).step == _loops(GRID, y, "fall")
    if np.argmax(y) < len(y) - 1:
        assert ev.half_decline(GRID, y).step == _loops(GRID, y, "decline")
    c, r = y, np.where(rng.random(len(GRID)) < 0.3, np.nan, rng.random(len(GRID)))
    ok = [
        c[i] > c[-1] / 2 and (np.isnan(r[i]) or r[i] > r[~np.isnan(r)][-1] / 2)
        for i in range(len(GRID))
    ]
    want = next(GRID[i] for i in range(len(GRID)) if all(ok[i:]))
    assert ev.emergence(GRID, c, r).step == want


# ---- the table, from planted suite tables ----------------------------------------------------------

PLANTED = {  # event -> the step planted in every seed's curves (seed 1 shifted where noted)
    "probe_half": 32,
    "anisotropy_half_W_E": 64,
    "anisotropy_half_W_U": 16,
    "classifier_peak": 16,
    "classifier_half_decline": 256,
    "neuron_emergence": 128,
}


def _runs(seeds) -> pd.DataFrame:
    return pd.DataFrame(
        [(m, s, int(x)) for m in ("a", "b") for s in seeds for x in GRID],
        columns=["model", "seed", "step"],
    )


def suite_tables(seeds=(0, 1), tied=False) -> dict:
    """Every family's suite table with events planted (seed 1's probe fall one grid step later)."""
    runs = _runs(seeds)
    x = np.log2(runs.step + 1.0)
    late = (runs.seed == 1).to_numpy()
    summary = runs.assign(
        kl_uniform=np.where(runs.step <= 8, 0.01, 0.01 + 0.5 * (x - 3)),
        kl_unigram=0.3 + 0.5 * np.abs(x - np.log2(65)),
        nll=7.0 - 0.8 * (x - np.log2(33)) - 0.01,
        kl_seeds=np.nan if len(seeds) == 1 else 1.0 - 0.1 * np.abs(x - np.log2(129)),
    )
    kl = [
        {**dict(zip(GRID, [2.0] * 6 + [0.15, 0.1, 0.05, 0.02, 0.02, 0.03]))}[s] for s in runs.step
    ]
    probe = runs.assign(kl_u_probe=np.array(kl))
    probe.loc[late & (probe.step == 32), "kl_u_probe"] = 0.25  # seed 1: half way at 64
    cos_e = np.clip(x - 4, 0, 3) / 3 * 0.01  # max at 128, half (>= 0.005) first at 64
    cos_u = np.clip(x - 2, 0, 3) / 3 * 0.4  # max at 32, half first at 16
    aniso = pd.concat(
        [
            runs.assign(matrix="W_E", variant="raw", mean_cos=cos_e, tied=tied),
            runs.assign(matrix="W_E", variant="centred", mean_cos=-cos_e, tied=tied),
            *(
                []
                if tied
                else [runs.assign(matrix="W_U", variant="raw", mean_cos=cos_u, tied=tied)]
            ),
        ],
        ignore_index=True,
    )
    acc = {0: 0.5, 1: 0.5, 2: 0.6, 4: 0.8, 8: 0.95, 16: 1.0, 32: 0.99, 64: 0.99, 128: 0.9}
    accuracy = pd.concat(
        [
            runs.assign(
                variant="raw",
                split="document",
                n_tokens=16,
                accuracy=at(acc, 0.7)[np.searchsorted(GRID, runs.step)],
            ),
            runs.assign(variant="raw", split="vector", n_tokens=16, accuracy=0.5),
            runs.assign(variant="length", split="document", n_tokens=4, accuracy=0.9),
        ],
        ignore_index=True,
    )
    top = runs.assign(prompt="p", layer=1, neuron=np.where(runs.step == 512, 7, 3))
    cong = pd.concat(
        [
            runs.assign(layer=1, neuron=7, congruence_a=np.where(runs.step >= 128, 1.0, 0.1)),
            runs.assign(layer=1, neuron=3, congruence_a=2.0),
        ],
        ignore_index=True,
    )
    restored = np.where(runs.step < 16, np.nan, np.where(runs.step >= 64, 0.8, 0.1))
    patch = runs.assign(prompt="p", layer=1, neuron=7, restored=restored)
    return {
        "summary": summary,
        "probe": probe,
        "anisotropy": aniso,
        "accuracy": accuracy,
        "top_neuron": top,
        "neuron_patch": patch,
        "target_congruence": cong,
    }


def with_phases(t: dict) -> dict:
    return t | {"phases": phase_table(t["summary"], 7.0, n_boot=50)}


def one_rows(events, event):
    return events[(events.event == event) & (events.seeds == "one")].set_index(["model", "seed"])


def test_the_planted_events_per_run_and_over_seeds():
    t = with_phases(suite_tables())
    events, curves = build("s", t, FAMILIES)
    validate(TIMELINE, events)
    validate(CURVES, curves)
    assert list(events.event.drop_duplicates()) == [r.event for r in RULES]
    for event, step in PLANTED.items():
        got = one_rows(events, event).at_step
        want = 64 if event == "probe_half" else step  # seed 1's probe falls later
        assert got.loc[("a", 0)] == step and got.loc[("a", 1)] == want, event
    # family 1 is the phase table's, for each seed
    phases = t["phases"][t["phases"].seeds == "one"].set_index(["model", "seed"])
    for event in ("uniform_end", "unigram_min", "contextual_onset", "seed_peak", "seed_return"):
        got = one_rows(events, event)
        assert (got.at_step == phases[event].astype(float)).all(), event
    assert one_rows(events, "uniform_end").at_step.eq(8).all()
    assert one_rows(events, "unigram_min").at_step.eq(64).all()
    assert one_rows(events, "contextual_onset").at_step.eq(32).all()
    assert one_rows(events, "seed_peak").at_step.eq(128).all()
    med = events[events.seeds == "median"].set_index(["model", "event"])
    probe = med.loc[("a", "probe_half")]
    # two seeds, 32 and 64: the median in log2(step + 1) is sqrt(33 * 65) - 1
    assert probe.at_step == pytest.approx(np.sqrt(33 * 65) - 1, abs=1e-6)
    assert (probe.step_min, probe.step_max, probe.n_seeds, probe.n_runs) == (32, 64, 2, 2)
    assert med.seed.isna().all() and events[events.seeds == "one"].seed.notna().all()
    assert med.reason.isna().all()


def test_curves_are_scaled_per_run_on_their_scale():
    _, curves = build("s", with_phases(suite_tables()), FAMILIES)
    for _, g in curves.groupby(["model", "seed", "curve"]):
        ok = g.scaled.dropna()
        if g.value.notna().sum() > 1 and g.value.nunique() > 1:
            assert ok.min() == 0 and ok.max() == pytest.approx(1)
    p = curves[(curves.curve == "kl_u_probe") & (curves.seed == 0) & (curves.model == "a")]
    v = np.log(p.value.to_numpy())
    assert np.allclose(p.scaled, (v - v.min()) / (v.max() - v.min()))
    # the half-way step of the probe is the first at or below 0.5 on its scaled curve
    assert p.step[p.scaled <= 0.5].iloc[0] == PLANTED["probe_half"]


def test_a_single_seed_has_no_seed_events_and_a_median_of_its_own():
    events, _ = build("s", with_phases(suite_tables(seeds=(0,))), FAMILIES)
    validate(TIMELINE, events)
    for event in ("seed_peak", "seed_return"):
        rows = events[events.event == event]
        assert rows.at_step.isna().all() and (rows.reason == "no seed KL (one seed)").all()
    med = events[(events.seeds == "median") & (events.event == "probe_half")]
    assert med.at_step.tolist() == [32, 32] and med.n_runs.tolist() == [1, 1]


def test_families_switched_off_have_no_events_and_a_tied_W_U_says_so():
    t = with_phases(suite_tables(tied=True))
    events, curves = build("s", t, ["divergence", "anisotropy"])
    assert set(events.family) == set(curves.family) == {"divergence", "anisotropy"}
    wu = events[events.event == "anisotropy_half_W_U"]
    assert wu.at_step.isna().all() and (wu.reason == "W_U is tied to W_E").all()
    assert (wu[wu.seeds == "median"].n_seeds == 0).all()


def test_a_suite_with_one_step_has_rows_with_reasons():
    t = suite_tables()
    t = {k: v[v.step == 0] for k, v in t.items()} | {"phases": PHASES.empty()}
    events, _ = build("s", t, FAMILIES)
    validate(TIMELINE, events)
    assert events.at_step.isna().sum() == len(events) - 2 * 2 * 3  # peak + emergence at step 0
    assert (events[events.event == "uniform_end"].reason == ev.ONE_STEP).all()


# ---- the rule's inputs, outputs and registry ---------------------------------------------------------


def test_inputs_are_the_families_suite_tables():
    for family, files in timeline.INPUTS.items():
        for name, path in files.items():
            spec = outputs.spec_of(path.format(suite="micro"))
            assert spec is not None and not spec.name.endswith((".run", ".model")), (family, name)
    assert set(timeline.inputs(["divergence"], "m")) == {"summary", "phases"}
    assert "results/probe/m/probe.parquet" in timeline.inputs(FAMILIES, "m").values()


def test_the_timeline_is_in_rule_all_and_the_registry():
    from test_targets import default_config

    from lmdyn.core.workflow import Suites

    cfg = default_config()
    out = targets.final_outputs(cfg, Suites(cfg))
    assert set(timeline.outputs("micro", cfg["figures"]["formats"])) <= set(out)
    assert "results/figures/micro/timeline.pdf" in out
    assert outputs.spec_of("results/study/micro/timeline.csv") == TIMELINE
    assert outputs.spec_of("results/study/micro/timeline_curves.parquet") == CURVES


@pytest.mark.parametrize("seeds", [(0, 1), (0,)])  # one seed: events that do not happen
def test_the_figure_is_written_in_every_format(tmp_path, seeds):
    from lmdyn.timeline.figures import timeline as figure

    t = with_phases(suite_tables(seeds))
    events, curves = build("s", t, FAMILIES)
    paths = [tmp_path / "t.png", tmp_path / "t.pdf"]
    figure(events, curves, t["phases"], paths, dpi=40)
    assert all(p.stat().st_size > 1000 for p in paths)
