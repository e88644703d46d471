# Validation, wildcard constraints, input and params functions (get_*), targets; their logic is in
# lmdyn.core.targets, .tasks, .workflow, lmdyn.divergence.jobs. Light: it runs in every cluster job.
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
import snakemake.utils
from lmdyn.core import inputcheck, resources, targets, tasks
from lmdyn.core import errors as lmdyn_errors
from lmdyn.core import report as report_pages
from lmdyn.core.errors import UserError
from lmdyn.core.workflow import Suites, check_config
from lmdyn.divergence import jobs as divergence

# Nested --config values arrive as strings (figures={"dpi": 100} gives dpi '100'): typed here.
snakemake.utils.update_config(
    config, inputcheck.typed_overrides(workflow.config_settings.config_args)
)
try:
    check_config(
        config, Path(workflow.basedir) / "config" / "schemas" / "config.schema.yaml"
    )
    inputcheck.check_results_dir(Path.cwd())
    SUITES = Suites(config)
    inputcheck.check_built_prompts(
        config, {s: targets.tokenizer_dir(SUITES, s) for s in config["suites"]}
    )
except UserError as e:  # stop before any job, with one line
    sys.stderr.write(f"lmdyn: {e}\n")
    sys.exit(1)


LMDYN_START = time.time()  # the jobs of this run write their logs after this


wildcard_constraints:
    suite=targets.wildcard_pattern(config["suites"]),
    model=targets.model_pattern(SUITES),
    seed=r"\d+",
    step=r"\d+",
    block=r"\d+",
    family=targets.wildcard_pattern(tasks.enabled_families(config)),


# A run's integrity table comes from train_micro (micro suites) or fetch_run (published suites).
MICRO_SUITES, PUBLISHED_SUITES = targets.suite_patterns(SUITES)


def get_reported(outputs):
    """Rule outputs from name -> (path, report options or None): report() wraps the former."""
    return {k: report(p, **kw) if kw else p for k, (p, kw) in outputs.items()}


def get_figure_outputs(name, png, **report_kw):
    formats = config["figures"]["formats"]
    return get_reported(targets.figure_outputs(name, png, formats, **report_kw))


def get_per_suite(fn, *args):
    """An input or params function: ``fn(*args, suite)`` for the job's suite."""
    return lambda wildcards: fn(*args, wildcards.suite)


def get_per_run(fn, *args):
    """An input or params function: ``fn(*args, suite, model, seed)`` for the job's run."""
    return lambda wildcards: fn(*args, wildcards.suite, wildcards.model, wildcards.seed)


get_steps = get_per_suite(SUITES.steps)
get_models = get_per_suite(SUITES.models)
get_first_ref = get_per_suite(SUITES.first_ref)
_get_first_hub = get_per_suite(targets.first_hub, SUITES)


def get_first_hub(wildcards):
    """Ancient: fetch_run rewrites it whenever the run's steps change, and the tokenizer only
    changes with the first checkpoint (the rule's params)."""
    hub = _get_first_hub(wildcards)
    return ancient(hub) if hub else hub


get_tokenizer = get_per_suite(targets.tokenizer_dir, SUITES)
get_unigram_train_ids = get_per_suite(targets.unigram_train_ids, config, SUITES)
get_transfer_tokens = get_per_suite(targets.transfer_tokens, config)
get_integrity_inputs = get_per_suite(targets.integrity_inputs, SUITES)
get_run_tasks = get_per_suite(tasks.run_tasks, config)
get_metrics_task = get_per_suite(tasks.task_params, config, "metrics")
get_suite_tables = get_per_suite(divergence.suite_table_inputs, SUITES)
get_skipped = get_per_suite(divergence.skipped, config, SUITES)
get_regression_metric = get_per_suite(divergence.regression_metric, config, SUITES)
get_run = get_per_run(targets.run_inputs, SUITES)
get_run_refs = get_per_run(SUITES.run_refs)
get_run_hub = get_per_run(targets.run_hub, SUITES)
get_family_tasks = lambda w: tasks.run_tasks(config, w.suite, [w.family])


