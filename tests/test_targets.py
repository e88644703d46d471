"""The workflow's targets and shared inputs (lmdyn.core.targets) and the run helpers of Suites, on
the default config and on small configs built here: no Snakemake run, no files."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from lmdyn.core import outputs, targets, tasks
from lmdyn.core.errors import UserError
from lmdyn.core.workflow import Suites, run_dir

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schemas" / "config.schema.yaml"
PER_RUN = ("probe", "anisotropy", "geometry", "neurons")


def filled(cfg: dict) -> dict:
    """The config with the schema's defaults filled in, as the workflow sees it."""
    cfg = copy.deepcopy(cfg)
    validate(cfg, str(SCHEMA))
    return cfg


def default_config() -> dict:
    return filled(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))


@pytest.fixture
def cfg():
    return default_config()


def with_final_suite(cfg: dict) -> dict:
    """The default config plus a published suite of one model, one seed and one step."""
    cfg = copy.deepcopy(cfg)
    cfg["suites"]["gpt2"] = {
        "kind": "final",
        "models": {"small": {"repo": "openai-community/gpt2", "revision": "abc123"}},
    }
    return filled(cfg)


def test_wildcard_patterns_match_exactly_the_names():
    import re

    pattern = targets.wildcard_pattern(["micro-s", "a.b"])
    assert re.fullmatch(pattern, "micro-s") and re.fullmatch(pattern, "a.b")
    assert not re.fullmatch(pattern, "aXb") and not re.fullmatch(pattern, "micro")
    assert not re.fullmatch(targets.wildcard_pattern([]), "")  # no names: nothing matches


def test_micro_and_published_suites_have_their_own_patterns(cfg):
    suites = Suites(with_final_suite(cfg))
    micro, published = targets.suite_patterns(suites)
    assert (micro, published) == ("micro", "gpt2")
    assert targets.model_pattern(suites) == r"micro\-m|micro\-s|small"


def test_suite_inputs_differ_between_trained_and_published_suites(cfg):
    c = with_final_suite(cfg)
    suites = Suites(c)
    assert targets.tokenizer_dir(suites, "micro") == "results/tokenizer/trained/micro"
    assert targets.tokenizer_dir(suites, "gpt2") == "results/tokenizer/suite/gpt2"
    assert targets.unigram_train_ids(c, suites, "micro") == "results/tokens/micro.train.npz"
    assert targets.unigram_train_ids(c, suites, "gpt2") == []
    c["unigram"]["split"] = "eval"
    assert targets.unigram_train_ids(c, suites, "micro") == []
    assert targets.run_inputs(suites, "micro", "micro-s", 1) == run_dir("micro", "micro-s", 1)
    assert targets.run_inputs(suites, "gpt2", "small", 0) == []


def test_local_files_are_inputs_only_for_local_sources(cfg):
    assert targets.local_corpus(cfg) == [] and targets.transfer_local(cfg) == []
    cfg["corpus"].update(source="local", path="docs.jsonl")
    cfg["geometry"]["transfer"].update(source="local", path="other.txt")
    assert targets.local_corpus(cfg) == ["docs.jsonl"]
    assert targets.transfer_local(cfg) == ["other.txt"]


def test_transfer_tokens_only_where_geometry_has_a_transfer_corpus(cfg):
    path = "results/geometry/micro/transfer_tokens.parquet"
    assert targets.transfer_tokens(cfg, "micro") == path
    cfg["geometry"]["transfer"]["source"] = None
    assert targets.transfer_tokens(cfg, "micro") == []
    cfg["geometry"]["transfer"]["source"] = "moby-dick"
    cfg["families"]["geometry"] = False
    assert targets.transfer_tokens(cfg, "micro") == []


def test_the_costliest_training_runs_start_first():
    suite = {
        "vocab_size": 1000,
        "models": {
            "m": {"hidden_size": 64, "num_layers": 4},
            "s": {"hidden_size": 32, "num_layers": 2},
            "l": {"hidden_size": 128, "num_layers": 4},
        },
    }
    assert targets.train_cost(suite["models"]["s"], 1000) == 12 * 32 * 32 * 2 + 2 * 32 * 1000
    assert [targets.train_priority(suite, m) for m in ("s", "m", "l")] == [1, 2, 3]


def test_figure_outputs_name_each_format_and_report_only_the_png():
    out = targets.figure_outputs("fig", "results/figures/{suite}/x.png", ["png", "pdf", "svg"], a=1)
    assert out == {
        "fig": ("results/figures/{suite}/x.png", {"a": 1}),
        "fig_pdf": ("results/figures/{suite}/x.pdf", None),
        "fig_svg": ("results/figures/{suite}/x.svg", None),
    }
    assert targets.figure_files("s", ["a", "b"], ["png", "pdf"]) == [
        "results/figures/s/a.png",
        "results/figures/s/a.pdf",
        "results/figures/s/b.png",
        "results/figures/s/b.pdf",
    ]


def test_run_files_cover_every_model_and_seed(cfg):
    suites = Suites(cfg)
    assert suites.runs("micro") == [(m, k) for m in ("micro-s", "micro-m") for k in (0, 1, 2)]
    assert (
        targets.integrity_inputs(suites, "micro")[0] == "results/integrity/micro/micro-s/seed0.csv"
    )
    assert targets.run_outputs(suites, "micro")[-1] == "results/runs/micro/micro-m/seed2.csv"
    tables = targets.family_run_tables(suites, "micro", "probe")
    assert set(tables) == set(tasks.run_table_paths(["probe"]))
    assert all(len(paths) == 6 for paths in tables.values())


