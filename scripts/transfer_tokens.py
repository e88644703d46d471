"""Rule transfer_tokens: the second corpus of the layer classifier's transfer test, in the suite's tokens."""

import numpy as np

from lmdyn.core.errors import warn
from lmdyn.core.runner import run
from lmdyn.core.tables import write
from lmdyn.data.corpus import load_corpus
from lmdyn.data.tables import TRANSFER_TOKENS
from lmdyn.data.tokens import load_tokenizer, tokenize_documents


def main(sm, log):
    p = sm.params
    docs = load_corpus(p.source, p.path, p.cache)
    docs = docs[docs["text"].str.strip().str.len() > 0].sort_values("doc_id")
    if p.n_docs is not None and len(docs) < p.n_docs:
        warn(
            log,
            f"geometry.transfer.n_docs is {p.n_docs} but {p.path or p.source} has {len(docs)} "
            f"documents with text: using all {len(docs)}; lower geometry.transfer.n_docs",
        )
    if p.n_docs is not None and len(docs) > p.n_docs:
        take = np.sort(
            np.random.default_rng(p.seed).choice(len(docs), size=p.n_docs, replace=False)
        )
        docs = docs.iloc[take]
    tokens = tokenize_documents(
        load_tokenizer(sm.input.tokenizer), docs, p.context_length, p.windows_per_doc
    )
    log.info("%d documents of %s, %d tokens", docs.shape[0], p.path or p.source, len(tokens))
    write(TRANSFER_TOKENS, tokens, sm.output[0])


run(main, snakemake)  # noqa: F821
