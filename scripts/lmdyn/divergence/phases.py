"""Training phases read from the summary curves: uniform -> unigram -> contextual, and seed divergence.

Change points are computed from the numbers on the checkpoint grid (never from figures), so they are
reproducible and testable. Every change point is a grid step: the grid is log-spaced and sparse, so a
point between checkpoints would be invented. The one exception is ``contextual_onset_interp``, where
nll crossing the unigram entropy is a level crossing of a smooth curve and interpolation is meaningful.

Log-step space is ``log2(step + 1)`` throughout: it keeps step 0 finite and is ~log2(step) elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

CHANGE_POINTS = (
    "uniform_end",
    "unigram_min",
    "contextual_onset",
    "contextual_onset_interp",
    "seed_peak",
    "seed_return",
)
# Grid-step change point -> the curve its ``<point>_value`` is read from.
_VALUES = {
    "uniform_end": "kl_uniform",
    "unigram_min": "kl_unigram",
    "contextual_onset": "nll",
    "seed_peak": "kl_seeds",
    "seed_return": "kl_seeds",
}


def _log(step):
    return np.log2(np.asarray(step, dtype=float) + 1.0)


def _unlog(x):
    # Rounded so that a grid step survives the round trip exactly (exp2(log2(257)) - 1 is 256.0000000000001).
    return round(float(np.exp2(x) - 1.0), 6)


def _finite(steps: np.ndarray, y) -> tuple[np.ndarray, np.ndarray]:
    """Grid points where the curve is defined (kl_seeds is NaN at steps without a seed-pair table)."""
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y)
    return steps[ok], y[ok]


def detect_phases(
    steps,
    kl_uniform,
    kl_unigram,
    nll,
    unigram_entropy: float,
    kl_seeds=None,
    uniform_band: float | None = None,
    return_frac: float = 0.5,
    min_fall: float = 0.0,
) -> dict:
    """Change points of one (model, seed) run. All curves are in nats, aligned with ``steps``.

    uniform_end: last step s such that every step <= s has |kl_uniform - kl_uniform(first step)| <= band,
        band = ``uniform_band`` or max(0.05 nats, 5% of the curve's range). The next grid step has left the band.
        A prefix (not "last step inside the band") so that a late return to ~0 cannot extend the phase.
    unigram_min: step of minimum kl_unigram over steps > 0 (step 0 is excluded: the init may sit anywhere).
    contextual_onset: first step with nll < unigram_entropy, i.e. the model beats a pure unigram predictor;
        None if never. ``contextual_onset_interp`` interpolates the crossing linearly in log2(step + 1)
        between that grid step and the one before it (equal to the first step if the crossing is there).
    seed_peak: step of maximum kl_seeds (None without kl_seeds).
    seed_return: first step after the peak with kl_seeds <= peak - return_frac * (peak - min after peak);
        None if nothing follows the peak or the fall (peak - min after) is <= ``min_fall``. Set ``min_fall``
        above the noise level so that a noisy plateau does not count as a return.
    Returns the change points (ints, the interpolated onset a float, or None), ``<point>_value`` (the curve's
    value there), ``uniform_band`` (the band used) and ``last_step``.
    """
    steps, curves = _sorted_curves(steps, kl_uniform, kl_unigram, nll, kl_seeds)
    out = dict.fromkeys(CHANGE_POINTS)
    out.update({f"{k}_value": None for k in _VALUES})
    out["last_step"] = int(steps[-1])
    out.update(_uniform_end(*_finite(steps, curves["kl_uniform"]), uniform_band))
    out.update(_unigram_min(*_finite(steps, curves["kl_unigram"])))
    out.update(_contextual_onset(*_finite(steps, curves["nll"]), unigram_entropy))
    if "kl_seeds" in curves:
        out.update(_seed_return(*_finite(steps, curves["kl_seeds"]), return_frac, min_fall))
    return out


def _sorted_curves(steps, kl_uniform, kl_unigram, nll, kl_seeds) -> tuple[np.ndarray, dict]:
    """Steps (float, ascending) and the curves in the same order; ValueError on a shape mismatch
    or steps that are not unique integers."""
    steps = np.asarray(steps, dtype=float)
    curves = {"kl_uniform": kl_uniform, "kl_unigram": kl_unigram, "nll": nll}
    if kl_seeds is not None:
        curves["kl_seeds"] = kl_seeds
    for name, y in curves.items():
        if np.shape(y) != steps.shape:
            raise ValueError(f"{name} has shape {np.shape(y)}, steps has {steps.shape}")
    if steps.ndim != 1 or len(steps) == 0 or np.any(steps != np.round(steps)):
        raise ValueError("steps must be a non-empty 1-D sequence of integer steps")
    order = np.argsort(steps, kind="stable")
    steps = steps[order]
    if np.any(np.diff(steps) == 0):
        raise ValueError("steps must be unique")
    return steps, {k: np.asarray(v, dtype=float)[order] for k, v in curves.items()}


def _uniform_end(s: np.ndarray, y: np.ndarray, uniform_band: float | None) -> dict:
    band = (
        uniform_band
        if uniform_band is not None
        else max(0.05, 0.05 * (np.ptp(y) if len(y) else 0.0))
    )
    out = {"uniform_band": float(band)}
    if len(y):
        outside = np.abs(y - y[0]) > band
        k = (np.argmax(outside) if outside.any() else len(y)) - 1
        k = max(k, 0)  # the first point is inside its own band by definition
        out["uniform_end"], out["uniform_end_value"] = int(s[k]), float(y[k])
    return out


def _unigram_min(s: np.ndarray, y: np.ndarray) -> dict:
    after0 = s > 0 if (s > 0).any() else np.ones_like(s, dtype=bool)
    if not len(y):
        return {}
    k = np.flatnonzero(after0)[np.argmin(y[after0])]
    return {"unigram_min": int(s[k]), "unigram_min_value": float(y[k])}


def _contextual_onset(s: np.ndarray, y: np.ndarray, unigram_entropy: float) -> dict:
    below = np.flatnonzero(y < unigram_entropy)
    if not len(below):
        return {}
    k = below[0]
    out = {"contextual_onset": int(s[k]), "contextual_onset_value": float(y[k])}
    if k == 0:
        out["contextual_onset_interp"] = float(s[0])
    else:
        # y[k-1] >= H > y[k]: fraction of the way from the previous grid point to the crossing.
        t = (y[k - 1] - unigram_entropy) / (y[k - 1] - y[k])
        x0, x1 = _log(s[k - 1]), _log(s[k])
        out["contextual_onset_interp"] = _unlog(x0 + t * (x1 - x0))
    return out


def _seed_return(s: np.ndarray, y: np.ndarray, return_frac: float, min_fall: float) -> dict:
    if not len(y):
        return {}
    p = int(np.argmax(y))
    out = {"seed_peak": int(s[p]), "seed_peak_value": float(y[p])}
    rest = y[p + 1 :]
    if len(rest) and y[p] - rest.min() > min_fall:
        threshold = y[p] - return_frac * (y[p] - rest.min())
        k = p + 1 + int(np.argmax(rest <= threshold))
        out["seed_return"], out["seed_return_value"] = int(s[k]), float(y[k])
    return out


def _interval(
    values: np.ndarray, n_boot: int, ci: float, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Mean and interval of change points in log2(step + 1) space, mapped back to steps.

    Log space because the grid and the phases are log-spaced: the arithmetic mean of 64 and 1000 would
    land in another phase. Bootstrap over seeds needs >= 3 seeds to be more than a coin flip.
    """
    x = _log(values)
    if len(x) >= 3:
        boots = rng.choice(x, size=(n_boot, len(x)), replace=True).mean(axis=1)
        lo, hi = np.quantile(boots, [(1 - ci) / 2, (1 + ci) / 2])
    else:
        lo, hi = x.min(), x.max()
    return _unlog(x.mean()), _unlog(lo), _unlog(hi)


def phase_table(
    summary: pd.DataFrame,
    unigram_entropy: float | Mapping,
    n_boot: int = 2000,
    ci: float = 0.95,
    random_state: int = 0,
    **kw,
) -> pd.DataFrame:
    """One row per (model, seed) with :func:`detect_phases` outputs (``seeds`` = "one"), then one
    row per model over its seeds (``seeds`` = "mean", ``seed`` NA).

    ``summary``: columns model, seed, step, kl_uniform, kl_unigram, nll and optionally kl_seeds (per seed:
    that seed's mean KL to the others; all-NaN, e.g. with one seed, means no seed change points) and suite
    (kept as a key when present). ``unigram_entropy``: a float, or a mapping model -> float. ``kw`` goes to
    detect_phases. Summary rows: each change point's mean over the seeds that have it, in log2(step + 1)
    space mapped back to steps, with ``<point>_lo``/``<point>_hi`` and ``<point>_n`` (seeds that have it;
    fewer than the model's seeds means some runs never reached that phase). ``interval`` says how lo/hi
    were made: "bootstrap{ci}" (percentile bootstrap over seeds, >= 3 seeds) or "minmax" (< 3 seeds).
    ``<point>_value`` in summary rows is the plain mean of the per-seed values. Step columns are floats
    (NaN for None) because summary rows are not grid steps.
    """
    keys = ["suite", "model"] if "suite" in summary.columns else ["model"]
    rng = np.random.default_rng(random_state)
    rows, means = [], []
    for key, g in summary.groupby(keys, sort=False):
        key = dict(zip(keys, key))
        h = (
            unigram_entropy[key["model"]]
            if isinstance(unigram_entropy, Mapping)
            else unigram_entropy
        )
        seed_rows = []
        for seed, r in g.groupby("seed", sort=True):
            r = r.sort_values("step")
            ks = r["kl_seeds"].to_numpy() if "kl_seeds" in r else None
            res = detect_phases(
                r.step.to_numpy(), r.kl_uniform, r.kl_unigram, r.nll, h, kl_seeds=ks, **kw
            )
            seed_rows.append({**key, "seed": seed, "seeds": "one", **res, "interval": None})
        rows += seed_rows
        per = pd.DataFrame(seed_rows)
        m = {
            **key,
            "seed": pd.NA,
            "seeds": "mean",
            "interval": f"bootstrap{ci:g}" if len(per) >= 3 else "minmax",
        }
        for cp in CHANGE_POINTS:
            v = pd.to_numeric(per[cp], errors="coerce").dropna().to_numpy(dtype=float)
            m[cp], m[f"{cp}_lo"], m[f"{cp}_hi"] = (
                _interval(v, n_boot, ci, rng) if len(v) else (np.nan,) * 3
            )
            m[f"{cp}_n"] = len(v)
        for col in [f"{k}_value" for k in _VALUES] + ["uniform_band"]:
            m[col] = pd.to_numeric(per[col], errors="coerce").mean()
        m["last_step"] = per.last_step.max()
        means.append(m)
    out = pd.DataFrame(rows + means)
    out["seed"] = out["seed"].astype("Int64")  # an integer key everywhere, NA on the mean rows
    return out


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def phase_spans(row) -> list[tuple[str, float, float]]:
    """(name, start, end) spans for shading a figure, from a phase_table row or detect_phases dict.

    [("uniform", 0, uniform_end), ("unigram", uniform_end, contextual_onset), ("contextual", contextual_onset,
    last_step)]. Without a contextual onset the unigram span runs to last_step and there is no contextual
    span; spans of zero or negative width (phases out of order in a noisy run) are dropped, not drawn backwards.
    """
    last = float(row["last_step"])
    u = 0.0 if _missing(row["uniform_end"]) else float(row["uniform_end"])
    c = None if _missing(row["contextual_onset"]) else max(float(row["contextual_onset"]), u)
    spans = [("uniform", 0.0, u), ("unigram", u, last if c is None else c)]
    if c is not None:
        spans.append(("contextual", c, last))
    return [(name, a, b) for name, a, b in spans if b > a]
