"""Rule geometry_suite: every run's geometry tables in one per kind."""

from lmdyn.core.runner import run
from lmdyn.core.tables import concat, write
from lmdyn.geometry.tables import SUITE_TABLES


def main(sm, log):
    for spec in SUITE_TABLES:
        name = spec.name.split(".")[1]  # accuracy, attribution, norms, pca, pca_variance
        # steps analysed for every seed; the per-run tables lack the suite
        t = concat(spec, sm.input[f"geometry_{name}"], sm.params.steps, suite=sm.params.suite)
        write(spec, t, sm.output[f"{name}_parquet"], sm.output[name])
        log.info("%s: %d rows", name, len(t))


run(main, snakemake)  # noqa: F821
