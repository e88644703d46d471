"""Activation against prediction: how often the model predicts a token as a neuron's activation grows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

COLUMNS = [
    "layer",
    "neuron",
    "token_id",
    "bin",
    "act_low",
    "act_high",
    "count",
    "hits",
    "top1_share",
    "no_hit",
]


def sample_windows(windows: list[np.ndarray], n_windows: int | None, seed: int) -> list[np.ndarray]:
    """The ``n_windows`` evaluation windows (all if None or fewer) of the activation-vs-prediction table."""
    if n_windows is None or len(windows) <= n_windows:
        return list(windows)
    take = np.sort(np.random.default_rng(seed).choice(len(windows), size=n_windows, replace=False))
    return [windows[i] for i in take]


def _activations_and_hits(ix, windows, pairs, batch_size: int) -> tuple[dict, dict]:
    """Per pair: the neuron's activation and whether top-1 is the token, at every position."""
    layers = sorted({l for l, _, _ in pairs})
    names = [f"blocks.{l}.mlp.hook_post" for l in layers]
    acts = {p: [] for p in pairs}
    hits = {p: [] for p in pairs}
    by_len: dict[int, list[int]] = {}  # windows of one length batch together
    for i, w in enumerate(windows):
        by_len.setdefault(len(w), []).append(i)
    for L in sorted(by_len):
        idx = by_len[L]
        for s in range(0, len(idx), batch_size):
            ids = torch.from_numpy(
                np.stack([windows[j] for j in idx[s : s + batch_size]]).astype(np.int64)
            )
            logits, cache = ix.run(ids, names=names)
            top1 = logits.argmax(-1).reshape(-1).cpu()
            for p in pairs:
                l, n, t = p
                acts[p].append(
                    cache[f"blocks.{l}.mlp.hook_post"][..., n].reshape(-1).float().cpu().numpy()
                )
                hits[p].append((top1 == t).numpy())
    return acts, hits


def _binned(pair, acts: list, hits: list, n_bins: int) -> pd.DataFrame:
    a = np.concatenate(acts).astype(np.float64)
    h = np.concatenate(hits)
    lo, hi = float(a.min()), float(a.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, n_bins + 1)
    b = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    hits = np.bincount(b, weights=h, minlength=n_bins).round().astype(np.int64)
    share = hits / np.maximum(count, 1)
    share[count == 0] = np.nan
    return pd.DataFrame(
        {
            "layer": pair[0],
            "neuron": pair[1],
            "token_id": pair[2],
            "bin": np.arange(n_bins),
            "act_low": edges[:-1],
            "act_high": edges[1:],
            "count": count,
            "hits": hits,
            "top1_share": share,
            # the token is never the top-1 prediction: the curve is no evidence either way
            "no_hit": bool(hits.sum() == 0),
        }
    )


@torch.no_grad()
def activation_vs_prediction(
    ix, windows: list[np.ndarray], pairs, n_bins: int = 20, batch_size: int = 16
) -> pd.DataFrame:
    """A neuron's activation in bins against the share of positions whose top-1 prediction is the token.

    ``pairs``: (layer, neuron, token_id). Top-1 is the argmax of the model's real logits at every
    position of every window. Bins are equal-width over the observed activation range. Columns:
    layer, neuron, token_id, bin, act_low, act_high, count, hits, top1_share, no_hit.
    """
    pairs = [(int(l), int(n), int(t)) for l, n, t in pairs]
    if not pairs:
        return pd.DataFrame(columns=COLUMNS)
    acts, hits = _activations_and_hits(ix, windows, pairs, batch_size)
    rows = [_binned(p, acts[p], hits[p], n_bins) for p in pairs]
    return pd.concat(rows, ignore_index=True)
