"""The per-checkpoint engine and its result store (every checkpoint of a run in one process), and
the one-job-per-step pairs, against transformers' own outputs and float64 references on tiny local
checkpoints."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TUNING, run_engine, tiny_model, write_inputs
from scipy.special import log_softmax, rel_entr
from test_evaluate import VOCAB, token_table

from lmdyn.core.engine import Task
from lmdyn.core.registry import Checkpoint, encode
from lmdyn.core.store import TaskSpec
from lmdyn.divergence.pairs import pair_tables, plan_pairs
from lmdyn.divergence.task import Metrics


def ref(path, step, seed=0, model="tiny"):
    return encode(Checkpoint("s", model, seed, step, None, None, str(path)))


def windows_ids(tokens):
    return torch.tensor(
        np.stack([g.token_id.to_numpy() for _, g in tokens.groupby(["doc_id", "window"])])
    )


class Layer0(Task):
    """Test task: the residual stream after block 0 at every position, via a forward hook."""

    spec = TaskSpec("layer0", needs="forward", code=("core/engine.py",))
    files = ("layer0.npy",)

    def begin(self, ckpt):
        self.rows, self.order = {}, []
        model = ckpt.model
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

    def release(self):
        self.handle.remove()

    def end(self, folder, ckpt):
        np.save(folder / "layer0.npy", np.stack([self.rows[i] for i in sorted(self.rows)]))

    def abort(self):
        self.handle.remove()


def metrics_task(tmp_path, tokens, logu, dtype="float32"):
    return Metrics({"dtype": dtype}, write_inputs(tmp_path / "inputs", tokens, logu), TUNING)


@pytest.mark.parametrize("arch", ["gpt_neox", "gpt2"])
def test_engine_matches_transformers_skips_a_broken_checkpoint_and_feeds_forward_tasks(
    tmp_path, rng, arch
):
    models = {}
    for step in (0, 1, 4):
        models[step] = tiny_model(arch, VOCAB, seed=step)
        models[step].save_pretrained(tmp_path / f"step{step}")
    (tmp_path / "step2").mkdir()  # no config.json: fails to load
    tokens = token_table(rng, [24, 24, 24])
    logu = np.log(rng.dirichlet(np.ones(VOCAB)))
    refs = [ref(tmp_path / f"step{s}", s) for s in (0, 1, 4)]
    refs.insert(2, ref(tmp_path / "step2", 2))
    tasks = [metrics_task(tmp_path, tokens, logu), Layer0()]
    weights = {("tiny", 0, s): f"sha{s}" for s in (0, 1, 2, 4)}
    status, entries = run_engine(tmp_path / "store", refs, tasks, tokens, weights=weights)
    assert list(status.status) == ["ok", "ok", "failed", "ok"]
    assert "step2" in status.error[2] and "config.json" in status.error[2]
    assert sorted(entries) == [0, 1, 4]  # the failed step left no entry behind
    assert len(list((tmp_path / "store/metrics").glob("*/*"))) == 3
    ids = windows_ids(tokens)
    for step, model in models.items():
        table = pd.read_parquet(entries[step]["metrics"] / "metrics.parquet")
        with torch.no_grad():
            o = model(input_ids=ids, labels=ids, output_hidden_states=True)
        assert table.nll.mean() == pytest.approx(o.loss.item(), abs=1e-5)
        lp = log_softmax(o.logits[:, :-1].double().numpy(), axis=-1)
        np.testing.assert_allclose(
            table.nll, -np.take_along_axis(lp, ids[:, 1:, None].numpy(), -1).ravel(), atol=1e-4
        )
        kl_u = (np.exp(lp) * (lp - logu)).sum(-1).ravel()
        np.testing.assert_allclose(table.kl_unigram, kl_u, atol=1e-4)
        assert np.load(entries[step]["metrics"] / "hidden.npy").shape == (
            len(table),
            model.config.hidden_size,
        )
        # the other task saw the same forward pass: block 0's output is hidden_states[1]
        np.testing.assert_allclose(
            np.load(entries[step]["layer0"] / "layer0.npy"), o.hidden_states[1].numpy(), atol=1e-5
        )


@pytest.mark.parametrize("dtype, bound", [("bfloat16", 0.1), ("float16", 0.01)])
def test_lower_precision_body_error_against_float32(tmp_path, rng, dtype, bound, capsys):
    """Measured per-token nll error of a bfloat16/float16 body (projection and reductions float32)."""
    tiny_model("gpt_neox", VOCAB).save_pretrained(tmp_path / "step0")
    tokens = token_table(rng, [24] * 8)
    logu = np.log(np.full(VOCAB, 1 / VOCAB))
    tables = {}
    for dt in ("float32", dtype):
        task = metrics_task(tmp_path, tokens, logu, dt)
        _, entries = run_engine(
            tmp_path / "store", [ref(tmp_path / "step0", 0)], [task], tokens, batch_size=4, dtype=dt
        )
        tables[dt] = pd.read_parquet(entries[0]["metrics"] / "metrics.parquet")
    err = np.abs(tables[dtype].nll - tables["float32"].nll)
    with capsys.disabled():
        print(
            f"\n{dtype} body: per-token nll error vs float32 mean {err.mean():.2e}, max {err.max():.2e} nats"
        )
    assert 0 < err.max() < bound  # really ran in lower precision, and stays close


# (checkpoints per pass, calls to the kernel): one pass of all 12 checkpoints, or passes of at
# most 4 (memory bounded whatever the seeds and sizes), with the same float64 checks
PASSES = [(16, [(12, 15)]), (4, [(3, 3), (3, 3), (4, 2), (4, 2), (4, 2), (4, 2), (2, 1)])]


@pytest.mark.parametrize("cap, expected_calls", PASSES)
def test_pairs_of_a_step_match_float64_and_use_each_checkpoint_once(
    tmp_path, rng, monkeypatch, cap, expected_calls
):
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
                w = model.get_output_embeddings().weight.detach()[:VOCAB].numpy()
                np.save(path / "u.npy", w)  # as the metrics task stores it
                checkpoints[f"{m}/{seed}/{step}"] = {
                    "hidden": str(path / "h.npy"),
                    "unembed": str(path / "u.npy"),
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
    out = pair_tables(job, checkpoints, keys, VOCAB, "cpu", 31, 10, max_checkpoints=cap)
    assert calls == expected_calls  # (checkpoints, pairs) of each pass
    assert max(n for n, _ in calls) <= cap and sum(p for _, p in calls) == 15

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


class Norm(Task):
    """Test task on the weights only: the norm of W_E; at ``detail_steps`` also its row norms."""

    spec = TaskSpec("norm", needs="weights", code=("core/engine.py",))
    files = ("norm.parquet",)
    detail_steps: tuple = ()

    def parts(self, step):
        return self.files + (("rows.parquet",) if step in self.detail_steps else ())

    def end(self, folder, ckpt):
        w = ckpt.weights["W_E"]
        pd.DataFrame({"norm": [float(w.norm())]}).to_parquet(folder / "norm.parquet")
        if ckpt.step in self.detail_steps:
            pd.DataFrame({"row": w.norm(dim=1).numpy()}).to_parquet(folder / "rows.parquet")
        if self.options.get("fail_at") == ckpt.step:
            raise KeyboardInterrupt  # killed half way through writing the entry


@pytest.fixture
def three_steps(tmp_path):
    refs = []
    for step in (0, 1, 2):
        tiny_model("gpt2", seed=step).save_pretrained(tmp_path / f"step{step}")
        refs.append(ref(tmp_path / f"step{step}", step))
    return refs


def loads(monkeypatch):
    import lmdyn.core.engine as engine

    calls, real = [], engine._load

    def spy(ref, *a, **kw):
        calls.append(int(ref["step"]))
        return real(ref, *a, **kw)

    monkeypatch.setattr(engine, "_load", spy)
    return calls


def test_store_reuses_entries_and_recomputes_exactly_what_changed(
    tmp_path, three_steps, monkeypatch
):
    calls, store = loads(monkeypatch), tmp_path / "store"
    _, first = run_engine(store, three_steps[:2], [Norm({"a": 1})])
    assert calls == [0, 1]
    _, both = run_engine(store, three_steps, [Norm({"a": 1})])
    assert calls == [0, 1, 2]  # a step added: only it is loaded and computed
    assert both[0] == first[0] and both[1] == first[1]
    run_engine(store, three_steps, [Norm({"a": 2})])
    assert calls[3:] == [0, 1, 2]  # another option: everything again
    weights = {("tiny", 0, s): f"w{s}" for s in (0, 1, 2)}
    run_engine(store, three_steps, [Norm({"a": 2})], weights=weights)
    calls.clear()
    run_engine(store, three_steps, [Norm({"a": 2})], weights={**weights, ("tiny", 0, 1): "new"})
    assert calls == [1]  # other weights under one step (a retrained run): only that step
    monkeypatch.setattr(TaskSpec, "version", lambda self: "edited")
    run_engine(store, three_steps, [Norm({"a": 2})], weights=weights)
    assert calls[1:] == [0, 1, 2]  # the task's code changed: everything again


def test_edited_code_of_one_task_recomputes_only_that_task(tmp_path, three_steps, monkeypatch):
    class Other(Norm):
        spec = TaskSpec("other", needs="weights", code=("core/store.py",))

    store = tmp_path / "store"
    run_engine(store, three_steps, [Norm(), Other()])
    real = TaskSpec.version
    monkeypatch.setattr(TaskSpec, "version", lambda s: "edited" if s.name == "other" else real(s))
    logs = []

    class Log:
        def info(self, msg, *args):
            logs.append(msg % args)

        warning = info

    run_engine(store, three_steps, [Norm(), Other()], log=Log())
    assert [m for m in logs if "computed" in m and m.startswith("step")] == [
        m for m in logs if m.startswith("step") and ": computed other (" in m
    ]
    assert len([m for m in logs if ": computed other (" in m]) == 3


def test_a_task_reading_another_entry_is_keyed_on_that_entry(tmp_path, three_steps, monkeypatch):
    class Doubled(Task):
        spec = TaskSpec("doubled", needs="entry", source="norm", code=("core/engine.py",))
        files = ("doubled.parquet",)

        def end(self, folder, ckpt):
            t = pd.read_parquet(ckpt.entries["norm"] / "norm.parquet")
            (2 * t).to_parquet(folder / "doubled.parquet")

    store = tmp_path / "store"
    _, a = run_engine(store, three_steps, [Norm({"a": 1}), Doubled()])
    _, b = run_engine(store, three_steps, [Norm({"a": 2}), Doubled()])
    assert a[0]["doubled"] != b[0]["doubled"]  # its own options are the same: the source's are not
    calls = loads(monkeypatch)
    _, c = run_engine(store, three_steps, [Norm({"a": 1}), Doubled()])
    assert calls == [] and c[0]["doubled"] == a[0]["doubled"]


def test_entry_missing_a_part_is_computed_again_with_it(tmp_path, three_steps, monkeypatch):
    calls, store = loads(monkeypatch), tmp_path / "store"
    run_engine(store, three_steps, [Norm()])
    task = Norm()
    task.detail_steps = (2,)
    _, entries = run_engine(store, three_steps, [task])
    assert calls == [0, 1, 2, 2] and (entries[2]["norm"] / "rows.parquet").exists()
    task.detail_steps = ()  # the fuller entry serves a plain request too
    run_engine(store, three_steps, [task])
    assert calls == [0, 1, 2, 2]


def test_killed_write_leaves_no_entry_and_unreadable_entry_is_recomputed(
    tmp_path, three_steps, monkeypatch, caplog
):
    import logging

    store = tmp_path / "store"
    with pytest.raises(KeyboardInterrupt):
        run_engine(store, three_steps, [Norm({"fail_at": 1})])
    left = sorted(p.relative_to(store).parts[-1] for p in store.rglob("*") if p.is_dir())
    assert len([p for p in left if len(p) == 64]) == 1  # step 0 only: no half-written step 1
    assert not [p for p in store.rglob("*tmp*")]
    _, entries = run_engine(store, three_steps, [Norm()])
    calls = loads(monkeypatch)
    target = entries[1]["norm"] / "norm.parquet"
    target.write_bytes(target.read_bytes()[:10])  # truncated (disk full, a killed copy)
    (entries[2]["norm"] / "meta.json").write_text("{")  # unreadable
    log = logging.getLogger("test-store")
    with caplog.at_level(logging.WARNING, logger="test-store"):
        _, again = run_engine(store, three_steps, [Norm()], log=log)
    assert calls == [1, 2]
    assert sum("unreadable" in r.message for r in caplog.records) == 2
    assert len(pd.read_parquet(again[1]["norm"] / "norm.parquet")) == 1  # readable again


@pytest.mark.parametrize("family", ["geometry", "neurons"])
def test_a_shared_entry_is_labelled_with_each_checkpoints_step(tmp_path, family):
    """Two checkpoints with the same weights share one entry (its step column says where it was
    computed): each run table row carries the step of the checkpoint it stands for."""
    from lmdyn.geometry.task import Geometry
    from lmdyn.neurons.task import TokenNeurons

    task = {"geometry": Geometry, "neurons": TokenNeurons}[family]()
    entry = tmp_path / "entry"
    entry.mkdir()
    for f in task.files:
        pd.DataFrame({"step": [0, 0], "x": [1.0, 2.0]}).to_parquet(entry / f, index=False)
    refs = [{"suite": "s", "model": "m", "seed": 1, "step": t} for t in (0, 1000)]
    entries = {0: {family: entry}, 1000: {family: entry}}
    for name, table in task.run_tables(entries, refs).items():
        assert table.step.tolist() == [0, 0, 1000, 1000], name
        assert list(table.columns[:3]) == ["model", "seed", "step"], name
