"""Rule report_page: one output table as an HTML page of the report."""

from lmdyn.core import outputs
from lmdyn.core.report import write_page
from lmdyn.core.runner import run


def main(sm, log):
    rel = sm.params.rel
    write_page(sm.input[0], sm.output[0], rel, outputs.spec_of(rel))


run(main, snakemake)  # noqa: F821
