"""Rule suite_tables: concatenate the models of a suite (parquet and CSV)."""

from lmdyn.core.runner import run
from lmdyn.core.tables import concat, write
from lmdyn.divergence.tables import BREAKDOWN, SUMMARY


def main(sm, log):
    for name, spec in (("summary", SUMMARY), ("breakdown", BREAKDOWN)):
        table = concat(spec, sm.input[name])
        write(spec, table, sm.output[f"{name}_parquet"], sm.output[name])
        log.info("%s: %d rows", name, len(table))


run(main, snakemake)  # noqa: F821
