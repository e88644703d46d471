"""Published-suite loader paths through the real workflow, with tiny checkpoints built here:
local directories (with a duplicated and a missing checkpoint) and a Hugging Face cache in offline
mode with repositories and revisions named like the real ones."""

import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from test_workflow import SNAKEMAKE, make_corpus, tiny_families

from lmdyn.data.micro import build_model
from lmdyn.data.tokens import load_tokenizer, save_hf_tokenizer, train_bpe

SIZE = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32}


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tok")
    make_corpus(tmp / "corpus.jsonl")
    texts = pd.read_json(tmp / "corpus.jsonl", lines=True).text.tolist()
    save_hf_tokenizer(train_bpe(texts, 300), str(tmp / "tokenizer"))
    return tmp / "tokenizer"


def save_checkpoint(path, tokenizer_dir, seed, step, padded_vocab=None, arch="gpt_neox"):
    tok = load_tokenizer(str(tokenizer_dir))
    model = build_model(arch, padded_vocab or len(tok), 64, SIZE, seed=1000 * seed + step)
    model.save_pretrained(path)
    tok.save_pretrained(path)


def run(tmp, suite, env=None, check=True):
    make_corpus(tmp / "corpus.jsonl")
    cfg = {
        "corpus": {"source": "local", "path": str(tmp / "corpus.jsonl"), "n_eval": 6, "seed": 3},
        "tokens": {"context_length": 32, "windows_per_doc": 1},
        "suites": {"real": suite},
        "regression": {"min_tag_count": 5},
        "study": {"n_boot": 50},
        **tiny_families(tmp / "corpus.jsonl"),
    }
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = SNAKEMAKE + [
        "--cores",
        "2",
        "--directory",
        str(tmp),
        "--configfile",
        str(tmp / "config.yaml"),
    ]
    res = subprocess.run(
        cmd, capture_output=True, text=True, cwd=tmp, env={**os.environ, **(env or {})}
    )
    if check and res.returncode != 0:
        raise AssertionError(res.stderr[-5000:])
    return res


@pytest.mark.workflow
def test_local_gpt2_directories_with_a_duplicate_and_a_missing_checkpoint(tmp_path, tokenizer_dir):
    ck = tmp_path / "runs"
    for seed in (0, 1):
        for step in (0, 1, 2, 4):
            save_checkpoint(
                ck / f"seed{seed}" / f"step{step}", tokenizer_dir, seed, step, arch="gpt2"
            )
    # seed 1's step 4 serves step 2's weights; seed 0 has no step 8
    shutil.rmtree(ck / "seed1" / "step4")
    shutil.copytree(ck / "seed1" / "step2", ck / "seed1" / "step4")
    save_checkpoint(ck / "seed1" / "step8", tokenizer_dir, 1, 8, arch="gpt2")
    suite = {
        "kind": "local",
        "path_pattern": str(ck / "seed{seed}" / "step{step}"),
        "seeds": [0, 1],
        "models": ["tiny"],
        "steps": [0, 1, 2, 4, 8],
    }
    run(tmp_path, suite)
    r = tmp_path / "results"
    integrity = pd.read_csv(r / "integrity/real.csv")
    status = {(row.seed, row.step): row.status for row in integrity.itertuples()}
    assert status[(1, 2)] == status[(1, 4)] == "duplicate" and status[(0, 8)] == "missing"
    assert status[(0, 2)] == "ok" and status[(1, 8)] == "ok"
    assert "left out" in (tmp_path / "logs/integrity/real.log").read_text()
    # steps with a bad checkpoint for any seed are left out for all seeds
    summary = pd.read_csv(r / "tables/real/summary.csv")
    assert sorted(summary.step.unique()) == [0, 1]
    # a run computes what is sound in its own run (seed 0's step 2), never a duplicate or missing one
    assert (r / "metrics/real/tiny/seed0/step2.parquet").exists()
    assert not (r / "metrics/real/tiny/seed1/step2.parquet").exists()
    assert not (r / "metrics/real/tiny/seed1/step4.parquet").exists()
    pairs = pd.read_parquet(r / "pairs/real/steps_step1.parquet")
    assert set(pairs.step_a) == {0} and (pairs.kl_ab > 0).all()


def lay_out_hub_cache(cache, repo, revision, src):
    """A Hugging Face hub cache entry: refs/<revision> -> commit -> snapshots/<commit>/."""
    d = cache / f"models--{repo.replace('/', '--')}"
    commit = f"{abs(hash((repo, revision))):040x}"[-40:]
    shutil.copytree(src, d / "snapshots" / commit)
    (d / "refs").mkdir(parents=True, exist_ok=True)
    (d / "blobs").mkdir(exist_ok=True)
    (d / "refs" / revision).write_text(commit)


@pytest.mark.workflow
def test_offline_hub_cache_with_real_names(tmp_path, tokenizer_dir):
    cache = tmp_path / "hf"
    for seed, repo in ((0, "EleutherAI/pythia-14m"), (1, "EleutherAI/pythia-14m-seed1")):
        for step in (0, 1):
            src = tmp_path / "build" / f"{seed}-{step}"
            save_checkpoint(
                src, tokenizer_dir, seed, step, padded_vocab=320
            )  # padded rows, as in Pythia
            lay_out_hub_cache(cache, repo, f"step{step}", src)
    suite = {
        "kind": "polypythia",
        "sizes": ["14m"],
        "seeds": [0, 1],
        "steps": [0, 1],
        "cache_dir": str(cache),
    }
    run(tmp_path, suite, env={"HF_HUB_OFFLINE": "1"})
    r = tmp_path / "results"
    integrity = pd.read_csv(r / "integrity/real.csv")
    assert set(integrity.repo) == {"EleutherAI/pythia-14m", "EleutherAI/pythia-14m-seed1"}
    assert set(integrity.revision) == {"step0", "step1"} and set(integrity.status) == {"ok"}
    m = pd.read_parquet(r / "metrics/real/14m/seed1/step1.parquet")
    vocab = len(pd.read_parquet(r / "unigram/real.parquet"))
    assert vocab < 320 and m.nll.mean() == pytest.approx(__import__("math").log(vocab), abs=0.5)
    assert (r / "study/real/phases.csv").exists() and (r / "figures/real/phases.png").exists()
    # a revision that is not in the cache: one line naming repo@revision
    shutil.rmtree(r)
    suite["steps"] = [0, 1, 2]
    res = run(tmp_path, suite, env={"HF_HUB_OFFLINE": "1"}, check=False)
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("lmdyn error")]
    # both runs miss step2; whichever fetch job fails first names its repo
    pattern = r"checkpoint EleutherAI/pythia-14m(-seed1)?@step2 is not in the Hugging Face cache \(offline mode\)$"
    assert lines and all(re.search(pattern, line) for line in lines), lines
