"""Rule pair_divergence: every seed-pair, consecutive-step and cross-size KL of one step, per token."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.data.tokens import predicted
from lmdyn.divergence.pairs import pair_tables


def main(sm, log):
    p = sm.params
    vocab = len(pd.read_parquet(sm.input.unigram))
    keys = predicted(pd.read_parquet(sm.input.tokens))
    tables = pair_tables(
        p.job, p.checkpoints, keys, vocab, p.device, p.vocab_chunk, p.token_chunk, log=log
    )
    for kind, t in tables.items():
        if len(t):
            log.info(
                "%s pairs: %d rows, mean KL(a||b) %.4f, KL(b||a) %.4f",
                kind,
                len(t),
                t.kl_ab.mean(),
                t.kl_ba.mean(),
            )
        t.to_parquet(sm.output[kind], index=False)


run(main, snakemake)  # noqa: F821
