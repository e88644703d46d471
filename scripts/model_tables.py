"""Rule model_tables: summary, breakdown and study tables of one model, each per-token table read once."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.divergence.aggregate import ModelAggregate
from lmdyn.divergence.study import ModelStudy


def model_rows(path, model):
    t = pd.read_parquet(path)
    return t[t.model == model].drop(columns="model").reset_index(drop=True)


def main(sm, log):
    p, model = sm.params, sm.wildcards.model
    features = pd.read_parquet(sm.input.features)
    agg = ModelAggregate(sm.wildcards.suite, model, features)
    study = ModelStudy(features, n_boot=p.n_boot, seed=p.boot_seed)
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
    summary.to_parquet(sm.output.summary, index=False)
    breakdown.to_parquet(sm.output.breakdown, index=False)
    for name, table in study.tables().items():
        table.assign(model=model).to_parquet(sm.output[name], index=False)


run(main, snakemake)  # noqa: F821