def get_suite_setting(key):
    return lambda wildcards: config["suites"][wildcards.suite][key]


def get_keep_weights(wildcards):
    return config["suites"][wildcards.suite].get("keep_weights", False)


def get_model_size(wildcards):
    return config["suites"][wildcards.suite]["models"][wildcards.model]


def get_train_priority(wildcards):
    return targets.train_priority(config["suites"][wildcards.suite], wildcards.model)


def get_run_status_inputs(wildcards):
    # ancient: a checkpoint job rerun for another family rewrites it unchanged (see run_status)
    return [ancient(f) for f in targets.run_outputs(SUITES, wildcards.suite)]


def suite_status(suite):
    """The integrity and run status tables of a suite, once the run status checkpoint (which
    waits for the integrity table) is done: the one checkpoint every later job asks."""
    runs = checkpoints.run_status.get(suite=suite).output.table
    return f"results/integrity/{suite}.csv", runs


def get_analysis_steps(wildcards):
    """model -> steps analysed for every seed: sound in the integrity table and forward-passed in
    the run status table."""
    s = wildcards.suite
    integrity, runs = suite_status(s)
    return {m: SUITES.analysis_steps(s, m, integrity, runs) for m in SUITES.models(s)}


def get_with_steps(fn, *args, wildcard=None):
    """An input or params function: ``fn(*args, suite, steps)`` with the steps analysed, and the
    value of ``wildcard`` last where one is named. Every job downstream of the checkpoints asks
    them, even where the answer does not depend on it (one that never asks is flagged for a
    rerun, and no-op reruns break)."""

    def get(wildcards):
        extra = [getattr(wildcards, wildcard)] if wildcard else []
        return fn(*args, wildcards.suite, get_analysis_steps(wildcards), *extra)

    return get


def get_ancient(fn, *keys):
    """``fn`` with its files under ``keys`` marked ancient (see get_entries)."""

    def get(wildcards):
        files = fn(wildcards)
        return files | {k: [ancient(f) for f in files[k]] for k in keys}

    return get


get_pair_job = get_with_steps(divergence.pair_block_jobs, SUITES, wildcard="block")
get_pair_checkpoints = get_with_steps(
    divergence.pair_block_checkpoints, SUITES, wildcard="block"
)
get_pair_inputs = get_ancient(
    get_with_steps(divergence.pair_block_inputs, SUITES, wildcard="block"),
    "hidden",
)
get_pair_manifest = get_with_steps(
    divergence.pair_step_manifest, SUITES, wildcard="step"
)


def get_pair_mem_mb(wildcards):
    # bounded by metrics.pair_checkpoints whatever the suite: a forward-pass job's memory
    return config["metrics"]["mem_mb"]


