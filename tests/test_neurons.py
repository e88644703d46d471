"""Token neurons: congruence scan against the materialised matrix, exclusive pairs, planted neurons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lmdyn.core.errors import UserError
from lmdyn.neurons import TABLES
from lmdyn.neurons.activation import activation_vs_prediction
from lmdyn.neurons.checkpoint import checkpoint_tables
from lmdyn.neurons.congruence import congruence_scan, exclusive_pairs, neuron_token_congruence
from lmdyn.neurons.lens import logit_lens
from lmdyn.neurons.patching import full_patch, layer_patching, neuron_patching
from lmdyn.neurons.prompts import encode_pair, logit_diff, prompt_summary, target_id


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
    scan = congruence_scan(lambda l: Ws[l], 3, W_U, targets=[4, 9], vocab_chunk=chunk)
    M = _brute(Ws, W_U).numpy()
    srt = np.sort(M, 1)[:, ::-1]
    np.testing.assert_allclose(scan["neuron_top"], srt[:, :2], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(scan["neuron_top_token"][:, 0], M.argmax(1))
    srt0 = np.sort(M, 0)[::-1]
    np.testing.assert_allclose(scan["token_top"], srt0[:2].T, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(scan["token_top_neuron"][:, 0], M.argmax(0))
    np.testing.assert_allclose(scan["targets"], M[:, [4, 9]], rtol=1e-5, atol=1e-5)
    # exclusive pairs by brute force
    pairs = exclusive_pairs(scan, top=1000)
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
    scan = congruence_scan(lambda l: Ws[l], L, W_U, targets=[token], vocab_chunk=64)
    assert scan["token_top_neuron"][token, 0] == layer * N + neuron
    top = exclusive_pairs(scan, top=20)
    assert (top.iloc[0].layer, top.iloc[0].neuron, top.iloc[0].token_id) == (layer, neuron, token)
    assert scan["targets"][:, 0].argmax() == layer * N + neuron


# ---- against TransformerLens on tiny GPT-2 and GPT-NeoX models ---------------------------------

from test_internals import VOCAB, bridge_of, build  # noqa: E402  (same tiny models and bridge as the internals tests)

A, B = 3, 4


def prompts(seed=1, T=7):
    clean = torch.randint(0, VOCAB, (1, T), generator=torch.Generator().manual_seed(seed))
    corr = clean.clone()
    corr[0, 2] = (corr[0, 2] + 5) % VOCAB
    return clean, corr


@pytest.mark.parametrize("arch", ["gpt2", "gpt_neox"])
def test_logit_lens_and_layer_patching_equal_transformerlens(arch, tokenizer):
    from transformer_lens import patching

    from lmdyn.core.internals import Internals

    model = build(arch)
    ix = Internals(model, VOCAB)
    br = bridge_of(model, tokenizer)
    clean, corr = prompts()
    W = (br.W_U[:, A] - br.W_U[:, B]).detach()
    bu = 0.0 if getattr(br, "b_U", None) is None else float(br.b_U[A] - br.b_U[B])
    with torch.no_grad():
        _, cache = br.run_with_cache(clean)
        per_layer = cache.accumulated_resid(apply_ln=True, pos_slice=-1)[:, 0] @ W + bu
        stack = cache.accumulated_resid(apply_ln=False, pos_slice=-1)
        final_scale = cache.apply_ln_to_stack(stack, layer=-1, pos_slice=-1)[:, 0] @ W + bu
    lens = logit_lens(ix, clean, A, B)
    np.testing.assert_allclose(lens.logit_diff, per_layer.numpy(), atol=1e-4)
    fs = logit_lens(ix, clean, A, B, mode="final_scale", model=model)
    np.testing.assert_allclose(fs.logit_diff, final_scale.numpy(), atol=1e-4)
    # the last layer is the model's own logit difference in both modes
    real = float(logit_diff(ix.run(clean)[0], A, B)[0])
    assert lens.logit_diff.iloc[-1] == pytest.approx(real, abs=1e-4) == fs.logit_diff.iloc[-1]

    def metric(lg):
        return lg[0, -1, A] - lg[0, -1, B]

    # batch < positions: several chunks; min_gap 0: a random model's gap is small
    ours = layer_patching(ix, clean, corr, A, B, batch=3, min_gap=0)
    for comp, fn in (
        ("resid_pre", patching.get_act_patch_resid_pre),
        ("attn_out", patching.get_act_patch_attn_out),
        ("mlp_out", patching.get_act_patch_mlp_out),
    ):
        ref = fn(br, corr, cache, metric).detach().numpy()  # [layer, pos] patched logit difference
        got = (
            ours[ours.component == comp]
            .pivot(index="layer", columns="position", values="logit_diff")
            .to_numpy()
        )
        np.testing.assert_allclose(got, ref, atol=1e-4, err_msg=comp)
    s = prompt_summary(ix, clean, corr, A, B)
    np.testing.assert_allclose(
        ours.restored,
        (ours.logit_diff - s["logit_diff_corrupted"])
        / (s["logit_diff_clean"] - s["logit_diff_corrupted"]),
        atol=1e-6,
    )

    # one neuron set to its clean value at all positions, against a TransformerLens hook
    _, ccache = ix.run(clean, names=["blocks.1.mlp.hook_post"])
    src = ccache["blocks.1.mlp.hook_post"]

    def hook(v, hook):
        v = v.clone()
        v[..., 5] = src[..., 5]
        return v

    with torch.no_grad():
        tl = float(metric(br.run_with_hooks(corr, fwd_hooks=[("blocks.1.mlp.hook_post", hook)])))
    npatch = neuron_patching(ix, clean, corr, A, B, layers=[1], batch=7)
    assert npatch.query("layer == 1 and neuron == 5").logit_diff.iloc[0] == pytest.approx(
        tl, abs=1e-4
    )
    assert len(npatch) == ix.d_mlp + 1


@pytest.mark.parametrize("arch", ["gpt2", "gpt_neox"])
def test_full_patches_restore_exactly_one(arch):
    from lmdyn.core.internals import Internals

    ix = Internals(build(arch), VOCAB)
    clean, corr = prompts(seed=3)
    for l in range(ix.n_layers):
        # the whole clean residual stream entering (or leaving) any layer: the clean run itself
        for h in ("hook_resid_pre", "hook_resid_post"):
            got = full_patch(ix, clean, corr, A, B, [f"blocks.{l}.{h}"], min_gap=0)
            assert got == pytest.approx(1, abs=1e-5)
    every = [
        f"blocks.{l}.{h}" for l in range(ix.n_layers) for h in ("hook_attn_out", "hook_mlp_out")
    ]
    got = full_patch(ix, clean, corr, A, B, ["hook_embed"] + every, min_gap=0)
    assert got == pytest.approx(1, abs=1e-5)
    # patching nothing restores nothing
    lp = layer_patching(ix, corr, corr, A, B)
    assert (
        lp.restored.isna().all()
    )  # clean == corrupted: the normalisation is undefined, not a number


def test_planted_neuron_in_a_model():
    from lmdyn.core.internals import Internals

    model = build("gpt2")
    ix = Internals(model, VOCAB)
    token, layer, neuron = 42, 1, 9
    W_U = ix.W_U
    with (
        torch.no_grad()
    ):  # GPT-2 Conv1D c_proj weight is [d_mlp, d]: row = the neuron's output direction
        model.base_model.h[layer].mlp.c_proj.weight[neuron] = (W_U[token] - W_U.mean(0)) * 3.0
    ix = Internals(model, VOCAB)
    scan = congruence_scan(ix.W_out, ix.n_layers, ix.W_U, targets=[token], vocab_chunk=16)
    assert scan["token_top_neuron"][token, 0] == layer * ix.d_mlp + neuron
    pairs = exclusive_pairs(scan)
    assert ((pairs.layer == layer) & (pairs.neuron == neuron) & (pairs.token_id == token)).iloc[0]
    cong = neuron_token_congruence(ix, layer, neuron)
    assert cong.argmax() == token


def test_activation_vs_prediction_counts():
    from lmdyn.core.internals import Internals

    ix = Internals(build("gpt_neox"), VOCAB)
    g = torch.Generator().manual_seed(0)
    windows = [torch.randint(0, VOCAB, (n,), generator=g).numpy() for n in (9, 9, 9, 5)]
    top = ix.run(torch.from_numpy(np.stack(windows[:3])))[0].argmax(-1)
    token = int(top.flatten().mode().values)
    tab = activation_vs_prediction(ix, windows, [(1, 3, token)], n_bins=4, batch_size=2)
    assert tab["count"].sum() == 9 * 3 + 5
    acts, hits = [], []
    for w in windows:
        lg, c = ix.run(torch.from_numpy(w)[None], names=["blocks.1.mlp.hook_post"])
        acts.append(c["blocks.1.mlp.hook_post"][0, :, 3].numpy())
        hits.append((lg[0].argmax(-1) == token).numpy())
    a, h = np.concatenate(acts), np.concatenate(hits)
    edges = np.linspace(a.min(), a.max(), 5)
    b = np.clip(np.digitize(a, edges) - 1, 0, 3)
    np.testing.assert_array_equal(tab["count"], np.bincount(b, minlength=4))
    want = np.array([h[b == k].mean() if (b == k).any() else np.nan for k in range(4)])
    np.testing.assert_allclose(tab.top1_share, want)
    np.testing.assert_array_equal(tab.hits, np.bincount(b, weights=h, minlength=4))
    assert not tab.no_hit.any()
    # a token that is never the top-1 prediction: flagged, not a curve of zeros
    seen = {int(v) for w in windows for v in ix.run(torch.from_numpy(w)[None])[0][0].argmax(-1)}
    never = min(set(range(VOCAB)) - seen)
    flat = activation_vs_prediction(ix, windows, [(1, 3, never)], n_bins=4, batch_size=2)
    assert flat.no_hit.all() and (flat.hits == 0).all() and flat["count"].sum() == 9 * 3 + 5


@pytest.mark.parametrize("arch", ["gpt2", "gpt_neox"])
def test_restored_is_undefined_where_clean_and_corrupted_are_close(arch, tokenizer):
    """Below min_gap every normalised value is NA with small_gap set, and no top neuron is chosen;
    at or above it, the values are the ratio itself."""
    from lmdyn.core.internals import Internals

    ix = Internals(build(arch), VOCAB)
    clean, corr = prompts()
    s = prompt_summary(ix, clean, corr, A, B)
    gap = abs(s["logit_diff_clean"] - s["logit_diff_corrupted"])
    assert gap > 1e-3
    for fn, kw in ((layer_patching, {}), (neuron_patching, {"layers": [1]})):
        off = fn(ix, clean, corr, A, B, min_gap=gap * 1.01, **kw)
        assert off.restored.isna().all() and off.small_gap.all()
        on = fn(ix, clean, corr, A, B, min_gap=gap * 0.99, **kw)
        assert not on.small_gap.any()
        np.testing.assert_allclose(
            on.restored,
            (on.logit_diff - s["logit_diff_corrupted"])
            / (s["logit_diff_clean"] - s["logit_diff_corrupted"]),
            atol=1e-6,
        )
        np.testing.assert_allclose(off.logit_diff, on.logit_diff)  # only the ratio is withheld
    assert np.isnan(full_patch(ix, clean, corr, A, B, ["hook_embed"], min_gap=gap * 1.01))

    windows = [np.arange(10) % VOCAB]
    p = [{"name": "p1", "clean": "t5 t6 t7 t8", "corrupted": "t5 t9 t7 t8"}]

    def tables(min_gap):
        return checkpoint_tables(
            3, ix, tokenizer, p, ["t3", "t4"], False, windows, top_pairs=2, min_gap=min_gap
        )

    t0 = tables(0)
    s0 = t0["summary"].iloc[0]
    g = abs(s0.logit_diff_clean - s0.logit_diff_corrupted)
    t = tables(g * 1.01)
    assert t["summary"].small_gap.all() and not t0["summary"].small_gap.any()
    assert t["top_neuron"].empty and t["outliers"].empty and len(t0["top_neuron"]) == 1
    assert t["top_neuron"].dtypes.to_dict() == t0["top_neuron"].dtypes.to_dict()  # typed, if empty
    assert not t["activation"].source.str.startswith("top patched").any()
    assert t0["activation"].source.str.startswith("top patched").any()


def test_target_must_be_one_token(tokenizer):
    assert target_id(tokenizer, "p", "t7") == 7
    with pytest.raises(
        UserError, match=r"target 't7 t8' of prompt 'pears' is not a single token.*\['t7', 't8'\]"
    ):
        target_id(tokenizer, "pears", "t7 t8")
    with pytest.raises(UserError, match="equal lengths"):
        encode_pair(tokenizer, "p", "t1 t2 t3", "t1 t2", prepend_bos=False)
    a, _ = encode_pair(tokenizer, "p", "t5 t6", "t5 t7", prepend_bos=True)
    assert a.tolist() == [[0, 5, 6]]


def test_checkpoint_tables_are_consistent(tokenizer):
    from lmdyn.core.internals import Internals

    ix = Internals(build("gpt2"), VOCAB)
    windows = [np.arange(10) % VOCAB, (np.arange(10) * 7) % VOCAB]
    prompts = [{"name": "p1", "clean": "t5 t6 t7 t8", "corrupted": "t5 t9 t7 t8"}]
    t = checkpoint_tables(
        3,
        ix,
        tokenizer,
        prompts,
        ["t3", "t4"],
        False,
        windows,
        top_pairs=5,
        n_activation_pairs=2,
        n_bins=4,
        min_gap=0,
    )
    assert (t["summary"].step == 3).all() and len(t["summary"]) == 1
    np_ = t["neuron_patch"]
    top = t["top_neuron"].iloc[0]
    single = np_[np_.neuron >= 0]
    assert top.restored == pytest.approx(single.restored.max())
    assert top.layer_restored == pytest.approx(
        np_[(np_.layer == top.layer) & (np_.neuron == -1)].restored.iloc[0]
    )
    assert len(single) == ix.n_layers * ix.d_mlp  # "auto": every neuron of a small model
    assert len(t["exclusive"]) <= 5 and (np.diff(t["exclusive"].score) <= 0).all()
    assert len(t["target_congruence"]) == ix.n_layers * ix.d_mlp
    assert t["outliers"]["rank"].tolist() == list(range(1, 11))
    assert t["activation"].groupby(["layer", "neuron", "token_id"])["count"].sum().eq(20).all()
    with pytest.raises(UserError, match="not a single token"):
        checkpoint_tables(3, ix, tokenizer, prompts, ["t3 t4", "t4"], False, windows)


@pytest.mark.parametrize("arch", ["gpt2", "gpt_neox"])
def test_neurons_task_equals_checkpoint_tables(tmp_path, tokenizer, arch, caplog):
    """The neurons task in the engine (after the states task's forward pass and hooks, on the same
    loaded model) writes the tables of checkpoint_tables on a separately loaded model, on the
    windows it sampled."""
    import logging

    from conftest import run_engine
    from test_evaluate import token_table

    from lmdyn.core.checkpoints import load_model
    from lmdyn.core.forward import windows_of
    from lmdyn.core.internals import Internals
    from lmdyn.core.registry import Checkpoint, encode
    from lmdyn.geometry.task import LayerStates
    from lmdyn.neurons.task import TokenNeurons

    build(arch).save_pretrained(tmp_path / "step5")
    tokens = token_table(
        np.random.default_rng(3), [30, 30, 20, 24]
    )  # windows of 24, 6, 24, 6, 20, 24
    prompts = [{"name": "p1", "clean": "t5 t6 t7 t8", "corrupted": "t5 t9 t7 t8"}]
    opts = dict(
        prompts=prompts,
        targets=["t3", "t4"],
        prepend_bos=False,
        patch_layers="auto",
        max_patch_neurons=4096,
        center_unembed=True,
        top_pairs=5,
        activation_pairs=2,
        n_bins=4,
        n_windows=3,
        vocab_chunk=50,
        min_gap=0,
        seed=7,
    )
    files = {"tokenizer": tokenizer.name_or_path}
    ref = encode(Checkpoint("s", "m", 0, 5, None, None, str(tmp_path / "step5")))

    def tasks(o):
        states = LayerStates({"n_windows": 3, "n_tokens": 6, "seed": 1})
        return [states, TokenNeurons(o, files)]

    with caplog.at_level(logging.INFO):
        status, entries = run_engine(
            tmp_path / "store", [ref], tasks(opts), tokens, log=logging.getLogger("test")
        )
    assert list(status.status) == ["ok"]
    assert "p1 logit difference clean" in caplog.text
    folder = entries[5]["neurons"]

    windows = windows_of(tokens)  # neurons_run's sample: n_windows of them, seeded by geometry.seed
    take = np.sort(np.random.default_rng(7).choice(len(windows), size=3, replace=False))
    want = checkpoint_tables(
        5,
        Internals(load_model(tmp_path / "step5"), VOCAB),
        tokenizer,
        prompts,
        ["t3", "t4"],
        False,
        [windows[i] for i in take],
        top_pairs=5,
        n_activation_pairs=2,
        n_bins=4,
        vocab_chunk=50,
        min_gap=0,
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{k}.parquet" for k in TABLES] + ["meta.json"]
    )
    for k in TABLES:
        got = pd.read_parquet(folder / f"{k}.parquet")
        assert len(want[k]) > 0, k
        pd.testing.assert_frame_equal(got, want[k], check_dtype=False, rtol=1e-6, atol=1e-6)

    # a target that is not one token, or prompts of unequal length, fail before any checkpoint is
    # loaded: one line, no status table
    bad = {**opts, "targets": ["t3 t4", "t4"]}
    missing = encode(Checkpoint("s", "m", 0, 6, None, None, str(tmp_path / "nowhere")))
    with pytest.raises(UserError, match="not a single token"):
        run_engine(tmp_path / "store", [missing], tasks(bad), tokens)
    bad = {**opts, "prompts": [{"name": "p1", "clean": "t5 t6 t7", "corrupted": "t5 t6"}]}
    with pytest.raises(UserError, match="equal lengths"):
        run_engine(tmp_path / "store", [missing], tasks(bad), tokens)
