"""Unigram distribution of a tokenizer over a corpus split, smoothed with ghost counts."""

from __future__ import annotations

import numpy as np
import pandas as pd


def count_tokens(tokenizer, texts, vocab_size: int, batch: int = 64) -> np.ndarray:
    """Occurrences of every token id in ``texts`` (no special tokens added)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    texts = list(texts)
    for i in range(0, len(texts), batch):
        for ids in tokenizer(texts[i : i + batch], add_special_tokens=False)["input_ids"]:
            counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab_size)[
                :vocab_size
            ]
    return counts


def smoothed(counts: np.ndarray, ghost: float) -> pd.DataFrame:
    """token_id, count, prob with prob = (count + ghost) / (total + ghost * |V|).

    Every token gets a finite log-probability when ghost > 0, so KL to the unigram stays finite.
    """
    counts = np.asarray(counts, dtype=np.int64)
    prob = (counts + ghost) / (counts.sum() + ghost * len(counts))
    return pd.DataFrame({"token_id": np.arange(len(counts)), "count": counts, "prob": prob})
