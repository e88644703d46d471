"""Rule run_metrics: the per-checkpoint pass of one run (metrics, hidden states, extras: layer states,
token neurons) in one process, the only job that reads the run's checkpoints."""

import numpy as np
import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.runpass import make_extras, run_pass
from lmdyn.core.workflow import sound_refs


def main(sm, log):
    p = sm.params
    refs = sound_refs(sm.input.integrity, p.checkpoints)  # the run's own integrity table
    log.info("%d of %d planned checkpoints are sound", len(refs), len(p.checkpoints))
    # the input files an extra reads (the transfer tokens only where geometry.transfer is set)
    files = {"tokenizer": sm.input.tokenizer, "transfer": sm.input.transfer or None}
    extras = make_extras(p.extras, files)
    out = {
        "metrics": sm.output.metrics,
        "hidden": sm.output.hidden,
        **{e.name: sm.output[e.name] for e in extras},
    }
    status = run_pass(
        refs,
        pd.read_parquet(sm.input.tokens),
        np.log(pd.read_parquet(sm.input.unigram).prob.to_numpy()),
        out,
        p.device,
        p.batch_size,
        p.vocab_chunk,
        p.token_chunk,
        dtype=p.dtype,
        extras=extras,
        log=log,
    )
    log.info("%d checkpoints: %s", len(status), status.status.value_counts().to_dict())
    status.to_csv(sm.output.status, index=False)


run(main, snakemake)  # noqa: F821
