"""Streaming float32 metrics against float64 numpy/scipy on random logits."""

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, rel_entr, softmax
from scipy.stats import entropy as scipy_entropy

from lmdyn.divergence import pairwise_kl, token_metrics


def reference(h, w, y, u):
    z = h.astype(np.float64) @ w.astype(np.float64).T
    lp = log_softmax(z, axis=1)
    p = softmax(z, axis=1)
    H = scipy_entropy(p, axis=1)
    return {
        "nll": -lp[np.arange(len(y)), y],
        "entropy": H,
        "kl_uniform": rel_entr(p, 1.0 / w.shape[0]).sum(1),
        "kl_unigram": rel_entr(p, u[None, :]).sum(1),
    }


@pytest.mark.parametrize("scale", [0.1, 1.0, 5.0])  # near-uniform to peaked (|logits| up to ~30, as in trained LMs)
@pytest.mark.parametrize("chunks", [(7, 13), (1000, 4096)])
def test_token_metrics_match_float64(rng, scale, chunks):
    n, d, v = 257, 24, 1000
    h = rng.normal(size=(n, d)) * scale
    w = rng.normal(size=(v, d)).astype(np.float32)
    y = rng.integers(0, v, n)
    counts = rng.zipf(1.3, size=v).clip(max=10**6)  # heavy-tailed like real token counts
    u = (counts + 0.5) / (counts + 0.5).sum()
    got = token_metrics(torch.tensor(h), torch.tensor(w), torch.tensor(y), torch.tensor(np.log(u)),
                        vocab_chunk=chunks[1], token_chunk=chunks[0])
    ref = reference(h.astype(np.float32), w, y, u)
    for k, r in ref.items():
        assert np.abs(got[k].numpy() - r).max() < 1e-4, k


def test_bias_is_included(rng):
    n, d, v = 50, 8, 300
    h, w, b = rng.normal(size=(n, d)), rng.normal(size=(v, d)), rng.normal(size=v) * 2
    y, u = rng.integers(0, v, n), np.full(v, 1.0 / v)
    got = token_metrics(torch.tensor(h), torch.tensor(w), torch.tensor(y), torch.tensor(np.log(u)), torch.tensor(b),
                        vocab_chunk=64)
    z = h @ w.T + b
    np.testing.assert_allclose(got["nll"].numpy(), -log_softmax(z, 1)[np.arange(n), y], atol=1e-4)


def test_metrics_do_not_depend_on_token_batching(rng):
    n, d, v = 300, 16, 500
    h, w = torch.tensor(rng.normal(size=(n, d)) * 4), torch.tensor(rng.normal(size=(v, d)))
    y, logu = torch.tensor(rng.integers(0, v, n)), torch.tensor(np.log(np.full(v, 1.0 / v)))
    a = token_metrics(h, w, y, logu, token_chunk=300)
    b = token_metrics(h.flip(0), w, y.flip(0), logu, token_chunk=17)
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].flip(0).numpy(), atol=1e-5)  # float32 rounding only


@pytest.mark.parametrize("scale", [0.5, 5.0])
def test_pairwise_kl_matches_float64(rng, scale):
    n, d, v = 200, 12, 800
    ha, hb = rng.normal(size=(n, d)) * scale, rng.normal(size=(n, d)) * scale
    wa, wb = rng.normal(size=(v, d)), rng.normal(size=(v, d))
    kab, kba = pairwise_kl(torch.tensor(ha), torch.tensor(wa), torch.tensor(hb), torch.tensor(wb), vocab_chunk=99,
                           token_chunk=33)
    pa, pb = softmax(ha @ wa.T, 1), softmax(hb @ wb.T, 1)
    np.testing.assert_allclose(kab.numpy(), rel_entr(pa, pb).sum(1), atol=1e-4)
    np.testing.assert_allclose(kba.numpy(), rel_entr(pb, pa).sum(1), atol=1e-4)
    same, _ = pairwise_kl(torch.tensor(ha), torch.tensor(wa), torch.tensor(ha), torch.tensor(wa))
    assert np.abs(same.numpy()).max() < 1e-5


def test_memory_is_bounded_by_chunks(rng, monkeypatch):
    """No intermediate larger than token_chunk x vocab_chunk is ever built, whatever N is."""
    import lmdyn.divergence as div

    biggest = []
    real = div._chunk_logits

    def spy(h, w, b):
        z = real(h, w, b)
        biggest.append(z.numel())
        return z

    monkeypatch.setattr(div, "_chunk_logits", spy)
    n, d, v = 5000, 8, 3000
    token_metrics(torch.tensor(rng.normal(size=(n, d))), torch.tensor(rng.normal(size=(v, d))),
                  torch.tensor(rng.integers(0, v, n)), torch.zeros(v), vocab_chunk=256, token_chunk=128)
    assert max(biggest) <= 128 * 256
