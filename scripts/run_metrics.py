"""Rule run_metrics: the per-checkpoint pass of one run (metrics, hidden states, extras: layer states,
token neurons) in one process, the only job that reads the run's checkpoints."""

import numpy as np
import pandas as pd

from lmdyn.runner import run
from lmdyn.runpass import make_extras, run_pass
from lmdyn.workflow import balanced_steps, read_status


def main(sm, log):
    p = sm.params
    # The run's checkpoints that the integrity table lets through (read here, not in a params
    # function, so that the rule's params do not depend on a checkpoint).
    model = sm.wildcards.model
    steps = set(balanced_steps(read_status(sm.input.integrity), model, p.seeds, [c["step"] for c in p.checkpoints]))
    refs = [c for c in p.checkpoints if c["step"] in steps]
    log.info("%d of %d planned checkpoints are sound for every seed", len(refs), len(p.checkpoints))
    # the input files an extra reads (the transfer tokens only where geometry.transfer is set)
    files = {"tokenizer": sm.input.tokenizer, "transfer": sm.input.transfer or None}
    extras = make_extras(p.extras, files)
    out = {"metrics": sm.output.metrics, "hidden": sm.output.hidden, **{e.name: sm.output[e.name] for e in extras}}
    status = run_pass(
        refs, pd.read_parquet(sm.input.tokens), np.log(pd.read_parquet(sm.input.unigram).prob.to_numpy()),
        out, p.device, p.batch_size, p.vocab_chunk, p.token_chunk, dtype=p.dtype, extras=extras, log=log,
    )
    log.info("%d checkpoints: %s", len(status), status.status.value_counts().to_dict())
    status.to_csv(sm.output.status, index=False)


run(main, snakemake)  # noqa: F821
