"""Checks that stop a job with one line as soon as it meets a value it cannot use."""

from __future__ import annotations

import numpy as np

from lmdyn.core.errors import UserError


def checkpoint_label(ref) -> str:
    """'suite S, model M, seed N, step K' of a checkpoint (registry.Checkpoint or its dict)."""
    get = ref.get if isinstance(ref, dict) else lambda k: getattr(ref, k)
    return f"suite {get('suite')}, model {get('model')}, seed {get('seed')}, step {get('step')}"


def _first_bad(values) -> tuple[int, float] | None:
    """(flat index, value) of the first NaN or infinite entry, or None."""
    if hasattr(values, "detach"):  # torch tensor: reduce on its device, copy only the answer
        import torch

        bad = ~torch.isfinite(values.detach())
        if not bool(bad.any()):
            return None
        i = int(bad.reshape(-1).nonzero()[0, 0])
        return i, float(values.detach().reshape(-1)[i])
    a = np.asarray(values)
    if a.dtype.kind not in "fc":
        return None
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    return i, float(a.reshape(-1)[i])


def require_finite(quantities: dict, label: str) -> None:
    """Raise a one-line UserError naming ``label`` (see :func:`checkpoint_label`) and the first
    quantity (in the dict's order) with a NaN or infinite value; the others are not looked at."""
    for name, values in quantities.items():
        hit = _first_bad(values)
        if hit is not None:
            i, v = hit
            raise UserError(
                f"{label}: {name} is not finite ({v} at entry {i}); the checkpoint's weights or "
                "training diverged: leave this checkpoint out or retrain with a smaller learning rate"
            )


def require_finite_weights(model, label: str) -> None:
    """The first parameter of ``model`` holding a NaN or infinite value stops the job."""
    require_finite({f"weight {n}": p for n, p in model.named_parameters()}, label)
