"""Rule neurons_suite: every run's token-neuron tables in one per kind."""

from lmdyn.core.runner import run
from lmdyn.core.tables import concat, write
from lmdyn.neurons.tables import SUITE_TABLES


def main(sm, log):
    # The steps kept are those of every run's summary (one row per prompt and checkpoint): the top
    # neuron and its outliers have no row where their fraction is undefined, which must not drop
    # that step from the runs where it is defined.
    suite = sm.params.suite
    summary = concat(SUITE_TABLES[0], sm.input["neurons_summary"], sm.params.steps, suite=suite)
    keep = set(zip(summary.model.astype(str), summary.step.astype(int)))
    for spec in SUITE_TABLES:
        name = spec.name.split(".")[1]  # summary, lens, ..., activation
        t = concat(spec, sm.input[f"neurons_{name}"], suite=suite)  # the runs lack the suite
        if len(t):
            t = t[[(str(m), int(s)) in keep for m, s in zip(t.model, t.step)]]
        t = t.reset_index(drop=True) if len(t) else spec.empty()
        write(spec, t, sm.output[f"{name}_parquet"], sm.output[name])
        log.info("%s: %d rows", name, len(t))


run(main, snakemake)  # noqa: F821
