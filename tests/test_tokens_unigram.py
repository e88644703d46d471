"""Grid, tokenization windows, unigram smoothing and token features on hand-made inputs."""

import numpy as np
import pandas as pd
import pytest

from lmdyn.core.errors import UserError
from lmdyn.core.grid import log_then_linear, previous_step
from lmdyn.data.features import token_features
from lmdyn.data.tokens import (
    load_tokenizer,
    predicted,
    save_hf_tokenizer,
    tokenize_documents,
    train_bpe,
)
from lmdyn.data.unigram import count_tokens, smoothed

TEXT = "The cat sat on the mat. The dog sat on the log. A cat and a dog met on a mat."


def test_pythia_grid_has_154_steps():
    steps = log_then_linear(143000, 512, 1000)
    assert len(steps) == 154
    assert steps[:11] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert steps[11:13] == [1000, 2000] and steps[-1] == 143000
    assert previous_step(steps, 1000) == 512 and previous_step(steps, 0) is None


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    save_hf_tokenizer(train_bpe([TEXT] * 20, vocab_size=300), str(d))
    return load_tokenizer(str(d))


def test_offsets_point_into_the_text(tokenizer):
    docs = pd.DataFrame({"doc_id": [5, 9], "text": [TEXT, "tiny"]})
    toks = tokenize_documents(tokenizer, docs, context_length=8, windows_per_doc=2)
    d5 = toks[toks.doc_id == 5]
    assert len(d5) == 16 and list(d5.window) == [0] * 8 + [1] * 8
    # concatenating the token spans reproduces the text prefix exactly
    assert "".join(TEXT[s:e] for s, e in zip(d5.start, d5.end)) == TEXT[: d5.end.max()]
    ids = tokenizer(TEXT[: d5.end.max()], add_special_tokens=False)["input_ids"]
    assert list(d5.token_id) == ids[:16]
    pred = predicted(toks)
    # first token of each window is context only
    assert len(pred) == len(toks) - toks.groupby(["doc_id", "window"]).ngroups
    row = pred[(pred.doc_id == 5) & (pred.position == 9)].iloc[0]
    assert row.context_id == d5.token_id.iloc[8]


def test_too_short_documents_are_a_user_error(tokenizer):
    with pytest.raises(UserError, match="long enough"):
        tokenize_documents(tokenizer, pd.DataFrame({"doc_id": [0], "text": ["a"]}), 8, 1)


def test_unigram_ghost_counts(tokenizer):
    counts = count_tokens(tokenizer, [TEXT, TEXT], len(tokenizer))
    assert counts.sum() == 2 * len(tokenizer(TEXT, add_special_tokens=False)["input_ids"])
    t = smoothed(counts, 0.5)
    assert t.prob.sum() == pytest.approx(1.0)
    assert (t.prob > 0).all()
    i = int(np.argmax(counts))
    assert t.prob[i] == pytest.approx((counts[i] + 0.5) / (counts.sum() + 0.5 * len(counts)))


def test_token_features_join_target_and_context():
    tokens = pd.DataFrame(
        {
            "doc_id": 0,
            "window": 0,
            "position": range(4),
            "token_id": [3, 1, 2, 1],
            "start": 0,
            "end": 0,
        }
    )
    pos = pd.DataFrame(
        {
            "doc_id": 0,
            "position": range(4),
            "word": ["a", "b", "c", "b"],
            "tag": ["DT", "NN", "VBD", "NN"],
            "pos": ["DET", "NOUN", "VERB", "NOUN"],
            "bow": True,
            "eow": True,
        }
    )
    uni = pd.DataFrame(
        {"token_id": range(4), "count": [1, 50, 5, 1], "prob": [0.01, 0.8, 0.18, 0.01]}
    )
    f = token_features(tokens, pos, uni, freq_bins=2)
    assert list(f.position) == [1, 2, 3]
    assert list(f.tag) == ["NN", "VBD", "NN"] and list(f.tag_prev) == ["DT", "NN", "VBD"]
    np.testing.assert_allclose(f.log_unigram, np.log([0.8, 0.18, 0.8]))
    assert list(f.freq_bin) == [1, 0, 1]  # 0 = rarest
