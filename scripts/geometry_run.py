"""Rule geometry_run: layer states and geometry tables of every sound checkpoint of one run."""

from lmdyn.core.engine import job_engine, run_table
from lmdyn.core.runner import run
from lmdyn.geometry import TABLES
from lmdyn.geometry.task import Geometry, LayerStates


def main(sm, log):
    p = sm.params
    inputs = {"tokens": sm.input.tokens, "transfer": sm.input.transfer or None}
    layers = LayerStates(p.layers["options"], inputs)
    tables = Geometry(p.geometry["options"])
    engine, refs = job_engine(sm, log, [layers, tables])
    _, entries = engine.run_all(refs)
    for name in TABLES:  # each table has its own step column
        run_table(entries, refs, name, keys=("model", "seed")).to_parquet(
            sm.output[name], index=False
        )


run(main, snakemake)  # noqa: F821
