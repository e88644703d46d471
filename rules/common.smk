# Table of contents of the workflow's helpers (no rules): validation, wildcard constraints, input
# and params functions, the targets of rule all. The logic behind them lives in the library
# (lmdyn.core.workflow, lmdyn.core.plans). Runs again for every cluster job: nothing heavy is imported.
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from lmdyn.core.errors import UserError  # noqa: E402
from lmdyn.core.workflow import Suites, check_config  # noqa: E402
from lmdyn.divergence.comparisons import comparisons  # noqa: E402
from lmdyn.core.tasks import (  # noqa: E402
    FAMILY_TASKS,
    enabled_families,
    entries_of,
    run_table_paths,
    run_tasks,
    task_params,
)

# ---- validation -----------------------------------------------------------------------------------

try:
    check_config(
        config, Path(workflow.basedir) / "config" / "schemas" / "config.schema.yaml"
    )
except UserError as e:  # stop before any job, with one line
    sys.stderr.write(f"lmdyn: {e}\n")
    sys.exit(1)
SUITES = Suites(config)


# ---- wildcard constraints -------------------------------------------------------------------------


def wildcard_pattern(names):
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


wildcard_constraints:
    suite=wildcard_pattern(list(config["suites"])),
    model=wildcard_pattern(
        sorted({m for s in config["suites"] for m in SUITES.models(s)})
    ),
    seed=r"\d+",
    step=r"\d+",
    family=wildcard_pattern(enabled_families(config)),


# A run's integrity table comes from train_micro (micro suites) or fetch_run (published suites).
MICRO_SUITES = wildcard_pattern([s for s in config["suites"] if SUITES.is_micro(s)])
PUBLISHED_SUITES = wildcard_pattern(
    [s for s in config["suites"] if not SUITES.is_micro(s)]
)


# ---- paths and the steps analysed ---------------------------------------------------------------


def run_dir(suite, model, seed):
    """A micro-suite run trained by the workflow (one HF directory per step inside)."""
    return f"results/checkpoints/{suite}/{model}/seed{seed}"


def metrics_file(suite, model, seed, step):
    return f"results/metrics/{suite}/{model}/seed{seed}/step{step}.parquet"


def hidden_file(suite, model, seed, step):
    return f"results/hidden/{suite}/{model}/seed{seed}/step{step}.npy"


def analysis_steps(suite, model):
    """Steps of a model sound in the integrity table and forward-passed for every seed."""
    return SUITES.analysis_steps(
        suite,
        model,
        checkpoints.integrity.get(suite=suite).output.table,
        checkpoints.run_status.get(suite=suite).output.table,
    )


def common_steps(suite):
    """Steps analysed for every model (cross-size comparisons, regression)."""
    steps = [set(analysis_steps(suite, m)) for m in SUITES.models(suite)]
    return sorted(set.intersection(*steps))


def micro_runs(suite, models):
    if not SUITES.is_micro(suite):
        return []
    return [run_dir(suite, m, k) for m in models for k in SUITES.seeds(suite)]


# ---- input functions ------------------------------------------------------------------------------


def local_corpus():
    c = config["corpus"]
    return [c["path"]] if c["source"] == "local" else []


def tokenizer_dir(wildcards):
    """Micro suites train their tokenizer; published suites bring theirs (copied from a checkpoint)."""
    kind = "trained" if SUITES.is_micro(wildcards.suite) else "suite"
    return f"results/tokenizer/{kind}/{wildcards.suite}"


def unigram_train_ids(wildcards):
    """The train split encoded once by train_tokenizer (micro suites counting the train split)."""
    if SUITES.is_micro(wildcards.suite) and config["unigram"]["split"] == "train":
        return f"results/tokens/{wildcards.suite}.train.npz"
    return []


def checkpoint_run(wildcards):
    """File inputs of a run: the micro run directory (produced by training), else none (hub
    checkpoints are resolved inside the job; local ones are checked by the integrity rule).
    """
    if not SUITES.is_micro(wildcards.suite):
        return []
    return run_dir(wildcards.suite, wildcards.model, wildcards.seed)


def integrity_inputs(wildcards):
    s = wildcards.suite
    return [
        f"results/integrity/{s}/{m}/seed{k}.csv"
        for m in SUITES.models(s)
        for k in SUITES.seeds(s)
    ]


