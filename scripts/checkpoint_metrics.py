"""Rule checkpoint_metrics: per-token metrics and cached final hidden states of one checkpoint."""

import numpy as np
import pandas as pd

from lmdyn import registry
from lmdyn.checks import checkpoint_label
from lmdyn.evaluate import evaluate_checkpoint
from lmdyn.runner import run


def main(sm, log):
    tokens = pd.read_parquet(sm.input.tokens)
    log_u = np.log(pd.read_parquet(sm.input.unigram).prob.to_numpy())
    p = sm.params
    path = registry.resolve(registry.as_checkpoint(p.checkpoint), p.checkpoint.get("cache_dir"))
    table, hidden = evaluate_checkpoint(
        path, tokens, log_u, p.device, p.batch_size, p.vocab_chunk, p.token_chunk, log=log,
        label=checkpoint_label(p.checkpoint),
    )
    log.info("%d tokens: mean nll %.4f, kl_uniform %.4f, kl_unigram %.4f", len(table), table.nll.mean(),
             table.kl_uniform.mean(), table.kl_unigram.mean())
    table.to_parquet(sm.output.metrics, index=False)
    np.save(sm.output.hidden, hidden)


run(main, snakemake)  # noqa: F821
