"""The weight-only analyses in the workflow: weights read from safetensors, per-checkpoint results
reused across reruns, and config/embeddings.yaml run unchanged against an offline hub cache."""

import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
import torch
import yaml
from conftest import tiny_model
from test_internals import tiny_neo
from test_workflow import REPO, SNAKEMAKE, make_corpus

from lmdyn.core import plans, registry
from lmdyn.core.errors import UserError
from lmdyn.core.internals import Internals, load_embeddings


def test_load_embeddings_from_safetensors(tmp_path):
    neox = tiny_model("gpt_neox", vocab=97, padded_vocab=128)
    neox.save_pretrained(tmp_path / "neox")
    w = load_embeddings(tmp_path / "neox", 97)
    ix = Internals(neox, 97)
    assert w["arch"] == "gpt_neox" and not w["tied"] and w["W_E"].shape == (97, 16)
    assert torch.equal(w["W_E"], ix.W_E) and torch.equal(w["W_U"], ix.W_U)
    neo = tiny_neo()
    neo.save_pretrained(tmp_path / "neo")
    w = load_embeddings(tmp_path / "neo", 97)
    assert w["tied"] and w["arch"] == "gpt_neo" and torch.equal(w["W_U"], Internals(neo, 97).W_U)


def test_unknown_architecture_stops_with_one_line(tmp_path):
    import transformers

    cfg = transformers.LlamaConfig(
        vocab_size=97,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    transformers.LlamaForCausalLM(cfg).save_pretrained(tmp_path / "llama")
    with pytest.raises(UserError) as e:
        load_embeddings(tmp_path / "llama", 97)
    assert (
        "\n" not in str(e.value)
        and "'llama'" in str(e.value)
        and "gpt_neox, gpt2, gpt_neo" in str(e.value)
    )


def test_probe_and_anisotropy_tasks_reuse_entries_keyed_by_weights(tmp_path, monkeypatch):
    """Both weight-only tasks in one engine: each checkpoint read once (W_E, W_U only), a step added
    computes only that step, other weights under one step recompute only it."""
    import numpy as np
    from conftest import run_engine, write_inputs
    from test_evaluate import token_table

    import lmdyn.core.engine as engine
    from lmdyn.anisotropy.task import Anisotropy
    from lmdyn.probe.task import Probe

    refs = []
    for step in (0, 1, 2):
        d = tmp_path / f"step{step}"
        tiny_model("gpt2", seed=step).save_pretrained(d)
        refs.append(registry.encode(registry.Checkpoint("s", "m", 0, step, None, None, str(d))))
    rng = np.random.default_rng(0)
    inputs = write_inputs(tmp_path, token_table(rng, [8]), np.log(rng.dirichlet(np.ones(97))))
    calls, real = [], engine._load

    def spy(ref, run, model, weights):
        calls.append((int(ref["step"]), model, weights))
        return real(ref, run, model, weights)

    monkeypatch.setattr(engine, "_load", spy)

    def tasks(sample=50):
        probe = Probe({"max_iter": 50, "rtol": 1e-12}, {"unigram": inputs["unigram"]})
        probe.detail_steps = (0,)
        return [probe, Anisotropy({"sample": sample, "seed": 0, "bins": 10})]

    weights = {("m", 0, s): f"w{s}" for s in (0, 1, 2)}
    run_engine(tmp_path / "store", refs[:2], tasks(), weights=weights)
    assert calls == [(0, False, True), (1, False, True)]  # weights only, once per checkpoint
    _, entries = run_engine(tmp_path / "store", refs, tasks(), weights=weights)
    assert [c[0] for c in calls] == [0, 1, 2]
    table = engine.run_table(entries, refs, "probe", "probe")
    assert list(table.columns[:4]) == ["suite", "model", "seed", "step"]
    assert table.step.tolist() == [0, 1, 2] and table.kl_u_probe.notna().all()
    assert (entries[0]["probe"] / "tokens.parquet").exists()
    assert not (entries[1]["probe"] / "tokens.parquet").exists()
    run_engine(tmp_path / "store", refs, tasks(sample=20), weights=weights)
    assert [c[0] for c in calls[3:]] == [0, 1, 2]  # an anisotropy option: that task everywhere
    n = len(list((tmp_path / "store/probe").glob("*/*")))
    assert n == 3  # while the probe's entries were all reused
    run_engine(tmp_path / "store", refs, tasks(sample=20), weights={**weights, ("m", 0, 1): "x"})
    assert [c[0] for c in calls[6:]] == [1]


def test_embeddings_config_parses_and_plans(tmp_path):
    res = subprocess.run(
        SNAKEMAKE
        + [
            "-n",
            "--cores",
            "1",
            "--configfile",
            str(REPO / "config/embeddings.yaml"),
            "--replace-workflow-config",
            "--directory",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert re.search(r"fetch_run\s+5\b", res.stdout + res.stderr)


def lay_out(cache, repo, revision, src):
    """A hub cache entry: a commit revision is its own snapshot; a branch gets a ref to a made-up commit."""
    d = cache / f"models--{repo.replace('/', '--')}"
    commit = (
        revision
        if re.fullmatch(r"[0-9a-f]{40}", revision)
        else f"{abs(hash((repo, revision))):040x}"[-40:]
    )
    shutil.copytree(src, d / "snapshots" / commit)
    (d / "refs").mkdir(parents=True, exist_ok=True)
    (d / "blobs").mkdir(exist_ok=True)
    if commit != revision:
        (d / "refs" / revision).write_text(commit)


@pytest.mark.workflow
def test_embeddings_config_runs_unchanged_against_an_offline_cache(tmp_path):
    from lmdyn.data.tokens import load_tokenizer, save_hf_tokenizer, train_bpe

    make_corpus(tmp_path / "corpus.jsonl")
    texts = pd.read_json(tmp_path / "corpus.jsonl", lines=True).text.tolist()
    save_hf_tokenizer(train_bpe(texts, 300), str(tmp_path / "tok"))
    tok = load_tokenizer(str(tmp_path / "tok"))
    spec = yaml.safe_load((REPO / "config/embeddings.yaml").read_text())["suites"]
    cache = tmp_path / "hf"
    builds = [
        (e["repo"], e["revision"], "gpt_neo" if "neo" in name else "gpt2")
        for name, e in spec["final"]["models"].items()
    ]
    builds += [(c.repo, c.revision, "gpt2") for c in plans.plan("crfm-a", spec["crfm-a"])]
    for i, (repo, rev, arch) in enumerate(builds):
        model = (
            tiny_neo(len(tok), seed=i)
            if arch == "gpt_neo"
            else tiny_model("gpt2", vocab=len(tok), seed=i)
        )
        src = tmp_path / "build" / str(i)
        model.save_pretrained(src)
        tok.save_pretrained(src)
        lay_out(cache, repo, rev, src)
    # the corpus only, the suites run as written; windows that fit the tiny models' 64 positions
    # (every checkpoint job computes the metrics too); and no token neurons: the prompt's targets
    # are single tokens of GPT-2's tokenizer, not of the tiny one these checkpoints carry
    override = tmp_path / "corpus.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "corpus": {
                    "source": "local",
                    "path": str(tmp_path / "corpus.jsonl"),
                    "n_eval": 6,
                    "seed": 3,
                },
                "tokens": {"context_length": 32, "windows_per_doc": 1},
                "families": {"neurons": False},
            }
        )
    )
    targets = [
        f"results/{fam}/{s}/{name}.csv"
        for s in ("final", "crfm-a")
        for fam, name in (("probe", "probe"), ("anisotropy", "anisotropy"))
    ]
    targets += [
        f"results/figures/{s}/{name}.png"
        for s in ("final", "crfm-a")
        for name in ("probe_kl", "anisotropy_mean")
    ]
    cmd = (
        SNAKEMAKE
        + targets
        + [
            "--cores",
            "2",
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "config/embeddings.yaml"),
            str(override),
        ]
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-5000:]
    r = tmp_path / "results"
    final = pd.read_csv(r / "probe/final/probe.csv")
    assert sorted(final.model) == ["gpt-neo-125m", "gpt2", "gpt2-medium"] and set(final.step) == {0}
    assert (
        set(final.arch) == {"gpt2", "gpt_neo"}
        and final.converged.all()
        and (final.kl_u_probe > 0).all()
    )
    crfm = pd.read_csv(r / "probe/crfm-a/probe.csv")
    assert len(crfm) == 12 and sorted(crfm.step.unique()) == [10, 100, 1000, 10000, 100000, 400000]
    aniso = pd.read_csv(r / "anisotropy/final/anisotropy.csv")
    assert set(aniso.matrix) == {"W_E"} and len(aniso) == 6  # tied: W_U is W_E
    for s in ("final", "crfm-a"):  # one seed (final: one step as well): figures still drawn
        for name in (
            "probe_kl",
            "probe_scatter",
            "probe_pca",
            "anisotropy_hist",
            "anisotropy_mean",
        ):
            assert (r / f"figures/{s}/{name}.png").stat().st_size > 1000
    tokens = pd.read_parquet(r / "probe/crfm-a/tokens.parquet")
    assert sorted(tokens.step.unique()) == [10, 400000] and len(tokens) == 2 * 2 * len(tok)