def get_pair_runtime(wildcards):
    s, jobs = wildcards.suite, config["metrics"]["pair_jobs"]
    steps = SUITES.steps(s)
    per_job = -(-len(steps) // min(jobs, len(steps)))
    return resources.pair_runtime(config, len(SUITES.runs(s)), per_job, len(steps))


get_model_files = get_with_steps(divergence.model_files, SUITES, wildcard="model")
get_model_inputs = get_ancient(
    get_with_steps(divergence.model_inputs, SUITES, wildcard="model"), "metrics"
)
get_size_files = get_with_steps(divergence.size_files)
get_study_inputs = get_with_steps(divergence.study_inputs)
get_regression_files = get_with_steps(divergence.regression_files, config, SUITES)


def get_regression_step(wildcards):
    return divergence.regression_step(config, get_analysis_steps(wildcards))


def get_regression_inputs(wildcards):
    # per-token metrics ancient (get_metrics_entries says what they hold), pair tables as they are
    files = get_regression_files(wildcards)
    return [r["path"] if r["seed"] is None else ancient(r["path"]) for r in files]


def get_entries(wildcards, sides, task):
    """The entries param of a job that reads stored results through ancient inputs (a run job
    rerun for one family rewrites them unchanged): it changes, and the job reruns, exactly when
    the weights or the tasks behind them change."""
    integrity, _ = suite_status(wildcards.suite)
    return tasks.entries_of(integrity, sides, task)


def get_pair_entries(wildcards):
    steps = get_analysis_steps(wildcards)
    sides = divergence.pair_block_sides(SUITES, wildcards.suite, steps, wildcards.block)
    return get_entries(wildcards, sides, get_metrics_task(wildcards))


def get_pair_step_entry(wildcards):
    """What one step's pair tables are computed from (its comparisons, the weights and metrics task
    behind each side, the options that change its floats): the link job reruns when this changes
    or its pair job reruns."""
    steps = get_analysis_steps(wildcards)
    job = divergence.pair_job(SUITES, wildcards.suite, steps, int(wildcards.step))
    sides = divergence.pair_sides(job)
    m = config["metrics"]
    options = {
        k: m[k] for k in ("vocab_chunk", "token_chunk", "pair_checkpoints", "device")
    }
    entries = get_entries(wildcards, sides, get_metrics_task(wildcards))
    return {"job": job, "entries": entries, "options": options}


def get_metrics_entries(wildcards):
    # one model's steps (model_tables), or the steps every model has (regression: no model)
    steps, model = get_analysis_steps(wildcards), getattr(wildcards, "model", None)
    sides = divergence.metrics_sides(SUITES, wildcards.suite, steps, model)
    return get_entries(wildcards, sides, get_metrics_task(wildcards))


def get_family_run_tables(family):
    """Input function of a family's suite job: the integrity and run status tables, and every
    run's tables of the family (ancient: get_family_entries says what they hold)."""

    def inputs(wildcards):
        s = wildcards.suite
        runs = targets.family_run_tables(SUITES, s, family)
        integrity, runs_table = suite_status(s)
        return {
            "integrity": integrity,
            "runs_table": ancient(runs_table),
            "identity": f"results/runs/{s}.{family}.json",  # the family's tasks (see task_identity)
        } | {name: [ancient(f) for f in files] for name, files in runs.items()}

    return inputs


def get_family_entries(family):
    """Params of a family's suite job: what its run tables hold (weights and tasks)."""

    def params(wildcards):
        s = wildcards.suite
        sides = divergence.sides(get_analysis_steps(wildcards), SUITES.seeds(s))
        return get_entries(wildcards, sides, tasks.run_tasks(config, s, [family]))

    return params


def get_family_targets(family):
    """Input of a family's target rule: every suite's tables and figures of the family (an
    error saying so where the family is switched off)."""
    return lambda wildcards: targets.family_targets(config, SUITES, family)


def get_final_outputs():
    return targets.final_outputs(config, SUITES)


def get_page_rel(wildcards):
    """The shown output's path under results/."""
    return wildcards.page


def get_page_caption(wildcards):
    from lmdyn.core import outputs  # the table registry: only where a page is made

    rel = wildcards.page
    return report_pages.caption(
        rel, Path(workflow.basedir) / "report", outputs.spec_of(rel)
    )


def get_suite_resources(kind):
    """mem_mb and runtime of a suite-level job, from the suite's size (lmdyn.core.resources):
    ``kind`` is regression, model_tables or a family (its suite tables)."""

    def size(wildcards):
        s = wildcards.suite
        steps, seeds, models = SUITES.steps(s), SUITES.seeds(s), SUITES.models(s)
        if kind == "regression":
            return resources.regression(config, len(steps), len(models))
        if kind == "model_tables":
            return resources.model_tables(config, len(seeds), len(steps))
        # written run by run: memory for one run's checkpoints, time for all of them
        return resources.suite_tables(
            kind, len(steps) * len(seeds) * len(models), len(steps)
        )

    return (lambda w: size(w)[0]), (lambda w: size(w)[1])


get_regression_mem_mb, get_regression_runtime = get_suite_resources("regression")
get_model_tables_mem_mb, get_model_tables_runtime = get_suite_resources("model_tables")
