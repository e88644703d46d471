"""Token neurons: congruence scan against the materialised matrix, exclusive pairs, planted neurons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lmdyn import neurons
from lmdyn.errors import UserError


def _brute(Ws, W_U, center=True):
    W_U = W_U.double()
    if center:
        W_U = W_U - W_U.mean(0)
    return torch.cat([w.double() for w in Ws]) @ W_U.T  # [L*N, V]


@pytest.mark.parametrize("chunk", [5, 7, 1000])
def test_congruence_scan_equals_materialised(chunk):
    g = torch.Generator().manual_seed(0)
    Ws = [torch.randn(11, 6, generator=g) for _ in range(3)]
    W_U = torch.randn(23, 6, generator=g)
    scan = neurons.congruence_scan(lambda l: Ws[l], 3, W_U, targets=[4, 9], vocab_chunk=chunk)
    M = _brute(Ws, W_U).numpy()
    srt = np.sort(M, 1)[:, ::-1]
    np.testing.assert_allclose(scan["neuron_top"], srt[:, :2], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(scan["neuron_top_token"][:, 0], M.argmax(1))
    srt0 = np.sort(M, 0)[::-1]
    np.testing.assert_allclose(scan["token_top"], srt0[:2].T, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(scan["token_top_neuron"][:, 0], M.argmax(0))
    np.testing.assert_allclose(scan["targets"], M[:, [4, 9]], rtol=1e-5, atol=1e-5)
    # exclusive pairs by brute force
    pairs = neurons.exclusive_pairs(scan, top=1000)
    ref = []
    for t in range(M.shape[1]):
        n = M[:, t].argmax()
        if M[n].argmax() == t:
            ref.append((n, t, (srt0[0, t] - srt0[1, t]) * (srt[n, 0] - srt[n, 1])))
    ref.sort(key=lambda r: -r[2])
    got = list(zip(pairs.layer * 11 + pairs.neuron, pairs.token_id))
    assert got == [(n, t) for n, t, _ in ref]
    np.testing.assert_allclose(pairs.score, [s for _, _, s in ref], rtol=1e-4)


def test_planted_neuron_is_the_tokens_exclusive_pair():
    g = torch.Generator().manual_seed(1)
    L, N, d, V = 4, 64, 16, 200
    Ws = [torch.randn(N, d, generator=g) * 0.05 for _ in range(L)]
    W_U = torch.randn(V, d, generator=g)
    token, layer, neuron = 37, 2, 13
    Ws[layer][neuron] = (W_U[token] - W_U.mean(0)) * 0.5
    scan = neurons.congruence_scan(lambda l: Ws[l], L, W_U, targets=[token], vocab_chunk=64)
    assert scan["token_top_neuron"][token, 0] == layer * N + neuron
    top = neurons.exclusive_pairs(scan, top=20)
    assert (top.iloc[0].layer, top.iloc[0].neuron, top.iloc[0].token_id) == (layer, neuron, token)
    assert scan["targets"][:, 0].argmax() == layer * N + neuron
