"""Rule run_status: every run's status table in one; warn about every checkpoint that failed."""

import pandas as pd

from lmdyn.core.runner import run


def main(sm, log):
    table = pd.concat([pd.read_csv(f, keep_default_na=False) for f in sm.input], ignore_index=True)
    for r in table[table.status != "ok"].itertuples():
        log.warning(
            "left out: %s %s seed %d step %d failed: %s", r.suite, r.model, r.seed, r.step, r.error
        )
    log.info("%d checkpoints: %s", len(table), table.status.value_counts().to_dict())
    table.to_csv(sm.output.table, index=False)


run(main, snakemake)  # noqa: F821