def run_status_inputs(wildcards):
    s = wildcards.suite
    return [
        ancient(f"results/runs/{s}/{m}/seed{k}.csv")
        for m in SUITES.models(s)
        for k in SUITES.seeds(s)
    ]


def pair_models(suite, step):
    return [m for m in SUITES.models(suite) if int(step) in analysis_steps(suite, m)]


def pair_inputs(wildcards):
    s, models = wildcards.suite, pair_models(wildcards.suite, wildcards.step)
    # ancient: a rerun of a run job (e.g. for a new step) leaves this step's pairs alone; what
    # they read is in the entries param (get_pair_entries)
    return {
        "hidden": [
            ancient(f"results/hidden/{s}/{m}/seed{k}")
            for m in models
            for k in SUITES.seeds(s)
        ],
        "runs": [ancient(r) for r in micro_runs(s, models)],
    }


def model_inputs(wildcards):
    s, m = wildcards.suite, wildcards.model
    steps = analysis_steps(s, m)
    return {
        "metrics": [
            ancient(f"results/metrics/{s}/{m}/seed{k}") for k in SUITES.seeds(s)
        ],
        "seed_pairs": [f"results/pairs/{s}/seeds_step{t}.parquet" for t in steps],
        "step_pairs": [f"results/pairs/{s}/steps_step{t}.parquet" for t in steps],
    }


def regression_inputs(wildcards):
    # per-token metrics through ancient (their entries are a param), pair tables as they are
    return [
        r["path"] if r["seed"] is None else ancient(r["path"])
        for r in regression_files(wildcards)
    ]


def suite_tables(wildcards):
    models = SUITES.models(wildcards.suite)
    return {
        name: [f"results/tables/{wildcards.suite}/{m}/{name}.parquet" for m in models]
        for name in ("summary", "breakdown")
    }


def study_suite_inputs(wildcards):
    s = wildcards.suite
    models = SUITES.models(s)
    inputs = {
        name: [f"results/study/{s}/{m}/{name}.parquet" for m in models]
        for name in STUDY_TABLES
    }
    inputs["features"] = f"results/features/{s}.parquet"
    inputs["integrity"] = f"results/integrity/{s}.csv"
    inputs["summary"] = f"results/tables/{s}/summary.parquet"
    inputs["sizes"] = list(size_files(wildcards).values())
    return inputs


# ---- params functions (named, so rules stay free of lambdas; keyed, so scripts never rely on order)


def suite_steps(wildcards):
    return SUITES.steps(wildcards.suite)


def suite_models(wildcards):
    return SUITES.models(wildcards.suite)


def suite_common_steps(wildcards):
    return common_steps(wildcards.suite)


def suite_sound_steps(wildcards):
    """model -> steps sound for every seed: the suite tables of the per-run families keep only
    these (a run job computes every step sound in its own run)."""
    s = wildcards.suite
    return {
        m: SUITES.sound_steps(s, m, checkpoints.integrity.get(suite=s).output.table)
        for m in SUITES.models(s)
    }


def suite_analysis_steps(wildcards):
    """model -> steps analysed for every seed (sound and forward-passed)."""
    return {
        m: analysis_steps(wildcards.suite, m) for m in SUITES.models(wildcards.suite)
    }


def model_steps(wildcards):
    return analysis_steps(wildcards.suite, wildcards.model)


def suite_vocab_size(wildcards):
    return config["suites"][wildcards.suite]["vocab_size"]


def suite_arch(wildcards):
    return config["suites"][wildcards.suite]["arch"]


def suite_train(wildcards):
    return config["suites"][wildcards.suite]["train"]


def model_size(wildcards):
    return config["suites"][wildcards.suite]["models"][wildcards.model]


def _train_cost(size, vocab):
    """Multiply-adds per token of a training step: the blocks and the output layer."""
    d = size["hidden_size"]
    return 12 * d * d * size["num_layers"] + 2 * d * vocab


