"""Reliability: suites with one seed, one step or one size; broken checkpoints; one-line errors;
byte-identical reruns; recovery after a killed run."""

import datetime
import filecmp
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from checkpoint_pass import evaluate_checkpoint
from test_workflow import SNAKEMAKE, make_corpus, snakemake, tiny_config, tiny_families

from lmdyn.core.checkpoints import load_model, load_unembedding, pick_device
from lmdyn.core.checks import checkpoint_label, require_finite
from lmdyn.core.errors import UserError
from lmdyn.data.micro import build_model, check_train_length, train_run
from lmdyn.data.tokens import load_tokenizer, save_hf_tokenizer, train_bpe
from lmdyn.divergence.comparisons import comparisons

SIZE = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32}
LABEL = "suite s, model m, seed 0, step 8"


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    return msg


# ---- which comparisons a suite has ---------------------------------------------------------------


def test_comparisons_skip_what_a_suite_cannot_have():
    full = comparisons(2, 3, 10)
    assert full.skipped() == [] and full.regression_metric("kl_seeds") == ("kl_seeds", None)
    assert set(full.figures(["a", "b"])) >= {
        "kl_seeds",
        "sigma_a",
        "learnability_b",
        "phases",
        "sizes",
    }
    one_seed = comparisons(3, 1, 154)  # Pythia deduped
    assert [s["comparison"] for s in one_seed.skipped()] == ["seeds"]
    assert "the suite has 1 seed" in one_seed.skipped()[0]["line"]
    assert "sigma_a" not in one_seed.figures(["a"]) and "learnability_a" in one_seed.figures(["a"])
    metric, note = one_seed.regression_metric("kl_seeds")
    assert metric == "kl_unigram" and "kl_seeds needs two seeds" in note
    assert one_seed.regression_metric("nll") == ("nll", None)
    final = comparisons(1, 1, 1)  # a `final` suite of one model
    assert [s["comparison"] for s in final.skipped()] == ["seeds", "steps", "sizes"]
    assert final.figures(["gpt2"]) == []
    assert all("\n" not in s["line"] for s in final.skipped())


# ---- non-finite values ---------------------------------------------------------------------------


def test_require_finite_names_the_checkpoint_and_the_first_bad_quantity():
    ok = np.ones(5, dtype=np.float32)
    require_finite({"nll": ok, "entropy": torch.ones(3)}, LABEL)
    bad = torch.tensor([1.0, 2.0, float("inf"), float("nan")])
    with pytest.raises(UserError) as e:
        require_finite({"nll": ok, "entropy": bad, "kl_uniform": np.array([np.nan])}, LABEL)
    assert one_line(e).startswith(f"{LABEL}: entropy is not finite (inf at entry 2)")
    assert checkpoint_label({"suite": "s", "model": "m", "seed": 0, "step": 8}) == LABEL


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tok")
    make_corpus(tmp / "corpus.jsonl", n_docs=6)
    texts = pd.read_json(tmp / "corpus.jsonl", lines=True).text.tolist()
    save_hf_tokenizer(train_bpe(texts, 300), str(tmp / "tokenizer"))
    return tmp / "tokenizer"


def save_checkpoint(path, tok_dir, seed=0, arch="gpt2", context=64, poison=None):
    tok = load_tokenizer(str(tok_dir))
    model = build_model(arch, len(tok), context, SIZE, seed=seed)
    if poison is not None:
        with torch.no_grad():
            dict(model.named_parameters())[poison].view(-1)[3] = float("nan")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return len(tok)


def tokens_table(n_windows=2, length=16, vocab=300):
    rng = np.random.default_rng(0)
    rows = [
        (w, 0, p, int(rng.integers(3, vocab)), 0, 0)
        for w in range(n_windows)
        for p in range(length)
    ]
    return pd.DataFrame(rows, columns=["doc_id", "window", "position", "token_id", "start", "end"])


