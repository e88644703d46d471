"""Rule geometry_suite: every run's geometry tables in one per kind, written run by run."""

from lmdyn.core.gather import gather
from lmdyn.core.runner import run
from lmdyn.geometry.tables import SUITE_TABLES


def main(sm, log):
    for spec in SUITE_TABLES:
        name = spec.name.split(".")[1]  # accuracy, attribution, norms, pca, pca_variance
        files = sm.output[f"{name}_parquet"], sm.output[name]
        # steps analysed for every seed; the per-run tables lack the suite
        out = gather(
            spec, sm.input[f"geometry_{name}"], files, sm.params.steps, suite=sm.params.suite
        )
        log.info("%s: %d rows", name, out.rows)


run(main, snakemake)  # noqa: F821
