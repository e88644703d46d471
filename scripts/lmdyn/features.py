"""Per predicted token features: POS of target (t) and context (t-1), word boundaries, frequency."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.tokens import predicted


def token_features(tokens: pd.DataFrame, pos: pd.DataFrame, unigram: pd.DataFrame, freq_bins: int) -> pd.DataFrame:
    """One row per predicted token (same order as the metrics tables).

    Columns: doc_id, position, target_id, context_id, word, tag, pos, bow, eow, tag_prev, pos_prev,
    log_unigram (natural log of the smoothed unigram probability of the target), freq_bin
    (0 = rarest; quantile bins of log_unigram over the predicted tokens, ties kept in one bin).
    """
    pred = predicted(tokens)
    tagged = pos.set_index(["doc_id", "position"])
    target = tagged.loc[list(zip(pred.doc_id, pred.position))].reset_index(drop=True)
    context = tagged.loc[list(zip(pred.doc_id, pred.position - 1))].reset_index(drop=True)
    out = pred[["doc_id", "position", "target_id", "context_id"]].copy()
    for col in ("word", "tag", "pos", "bow", "eow"):
        out[col] = target[col].to_numpy()
    out["tag_prev"] = context["tag"].to_numpy()
    out["pos_prev"] = context["pos"].to_numpy()
    logp = np.log(unigram.set_index("token_id").prob.to_numpy())
    out["log_unigram"] = logp[out.target_id.to_numpy()]
    out["freq_bin"] = pd.qcut(out.log_unigram, freq_bins, labels=False, duplicates="drop").astype(np.int64)
    return out