def test_checkpoint_with_nan_weights_stops_before_the_forward_pass(tmp_path, tok_dir):
    vocab = save_checkpoint(tmp_path / "ck", tok_dir, poison="transformer.h.0.mlp.c_fc.weight")
    with pytest.raises(UserError) as e:
        evaluate_checkpoint(
            tmp_path / "ck",
            tokens_table(vocab=vocab),
            np.full(vocab, -np.log(vocab)),
            "cpu",
            label=LABEL,
        )
    assert one_line(e).startswith(
        f"{LABEL}: weight transformer.h.0.mlp.c_fc.weight is not finite (nan"
    )


def test_diverging_micro_run_stops_at_the_first_non_finite_loss(tmp_path, tok_dir):
    tok = load_tokenizer(str(tok_dir))
    ids = np.array(tok("the farmer builds the law quickly. " * 40)["input_ids"])
    with pytest.raises(UserError) as e:
        train_run(
            "gpt_neox",
            SIZE,
            0,
            ids,
            len(tok),
            16,
            [0, 4, 8, 64],
            4,
            1e6,
            1,
            0.0,
            tmp_path / "run",
            tok_dir,
        )
    msg = one_line(e)
    assert re.match(
        r"training diverged: the loss is (nan|inf) at step \d+ \(learning rate [\d.e+]+, train.lr 1e\+06\)",
        msg,
    ), msg


# ---- broken checkpoints --------------------------------------------------------------------------


def test_truncated_safetensors_gives_one_line(tmp_path, tok_dir):
    vocab = save_checkpoint(tmp_path / "ck", tok_dir)
    f = tmp_path / "ck" / "model.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    for load in (
        lambda: load_model(tmp_path / "ck"),
        lambda: load_unembedding(tmp_path / "ck", vocab),
    ):
        with pytest.raises(UserError) as e:
            load()
        assert re.match(
            rf"checkpoint {tmp_path / 'ck'} has unreadable weights \(\w+: .*\); re-download",
            one_line(e),
        )


def test_pickle_that_is_not_plain_weights_gives_one_line(tmp_path, tok_dir):
    save_checkpoint(tmp_path / "ck", tok_dir)
    (tmp_path / "ck" / "model.safetensors").unlink()
    torch.save(
        {"when": datetime.date(2020, 1, 1)}, tmp_path / "ck" / "pytorch_model.bin"
    )  # not plain tensors
    with pytest.raises(UserError) as e:
        load_model(tmp_path / "ck")
    assert "has unreadable weights" in one_line(e)


