"""Rule study_model: bootstrap curves, subgroup seed divergence, sigma, learnability, dH-vs-KL of one model."""

import pandas as pd

from lmdyn.runner import run
from lmdyn.study import ModelStudy


def main(sm, log):
    p = sm.params
    study = ModelStudy(pd.read_parquet(sm.input.features), n_boot=p.n_boot, seed=p.boot_seed)
    metric_files = dict(zip([(seed, step) for seed in p.seeds for step in p.steps], sm.input.metrics))
    for i, step in enumerate(p.steps):
        metrics = {seed: pd.read_parquet(metric_files[(seed, step)]) for seed in p.seeds}
        study.add_step(step, metrics, pd.read_parquet(sm.input.seed_pairs[i]), pd.read_parquet(sm.input.step_pairs[i]))
        log.info("step %d done (%d/%d)", step, i + 1, len(p.steps))
    for name, table in study.tables().items():
        table.assign(model=sm.wildcards.model).to_parquet(sm.output[name], index=False)


run(main, snakemake)  # noqa: F821
