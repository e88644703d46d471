"""Rule probe_suite: suite tables (parquet + CSV) of the unigram latent probe, written run by run."""

import pandas as pd

from lmdyn.core.gather import gather
from lmdyn.core.runner import run
from lmdyn.probe import tables as specs


def main(sm, log):
    steps = sm.params.steps  # steps analysed for every seed
    out = sm.output
    probe = gather(specs.PROBE, sm.input.probe, (out.table, out.csv), steps)
    gather(specs.DECILES, sm.input.probe_deciles, (out.deciles, out.deciles_csv), steps)
    gather(specs.TOKENS, sm.input.probe_tokens, (out.tokens,), steps)
    converged = pd.read_parquet(out.table, columns=["converged"]).converged  # a row per checkpoint
    if not converged.all():
        log.warning(
            "probe stopped at max_iter before its stopping rule for %d checkpoints",
            (~converged).sum(),
        )
    log.info("%d checkpoints", probe.rows)


run(main, snakemake)  # noqa: F821
