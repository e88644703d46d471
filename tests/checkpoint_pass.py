"""Tests' reference composition of a checkpoint's pass and of a pair, from the library's loader,
forward and divergence functions (the engine's tasks are tested against it and against transformers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lmdyn.core.checkpoints import load_model, load_unembedding, pick_device, unembedding_of
from lmdyn.core.checks import require_finite, require_finite_weights
from lmdyn.core.forward import final_hidden_states, windows_of
from lmdyn.data.tokens import predicted
from lmdyn.divergence.metrics import pairwise_kl, token_metrics


def evaluate_checkpoint(
    path,
    tokens: pd.DataFrame,
    log_unigram: np.ndarray,
    device="auto",
    batch_size=16,
    vocab_chunk=8192,
    token_chunk=1024,
    log=None,
    label=None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-token metrics (doc_id, position, target_id, nll, entropy, kl_uniform, kl_unigram) and the
    final hidden states [n_predicted, d] (float32) of one checkpoint, one forward pass.

    ``label`` (lmdyn.core.checks.checkpoint_label) names the checkpoint when a weight, hidden state or
    metric is not finite: the job stops there with one line."""
    label = label or f"checkpoint {path}"
    dev = pick_device(device)
    model = load_model(
        path, dev, max_positions=int(tokens.groupby(["doc_id", "window"]).size().max())
    )
    # before the forward pass: a checkpoint with non-finite weights fails here, not in the study
    require_finite_weights(model, label)
    vocab = len(log_unigram)
    w, b = unembedding_of(model, vocab)
    hidden = final_hidden_states(model, windows_of(tokens), batch_size, dev, log=log)
    require_finite({"final hidden state": hidden}, label)
    pred = predicted(tokens)
    targets = torch.tensor(pred.target_id.to_numpy())
    m = token_metrics(
        hidden.to(dev), w, targets, torch.from_numpy(log_unigram), b, vocab_chunk, token_chunk
    )
    table = pred[["doc_id", "position", "target_id"]].copy()
    require_finite(m, label)
    for k, v in m.items():
        table[k] = v.numpy()
    return table, hidden.numpy()


def pair_table(
    keys: pd.DataFrame, a: dict, b: dict, device="auto", vocab_chunk=8192, token_chunk=1024
) -> pd.DataFrame:
    """KL(a||b) and KL(b||a) per token. ``a``/``b``: dict(hidden=[N, d] array, unembed=(W [V, d], bias))
    as returned by :func:`pair_side`; keys: the (doc_id, position) rows the hidden states belong to."""
    dev = pick_device(device)
    (wa, ba), (wb, bb) = a["unembed"], b["unembed"]
    kl_ab, kl_ba = pairwise_kl(
        torch.from_numpy(a["hidden"]).to(dev),
        wa.to(dev),
        torch.from_numpy(b["hidden"]).to(dev),
        wb.to(dev),
        ba,
        bb,
        vocab_chunk,
        token_chunk,
    )
    out = keys[["doc_id", "position"]].reset_index(drop=True).copy()
    out["kl_ab"] = kl_ab.numpy()
    out["kl_ba"] = kl_ba.numpy()
    return out


def pair_side(hidden_path, checkpoint_path, vocab: int) -> dict:
    """One side of a pair: cached hidden states and the checkpoint's unembedding (read once, reused
    for every pair the checkpoint takes part in)."""
    return {"hidden": np.load(hidden_path), "unembed": load_unembedding(checkpoint_path, vocab)}