def test_suites_references_are_per_run_and_in_step_order(cfg):
    suites = Suites(cfg)
    refs = suites.run_refs("micro", "micro-m", 1)
    assert [r["step"] for r in refs] == suites.steps("micro")
    assert {(r["model"], r["seed"]) for r in refs} == {("micro-m", 1)}
    assert suites.refs("micro")[: len(refs)] == suites.run_refs("micro", "micro-s", 0)
    assert len(suites.refs("micro")) == 6 * len(suites.steps("micro"))
    assert suites.first_ref("micro") == suites.ref("micro", "micro-s", 0, 0)


def test_run_jobs_take_the_most_threads_any_task_asks_for(cfg):
    cfg["probe"]["threads"], cfg["anisotropy"]["threads"] = 3, 5
    assert tasks.run_threads(cfg) == 5
    cfg["families"]["anisotropy"] = False
    assert tasks.run_threads(cfg) == 3


def test_final_outputs_hold_every_enabled_family_and_nothing_twice(cfg):
    suites = Suites(cfg)
    out = targets.final_outputs(cfg, suites)
    assert len(out) == len(set(out))
    for family in ("divergence", *PER_RUN):
        assert set(targets.family_outputs(cfg, suites, "micro", family)) <= set(out)
    assert set(targets.run_outputs(suites, "micro")) <= set(out)
    assert "results/training/micro/micro-m/seed2.tsv" in out
    assert {"results/integrity/micro.csv", "results/runs/micro.csv"} <= set(out)


def test_a_family_switched_off_leaves_rule_all_and_has_no_target(cfg):
    cfg["families"]["neurons"] = False
    suites = Suites(cfg)
    out = targets.final_outputs(cfg, suites)
    assert not any("neurons" in f for f in out)
    assert set(targets.family_outputs(cfg, suites, "micro", "probe")) <= set(out)
    with pytest.raises(UserError, match=r"families\.neurons: false"):
        targets.family_targets(cfg, suites, "neurons")
    with pytest.raises(KeyError, match="unknown family"):
        targets.family_targets(cfg, suites, "nope")


def test_family_targets_are_the_family_outputs_and_the_runs(cfg):
    suites = Suites(cfg)
    for family in ("divergence", *PER_RUN):
        got = targets.family_targets(cfg, suites, family)
        want = targets.family_outputs(cfg, suites, "micro", family)
        assert got == want + targets.run_outputs(suites, "micro")
    probe = targets.family_targets(cfg, suites, "probe")
    assert "results/probe/micro/probe.csv" in probe
    assert "results/figures/micro/probe_pca.pdf" in probe
    assert not any("/study/" in f for f in probe)


def test_a_one_model_one_seed_one_step_suite_has_no_comparison_figures(cfg):
    suites = Suites(with_final_suite(cfg))
    out = targets.family_outputs(cfg, suites, "gpt2", "divergence")
    figures = {Path(f).stem for f in out if f.startswith("results/figures/")}
    assert figures == {"kl_reference", "regression"}
    assert "results/study/gpt2/skipped.csv" in out  # says what was left out, and why


def test_every_target_table_is_declared_in_the_registry(cfg):
    suites = Suites(with_final_suite(cfg))
    out = targets.final_outputs(cfg, suites)
    tables = [f for f in out if not f.startswith(("results/figures/", "results/report/"))]
    undeclared = [f for f in tables if outputs.spec_of(f.removeprefix("results/")) is None]
    assert undeclared == []


def test_per_run_family_tables_match_their_declarations():
    from lmdyn.geometry import tables as geometry
    from lmdyn.neurons import tables as neurons

    for module, names in ((geometry, targets.GEOMETRY_TABLES), (neurons, targets.NEURON_TABLES)):
        declared = [t.name.split(".", 1)[1] for t in module.SUITE_TABLES]
        assert declared == list(names)
    for family, (tables, _) in targets.FAMILY_OUTPUTS.items():
        for t in tables:
            assert outputs.spec_of(f"{family}/s/{t}.csv") is not None, (family, t)


def test_what_the_workflow_imports_while_building_the_dag_is_light():
    """rules/common.smk runs again in every cluster job: no torch, pandas or numpy at import."""
    code = (
        "import sys; import lmdyn.core.targets, lmdyn.core.tasks, lmdyn.core.workflow, "
        "lmdyn.divergence.jobs; lmdyn.core.tasks.run_table_paths(lmdyn.core.tasks.FAMILY_TASKS); "
        "heavy = {'torch', 'pandas', 'numpy'} & set(sys.modules); assert not heavy, heavy"
    )
    env = {"PYTHONPATH": str(REPO / "scripts"), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr


def test_family_target_rules_build_their_family_or_say_it_is_off(tmp_path):
    """`snakemake probe` plans the probe's suite jobs and no other family's; a family switched
    off refuses its target with the reason (dry runs)."""
    import re

    from test_workflow import SNAKEMAKE, make_corpus, tiny_config

    def dry_run(target, cfg):
        cmd = SNAKEMAKE + [target, "-n", "--quiet", "rules", "--directory", str(tmp_path)]
        cmd += ["--configfile", str(cfg)]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)

    make_corpus(tmp_path / "corpus.jsonl", n_docs=8)
    cfg = tiny_config(tmp_path)
    res = dry_run("probe", cfg)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", res.stdout, re.M))
    assert {"probe_suite", "figure_probe", "probe", "checkpoint_tasks"} <= set(jobs)
    assert not {"all", "neurons_suite", "study_suite", "figure_geometry"} & set(jobs)
    c = yaml.safe_load(cfg.read_text())
    c["families"] = {"neurons": False}
    cfg.write_text(yaml.safe_dump(c))
    res = dry_run("neurons", cfg)
    assert res.returncode != 0
    assert "the neurons family is switched off (families.neurons: false" in res.stdout + res.stderr
