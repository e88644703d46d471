"""Exact per-token metrics in one streaming float32 pass over vocabulary chunks.

Never builds a [tokens x vocab] tensor: logits are computed chunk by chunk from final hidden states and
the unembedding matrix, and running statistics are rescaled whenever the running maximum grows (the
online-softmax trick), so memory is bounded by token_chunk x vocab_chunk whatever the number of tokens.
Definitions (nats), with z the logits over the tokenizer's vocabulary V, p = softmax(z):
    nll        = lse - z_y
    entropy    = lse - sum p z
    kl_uniform = log|V| - entropy
    kl_unigram = -entropy - sum p log u
    KL(p||q)   = sum p (z_p - z_q) - lse_p + lse_q
Statistics are kept relative to the running max m, which avoids cancellation between lse and E[z].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

METRICS = ("nll", "entropy", "kl_uniform", "kl_unigram")


def _rescale(m_old: torch.Tensor, m_new: torch.Tensor) -> torch.Tensor:
    # exp(-inf - x) -> 0 for the first chunk; avoids nan from (-inf) - (-inf).
    return torch.where(torch.isfinite(m_old), torch.exp(m_old - m_new), torch.zeros_like(m_old))


def _chunk_logits(h: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    z = h @ w.T
    return z + bias if bias is not None else z


def token_metrics(
    hidden: torch.Tensor,
    unembed: torch.Tensor,
    targets: torch.Tensor,
    log_unigram: torch.Tensor,
    bias: torch.Tensor | None = None,
    vocab_chunk: int = 8192,
    token_chunk: int = 1024,
) -> dict[str, torch.Tensor]:
    """Per-token nll, entropy, kl_uniform and kl_unigram.

    hidden [N, d] final hidden states (after the final layer norm); unembed [V, d] already sliced to the
    tokenizer's vocabulary; targets [N] token ids; log_unigram [V]. Everything is cast to float32.
    Returns float32 tensors of shape [N] on the CPU.
    """
    w = unembed.float()
    b = bias.float() if bias is not None else None
    logu = log_unigram.float().to(w.device)
    vocab = w.shape[0]
    if logu.shape[0] != vocab:
        raise ValueError(f"unigram has {logu.shape[0]} entries, unembedding has {vocab} rows")
    out = {k: [] for k in METRICS}
    for t0 in range(0, hidden.shape[0], token_chunk):
        h = hidden[t0 : t0 + token_chunk].float().to(w.device)
        y = targets[t0 : t0 + token_chunk].to(w.device)
        n = h.shape[0]
        m = torch.full((n,), -math.inf, device=w.device)
        s = torch.zeros(n, device=w.device)  # sum e^(z-m)
        t = torch.zeros(n, device=w.device)  # sum e^(z-m) (z-m)
        r = torch.zeros(n, device=w.device)  # sum e^(z-m) log u
        for v0 in range(0, vocab, vocab_chunk):
            z = _chunk_logits(h, w[v0 : v0 + vocab_chunk], None if b is None else b[v0 : v0 + vocab_chunk])
            m_new = torch.maximum(m, z.max(dim=1).values)
            a = _rescale(m, m_new)
            shift = torch.where(torch.isfinite(m), m - m_new, torch.zeros_like(m))
            e = torch.exp(z - m_new[:, None])
            t = a * (t + shift * s) + (e * (z - m_new[:, None])).sum(1)
            s = a * s + e.sum(1)
            r = a * r + e @ logu[v0 : v0 + vocab_chunk]
            m = m_new
        log_s = torch.log(s)
        lse = m + log_s
        z_y = (h * w[y]).sum(1) + (b[y] if b is not None else 0.0)
        entropy = log_s - t / s
        out["nll"].append(lse - z_y)
        out["entropy"].append(entropy)
        out["kl_uniform"].append(math.log(vocab) - entropy)
        out["kl_unigram"].append(-entropy - r / s)
    return {k: torch.cat(v).cpu() if v else torch.zeros(0) for k, v in out.items()}


def pairwise_kl(
    hidden_a: torch.Tensor,
    unembed_a: torch.Tensor,
    hidden_b: torch.Tensor,
    unembed_b: torch.Tensor,
    bias_a: torch.Tensor | None = None,
    bias_b: torch.Tensor | None = None,
    vocab_chunk: int = 8192,
    token_chunk: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token KL(a||b) and KL(b||a) recomputed from two models' final hidden states (one pair of
    :func:`pairwise_kl_many`)."""
    if hidden_a.shape[0] != hidden_b.shape[0]:
        raise ValueError("pairwise KL needs the same vocabulary and the same tokens for both models")
    out = pairwise_kl_many([hidden_a, hidden_b], [unembed_a, unembed_b], [(0, 1)], [bias_a, bias_b],
                           vocab_chunk, token_chunk)
    return out[0, 0], out[0, 1]


