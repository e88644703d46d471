"""Checkpoint integrity: one table for the suite; warn about every checkpoint left out."""

import pandas as pd

from lmdyn.core.integrity import require_usable
from lmdyn.core.runner import run
from lmdyn.core.tables import INTEGRITY, INTEGRITY_RUN, read, write


def main(sm, log):
    # read with the spec's dtypes: duplicate_of stays an integer step next to empty fields
    table = pd.concat([read(INTEGRITY_RUN, f) for f in sm.input], ignore_index=True)
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
    write(INTEGRITY, table, sm.output.table)


run(main, snakemake)  # noqa: F821
