"""Layer geometry: norms and PCA against numpy, the layer classifier on planted data."""

from __future__ import annotations

import numpy as np
import pytest

from lmdyn.core.errors import UserError
from lmdyn.geometry import compute as geometry
from lmdyn.geometry import states as geostates


def planted(C=5, N=60, L=6, d=24, offset=1.0, seed=0, docs_per=3):
    """Gaussian noise (seeded by ``seed``) plus a fixed random offset per layer; documents of ``docs_per`` windows."""
    off = np.random.default_rng(777).standard_normal((C, 1, 1, d)) * offset
    rng = np.random.default_rng(seed)
    states = (rng.standard_normal((C, N, L, d)) + off).astype(np.float32)
    docs = np.arange(N) // docs_per
    return states, docs


def test_norms_and_pca_match_numpy():
    states, _ = planted()
    norms = geometry.layer_norms(states)
    ref = np.linalg.norm(states.astype(np.float64), axis=-1).reshape(states.shape[0], -1)
    np.testing.assert_allclose(norms.norm_min, ref.min(1), rtol=1e-6)
    np.testing.assert_allclose(norms.norm_mean, ref.mean(1), rtol=1e-6)
    np.testing.assert_allclose(norms.norm_max, ref.max(1), rtol=1e-6)
    assert list(norms.name[:2]) == ["embed", "block0"]
    pts, var = geometry.pca_by_layer(states, n_points=10, max_fit=10**9)
    X = states.reshape(-1, states.shape[-1]).astype(np.float64)
    ev = np.linalg.eigvalsh(np.cov(X.T))[::-1]
    raw = var[~var.normalised].explained_ratio.to_numpy()
    np.testing.assert_allclose(raw, (ev / ev.sum())[: len(raw)], rtol=1e-6)
    assert len(pts) == 2 * states.shape[0] * 10


def test_planted_layer_offset_is_recovered():
    states, docs = planted(offset=1.0)
    t_states, t_docs = planted(
        offset=1.0, N=30, L=4, seed=5
    )  # a "second corpus": same offsets, other noise
    out = geometry.layer_classifier(
        states, docs, transfer=(t_states, t_docs), lengths=[2, 4], n_boot=200
    )
    acc = out["accuracy"].set_index(["variant", "split", "n_tokens"])
    assert acc.loc[("raw", "document", 6), "accuracy"] > 0.98
    assert acc.loc[("raw", "vector", 6), "accuracy"] > 0.98
    assert acc.loc[("transfer", "corpus", 4), "accuracy"] > 0.98
    assert acc.loc[("length", "document", 2), "accuracy"] > 0.95
    r = acc.loc[("raw", "document", 6)]
    assert r.ci_low <= r.accuracy <= r.ci_high and r.chance == pytest.approx(0.2)
    # The control keeps each layer's norms but not the offset direction: chance inside its interval.
    c = acc.loc[("control", "document", 6)]
    assert c.ci_low <= 0.2 <= c.ci_high, c
    att = out["attribution"]
    assert att.share.sum() == pytest.approx(1.0) and att.cumulative_share.iloc[-1] == pytest.approx(
        1.0
    )
    assert (np.diff(att.share) <= 0).all()


def test_offset_only_in_norm_is_lost_when_normalised():
    """Layers that differ only by scale: raw accuracy high (via the planted mean), unit-normalised at chance."""
    rng = np.random.default_rng(3)
    C, N, L, d = 4, 60, 5, 16
    mean_dir = rng.standard_normal(d)
    scale = np.array([1.0, 3.0, 9.0, 27.0])[:, None, None, None]
    states = ((rng.standard_normal((C, N, L, d)) * 0.05 + mean_dir) * scale).astype(np.float32)
    out = geometry.layer_classifier(states, np.arange(N) // 2, n_boot=200)["accuracy"].set_index(
        "variant"
    )
    assert out.loc["raw"].query("split == 'document'").accuracy.iloc[0] > 0.95
    n = out.loc["normalised"]
    assert n.ci_low <= 0.25 <= n.ci_high


def test_document_split_never_shares_a_document():
    states, docs = planted(N=90, docs_per=7)
    _, _, g = geometry.flatten(states, docs)
    for seed in range(5):
        tr, te = geometry.document_split(g, 0.2, seed)
        assert not set(g[tr]) & set(g[te])
        assert len(tr) + len(te) == len(g)
    vtr, vte = geometry.vector_split(len(g), 0.2, 0)
    assert set(g[vtr]) & set(g[vte])  # the original's split does leak documents
    with pytest.raises(UserError, match="at least 2 documents"):
        geometry.document_split(np.zeros(10), 0.2, 0)


def test_select_windows_is_seeded_and_cut():
    windows = [np.arange(k) for k in (3, 10, 12, 8, 20)]
    ids, docs, take = geostates.select_windows(windows, [0, 0, 1, 1, 2], 3, 8, seed=1)
    assert ids.shape == (3, 8) and set(take) <= {1, 2, 3, 4}
    ids2, _, _ = geostates.select_windows(windows, [0, 0, 1, 1, 2], 3, 8, seed=1)
    np.testing.assert_array_equal(ids, ids2)
    with pytest.raises(UserError, match="n_tokens"):
        geostates.select_windows(windows, [0] * 5, 2, 50, seed=0)


