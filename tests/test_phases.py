"""Phase detection recovers change points planted in synthetic curves (generator independent of the module)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmdyn.divergence.phases import detect_phases, phase_spans, phase_table

H_U = 7.0
# Short log grid with 384 and 768 so the nll crossing can sit between 256 and 384.
GRID = [0] + [2**k for k in range(9)] + [384, 512, 768, 1000, 2000, 4000]
# Pythia: 0, 1, 2, 4, ..., 512, then every 1000 up to 143000.
PYTHIA = [0] + [2**k for k in range(10)] + list(range(1000, 143001, 1000))


def lx(s):
    return np.log2(np.asarray(s, dtype=float) + 1)


def make_curves(steps, u_end, u_min, cross, peak, ret, noise=0.005, seed=0):
    """Curves with planted change points. ``cross`` is a (non-grid) step where nll == H_U; ``ret`` the grid
    step at which kl_seeds has made half its fall from the peak."""
    steps = np.asarray(steps)
    x, rng = lx(steps), np.random.default_rng(seed)
    # kl_uniform: flat at 0.01 up to u_end, then a logistic rise well outside the band at the next grid step.
    kl_uniform = np.where(steps <= u_end, 0.01, 0.01 + 3 / (1 + np.exp(-2 * (x - lx(u_end) - 1))))
    # kl_unigram: V shape in log-step with the minimum at u_min.
    kl_unigram = 0.3 + 0.5 * np.abs(x - lx(u_min))
    # nll: falls linearly in log-step through H_U at ``cross``.
    nll = H_U - 0.8 * (x - lx(cross))
    # kl_seeds: rises to 2.0 at ``peak``, then a slow decay times a sharp logistic drop centred half way
    # (in log-step) between the grid step before ``ret`` and ``ret``, towards a floor of 0.2.
    i = steps.tolist().index(ret)
    xc, gap = (x[i - 1] + x[i]) / 2, x[i] - x[i - 1]
    xp = lx(peak)
    drop = 1 / (1 + np.exp(8 / gap * (x - xc)))
    kl_seeds = np.where(
        x <= xp, 0.2 + 1.8 * (x / xp) ** 2, 0.2 + 1.8 * np.exp(-0.2 * (x - xp)) * drop
    )
    curves = [kl_uniform, kl_unigram, nll, kl_seeds]
    return [c + rng.normal(0, noise, len(c)) for c in curves]


@pytest.mark.parametrize(
    "steps, planted",
    [
        (GRID, dict(u_end=16, u_min=128, cross=320, peak=256, ret=1000)),
        (PYTHIA, dict(u_end=16, u_min=1000, cross=2500, peak=8000, ret=30000)),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_planted_points(steps, planted, seed):
    ku, kg, nll, ks = make_curves(steps, **planted, seed=seed)
    r = detect_phases(steps, ku, kg, nll, H_U, kl_seeds=ks)
    grid = np.asarray(steps)
    after = grid[grid > planted["cross"]][0]
    before = grid[grid < planted["cross"]][-1]
    assert r["uniform_end"] == planted["u_end"]
    assert r["unigram_min"] == planted["u_min"]
    assert r["contextual_onset"] == after
    assert before < r["contextual_onset_interp"] < after
    assert abs(np.log2(r["contextual_onset_interp"] + 1) - lx(planted["cross"])) < 0.05
    assert r["seed_peak"] == planted["peak"]
    assert r["seed_return"] == planted["ret"]
    assert r["last_step"] == steps[-1]
    assert r["unigram_min_value"] == pytest.approx(kg[steps.index(planted["u_min"])])
    assert all(
        isinstance(r[k], int)
        for k in ("uniform_end", "unigram_min", "contextual_onset", "seed_peak")
    )


def test_pythia_grid_shape():
    assert len(PYTHIA) == 154


def test_uniform_end_is_a_prefix_and_band_override():
    steps = [0, 1, 2, 4, 8, 16]
    ku = [
        0.0,
        0.01,
        0.5,
        0.0,
        0.0,
        0.0,
    ]  # leaves the band at 2, returns later: the prefix ends at 1
    r = detect_phases(steps, ku, np.ones(6), np.full(6, 9.0), H_U)
    assert r["uniform_end"] == 1
    assert (
        detect_phases(steps, ku, np.ones(6), np.full(6, 9.0), H_U, uniform_band=1.0)["uniform_end"]
        == 16
    )


def test_unigram_min_ignores_step0_and_unsorted_input():
    steps = [4, 0, 1, 2]
    r = detect_phases(steps, np.zeros(4), [0.5, 0.1, 0.9, 0.3], np.full(4, 9.0), H_U)
    assert r["unigram_min"] == 2


def test_nll_never_crossing():
    ku, kg, nll, ks = make_curves(GRID, 16, 128, 320, 256, 1000)
    r = detect_phases(GRID, ku, kg, nll + 10, H_U, kl_seeds=ks)
    assert r["contextual_onset"] is None and r["contextual_onset_interp"] is None
    assert r["contextual_onset_value"] is None


def test_monotone_kl_seeds_has_no_return():
    ku, kg, nll, _ = make_curves(GRID, 16, 128, 320, 256, 1000)
    rising = np.linspace(0.1, 2.0, len(GRID))
    r = detect_phases(GRID, ku, kg, nll, H_U, kl_seeds=rising)
    assert r["seed_peak"] == GRID[-1] and r["seed_return"] is None
    wobble = rising.copy()
    wobble[-1] = wobble[-2] - 0.001  # a noise-sized dip after the peak
    assert detect_phases(GRID, ku, kg, nll, H_U, kl_seeds=wobble)["seed_return"] == GRID[-1]
    assert (
        detect_phases(GRID, ku, kg, nll, H_U, kl_seeds=wobble, min_fall=0.01)["seed_return"] is None
    )


def test_no_kl_seeds_and_nan_steps():
    ku, kg, nll, ks = make_curves(GRID, 16, 128, 320, 256, 1000)
    r = detect_phases(GRID, ku, kg, nll, H_U)
    assert r["seed_peak"] is None and r["seed_return"] is None
    ks[GRID.index(256)] = np.nan  # a step without a seed-pair table
    assert detect_phases(GRID, ku, kg, nll, H_U, kl_seeds=ks)["seed_peak"] != 256


def test_bad_input():
    with pytest.raises(ValueError):
        detect_phases([0, 1], [0, 1, 2], [0, 1], [0, 1], H_U)
    with pytest.raises(ValueError):
        detect_phases([0, 1, 1], np.zeros(3), np.zeros(3), np.zeros(3), H_U)


def _summary(model, seeds, u_mins):
    frames = []
    for seed, u_min in zip(seeds, u_mins):
        ku, kg, nll, ks = make_curves(GRID, 16, u_min, 320, 256, 1000, seed=seed)
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "seed": seed,
                    "step": GRID,
                    "kl_uniform": ku,
                    "kl_unigram": kg,
                    "nll": nll,
                }
            ).assign(kl_seeds=ks)
        )
    return pd.concat(frames, ignore_index=True)


def test_phase_table_rows_and_intervals():
    summary = pd.concat(
        [_summary("big", [1, 2, 3], [64, 128, 256]), _summary("small", [1, 2], [64, 256])]
    )
    t = phase_table(summary.sample(frac=1, random_state=0), H_U, n_boot=500)
    assert len(t) == 5 + 2
    assert t[t.seeds == "one"].groupby("model").size().to_dict() == {"big": 3, "small": 2}
    # seed is an integer key, NA on the rows over all seeds
    assert str(t.seed.dtype) == "Int64" and t.seed.isna().tolist() == (t.seeds == "mean").tolist()
    mean = t[t.seeds == "mean"].set_index("model")
    assert (
        mean.loc["big", "interval"] == "bootstrap0.95" and mean.loc["small", "interval"] == "minmax"
    )
    # Identical change points across seeds: mean and interval collapse onto the grid step.
    assert mean.loc[
        "big", ["uniform_end", "uniform_end_lo", "uniform_end_hi"]
    ].tolist() == pytest.approx([16] * 3)
    # Mean in log2(step + 1) space: the geometric-style centre of 64, 128, 256 is ~128, not the arithmetic 149.
    assert mean.loc["big", "unigram_min"] == pytest.approx(2 ** np.mean(lx([64, 128, 256])) - 1)
    lo, mid, hi = mean.loc["big", ["unigram_min_lo", "unigram_min", "unigram_min_hi"]]
    assert 64 <= lo < mid < hi <= 256
    assert mean.loc["small", ["unigram_min_lo", "unigram_min_hi"]].tolist() == pytest.approx(
        [64, 256]
    )
    assert mean.loc["big", "seed_return_n"] == 3 and mean.loc[
        "big", "seed_return"
    ] == pytest.approx(1000)


def test_phase_table_missing_onset_and_no_kl_seeds():
    s = _summary("m", [1, 2], [128, 128]).drop(columns="kl_seeds")
    s.loc[s.seed == 2, "nll"] += 10
    t = phase_table(s, {"m": H_U})
    mean = t[t.seeds == "mean"].iloc[0]
    assert mean["contextual_onset_n"] == 1 and mean["contextual_onset"] == pytest.approx(384)
    assert mean["seed_peak_n"] == 0 and np.isnan(mean["seed_peak"])


def test_phase_spans():
    ku, kg, nll, ks = make_curves(GRID, 16, 128, 320, 256, 1000)
    r = detect_phases(GRID, ku, kg, nll, H_U, kl_seeds=ks)
    assert phase_spans(r) == [("uniform", 0, 16), ("unigram", 16, 384), ("contextual", 384, 4000)]
    r["contextual_onset"] = None
    assert phase_spans(r) == [("uniform", 0, 16), ("unigram", 16, 4000)]
    row = phase_table(_summary("m", [1, 2], [128, 128]), H_U).iloc[-1]  # a mean row (floats)
    assert [name for name, _, _ in phase_spans(row)] == ["uniform", "unigram", "contextual"]
