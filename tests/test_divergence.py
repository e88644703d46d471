"""Streaming float32 metrics against float64 numpy/scipy on random logits."""

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, rel_entr, softmax
from scipy.stats import entropy as scipy_entropy

from lmdyn.divergence.metrics import pairwise_kl, pairwise_kl_many, token_metrics


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


@pytest.mark.parametrize(
    "scale", [0.1, 1.0, 5.0]
)  # near-uniform to peaked (|logits| up to ~30, as in trained LMs)
@pytest.mark.parametrize("chunks", [(7, 13), (1000, 4096)])
def test_token_metrics_match_float64(rng, scale, chunks):
    n, d, v = 257, 24, 1000
    h = rng.normal(size=(n, d)) * scale
    w = rng.normal(size=(v, d)).astype(np.float32)
    y = rng.integers(0, v, n)
    counts = rng.zipf(1.3, size=v).clip(max=10**6)  # heavy-tailed like real token counts
    u = (counts + 0.5) / (counts + 0.5).sum()
    got = token_metrics(
        torch.tensor(h),
        torch.tensor(w),
        torch.tensor(y),
        torch.tensor(np.log(u)),
        vocab_chunk=chunks[1],
        token_chunk=chunks[0],
    )
    ref = reference(h.astype(np.float32), w, y, u)
    for k, r in ref.items():
        assert np.abs(got[k].numpy() - r).max() < 1e-4, k


def test_bias_is_included(rng):
    n, d, v = 50, 8, 300
    h, w, b = rng.normal(size=(n, d)), rng.normal(size=(v, d)), rng.normal(size=v) * 2
    y, u = rng.integers(0, v, n), np.full(v, 1.0 / v)
    got = token_metrics(
        torch.tensor(h),
        torch.tensor(w),
        torch.tensor(y),
        torch.tensor(np.log(u)),
        torch.tensor(b),
        vocab_chunk=64,
    )
    z = h @ w.T + b
    np.testing.assert_allclose(got["nll"].numpy(), -log_softmax(z, 1)[np.arange(n), y], atol=1e-4)


def test_metrics_do_not_depend_on_token_batching(rng):
    n, d, v = 300, 16, 500
    h, w = torch.tensor(rng.normal(size=(n, d)) * 4), torch.tensor(rng.normal(size=(v, d)))
    y, logu = torch.tensor(rng.integers(0, v, n)), torch.tensor(np.log(np.full(v, 1.0 / v)))
    a = token_metrics(h, w, y, logu, token_chunk=300)
    b = token_metrics(h.flip(0), w, y.flip(0), logu, token_chunk=17)
    for k in a:
        np.testing.assert_allclose(
            a[k].numpy(), b[k].flip(0).numpy(), atol=1e-5
        )  # float32 rounding only


@pytest.mark.parametrize("scale", [0.5, 5.0])
def test_pairwise_kl_matches_float64(rng, scale):
    n, d, v = 200, 12, 800
    ha, hb = rng.normal(size=(n, d)) * scale, rng.normal(size=(n, d)) * scale
    wa, wb = rng.normal(size=(v, d)), rng.normal(size=(v, d))
    kab, kba = pairwise_kl(
        torch.tensor(ha),
        torch.tensor(wa),
        torch.tensor(hb),
        torch.tensor(wb),
        vocab_chunk=99,
        token_chunk=33,
    )
    pa, pb = softmax(ha @ wa.T, 1), softmax(hb @ wb.T, 1)
    np.testing.assert_allclose(kab.numpy(), rel_entr(pa, pb).sum(1), atol=1e-4)
    np.testing.assert_allclose(kba.numpy(), rel_entr(pb, pa).sum(1), atol=1e-4)
    same, _ = pairwise_kl(torch.tensor(ha), torch.tensor(wa), torch.tensor(ha), torch.tensor(wa))
    assert np.abs(same.numpy()).max() < 1e-5


def test_memory_is_bounded_by_chunks(rng, monkeypatch):
    """No intermediate larger than token_chunk x vocab_chunk is ever built, whatever N is."""
    import lmdyn.divergence.metrics as div

    biggest = []
    real = div._chunk_logits

    def spy(h, w, b):
        z = real(h, w, b)
        biggest.append(z.numel())
        return z

    monkeypatch.setattr(div, "_chunk_logits", spy)
    n, d, v = 5000, 8, 3000
    token_metrics(
        torch.tensor(rng.normal(size=(n, d))),
        torch.tensor(rng.normal(size=(v, d))),
        torch.tensor(rng.integers(0, v, n)),
        torch.zeros(v),
        vocab_chunk=256,
        token_chunk=128,
    )
    assert max(biggest) <= 128 * 256


