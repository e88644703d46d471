"""Per predicted token features: POS of target (t) and context (t-1), word boundaries, frequency."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.errors import UserError
from lmdyn.data.tokens import predicted


def token_features(
    tokens: pd.DataFrame, pos: pd.DataFrame, unigram: pd.DataFrame, freq_bins: int
) -> pd.DataFrame:
    """One row per predicted token (same order as the metrics tables).

    Columns: doc_id, position, target_id, context_id, word, tag, pos, bow, eow, tag_prev, pos_prev,
    log_unigram (natural log of the smoothed unigram probability of the target), freq_bin
    (0 = rarest; quantile bins of log_unigram over the predicted tokens).
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
    out["freq_bin"] = frequency_bins(out.log_unigram, freq_bins)
    filled = int(out.freq_bin.nunique())
    if filled < freq_bins:
        raise UserError(
            f"aggregate.freq_bins {freq_bins} is more than the evaluation tokens can fill: only {filled} "
            f"frequency bins hold a token (a few token types carry most occurrences); set it to at most {filled}"
        )
    return out


def frequency_bins(log_unigram: pd.Series, k: int) -> pd.Series:
    """Quantile bins (0 = rarest) over token occurrences that never split a token type.

    Each type is placed by the midpoint of its block in the sorted occurrences (its average rank),
    so a frequent type such as "the" falls wholly in one bin and bins stay close to equal size.
    """
    frac = (log_unigram.rank(method="average") - 0.5) / len(log_unigram)
    return np.minimum(np.floor(frac * k), k - 1).astype(np.int64)
