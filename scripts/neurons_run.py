"""Rule neurons_run: the token-neuron tables of every sound checkpoint of one run."""

from lmdyn.core.engine import job_engine, run_table
from lmdyn.core.runner import run
from lmdyn.neurons import TABLES
from lmdyn.neurons.task import TokenNeurons


def main(sm, log):
    inputs = {k: sm.input[k] for k in ("tokens", "tokenizer")}
    engine, refs = job_engine(sm, log, [TokenNeurons(sm.params.task["options"], inputs)])
    _, entries = engine.run_all(refs)
    for name in TABLES:  # each table has its own step column
        run_table(entries, refs, name, keys=("model", "seed")).to_parquet(
            sm.output[name], index=False
        )


run(main, snakemake)  # noqa: F821
