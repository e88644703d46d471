"""The real workflow end to end on a tiny config (corpus generated here, tiny models, a few steps),
and the one-line errors for bad input. Runs Snakemake as a user would."""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lmdyn.core import outputs

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]

SUBJECTS = [
    "the farmer",
    "a soldier",
    "the nation",
    "our people",
    "the congress",
    "every citizen",
    "the court",
]
VERBS = ["builds", "defends", "needs", "protects", "values", "remembers", "serves"]
OBJECTS = [
    "the law",
    "a new road",
    "the peace",
    "their rights",
    "the treasury",
    "our union",
    "the harbor",
]
ADVERBS = ["quickly", "always", "today", "again", "firmly"]


def make_corpus(path: Path, n_docs=24, seed=0):
    rng = np.random.default_rng(seed)
    with path.open("w") as f:
        for i in range(n_docs):
            sents = []
            for _ in range(40):
                s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
                if rng.random() < 0.5:
                    s += f" {rng.choice(ADVERBS)}"
                sents.append(s[0].upper() + s[1:] + ".")
            f.write(json.dumps({"text": " ".join(sents), "year": 1900 + i}) + "\n")


def tiny_families(corpus: Path) -> dict:
    """Layer geometry and token neurons on a tiny corpus (make_corpus): the corpus as its own transfer
    corpus (no npm) and a prompt in its words whose targets are single tokens of a 300-token BPE."""
    return {
        "geometry": {
            "n_windows": 8,
            "n_tokens": 8,
            "lengths": [4],
            "transfer": {"source": "local", "path": str(corpus), "n_docs": 4},
        },
        "neurons": {
            "prompts": [
                {"name": "farmer", "clean": "The farmer builds", "corrupted": "The farmer farmer"}
            ],
            "targets": [" the", " a"],
            "n_windows": 8,
            "min_gap": 0.0,  # models this small barely separate the targets: check the arithmetic
        },
    }


