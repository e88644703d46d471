"""Rule model_tables: summary, breakdown and study tables of one model, each step's part computed
once (from one read of its per-token tables) and kept in the result store."""

from lmdyn.core.runner import run
from lmdyn.core.store import Store
from lmdyn.core.tables import write
from lmdyn.divergence import tables as specs
from lmdyn.divergence.steps import model_tables
from lmdyn.divergence.study import with_keys

STUDY = {t.name.split(".")[1]: t for t in specs.STUDY_MODEL}  # curves -> study.curves.model, ...


def main(sm, log):
    p, suite, model = sm.params, sm.wildcards.suite, sm.wildcards.model
    summary, breakdown, study = model_tables(
        suite,
        model,
        sm.input.features,
        p.files,
        p.n_boot,
        p.boot_seed,
        p.max_alpha,
        Store(log=log),
        log,
    )
    log.info("summary: %d rows; breakdown: %d rows", len(summary), len(breakdown))
    write(specs.SUMMARY_MODEL, summary, sm.output.summary)
    write(specs.BREAKDOWN_MODEL, breakdown, sm.output.breakdown)
    for name, table in study.items():
        write(STUDY[name], with_keys(table, STUDY[name], suite, model), sm.output[name])


run(main, snakemake)  # noqa: F821
