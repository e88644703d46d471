"""Checkpoint step grids (Pythia's shape: 0, 1, 2, 4, ..., 2^k, then evenly spaced)."""

from __future__ import annotations


def log_then_linear(max_step: int, log_until: int, every: int) -> list[int]:
    """0, then powers of two up to ``log_until``, then every ``every`` steps up to ``max_step``.

    Pythia's grid is ``log_then_linear(143000, 512, 1000)`` (154 steps).
    """
    if max_step < 0 or log_until < 0 or every <= 0:
        raise ValueError("grid needs max_step >= 0, log_until >= 0 and every > 0")
    steps = {0}
    p = 1
    while p <= min(log_until, max_step):
        steps.add(p)
        p *= 2
    steps.update(range(every, max_step + 1, every))
    steps.add(max_step)
    return sorted(steps)


def previous_step(steps: list[int], step: int) -> int | None:
    """The grid step before ``step`` (None for the first)."""
    i = sorted(steps).index(step)
    return sorted(steps)[i - 1] if i > 0 else None
