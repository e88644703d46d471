"""Part-of-speech annotation of subword tokens.

spaCy tags *words*; the models under study see *subword tokens*. We parse each document once with
spaCy and give every token the tag of the spaCy word that contains its first non-space character,
plus flags saying whether the token starts (``bow``) and/or ends (``eow``) that word. Alignment goes
through character offsets only, so it works for any tokenizer that reports (start, end) spans,
including byte-level BPE whose tokens carry a leading space (``' the'``).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from lmdyn.core.errors import UserError

# Only the tagger (tag_) and attribute_ruler (maps tag_ -> pos_) are needed; leaving the rest out
# of the pipeline makes tagging several times faster. Names missing from a model are ignored.
_EXCLUDE = ["parser", "ner", "lemmatizer", "senter"]

# Result for tokens that are whitespace only: spaCy's own tag/pos for whitespace tokens.
_SPACE = {"word": "", "tag": "_SP", "pos": "SPACE", "bow": False, "eow": False}

COLUMNS = ["doc_id", "position", "word", "tag", "pos", "bow", "eow"]

_WS = re.compile(r"\s")


def load_spacy(model: str):
    """Load spaCy model ``model`` with a minimal pipeline that still sets ``tag_`` and ``pos_``.

    Raises UserError (not a traceback) when spaCy or the model is missing, because that is a setup
    problem the user fixes by installing something.
    """
    try:
        import spacy  # lazy: only POS rules need spaCy
    except ImportError as e:
        raise UserError(f"spaCy is not installed ({e}); hint: pip install spacy") from None
    try:
        nlp = spacy.load(model, exclude=_EXCLUDE)
    except OSError:  # spaCy raises OSError [E050] when it cannot find the package or path
        raise UserError(
            f"spaCy model '{model}' is not installed; hint: pip install {model} "
            f"(or: python -m spacy download {model})"
        ) from None
    if "tagger" not in nlp.pipe_names:
        raise UserError(f"spaCy model '{model}' has no tagger (pipeline: {nlp.pipe_names})")
    return nlp


def align_tags(text: str, spans: list[tuple[int, int]], doc) -> list[dict]:
    """Tag each character span (start, end; end exclusive) of ``text`` from the parsed ``doc``.

    Returns one dict(word, tag, pos, bow, eow) per span. A span is trimmed of whitespace first, so
    ``' the'`` aligns like ``'the'``; whitespace-only spans get the spaCy whitespace tag ``_SP``.
    The owning word is the one containing the trimmed start; ``eow`` is also True for a span that
    runs past its word's end (a token spanning several words is attributed to the first).
    Cost is O(len(spans) * log(len(doc))) via bisection on word starts.
    """
    starts = [t.idx for t in doc]  # increasing: spaCy tokens are in text order
    out = []
    for s, e in spans:
        piece = text[s:e]
        stripped = piece.lstrip()
        if not stripped or not starts:
            out.append(dict(_SPACE))
            continue
        ts = s + len(piece) - len(stripped)
        te = s + len(piece.rstrip())
        # The last word starting at or before ts contains it; if ts somehow lies in a gap (it should
        # not: spaCy covers every non-space char) this is the nearest preceding word, as intended.
        i = max(bisect_right(starts, ts) - 1, 0)
        w = doc[i]
        w_end = w.idx + len(w.text)
        out.append(
            {"word": w.text, "tag": w.tag_, "pos": w.pos_, "bow": ts == w.idx, "eow": te >= w_end}
        )
    return out


def _parse_end(text: str, end: int) -> int:
    """Cut-off for parsing: ``end`` extended to the next whitespace so the last word is whole
    (a truncated word could get a different tag than in the full text)."""
    m = _WS.search(text, end)
    return m.start() if m else len(text)


def tag_documents(texts: dict[int, str], tokens, model: str, batch_size: int = 16, log=None):
    """POS-tag the tokens of several documents.

    ``tokens`` has columns doc_id, position, start, end (character offsets into ``texts[doc_id]``).
    Each document is parsed once (``nlp.pipe``), only up to its last token (plus the rest of that
    word), since text beyond the tokens is not needed. Returns a DataFrame with columns doc_id,
    position, word, tag, pos, bow, eow, in the row order of ``tokens``.
    """
    import numpy as np
    import pandas as pd

    n = len(tokens)
    if n == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=bool if c in ("bow", "eow") else object) for c in COLUMNS}
        )
    missing = sorted(set(tokens["doc_id"].unique()) - set(texts))
    if missing:
        raise UserError(f"tokens refer to documents without text: {missing[:10]}")

    # Row positions of each document's tokens, documents in order of first appearance.
    groups = tokens.groupby("doc_id", sort=False).indices
    starts = tokens["start"].to_numpy()
    ends = tokens["end"].to_numpy()
    cut = _parse_ends(texts, groups, starts, ends)
    nlp = load_spacy(model)
    # spaCy refuses texts above max_length (a memory guard for the parser/NER we do not run).
    nlp.max_length = max(nlp.max_length, max(cut.values()) + 1)
    cols = {c: np.empty(n, dtype=object) for c in ("word", "tag", "pos")}
    cols.update({c: np.zeros(n, dtype=bool) for c in ("bow", "eow")})
    doc_ids = list(groups)
    total = len(doc_ids)
    every = max(1, total // 10)
    parsed = nlp.pipe((texts[d][: cut[d]] for d in doc_ids), batch_size=batch_size)
    for k, (d, doc) in enumerate(zip(doc_ids, parsed), 1):
        rows = groups[d]
        res = align_tags(doc.text, list(zip(starts[rows].tolist(), ends[rows].tolist())), doc)
        for c, col in cols.items():
            col[rows] = [r[c] for r in res]
        if log is not None and (k % every == 0 or k == total):
            log.info("POS tagging: %d/%d documents", k, total)
    return pd.DataFrame(
        {
            "doc_id": tokens["doc_id"].to_numpy(),
            "position": tokens["position"].to_numpy(),
            **cols,
        }
    )


def _parse_ends(texts: dict[int, str], groups: dict, starts, ends) -> dict[int, int]:
    """Per document, where parsing may stop (see :func:`_parse_end`); UserError for token offsets
    outside the text."""
    cut = {}
    for d, rows in groups.items():
        text = texts[d]
        last = int(ends[rows].max())
        if last > len(text) or int(starts[rows].min()) < 0:
            raise UserError(f"document {d}: token offsets outside its text (length {len(text)})")
        cut[d] = _parse_end(text, last)
    return cut
