"""Rule train_tokenizer: byte-level BPE on the train split, saved as an HF tokenizer directory,
and the train split encoded with it once (read by every training run and the unigram counts)."""

import numpy as np
import pandas as pd

from lmdyn.core.runner import run
from lmdyn.data.tokens import load_tokenizer, save_hf_tokenizer, train_bpe


def main(sm, log):
    docs = pd.read_parquet(sm.input.docs)
    texts = docs.loc[docs.split == "train", "text"].tolist()
    tok = train_bpe(texts, sm.params.vocab_size)
    trained = tok.get_vocab_size()
    if trained < sm.params.vocab_size:
        # Byte-level BPE stops when no pair occurs min_frequency times; every later rule uses the
        # trained size (the models' vocab_size, log|V|, the unigram table).
        log.warning(
            "vocab_size %d asked for, but the train split only supports %d tokens: using %d",
            sm.params.vocab_size,
            trained,
            trained,
        )
    log.info("trained BPE on %d documents: vocabulary of %d tokens", len(texts), trained)
    save_hf_tokenizer(tok, sm.output.tokenizer)
    # encoded through the saved HF tokenizer, as every later rule loads it
    enc = load_tokenizer(sm.output.tokenizer)(texts, add_special_tokens=False)["input_ids"]
    np.savez(
        sm.output.train_ids,
        ids=np.concatenate([np.asarray(e, dtype=np.int32) for e in enc]),
        lengths=np.asarray([len(e) for e in enc], dtype=np.int64),
    )
    log.info("train split: %d tokens", sum(len(e) for e in enc))


run(main, snakemake)  # noqa: F821
