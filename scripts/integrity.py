"""Checkpoint integrity: one table for the suite; warn about every checkpoint left out."""

import pandas as pd

from lmdyn.core.integrity import require_usable
from lmdyn.core.runner import run


def main(sm, log):
    table = pd.concat([pd.read_csv(f) for f in sm.input], ignore_index=True)
    for r in table[table.status != "ok"].itertuples():
        extra = f" (same weights as step {int(r.duplicate_of)})" if r.status == "duplicate" else ""
        if r.status == "corrupt":
            extra = f" ({r.note})"
        log.warning(
            "left out: %s %s seed %d step %d is %s%s",
            r.suite,
            r.model,
            r.seed,
            r.step,
            r.status,
            extra,
        )
    log.info("%d checkpoints: %s", len(table), table.status.value_counts().to_dict())
    require_usable(table)
    table.to_csv(sm.output.table, index=False)


run(main, snakemake)  # noqa: F821
