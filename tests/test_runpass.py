"""The run pass (every checkpoint of a run in one process) and the one-job-per-step pairs, against
transformers' own outputs and float64 references on tiny local checkpoints."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_model
from scipy.special import log_softmax, rel_entr
from test_evaluate import VOCAB, token_table

from lmdyn.core.registry import Checkpoint, encode
from lmdyn.core.runpass import EXTRAS, Extra, make_extras, run_pass
from lmdyn.divergence.pairs import pair_tables, plan_pairs


def ref(path, step, seed=0, model="tiny"):
    return encode(Checkpoint("s", model, seed, step, None, None, str(path)))


def windows_ids(tokens):
    return torch.tensor(
        np.stack([g.token_id.to_numpy() for _, g in tokens.groupby(["doc_id", "window"])])
    )


class Layer0(Extra):
    """Test extra: the residual stream after block 0 at every position, via a forward hook."""

    name = "layer0"
    suffix = ".npy"

    def begin(self, model, windows, checkpoint):
        self.rows, self.order = {}, []
        block = (
            model.base_model.layers[0]
            if hasattr(model.base_model, "layers")
            else model.base_model.h[0]
        )
        self.handle = block.register_forward_hook(self.hook)

    def batch(self, indices):
        self.order = list(indices)

    def hook(self, module, args, output):
        out = output[0] if isinstance(output, tuple) else output
        for i, row in zip(self.order, out.float()):
            self.rows[i] = row.detach().numpy().copy()

    def end(self, path):
        self.handle.remove()
        np.save(path, np.stack([self.rows[i] for i in sorted(self.rows)]))

    def abort(self):
        self.handle.remove()


@pytest.mark.parametrize("arch", ["gpt_neox", "gpt2"])
def test_run_pass_matches_transformers_skips_a_broken_checkpoint_and_feeds_extras(
    tmp_path, rng, arch, monkeypatch
):
    models = {}
    for step in (0, 1, 4):
        models[step] = tiny_model(arch, VOCAB, seed=step)
        models[step].save_pretrained(tmp_path / f"step{step}")
    (tmp_path / "step2").mkdir()  # no config.json: fails to load
    tokens = token_table(rng, [24, 24, 24])
    logu = np.log(rng.dirichlet(np.ones(VOCAB)))
    monkeypatch.setitem(EXTRAS, "layer0", Layer0)
    out = {k: tmp_path / "out" / k for k in ("metrics", "hidden", "layer0")}
    refs = [ref(tmp_path / f"step{s}", s) for s in (0, 1, 2, 4)]
    status = run_pass(refs, tokens, logu, out, "cpu", 2, 31, 10, extras=make_extras({"layer0": {}}))
    assert list(status.status) == ["ok", "ok", "failed", "ok"]
    assert "step2" in status.error[2] and "config.json" in status.error[2]
    assert not list(out["metrics"].glob("step2*")) and not list(out["layer0"].glob("step2*"))
    ids = windows_ids(tokens)
    for step, model in models.items():
        table = pd.read_parquet(out["metrics"] / f"step{step}.parquet")
        with torch.no_grad():
            o = model(input_ids=ids, labels=ids, output_hidden_states=True)
        assert table.nll.mean() == pytest.approx(o.loss.item(), abs=1e-5)
        lp = log_softmax(o.logits[:, :-1].double().numpy(), axis=-1)
        np.testing.assert_allclose(
            table.nll, -np.take_along_axis(lp, ids[:, 1:, None].numpy(), -1).ravel(), atol=1e-4
        )
        kl_u = (np.exp(lp) * (lp - logu)).sum(-1).ravel()
        np.testing.assert_allclose(table.kl_unigram, kl_u, atol=1e-4)
        assert np.load(out["hidden"] / f"step{step}.npy").shape == (
            len(table),
            model.config.hidden_size,
        )
        # the extra saw the same forward pass: block 0's output is transformers' hidden_states[1]
        np.testing.assert_allclose(
            np.load(out["layer0"] / f"step{step}.npy"), o.hidden_states[1].numpy(), atol=1e-5
        )


def test_unknown_extra_is_one_line():
    with pytest.raises(Exception, match="unknown metrics.extras"):
        make_extras({"no_such_extra": {}})


@pytest.mark.parametrize("dtype, bound", [("bfloat16", 0.1), ("float16", 0.01)])
def test_lower_precision_body_error_against_float32(tmp_path, rng, dtype, bound, capsys):
    """Measured per-token nll error of a bfloat16/float16 body (projection and reductions float32)."""
    tiny_model("gpt_neox", VOCAB).save_pretrained(tmp_path / "step0")
    tokens = token_table(rng, [24] * 8)
    logu = np.log(np.full(VOCAB, 1 / VOCAB))
    tables = {}
    for dt in ("float32", dtype):
        out = {k: tmp_path / dt / k for k in ("metrics", "hidden")}
        run_pass([ref(tmp_path / "step0", 0)], tokens, logu, out, "cpu", 4, 31, 10, dtype=dt)
        tables[dt] = pd.read_parquet(out["metrics"] / "step0.parquet")
    err = np.abs(tables[dtype].nll - tables["float32"].nll)
    with capsys.disabled():
        print(
            f"\n{dtype} body: per-token nll error vs float32 mean {err.mean():.2e}, max {err.max():.2e} nats"
        )
    assert 0 < err.max() < bound  # really ran in lower precision, and stays close


def test_pairs_of_a_step_match_float64_and_use_each_checkpoint_once(tmp_path, rng, monkeypatch):
    """Two models x three seeds at step 2 (previous step 1): 6 seed pairs, 6 step pairs, 3 size pairs
    from 12 distinct checkpoints, against KL from transformers' logits in float64."""
    tokens = token_table(rng, [24, 24])
    ids = windows_ids(tokens)
    job = {
        "step": 2,
        "models": ["a", "b"],
        "seeds": [0, 1, 2],
        "prev": {"a": 1, "b": 1},
        "sizes": True,
    }
    checkpoints, logp = {}, {}
    for m, arch in (("a", "gpt_neox"), ("b", "gpt2")):
        for seed in (0, 1, 2):
            for step in (1, 2):
                model = tiny_model(arch, VOCAB, seed=100 * seed + step)
                path = tmp_path / f"{m}{seed}{step}"
                model.save_pretrained(path)
                with torch.no_grad():
                    o = model(input_ids=ids, output_hidden_states=True)
                np.save(
                    path / "h.npy",
                    o.hidden_states[-1][:, :-1].reshape(-1, model.config.hidden_size).numpy(),
                )
                logp[m, seed, step] = log_softmax(o.logits[:, :-1].double().numpy(), -1).reshape(
                    -1, VOCAB
                )
                checkpoints[f"{m}/{seed}/{step}"] = {
                    "hidden": str(path / "h.npy"),
                    "checkpoint": ref(path, step, seed, m),
                }
    calls = []
    import lmdyn.divergence.pairs as pairs_mod

    real = pairs_mod.pairwise_kl_many

    def spy(hidden, unembed, pairs, *a, **kw):
        calls.append((len(hidden), len(pairs)))
        return real(hidden, unembed, pairs, *a, **kw)

    monkeypatch.setattr(pairs_mod, "pairwise_kl_many", spy)
    order, pairs = plan_pairs(job)
    assert len(order) == len(set(order)) == 12
    keys = tokens[tokens.position % 24 != 0].reset_index(drop=True)
    out = pair_tables(job, checkpoints, keys, VOCAB, "cpu", 31, 10)
    assert calls == [(12, 15)]  # one pass: 12 checkpoints, 15 pairs

    def kl(x, y):
        return rel_entr(np.exp(logp[x]), np.exp(logp[y])).sum(-1)

    s = out["seeds"]
    assert len(s) == 2 * 3 * len(keys)
    for m in ("a", "b"):
        for a, b in combinations((0, 1, 2), 2):
            rows = s[(s.model == m) & (s.seed_a == a) & (s.seed_b == b)]
            np.testing.assert_allclose(rows.kl_ab, kl((m, a, 2), (m, b, 2)), atol=1e-4)
            np.testing.assert_allclose(rows.kl_ba, kl((m, b, 2), (m, a, 2)), atol=1e-4)
        for seed in (0, 1, 2):
            st = out["steps"]
            rows = st[(st.model == m) & (st.seed == seed)]
            assert set(rows.step_a) == {1} and set(rows.step_b) == {2}
            np.testing.assert_allclose(rows.kl_ab, kl((m, seed, 1), (m, seed, 2)), atol=1e-4)
    for seed in (0, 1, 2):
        z = out["sizes"][out["sizes"].seed == seed]
        assert set(zip(z.model_a, z.model_b)) == {("a", "b")}
        np.testing.assert_allclose(z.kl_ab, kl(("a", seed, 2), ("b", seed, 2)), atol=1e-4)
        np.testing.assert_allclose(z.kl_ba, kl(("b", seed, 2), ("a", seed, 2)), atol=1e-4)
    assert list(out["seeds"].columns) == [
        "doc_id",
        "position",
        "model",
        "seed_a",
        "seed_b",
        "kl_ab",
        "kl_ba",
    ]
