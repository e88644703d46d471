"""Every pairwise KL of one step of a suite in one pass: seed pairs, consecutive steps, cross-size.

The checkpoints involved are every (model, seed) at the step and, per model, at its previous
analysed step. Each one's logits are computed once per chunk for all the pairs it takes part in
(:func:`lmdyn.divergence.metrics.pairwise_kl_many`), from its stored final hidden states and unembedding.
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


def pair_tables(
    job: dict,
    checkpoints: dict,
    keys: pd.DataFrame,
    vocab: int,
    device="auto",
    vocab_chunk=8192,
    token_chunk=1024,
    log=None,
) -> dict[str, pd.DataFrame]:
    """The step's seed-pair, step-pair and size-pair tables (columns above).

    ``checkpoints``: "model/seed/step" -> {"hidden": .npy path, "unembed": .npy path (W_U, as
    the metrics task stored it)};
    ``keys``: the (doc_id, position) rows of the hidden states.
    """
    dev = pick_device(device)
    order, pairs = plan_pairs(job)
    hidden, unembed = [], []
    for m, s, st in order:
        entry = checkpoints[f"{m}/{s}/{st}"]
        hidden.append(torch.from_numpy(np.load(entry["hidden"])).to(dev))
        unembed.append(torch.from_numpy(np.load(entry["unembed"]))[:vocab].to(dev))
    flat = [p for kind in ("seeds", "steps", "sizes") for _, p in pairs[kind]]
    kl = (
        pairwise_kl_many(
            hidden, unembed, flat, None, vocab_chunk=vocab_chunk, token_chunk=token_chunk
        ).numpy()
        if flat
        else None
    )
    if log:
        log.info(
            "step %d: %d checkpoints (output projections per chunk), %d pairs",
            job["step"],
            len(order),
            len(flat),
        )
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
