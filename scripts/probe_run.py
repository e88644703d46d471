"""Rule probe_run: the unigram latent probe at every sound step of one run."""

from lmdyn.core.engine import job_engine, run_table
from lmdyn.core.runner import run
from lmdyn.probe.task import Probe


def main(sm, log):
    task = Probe(sm.params.task["options"], {"unigram": sm.input.unigram})
    engine, refs = job_engine(sm, log, [task])
    steps = [int(r["step"]) for r in refs]
    if not steps:
        log.warning("no analysable step in this run (see the integrity table): empty tables")
    task.detail_steps = tuple({steps[0], steps[-1]}) if steps else ()  # per token: first, last
    _, entries = engine.run_all(refs)
    run_table(entries, refs, "probe").to_parquet(sm.output.probe, index=False)
    run_table(entries, refs, "deciles").to_parquet(sm.output.deciles, index=False)
    detail = [r for r in refs if int(r["step"]) in task.detail_steps]
    run_table(entries, detail, "tokens").to_parquet(sm.output.tokens, index=False)


run(main, snakemake)  # noqa: F821