def _kl_reference(h, w, b, pairs):
    logp = [log_softmax(hi @ wi.T + (0 if bi is None else bi), 1) for hi, wi, bi in zip(h, w, b)]
    return np.stack(
        [
            [
                rel_entr(np.exp(logp[i]), np.exp(logp[j])).sum(1),
                rel_entr(np.exp(logp[j]), np.exp(logp[i])).sum(1),
            ]
            for i, j in pairs
        ]
    )


@pytest.mark.parametrize("scale", [0.5, 5.0])
@pytest.mark.parametrize("chunks", [(33, 99), (1000, 4096)])
def test_pairwise_kl_many_matches_float64(rng, scale, chunks):
    """Four checkpoints of different widths, some with a bias; checkpoint 1 in three pairs, 3 never used."""
    n, v, dims = 150, 700, [12, 8, 12, 5, 20]
    h = [rng.normal(size=(n, d)) * scale for d in dims]
    w = [rng.normal(size=(v, d)) for d in dims]
    b = [None, rng.normal(size=v) * 3, None, None, rng.normal(size=v)]
    pairs = [(0, 1), (1, 2), (4, 1), (2, 0), (4, 0)]
    got = pairwise_kl_many(
        [torch.tensor(x) for x in h],
        [torch.tensor(x) for x in w],
        pairs,
        [None if x is None else torch.tensor(x) for x in b],
        vocab_chunk=chunks[1],
        token_chunk=chunks[0],
    )
    assert got.shape == (len(pairs), 2, n) and got.dtype == torch.float32
    ref = _kl_reference(h, w, b, pairs)
    np.testing.assert_allclose(
        got.numpy(), ref, rtol=1e-5, atol=1e-4
    )  # KL up to ~150 here: float32 rounding
    assert ref.min() > 0.01  # distinct models: non-trivial KL in every direction


def test_pairwise_kl_many_large_logit_offset(rng):
    """GPT-2-like logits around -80 with a spread of ~30: no cancellation between lse and E[z]."""
    n, d, v = 100, 10, 600
    h = [rng.normal(size=(n, d)) * 3 for _ in range(3)]
    w = [rng.normal(size=(v, d)) for _ in range(3)]
    b = [np.full(v, -80.0), np.full(v, 40.0), rng.normal(size=v) - 80]
    pairs = [(0, 1), (0, 2), (1, 2)]
    got = pairwise_kl_many(
        [torch.tensor(x) for x in h],
        [torch.tensor(x) for x in w],
        pairs,
        [torch.tensor(x) for x in b],
        vocab_chunk=64,
        token_chunk=37,
    )
    np.testing.assert_allclose(got.numpy(), _kl_reference(h, w, b, pairs), atol=1e-4)


def test_pairwise_kl_many_equals_pairwise_kl_and_self_is_zero(rng):
    n, d, v = 120, 6, 400
    h = [torch.tensor(rng.normal(size=(n, d)) * 2) for _ in range(3)]
    w = [torch.tensor(rng.normal(size=(v, d))) for _ in range(3)]
    pairs = [(0, 1), (1, 2), (0, 2), (2, 2)]
    many = pairwise_kl_many(h, w, pairs, vocab_chunk=50, token_chunk=64)
    for p, (i, j) in enumerate(pairs[:3]):
        kab, kba = pairwise_kl(h[i], w[i], h[j], w[j], vocab_chunk=50, token_chunk=64)
        torch.testing.assert_close(
            many[p, 0], kab, rtol=1e-6, atol=1e-5
        )  # float reassociation only
        torch.testing.assert_close(many[p, 1], kba, rtol=1e-6, atol=1e-5)
    assert many[3].abs().max() < 1e-5
    assert many[:3].min() > 0.01


def test_pairwise_kl_many_does_not_depend_on_token_batching(rng):
    n, d, v = 200, 8, 300
    h = [torch.tensor(rng.normal(size=(n, d)) * 4) for _ in range(3)]
    w = [torch.tensor(rng.normal(size=(v, d))) for _ in range(3)]
    pairs = [(0, 1), (2, 1)]
    a = pairwise_kl_many(h, w, pairs, token_chunk=200)
    b = pairwise_kl_many([x.flip(0) for x in h], w, pairs, token_chunk=17, vocab_chunk=31)
    np.testing.assert_allclose(
        a.numpy(), b.flip(2).numpy(), rtol=2e-6, atol=1e-5
    )  # float32 rounding only


def test_pairwise_kl_many_rejects_mismatched_inputs(rng):
    h = [torch.zeros(5, 3), torch.zeros(4, 3)]
    w = [torch.zeros(10, 3), torch.zeros(10, 3)]
    with pytest.raises(ValueError):
        pairwise_kl_many(h, w, [(0, 1)])
    with pytest.raises(ValueError):
        pairwise_kl_many(h[:1] * 2, w, [(0, 2)])
    assert pairwise_kl_many(h, w, []).shape == (0, 2, 5)