def tiny_config(tmp: Path, **overrides):
    cfg = {
        "corpus": {"source": "local", "path": str(tmp / "corpus.jsonl"), "n_eval": 6, "seed": 3},
        "tokens": {"context_length": 32, "windows_per_doc": 2},
        "suites": {
            "micro": {
                "kind": "micro",
                "vocab_size": 300,
                "seeds": [0, 1],
                "models": {
                    "xs": {"hidden_size": 16, "num_layers": 1, "num_heads": 2},
                    "s": {"hidden_size": 32, "num_layers": 1, "num_heads": 2},
                },
                "train": {
                    "max_step": 8,
                    "log_until": 4,
                    "every": 8,
                    "batch_size": 8,
                    "lr": 0.01,
                    "warmup": 2,
                },
            }
        },
        "regression": {"min_tag_count": 5},
        **tiny_families(tmp / "corpus.jsonl"),
    }
    for key, value in overrides.items():
        section, name = key.split("__")
        cfg[section][name] = value
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake(workdir, configfile, *args, check=True):
    cmd = SNAKEMAKE + [
        "--cores",
        "2",
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *args,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
    return res


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    make_corpus(tmp / "corpus.jsonl")
    cfg = tiny_config(tmp)
    snakemake(tmp, cfg)
    return tmp, cfg


@pytest.mark.workflow
def test_outputs_have_the_documented_shape_and_sane_values(finished_run):
    tmp, _ = finished_run
    r = tmp / "results"
    tokens = pd.read_parquet(r / "tokens/micro.parquet")
    n_pred = len(tokens) - tokens.groupby(["doc_id", "window"]).ngroups
    unigram = pd.read_parquet(r / "unigram/micro.parquet")
    vocab = len(unigram)
    assert unigram.prob.sum() == pytest.approx(1.0) and (unigram.prob > 0).all()
    steps = [0, 1, 2, 4, 8]
    for model in ("xs", "s"):
        for seed in (0, 1):
            first = pd.read_parquet(r / f"metrics/micro/{model}/seed{seed}/step0.parquet")
            last = pd.read_parquet(r / f"metrics/micro/{model}/seed{seed}/step8.parquet")
            assert list(first.columns) == [
                "doc_id",
                "position",
                "target_id",
                "nll",
                "entropy",
                "kl_uniform",
                "kl_unigram",
            ]
            assert len(first) == n_pred
            hidden = np.load(r / f"hidden/micro/{model}/seed{seed}/step0.npy")
            assert hidden.shape[0] == n_pred
            # initialisation is near uniform: nll ~ log|V|, KL to uniform ~ 0
            assert first.nll.mean() == pytest.approx(math.log(vocab), abs=0.1)
            assert first.kl_uniform.mean() < 0.05
            assert (first.kl_uniform >= -1e-5).all() and (first.kl_unigram >= -1e-5).all()
            # training lowers cross-entropy and moves away from uniform
            assert last.nll.mean() < first.nll.mean() - 0.3
            assert last.kl_uniform.mean() > first.kl_uniform.mean()
    summary = pd.read_csv(r / "tables/micro/summary.csv")
    assert len(summary) == 2 * 2 * len(steps)
    assert set(summary.columns) >= {
        "suite",
        "model",
        "seed",
        "step",
        "nll",
        "entropy",
        "kl_uniform",
        "kl_unigram",
        "kl_seeds",
        "kl_steps",
    }
    pairs = pd.read_parquet(r / "pairs/micro/seeds_step8.parquet")
    assert list(pairs.columns) == [
        "doc_id",
        "position",
        "model",
        "seed_a",
        "seed_b",
        "kl_ab",
        "kl_ba",
    ]
    assert len(pairs) == 2 * n_pred and set(pairs.model) == {"xs", "s"} and (pairs.kl_ab > 0).all()
    steps_pairs = pd.read_parquet(r / "pairs/micro/steps_step8.parquet")
    assert set(zip(steps_pairs.model, steps_pairs.seed, steps_pairs.step_a)) == {
        (m, k, 4) for m in ("xs", "s") for k in (0, 1)
    }
    # one process per run: every checkpoint of the run is in its status table
    runs = pd.read_csv(r / "runs/micro.csv")
    assert len(runs) == 2 * 2 * len(steps) and set(runs.status) == {"ok"}
    # different seeds disagree more after training than at a near-uniform initialisation
    s = summary[summary.model == "s"].groupby("step").kl_seeds.mean()
    assert s[8] > s[0]
    breakdown = pd.read_csv(r / "tables/micro/breakdown.csv", keep_default_na=False)
    tags = breakdown[
        (breakdown.metric == "kl_seeds") & (breakdown.grouping == "tag") & (breakdown.step == 8)
    ]
    assert {"NN", "DT", "VBZ"} <= set(tags.group)
    # sigma weighted by subgroup size averages to 1
    one = tags[tags.model == "s"]
    assert (one.sigma * one.n_tokens).sum() / one.n_tokens.sum() == pytest.approx(1.0, rel=1e-4)
    coefs = pd.read_csv(r / "regression/micro/coefficients.csv", keep_default_na=False)
    assert {"log_unigram", "model[xs]"} <= set(coefs.term) or {"log_unigram", "model[s]"} <= set(
        coefs.term
    )
    assert (
        "Reference" in (r / "regression/micro/summary.txt").read_text()
        or "reference" in (r / "regression/micro/summary.txt").read_text()
    )
    for fig in (
        "kl_reference",
        "kl_seeds",
        "regression",
        "sigma_s",
        "sigma_xs",
        "learnability_s",
        "phases",
        "seed_divergence",
        "seed_groups",
        "ce_fit",
        "dh_kl",
        "sizes",
    ):
        assert (r / f"figures/micro/{fig}.png").stat().st_size > 5000
        assert (r / f"figures/micro/{fig}.pdf").exists()


@pytest.mark.workflow
def test_study_tables_are_consistent_with_the_per_token_tables(finished_run):
    tmp, _ = finished_run
    r = tmp / "results"
    curves = pd.read_csv(r / "study/micro/curves.csv")
    summary = pd.read_csv(r / "tables/micro/summary.csv")
    # seed-averaged curve = mean over seeds of the per-seed means (same tokens for every seed)
    for metric in ("nll", "kl_unigram", "kl_seeds"):
        c = curves[curves.metric == metric].set_index(["model", "step"])["mean"].sort_index()
        s = summary.groupby(["model", "step"])[metric].mean().sort_index()
        np.testing.assert_allclose(c.to_numpy(), s.loc[c.index].to_numpy(), rtol=1e-5)
    assert (curves.ci_low <= curves["mean"] + 1e-12).all() and (
        curves["mean"] <= curves.ci_high + 1e-12
    ).all()
    assert {"kl_seeds_ab", "kl_seeds_ba", "kl_steps"} <= set(curves.metric)
    phases = pd.read_csv(r / "study/micro/phases.csv")
    assert len(phases) == 2 * 2 + 2 and set(phases.seeds) == {"one", "mean"}
    assert set(phases.seed.dropna()) == {0, 1} and phases.seed.isna().sum() == 2  # the mean rows
    groups = pd.read_csv(r / "study/micro/seed_groups.csv", keep_default_na=False)
    assert {"freq_bin", "class", "class_prev"} == set(groups.grouping)
    assert {"noun", "verb"} <= set(groups.group)
    sizes = pd.read_parquet(r / "pairs/micro/sizes_step8.parquet")
    assert {frozenset(p) for p in zip(sizes.model_a, sizes.model_b)} == {frozenset({"xs", "s"})}
    assert (sizes.kl_ab > 0).all()
    sigma = pd.read_csv(r / "study/micro/sigma.csv", keep_default_na=False)
    assert {"kl_seeds", "kl_steps"} == set(sigma.metric)
    for name in ("coefficients", "pooled", "phases"):
        csv = pd.read_csv(r / f"regression/micro/{name}.csv", keep_default_na=False)
        assert len(pd.read_parquet(r / f"regression/micro/{name}.parquet")) == len(csv) > 0
    fits = pd.read_csv(r / "study/micro/ce_fit.csv", keep_default_na=False)
    assert {"difference", "ratio"} == set(fits.form)


@pytest.mark.workflow
def test_every_table_matches_its_declaration(finished_run):
    """Every parquet, CSV and TSV file under results/ is declared in lmdyn.<family>.tables and has
    its columns and dtypes (also the tables of writers that do not validate them themselves)."""
    tmp, _ = finished_run
    assert outputs.check_results(tmp / "results") == []


@pytest.mark.workflow
def test_rerun_is_a_no_op_and_figure_options_rerun_only_figures(finished_run):
    tmp, cfg = finished_run
    res = snakemake(tmp, cfg, "-n")
    assert "Nothing to be done" in res.stdout + res.stderr
    cfg2 = tmp / "config_dpi.yaml"
    c = yaml.safe_load(cfg.read_text())
    c["figures"] = {"dpi": 80}
    cfg2.write_text(yaml.safe_dump(c))
    res = snakemake(tmp, cfg2, "-n", "--quiet", "rules")
    rules = set(re.findall(r"^(\w+)\s+\d+$", res.stdout, re.M)) - {"all", "total"}
    assert rules and all(r.startswith("figure_") for r in rules), rules


@pytest.mark.workflow
def test_report_contains_every_figure_and_table(finished_run):
    tmp, cfg = finished_run
    snakemake(tmp, cfg, "--report", str(tmp / "report.html"))
    html = (tmp / "report.html").read_text(errors="ignore")
    for name in (
        "kl_reference.png",
        "kl_seeds.png",
        "regression.png",
        "sigma_s.png",
        "phases.png",
        "seed_groups.png",
        "ce_fit.png",
        "sizes.png",
        # tables as HTML pages the report's viewer shows (a CSV would only download)
        "tables/micro/summary.csv.html",
        "regression/micro/coefficients.csv.html",
        "regression/micro/summary.txt.html",
        "study/micro/outliers.csv.html",
        "regression/micro/pooled.csv.html",
        "study/micro/curves.csv.html",
        "integrity/micro.csv.html",
        "timeline.png",
        "study/micro/timeline.csv.html",
    ):
        assert name in html, name
    from lmdyn.core.report import CATEGORIES

    for category in CATEGORIES.values():
        assert category in html, category


def one_line_error(tmp, cfg, expected):
    res = snakemake(tmp, cfg, "-n", check=False)
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("lmdyn")]
    assert len(lines) == 1 and re.search(expected, lines[0]), res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert not (tmp / "results").exists()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"tokens__context_length": 1}, r"tokens\.context_length.*minimum"),
        ({"corpus__source": "gutenberg"}, r"corpus\.source.*'gutenberg'"),
        ({"corpus__path": "/nonexistent/corpus.txt"}, r"does not exist"),
        (
            {"pos__spacy_model": "xx_no_such_model"},
            r"spaCy model 'xx_no_such_model' is not installed",
        ),
        ({"corpus__n_docs": 5, "corpus__n_eval": 5}, r"n_eval"),
    ],
)
def test_bad_config_gives_one_line(tmp_path, overrides, expected):
    make_corpus(tmp_path / "corpus.jsonl", n_docs=3)
    overrides = dict(overrides)
    if "pos__spacy_model" in overrides:
        overrides["pos__spacy_model"] = overrides["pos__spacy_model"]
    cfg = tiny_config(tmp_path, **{k: v for k, v in overrides.items() if not k.startswith("pos__")})
    if "pos__spacy_model" in overrides:
        c = yaml.safe_load(cfg.read_text())
        c["pos"] = {"spacy_model": overrides["pos__spacy_model"]}
        cfg.write_text(yaml.safe_dump(c))
    one_line_error(tmp_path, cfg, expected)


