"""Rule run_status: every run's status table in one; warn about every checkpoint that failed."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.tables import RUNS, RUNS_RUN, read, write


def main(sm, log):
    table = pd.concat([read(RUNS_RUN, f) for f in sm.input.status], ignore_index=True)
    for r in table[table.status != "ok"].itertuples():
        log.warning(
            "left out: %s %s seed %d step %d failed: %s", r.suite, r.model, r.seed, r.step, r.error
        )
    log.info("%d checkpoints: %s", len(table), table.status.value_counts().to_dict())
    write(RUNS, table, sm.output.table)


run(main, snakemake)  # noqa: F821
