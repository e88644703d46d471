"""Neuron-token congruence: how directly an MLP neuron writes a token.

Congruence of neuron (l, n) with token t is ``W_out[l, n] . W_U[t]`` (TransformerLens orientation),
with the unembedding centred over tokens by default (TransformerLens' ``center_unembed``; the
original used the processed matrix). It is computed in chunks and never materialised: running top-2
over tokens per neuron and over neurons per token.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def _top2_merge(
    vals: torch.Tensor, idx: torch.Tensor, new_vals: torch.Tensor, new_idx: torch.Tensor
):
    """Top-2 (values, indices) along dim 1 of the union of two [rows, k] candidate sets."""
    v = torch.cat([vals, new_vals], 1)
    i = torch.cat([idx, new_idx], 1)
    top = torch.topk(v, 2, dim=1)
    return top.values, torch.gather(i, 1, top.indices)


def _top2(block: torch.Tensor, dim: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-2 of ``block`` along ``dim`` as [rows, 2] (values, indices + offset), one row per entry of
    the other dim; a dim of length 1 is padded with (-inf, -1), which never wins a merge."""
    k = min(2, block.shape[dim])
    t = torch.topk(block, k, dim=dim)
    v, i = (t.values, t.indices + offset) if dim == 1 else (t.values.T, t.indices.T + offset)
    if k < 2:
        v = torch.cat([v, torch.full_like(v, -torch.inf)], 1)
        i = torch.cat([i, torch.full_like(i, -1)], 1)
    return v, i


def _scan_layer(W, W_U, tok_v, tok_i, base: int, vocab_chunk: int):
    """One layer's [d_mlp, 2] top-2 over tokens; merges its neurons into the per-token top-2 in place."""
    d_mlp = W.shape[0]
    nv = torch.full((d_mlp, 2), -torch.inf, device=W_U.device)
    ni = torch.full((d_mlp, 2), -1, dtype=torch.long, device=W_U.device)
    for s in range(0, W_U.shape[0], vocab_chunk):
        block = W @ W_U[s : s + vocab_chunk].T  # [d_mlp, chunk]
        nv, ni = _top2_merge(nv, ni, *_top2(block, 1, s))
        sl = slice(s, s + vocab_chunk)
        tok_v[sl], tok_i[sl] = _top2_merge(tok_v[sl], tok_i[sl], *_top2(block, 0, base))
    return nv, ni


@torch.no_grad()
def congruence_scan(
    w_out,
    n_layers: int,
    W_U: torch.Tensor,
    targets=(),
    center: bool = True,
    vocab_chunk: int = 8192,
) -> dict:
    """Running top-2 of W_out[l, n] . W_U[t] over tokens (per neuron) and over neurons (per token).

    ``w_out(l)`` returns layer l's [d_mlp, d] output weights (so a caller can stream them from disk).
    Memory: one [d_mlp, vocab_chunk] block plus per-neuron and per-token top-2 arrays. Returns
    float32/int64 numpy arrays: neuron_top [L*N, 2] values and neuron_top_token [L*N, 2];
    token_top [V, 2] and token_top_neuron [V, 2] (flat neuron index l * d_mlp + n);
    targets [L*N, len(targets)] congruence with the target tokens; d_mlp.
    """
    W_U = W_U.float()
    if center:
        W_U = W_U - W_U.mean(0, keepdim=True)
    V, dev = W_U.shape[0], W_U.device
    tok_v = torch.full((V, 2), -torch.inf, device=dev)
    tok_i = torch.full((V, 2), -1, dtype=torch.long, device=dev)
    neuron_v, neuron_i, tgt = [], [], []
    targets = list(targets)
    d_mlp = None
    for l in range(n_layers):
        W = w_out(l).float().to(dev)
        d_mlp = W.shape[0]
        nv, ni = _scan_layer(W, W_U, tok_v, tok_i, l * d_mlp, vocab_chunk)
        neuron_v.append(nv)
        neuron_i.append(ni)
        if targets:
            tgt.append(W @ W_U[targets].T)
    return {
        "neuron_top": torch.cat(neuron_v).cpu().numpy(),
        "neuron_top_token": torch.cat(neuron_i).cpu().numpy(),
        "token_top": tok_v.cpu().numpy(),
        "token_top_neuron": tok_i.cpu().numpy(),
        "targets": torch.cat(tgt).cpu().numpy() if targets else np.zeros((0, 0), np.float32),
        "d_mlp": int(d_mlp),
    }


def exclusive_pairs(scan: dict, top: int = 20) -> pd.DataFrame:
    """Mutually exclusive neuron-token pairs, scored (gap to the second-best neuron) x (gap to the second-best token).

    A pair (neuron n, token t): n is t's most congruent neuron and t is n's most congruent token.
    Columns: layer, neuron, token_id, congruence, neuron_gap, token_gap, score; best first.
    """
    d_mlp = scan["d_mlp"]
    tok_best = scan["token_top_neuron"][:, 0]
    tokens = np.arange(len(tok_best))
    mutual = scan["neuron_top_token"][tok_best, 0] == tokens
    t = tokens[mutual]
    n = tok_best[mutual]
    neuron_gap = scan["token_top"][t, 0] - scan["token_top"][t, 1]
    token_gap = scan["neuron_top"][n, 0] - scan["neuron_top"][n, 1]
    df = pd.DataFrame(
        {
            "layer": n // d_mlp,
            "neuron": n % d_mlp,
            "token_id": t,
            "congruence": scan["token_top"][t, 0],
            "neuron_gap": neuron_gap,
            "token_gap": token_gap,
            "score": neuron_gap.astype(np.float64) * token_gap,
        }
    )
    return (
        df.sort_values(["score", "token_id"], ascending=[False, True], kind="stable")
        .head(top)
        .reset_index(drop=True)
    )


@torch.no_grad()
def neuron_token_congruence(ix, layer: int, neuron: int, center: bool = True) -> np.ndarray:
    """Congruence of one neuron with every token [V] (its outliers are the tokens it writes)."""
    W_U = ix.W_U.float()
    if center:
        W_U = W_U - W_U.mean(0, keepdim=True)
    return (W_U @ ix.W_out(layer)[neuron].float().to(W_U.device)).cpu().numpy()