def train_priority(wildcards):
    """1 + rank of the model's cost per training step in its suite: the largest runs start first,
    so the smaller ones and the analyses of finished runs fill the cores around them."""
    suite = config["suites"][wildcards.suite]
    cost = {
        m: _train_cost(size, suite["vocab_size"]) for m, size in suite["models"].items()
    }
    return 1 + sorted(cost.values()).index(cost[wildcards.model])


# Inputs of every run job (evaluation tokens, unigram, transfer tokens): made before the training
# runs take the cores, so each run's analyses can start as soon as that run is trained.
PREP_PRIORITY = 1000


def suite_comparisons(suite):
    """Which of seed pairs, consecutive steps and sizes the suite has (lmdyn.divergence.comparisons)."""
    return comparisons(
        len(SUITES.models(suite)), len(SUITES.seeds(suite)), len(SUITES.steps(suite))
    )


def regression_metric(suite):
    """regression.metric, or the fallback of a suite without the seed pairs it needs."""
    return suite_comparisons(suite).regression_metric(config["regression"]["metric"])[0]


def regression_metric_of(wildcards):
    return regression_metric(wildcards.suite)


def suite_skipped(wildcards):
    """The comparisons the suite cannot have, with their reasons (lmdyn.divergence.comparisons)."""
    c = suite_comparisons(wildcards.suite)
    note = c.regression_metric(config["regression"]["metric"])[1]
    return {"skipped": c.skipped(), "regression_note": note}


def regression_step_of(wildcards):
    step = config["regression"]["step"]
    return max(common_steps(wildcards.suite)) if step == "last" else step


def run_refs(wildcards):
    """Encoded references of every planned checkpoint of a run (integrity)."""
    s, m, k = wildcards.suite, wildcards.model, wildcards.seed
    return [SUITES.ref(s, m, k, c.step) for c in SUITES.run(s, m, k)]


def first_checkpoint_ref(wildcards):
    c = SUITES.plan(wildcards.suite)[0]
    return SUITES.ref(c.suite, c.model, c.seed, c.step)


def pair_job(wildcards):
    """What the pair job at a step compares: seeds per model, each model's previous analysed step,
    and models against each other where every model is analysed at the step."""
    s, t = wildcards.suite, int(wildcards.step)
    models = pair_models(s, t)
    prev = {}
    for m in models:
        earlier = [x for x in analysis_steps(s, m) if x < t]
        prev[m] = max(earlier) if earlier else None
    sizes = len(SUITES.models(s)) > 1 and t in common_steps(s)
    return {
        "step": t,
        "models": models,
        "seeds": SUITES.seeds(s),
        "prev": prev,
        "sizes": sizes,
    }


def pair_checkpoints(wildcards):
    """ "model/seed/step" -> cached hidden states and checkpoint reference of every side."""
    s, job = wildcards.suite, pair_job(wildcards)
    out = {}
    for m in job["models"]:
        for t in [job["step"]] + (
            [job["prev"][m]] if job["prev"][m] is not None else []
        ):
            for k in job["seeds"]:
                out[f"{m}/{k}/{t}"] = {
                    "hidden": hidden_file(s, m, k, t),
                    "checkpoint": SUITES.ref(s, m, k, t),
                }
    return out


def model_files(wildcards):
    """Per-token tables of one model: metrics[seed][step], seed_pairs[step], step_pairs[step]."""
    s, m = wildcards.suite, wildcards.model
    steps = analysis_steps(s, m)
    return {
        "metrics": {
            k: {t: metrics_file(s, m, k, t) for t in steps} for k in SUITES.seeds(s)
        },
        "seed_pairs": {t: f"results/pairs/{s}/seeds_step{t}.parquet" for t in steps},
        "step_pairs": {t: f"results/pairs/{s}/steps_step{t}.parquet" for t in steps},
    }


def regression_files(wildcards):
    """Per-token values at every common step: records (model, step, seed or None, path)."""
    s = wildcards.suite
    steps = common_steps(s)
    if regression_metric(s) == "kl_seeds":
        return [
            {
                "model": m,
                "step": t,
                "seed": None,
                "path": f"results/pairs/{s}/seeds_step{t}.parquet",
            }
            for m in SUITES.models(s)
            for t in steps
        ]
    return [
        {"model": m, "step": t, "seed": k, "path": metrics_file(s, m, k, t)}
        for m in SUITES.models(s)
        for t in steps
        for k in SUITES.seeds(s)
    ]


