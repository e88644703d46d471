"""Family 1's jobs, planned: what each pair job compares, which per-token files the table, study and
regression jobs read, their outputs and the family's targets.

Plain functions of the config, a :class:`lmdyn.core.workflow.Suites` and ``steps``, the steps
already read from the integrity and run status checkpoints (model -> steps analysed for every
seed, models in config order). Standard library only: rules/common.smk imports this module while
the DAG is built.
"""

from __future__ import annotations

import json
from pathlib import Path

from lmdyn.core import store
from lmdyn.divergence.comparisons import Comparisons, comparisons

# Study tables written per model by model_tables and gathered per suite by study_suite.
STUDY_TABLES = ("curves", "seed_groups", "sigma", "dh_kl", "ce_fit", "trajectories")
# Every suite-level study table (the per-model ones and those study_suite derives).
STUDY_SUITE_TABLES = STUDY_TABLES + ("outliers", "phases", "sizes", "skipped")
REGRESSION_PARQUET = ("coefficients.parquet", "pooled.parquet", "phases.parquet")


def metrics_file(suite: str, model: str, seed, step) -> str:
    """Per-token metrics of one checkpoint (inside its run's metrics folder)."""
    return f"results/metrics/{suite}/{model}/seed{seed}/step{step}.parquet"


def hidden_file(suite: str, model: str, seed, step) -> str:
    """Cached final hidden states of one checkpoint (inside its run's hidden folder)."""
    return f"results/hidden/{suite}/{model}/seed{seed}/step{step}.npy"


def unembed_file(suite: str, model: str, seed, step) -> str:
    """Stored unembedding (W_U) of one checkpoint, next to its hidden states."""
    return f"results/hidden/{suite}/{model}/seed{seed}/step{step}.unembed.npy"


def pair_file(suite: str, kind: str, step) -> str:
    """The pair table of one step: ``kind`` is seeds, steps or sizes."""
    return f"results/pairs/{suite}/{kind}_step{step}.parquet"


def common_steps(steps: dict) -> list[int]:
    """Steps analysed for every model (cross-size comparisons, regression)."""
    return sorted(set.intersection(*(set(v) for v in steps.values())))


def sides(steps: dict, seeds) -> list[tuple[str, int, int]]:
    """(model, seed, step) of every checkpoint in ``steps``, model by model, step by step."""
    return [(m, k, t) for m, ts in steps.items() for t in ts for k in seeds]


def metrics_sides(suites, suite: str, steps: dict, model: str | None = None) -> list:
    """The checkpoints whose per-token metrics a job reads: one model's steps (its model tables),
    or the steps every model has (the regression, ``model`` None)."""
    if model is not None:
        return sides({model: steps[model]}, suites.seeds(suite))
    common = common_steps(steps)
    return sides({m: common for m in steps}, suites.seeds(suite))


def pair_job(suites, suite: str, steps: dict, step) -> dict:
    """What the pair job at ``step`` compares: the seeds of every model analysed there, each
    model's previous analysed step (None at its first), and the models against each other where
    every model is analysed at the step."""
    t = int(step)
    models = [m for m, ts in steps.items() if t in ts]
    prev = {}
    for m in models:
        earlier = [x for x in steps[m] if x < t]
        prev[m] = max(earlier) if earlier else None
    sizes = len(steps) > 1 and t in common_steps(steps)
    return {"step": t, "models": models, "seeds": suites.seeds(suite), "prev": prev, "sizes": sizes}


def pair_sides(job: dict) -> list[tuple[str, int, int]]:
    """(model, seed, step) of every checkpoint a pair job reads: its step and each previous one."""
    out = []
    for m in job["models"]:
        prev = job["prev"][m]
        for t in [job["step"]] + ([prev] if prev is not None else []):
            out += [(m, k, t) for k in job["seeds"]]
    return out


def pair_checkpoints(suites, suite: str, steps: dict, step) -> dict:
    """ "model/seed/step" -> stored hidden states and unembedding of every side of the pair job
    at ``step``."""
    return {
        f"{m}/{k}/{t}": {
            "hidden": hidden_file(suite, m, k, t),
            "unembed": unembed_file(suite, m, k, t),
        }
        for m, k, t in pair_sides(pair_job(suites, suite, steps, step))
    }


def pair_inputs(suites, suite: str, steps: dict, step) -> dict:
    """The folders the pair job at ``step`` reads: every seed's stored hidden states and
    unembeddings of its models (no checkpoint: the metrics tasks stored what it needs)."""
    job = pair_job(suites, suite, steps, step)
    runs = [(m, k) for m in job["models"] for k in suites.seeds(suite)]
    return {"hidden": [f"results/hidden/{suite}/{m}/seed{k}" for m, k in runs]}


