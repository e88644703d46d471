"""Rule unigram: ghost-count smoothed unigram distribution over the configured split."""

import pandas as pd

from lmdyn.runner import run
from lmdyn.tokens import load_tokenizer
from lmdyn.unigram import count_tokens, smoothed


def main(sm, log):
    docs = pd.read_parquet(sm.input.docs)
    if sm.params.split != "all":
        docs = docs[docs.split == sm.params.split]
    tok = load_tokenizer(sm.input.tokenizer)
    counts = count_tokens(tok, docs.text, len(tok))
    table = smoothed(counts, sm.params.ghost_count)
    log.info("%d tokens counted over %d documents; %d of %d types unseen", counts.sum(), len(docs),
             (counts == 0).sum(), len(counts))
    table.to_parquet(sm.output[0], index=False)


run(main, snakemake)  # noqa: F821
