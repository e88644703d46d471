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

Speed: the elementwise work per logit is one subtraction (in place), one exp2 and reads folded into
matrix products, so a pass costs little more than its GEMM. The hidden states are scaled by log2(e)
once per token chunk, which turns the logits into base-2 units for free and lets the pass use exp2
(about three times cheaper than exp on CPU); sums are converted back to nats at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

METRICS = ("nll", "entropy", "kl_uniform", "kl_unigram")
VOCAB_CHUNK = 2048
TOKEN_CHUNK = 1024
LOG2E = 1.0 / math.log(2.0)
LN2 = math.log(2.0)


def _rescale(m_old: torch.Tensor, m_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Factor 2^(m_old - m_new) for sums referenced to m_old, and the shift m_old - m_new of centred logits.

    Both are 0 for the first chunk (m_old = -inf): avoids nan from (-inf) - (-inf).
    """
    first = ~torch.isfinite(m_old)
    shift = torch.where(first, torch.zeros_like(m_old), m_old - m_new)
    return torch.where(first, torch.zeros_like(m_old), torch.exp2(shift)), shift


def _chunk_logits(
    h: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, out: torch.Tensor | None = None
):
    z = torch.mm(h, w.T, out=out) if out is not None else h @ w.T
    return z.add_(bias) if bias is not None else z


def token_metrics(
    hidden: torch.Tensor,
    unembed: torch.Tensor,
    targets: torch.Tensor,
    log_unigram: torch.Tensor,
    bias: torch.Tensor | None = None,
    vocab_chunk: int = VOCAB_CHUNK,
    token_chunk: int = TOKEN_CHUNK,
) -> dict[str, torch.Tensor]:
    """Per-token nll, entropy, kl_uniform and kl_unigram.

    hidden [N, d] final hidden states (after the final layer norm); unembed [V, d] already sliced to the
    tokenizer's vocabulary; targets [N] token ids; log_unigram [V]. Everything is cast to float32.
    Returns float32 tensors of shape [N] on the CPU. Memory: two token_chunk x vocab_chunk arrays.
    """
    w = unembed.float()
    dev = w.device
    b = bias.float().to(dev) if bias is not None else None
    b2 = b * LOG2E if b is not None else None
    logu = log_unigram.float().to(dev)
    vocab = w.shape[0]
    if logu.shape[0] != vocab:
        raise ValueError(f"unigram has {logu.shape[0]} entries, unembedding has {vocab} rows")
    out = {k: [] for k in METRICS}
    for t0 in range(0, hidden.shape[0], token_chunk):
        h = hidden[t0 : t0 + token_chunk].float().to(dev)
        y = targets[t0 : t0 + token_chunk].to(dev)
        n = h.shape[0]
        h2 = h * LOG2E  # base-2 logits straight from the GEMM
        ebuf = torch.empty(n * min(vocab_chunk, vocab), device=dev)
        m = torch.full((n,), -math.inf, device=dev)  # running max of base-2 logits
        s = torch.zeros(n, device=dev)  # sum e, e = 2^(z2 - m)
        t = torch.zeros(n, device=dev)  # sum e (z2 - m)
        r = torch.zeros(n, device=dev)  # sum e log u
        for v0 in range(0, vocab, vocab_chunk):
            sl = slice(v0, v0 + vocab_chunk)
            k = min(vocab_chunk, vocab - v0)
            z = _chunk_logits(h2, w[sl], None if b2 is None else b2[sl])
            m_new = torch.maximum(m, z.amax(1))
            a, shift = _rescale(m, m_new)
            z.sub_(m_new[:, None])
            e = torch.exp2(z, out=ebuf[: n * k].view(n, k))
            t = a * (t + shift * s) + torch.linalg.vecdot(e, z)
            s = a * s + e.sum(1)
            r = a * r + e @ logu[sl]
            m = m_new
        log_s = torch.log(s)
        lse = m * LN2 + log_s
        z_y = (h * w[y]).sum(1) + (b[y] if b is not None else 0.0)
        entropy = log_s - LN2 * t / s
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
    vocab_chunk: int = VOCAB_CHUNK,
    token_chunk: int = TOKEN_CHUNK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token KL(a||b) and KL(b||a) recomputed from two models' final hidden states (one pair of
    :func:`pairwise_kl_many`)."""
    if hidden_a.shape[0] != hidden_b.shape[0]:
        raise ValueError(
            "pairwise KL needs the same vocabulary and the same tokens for both models"
        )
    out = pairwise_kl_many(
        [hidden_a, hidden_b],
        [unembed_a, unembed_b],
        [(0, 1)],
        [bias_a, bias_b],
        vocab_chunk,
        token_chunk,
    )
    return out[0, 0], out[0, 1]


def pairwise_kl_many(
    hidden: Sequence[torch.Tensor],
    unembed: Sequence[torch.Tensor],
    pairs: Sequence[tuple[int, int]],
    bias: Sequence[torch.Tensor | None] | None = None,
    vocab_chunk: int = VOCAB_CHUNK,
    token_chunk: int = TOKEN_CHUNK,
) -> torch.Tensor:
    """Per-token KL in both directions for every pair of checkpoints, from their final hidden states.

    hidden[i] [N, d_i] and unembed[i] [V, d_i] (and bias[i] [V] or None) describe checkpoint i; all share
    the tokens and the vocabulary. Returns float32 [len(pairs), 2, N] on the CPU with out[p, 0] =
    KL(i || j) and out[p, 1] = KL(j || i) for pairs[p] = (i, j). Each involved checkpoint's logit chunk is
    computed once per (token chunk, vocab chunk) whatever the number of pairs it is in; the cross sums
    sum_v e_i (z_j - m_j) of all checkpoints come from one batched matmul per chunk. Memory: two
    buffers of S x token_chunk x vocab_chunk floats, S the number of checkpoints named in pairs.
    """
    pairs = [(int(i), int(j)) for i, j in pairs]
    n_tok = hidden[0].shape[0] if len(hidden) else 0
    out = torch.zeros(len(pairs), 2, n_tok)
    if not pairs or n_tok == 0:
        return out
    used = sorted({k for p in pairs for k in p})
    if used[0] < 0 or used[-1] >= len(hidden) or len(unembed) != len(hidden):
        raise ValueError(
            f"pairs refer to checkpoints outside 0..{len(hidden) - 1} (or hidden/unembed lengths differ)"
        )
    pos = {k: a for a, k in enumerate(used)}
    ws = [unembed[k].float() for k in used]
    dev, vocab = ws[0].device, ws[0].shape[0]
    b2 = [
        None if bias is None or bias[k] is None else bias[k].float().to(dev) * LOG2E for k in used
    ]
    if any(w.shape[0] != vocab for w in ws) or any(hidden[k].shape[0] != n_tok for k in used):
        raise ValueError(
            "pairwise KL needs the same vocabulary and the same tokens for every checkpoint"
        )
    ii = torch.tensor([pos[i] for i, _ in pairs], device=dev)
    jj = torch.tensor([pos[j] for _, j in pairs], device=dev)
    for t0 in range(0, n_tok, token_chunk):
        hs = [hidden[k][t0 : t0 + token_chunk].float().to(dev) * LOG2E for k in used]
        n = hs[0].shape[0]
        s, u = _cross_sums(hs, ws, b2, vocab_chunk)
        log_s = torch.log(s)
        diag = torch.diagonal(u, dim1=1, dim2=2)  # [n, S]
        # KL(i||j) = E_pi[z_i - z_j] - lse_i + lse_j; the maxima cancel between the two terms
        kl_ij = LN2 * (diag[:, ii] - u[:, ii, jj]) / s[:, ii] - log_s[:, ii] + log_s[:, jj]
        kl_ji = LN2 * (diag[:, jj] - u[:, jj, ii]) / s[:, jj] - log_s[:, jj] + log_s[:, ii]
        out[:, 0, t0 : t0 + n] = kl_ij.T.cpu()
        out[:, 1, t0 : t0 + n] = kl_ji.T.cpu()
    return out


def _cross_sums(hs, ws, b2, vocab_chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Over the vocabulary, for one token chunk of S checkpoints' base-2 hidden states: s[:, i] = sum
    e_i and u[:, i, j] = sum e_i (z_j - m_j), with e_i = 2^(z_i - m_i) and m_i the maximum logit."""
    n, n_used = hs[0].shape[0], len(hs)
    dev, vocab = ws[0].device, ws[0].shape[0]
    zbuf = torch.empty(n * n_used * min(vocab_chunk, vocab), device=dev)
    ebuf = torch.empty_like(zbuf)
    m = torch.full((n, n_used), -math.inf, device=dev)  # running max of base-2 logits
    s = torch.zeros(n, n_used, device=dev)
    u = torch.zeros(n, n_used, n_used, device=dev)
    for v0 in range(0, vocab, vocab_chunk):
        sl = slice(v0, v0 + vocab_chunk)
        k = min(vocab_chunk, vocab - v0)
        z = zbuf[: n * n_used * k].view(n, n_used, k)
        for c, (h, w, b) in enumerate(zip(hs, ws, b2)):
            _chunk_logits(h, w[sl], None if b is None else b[sl], z[:, c])
        m_new = torch.maximum(m, z.amax(2))
        a, shift = _rescale(m, m_new)
        z.sub_(m_new[:, :, None])
        e = torch.exp2(z, out=ebuf[: n * n_used * k].view(n, n_used, k))
        cross = torch.bmm(z, e.transpose(1, 2)).transpose(1, 2)  # [n, i, j]
        # re-reference the running sums to the new maxima: e_i scales by a_i, z_j - m_j moves by shift_j
        u = a[:, :, None] * (u + s[:, :, None] * shift[:, None, :]) + cross
        s = a * s + e.sum(2)
        m = m_new
    return s, u
