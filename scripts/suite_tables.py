"""Rule suite_tables: concatenate the models of a suite (parquet and CSV)."""

import pandas as pd

from lmdyn.core.runner import run


def main(sm, log):
    for name in ("summary", "breakdown"):
        table = pd.concat([pd.read_parquet(p) for p in sm.input[name]], ignore_index=True)
        table.to_parquet(sm.output[f"{name}_parquet"], index=False)
        table.to_csv(sm.output[name], index=False, float_format="%.6g")
        log.info("%s: %d rows", name, len(table))


run(main, snakemake)  # noqa: F821
