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
    """Per-token KL(a||b) and KL(b||a) recomputed from two models' final hidden states.

    Both models must share the vocabulary (same tokenizer). One pass over vocabulary chunks computes
    both logit chunks and the statistics of both directions.
    """
    wa, wb = unembed_a.float(), unembed_b.float()
    ba = bias_a.float() if bias_a is not None else None
    bb = bias_b.float() if bias_b is not None else None
    if wa.shape[0] != wb.shape[0] or hidden_a.shape[0] != hidden_b.shape[0]:
        raise ValueError("pairwise KL needs the same vocabulary and the same tokens for both models")
    vocab = wa.shape[0]
    kl_ab, kl_ba = [], []
    for t0 in range(0, hidden_a.shape[0], token_chunk):
        ha = hidden_a[t0 : t0 + token_chunk].float().to(wa.device)
        hb = hidden_b[t0 : t0 + token_chunk].float().to(wa.device)
        n = ha.shape[0]
        ma = torch.full((n,), -math.inf, device=wa.device)
        mb = torch.full((n,), -math.inf, device=wa.device)
        sa, sb, tab, tba = (torch.zeros(n, device=wa.device) for _ in range(4))
        for v0 in range(0, vocab, vocab_chunk):
            sl = slice(v0, v0 + vocab_chunk)
            za = _chunk_logits(ha, wa[sl], None if ba is None else ba[sl])
            zb = _chunk_logits(hb, wb[sl], None if bb is None else bb[sl])
            ma_new = torch.maximum(ma, za.max(1).values)
            mb_new = torch.maximum(mb, zb.max(1).values)
            aa, ab = _rescale(ma, ma_new), _rescale(mb, mb_new)
            ea = torch.exp(za - ma_new[:, None])
            eb = torch.exp(zb - mb_new[:, None])
            d = za - zb
            tab = aa * tab + (ea * d).sum(1)
            tba = ab * tba - (eb * d).sum(1)
            sa = aa * sa + ea.sum(1)
            sb = ab * sb + eb.sum(1)
            ma, mb = ma_new, mb_new
        lse_a = ma + torch.log(sa)
        lse_b = mb + torch.log(sb)
        kl_ab.append(tab / sa - lse_a + lse_b)
        kl_ba.append(tba / sb - lse_b + lse_a)
    if not kl_ab:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(kl_ab).cpu(), torch.cat(kl_ba).cpu()
