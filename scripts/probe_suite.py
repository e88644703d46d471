"""Rule probe_suite: suite tables (parquet + CSV) of the unigram latent probe."""

import pandas as pd

from lmdyn.runner import run


def main(sm, log):
    probe = pd.concat([pd.read_parquet(f) for f in sm.input.probe], ignore_index=True)
    deciles = pd.concat([pd.read_parquet(f) for f in sm.input.deciles], ignore_index=True)
    tokens = pd.concat([pd.read_parquet(f) for f in sm.input.tokens], ignore_index=True)
    if not probe.empty and not probe.converged.all():
        log.warning("probe stopped at max_iter before its stopping rule for %d checkpoints", (~probe.converged).sum())
    probe.to_parquet(sm.output.table, index=False)
    probe.to_csv(sm.output.csv, index=False)
    deciles.to_parquet(sm.output.deciles, index=False)
    deciles.to_csv(sm.output.deciles_csv, index=False)
    tokens.to_parquet(sm.output.tokens, index=False)
    log.info("%d checkpoints", len(probe))


run(main, snakemake)  # noqa: F821
