"""The workflow's targets and the inputs its rules share: rule all's files, each family's suite
tables and figures, figure files in every format, wildcard patterns, data inputs of a suite, and
the order training runs start in.

Plain functions of the config and a :class:`lmdyn.core.workflow.Suites`; standard library only
(rules/common.smk imports this module while the DAG is built, again in every cluster job).
"""

from __future__ import annotations

import re

from lmdyn import geometry, neurons, timeline
from lmdyn.core import report
from lmdyn.core.errors import UserError
from lmdyn.core.tables import INTEGRITY, INTEGRITY_RUN, RUNS, RUNS_RUN
from lmdyn.core.tasks import FAMILY_TASKS, enabled_families, run_table_paths
from lmdyn.core.workflow import run_dir
from lmdyn.data.tables import TRAINING
from lmdyn.divergence import jobs as divergence

# Inputs of every run job (evaluation tokens, unigram, transfer tokens) are made before the
# training runs take the cores, so each run's analyses can start as soon as that run is trained.
PREP_PRIORITY = 1000

GEOMETRY_TABLES, NEURON_TABLES = geometry.TABLES, neurons.TABLES
# The suite tables (CSV, under results/<family>/<suite>/) and figures of each per-run family.
FAMILY_OUTPUTS = {
    "probe": (("probe",), ("probe_kl", "probe_scatter", "probe_pca")),
    "anisotropy": (("anisotropy",), ("anisotropy_hist", "anisotropy_mean")),
    "geometry": (
        GEOMETRY_TABLES,
        ("geometry_accuracy", "geometry_norms", "geometry_pca", "geometry_attribution"),
    ),
    "neurons": (
        NEURON_TABLES,
        ("neurons_lens", "neurons_patching", "neurons_emergence", "neurons_activation"),
    ),
}


def wildcard_pattern(names) -> str:
    """A wildcard constraint matching exactly ``names`` (nothing when there are none)."""
    names = list(names)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def model_pattern(suites) -> str:
    """The ``{model}`` constraint: every model of every suite."""
    return wildcard_pattern(sorted({m for s in suites.cfg["suites"] for m in suites.models(s)}))


def suite_patterns(suites) -> tuple[str, str]:
    """Constraints of the micro suites (their runs are trained here) and of the published ones
    (their runs are fetched)."""
    names = list(suites.cfg["suites"])
    return (
        wildcard_pattern([s for s in names if suites.is_micro(s)]),
        wildcard_pattern([s for s in names if not suites.is_micro(s)]),
    )


def local_corpus(cfg: dict) -> list[str]:
    """The corpus file where it is local (npm corpora are fetched by the rule)."""
    c = cfg["corpus"]
    return [c["path"]] if c["source"] == "local" else []


def transfer_local(cfg: dict) -> list[str]:
    """The transfer test's corpus file where it is local."""
    t = cfg["geometry"]["transfer"]
    return [t["path"]] if t["source"] == "local" else []


def transfer_tokens(cfg: dict, suite: str) -> str | list:
    """The transfer test's tokens, where geometry is on and has a transfer corpus."""
    if "geometry" not in enabled_families(cfg) or cfg["geometry"]["transfer"]["source"] is None:
        return []
    return f"results/geometry/{suite}/transfer_tokens.parquet"


def tokenizer_dir(suites, suite: str) -> str:
    """A micro suite's trained tokenizer, or a published suite's (copied from a checkpoint)."""
    kind = "trained" if suites.is_micro(suite) else "suite"
    return f"results/tokenizer/{kind}/{suite}"


def unigram_train_ids(cfg: dict, suites, suite: str) -> str | list:
    """The train split encoded once by train_tokenizer, where a micro suite's unigram counts it."""
    if suites.is_micro(suite) and cfg["unigram"]["split"] == "train":
        return f"results/tokens/{suite}.train.npz"
    return []


def run_inputs(suites, suite: str, model: str, seed) -> str | list:
    """File inputs of a run: the micro run's folder (made by training), else none (hub checkpoints
    are resolved inside the job; local ones are checked by the integrity rule)."""
    return run_dir(suite, model, seed) if suites.is_micro(suite) else []


def run_hub(suites, suite: str, model: str, seed) -> str | list:
    """The commits and files fetch_run resolved for a published run (none for a micro run)."""
    if suites.is_micro(suite):
        return []
    return f"results/{INTEGRITY_RUN.path}".format(suite=suite, model=model, seed=seed).replace(
        ".csv", ".hub.json"
    )


