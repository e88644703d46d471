"""Rule timeline_suite: the timeline and its key curves (parquet + CSV) from the suite tables."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.tables import write
from lmdyn.timeline import INPUTS
from lmdyn.timeline.build import build
from lmdyn.timeline.tables import CURVES, TIMELINE


def main(sm, log):
    families = list(sm.params.families)
    tables = {name: pd.read_parquet(sm.input[name]) for f in families for name in INPUTS[f]}
    events, curves = build(sm.wildcards.suite, tables, families)
    write(TIMELINE, events, sm.output.table, sm.output.csv)
    write(CURVES, curves, sm.output.curves, sm.output.curves_csv)
    none = events[(events.seeds == "median") & events.at_step.isna()]
    log.info("%d events, %d with no step over every seed", len(events), len(none))


run(main, snakemake)  # noqa: F821