def pair_blocks(suites, steps: dict) -> list[list[int]]:
    """The steps of each pair job: every step analysed for some model, cut into at most
    ``metrics.pair_jobs`` runs of consecutive steps of near-equal length (a job loads its torch,
    tokens and unigram once for all its steps; fewer, longer jobs cost fewer submissions)."""
    every = sorted(set().union(*steps.values())) if steps else []
    n, b = len(every), min(int(suites.cfg["metrics"]["pair_jobs"]), len(every))
    return [every[i * n // b : (i + 1) * n // b] for i in range(b)]


def pair_block_of(suites, steps: dict, step) -> int:
    """The pair job (block index) that computes ``step``."""
    for i, block in enumerate(pair_blocks(suites, steps)):
        if int(step) in block:
            return i
    raise KeyError(f"step {step} is not analysed for any model")


def pair_manifest(suite: str, block) -> str:
    """What a pair job computed: step -> its store entry (read by the per-step link jobs)."""
    return f"results/pairs/{suite}/jobs/block{block}.json"


def pair_block_jobs(suites, suite: str, steps: dict, block) -> list[dict]:
    """What the pair job ``block`` compares: one :func:`pair_job` per step."""
    return [pair_job(suites, suite, steps, t) for t in pair_blocks(suites, steps)[int(block)]]


def pair_block_sides(suites, suite: str, steps: dict, block) -> list[tuple[str, int, int]]:
    """Every checkpoint the pair job ``block`` reads (once each, first-use order)."""
    jobs = pair_block_jobs(suites, suite, steps, block)
    return list(dict.fromkeys(s for job in jobs for s in pair_sides(job)))


def pair_block_checkpoints(suites, suite: str, steps: dict, block) -> dict:
    """:func:`pair_checkpoints` of every step of the pair job ``block``."""
    out = {}
    for t in pair_blocks(suites, steps)[int(block)]:
        out.update(pair_checkpoints(suites, suite, steps, t))
    return out


def pair_block_inputs(suites, suite: str, steps: dict, block) -> dict:
    """:func:`pair_inputs` of every step of the pair job ``block`` (each folder once)."""
    out: dict = {"hidden": {}}
    for t in pair_blocks(suites, steps)[int(block)]:
        for k, files in pair_inputs(suites, suite, steps, t).items():
            out[k].update(dict.fromkeys(files))
    return {k: list(v) for k, v in out.items()}


def pair_step_manifest(suites, suite: str, steps: dict, step) -> str:
    """The manifest of the pair job that computes ``step`` (input of its link job)."""
    return pair_manifest(suite, pair_block_of(suites, steps, step))


PAIR_KINDS = ("seeds", "steps", "sizes")
PAIR_CODE = ("divergence/pairs.py", "divergence/metrics.py", "core/checkpoints.py")


def pair_key(job: dict, entries: dict, options: dict) -> str:
    """The store key of one step's pair tables: what it compares (``job``), the weights and the
    metrics task behind every checkpoint it reads (``entries``, see tasks.entries_of), the
    options that change its floats (chunks, pass size, device), the data files' hashes and the
    code version."""
    weights = {f"{m}/{k}/{t}": entries["weights"][f"{m}/{k}/{t}"] for m, k, t in pair_sides(job)}
    identity = {
        "job": job,
        "task": entries["task"],
        "options": options,
        "code": store.code_version(PAIR_CODE),
    }
    return store.entry_key("pairs", json.dumps(weights, sort_keys=True), identity)


def link_pair_tables(manifest: str, step, outputs) -> None:
    """The link job of one step: its seed, step and size pair tables as hard links to the pair
    job's store entry (a step's tables stay the same files while its entry does)."""
    with open(manifest) as f:
        entry = Path(json.load(f)[str(int(step))])
    for kind in PAIR_KINDS:
        store.link(entry / f"{kind}.parquet", Path(getattr(outputs, kind)))


def model_files(suites, suite: str, steps: dict, model: str) -> dict:
    """Per-token tables of one model at its steps: metrics[seed][step], seed_pairs[step],
    step_pairs[step]."""
    seeds, steps = suites.seeds(suite), steps[model]
    return {
        "metrics": {k: {t: metrics_file(suite, model, k, t) for t in steps} for k in seeds},
        "seed_pairs": {t: pair_file(suite, "seeds", t) for t in steps},
        "step_pairs": {t: pair_file(suite, "steps", t) for t in steps},
    }


def model_inputs(suites, suite: str, steps: dict, model: str) -> dict:
    """Inputs of model_tables: every seed's metrics folder and the pair tables of the model's
    steps."""
    files = model_files(suites, suite, steps, model)
    return {
        "metrics": [f"results/metrics/{suite}/{model}/seed{k}" for k in suites.seeds(suite)],
        "seed_pairs": list(files["seed_pairs"].values()),
        "step_pairs": list(files["step_pairs"].values()),
    }


def suite_table_inputs(suites, suite: str) -> dict:
    """Inputs of suite_tables: every model's summary and breakdown."""
    return {
        name: [f"results/tables/{suite}/{m}/{name}.parquet" for m in suites.models(suite)]
        for name in ("summary", "breakdown")
    }


def size_files(suite: str, steps: dict) -> dict:
    """step -> cross-size pair table at every common step (none for a one-model suite)."""
    if len(steps) < 2:
        return {}
    return {t: pair_file(suite, "sizes", t) for t in common_steps(steps)}


def study_inputs(suite: str, steps: dict) -> dict:
    """Inputs of study_suite: every model's study tables, the suite's tables, the size pairs."""
    inputs = {
        name: [f"results/study/{suite}/{m}/{name}.parquet" for m in steps] for name in STUDY_TABLES
    }
    inputs["features"] = f"results/features/{suite}.parquet"
    inputs["integrity"] = f"results/integrity/{suite}.csv"
    inputs["summary"] = f"results/tables/{suite}/summary.parquet"
    inputs["sizes"] = list(size_files(suite, steps).values())
    return inputs


def study_outputs() -> dict:
    """Outputs of study_suite with the pattern ``{suite}``: name -> (path, None); the report shows
    the tables as HTML pages (lmdyn.core.report), not these files."""
    out = {}
    for name in STUDY_SUITE_TABLES:
        out[name] = (f"results/study/{{suite}}/{name}.csv", None)
        out[f"{name}_parquet"] = (f"results/study/{{suite}}/{name}.parquet", None)
    return out


def suite_comparisons(suites, suite: str) -> Comparisons:
    """Which of seed pairs, consecutive steps and sizes the suite has."""
    return comparisons(
        len(suites.models(suite)), len(suites.seeds(suite)), len(suites.steps(suite))
    )


def regression_metric(cfg: dict, suites, suite: str) -> str:
    """regression.metric, or the fallback of a suite without the seed pairs it needs."""
    wanted = cfg["regression"]["metric"]
    return suite_comparisons(suites, suite).regression_metric(wanted)[0]


def skipped(cfg: dict, suites, suite: str) -> dict:
    """The comparisons the suite cannot have (with their reasons) and why the regression's metric
    differs from the configured one (None where it does not)."""
    c = suite_comparisons(suites, suite)
    note = c.regression_metric(cfg["regression"]["metric"])[1]
    return {"skipped": c.skipped(), "regression_note": note}


def regression_step(cfg: dict, steps: dict) -> int:
    """regression.step, the last common step for ``last``."""
    step = cfg["regression"]["step"]
    return max(common_steps(steps)) if step == "last" else step


def regression_files(cfg: dict, suites, suite: str, steps: dict) -> list[dict]:
    """Per-token values at every common step: records (model, step, seed or None, path); the seed
    pair tables for kl_seeds, every seed's metrics otherwise."""
    models, seeds, common = suites.models(suite), suites.seeds(suite), common_steps(steps)
    if regression_metric(cfg, suites, suite) == "kl_seeds":
        return [
            {"model": m, "step": t, "seed": None, "path": pair_file(suite, "seeds", t)}
            for m in models
            for t in common
        ]
    return [
        {"model": m, "step": t, "seed": k, "path": metrics_file(suite, m, k, t)}
        for m in models
        for t in common
        for k in seeds
    ]


def figure_names(suites, suite: str) -> list[str]:
    """The family's figures of a suite: those of seed, step and size comparisons only where the
    suite has them."""
    models = suites.models(suite)
    return ["kl_reference", "regression"] + suite_comparisons(suites, suite).figures(models)


def table_targets(suite: str) -> list[str]:
    """The family's suite tables outside the study: summary, breakdown, regression coefficients."""
    return [f"results/tables/{suite}/{n}.csv" for n in ("summary", "breakdown")] + [
        f"results/regression/{suite}/coefficients.csv"
    ]


def study_targets(suite: str) -> list[str]:
    """Every study table of a suite (CSV)."""
    return [f"results/study/{suite}/{n}.csv" for n in STUDY_SUITE_TABLES]
