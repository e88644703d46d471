"""Rule anisotropy_run: cosine statistics of W_E (and W_U when untied) at every sound step of a run."""

from lmdyn.anisotropy.task import Anisotropy
from lmdyn.core.engine import job_engine, run_table
from lmdyn.core.runner import run


def main(sm, log):
    engine, refs = job_engine(sm, log, [Anisotropy(sm.params.task["options"])])
    _, entries = engine.run_all(refs)
    run_table(entries, refs, "stats").to_parquet(sm.output.stats, index=False)
    run_table(entries, refs, "hist").to_parquet(sm.output.hist, index=False)


run(main, snakemake)  # noqa: F821
