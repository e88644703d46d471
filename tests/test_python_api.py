"""The Python interface (lmdyn.tables, lmdyn.load, lmdyn.analyses, Internals.from_pretrained)
against the workflow: a results folder written by the engine and the rule scripts' table writer
on tiny local checkpoints, and each analysis call against the engine's entry of the same
checkpoint and inputs."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TUNING, VOCAB, run_engine, tiny_model

import lmdyn
from lmdyn import analyses as A
from lmdyn.core import registry
from lmdyn.core.errors import UserError
from lmdyn.core.outputs import all_tables, get
from lmdyn.core.tables import _pandas_dtype, concat, write

REPO = Path(__file__).resolve().parents[1]
STEPS = (0, 1)
CTX, WPD = 12, 2
PROMPT = {"name": "p1", "clean": "t5 t6 t7 t8", "corrupted": "t5 t9 t7 t8"}
TARGETS = ["t3", "t4"]
GEOMETRY = dict(n_windows=6, n_tokens=6, seed=1)
CLASSIFIER = dict(lengths=[4], test_size=0.25, max_iter=50, pca_points=8, n_boot=20, seed=0)
NEURONS = dict(
    prompts=[PROMPT],
    targets=TARGETS,
    prepend_bos=False,
    patch_layers="auto",
    max_patch_neurons=4096,
    center_unembed=True,
    top_pairs=5,
    activation_pairs=2,
    n_bins=4,
    n_windows=3,
    vocab_chunk=50,
    seed=7,
)


def texts(rng, n, lo=14, hi=26):
    # t20 .. t96: the fixture tokenizer splits t10 .. t19 at its special token t1
    return [
        " ".join(f"t{i}" for i in rng.integers(20, VOCAB, rng.integers(lo, hi))) for _ in range(n)
    ]


def _tasks(inputs, tokenizer):
    from lmdyn.anisotropy.task import Anisotropy
    from lmdyn.divergence.task import Metrics
    from lmdyn.geometry.task import Geometry, LayerStates
    from lmdyn.neurons.task import TokenNeurons
    from lmdyn.probe.task import Probe

    layers = {"dtype": "float32", **GEOMETRY}
    return [
        Metrics({"dtype": "float32"}, inputs, TUNING),
        Probe({"max_iter": 500, "rtol": 1e-12}, {"unigram": inputs["unigram"]}),
        Anisotropy({"sample": 50, "seed": 3, "bins": 10}),
        LayerStates(layers, {"tokens": inputs["tokens"]}),
        Geometry({"transfer": False, "layers": layers, **CLASSIFIER}),
        TokenNeurons(NEURONS, {"tokenizer": tokenizer.name_or_path, "tokens": inputs["tokens"]}),
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory, tokenizer):
    """results/ of suite ``a`` (run m/seed0, steps 0 and 1; the checkpoints under
    checkpoints/) and suite ``b`` (the same tables under another suite name), and the engine's
    entries of suite ``a``."""
    from lmdyn.core.integrity import weights_hash
    from lmdyn.data.tokens import tokenize_documents
    from lmdyn.data.unigram import count_tokens, smoothed

    root = tmp_path_factory.mktemp("api") / "results"
    rng = np.random.default_rng(5)
    docs = pd.DataFrame({"doc_id": np.arange(10), "text": texts(rng, 10)})
    tokens = tokenize_documents(tokenizer, docs, CTX, WPD)
    u = smoothed(count_tokens(tokenizer, texts(rng, 30), VOCAB), 0.5)
    paths = {"tokens": root / "tokens/a.parquet", "unigram": root / "unigram/a.parquet"}
    for name, frame in (("tokens", tokens), ("unigram", u)):
        paths[name].parent.mkdir(parents=True)
        write(get(name), frame, paths[name])
    refs, sha = [], {}
    for step in STEPS:
        d = root / f"checkpoints/a/m/seed0/step{step}"
        tiny_model("gpt_neox", padded_vocab=128, seed=step).save_pretrained(d)
        tokenizer.save_pretrained(d)
        refs.append(registry.encode(registry.Checkpoint("a", "m", 0, step, None, None, str(d))))
        sha[("m", 0, step)] = weights_hash(d)
    tasks = _tasks(paths, tokenizer)
    for t in tasks:
        t.prepare(refs)
    status, entries = run_engine(root.parent / "store", refs, tasks, tokens, weights=sha)
    assert list(status.status) == ["ok", "ok"]
    run = {k: v for t in tasks for k, v in t.run_tables(entries, refs).items()}
    _write_tables(root, run, entries, sha)
    return {"root": root, "entries": entries, "docs": docs, "tokens": tokens, "unigram": u}


def _write_tables(root, run, entries, sha):
    """Suite tables of a and b, one run table and the per-checkpoint metrics, as the rules write
    them (validated against their specs)."""
    integrity = pd.DataFrame(
        [("a", "m", 0, s, None, None, "ok", sha[("m", 0, s)], None, "") for s in STEPS],
        columns=get("integrity").names,
    ).astype({"duplicate_of": "Int64"})
    suite_tables = {
        "probe": run["probe"],
        "probe.deciles": run["probe_deciles"],
        "anisotropy": run["anisotropy"],
        "neurons.lens": run["neurons_lens"],
        "integrity": integrity,
    }
    for suite in ("a", "b"):
        for name, frame in suite_tables.items():
            spec = get(name)
            t = concat(spec, [frame.drop(columns="suite", errors="ignore")], suite=suite)
            path = root / spec.path.format(suite=suite)
            path.parent.mkdir(parents=True, exist_ok=True)
            write(spec, t, *[root / p.format(suite=suite) for p in spec.paths()])
    spec = get("probe.run")
    (root / "probe/a/m").mkdir(parents=True, exist_ok=True)
    write(spec, run["probe"], root / spec.path.format(suite="a", model="m", seed=0))
    for step in STEPS:
        f = root / f"metrics/a/m/seed0/step{step}.parquet"
        f.parent.mkdir(parents=True, exist_ok=True)
        m = pd.read_parquet(entries[step]["metrics"] / "metrics.parquet")
        write(get("metrics.checkpoint"), m, f)


# ---- the tables -----------------------------------------------------------------------------------


def test_import_is_light():
    code = "import sys, lmdyn; print(sorted({'pandas', 'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tables_list_every_declared_table():
    t = lmdyn.tables()
    assert list(t.table) == [x.name for x in all_tables()]
    row = t.set_index("table").loc["probe.run"]
    assert row.family == "probe" and row.path == "probe/{suite}/{model}/seed{seed}.parquet"
    cols = lmdyn.tables("metrics.checkpoint").set_index("column")
    assert cols.loc["nll", "unit"] == "nats" and cols.loc["nll", "dtype"] == "float"
    assert cols.loc["doc_id", "pandas_dtype"] == "int64"
    assert lmdyn.spec("probe") is get("probe")


def test_load_concatenates_suites_typed_and_filtered(world):
    root = world["root"]
    probe = lmdyn.load("probe", root)
    assert list(probe.suite) == ["a", "a", "b", "b"] and list(probe.step) == [0, 1, 0, 1]
    for name in ("probe", "integrity", "anisotropy"):
        df, spec = lmdyn.load(name, root), get(name)
        assert list(df.columns) == spec.names
        assert [str(df[c.name].dtype) for c in spec.columns] == [
            _pandas_dtype(c) for c in spec.columns
        ]
    integ = lmdyn.load("integrity", str(root), suite="b")  # CSV: nullable int read as Int64
    assert integ.duplicate_of.isna().all() and (integ.note == "").all()
    assert integ.sha256.tolist() == lmdyn.load("integrity", root, suite="a").sha256.tolist()
    one = lmdyn.load("probe", root, suite=["b"], seed="0", step=1)
    assert len(one) == 1 and one.suite.iloc[0] == "b" and one.step.iloc[0] == 1
    aniso = lmdyn.load("anisotropy", root, variant="raw", step=[0])
    assert set(aniso.variant) == {"raw"} and len(aniso) == 2 * 2  # W_E, W_U in a and b
    pd.testing.assert_frame_equal(
        lmdyn.load("probe.run", root), probe[probe.suite == "a"].reset_index(drop=True)
    )


def test_load_adds_the_keys_of_per_checkpoint_files(world):
    m = lmdyn.load("metrics.checkpoint", world["root"], step=1)
    assert list(m.columns[:4]) == ["suite", "model", "seed", "step"]
    assert str(m.seed.dtype) == "int64" and set(m.step) == {1} and set(m.suite) == {"a"}
    stored = pd.read_parquet(world["entries"][1]["metrics"] / "metrics.parquet")
    np.testing.assert_array_equal(m.nll.to_numpy(), stored.nll.to_numpy())
    assert len(lmdyn.load("metrics.checkpoint", world["root"])) == 2 * len(stored)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: lmdyn.load("prob", r), "no output table is called 'prob'; did you mean probe"),
        (lambda r: lmdyn.load("probe", r / "nowhere"), "does not exist"),
        (lambda r: lmdyn.load("pos", r), "no file of table pos (pos/{suite}.parquet)"),
        (lambda r: lmdyn.load("probe", r, layer=1), "has no column 'layer' to filter on"),
        (
            lambda r: lmdyn.load("probe", r, suite="c"),
            "no rows with suite=['c']; it has suite 'a', 'b'",
        ),
        (lambda r: lmdyn.load("probe", r, step=7), "no rows with step=[7]; it has step 0, 1"),
        (lambda r: lmdyn.tables("probes"), "did you mean probe"),
    ],
)
def test_load_errors_are_one_line(world, call, message):
    with pytest.raises(UserError) as e:
        call(world["root"])
    assert message in str(e.value) and "\n" not in str(e.value)


# ---- one analysis on one checkpoint ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ix(world):
    return lmdyn.Internals.from_pretrained(world["root"] / "checkpoints/a/m/seed0/step1")


def test_from_pretrained_takes_the_tokenizers_vocabulary(ix, world):
    assert ix.vocab_size == VOCAB and ix.W_U.shape[0] == VOCAB  # 128 output rows, 97 tokens
    assert ix.model.get_output_embeddings().weight.shape[0] == 128
    assert ix.tokenizer.encode("t5 t6", add_special_tokens=False) == [5, 6]
    assert ix.path == world["root"] / "checkpoints/a/m/seed0/step1"


def test_from_pretrained_hub_failure_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for revision in (None, "step1"):
        with pytest.raises(UserError) as e:
            lmdyn.Internals.from_pretrained("nobody/no-such-model", revision, cache_dir=tmp_path)
        assert "nobody/no-such-model" in str(e.value) and "\n" not in str(e.value)


def _frames_equal(got, want, atol=0.0):
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True),
        want.reset_index(drop=True),
        check_dtype=False,
        atol=atol,
        rtol=0,
    )


def test_token_metrics_equal_the_workflows(ix, world):
    stored = pd.read_parquet(world["entries"][1]["metrics"] / "metrics.parquet")
    kw = dict(context_length=CTX, windows_per_doc=WPD, batch_size=2, **TUNING)
    got = A.token_metrics(ix, world["docs"], world["unigram"], **kw)
    _frames_equal(got, stored)
    # the same from the texts as a list, from the stored tokens table, and with the unigram
    # reference given as its counts
    texts = world["docs"].text.tolist()
    _frames_equal(A.token_metrics(ix, texts, world["unigram"]["count"].to_numpy(), **kw), stored)
    _frames_equal(A.token_metrics(ix, world["tokens"], world["unigram"], **kw), stored, 1e-6)
    # an independent reference: float64 log-softmax of transformers' logits, first window
    w = world["tokens"].query("doc_id == 0 and window == 0").token_id.to_numpy()
    with torch.no_grad():
        logits = ix.model(input_ids=torch.tensor(w)[None]).logits[0, :-1, :VOCAB].double()
    lp = torch.log_softmax(logits, -1).numpy()
    np.testing.assert_allclose(got.nll[: len(w) - 1], -lp[np.arange(len(w) - 1), w[1:]], atol=1e-4)
    assert got.nll.std() > 0.1


def test_unigram_from_texts_equals_counts(ix, world):
    t = texts(np.random.default_rng(9), 4)
    u = A.unigram(t, ix.tokenizer)
    counts = np.bincount([int(x[1:]) for s in t for x in s.split()], minlength=VOCAB)
    np.testing.assert_array_equal(u["count"], counts)
    np.testing.assert_allclose(u.prob, (counts + 0.5) / (counts.sum() + 0.5 * VOCAB))
    with pytest.raises(UserError, match="unigram reference has 5 tokens"):
        A.probe(ix, np.ones(5, dtype=int))


def test_probe_and_anisotropy_equal_the_workflows(ix, world):
    entry = world["entries"][1]
    got = A.probe(ix, world["unigram"])
    for name in ("probe", "deciles", "tokens"):
        _frames_equal(got[name], pd.read_parquet(entry["probe"] / f"{name}.parquet"))
    row = lmdyn.load("probe", world["root"], suite="a", step=1)
    assert got["probe"].kl_u_probe.iloc[0] == row.kl_u_probe.iloc[0]
    got = A.anisotropy(ix, sample=50, seed=3, bins=10)
    _frames_equal(got["anisotropy"], pd.read_parquet(entry["anisotropy"] / "stats.parquet"))
    _frames_equal(got["histograms"], pd.read_parquet(entry["anisotropy"] / "hist.parquet"))


def test_lens_and_patching_equal_the_workflows(ix, world):
    entry = world["entries"][1]["neurons"]

    def stored(name):
        t = pd.read_parquet(entry / f"{name}.parquet")
        return t[t.prompt == "p1"].drop(columns=["step", "prompt"])

    _frames_equal(A.logit_lens(ix, PROMPT["clean"], TARGETS), stored("lens"), 1e-5)
    pair = (PROMPT["clean"], PROMPT["corrupted"], TARGETS)
    lp = A.layer_patching(ix, *pair)
    _frames_equal(lp, stored("layer_patch"), 1e-5)
    assert lp.restored.notna().all() and lp.restored.std() > 0
    _frames_equal(A.neuron_patching(ix, *pair), stored("neuron_patch"), 1e-5)
    with pytest.raises(UserError, match="not a single token"):
        A.logit_lens(ix, PROMPT["clean"], ["t3 t4", "t4"])


def test_layer_states_and_classifier_equal_the_workflows(ix, world):
    from lmdyn.geometry import TABLES
    from lmdyn.geometry.states import load_states

    entries = world["entries"][1]
    states, docs = A.layer_states(
        ix, world["docs"], context_length=CTX, windows_per_doc=WPD, **GEOMETRY
    )
    want, want_docs = load_states(entries["layers"] / "states.npz")
    np.testing.assert_allclose(states, want, atol=1e-5)
    np.testing.assert_array_equal(docs, want_docs)
    got = A.layer_classifier(want, want_docs, **CLASSIFIER)
    assert sorted(got) == sorted(TABLES)
    for name in TABLES:
        stored = pd.read_parquet(entries["geometry"] / f"{name}.parquet").drop(columns="step")
        _frames_equal(got[name], stored)


def test_notebook_example_runs(world):
    """docs/examples/notebook.py on the small results folder: it prints the probe of the table
    and the one it computes (the same number) and the logit lens."""
    root = world["root"]
    ck = root / "checkpoints/a/m/seed0/step1"
    cmd = [sys.executable, str(REPO / "docs/examples/notebook.py"), "--results", str(root)]
    cmd += ["--checkpoint", str(ck), "--prompt", PROMPT["clean"], "--targets", *TARGETS]
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    row = lmdyn.load("probe", root, suite="a", step=1).iloc[0]
    assert f"KL(u || probe) table {row.kl_u_probe:.6f}, computed {row.kl_u_probe:.6f}" in out.stdout
    lens = A.logit_lens(str(ck), PROMPT["clean"], TARGETS, modes="per_layer")
    assert f"{lens.logit_diff.iloc[-1]:.4f}" in out.stdout