def test_documents_too_short_fail_cleanly(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"text": w}) for w in ["Hi"] * 10) + "\n"
    )
    cfg = tiny_config(tmp_path)
    res = snakemake(tmp_path, cfg, "--until", "tokenize_eval", check=False)
    assert res.returncode != 0
    assert "lmdyn error in rule tokenize_eval: no evaluation document is long enough" in res.stderr
    assert not (tmp_path / "results/tokens/micro.parquet").exists()


def test_default_corpus_without_npm_gives_one_line(tmp_path):
    cfg = tiny_config(tmp_path)
    c = yaml.safe_load(cfg.read_text())
    c["corpus"] = {"source": "sotu"}
    cfg.write_text(yaml.safe_dump(c))
    # A PATH with everything the system has except Node.js/npm.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        for f in Path(d).iterdir() if Path(d).is_dir() else []:
            if (
                f.name not in ("npm", "npx", "node", "nodejs", "corepack")
                and not (bin_dir / f.name).exists()
            ):
                (bin_dir / f.name).symlink_to(f)
    env = {"PATH": f"{Path(sys.executable).parent}:{bin_dir}", "HOME": str(tmp_path)}
    cmd = SNAKEMAKE + ["-n", "--cores", "1", "--directory", str(tmp_path), "--configfile", str(cfg)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("lmdyn")]
    assert len(lines) == 1 and "npm is required" in lines[0], res.stderr[-2000:]
