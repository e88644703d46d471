"""Rule fetch_run: resolve the checkpoints of one run (no download); list missing and duplicate
steps; keep each hub checkpoint's commit and files for the run's job."""

import json

from lmdyn.core.integrity import run_integrity
from lmdyn.core.runner import run
from lmdyn.core.tables import INTEGRITY_RUN, write


def main(sm, log):
    resolved: dict = {}
    write(INTEGRITY_RUN, run_integrity(sm.params.plan, log, resolved), sm.output.table)
    with open(sm.output.hub, "w") as f:
        json.dump(resolved, f, indent=1, sort_keys=True)


run(main, snakemake)  # noqa: F821