def size_files(wildcards):
    """step -> cross-size pair table (none for a one-model suite)."""
    s = wildcards.suite
    # common_steps is asked even for one model: an input function downstream of the integrity
    # checkpoint that never asks it leaves its jobs flagged for a rerun (no-op reruns break)
    steps = common_steps(s)
    if len(SUITES.models(s)) < 2:
        return {}
    return {t: f"results/pairs/{s}/sizes_step{t}.parquet" for t in steps}


# ---- figures --------------------------------------------------------------------------------------

# The PNG of every figure is its report output; the other figures.formats are written beside it.
FIGURE_FORMATS = config["figures"]["formats"]


def figure_outputs(name, png, **report_kw):
    """One figure's outputs: the PNG (in the report) as `name`, each other format as `name_<format>`
    (rule scripts gather them with lmdyn.core.plots.figure_paths)."""
    stem = png.removesuffix(".png")
    out = {name: report(png, **report_kw)}
    return out | {f"{name}_{f}": f"{stem}.{f}" for f in FIGURE_FORMATS if f != "png"}


def figure_files(suite, names):
    """The named figures of a suite in every format (targets of rule all)."""
    return [f"results/figures/{suite}/{n}.{f}" for n in names for f in FIGURE_FORMATS]


# ---- the study tables and the targets of rule all -----------------------------------------------

STUDY_TABLES = ("curves", "seed_groups", "sigma", "dh_kl", "ce_fit", "trajectories")
REGRESSION_PARQUET = ("coefficients.parquet", "pooled.parquet", "phases.parquet")
# Study tables shown in the report (CSV), with their report category.
STUDY_REPORTED = {
    "curves": "Reference distributions and phases",
    "phases": "Reference distributions and phases",
    "seed_groups": "Seed divergence",
    "outliers": "Relative divergence",
    "ce_fit": "Cross-entropy fitting",
    "dh_kl": "Cross-entropy fitting",
    "sizes": "Cross-size divergence",
    "skipped": "Skipped analyses",
}


def study_suite_outputs():
    out = {}
    for name in STUDY_TABLES + ("outliers", "phases", "sizes", "skipped"):
        csv = f"results/study/{{suite}}/{name}.csv"
        if name in STUDY_REPORTED:
            csv = report(
                csv,
                caption=f"../report/table_{name}.rst",
                category=STUDY_REPORTED[name],
                labels={"suite": "{suite}", "table": name},
            )
        out[name] = csv
        out[f"{name}_parquet"] = f"results/study/{{suite}}/{name}.parquet"
    return out


def final_outputs():
    out = []
    for s in config["suites"]:
        models = SUITES.models(s)
        out += [f"results/tables/{s}/{n}.csv" for n in ("summary", "breakdown")]
        out += [f"results/regression/{s}/coefficients.csv"]
        out += [f"results/integrity/{s}.csv", f"results/runs/{s}.csv"]
        out += [
            f"results/study/{s}/{n}.csv"
            for n in STUDY_TABLES + ("outliers", "phases", "sizes", "skipped")
        ]
        # figures of seed, step and size comparisons only where the suite has them
        figures = ["kl_reference", "regression"]
        figures += suite_comparisons(s).figures(models)
        out += figure_files(s, figures)
        out += run_outputs(s)
        for family in enabled_families(config)[1:]:
            out += family_outputs(s, family)
        if SUITES.is_micro(s):
            out += [
                f"results/training/{s}/{m}/seed{k}.tsv"
                for m in models
                for k in SUITES.seeds(s)
            ]
    return out


# ---- per-run families: probe, anisotropy, geometry, neurons --------------------------------------


def run_outputs(suite):
    """Every run's checkpoint job, asked by rule all directly (not only through the suite jobs,
    which wait for the integrity checkpoint): each run's tasks start as soon as that run is
    trained or fetched, beside the other runs' training."""
    return [
        f"results/runs/{suite}/{m}/seed{k}.csv"
        for m in SUITES.models(suite)
        for k in SUITES.seeds(suite)
    ]


# ---- the run's checkpoint job and the jobs that read the store through it ----------------------


