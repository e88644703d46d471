"""Rule fetch_run: resolve and hash the checkpoints of one run; list missing and duplicate steps."""

from lmdyn.core.integrity import run_integrity
from lmdyn.core.runner import run
from lmdyn.core.tables import INTEGRITY_RUN, write


def main(sm, log):
    write(INTEGRITY_RUN, run_integrity(sm.params.plan, log), sm.output[0])


run(main, snakemake)  # noqa: F821