def first_hub(suites, suite: str) -> str | list:
    """What fetch_run resolved for the run of a published suite's first checkpoint."""
    c = suites.plan(suite)[0]
    return run_hub(suites, suite, c.model, c.seed)


def integrity_inputs(suites, suite: str) -> list[str]:
    """Every run's integrity table (written by fetch_run or train_micro)."""
    return suites.run_files(suite, f"results/{INTEGRITY_RUN.path}")


def family_run_tables(suites, suite: str, family: str) -> dict:
    """Every run's tables of a per-run family (output name -> paths), as its checkpoint job writes
    them."""
    return {name: suites.run_files(suite, path) for name, path in run_table_paths([family]).items()}


def train_cost(size: dict, vocab: int) -> int:
    """Multiply-adds per token of a training step: the blocks and the output layer."""
    d = size["hidden_size"]
    return 12 * d * d * size["num_layers"] + 2 * d * vocab


def train_priority(suite_cfg: dict, model: str) -> int:
    """1 + rank of the model's cost per training step in its suite: the largest runs start first,
    so the smaller ones and the analyses of finished runs fill the cores around them."""
    vocab = suite_cfg["vocab_size"]
    cost = {m: train_cost(size, vocab) for m, size in suite_cfg["models"].items()}
    return 1 + sorted(cost.values()).index(cost[model])


def figure_outputs(name: str, png: str, formats, **report_kw) -> dict:
    """One figure's outputs: the PNG as ``name`` with its report options, each other format as
    ``name_<format>`` (rule scripts gather them with lmdyn.core.plots.figure_paths); values are
    (path, report options or None)."""
    stem = png.removesuffix(".png")
    out = {name: (png, report_kw)}
    return out | {f"{name}_{f}": (f"{stem}.{f}", None) for f in formats if f != "png"}


def figure_files(suite: str, names, formats) -> list[str]:
    """The named figures of a suite in every format."""
    return [f"results/figures/{suite}/{n}.{f}" for n in names for f in formats]


def run_outputs(suites, suite: str) -> list[str]:
    """Every run's status table. Rule all asks for them directly (not only through the suite jobs,
    which wait for the run status checkpoint), so each run's tasks start as soon as that run is
    trained or fetched, beside the other runs' training."""
    return suites.run_files(suite, f"results/{RUNS_RUN.path}")


def family_outputs(cfg: dict, suites, suite: str, family: str) -> list[str]:
    """A family's suite tables (CSV), figures and report pages of one suite."""
    formats = cfg["figures"]["formats"]
    if family == "divergence":
        tables = divergence.table_targets(suite) + divergence.study_targets(suite)
        figures = figure_files(suite, divergence.figure_names(suites, suite), formats)
        return tables + figures + report.pages(tables)
    tables, figures = FAMILY_OUTPUTS[family]
    csv = [f"results/{family}/{suite}/{t}.csv" for t in tables]
    return csv + figure_files(suite, figures, formats) + report.pages(csv)


def family_targets(cfg: dict, suites, family: str) -> list[str]:
    """A family's target rule: its suite tables and figures of every suite, and every run's status
    (as for rule all, so that runs start early). A family switched off in ``families`` has none:
    asking for it is an error that says so."""
    if family not in FAMILY_TASKS:
        raise KeyError(f"unknown family {family!r}; known: {sorted(FAMILY_TASKS)}")
    if family not in enabled_families(cfg):
        raise UserError(
            f"the {family} family is switched off (families.{family}: false in the config): "
            "it has no outputs; set it to true to build them"
        )
    return [
        f
        for s in cfg["suites"]
        for f in family_outputs(cfg, suites, s, family) + run_outputs(suites, s)
    ]


def final_outputs(cfg: dict, suites) -> list[str]:
    """Rule all: every enabled family's outputs, the timeline, the checkpoint and run status
    tables, every run's status (so that runs start early) and, for micro suites, the training
    curves."""
    out = []
    for s in cfg["suites"]:
        figures = divergence.figure_names(suites, s)
        out += divergence.table_targets(s)
        out += [f"results/{t.path}".format(suite=s) for t in (INTEGRITY, RUNS)]
        out += divergence.study_targets(s)
        out += figure_files(s, figures, cfg["figures"]["formats"])
        out += run_outputs(suites, s)
        for family in enabled_families(cfg)[1:]:
            out += family_outputs(cfg, suites, s, family)
        out += timeline.outputs(s, cfg["figures"]["formats"])
        if suites.is_micro(s):
            out += suites.run_files(s, f"results/{TRAINING.path}")
    return out + [p for p in report.pages(out) if p not in set(out)]
