"""Every pairwise KL of one step of a suite in one pass: seed pairs, consecutive steps, cross-size.

The checkpoints involved are every (model, seed) at the step and, per model, at its previous
analysed step. The pairs are worked through in passes of at most ``max_checkpoints`` checkpoints
(:func:`passes`), so memory is bounded whatever the number of seeds and sizes; within a pass each
checkpoint's logits are computed once per chunk for all the pairs it takes part in
(:func:`lmdyn.divergence.metrics.pairwise_kl_many`), from its stored final hidden states and
unembedding, and only the pass's checkpoints are loaded.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import torch

from lmdyn.core.checkpoints import pick_device
from lmdyn.divergence.metrics import pairwise_kl_many

SEED_COLUMNS = ["doc_id", "position", "model", "seed_a", "seed_b", "kl_ab", "kl_ba"]
STEP_COLUMNS = ["doc_id", "position", "model", "seed", "step_a", "step_b", "kl_ab", "kl_ba"]
SIZE_COLUMNS = ["doc_id", "position", "seed", "model_a", "model_b", "kl_ab", "kl_ba"]


def plan_pairs(job: dict) -> tuple[list[tuple], dict]:
    """Checkpoint keys (model, seed, step) in first-use order and the pairs by kind.

    ``job``: ``step``, ``models`` (models analysed at the step, config order), ``seeds``, ``prev``
    ({model: previous analysed step or None}), ``sizes`` (whether to compare models).
    """
    t, seeds = job["step"], job["seeds"]
    keys: dict[tuple, int] = {}

    def k(*key):
        return keys.setdefault(key, len(keys))

    pairs = {"seeds": [], "steps": [], "sizes": []}
    for m in job["models"]:
        for a, b in combinations(seeds, 2):
            pairs["seeds"].append(((m, a, b), (k(m, a, t), k(m, b, t))))
        if job["prev"].get(m) is not None:
            for s in seeds:
                pairs["steps"].append(
                    ((m, s, job["prev"][m], t), (k(m, s, job["prev"][m]), k(m, s, t)))
                )
    if job["sizes"]:
        for s in seeds:
            for a, b in combinations(job["models"], 2):
                pairs["sizes"].append(((s, a, b), (k(a, s, t), k(b, s, t))))
    return list(keys), pairs


def passes(pairs: list[tuple[int, int]], max_checkpoints: int) -> list[list[int]]:
    """The pairs (indices into ``pairs``) of each pass: in plan order, a pass takes pairs while it
    involves at most ``max_checkpoints`` checkpoints (at least one pair each). A step's seed pairs
    of one model come first, so the seeds of a model share passes."""
    if max_checkpoints < 2:
        raise ValueError(f"a pass needs at least 2 checkpoints, got {max_checkpoints}")
    out, used = [], set()
    for i, p in enumerate(pairs):
        if not out or len(used | set(p)) > max_checkpoints:
            out.append([])
            used = set()
        out[-1].append(i)
        used |= set(p)
    return out


def _load(entry: dict, vocab: int, dev) -> tuple:
    """A checkpoint's stored final hidden states and unembedding (as its metrics task wrote them),
    on ``dev``."""
    hidden = torch.from_numpy(np.load(entry["hidden"])).to(dev)
    unembed = torch.from_numpy(np.load(entry["unembed"]))[:vocab].to(dev)
    return hidden, unembed


def pair_tables(
    job: dict,
    checkpoints: dict,
    keys: pd.DataFrame,
    vocab: int,
    device="auto",
    vocab_chunk=8192,
    token_chunk=1024,
    log=None,
    max_checkpoints=16,
) -> dict[str, pd.DataFrame]:
    """The step's seed-pair, step-pair and size-pair tables (columns above).

    ``checkpoints``: "model/seed/step" -> {"hidden": .npy path, "unembed": .npy path (W_U, as
    the metrics task stored it)};
    ``keys``: the (doc_id, position) rows of the hidden states. Memory: ``max_checkpoints``
    checkpoints' hidden states and unembeddings, two buffers of ``max_checkpoints`` x token_chunk x
    vocab_chunk floats, and the step's KL values (its output).
    """
    dev = pick_device(device)
    order, pairs = plan_pairs(job)
    flat = [p for kind in ("seeds", "steps", "sizes") for _, p in pairs[kind]]
    kl = None
    groups = passes(flat, max_checkpoints) if flat else []
    for group in groups:
        local = list(dict.fromkeys(k for i in group for k in flat[i]))  # first-use order
        where = {k: a for a, k in enumerate(local)}
        hidden, unembed = [], []
        for m, s, st in (order[k] for k in local):
            h, w = _load(checkpoints[f"{m}/{s}/{st}"], vocab, dev)
            hidden.append(h)
            unembed.append(w)
        res = pairwise_kl_many(
            hidden,
            unembed,
            [(where[a], where[b]) for a, b in (flat[i] for i in group)],
            None,
            vocab_chunk=vocab_chunk,
            token_chunk=token_chunk,
        ).numpy()
        del hidden, unembed
        if kl is None:
            kl = np.empty((len(flat), 2, res.shape[2]), dtype=np.float32)
        kl[group] = res
    if log:
        log.info(
            "step %d: %d checkpoints (output projections per chunk), %d pairs in %d pass(es)",
            job["step"],
            len(order),
            len(flat),
            len(groups),
        )
    return _tables(pairs, kl, keys)


def _tables(pairs: dict, kl, keys: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One row per (pair, token): the labels of each pair beside its two KL directions."""
    base = keys[["doc_id", "position"]].reset_index(drop=True)
    out, i = {}, 0
    for kind, cols in (("seeds", SEED_COLUMNS), ("steps", STEP_COLUMNS), ("sizes", SIZE_COLUMNS)):
        tables = []
        for label, _ in pairs[kind]:
            t = base.copy()
            if kind == "seeds":
                t["model"], t["seed_a"], t["seed_b"] = label
            elif kind == "steps":
                t["model"], t["seed"], t["step_a"], t["step_b"] = label
            else:
                t["seed"], t["model_a"], t["model_b"] = label
            t["kl_ab"], t["kl_ba"] = kl[i, 0], kl[i, 1]
            tables.append(t)
            i += 1
        out[kind] = pd.concat(tables, ignore_index=True)[cols] if tables else _empty(cols)
    return out


def _empty(cols):
    def dtype(c):
        return "float32" if c.startswith("kl") else "object" if c.startswith("model") else "int64"

    return pd.DataFrame({c: pd.Series(dtype=dtype(c)) for c in cols})
