"""Events read from one run's curves: the step where something happens, or why nothing does.

Every rule works on the analysed grid (no interpolation: the grid is sparse and log-spaced, so a
step between checkpoints would be invented) and takes a curve's steps in any order. Curves are
plain arrays; missing values (NaN) are dropped first, except where a rule says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Event:
    """A grid step and the curve's value there, or no step and the reason."""

    step: int | None = None
    value: float | None = None
    reason: str | None = None

    @classmethod
    def at(cls, steps: np.ndarray, y: np.ndarray, k: int) -> Event:
        return cls(int(steps[k]), float(y[k]))

    @classmethod
    def none(cls, reason: str) -> Event:
        return cls(None, None, reason)


def _sorted(steps, *ys) -> tuple[np.ndarray, ...]:
    """Steps (int, ascending) and the curves in the same order; ValueError unless aligned and unique."""
    steps = np.asarray(steps)
    ys = [np.asarray(y, dtype=float) for y in ys]
    if steps.ndim != 1 or any(y.shape != steps.shape for y in ys):
        raise ValueError(f"steps {steps.shape} and values {[y.shape for y in ys]} are not aligned")
    order = np.argsort(steps, kind="stable")
    steps = steps[order].astype(int)
    if np.any(np.diff(steps) == 0):
        raise ValueError("steps must be unique")
    return (steps, *(y[order] for y in ys))


def curve(steps, y) -> tuple[np.ndarray, np.ndarray]:
    """Steps (int, ascending, unique) and values of the defined points."""
    steps, y = _sorted(steps, y)
    ok = np.isfinite(y)
    return steps[ok], y[ok]


NO_CURVE = "no analysed step has the curve"
ONE_STEP = "one analysed step: no change to measure"


def _too_short(s: np.ndarray) -> Event | None:
    if len(s) == 0:
        return Event.none(NO_CURVE)
    if len(s) == 1:
        return Event.none(ONE_STEP)
    return None


def half_fall_log(steps, y) -> Event:
    """First step at which log y has covered half of its fall from the first step to its minimum:
    log y(s) <= (log y(first) + log min y) / 2, i.e. y(s) <= sqrt(y(first) * min y)."""
    s, y = curve(steps, y)
    if (short := _too_short(s)) is not None:
        return short
    if np.any(y <= 0):
        return Event.none("not positive at every step: no log scale")
    k_min = int(np.argmin(y))
    if y[k_min] >= y[0]:
        return Event.none("never below its value at the first step")
    threshold = 0.5 * (np.log(y[0]) + np.log(y[k_min]))
    return Event.at(s, y, int(np.argmax(np.log(y) <= threshold)))


def half_rise(steps, y) -> Event:
    """First step at which y has covered half of its rise from the first step to its maximum:
    y(s) >= y(first) + (max y - y(first)) / 2."""
    s, y = curve(steps, y)
    if (short := _too_short(s)) is not None:
        return short
    top = float(y.max())
    if top <= y[0]:
        return Event.none("never above its value at the first step")
    return Event.at(s, y, int(np.argmax(y >= y[0] + 0.5 * (top - y[0]))))


def peak(steps, y) -> Event:
    """Step of the maximum (the earliest, on a tie)."""
    s, y = curve(steps, y)
    if len(s) == 0:
        return Event.none(NO_CURVE)
    return Event.at(s, y, int(np.argmax(y)))


def half_decline(steps, y) -> Event:
    """First step after the maximum at which y has covered half of its fall from the maximum to
    its minimum after it: y(s) <= max y - (max y - min later y) / 2."""
    s, y = curve(steps, y)
    if (short := _too_short(s)) is not None:
        return short
    p = int(np.argmax(y))
    rest = y[p + 1 :]
    if not len(rest):
        return Event.none("the peak is at the last analysed step")
    fall = y[p] - rest.min()
    if fall <= 0:
        return Event.none("never below its peak after it")
    return Event.at(s, y, p + 1 + int(np.argmax(rest <= y[p] - 0.5 * fall)))


def _stays_above_half(y: np.ndarray, name: str) -> tuple[np.ndarray, str | None]:
    """Per step: y is above half of its last defined value, or undefined (NaN)."""
    defined = np.isfinite(y)
    if not defined.any():
        return np.ones(len(y), dtype=bool), None
    final = y[np.flatnonzero(defined)[-1]]
    if final <= 0:
        return np.zeros(len(y), dtype=bool), f"its final {name} is not positive"
    return ~defined | (y > 0.5 * final), None


def emergence(steps, congruence, restored=None) -> Event:
    """First step from which the congruence, and the restored fraction where defined (not NaN),
    stay above half of their final values (the restored fraction's last defined one) at every
    later step; steps without a congruence are dropped. The value is the congruence there."""
    restored = np.full(np.shape(steps), np.nan) if restored is None else restored
    s, c, r = _sorted(steps, congruence, restored)
    keep = np.isfinite(c)
    s, c, r = s[keep], c[keep], r[keep]
    if len(s) == 0:
        return Event.none(NO_CURVE)
    ok = np.ones(len(s), dtype=bool)
    for y, name in ((c, "congruence"), (r, "restored fraction")):
        above, reason = _stays_above_half(y, name)
        if reason:
            return Event.none(reason)
        ok &= above
    # the last step is above half of its own value, so the steps from the last one below on are
    below = np.flatnonzero(~ok)
    return Event.at(s, c, int(below[-1]) + 1 if len(below) else 0)
