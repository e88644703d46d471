"""Rule tokenize_eval: evaluation documents -> token ids with character offsets, in context windows."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.tables import write
from lmdyn.data.tables import TOKENS
from lmdyn.data.tokens import load_tokenizer, tokenize_documents


def main(sm, log):
    docs = pd.read_parquet(sm.input.docs)
    docs = docs[docs.split == "eval"]
    tok = load_tokenizer(sm.input.tokenizer)
    tokens = tokenize_documents(tok, docs, sm.params.context_length, sm.params.windows_per_doc)
    n_pred = len(tokens) - tokens.groupby(["doc_id", "window"]).ngroups
    log.info(
        "%d eval documents -> %d tokens, %d predicted", docs.doc_id.nunique(), len(tokens), n_pred
    )
    write(TOKENS, tokens, sm.output[0])


run(main, snakemake)  # noqa: F821
