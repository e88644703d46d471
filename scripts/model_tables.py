"""Rule model_tables: summary, breakdown and study tables of one model, each per-token table read once."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.tables import write
from lmdyn.divergence import tables as specs
from lmdyn.divergence.aggregate import ModelAggregate
from lmdyn.divergence.study import ModelStudy, with_keys

STUDY = {t.name.split(".")[1]: t for t in specs.STUDY_MODEL}  # curves -> study.curves.model, ...


def model_rows(path, model):
    t = pd.read_parquet(path)
    return t[t.model == model].drop(columns="model").reset_index(drop=True)


def main(sm, log):
    p, suite, model = sm.params, sm.wildcards.suite, sm.wildcards.model
    features = pd.read_parquet(sm.input.features)
    agg = ModelAggregate(suite, model, features)
    study = ModelStudy(features, n_boot=p.n_boot, seed=p.boot_seed, max_alpha=p.max_alpha)
    steps = sorted(p.files["seed_pairs"])
    for i, step in enumerate(steps):
        metrics = {seed: pd.read_parquet(files[step]) for seed, files in p.files["metrics"].items()}
        seed_pairs = model_rows(p.files["seed_pairs"][step], model)
        step_pairs = model_rows(p.files["step_pairs"][step], model)
        agg.add_step(step, metrics, seed_pairs, step_pairs)
        study.add_step(step, metrics, seed_pairs, step_pairs)
        log.info("step %d done (%d/%d)", step, i + 1, len(steps))
    summary, breakdown = agg.tables()
    log.info("summary: %d rows; breakdown: %d rows", len(summary), len(breakdown))
    write(specs.SUMMARY_MODEL, summary, sm.output.summary)
    write(specs.BREAKDOWN_MODEL, breakdown, sm.output.breakdown)
    for name, table in study.tables().items():
        write(STUDY[name], with_keys(table, STUDY[name], suite, model), sm.output[name])


run(main, snakemake)  # noqa: F821