def get_run_tasks(wildcards):
    """Every enabled family's tasks of a run (name -> options, code version, tuning)."""
    return run_tasks(config, wildcards.suite)


def get_run_threads():
    return max(
        p["tuning"]["threads"]
        for s in config["suites"]
        for p in run_tasks(config, s).values()
    )


def get_run_table_outputs():
    """The run's tables of every enabled family but the first (output name -> path)."""
    return run_table_paths(enabled_families(config))


def get_transfer_tokens(wildcards):
    if "geometry" not in enabled_families(config):
        return []
    if config["geometry"]["transfer"]["source"] is None:
        return []
    return f"results/geometry/{wildcards.suite}/transfer_tokens.parquet"


def get_family_tasks(wildcards):
    return run_tasks(config, wildcards.suite, [wildcards.family])


def get_pair_entries(wildcards):
    """What the pair job at a step reads: the weights of every side and the metrics task."""
    sides = pair_checkpoints(wildcards)
    return entries_of(
        checkpoints.integrity.get(suite=wildcards.suite).output.table,
        [tuple(k.split("/")) for k in sides],
        task_params(config, "metrics", wildcards.suite),
    )


def get_metrics_entries(wildcards):
    """What a job reading per-token metrics reads: one model's steps (model tables) or the steps
    every model has (regression), every seed."""
    s = wildcards.suite
    one = hasattr(wildcards, "model")
    sides = [
        (m, k, t)
        for m in ([wildcards.model] if one else SUITES.models(s))
        for t in (analysis_steps(s, m) if one else common_steps(s))
        for k in SUITES.seeds(s)
    ]
    return entries_of(
        checkpoints.integrity.get(suite=s).output.table,
        sides,
        task_params(config, "metrics", s),
    )


def get_family_run_tables(family):
    """Input function of a family's suite job: every run's tables (ancient: a run job rerun for
    another family rewrites them unchanged), through the integrity and run status checkpoints.
    """

    def inputs(wildcards):
        s = wildcards.suite
        runs = [(m, k) for m in SUITES.models(s) for k in SUITES.seeds(s)]
        out = {
            "integrity": checkpoints.integrity.get(suite=s).output.table,
            "runs_table": ancient(checkpoints.run_status.get(suite=s).output.table),
            "identity": f"results/runs/{s}.{family}.json",
        }
        for name, path in run_table_paths([family]).items():
            out[name] = [
                ancient(path.format(suite=s, model=m, seed=k)) for m, k in runs
            ]
        return out

    return inputs


def get_family_entries(family):
    """Params of a family's suite job: what its run tables hold (weights and tasks)."""

    def params(wildcards):
        s = wildcards.suite
        sides = [
            (m, k, t)
            for m in SUITES.models(s)
            for t in analysis_steps(s, m)
            for k in SUITES.seeds(s)
        ]
        return entries_of(
            checkpoints.integrity.get(suite=s).output.table,
            sides,
            run_tasks(config, s, [family]),
        )

    return params


def transfer_local(wildcards):
    t = config["geometry"]["transfer"]
    return [t["path"]] if t["source"] == "local" else []


GEOMETRY_TABLES = ("accuracy", "attribution", "norms", "pca", "pca_variance")
NEURON_TABLES = (
    "summary",
    "lens",
    "layer_patch",
    "neuron_patch",
    "top_neuron",
    "outliers",
    "exclusive",
    "target_congruence",
    "activation",
)


FAMILY_OUTPUTS = {
    "probe": (["probe"], ["probe_kl", "probe_scatter", "probe_pca"]),
    "anisotropy": (["anisotropy"], ["anisotropy_hist", "anisotropy_mean"]),
    "geometry": (
        GEOMETRY_TABLES,
        ["geometry_accuracy", "geometry_norms", "geometry_pca", "geometry_attribution"],
    ),
    "neurons": (
        NEURON_TABLES,
        ["neurons_lens", "neurons_patching", "neurons_emergence", "neurons_activation"],
    ),
}


def family_outputs(s, family):
    """A family's suite tables (CSV) and figures (for rule all and its target rule)."""
    tables, figures = FAMILY_OUTPUTS[family]
    return [f"results/{family}/{s}/{t}.csv" for t in tables] + figure_files(s, figures)