def test_context_longer_than_position_embeddings_gives_one_line(tmp_path, tok_dir):
    vocab = save_checkpoint(tmp_path / "ck", tok_dir, context=16)
    with pytest.raises(UserError) as e:
        evaluate_checkpoint(
            tmp_path / "ck",
            tokens_table(length=32, vocab=vocab),
            np.full(vocab, -np.log(vocab)),
            "cpu",
        )
    assert re.match(
        r"tokens.context_length 32 is longer than checkpoint .* allows \(16 positions\); set "
        r"tokens.context_length to at most 16$",
        one_line(e),
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_gives_one_line():
    with pytest.raises(UserError) as e:
        pick_device("cuda")
    assert (
        one_line(e)
        == "metrics.device is 'cuda' but no CUDA GPU is available here; use 'auto' or 'cpu'"
    )


# ---- training split shorter than a context window ------------------------------------------------


def test_training_split_shorter_than_a_window_gives_one_line():
    check_train_length(33, 32)
    with pytest.raises(UserError) as e:
        check_train_length(20, 32)
    assert one_line(e).startswith("the training split has 20 tokens, fewer than one context window")


def test_unreadable_checkpoint_is_corrupt_in_the_integrity_table(tmp_path, tok_dir):
    from lmdyn.core import integrity, registry

    good, cut = tmp_path / "good", tmp_path / "cut"
    save_checkpoint(good, tok_dir)
    save_checkpoint(cut, tok_dir, seed=1)
    f = cut / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # header intact, data cut short
    assert integrity.unreadable(good) is None
    why = integrity.unreadable(cut)
    assert why.startswith("model.safetensors is unreadable (") and "\n" not in why
    ckpts = [
        registry.Checkpoint("s", "m", 0, step, None, None, str(p))
        for step, p in ((0, good), (1, cut))
    ]
    paths = {c: Path(c.path) for c in ckpts}
    table = integrity.integrity_table(ckpts, paths, corrupt={ckpts[1]: why})
    assert list(table.status) == ["ok", "corrupt"] and table.note[1] == why
    integrity.require_usable(table)  # one usable step: the corrupt one is only left out
    with pytest.raises(UserError) as e:
        integrity.require_usable(table[table.step == 1])
    assert one_line(e).startswith(
        "every checkpoint of suite s model m seed 0 is unusable (1 corrupt)"
    )


def test_more_frequency_bins_than_the_tokens_fill_gives_one_line():
    from lmdyn.data.features import token_features

    tokens = tokens_table(n_windows=1, length=9, vocab=5)
    tokens["token_id"] = [1, 1, 1, 1, 1, 1, 1, 2, 3]  # one type carries most occurrences
    pos = tokens[["doc_id", "position"]].assign(word="w", tag="NN", pos="NOUN", bow=True, eow=True)
    unigram = pd.DataFrame({"token_id": range(5), "prob": [0.1, 0.5, 0.2, 0.1, 0.1]})
    assert token_features(tokens, pos, unigram, 2).freq_bin.nunique() == 2
    with pytest.raises(UserError) as e:
        token_features(tokens, pos, unigram, 8)
    assert re.match(
        r"aggregate.freq_bins 8 is more than the evaluation tokens can fill: only \d frequency bins",
        one_line(e),
    )


# ---- checks the config settles, before any job ---------------------------------------------------


@pytest.mark.parametrize(
    "section, values, expected",
    [
        (
            "corpus",
            {"source": "sotu"},
            r"^lmdyn: corpus.path is set but corpus.source is 'sotu'; set corpus.source: local",
        ),
        (
            "aggregate",
            {"freq_bins": 10_000},
            r"^lmdyn: aggregate.freq_bins 10000 is more than the at most 372 ",
        ),
        pytest.param(
            "metrics",
            {"device": "cuda"},
            r"^lmdyn: metrics.device is 'cuda' but the installed torch has no CUDA",
            marks=pytest.mark.skipif(torch.version.cuda is not None, reason="torch has CUDA"),
        ),
    ],
)
def test_config_settled_problems_stop_before_any_job(tmp_path, section, values, expected):
    from test_workflow import one_line_error

    make_corpus(tmp_path / "corpus.jsonl", n_docs=10)
    cfg = tiny_config(tmp_path)
    c = yaml.safe_load(cfg.read_text())
    c.setdefault(section, {}).update(values)
    cfg.write_text(yaml.safe_dump(c))
    one_line_error(tmp_path, cfg, expected)


def test_a_corpus_path_alone_means_a_local_corpus(tmp_path):
    make_corpus(tmp_path / "corpus.jsonl", n_docs=10)
    cfg = tiny_config(tmp_path)
    c = yaml.safe_load(cfg.read_text())
    del c["corpus"]["source"]
    cfg.write_text(yaml.safe_dump(c))
    res = snakemake(tmp_path, cfg, "-n")
    assert "corpus" in res.stdout and "lmdyn" not in res.stderr


# ---- the same through the workflow ---------------------------------------------------------------


def skip_lines(tmp, suite):
    return [
        ln.split(" WARNING ", 1)[1]
        for ln in (tmp / f"logs/study_suite/{suite}.log").read_text().splitlines()
        if " WARNING " in ln
    ]


@pytest.mark.workflow
def test_one_seed_suite_finishes_and_skips_seed_comparisons(tmp_path):
    make_corpus(tmp_path / "corpus.jsonl")
    cfg = tiny_config(tmp_path)
    c = yaml.safe_load(cfg.read_text())
    c["suites"]["micro"]["seeds"] = [0]  # like Pythia and config/pythia-deduped.yaml
    c["suites"]["micro"]["vocab_size"] = 5000  # more than the tiny corpus can fill
    c["study"] = {"n_boot": 50}
    cfg.write_text(yaml.safe_dump(c))
    snakemake(tmp_path, cfg)
    r = tmp_path / "results"
    figs = {p.stem for p in (r / "figures/micro").glob("*.png")}
    core = {p for p in figs if not p.startswith(("probe", "anisotropy", "geometry", "neurons"))}
    assert core == {
        "kl_reference",
        "regression",
        "phases",
        "learnability_s",
        "learnability_xs",
        "sizes",
        "timeline",
    }
    assert skip_lines(tmp_path, "micro") == [
        "skipped seed comparisons: the suite has 1 seed (they need two seeds); not produced: figures kl_seeds, "
        "seed_divergence, seed_groups, ce_fit, dh_kl, sigma_<model>; empty: seed_groups, dh_kl, ce_fit, "
        "trajectories, outliers, sigma (kl_seeds)",
        "regression.metric kl_seeds needs two seeds and the suite has 1: regressing kl_unigram instead",
    ]
    skipped = pd.read_csv(r / "study/micro/skipped.csv")
    assert list(skipped.comparison) == ["seeds", "regression metric"]
    coefs = pd.read_csv(r / "regression/micro/coefficients.csv", keep_default_na=False)
    assert set(coefs.response) == {"kl_unigram"} and {"model[s]", "model[xs]"} & set(coefs.term)
    assert (
        (r / "regression/micro/summary.txt")
        .read_text()
        .startswith(
            "regression.metric kl_seeds is not available for this suite (one seed): regressed kl_unigram"
        )
    )
    summary = pd.read_csv(r / "tables/micro/summary.csv")
    assert (
        len(summary) == 2 * 5
        and summary.kl_seeds.isna().all()
        and summary.kl_steps.notna().sum() == 2 * 4
    )
    assert len(pd.read_csv(r / "study/micro/phases.csv")) == 2 * 2  # seed 0 and mean, per model
    assert len(pd.read_csv(r / "study/micro/sizes.csv")) > 0
    # the vocabulary actually trained is logged and used everywhere
    trained = len(pd.read_parquet(r / "unigram/micro.parquet"))
    assert trained < 5000
    assert (
        f"vocab_size 5000 asked for, but the train split only supports {trained} tokens: using {trained}"
        in (tmp_path / "logs/train_tokenizer/micro.log").read_text()
    )
    config = (r / "checkpoints/micro/s/seed0/step8/config.json").read_text()
    assert f'"vocab_size": {trained}' in config
    snakemake(tmp_path, cfg, "--report", str(tmp_path / "report.html"))
    assert "skipped.csv" in (tmp_path / "report.html").read_text(errors="ignore")


@pytest.fixture(scope="module")
def one_step_suite(tmp_path_factory):
    """A `final`-like local suite (as gpt2 alone): one model, one seed, one step; corpus and
    checkpoints shared by every run directory, so two runs see the same config byte for byte."""
    src = tmp_path_factory.mktemp("final_src")
    make_corpus(src / "corpus.jsonl")
    texts = pd.read_json(src / "corpus.jsonl", lines=True).text.tolist()
    save_hf_tokenizer(train_bpe(texts, 300), str(src / "tokenizer"))
    save_checkpoint(src / "ck" / "seed0" / "step4", src / "tokenizer")
    cfg = {
        "corpus": {"source": "local", "path": str(src / "corpus.jsonl"), "n_eval": 6, "seed": 3},
        "tokens": {"context_length": 32, "windows_per_doc": 1},
        "suites": {
            "final": {
                "kind": "local",
                "path_pattern": str(src / "ck" / "seed{seed}" / "step{step}"),
                "seeds": [0],
                "models": ["tiny"],
                "steps": [4],
            }
        },
        "regression": {"min_tag_count": 5},
        "study": {"n_boot": 50},
        **tiny_families(src / "corpus.jsonl"),
    }
    (src / "config.yaml").write_text(yaml.safe_dump(cfg))
    run1 = tmp_path_factory.mktemp("final_run1")
    snakemake(run1, src / "config.yaml")
    return src / "config.yaml", run1


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.workflow
def test_one_step_one_size_suite_finishes_and_reruns_as_a_no_op(one_step_suite):
    cfg, run1 = one_step_suite
    r = run1 / "results"
    figs = {p.stem for p in (r / "figures/final").glob("*.png")}
    core = {p for p in figs if not p.startswith(("probe", "anisotropy", "geometry", "neurons"))}
    assert core == {"kl_reference", "regression", "timeline"}
    lines = skip_lines(run1, "final")
    assert [ln.split(":")[0] for ln in lines] == [
        "skipped seed comparisons",
        "skipped step comparisons",
        "skipped size comparisons",
        "regression.metric kl_seeds needs two seeds and the suite has 1",
    ]
    assert lines[1:3] == [
        "skipped step comparisons: the suite has 1 step (they need two steps); not produced: figures phases, "
        "learnability_<model>; empty: phases, sigma (kl_steps), per-phase regressions",
        "skipped size comparisons: the suite has 1 model (they need two model sizes); not produced: figures sizes; "
        "empty: sizes, the regression's model term",
    ]
    assert (
        len(pd.read_csv(r / "study/final/phases.csv")) == 0
        and len(pd.read_csv(r / "study/final/sizes.csv")) == 0
    )
    coefs = pd.read_csv(r / "regression/final/coefficients.csv", keep_default_na=False)
    assert set(coefs.response) == {"kl_unigram"} and "log_unigram" in set(coefs.term)
    assert not any(t.startswith("model[") for t in coefs.term)
    assert "per-phase fits skipped" in (r / "regression/final/summary.txt").read_text()
    summary = pd.read_csv(r / "tables/final/summary.csv")
    assert list(summary.step) == [4] and summary.kl_seeds.isna().all() and summary.nll.notna().all()
    assert len(pd.read_csv(r / "study/final/sigma.csv")) == 0
    # one model: a rerun does nothing (it used to re-execute the figures of the study tables)
    res = snakemake(run1, cfg, "-n")
    assert "Nothing to be done" in res.stdout + res.stderr, res.stdout[-3000:]


@pytest.mark.workflow
def test_killed_run_resumes_after_unlock_to_byte_identical_outputs(one_step_suite, tmp_path):
    cfg, run1 = one_step_suite
    cmd = SNAKEMAKE + ["--cores", "2", "--directory", str(tmp_path), "--configfile", str(cfg)]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    target = tmp_path / "results/metrics/final/tiny/seed0/step4.parquet"
    deadline = time.time() + 400
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run dies at once, as on a lost node
    proc.wait()
    res = snakemake(tmp_path, cfg, check=False)
    # a lock, or the outputs of the run job that died marked incomplete, stop the next run
    assert res.returncode != 0 and (
        "LockException" in res.stderr or "IncompleteFilesException" in res.stderr
    )
    snakemake(tmp_path, cfg, "--unlock")
    snakemake(tmp_path, cfg, "--rerun-incomplete")
    files = tree(run1 / "results")
    assert files == tree(tmp_path / "results")
    assert any(f.endswith(".pdf") for f in files) and "regression/final/summary.txt" in files
    differ = [
        f
        for f in files
        if not filecmp.cmp(run1 / "results" / f, tmp_path / "results" / f, shallow=False)
    ]
    assert differ == []


def test_local_suite_context_beyond_position_embeddings_stops_before_any_job(tmp_path, tok_dir):
    from test_workflow import one_line_error

    save_checkpoint(tmp_path / "ck" / "seed0" / "step0", tok_dir, context=16)
    make_corpus(tmp_path / "corpus.jsonl", n_docs=10)
    cfg = tiny_config(tmp_path)  # context_length 32
    c = yaml.safe_load(cfg.read_text())
    c["suites"] = {
        "real": {
            "kind": "local",
            "path_pattern": str(tmp_path / "ck" / "seed{seed}" / "step{step}"),
            "seeds": [0],
            "models": ["tiny"],
            "steps": [0],
        }
    }
    cfg.write_text(yaml.safe_dump(c))
    one_line_error(
        tmp_path,
        cfg,
        r"^lmdyn: tokens.context_length 32 is longer than suite real's checkpoints allow "
        r"\(16 positions in .*config.json\); set tokens.context_length to at most 16$",
    )


@pytest.mark.workflow
def test_corrupt_checkpoint_and_nan_weights_are_left_out_with_one_line(tmp_path, tok_dir):
    """An unreadable checkpoint is `corrupt` in the integrity table; one with NaN weights fails in the
    run pass with one line naming it and the first non-finite weight; both are left out and the
    run's other checkpoints are kept (a run with no usable checkpoint stops: see lmdyn.core.engine)."""
    ck = tmp_path / "ck" / "seed0"
    save_checkpoint(ck / "step0", tok_dir, poison="transformer.h.0.attn.c_attn.weight")
    save_checkpoint(ck / "step1", tok_dir, seed=1)
    f = ck / "step1" / "model.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    save_checkpoint(ck / "step2", tok_dir, seed=2)
    make_corpus(tmp_path / "corpus.jsonl")
    cfg = tiny_config(tmp_path)
    c = yaml.safe_load(cfg.read_text())
    c["suites"] = {
        "real": {
            "kind": "local",
            "path_pattern": str(tmp_path / "ck" / "seed{seed}" / "step{step}"),
            "seeds": [0],
            "models": ["tiny"],
            "steps": [0, 1, 2],
        }
    }
    # the run pass computes the token neurons too: a prompt pair of equal length in this small tokenizer
    c["neurons"]["prompts"] = [
        {"name": "farmer", "clean": "The farmer builds", "corrupted": "The nation builds"}
    ]
    cfg.write_text(yaml.safe_dump(c))
    snakemake(
        tmp_path, cfg, "-k", "results/runs/real.csv", "results/integrity/real.csv"
    )  # -k ends --configfile
    integrity = pd.read_csv(tmp_path / "results/integrity/real.csv")
    assert list(integrity.status) == ["ok", "corrupt", "ok"]
    log = (tmp_path / "logs/integrity/real.log").read_text()
    assert "left out: real tiny seed 0 step 1 is corrupt (model.safetensors is unreadable (" in log
    runs = pd.read_csv(tmp_path / "results/runs/real.csv", keep_default_na=False)
    assert list(zip(runs.step, runs.status)) == [(0, "failed"), (2, "ok")]
    expected = (
        "suite real, model tiny, seed 0, step 0: weight transformer.h.0.attn.c_attn.weight is not finite "
        "(nan at entry 3); the checkpoint's weights or training diverged: leave this checkpoint out or "
        "retrain with a smaller learning rate"
    )
    assert runs.error[0] == expected
    assert (
        f"left out: real tiny seed 0 step 0 failed: {expected}"
        in (tmp_path / "logs/run_status/real.log").read_text()
    )
    assert not (tmp_path / "results/metrics/real/tiny/seed0/step0.parquet").exists()
    assert (tmp_path / "results/metrics/real/tiny/seed0/step2.parquet").exists()


def test_figures_and_regression_summaries_carry_no_wall_clock(tmp_path):
    import statsmodels.api as sm

    from lmdyn.divergence import figures
    from lmdyn.divergence.regression_text import undated

    summary = pd.DataFrame(
        {
            "model": ["m"] * 4,
            "seed": [0, 0, 1, 1],
            "step": [0, 1, 0, 1],
            "kl_uniform": [0.0, 0.5, 0.1, 0.4],
            "kl_unigram": [1.0, 0.5, 0.9, 0.6],
        }
    )
    for name in ("a", "b"):
        figures.kl_reference(summary, [tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"])
        time.sleep(1.1)  # PDF dates have a resolution of one second
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    assert b"CreationDate" not in (tmp_path / "a.pdf").read_bytes()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    x = np.random.default_rng(0).normal(size=(40, 2))
    text = sm.OLS(x[:, 0], sm.add_constant(x[:, 1])).fit().summary().as_text()
    clean = undated(text)
    assert re.search(r"^Date:\s+-+\s", clean, re.M) and re.search(r"^Time:\s+-+\s", clean, re.M)
    assert [len(ln) for ln in clean.splitlines()] == [len(ln) for ln in text.splitlines()]
    assert not re.search(r"\d\d:\d\d:\d\d", clean)
