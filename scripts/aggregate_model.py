"""Rule aggregate_model: summary and breakdown tables of one model."""

import pandas as pd

from lmdyn.aggregate import aggregate_model
from lmdyn.runner import run


def main(sm, log):
    seeds, steps = sm.params.seeds, sm.params.steps
    metric_files = dict(zip([(seed, step) for seed in seeds for step in steps], sm.input.metrics))
    summary, breakdown = aggregate_model(
        sm.wildcards.suite,
        sm.wildcards.model,
        pd.read_parquet(sm.input.features),
        metric_files,
        dict(zip(steps, sm.input.seed_pairs)),
        dict(zip(steps, sm.input.step_pairs)),
    )
    log.info("summary: %d rows; breakdown: %d rows", len(summary), len(breakdown))
    summary.to_parquet(sm.output.summary, index=False)
    breakdown.to_parquet(sm.output.breakdown, index=False)


run(main, snakemake)  # noqa: F821
