"""Rule train_tokenizer: byte-level BPE on the train split, saved as an HF tokenizer directory."""

import pandas as pd

from lmdyn.runner import run
from lmdyn.tokens import save_hf_tokenizer, train_bpe


def main(sm, log):
    docs = pd.read_parquet(sm.input.docs)
    texts = docs.loc[docs.split == "train", "text"].tolist()
    tok = train_bpe(texts, sm.params.vocab_size)
    log.info("trained BPE on %d documents: %d tokens", len(texts), tok.get_vocab_size())
    save_hf_tokenizer(tok, sm.output[0])


run(main, snakemake)  # noqa: F821
