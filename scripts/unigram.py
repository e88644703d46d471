"""Rule unigram: ghost-count smoothed unigram distribution over the configured split."""

import numpy as np
import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.tables import write
from lmdyn.data.tables import UNIGRAM
from lmdyn.data.tokens import load_tokenizer
from lmdyn.data.unigram import count_tokens, smoothed


def main(sm, log):
    tok = load_tokenizer(sm.input.tokenizer)
    if sm.input.train_ids:  # the train split, already encoded by train_tokenizer
        split = np.load(sm.input.train_ids)
        counts = np.bincount(split["ids"], minlength=len(tok))[: len(tok)].astype(np.int64)
        n_docs = len(split["lengths"])
    else:
        docs = pd.read_parquet(sm.input.docs)
        if sm.params.split != "all":
            docs = docs[docs.split == sm.params.split]
        counts = count_tokens(tok, docs.text, len(tok))
        n_docs = len(docs)
    table = smoothed(counts, sm.params.ghost_count)
    log.info(
        "%d tokens counted over %d documents; %d of %d types unseen",
        counts.sum(),
        n_docs,
        (counts == 0).sum(),
        len(counts),
    )
    write(UNIGRAM, table, sm.output[0])


run(main, snakemake)  # noqa: F821
