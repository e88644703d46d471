"""Rule checkpoint_tasks: every family's per-checkpoint tasks over one run, each checkpoint loaded
at most once; the per-token metrics and hidden states linked from the store, the run's tables of
the other families, the run's status table."""

from pathlib import Path

from lmdyn.core.engine import job_engine
from lmdyn.core.runner import run
from lmdyn.core.store import link
from lmdyn.core.tables import write
from lmdyn.core.tasks import make_tasks, run_tables
from lmdyn.geometry.samples import check_samples


def link_divergence(entries: dict, out) -> None:
    """The store's metrics and hidden states, linked where the divergence rules read them."""
    for step, found in entries.items():
        link(found["metrics"] / "metrics.parquet", Path(out.metrics) / f"step{step}.parquet")
        link(found["metrics"] / "hidden.npy", Path(out.hidden) / f"step{step}.npy")
    Path(out.metrics).mkdir(parents=True, exist_ok=True)
    Path(out.hidden).mkdir(parents=True, exist_ok=True)


def main(sm, log):
    p = sm.params
    tasks = make_tasks(p.tasks, sm.input)
    engine, refs = job_engine(sm, log, tasks)
    check_samples(tasks, log)  # before any checkpoint is loaded
    for t in tasks:
        t.prepare(refs)
    status, entries = engine.run_all(refs)
    link_divergence(entries, sm.output)
    specs = run_tables(p.families)
    for t in tasks:
        for name, table in t.run_tables(entries, refs).items():
            if table.empty:  # no step of the run analysed: the table's columns, no rows
                table = specs[name].empty()
            write(specs[name], table, sm.output[name])
    log.info("%d checkpoints: %s", len(status), status.status.value_counts().to_dict())
    status.to_csv(sm.output.status, index=False)


run(main, snakemake)  # noqa: F821