def test_capture_and_collector_equal_transformers_hidden_states(tmp_path):
    """The embedding output and the block outputs before the final norm, against transformers' own
    hidden_states (whose last entry has the final norm applied)."""
    import torch
    from conftest import tiny_model

    from lmdyn.core.internals import Internals

    model = tiny_model("gpt2", vocab=97)
    ix = Internals(model, 97)
    g = torch.Generator().manual_seed(0)
    windows = [torch.randint(0, 97, (n,), generator=g).numpy() for n in (12, 12, 9, 12, 4, 12)]
    docs = [0, 0, 1, 2, 3, 3]
    states, sd = geostates.capture_states(
        ix, windows, docs, n_windows=4, n_tokens=8, seed=2, batch_size=3
    )
    ids, d2, take = geostates.select_windows(windows, docs, 4, 8, seed=2)
    np.testing.assert_array_equal(sd, d2)
    with torch.no_grad():
        hs = model(input_ids=torch.from_numpy(ids), output_hidden_states=True).hidden_states
    assert states.shape == (ix.n_layers + 1, 4, 8, ix.d_model)
    for c in range(ix.n_layers):
        np.testing.assert_allclose(states[c], hs[c].numpy(), atol=1e-5)
    last = ix.ln_final(torch.from_numpy(states[-1])).numpy()
    np.testing.assert_allclose(last, hs[-1].numpy(), atol=1e-5)
    # the collector inside a pass over full windows, batched in another order, gives the same states
    col = geostates.StateCollector(ix.n_layers, windows, docs, 4, 8, seed=2)
    for batch in ([5, 3], [1, 0], [2], [4]):
        ws = [windows[i] for i in batch]
        if len({len(w) for w in ws}) > 1 or not col.wants(batch):
            continue
        _, cache = ix.run(torch.from_numpy(np.stack(ws)), names=col.names)
        col.add(batch, cache)
    col.save(tmp_path / "s.npz")
    s2, d3 = geostates.load_states(tmp_path / "s.npz")
    np.testing.assert_allclose(s2, states, atol=1e-6)
    np.testing.assert_array_equal(d3, sd)


@pytest.mark.parametrize("arch", ["gpt_neox", "gpt2"])
def test_layer_states_task_equals_capture_states(tmp_path, arch):
    """The states the engine captures in its forward pass (the layers task: batches of
    equal-length windows in its own order, only those holding a sampled window) equal a separate
    capture of the same seeded sample."""
    from conftest import run_engine, tiny_model
    from test_evaluate import VOCAB, token_table

    from lmdyn.core.checkpoints import load_model
    from lmdyn.core.internals import Internals
    from lmdyn.core.registry import Checkpoint, encode
    from lmdyn.geometry.task import LayerStates

    model = tiny_model(arch, VOCAB)
    model.save_pretrained(tmp_path / "step3")
    rng = np.random.default_rng(5)
    tokens = token_table(rng, [20, 20, 20, 20, 20])
    transfer = token_table(
        np.random.default_rng(6), [30, 12, 24, 9, 30]
    )  # windows of 24, 6, 12, 24, 9, 24, 6
    transfer.to_parquet(tmp_path / "transfer.parquet")
    opts = {"n_windows": 4, "n_tokens": 6, "seed": 1}
    ref = encode(Checkpoint("s", "m", 0, 3, None, None, str(tmp_path / "step3")))
    task = LayerStates(opts, {"transfer": tmp_path / "transfer.parquet"})
    status, entries = run_engine(tmp_path / "store", [ref], [task], tokens, batch_size=3)
    assert list(status.status) == ["ok"]
    states_file = entries[3]["layers"] / "states.npz"
    states, docs = geostates.load_states(states_file)
    groups = tokens.groupby(["doc_id", "window"], sort=False)
    windows = [g.token_id.to_numpy() for _, g in groups]
    wdocs = [k[0] for k in groups.size().index]
    ref_states, ref_docs = geostates.capture_states(
        Internals(model, VOCAB), windows, wdocs, 4, 6, seed=1
    )
    assert (
        states.shape
        == ref_states.shape
        == (model.config.num_hidden_layers + 1, 4, 6, model.config.hidden_size)
    )
    np.testing.assert_allclose(states, ref_states, atol=1e-5)
    np.testing.assert_array_equal(docs, ref_docs)
    # the transfer corpus' states, captured in the same job on the loaded model, equal geometry_run's
    # former capture on a separately loaded one (same sample, same seed)
    tgroups = transfer.groupby(["doc_id", "window"], sort=False)
    twindows = [g.token_id.to_numpy() for _, g in tgroups]
    tdocs = [k[0] for k in tgroups.size().index]
    ref_tr = geostates.capture_states(
        Internals(load_model(tmp_path / "step3"), VOCAB), twindows, tdocs, 4, 6, seed=1
    )
    tr_states, tr_docs = geostates.load_transfer(states_file)
    assert tr_states.shape == ref_tr[0].shape
    np.testing.assert_allclose(tr_states, ref_tr[0], atol=1e-6)
    np.testing.assert_array_equal(tr_docs, ref_tr[1])
    geostates.save_states(tmp_path / "none.npz", states, docs)  # no transfer corpus configured
    assert geostates.load_transfer(tmp_path / "none.npz") is None
