"""Rule fetch_run: resolve and hash the checkpoints of one run; list missing and duplicate steps."""

from lmdyn.core.integrity import run_integrity
from lmdyn.core.runner import run


def main(sm, log):
    run_integrity(sm.params.plan, log).to_csv(sm.output[0], index=False)


run(main, snakemake)  # noqa: F821
