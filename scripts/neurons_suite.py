"""Rule neurons_suite: every run's token-neuron tables in one per kind, written run by run."""

from lmdyn.core.gather import gather
from lmdyn.core.runner import run
from lmdyn.neurons.tables import SUITE_TABLES


def write(sm, log, spec, **filters):
    name = spec.name.split(".")[1]  # summary, lens, ..., activation
    files = sm.output[f"{name}_parquet"], sm.output[name]
    # the runs lack the suite
    out = gather(spec, sm.input[f"neurons_{name}"], files, suite=sm.params.suite, **filters)
    log.info("%s: %d rows", name, out.rows)
    return out


def main(sm, log):
    # The steps kept are those of every run's summary (one row per prompt and checkpoint): the top
    # neuron and its outliers have no row where their fraction is undefined, which must not drop
    # that step from the runs where it is defined.
    summary, *others = SUITE_TABLES
    keep = write(sm, log, summary, steps=sm.params.steps).steps
    for spec in others:
        write(sm, log, spec, keep=keep)


run(main, snakemake)  # noqa: F821