def pairwise_kl_many(
    hidden: Sequence[torch.Tensor],
    unembed: Sequence[torch.Tensor],
    pairs: Sequence[tuple[int, int]],
    bias: Sequence[torch.Tensor | None] | None = None,
    vocab_chunk: int = 8192,
    token_chunk: int = 1024,
) -> torch.Tensor:
    """Per-token KL in both directions for every pair of checkpoints, from their final hidden states.

    hidden[i] [N, d_i] and unembed[i] [V, d_i] (and bias[i] [V] or None) describe checkpoint i; all share
    the tokens and the vocabulary. Returns float32 [len(pairs), 2, N] on the CPU with out[p, 0] =
    KL(i || j) and out[p, 1] = KL(j || i) for pairs[p] = (i, j). Each involved checkpoint's logit chunk is
    computed once per (token chunk, vocab chunk) whatever the number of pairs it is in; the cross sums
    sum_v e_i (z_j - m_j) of all checkpoints come from one batched matmul per chunk.
    """
    pairs = [(int(i), int(j)) for i, j in pairs]
    n_tok = hidden[0].shape[0] if len(hidden) else 0
    out = torch.zeros(len(pairs), 2, n_tok)
    if not pairs or n_tok == 0:
        return out
    used = sorted({k for p in pairs for k in p})
    if used[0] < 0 or used[-1] >= len(hidden) or len(unembed) != len(hidden):
        raise ValueError(f"pairs refer to checkpoints outside 0..{len(hidden) - 1} (or hidden/unembed lengths differ)")
    pos = {k: a for a, k in enumerate(used)}
    ws = [unembed[k].float() for k in used]
    bs = [None if bias is None or bias[k] is None else bias[k].float().to(ws[0].device) for k in used]
    dev, vocab = ws[0].device, ws[0].shape[0]
    if any(w.shape[0] != vocab for w in ws) or any(hidden[k].shape[0] != n_tok for k in used):
        raise ValueError("pairwise KL needs the same vocabulary and the same tokens for every checkpoint")
    ii = torch.tensor([pos[i] for i, _ in pairs])
    jj = torch.tensor([pos[j] for _, j in pairs])
    n_used = len(used)
    for t0 in range(0, n_tok, token_chunk):
        hs = [hidden[k][t0 : t0 + token_chunk].float().to(dev) for k in used]
        n = hs[0].shape[0]
        m = torch.full((n_used, n), -math.inf, device=dev)
        s = torch.zeros(n_used, n, device=dev)  # s[i] = sum e^(z_i - m_i)
        u = torch.zeros(n, n_used, n_used, device=dev)  # u[:, i, j] = sum e^(z_i - m_i) (z_j - m_j)
        for v0 in range(0, vocab, vocab_chunk):
            sl = slice(v0, v0 + vocab_chunk)
            z = torch.stack([_chunk_logits(h, w[sl], None if b is None else b[sl]) for h, w, b in zip(hs, ws, bs)])
            m_new = torch.maximum(m, z.amax(2))
            a = _rescale(m, m_new)
            shift = torch.where(torch.isfinite(m), m - m_new, torch.zeros_like(m))
            z.sub_(m_new[:, :, None])
            e = torch.exp(z)
            cross = torch.bmm(e.transpose(0, 1), z.permute(1, 2, 0))  # [n, i, j]
            # re-reference the running sums to the new maxima: e_i scales by a_i, z_j - m_j moves by shift_j
            u = a.T[:, :, None] * (u + s.T[:, :, None] * shift.T[:, None, :]) + cross
            s = a * s + e.sum(2)
            m = m_new
        log_s = torch.log(s)
        diag = torch.diagonal(u, dim1=1, dim2=2).T  # [S, n]
        # KL(i||j) = E_pi[z_i - z_j] - lse_i + lse_j; the maxima cancel between the two terms
        kl_ij = (diag[ii] - u[:, ii, jj].T) / s[ii] - log_s[ii] + log_s[jj]
        kl_ji = (diag[jj] - u[:, jj, ii].T) / s[jj] - log_s[jj] + log_s[ii]
        out[:, 0, t0 : t0 + n] = kl_ij.cpu()
        out[:, 1, t0 : t0 + n] = kl_ji.cpu()
    return out
